"""Evaluation: tasks, datasets, steps, scorers, the runner, and the statistics that make results
defensible (``assay.evals.stats``) and the figures reports draw from them (``assay.evals.plots``)."""
