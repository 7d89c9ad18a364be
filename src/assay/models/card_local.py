"""The card builder of the ``hf`` and ``gguf`` providers: a model folder or a GGUF file, read from
its headers; for a GGUF, the transformers copy made from it in this workspace."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import InvalidModelFileError, ModelNotFoundError
from assay.models.card import ModelCard
from assay.models.card_files import read_conversion
from assay.models.card_folder import folder_card
from assay.models.card_gguf import gguf_card

if TYPE_CHECKING:
    from assay.models.card import CardRequest
    from assay.workspace import Workspace


def card(request: CardRequest) -> ModelCard:
    """The card of ``hf:PATH`` or ``gguf:FILE`` (a path, ``package:...`` or a cached hub id)."""
    from assay.models.registry import local_path

    path = local_path(request.name)
    built = local_card(
        path, address=request.address, resolved=request.resolved, provider=request.provider
    )
    if built.format == "gguf":
        add_transformers_folder(built, request.workspace)
    return built


def local_card(path: Path, *, address: str, resolved: str, provider: str) -> ModelCard:
    from assay.models.gguf_meta import is_gguf

    common: dict[str, Any] = {"address": address, "resolved": resolved, "provider": provider}
    if path.is_dir():
        if (path / "config.json").is_file():
            return folder_card(path, **common)
        gguf = _single_gguf(path)
        if gguf is not None:
            return gguf_card(gguf, **common)
        raise ModelNotFoundError(
            f"'{path}' is not a model folder: it has no config.json and no .gguf file",
            hint="give a transformers model folder (config.json + *.safetensors) or a .gguf file",
        )
    if is_gguf(path) or path.suffix.lower() == ".gguf":
        return gguf_card(path, **common)  # a .gguf that is not GGUF fails here, clearly
    if path.name == "config.json" or path.suffix == ".safetensors":
        return folder_card(path.parent, **common)
    raise InvalidModelFileError(
        f"'{path.name}' is neither a GGUF file nor a model folder",
        hint="give a .gguf file or a folder with config.json",
    )


def _single_gguf(folder: Path) -> Path | None:
    from assay.models.gguf_meta import split_parts

    found = sorted(folder.glob("*.gguf"))
    if not found:
        return None
    firsts = [p for p in found if split_parts(p)[0] == p] if len(found) > 1 else found
    if len(firsts) == 1:
        return firsts[0]
    names = ", ".join(p.name for p in found[:6])
    raise ModelNotFoundError(
        f"'{folder}' holds {len(found)} .gguf files; name the one you mean", hint=names
    )


def add_transformers_folder(card: ModelCard, workspace: Workspace) -> None:
    """For a GGUF: the transformers copy that the hf backend converted in this workspace (found
    by its record's source path, so no hashing), or a note on how to make one."""
    assert card.path is not None
    root = workspace.root / "conversions"
    for record in sorted(root.glob("*/assay_conversion.json")) if root.is_dir() else ():
        source = str(read_conversion(record).get("source", ""))
        if source and Path(source).resolve() == Path(card.path).resolve():
            card.transformers_folder = str(record.parent)
            return
    card.notes.append(
        f"no transformers copy yet: `assay models convert {card.address}` writes one "
        "(safetensors, for transformers-based tools)"
    )
