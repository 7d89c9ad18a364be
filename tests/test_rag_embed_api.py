"""Embeddings over HTTP: ``assay serve`` answers ``/v1/embeddings`` with the bundled embedder,
and a collection built with ``openai:MODEL@URL`` embeds, searches and refuses mixing, through
the real ``openai`` client."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openai
import pytest

from assay.models.fake import scripted
from assay.rag import Collection, EmbedderMismatchError
from assay.rag.embed import load_embedder
from assay.serve.app import create_app
from assay.serve.background import BackgroundServer
from assay.workspace import Workspace

NOTES = {
    "soil.md": "# Soil\n\nThe soil cores from plot 7 held 3.2% organic carbon in 2021.",
    "birds.md": "# Birds\n\nWe ringed 41 blue tits at the northern feeders during March.",
    "lab.md": "# Lab\n\nThe centrifuge in room B12 was recalibrated after the spring audit.",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundServer]:
    import os

    home = tmp_path_factory.mktemp("served-home")
    old = os.environ.get("ASSAY_HOME")
    os.environ["ASSAY_HOME"] = str(home)
    try:
        with BackgroundServer(create_app(scripted(["hi"]), served_name="chat")) as srv:
            yield srv
    finally:
        if old is None:
            os.environ.pop("ASSAY_HOME", None)
        else:
            os.environ["ASSAY_HOME"] = old


def test_served_vectors_equal_the_local_embedder(server: BackgroundServer) -> None:
    client = openai.OpenAI(base_url=server.base_url, api_key="x")
    texts = ["organic carbon in soil", "blue tits at feeders"]
    local = load_embedder("default").encode(texts)
    floats = client.embeddings.create(
        model="all-MiniLM-L6-v2", input=texts, encoding_format="float"
    )
    got = np.array([d.embedding for d in floats.data], dtype=np.float32)
    assert np.abs(got - local).max() < 1e-5
    assert floats.usage.prompt_tokens > 0
    # Asked for explicitly, base64 comes back as text: little-endian float32.
    raw = client.embeddings.create(model="all-MiniLM-L6-v2", input=texts, encoding_format="base64")
    decoded = np.stack(
        [np.frombuffer(base64.b64decode(str(d.embedding)), dtype="<f4") for d in raw.data]
    )
    assert np.abs(decoded - local).max() < 1e-5
    # Left to itself the SDK asks for base64 and decodes it.
    plain = client.embeddings.create(model="default", input=texts)
    assert np.abs(np.array([d.embedding for d in plain.data]) - local).max() < 1e-5
    with pytest.raises(openai.NotFoundError, match="embeds with"):
        client.embeddings.create(model="text-embedding-3-small", input="x")
    with pytest.raises(openai.BadRequestError, match="dimensions"):
        client.embeddings.create(model="all-MiniLM-L6-v2", input="x", dimensions=16)


def test_collection_with_an_api_embedder(server: BackgroundServer, tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / name).write_text(text)
    ws = Workspace.init(tmp_path / "ws")
    spec = f"openai:all-MiniLM-L6-v2@{server.base_url}"
    col = Collection(ws, "notes", embedder=spec)
    report = col.add([folder])
    assert report.count("added") == 3, [r.line() for r in report.results]
    assert col.info is not None and col.info.embedder == spec and col.info.dim == 384

    hits = Collection(ws, "notes").search("How many birds were ringed?", mode="dense", k=1)
    assert hits[0].document.endswith("birds.md")
    hits = Collection(ws, "notes").search("carbon content of the cores", mode="hybrid", k=1)
    assert hits[0].document.endswith("soil.md")
    # The same vectors the bundled embedder gives: the store holds what the server returned.
    local = load_embedder("default").encode_query("carbon content of the cores")
    api = load_embedder(spec).encode_query("carbon content of the cores")
    assert np.abs(local - api).max() < 1e-5

    with pytest.raises(EmbedderMismatchError, match="openai:all-MiniLM-L6-v2"):
        Collection(ws, "notes", embedder="default").search("birds")


def test_unreachable_embedding_server_is_one_clear_error(tmp_path: Path) -> None:
    from assay.errors import ServerUnreachableError

    ws = Workspace.init(tmp_path / "ws")
    (tmp_path / "a.md").write_text("text")
    col = Collection(ws, "c", embedder="openai:e@http://127.0.0.1:9/v1")
    with pytest.raises(ServerUnreachableError, match="cannot connect"):
        col.add([tmp_path / "a.md"])
