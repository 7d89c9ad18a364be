"""``hf:ORG/NAME[@REVISION]``: a model from the Hugging Face hub, through its local cache.

The cache is the hub's own (``huggingface_hub``'s layout, shared with transformers and
``hf download``)::

    <cache>/models--ORG--NAME/
        blobs/<hash>                       file contents
        refs/main                          the commit a branch or tag points at
        snapshots/<commit>/config.json     links into blobs/, one folder per commit

``<cache>`` is ``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``, read
when a model is looked up (not when this module is imported), so a test or a notebook can point it
elsewhere. ``REVISION`` is a branch or tag (``main`` when left out) or a commit hash (7 characters
or more).

Online, the hub is asked which commit the revision is and any missing files are downloaded: the
configuration and tokenizer files and the safetensors weights (``pytorch_model*.bin`` only when
the repository has no safetensors), never the other formats a repository may carry. A full
commit hash already in the cache is used without asking (a commit never changes), and a hub that
does not accept a connection within seconds sends the lookup to the cache at once. With
``HF_HUB_OFFLINE=1`` only the cache is read, and a model that is not there is a one-line error
saying what to do.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from assay.errors import ModelNotFoundError

REPO_ID = re.compile(
    r"^(?P<repo>[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*)(?:@(?P<revision>[\w./-]+))?$"
)
"""``ORG/NAME`` or ``ORG/NAME@REVISION``, as the hub spells repository ids."""
COMMIT = re.compile(r"^[0-9a-f]{7,40}$")
_REPO_FOLDER = re.compile(r"^models--(?P<org>[^/]+?)--(?P<name>[^/]+)$")

CONFIG_PATTERNS = ["*.json", "*.txt", "*.model", "*.jinja", "*.tiktoken", "README.md"]
"""Files every model folder needs besides its weights: configs, tokenizer, chat template."""
WEIGHT_PATTERNS = (["*.safetensors"], ["pytorch_model*.bin"])
"""Weight formats in order of preference; the second is fetched only without the first."""


def parse_repo_id(name: str) -> tuple[str, str | None] | None:
    """``(ORG/NAME, REVISION or None)`` when ``name`` is spelled as a hub id, else None."""
    match = REPO_ID.match(name)
    return (match["repo"], match["revision"]) if match else None


def cache_dir() -> Path:
    """The hub cache folder, as ``huggingface_hub`` finds it, from the environment of now."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get("HF_HOME")
    if not home:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        home = str(Path(xdg) / "huggingface")
    return Path(home).expanduser() / "hub"


def is_offline() -> bool:
    """``HF_HUB_OFFLINE`` (or transformers' older ``TRANSFORMERS_OFFLINE``) is set to true."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def repo_folder(repo: str, cache: Path | None = None) -> Path:
    return (cache or cache_dir()) / f"models--{repo.replace('/', '--')}"


def repo_of_folder(folder: Path) -> str | None:
    """``ORG/NAME`` when ``folder`` is a cached repository ``.../models--ORG--NAME``, else None."""
    match = _REPO_FOLDER.match(folder.name)
    return f"{match['org']}/{match['name']}" if match else None


def repo_of_snapshot(folder: Path) -> str | None:
    """``ORG/NAME`` when ``folder`` is ``.../models--ORG--NAME/snapshots/<commit>``, else None."""
    return repo_of_folder(folder.parent.parent) if folder.parent.name == "snapshots" else None


def cached_repos(cache: Path | None = None) -> list[Path]:
    """The model repositories in the cache (``models--ORG--NAME`` folders), sorted."""
    root = cache or cache_dir()
    return sorted(p for p in root.glob("models--*") if p.is_dir() and repo_of_folder(p))


def snapshot(name: str) -> Path:
    """The local folder of ``ORG/NAME[@REVISION]``: downloaded first when online and needed."""
    parsed = parse_repo_id(name)
    if parsed is None:
        raise ModelNotFoundError(
            f"'{name}' is not a Hugging Face model id", hint="write it as ORG/NAME or ORG/NAME@REV"
        )
    repo, revision = parsed
    cache = cache_dir()
    if is_offline():
        return cached_snapshot(repo, revision, cache)
    pinned = _cached_commit(repo, revision, cache)
    if pinned is not None:  # a commit never changes: no need to ask the hub
        return pinned
    if not _hub_reachable():
        # The hub client would retry with backoff for half a minute; the cache answers now.
        try:
            return cached_snapshot(repo, revision, cache)
        except ModelNotFoundError:
            shown = f"hf:{repo}" + (f"@{revision}" if revision else "")
            raise ModelNotFoundError(
                f"cannot get {shown} from the Hugging Face hub (cache {cache}): "
                f"{_endpoint()} does not answer",
                hint="check your network (or a proxy setting), or set HF_HUB_OFFLINE=1 and "
                "point HF_HOME at a cache that has it",
            ) from None
    return _download(repo, revision, cache)


def _cached_commit(repo: str, revision: str | None, cache: Path) -> Path | None:
    """The cached snapshot of a full 40-character commit hash, when it holds weights."""
    if not revision or not re.fullmatch(r"[0-9a-f]{40}", revision):
        return None
    folder = repo_folder(repo, cache) / "snapshots" / revision
    has_weights = any(any(folder.glob(w[0])) for w in WEIGHT_PATTERNS)
    return folder if folder.is_dir() and has_weights else None


def _endpoint() -> str:
    import huggingface_hub.constants

    return str(huggingface_hub.constants.ENDPOINT)


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the hub endpoint accepts a connection (assumed yes behind a proxy, which we
    cannot probe directly)."""
    import socket
    from urllib.parse import urlsplit

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")):
        return True
    parts = urlsplit(_endpoint())
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def cached_snapshot(repo: str, revision: str | None, cache: Path) -> Path:
    """The snapshot folder of ``repo`` at ``revision`` in ``cache``, without any network."""
    shown = f"hf:{repo}" + (f"@{revision}" if revision else "")
    folder = repo_folder(repo, cache)
    snapshots = folder / "snapshots"
    if not snapshots.is_dir():
        raise ModelNotFoundError(
            f"{shown} is not a local folder and not in the Hugging Face cache ({cache}), "
            "and downloads are off (HF_HUB_OFFLINE)",
            hint=f"go online once (unset HF_HUB_OFFLINE), or run `hf download {repo}` "
            "(huggingface-cli download), or set HF_HOME to the folder whose hub/ cache has it",
        )
    rev = revision or "main"
    ref = folder / "refs" / rev
    commits = sorted(p.name for p in snapshots.iterdir() if p.is_dir())
    if ref.is_file():
        commit = ref.read_text(encoding="utf-8").strip()
        if (snapshots / commit).is_dir():
            return snapshots / commit
    elif COMMIT.match(rev):
        found = [c for c in commits if c.startswith(rev)]
        if len(found) == 1:
            return snapshots / found[0]
    refs = sorted(p.name for p in (folder / "refs").glob("*") if p.is_file())
    known = ", ".join([*refs, *(c[:10] for c in commits)]) or "none"
    raise ModelNotFoundError(
        f"the Hugging Face cache ({cache}) has {repo} but not its revision '{rev}' "
        f"(cached: {known}), and downloads are off (HF_HUB_OFFLINE)",
        hint=f"go online once (unset HF_HUB_OFFLINE), or run `hf download {repo} --revision {rev}`",
    )


def _download(repo: str, revision: str | None, cache: Path) -> Path:
    """Fetch what a model folder needs (or find it in the cache when the hub is unreachable)."""
    from huggingface_hub import snapshot_download

    shown = f"hf:{repo}" + (f"@{revision}" if revision else "")
    folder: Path | None = None
    try:
        for weights in WEIGHT_PATTERNS:
            folder = Path(
                snapshot_download(
                    repo,
                    revision=revision,
                    cache_dir=cache,
                    allow_patterns=[*CONFIG_PATTERNS, *weights],
                )
            )
            if any(folder.glob(weights[0])):
                break
    except (OSError, ValueError) as exc:  # hub errors are OSErrors; a bad id a ValueError
        text = str(exc).strip()
        reason = text.splitlines()[0].removeprefix("Got: ") if text else type(exc).__name__
        raise ModelNotFoundError(
            f"cannot get {shown} from the Hugging Face hub (cache {cache}): {reason}",
            hint=f"check the id and your network; `hf download {repo}` shows the details; "
            "HF_TOKEN for gated or private models",
        ) from None
    assert folder is not None
    return folder


__all__ = [
    "cache_dir",
    "cached_repos",
    "cached_snapshot",
    "is_offline",
    "parse_repo_id",
    "repo_folder",
    "repo_of_folder",
    "repo_of_snapshot",
    "snapshot",
]
