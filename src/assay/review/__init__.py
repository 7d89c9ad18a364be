"""Human review of a run's outputs: rubrics, seeded review queues, labels, agreement, metrics.

>>> from assay.review import create_queue, ReviewStore
>>> q = create_queue(run_id, n=50, rubric="rubric.yaml", stratify="target")
>>> ReviewStore(Workspace.find()).label(q, 0, "ada", "right")
"""

from __future__ import annotations

from assay.review.queue import create_queue
from assay.review.results import export_csv, record_metric, summarise
from assay.review.rubric import Rubric, load_rubric
from assay.review.store import Queue, ReviewStore

__all__ = [
    "Queue",
    "ReviewStore",
    "Rubric",
    "create_queue",
    "export_csv",
    "load_rubric",
    "record_metric",
    "summarise",
]
