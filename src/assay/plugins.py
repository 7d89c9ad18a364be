"""One registry type for every extension point, and plugins found through entry points.

Providers, scorers, tasks, datasets, recipes, document readers, answer-extraction strategies and
CLI commands are each one :class:`Registry`. Built-ins are registered by the module that owns
them, most of them lazily (``"module:attribute"``, imported on first use, so ``assay --help``
stays fast). An installed package adds its own through ``importlib.metadata`` entry points in the
registry's group; in its ``pyproject.toml``::

    [project.entry-points."assay.scorers"]
    lab_overlap = "my_lab_plugin.scorers:lab_overlap"

Entry points are read (not imported) the first time a registry is asked for a name it does not
already hold, and each is imported only when its name is used. A plugin that fails to import
never breaks the rest of assay: using its name is a one-line error that names the plugin, and
``assay plugins`` lists it with the reason. A built-in name always wins over a plugin's.
After ``pip install`` in a running session, :func:`refresh` reads the entry points again.

    >>> from assay.plugins import Registry
    >>> colours = Registry("colour")
    >>> colours.register("red", "#f00")
    >>> colours.get("rad")
    Traceback (most recent call last):
    assay.errors.ConfigError: unknown colour 'rad' (did you mean 'red'? known: red)
"""

from __future__ import annotations

import difflib
import importlib
import warnings
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import PurePath
from typing import Any, Generic, TypeVar

from assay.errors import AssayError, AssayWarning, ConfigError, UserError

T = TypeVar("T")

BUILTIN = "assay"
"""The ``source`` of everything assay registers itself."""

GROUPS = ("providers", "scorers", "tasks", "datasets", "recipes", "readers", "commands")
"""Entry-point groups, each ``assay.<name>``."""


class PluginError(UserError):
    """A plugin's entry point could not be imported or is not what its group needs."""


@dataclass
class Entry(Generic[T]):
    """One registered name: where it came from, and its value once loaded."""

    name: str
    source: str
    """``assay`` for built-ins; else the installing distribution, ``name version``."""
    target: str
    """What it points at: ``module:attribute`` (lazy ones) or the value's qualified name."""
    value: T | None = None
    loader: Callable[[], Any] | None = field(default=None, repr=False)
    from_entry_point: bool = False
    error: str | None = None
    """Why loading failed (one line), once it has."""
    warned: bool = False

    @property
    def builtin(self) -> bool:
        return self.source == BUILTIN

    @property
    def loaded(self) -> bool:
        return self.value is not None


class Registry(Generic[T]):
    """Names to values of one kind: registered in code, or found in entry points, loaded lazily.

    ``kind`` names the values in messages ("unknown scorer 'x'"). ``group`` is the entry-point
    group (``assay.scorers``); ``None`` for a registry plugins cannot extend. ``convert`` turns
    what a lazy target or an entry point loads (given with its name) into a value, and may
    refuse it with a :class:`PluginError`; ``normalize`` maps a user's spelling onto a name (``gpqa_diamond`` →
    ``gpqa-diamond``). ``error`` is the exception class for an unknown name; ``hint`` ends its
    hint (say where names come from, ``see `assay tasks list```).
    """

    def __init__(
        self,
        kind: str,
        *,
        group: str | None = None,
        convert: Callable[[str, Any], T] | None = None,
        normalize: Callable[[str], str] | None = None,
        error: type[AssayError] = ConfigError,
        hint: str = "",
    ) -> None:
        self.kind = kind
        self.group = group
        self._convert = convert
        self._normalize = normalize or (lambda name: name)
        self._error = error
        self._hint = hint
        self._entries: dict[str, Entry[T]] = {}
        self._discovered = group is None
        _REGISTRIES.add(self)

    # -- registering ---------------------------------------------------------------------------
    def register(
        self, name: str, value: T, *, source: str = BUILTIN, target: str | None = None
    ) -> None:
        """Add ``value`` under ``name`` (replacing an earlier registration of that name);
        ``target`` says where it is defined (default: the value's qualified name)."""
        self._entries[name] = Entry(name, source, target or _qualname(value), value=value)

    def register_lazy(self, name: str, target: str, *, source: str = BUILTIN) -> None:
        """Add ``module:attribute`` (or a bare module) under ``name``, imported on first use."""
        self._entries[name] = Entry(name, source, target, loader=lambda: import_target(target))

    def remove(self, name: str) -> None:
        """Forget ``name`` (no error if it is not registered)."""
        self._entries.pop(name, None)

    def __call__(self, name: str) -> Callable[[T], T]:
        """``@registry("name")`` over a function or class registers it."""

        def add(value: T) -> T:
            self.register(name, value)
            return value

        return add

    # -- looking up ----------------------------------------------------------------------------
    def get(self, name: str) -> T:
        """The value for ``name``, imported now if it is lazy; an unknown name is an error
        that suggests the nearest names."""
        entry = self.find(name)
        if entry is None:
            raise self.unknown(name)
        return self.load(entry)

    def find(self, name: str) -> Entry[T] | None:
        """The entry for ``name`` (entry points are read only when it is not registered)."""
        key = self._normalize(name)
        entry = self._entries.get(key)
        if entry is None and not self._discovered:
            self.discover()
            entry = self._entries.get(key)
        return entry

    def load(self, entry: Entry[T]) -> T:
        """The entry's value, imported now if it is lazy. A plugin's failure is kept on the entry
        and raised as a one-line :class:`PluginError`; one of assay's own (a bug, a missing
        extra) is raised as it is."""
        if entry.value is None and entry.error is None and entry.loader is not None:
            if entry.builtin:
                entry.value = self._build(entry)
            else:
                try:
                    entry.value = self._build(entry)
                except PluginError as exc:
                    entry.error = exc.message
                except Exception as exc:  # a plugin may fail any way; it must not take assay down
                    entry.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        if entry.value is None:
            raise PluginError(
                f"the {self.kind} '{entry.name}' ({entry.target}, from {entry.source}) "
                f"failed to load: {entry.error}",
                hint=f"fix or uninstall {_distribution(entry.source)}; `assay plugins` lists "
                "what is installed",
            )
        return entry.value

    def _build(self, entry: Entry[T]) -> T:
        assert entry.loader is not None
        loaded = entry.loader()
        return self._convert(entry.name, loaded) if self._convert else loaded

    def unknown(self, name: str) -> AssayError:
        """The error for a name nobody registered, with the nearest names."""
        names = self.names()
        near = difflib.get_close_matches(self._normalize(name), names, n=3, cutoff=0.5)
        did_you_mean = f"did you mean {', '.join(repr(n) for n in near)}? " if near else ""
        hint = f"{did_you_mean}known: {', '.join(names) or 'none'}"
        return self._error(
            f"unknown {self.kind} '{name}'", hint=f"{hint}; {self._hint}" if self._hint else hint
        )

    def names(self) -> list[str]:
        """Every name: built-ins in the order registered, then plugins'."""
        self.discover()
        return list(self._entries)

    def entries(self) -> list[Entry[T]]:
        self.discover()
        return list(self._entries.values())

    def items(self) -> Iterator[tuple[str, T]]:
        """Names with their loaded values. One that fails to load is left out with a one-line
        :class:`AssayWarning` (once per process), so a broken plugin hides only itself."""
        for entry in self.entries():
            try:
                yield entry.name, self.load(entry)
            except PluginError as exc:
                if not entry.warned:
                    entry.warned = True
                    warnings.warn(AssayWarning(exc.message), stacklevel=2)

    def problems(self) -> list[Entry[T]]:
        """Entries that failed to load (after :meth:`items` or :meth:`check` tried them)."""
        return [e for e in self._entries.values() if e.error is not None]

    def check(self) -> None:
        """Try to load every plugin's entry, so :meth:`problems` is complete (for ``assay
        plugins``); assay's own stay unimported."""
        for entry in self.entries():
            if entry.builtin:
                continue
            try:
                self.load(entry)
            except PluginError:
                continue

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __repr__(self) -> str:
        where = f", group {self.group!r}" if self.group else ""
        return f"Registry({self.kind!r}{where}: {', '.join(self._entries)})"

    # -- entry points --------------------------------------------------------------------------
    def discover(self) -> None:
        """Read this registry's entry-point group once (nothing is imported yet)."""
        if self._discovered:
            return
        self._discovered = True
        assert self.group is not None
        for ep in _entry_points(self.group):
            source = _source(ep)
            if ep.name in self._entries:
                if self._entries[ep.name].source != source:
                    _CONFLICTS.append(
                        f"{self.group}: '{ep.name}' from {source} is ignored: "
                        f"{self._entries[ep.name].source} registers that name"
                    )
                continue
            self._entries[ep.name] = Entry(
                ep.name, source, ep.value, loader=ep.load, from_entry_point=True
            )

    def forget_plugins(self) -> None:
        """Drop what entry points added, so the next lookup reads them again."""
        if self.group is None:
            return
        self._entries = {k: e for k, e in self._entries.items() if not e.from_entry_point}
        self._discovered = False


_REGISTRIES: weakref.WeakSet[Registry[Any]] = weakref.WeakSet()


def refresh() -> None:
    """Read the entry points again, in every registry: after ``pip install`` of a plugin in a
    running notebook, or after changing ``sys.path``."""
    _CONFLICTS.clear()
    _INSTALLED.clear()
    importlib.invalidate_caches()
    for registry in list(_REGISTRIES):
        registry.forget_plugins()


_CONFLICTS: list[str] = []
"""Plugin names that clash with one already registered (shown by ``assay plugins``)."""


def conflicts() -> list[str]:
    return list(_CONFLICTS)


def import_target(target: str) -> Any:
    """The object ``module:attribute.path`` names, or the module itself for a bare module."""
    module_name, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


_INSTALLED: list[Any] = []  # EntryPoints (SelectableGroups before Python 3.12)
"""Every installed entry point, read once for all groups (reading walks every distribution)."""


def _entry_points(group: str) -> list[metadata.EntryPoint]:
    if not _INSTALLED:
        _INSTALLED.append(metadata.entry_points())
    seen: set[tuple[str, str]] = set()
    found = []
    for ep in _INSTALLED[0].select(group=group):
        key = (ep.name, ep.value)
        if key not in seen:  # a package on sys.path twice lists its entry points twice
            seen.add(key)
            found.append(ep)
    return found


def _source(ep: metadata.EntryPoint) -> str:
    dist = ep.dist
    if dist is None:
        return "an unknown distribution"
    return f"{dist.metadata['Name']} {dist.version}"


def _distribution(source: str) -> str:
    return source.rsplit(" ", 1)[0] if source != BUILTIN else "it"


def _qualname(value: Any) -> str:
    if isinstance(value, PurePath):
        return str(value)
    module = getattr(value, "__module__", None)
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
    if module and name:
        return f"{module}:{name}"
    return type(value).__name__


__all__ = [
    "BUILTIN",
    "GROUPS",
    "Entry",
    "PluginError",
    "Registry",
    "conflicts",
    "import_target",
    "refresh",
]
