"""User scorers: a function ``(prediction, reference[, sample]) -> number`` given as a callable,
``module:function`` or ``path/to/file.py:function``."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from assay.errors import ConfigError
from assay.evals.scorers.base import Sample, Scorer


def qualname(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn))


def import_spec(spec: str) -> Any:
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise ConfigError(f"'{spec}' is not module:function")
    if target.endswith(".py"):
        path = Path(target).expanduser()
        if not path.is_file():
            raise ConfigError(f"no such file: {target} (from scorer '{spec}')")
        mod_name = f"_assay_user_scorer_{abs(hash(str(path.resolve())))}"
        loaded = sys.modules.get(mod_name)
        if loaded is None:
            file_spec = importlib.util.spec_from_file_location(mod_name, path)
            if file_spec is None or file_spec.loader is None:
                raise ConfigError(f"cannot import {target}")
            loaded = importlib.util.module_from_spec(file_spec)
            sys.modules[mod_name] = loaded
            try:
                file_spec.loader.exec_module(loaded)
            except Exception as e:
                del sys.modules[mod_name]
                raise ConfigError(f"importing {target} failed: {type(e).__name__}: {e}") from e
        module = loaded
    else:
        try:
            module = importlib.import_module(target)
        except ModuleNotFoundError as e:
            raise ConfigError(
                f"cannot import '{target}' for scorer '{spec}': {e}",
                hint="put the module on PYTHONPATH, or write path/to/file.py:function",
            ) from e
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"'{target}' has no '{attr}' (scorer '{spec}')")
        obj = getattr(obj, part)
    return obj


def n_positional(fn: Callable[..., Any]) -> int:
    """2 or 3: whether a user function is called with the sample too.

    It is when it takes ``*args``, or a third positional parameter that is required or named
    ``sample``; a third parameter with a default and another name is left to its default.
    """
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return 3
    if any(p.kind == p.VAR_POSITIONAL for p in params):
        return 3
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) >= 3 and (
        positional[2].default is positional[2].empty or positional[2].name == "sample"
    ):
        return 3
    return min(len(positional), 2)


def custom(fn: Callable[..., Any], name: str, options: Mapping[str, Any]) -> Scorer:
    bound = functools.partial(fn, **options) if options else fn
    n = n_positional(fn)
    if n < 2:
        raise ConfigError(
            f"scorer '{name}' must take (prediction, reference[, sample]); it takes {n} arguments"
        )

    def call(prediction: Any, reference: Any, sample: Sample) -> float:
        if n == 2:
            return bound(prediction, reference)
        return bound(prediction, reference, sample)

    return Scorer(
        name=name,
        fn=call,
        options=dict(options),
        scale=None,
        description=(getattr(fn, "__doc__", None) or "").strip().split("\n")[0],
    )


__all__ = ["custom", "import_spec", "n_positional", "qualname"]
