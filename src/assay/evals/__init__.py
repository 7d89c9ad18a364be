"""Evaluation: tasks, datasets, steps, scorers, the runner, stored runs, and the figures reports
draw from them (``assay.evals.plots``). The statistics behind the intervals are ``assay.stats``."""
