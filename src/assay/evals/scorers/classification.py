"""Precision, recall and F1 per label, their macro averages, and the confusion matrix.

Labels are the gold classes: the ``labels`` given, else every label that occurs in the references,
sorted. A prediction that is not one of them (an unparseable answer, a label the task does not
have) is kept in an extra confusion-matrix column named :data:`OTHER`: it costs the gold class
recall and counts for no class's precision, and it is not a class of the macro average. A label
that is never predicted has precision 0 (``zero_division=0`` in scikit-learn's terms), and so
F1 0. With ``labels`` given, macro-F1 equals ``sklearn.metrics.f1_score(y_true, y_pred,
labels=labels, average="macro", zero_division=0)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from assay.errors import UserError

OTHER = "(other)"


@dataclass(frozen=True)
class ClassificationReport:
    labels: tuple[str, ...]
    """The classes, in the order of the matrix rows."""
    columns: tuple[str, ...]
    """The matrix columns: the labels, plus :data:`OTHER` when some prediction is not a label."""
    confusion: tuple[tuple[int, ...], ...]
    """``confusion[i][j]``: items of gold ``labels[i]`` predicted as ``columns[j]``."""
    precision: dict[str, float]
    recall: dict[str, float]
    f1: dict[str, float]
    support: dict[str, int]
    accuracy: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    weighted_f1: float
    n_other: int
    """Predictions that were none of the labels."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "columns": list(self.columns),
            "confusion": [list(r) for r in self.confusion],
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "support": self.support,
            "accuracy": self.accuracy,
            "macro_precision": self.macro_precision,
            "macro_recall": self.macro_recall,
            "macro_f1": self.macro_f1,
            "weighted_f1": self.weighted_f1,
            "n_other": self.n_other,
        }

    def table(self) -> str:
        """The confusion matrix as aligned text (rows gold, columns predicted)."""
        width = max(len(c) for c in (*self.columns, "gold \\ pred")) + 1
        head = "gold \\ pred".ljust(width) + "".join(c.rjust(width) for c in self.columns)
        lines = [head]
        for label, row in zip(self.labels, self.confusion, strict=True):
            lines.append(label.ljust(width) + "".join(str(n).rjust(width) for n in row))
        return "\n".join(lines)


def _label(x: Any) -> str:
    return "" if x is None else str(x)


def classification_report(
    predictions: Sequence[Any],
    references: Sequence[Any],
    labels: Sequence[Any] | None = None,
) -> ClassificationReport:
    if len(predictions) != len(references):
        raise UserError(f"{len(predictions)} predictions for {len(references)} references")
    if not references:
        raise UserError("no items to score")
    preds = [_label(p) for p in predictions]
    golds = [_label(r) for r in references]
    labs = [_label(x) for x in labels] if labels is not None else sorted(set(golds))
    if len(set(labs)) != len(labs):
        raise UserError(f"labels repeat: {labs}")
    unknown = sorted(set(golds) - set(labs))
    if unknown:
        raise UserError(f"references hold labels not in the label list: {unknown}")
    index = {lab: i for i, lab in enumerate(labs)}
    n_other = sum(pred not in index for pred in preds)
    columns = (*labs, OTHER) if n_other else tuple(labs)
    k = len(columns)
    matrix = [[0] * k for _ in labs]
    for pred, gold in zip(preds, golds, strict=True):
        matrix[index[gold]][index.get(pred, len(labs))] += 1

    precision: dict[str, float] = {}
    recall: dict[str, float] = {}
    f1: dict[str, float] = {}
    support: dict[str, int] = {}
    for i, lab in enumerate(labs):
        tp = matrix[i][i]
        predicted = sum(matrix[r][i] for r in range(len(labs)))
        actual = sum(matrix[i])
        p = tp / predicted if predicted else 0.0
        r = tp / actual if actual else 0.0
        precision[lab] = p
        recall[lab] = r
        f1[lab] = 2 * p * r / (p + r) if p + r else 0.0
        support[lab] = actual
    n = len(golds)
    correct = sum(matrix[i][i] for i in range(len(labs)))
    m = len(labs)
    return ClassificationReport(
        labels=tuple(labs),
        columns=tuple(columns),
        confusion=tuple(tuple(row) for row in matrix),
        precision=precision,
        recall=recall,
        f1=f1,
        support=support,
        accuracy=correct / n,
        macro_precision=sum(precision.values()) / m,
        macro_recall=sum(recall.values()) / m,
        macro_f1=sum(f1.values()) / m,
        weighted_f1=sum(f1[lab] * support[lab] for lab in labs) / n,
        n_other=n_other,
    )


def macro_f1(
    predictions: Sequence[Any], references: Sequence[Any], labels: Sequence[Any] | None = None
) -> float:
    return classification_report(predictions, references, labels).macro_f1


__all__ = ["OTHER", "ClassificationReport", "classification_report", "macro_f1"]
