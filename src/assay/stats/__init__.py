"""Statistics for defensible evaluation results: confidence intervals for every metric, paired
comparisons of runs on shared samples, multiple-comparison control, power, and calibration.

numpy only (no scipy); nothing happens at import time.

    >>> from assay import stats
    >>> print(stats.wilson_ci(317, 500))
    0.634 [0.591, 0.675] (n=500, wilson)

Modules: ``intervals`` (one metric), ``paired`` (two runs), ``calibration`` (confidences),
``corpus`` (corpus metrics from summed per-sample statistics), ``estimate`` (the ``Estimate``
result type). Formulas are documented in each module's docstring.
"""

from __future__ import annotations

from assay.stats.calibration import (
    Calibration,
    CalibrationBin,
    calibration,
    expected_calibration_error,
)
from assay.stats.corpus import summed_statistic
from assay.stats.estimate import Estimate
from assay.stats.intervals import (
    DEFAULT_RESAMPLES,
    bootstrap_ci,
    mean,
    mean_ci,
    proportion_ci,
    wilson_ci,
)
from assay.stats.paired import (
    Comparison,
    Holm,
    McNemar,
    PairedBootstrap,
    compare,
    compare_corpus,
    holm,
    mcnemar_exact,
    mcnemar_p_value,
    minimum_detectable_effect,
    newcombe_paired_ci,
    paired_bootstrap,
)
from assay.stats.power import SamplePlan, plan_sample_size

__all__ = [
    "DEFAULT_RESAMPLES",
    "Calibration",
    "CalibrationBin",
    "Comparison",
    "Estimate",
    "Holm",
    "McNemar",
    "PairedBootstrap",
    "SamplePlan",
    "bootstrap_ci",
    "calibration",
    "compare",
    "compare_corpus",
    "expected_calibration_error",
    "holm",
    "mcnemar_exact",
    "mcnemar_p_value",
    "mean",
    "mean_ci",
    "minimum_detectable_effect",
    "newcombe_paired_ci",
    "paired_bootstrap",
    "plan_sample_size",
    "proportion_ci",
    "summed_statistic",
    "wilson_ci",
]
