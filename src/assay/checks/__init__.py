"""Responsible-use checks: what could have gone wrong with a result (contamination, ...)."""
