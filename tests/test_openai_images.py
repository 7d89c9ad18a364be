"""Images over the ``openai:`` backend, against a small OpenAI-compatible server defined here
that checks the request's shape the way the OpenAI API documents it."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, HTTPException

import assay
from assay.errors import UserError
from assay.models.types import Message
from cli_util import run_assay
from image_files import write_jpeg, write_png


def vision_api(seen: list[dict[str, Any]]) -> FastAPI:
    """Answers with the sizes of the images it was sent, and reports their tokens."""
    app = FastAPI()

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": "seer", "object": "model", "owned_by": "x"}]}

    @app.post("/v1/chat/completions")
    def chat(body: dict[str, Any]) -> dict[str, Any]:
        import io

        from PIL import Image

        seen.append(body)
        described = []
        for message in body["messages"]:
            content = message["content"]
            if isinstance(content, str):
                continue
            for part in content:
                if part["type"] != "image_url":
                    continue
                url = part["image_url"]["url"]
                head, _, payload = url.partition(",")
                if not head.startswith("data:image/") or not head.endswith(";base64"):
                    raise HTTPException(400, "image_url must be a base64 data URL")
                with Image.open(io.BytesIO(base64.b64decode(payload))) as im:
                    described.append(f"{im.width}x{im.height} {part['image_url']['detail']}")
        n_images = len(described)
        return {
            "id": "c1",
            "object": "chat.completion",
            "created": 0,
            "model": "seer",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "; ".join(described) or "none"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": 10 + 85 * n_images,
                "completion_tokens": 4,
                "total_tokens": 14 + 85 * n_images,
                "prompt_tokens_details": {"cached_tokens": 0, "image_tokens": 85 * n_images},
            },
        }

    return app


def test_images_are_sent_as_content_parts_and_counted(serve_app, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    server = serve_app(vision_api(seen), model_id="seer")
    model = assay.load(f"openai:seer@{server.base_url}")
    assert model.capabilities.images
    png = write_png(tmp_path / "a.png", size=(40, 30))
    jpg = write_jpeg(tmp_path / "b.jpg", size=(48, 36))
    chat = [
        Message(role="system", content="Describe figures."),
        Message(
            role="user", content="What is shown?", images=[png, assay.load_image(jpg, detail="low")]
        ),
    ]
    gen = model.generate([chat], max_tokens=20)[0]
    assert gen.text == "40x30 auto; 48x36 low"
    assert (gen.prompt_tokens, gen.image_tokens) == (180, 170)
    body = seen[-1]
    assert body["messages"][0] == {"role": "system", "content": "Describe figures."}
    parts = body["messages"][1]["content"]
    assert parts[0] == {"type": "text", "text": "What is shown?"}
    assert [p["type"] for p in parts] == ["text", "image_url", "image_url"]
    # the JPEG travels byte for byte
    url = parts[2]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == jpg.read_bytes()
    # text-only turns stay plain strings, and the answer is cached by image content
    assert model.generate([chat], max_tokens=20)[0].cached
    text_only = model.generate([[Message(role="user", content="hi")]], max_tokens=5)[0]
    assert text_only.text == "none" and text_only.image_tokens == 0
    assert seen[-1]["messages"] == [{"role": "user", "content": "hi"}]


def test_a_server_refusing_images_is_reported(serve_app, tmp_path: Path) -> None:
    from assay.models.fake import scripted
    from assay.serve.app import create_app

    server = serve_app(create_app(scripted(["fine"])))  # assay serve over a text-only model
    model = assay.load(f"openai:{server.model_id}@{server.base_url}")
    chat = [Message(role="user", content="What?", images=[write_png(tmp_path / "a.png")])]
    with pytest.raises(UserError, match="text-only model"):
        model.generate([chat], max_tokens=5)


def test_cli_image_detail_reaches_the_server(serve_app, tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    server = serve_app(vision_api(seen), model_id="seer")
    png = write_png(tmp_path / "a.png", size=(20, 10))
    code, out, err = run_assay(
        ["generate", f"openai:seer@{server.base_url}", "Describe", "--image", str(png),
         "--image-detail", "high"]
    )  # fmt: skip
    assert code == 0, err
    assert out.strip() == "20x10 high"
    assert seen[-1]["messages"][-1]["content"][1]["image_url"]["detail"] == "high"
