"""A collection's chunks held in a ChromaDB server (``chroma run``), reached over its HTTP API.

The workspace stays the record of the collection (documents, chunk anchors for citations, the
embedding cache), so a kill or a lost server costs no parsing or embedding. The server holds
every chunk with its text, metadata and the vector assay computed, and answers dense search, so
other programs can query the same collection. :meth:`ChromaStore.sync` makes the server's copy
equal to the workspace's: it adds missing chunks and deletes stale ones (idempotent, so an
interrupted sync is finished by the next call) and records the generation it reflects.

What the server ranks: dense vectors only. Chroma's full-text index filters (``$contains``) but
does not score, and its ranked sparse/BM25 search (the Search API) answers "not implemented for
local executor" on a self-hosted server. So ``bm25`` is scored by assay over the same chunk texts,
and ``hybrid`` fuses Chroma's dense ranking with it.

Only ``httpx`` is needed on the client; the server comes from ``pip install chromadb``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np

from assay.rag.errors import CollectionError

if TYPE_CHECKING:
    from assay.rag.search import SearchFilter
    from assay.rag.store import CollectionInfo, RagStore

SCHEME = "chroma://"
CONNECT_TIMEOUT = 3.0  # a store that does not answer fails in seconds, not minutes
READ_TIMEOUT = 60.0  # writes and searches of large batches
QUICK_TIMEOUT = 5.0
BATCH = 256
EF_SEARCH = 512  # HNSW beam width: exact top-k on collections of a few thousand chunks
_NAME_OK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")


class StoreError(CollectionError):
    """The collection's store cannot be reached or refused a request."""


@dataclass(frozen=True)
class StoreUrl:
    host: str
    port: int
    collection: str | None  # the server-side name; None: derived from the assay collection

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}/api/v2"

    def __str__(self) -> str:
        tail = f"/{self.collection}" if self.collection else ""
        return f"{SCHEME}{self.host}:{self.port}{tail}"


def parse_store(url: str) -> StoreUrl:
    """``chroma://HOST:PORT[/NAME]`` -> :class:`StoreUrl`; anything else is one clear error."""
    m = re.fullmatch(r"chroma://([^:/\s]+|\[[0-9a-fA-F:]+\]):(\d{1,5})(?:/([^/\s]*))?", url.strip())
    if not m or not 0 < int(m.group(2)) < 65536:
        raise CollectionError(
            f"store '{url}' is not a store address",
            hint="use chroma://HOST:PORT (a server started with: chroma run --path DIR --port PORT)",
        )
    name = m.group(3) or None
    if name is not None and not _NAME_OK.match(name):
        raise CollectionError(
            f"'{name}' in store '{url}' is not a Chroma collection name",
            hint="3-512 characters from letters, digits, '.', '_' and '-', starting and ending "
            "with a letter or digit",
        )
    return StoreUrl(m.group(1).strip("[]"), int(m.group(2)), name)


def server_name(workspace_root: str, collection: str) -> str:
    """A Chroma-legal name that is readable and unique per (workspace, collection)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", collection).strip("-._")[:40] or "collection"
    digest = hashlib.sha256(f"{workspace_root}\0{collection}".encode()).hexdigest()[:8]
    return f"assay-{slug}-{digest}"


class ChromaStore:
    """One assay collection in a Chroma server."""

    def __init__(self, url: StoreUrl | str, label: str, server_side: str) -> None:
        """``label``: the assay collection; ``server_side``: its name in Chroma unless the URL
        names one."""
        self.url = parse_store(url) if isinstance(url, str) else url
        self.label = label
        self.name = self.url.collection or server_side
        self._http = httpx.Client(
            base_url=self.url.base + "/tenants/default_tenant/databases/default_database",
        )
        self._id: str | None = None

    def close(self) -> None:
        self._http.close()

    # -- HTTP --------------------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        missing_ok: bool = False,
        quick: bool = False,
    ) -> Any:
        """One request; ``quick`` ones (lookups) must be answered within seconds."""
        wait = QUICK_TIMEOUT if quick else READ_TIMEOUT
        try:
            resp = self._http.request(
                method, path, json=body, timeout=httpx.Timeout(wait, connect=CONNECT_TIMEOUT)
            )
        except httpx.TimeoutException as exc:
            waited = CONNECT_TIMEOUT if isinstance(exc, httpx.ConnectTimeout) else wait
            raise StoreError(
                f"store {self.url} did not answer within {waited:g} s",
                hint=f"check that the server is up: chroma run --path DIR --port {self.url.port}",
            ) from None
        except httpx.HTTPError as exc:
            reason = str(exc).split("]")[-1].strip() or type(exc).__name__
            raise StoreError(
                f"store {self.url} does not answer ({reason})",
                hint=f"start it: chroma run --path DIR --port {self.url.port}",
            ) from None
        if resp.status_code == 404 and missing_ok:
            return None
        if resp.status_code >= 400:
            try:
                message = resp.json().get("message") or resp.text
            except ValueError:
                message = resp.text
            raise StoreError(
                f"store {self.url} refused {method.upper()} {path.split('/')[-1] or path}: "
                f"HTTP {resp.status_code} {' '.join(str(message).split())[:200]}"
            )
        return resp.json() if resp.content else None

    def _lookup(self) -> dict[str, Any]:
        found = self._call("GET", f"/collections/{self.name}", missing_ok=True, quick=True)
        if found is None:
            raise StoreError(
                f"store {self.url} has no collection '{self.name}' (the server was reset, "
                "or started on another --path)",
                hint="start the server on its old --path, or copy the collection back in: "
                f"assay docs sync -c {self.label}",
            )
        self._id = str(found["id"])
        return dict(found)

    def _cid(self) -> str:
        if self._id is None:
            self._lookup()
        assert self._id is not None
        return self._id

    # -- collection ----------------------------------------------------------------------------------
    def ping(self) -> None:
        self._call("GET", self.url.base + "/heartbeat", quick=True)

    def create(self, embedder: str, dim: int) -> None:
        """Make the server-side collection (or adopt the existing one of the same name)."""
        found = self._call(
            "POST",
            "/collections",
            {
                "name": self.name,
                "metadata": {"assay_embedder": embedder, "assay_dim": dim, "assay_generation": -1},
                "configuration": {"hnsw": {"space": "cosine", "ef_search": EF_SEARCH}},
                "get_or_create": True,
            },
        )
        meta = found.get("metadata") or {}
        if meta.get("assay_embedder") not in (None, embedder):
            raise StoreError(
                f"collection '{self.name}' in store {self.url} holds {meta['assay_embedder']} "
                f"vectors, not {embedder}",
                hint="name another server-side collection: chroma://HOST:PORT/NAME",
            )
        self._id = str(found["id"])

    def metadata(self) -> dict[str, Any]:
        # looked up by name each time: the server may have been reset since the last call
        return dict(self._lookup().get("metadata") or {})

    def drop(self) -> None:
        self._call("DELETE", f"/collections/{self.name}", missing_ok=True)
        self._id = None

    def count(self) -> int:
        return int(self._call("GET", f"/collections/{self._cid()}/count"))

    def ids(self) -> set[int]:
        out = self._call("POST", f"/collections/{self._cid()}/get", {"include": []})
        return {int(i) for i in out["ids"]}

    # -- sync ------------------------------------------------------------------------------------------
    def sync(self, store: RagStore, info: CollectionInfo) -> tuple[int, int]:
        """Make the server hold exactly the workspace's chunks; ``(added, deleted)``."""
        generation = store.generation(info.id)
        meta = self.metadata()
        if meta.get("assay_generation") == generation:
            return 0, 0
        have = self.ids()
        want = {int(r[0]) for r in store.chunk_keys(info.id, up_to_id=2**62)}
        stale = sorted(have - want)
        for i in range(0, len(stale), BATCH):
            self._call(
                "POST",
                f"/collections/{self._cid()}/delete",
                {"ids": [str(c) for c in stale[i : i + BATCH]]},
            )
        added = 0
        for rows in _chunk_rows(store, info, want - have):
            self._call("POST", f"/collections/{self._cid()}/upsert", rows)
            added += len(rows["ids"])
        meta["assay_generation"] = generation
        self._call("PUT", f"/collections/{self._cid()}", {"new_metadata": meta})
        return added, len(stale)

    def in_sync(self, store: RagStore, info: CollectionInfo) -> bool:
        return bool(self.metadata().get("assay_generation") == store.generation(info.id))

    # -- search -----------------------------------------------------------------------------------------
    def dense(
        self,
        query: np.ndarray,
        k: int,
        filt: SearchFilter | None = None,
        allowed: Sequence[int] | None = None,
    ) -> list[tuple[int, float]]:
        """Top-``k`` chunk ids by cosine similarity, as ``(chunk id, similarity)``."""
        body: dict[str, Any] = {
            "query_embeddings": [np.asarray(query, dtype=np.float32).tolist()],
            "n_results": k,
            "include": ["distances"],
        }
        where = _where(filt)
        if where:
            body["where"] = where
        if allowed is not None:
            if not allowed:
                return []
            body["ids"] = [str(c) for c in allowed]
        out = self._call("POST", f"/collections/{self._cid()}/query", body)
        ids, distances = out["ids"][0], out["distances"][0]
        # cosine distance is 1 - cos; ties keep id order, as the embedded search does
        scored = [(int(c), 1.0 - float(d)) for c, d in zip(ids, distances, strict=True)]
        return sorted(scored, key=lambda s: -s[1])


def _where(filt: SearchFilter | None) -> dict[str, Any] | None:
    if filt is None:
        return None
    parts: list[dict[str, Any]] = []
    if filt.documents is not None:
        parts.append({"document_id": {"$in": list(filt.documents)}})
    if filt.pages is not None:
        lo, hi = filt.pages
        parts += [{"page_start": {"$gte": 0}}, {"page_end": {"$gte": lo}}]
        parts.append({"page_start": {"$lte": hi}})
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _chunk_rows(
    store: RagStore, info: CollectionInfo, wanted: set[int]
) -> Iterator[dict[str, Any]]:
    """The wanted chunks as Chroma ``upsert`` bodies (two syncs at once write the same rows),
    with text, citation metadata and vectors."""
    if not wanted:
        return
    docs = {d.id: d for d in store.documents(info.id)}
    for rows in store.index_rows(info, 0, BATCH):
        rows = [r for r in rows if r.id in wanted]
        if not rows:
            continue
        meta = {
            int(r["id"]): r
            for r in store.db.execute(
                "SELECT id, seq, start_char, end_char, section FROM rag_chunks WHERE id IN "
                f"({','.join('?' * len(rows))})",
                [r.id for r in rows],
            )
        }
        body: dict[str, Any] = {"ids": [], "embeddings": [], "documents": [], "metadatas": []}
        for r in rows:
            if r.vector is None:
                raise StoreError(f"chunk {r.id} of '{info.name}' has no {info.embedder} vector")
            doc = docs[r.doc]
            m = meta[r.id]
            body["ids"].append(str(r.id))
            body["embeddings"].append(np.frombuffer(r.vector, dtype=np.float32).tolist())
            body["documents"].append(r.text)
            fields: dict[str, Any] = {
                "chunk_id": r.id,
                "document_id": r.doc,
                "document": doc.name,
                "path": doc.path,
                "title": doc.title,
                "seq": m["seq"],
                "start": m["start_char"],
                "end": m["end_char"],
                "page_start": r.page_start,
                "page_end": r.page_end,
                "section": m["section"],
            }
            # Chroma metadata has no null; -1 pages mean "not a paged document", as in the index
            body["metadatas"].append({k: v for k, v in fields.items() if v is not None})
        yield body


__all__ = ["SCHEME", "ChromaStore", "StoreError", "StoreUrl", "parse_store", "server_name"]
