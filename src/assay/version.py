"""The version of assay, readable from any layer without importing the facade package."""

__version__ = "0.1.0"
