"""The ``hf`` backend's class, and loading it from a model folder or a GGUF file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.errors import ModelNotFoundError
from assay.models.capabilities import Capabilities
from assay.models.fingerprint import file_sha256
from assay.models.gguf_convert import convert_gguf
from assay.models.gguf_meta import require_gguf
from assay.models.hf.decoding import Decoding
from assay.models.hf.scoring import Scoring
from assay.models.hf.vision import HFVisionBackend, is_vision_folder
from assay.models.registry import local_path

if TYPE_CHECKING:
    from assay.models.registry import BackendContext


class HFBackend(Decoding, Scoring):
    """A transformers causal LM behind assay's backend protocol (see the package docstring)."""

    capabilities = Capabilities(
        loglikelihood=True,
        prompt_logprobs=True,
        constrained_decoding=True,  # see assay.models.constrain
        reports_finished=True,
    )


def load(name: str, ctx: BackendContext) -> HFBackend | HFVisionBackend:
    """Load ``name`` (a model folder, a .gguf file, ``package:<module>/<file>`` or a Hugging
    Face id ``ORG/NAME[@REVISION]``). A folder whose config has a vision tower loads as a
    vision-language model (:class:`~assay.models.hf.vision.HFVisionBackend`)."""
    path = local_path(name)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(
                f"'{path}' is not a model folder: no config.json",
                hint="give a folder written by save_pretrained (config.json and weights) or a .gguf file",
            )
        if is_vision_folder(path):
            return HFVisionBackend(
                path, name=name, address=ctx.address, settings=ctx.settings, workspace=ctx.workspace
            )
        return HFBackend(
            path, name=name, address=ctx.address, settings=ctx.settings, workspace=ctx.workspace
        )
    require_gguf(path, hint="give a .gguf file or a model folder written by save_pretrained")
    sha = file_sha256(path, ctx.workspace)
    folder = convert_gguf(path, sha, ctx.workspace)
    return HFBackend(
        folder,
        name=name,
        address=ctx.address,
        settings=ctx.settings,
        workspace=ctx.workspace,
        source="gguf",
        gguf_path=path,
        fingerprint=sha,
    )
