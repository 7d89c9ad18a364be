"""Per-item scorers and corpus aggregates, by name (:func:`get_scorer`) or as plain functions.

=====================  =======================================================================
module                 what
=====================  =======================================================================
``text``               exact match (normalisation options, SQuAD normalisation), token F1
``numeric``            GSM8K-style number normalisation and numeric match with tolerance
``choice``             multiple choice from per-choice log-likelihoods (lm-eval acc/acc_norm)
``classification``     precision/recall/F1 per label, macro averages, confusion matrix
``overlap``            BLEU, chrF (sacrebleu), ROUGE-1/2/L (rouge-score, stemming)
``embedding``          cosine similarity of sentence embeddings (all-MiniLM-L6-v2)
``perplexity``         token-weighted perplexity
``registry``           :class:`Scorer`, :func:`get_scorer`, user ``module:function`` scorers
=====================  =======================================================================

Heavy libraries (sacrebleu, rouge-score, sentence-transformers) are imported on first use.
"""

from __future__ import annotations

from assay.evals.scorers.choice import mc_accuracy, predict_choice
from assay.evals.scorers.classification import (
    ClassificationReport,
    classification_report,
    macro_f1,
)
from assay.evals.scorers.numeric import normalize_number, numeric_match, parse_number
from assay.evals.scorers.perplexity import perplexity
from assay.evals.scorers.registry import (
    Scorer,
    describe_scorers,
    get_scorer,
    register_scorer,
    scorer_names,
)
from assay.evals.scorers.text import exact_match, normalize_text, squad_normalize, token_f1

__all__ = [
    "ClassificationReport",
    "Scorer",
    "classification_report",
    "describe_scorers",
    "exact_match",
    "get_scorer",
    "macro_f1",
    "mc_accuracy",
    "normalize_number",
    "normalize_text",
    "numeric_match",
    "parse_number",
    "perplexity",
    "predict_choice",
    "register_scorer",
    "scorer_names",
    "squad_normalize",
    "token_f1",
]
