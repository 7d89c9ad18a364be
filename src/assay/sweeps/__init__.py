"""Sweeps: a grid of models, precisions, prompts, shots, chain of thought and decoding settings
over one task (or several), every cell an ordinary run on the same seeded items, and a
leaderboard that says which cell to choose and how sure that is.

    >>> import assay
    >>> board = assay.sweep("sweep.yaml")            # runs what is not done yet
    >>> print(board.text())                          # the leaderboard and a recommendation
    >>> board.write_html("sweep.html")               # with Pareto plots

Modules: ``config`` (the sweep file), ``grid`` (its cells), ``plan`` (``--dry-run``: calls,
cost, time; the too-few-items warning), ``store`` (records), ``runner``, ``leaderboard``,
``recommend``, ``render``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.sweeps.config import SweepConfig
    from assay.sweeps.leaderboard import Leaderboard
    from assay.sweeps.plan import SweepPlan
    from assay.sweeps.store import SweepRow
    from assay.workspace import Workspace


@dataclass
class SweepResult:
    """A recorded sweep and its leaderboards (one per task)."""

    sweep: SweepRow
    boards: list[Leaderboard]

    @property
    def id(self) -> str:
        return self.sweep.id

    def text(self) -> str:
        from assay.sweeps.render import to_text

        return to_text(self.boards)

    def markdown(self) -> str:
        from assay.sweeps.render import to_markdown

        return to_markdown(self.boards)

    def to_dict(self) -> list[dict[str, Any]]:
        return [b.to_dict() for b in self.boards]

    def write_html(self, path: str | Path) -> Path:
        from assay.sweeps.render import to_html

        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(to_html(self.boards, title=f"Sweep {self.sweep.name}"), encoding="utf-8")
        return out

    def __repr__(self) -> str:
        return self.text()


def sweep(
    config: str | Path | SweepConfig,
    *,
    overrides: dict[str, Any] | None = None,
    rerun: bool = False,
    progress: bool = True,
    workspace: Workspace | None = None,
) -> SweepResult:
    """Run the sweep in ``config`` (a sweep YAML file or a :class:`SweepConfig`): cells already
    done are reused, interrupted ones resume; returns its leaderboards."""
    from assay.sweeps.config import load_sweep
    from assay.sweeps.leaderboard import build_leaderboards
    from assay.sweeps.runner import run_sweep
    from assay.workspace import Workspace as WorkspaceClass

    ws = workspace or WorkspaceClass.find()
    loaded = config if not isinstance(config, str | Path) else load_sweep(config, overrides)
    record = run_sweep(loaded, workspace=ws, rerun=rerun, progress=progress)
    return SweepResult(record, build_leaderboards(record, ws))


def plan(config: str | Path | SweepConfig, workspace: Workspace | None = None) -> SweepPlan:
    """What the sweep would run, without running it: cells, calls, estimated cost and time."""
    from assay.sweeps.config import load_sweep
    from assay.sweeps.plan import plan_sweep

    loaded = config if not isinstance(config, str | Path) else load_sweep(config)
    return plan_sweep(loaded, workspace)


def show(sweep_id: str, workspace: Workspace | None = None) -> SweepResult:
    """A recorded sweep's leaderboards."""
    from assay.sweeps.leaderboard import build_leaderboards
    from assay.sweeps.store import SweepStore
    from assay.workspace import Workspace as WorkspaceClass

    ws = workspace or WorkspaceClass.find()
    record = SweepStore(ws).get(sweep_id)
    return SweepResult(record, build_leaderboards(record, ws))


__all__ = ["SweepResult", "plan", "show", "sweep"]
