"""Scorers by name, and user scorers from ``module:function``.

Names come from one :class:`~assay.plugins.Registry`: the built-ins
(:mod:`assay.evals.scorers.builtin`), those added with :func:`register_scorer`, and those of
installed plugins (entry-point group ``assay.scorers``). A :class:`Scorer` is defined in
:mod:`assay.evals.scorers.base`; user functions are wrapped by :mod:`assay.evals.scorers.custom`.

    >>> em = get_scorer("exact_match", ignore_case=True)
    >>> em("Paris", "paris")
    1.0
    >>> get_scorer("my_metrics:overlap")          # a function (prediction, reference, sample)
    >>> get_scorer("scorers.py:overlap")           # or one in a file
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from assay.errors import ConfigError
from assay.evals.scorers.base import Sample, Scorer
from assay.evals.scorers.builtin import BUILTIN_SCORERS, DESCRIPTIONS
from assay.evals.scorers.custom import custom, import_spec, n_positional, qualname
from assay.plugins import PluginError, Registry


@dataclass(frozen=True)
class ScorerEntry:
    name: str
    factory: Callable[..., Scorer]
    description: str

    @property
    def option_names(self) -> list[str]:
        return [
            p.name
            for p in inspect.signature(self.factory).parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]


def _plugin_entry(name: str, obj: Any) -> ScorerEntry:
    """A plugin's scorer: a built :class:`Scorer`, a factory ``(**options) -> Scorer``, or a plain
    function ``(prediction, reference[, sample]) -> number``."""
    if isinstance(obj, Scorer):
        return ScorerEntry(name, lambda: obj, obj.description)
    if not callable(obj):
        raise PluginError(f"{type(obj).__name__} is not a scorer, a scorer factory or a function")
    description = (obj.__doc__ or "").strip()
    if n_positional(obj) >= 2:  # a metric function, not a factory of keyword options
        return ScorerEntry(name, lambda: custom(obj, name, {}), description)
    return ScorerEntry(name, obj, description)


SCORERS: Registry[ScorerEntry] = Registry(
    "scorer", group="assay.scorers", convert=_plugin_entry, hint="or give module:function"
)
"""Scorer name → :class:`ScorerEntry`; plugins add theirs (``assay.scorers``)."""
_REGISTRY = SCORERS


def register_scorer(name: str, factory: Callable[..., Scorer], description: str = "") -> None:
    """Add a named scorer; ``factory(**options)`` must return a :class:`Scorer`."""
    SCORERS.register(
        name,
        ScorerEntry(name, factory, description or (factory.__doc__ or "").strip()),
        target=f"{factory.__module__}:{qualname(factory)}",
    )


def scorer_names() -> list[str]:
    return sorted(SCORERS)


def describe_scorers() -> dict[str, str]:
    """Name → one-line description, for ``--help`` and docs."""
    return {n: e.description.split("\n")[0] for n, e in sorted(SCORERS.items())}


def get_scorer(spec: str | Scorer | Callable[..., Any], **options: Any) -> Scorer:
    """A scorer by registry name, ``module:function``, ``file.py:function``, or a callable.

    A user function takes ``(prediction, reference, sample)`` (or just the first two) and
    returns a number; ``options`` are passed to it as keyword arguments on every call.
    """
    if isinstance(spec, Scorer):
        if options:
            raise ConfigError(f"scorer '{spec.name}' is already built; options cannot be added")
        return spec
    if callable(spec):
        return custom(spec, f"{getattr(spec, '__module__', '?')}:{qualname(spec)}", options)
    name = str(spec).strip()
    found = SCORERS.find(name) if ":" not in name else None
    if found is not None:
        entry = SCORERS.load(found)
        unknown = sorted(set(options) - set(entry.option_names))
        if unknown:
            raise ConfigError(
                f"scorer '{name}' has no option {', '.join(repr(u) for u in unknown)}",
                hint="options: " + (", ".join(entry.option_names) or "none"),
            )
        return entry.factory(**options)
    if ":" in name:
        obj = import_spec(name)
        if isinstance(obj, Scorer):
            if options:
                raise ConfigError(f"'{name}' is a built Scorer; options cannot be added")
            return obj
        if not callable(obj):
            raise ConfigError(f"'{name}' is not callable")
        return custom(obj, name, options)
    raise SCORERS.unknown(name)


for _name, _factory in BUILTIN_SCORERS.items():
    register_scorer(_name, _factory, DESCRIPTIONS[_name])


__all__ = [
    "SCORERS",
    "Sample",
    "Scorer",
    "ScorerEntry",
    "describe_scorers",
    "get_scorer",
    "register_scorer",
    "scorer_names",
]
