"""Every extension point of assay, and what is installed in each (``assay plugins``).

>>> import assay
>>> assay.installed_plugins()          # plugins' entries; include_builtin=True for all
"""

from __future__ import annotations

import html
import importlib
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

from assay.plugins import Registry, conflicts

EXTENSION_POINTS: dict[str, str] = {
    "assay.providers": "assay.models.registry:PROVIDERS",
    "assay.scorers": "assay.evals.scorers.registry:SCORERS",
    "assay.tasks": "assay.evals.task:TASKS",
    "assay.datasets": "assay.evals.builtin_data:BUILTIN_DATASETS",
    "assay.recipes": "assay.finetune.config:RECIPES",
    "assay.readers": "assay.rag.readers:READERS",
    "assay.commands": "assay.cli.main:COMMAND_REGISTRY",
}
"""Entry-point group → the registry it extends (imported only when asked)."""


def registry(group: str) -> Registry[Any]:
    module, _, name = EXTENSION_POINTS[group].partition(":")
    found: Registry[Any] = getattr(importlib.import_module(module), name)
    return found


@dataclass(frozen=True)
class PluginEntry:
    group: str
    name: str
    source: str
    """``assay`` for a built-in; else the installed distribution and its version."""
    target: str
    ok: bool
    error: str | None = None


@dataclass
class PluginReport:
    entries: list[PluginEntry] = field(default_factory=list)
    builtin_counts: dict[str, int] = field(default_factory=dict)
    """Group → how many built-ins it has."""
    conflicts: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[PluginEntry]:
        return [e for e in self.entries if not e.ok]

    def to_dict(self) -> dict[str, Any]:
        return {
            "entries": [asdict(e) for e in self.entries],
            "builtin_counts": self.builtin_counts,
            "conflicts": self.conflicts,
        }

    def lines(self) -> list[str]:
        """One aligned line per entry (a failed one says why), then any name clashes."""
        if not self.entries:
            counts = ", ".join(
                f"{n} {g.removeprefix('assay.')}" for g, n in self.builtin_counts.items()
            )
            return [
                f"no plugins installed (built in: {counts}); docs/plugins.md shows how to write one"
            ]
        cols = [
            (e.group, e.name, e.source, e.target if e.ok else f"FAILED {e.error}")
            for e in self.entries
        ]
        widths = [max(len(c[i]) for c in cols) for i in range(3)]
        out = ["  ".join(c[i].ljust(widths[i]) for i in range(3)) + "  " + c[3] for c in cols]
        return out + [f"conflict: {c}" for c in self.conflicts]

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _repr_markdown_(self) -> str:
        rows = ["| group | name | from | target |", "|---|---|---|---|"]
        for e in self.entries:
            where = e.target if e.ok else f"**failed**: {e.error}"
            rows.append(f"| {e.group} | {e.name} | {e.source} | {html.escape(where)} |")
        return "\n".join(rows) if self.entries else self.lines()[0]


def installed_plugins(include_builtin: bool = False) -> PluginReport:
    """What plugins add to each extension point, each entry imported once to check it loads
    (a failure is recorded, never raised)."""
    report = PluginReport()
    for group in EXTENSION_POINTS:
        reg = registry(group)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # failures are listed, not warned about
            reg.check()
        report.builtin_counts[group] = sum(1 for e in reg.entries() if e.builtin)
        for e in reg.entries():
            if include_builtin or not e.builtin:
                report.entries.append(
                    PluginEntry(group, e.name, e.source, e.target, e.error is None, e.error)
                )
    report.conflicts = conflicts()
    return report


__all__ = ["EXTENSION_POINTS", "PluginEntry", "PluginReport", "installed_plugins", "registry"]
