"""Local vision-language models through transformers, on a tiny random LLaVA built here."""

from __future__ import annotations

from pathlib import Path

import pytest

import assay
from assay.errors import ContextLengthError, UnsupportedOperationError
from assay.models.card import model_card
from assay.models.facade import Model
from assay.models.hf.vision import HFVisionBackend
from assay.models.types import Message
from cli_util import run_assay
from image_files import write_jpeg, write_png


@pytest.fixture(scope="module")
def tiny_vlm_dir(tmp_path_factory: pytest.TempPathFactory, smollm2_tokenizer_dir: Path) -> Path:
    from tiny_models import save_tiny_llava

    return save_tiny_llava(tmp_path_factory.mktemp("tiny-llava"), smollm2_tokenizer_dir)


@pytest.fixture(scope="module")
def vlm(tiny_vlm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Model:
    # Module fixtures start before each test's own ASSAY_HOME: give it a workspace of its own.
    from assay.workspace import Workspace

    home = Workspace(tmp_path_factory.mktemp("vlm-home"))
    return assay.load(f"hf:{tiny_vlm_dir}", workspace=home)


@pytest.fixture
def pictures(tmp_path: Path) -> tuple[Path, Path]:
    return write_png(tmp_path / "red.png"), write_jpeg(tmp_path / "blue.jpg", size=(80, 40))


def test_a_vision_folder_loads_as_a_model_that_accepts_images(
    vlm: Model, tiny_vlm_dir: Path
) -> None:
    assert isinstance(vlm.backend, HFVisionBackend)
    assert vlm.capabilities.images and "accepts images" in vlm.capabilities.names()
    assert not vlm.capabilities.loglikelihood
    card = model_card(f"hf:{tiny_vlm_dir}")
    assert card.accepts_images
    code, out, _ = run_assay(["models", "info", f"hf:{tiny_vlm_dir}"])
    assert code == 0 and "accepts images" in out


def test_preprocessing_puts_image_tokens_and_pixels_in_the_inputs(
    vlm: Model, pictures: tuple[Path, Path]
) -> None:
    backend = vlm.backend
    assert isinstance(backend, HFVisionBackend)
    chat = [Message(role="user", content="What colour?", images=[pictures[0], pictures[1]])]
    text = backend.render_chat(chat)
    assert text.count("<image>") == 2 and "What colour?" in text
    from assay.models.types import GenerateRequest

    inputs = backend._inputs([GenerateRequest(prompt=tuple(chat))])
    # 16 patches per image (32x32 pixels, 8x8 patches), each one an image token
    assert int((inputs["input_ids"] == backend.image_token_id).sum()) == 32
    assert tuple(inputs["pixel_values"].shape) == (2, 3, 32, 32)


def test_generation_runs_and_a_batch_decodes_what_single_prompts_do(
    vlm: Model, pictures: tuple[Path, Path]
) -> None:
    red, blue = pictures
    prompts = [
        [Message(role="user", content="Describe the image.", images=[red])],
        [Message(role="user", content="And this one, briefly?", images=[blue])],
        [Message(role="user", content="No image here.")],
        [Message(role="user", content="Compare them.", images=[red, blue])],
    ]
    vlm.settings.cache = False
    batch = vlm.generate(prompts, max_tokens=4)
    alone = [vlm.generate([p], max_tokens=4)[0] for p in prompts]
    assert [g.text for g in batch] == [g.text for g in alone]
    assert all(g.completion_tokens >= 1 and g.text for g in batch)
    assert [g.image_tokens for g in batch] == [16, 16, 0, 32]
    # the image tokens are part of what the model read
    assert batch[0].prompt_tokens > 16 and batch[3].prompt_tokens > batch[0].prompt_tokens
    # different pixels, different next-token logits: the image reaches the model
    assert _first_logits_differ(vlm, red, blue)


def _first_logits_differ(vlm: Model, a: Path, b: Path) -> bool:
    import torch

    from assay.models.types import GenerateRequest

    backend = vlm.backend
    assert isinstance(backend, HFVisionBackend)
    outs = []
    for path in (a, b):
        chat = (Message(role="user", content="Describe the image.", images=[path]),)
        inputs = backend._inputs([GenerateRequest(prompt=chat)])
        with torch.inference_mode():
            outs.append(backend.model(**inputs).logits[0, -1])
    return not torch.allclose(outs[0], outs[1])


def test_answers_are_cached_by_image_content(
    vlm: Model, pictures: tuple[Path, Path], tmp_path: Path
) -> None:
    vlm.settings.cache = True
    red, _ = pictures
    copy = tmp_path / "same-pixels.png"
    copy.write_bytes(red.read_bytes())
    first = vlm.generate([[Message(role="user", content="Cache me.", images=[red])]], max_tokens=3)
    again = vlm.generate([[Message(role="user", content="Cache me.", images=[copy])]], max_tokens=3)
    assert again[0].cached and again[0].text == first[0].text
    other = write_png(tmp_path / "green.png", colour=(0, 200, 0))
    fresh = vlm.generate(
        [[Message(role="user", content="Cache me.", images=[other])]], max_tokens=3
    )
    assert not fresh[0].cached


def test_scoring_and_too_many_images_are_refused_clearly(
    vlm: Model, pictures: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay.models.images import ImageError

    with pytest.raises(UnsupportedOperationError, match="vision-language model"):
        vlm.loglikelihood([("The sky is", " blue")])
    monkeypatch.setattr(vlm.backend, "max_images", 1)
    two = [Message(role="user", content="Compare.", images=list(pictures))]
    with pytest.raises(ImageError, match=r"2 images in one prompt, but .* accepts at most 1"):
        vlm.generate([two], max_tokens=2)
    monkeypatch.setattr(vlm.backend, "max_images", None)
    # 33 images of 16 tokens each overflow the 512-token context: counted after preprocessing
    many = [Message(role="user", content="All of them?", images=[pictures[0]] * 33)]
    with pytest.raises(ContextLengthError, match="more than the model's context of 512"):
        vlm.generate([many], max_tokens=2)


def test_cli_generate_with_images(tiny_vlm_dir: Path, pictures: tuple[Path, Path]) -> None:
    red, blue = pictures
    code, out, err = run_assay(
        ["generate", f"hf:{tiny_vlm_dir}", "What is shown?", "--image", str(red),
         "--image", str(blue), "--max-tokens", "4", "--json"]
    )  # fmt: skip
    assert code == 0, err
    import json

    data = json.loads(out)
    assert [i["width"] for i in data["prompt"][0]["images"]] == [40, 80]
    assert data["generations"][0]["image_tokens"] == 32


def test_serve_passes_image_parts_to_a_vision_model(
    vlm: Model, pictures: tuple[Path, Path], serve_app
) -> None:
    import openai

    from assay.models.images import load_image
    from assay.serve.app import create_app

    server = serve_app(create_app(vlm), model_id=vlm.address)
    client = openai.OpenAI(base_url=server.base_url, api_key="x")
    url = load_image(pictures[0]).data_url()
    reply = client.chat.completions.create(
        model=vlm.address,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe the image."},
                    {"type": "image_url", "image_url": {"url": url, "detail": "low"}},
                ],
            }
        ],
        max_tokens=6,
        temperature=0,
    )
    local = vlm.generate(
        [[Message(role="user", content="Describe the image.", images=[pictures[0]])]], max_tokens=6
    )[0]
    assert reply.choices[0].message.content == local.text
    assert reply.usage is not None and reply.usage.prompt_tokens == local.prompt_tokens
    assert reply.usage.prompt_tokens_details is not None
    assert reply.usage.model_dump()["prompt_tokens_details"]["image_tokens"] == 16


def test_serve_refuses_images_for_a_text_only_model_and_bad_parts(serve_app) -> None:
    import httpx

    from assay.models.fake import scripted
    from assay.serve.app import create_app

    server = serve_app(create_app(scripted(["fine"])))
    png = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"

    def post(part: dict) -> httpx.Response:
        body = {
            "model": server.model_id,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, part]}],
        }
        return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=10)

    r = post({"type": "image_url", "image_url": {"url": png}})
    assert r.status_code == 400
    assert "text-only model" in r.json()["error"]["message"]
    assert "'images' capability" in r.json()["error"]["message"]
    r = post({"type": "image_url", "image_url": {"url": "https://example.org/a.png"}})
    assert r.status_code == 400 and "base64 data URL" in r.json()["error"]["message"]
    r = post({"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}})
    assert r.status_code == 400
    assert "messages[0].content[1]" in r.json()["error"]["message"]
    r = post({"type": "input_audio", "input_audio": {}})
    assert r.status_code == 400 and "text or image_url" in r.json()["error"]["message"]
    # a path is not read from the server's disk
    r = post({"type": "image_url", "image_url": {"url": str(Path(__file__))}})
    assert r.status_code == 400 and "base64 data URL" in r.json()["error"]["message"]


def test_chat_attaches_images_and_keeps_them_with_the_turn(
    tiny_vlm_dir: Path, pictures: tuple[Path, Path], tmp_path: Path
) -> None:
    from assay.prompting.conversation import Conversation

    red, _ = pictures
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    script = f"/image {empty}\n/image {red}\nWhat is this?\nAnd now?\n"
    code, _, err = run_assay(["chat", f"hf:{tiny_vlm_dir}", "--max-tokens", "3"], stdin=script)
    assert code == 0, err
    assert "empty.png: the file is empty" in err and "attached" in err and "40x30" in err
    conv_id = err.split("conversation ")[1].split()[0]
    conv = Conversation.resume(conv_id, model=f"hf:{tiny_vlm_dir}")
    # the image went with the first message, is stored by content, and stays in the window
    assert [len(t.images) for t in conv.turns] == [1, 0, 0, 0]
    assert conv.turns[0].images[0].sha256 == assay.load_image(red).sha256
    assert sum(len(m.images) for m in conv.window("again").messages) == 1
    code, _, _ = run_assay(["chat", "export", conv_id, "-o", str(tmp_path / "c.json")])
    import json

    assert json.loads((tmp_path / "c.json").read_text())["turns"][0]["images"] == [
        conv.turns[0].images[0].sha256
    ]
    assert code == 0


def test_chat_with_a_text_only_model_refuses_the_image(pictures: tuple[Path, Path]) -> None:
    code, _, err = run_assay(["chat", "fake:"], stdin=f"/image {pictures[0]}\nhello\n")
    assert code == 0
    assert "fake: is a text-only model: it lacks the 'images' capability" in err


def test_a_template_over_rows_with_an_image_column(
    tiny_vlm_dir: Path, pictures: tuple[Path, Path], tmp_path: Path
) -> None:
    import json

    red, blue = pictures
    template = tmp_path / "figure.jinja"
    template.write_text("{# role: user #}\n{{ image(figure) }}\nWhat does this figure show?\n")
    rows = tmp_path / "rows.jsonl"
    lines = [{"figure": str(red)}, {"figure": str(tmp_path / "gone.png")}, {"figure": str(blue)}]
    rows.write_text("".join(json.dumps(r) + "\n" for r in lines))
    out = tmp_path / "out.jsonl"
    args = ["generate", f"hf:{tiny_vlm_dir}", "--template", str(template), "--input", str(rows),
            "--output", str(out), "--max-tokens", "3"]  # fmt: skip
    code, _, err = run_assay(args)
    assert code == 2 and "line 2:" in err and "gone.png: no such image file" in err
    assert not out.exists()  # nothing half-written
    code, _, err = run_assay([*args, "--on-error", "skip"])
    assert code == 0, err
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["row"] for r in written] == [1, 3] and all(r["output"] for r in written)
    assert all(r["prompt_tokens"] > 16 for r in written)  # the image tokens were read


def test_a_task_with_an_image_field(tiny_vlm_dir: Path, tmp_path: Path) -> None:
    import json

    (tmp_path / "figs").mkdir()
    write_png(tmp_path / "figs" / "red.png")
    write_jpeg(tmp_path / "figs" / "blue.jpg")
    rows = [
        {"question": "Which colour?", "figure": "figs/red.png", "target": "red"},
        {"question": "Which colour?", "figure": "figs/blue.jpg", "target": "blue"},
    ]
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = tmp_path / "task.yaml"
    task.write_text(
        f"name: colours\nkind: generate\ndataset: {{source: {data}}}\nimage: figure\n"
        "target: target\ngeneration: {max_tokens: 3}\n"
    )
    code, _, err = run_assay(["eval", str(task), "-m", "fake:"])
    assert code == 2 and "fake: is a text-only model" in err
    model = f"hf:{tiny_vlm_dir}"
    code, out, err = run_assay(["eval", str(task), "-m", model])
    assert code == 0, err
    run_id = out.split()[0]
    export = tmp_path / "samples.jsonl"
    assert run_assay(["runs", "export", run_id, "-o", str(export)])[0] == 0
    samples = [json.loads(line) for line in export.read_text().splitlines()]
    red = assay.load_image(tmp_path / "figs" / "red.png").sha256
    assert samples[0]["images"][0]["sha256"] == red
    assert all(s["images"][0]["thumbnail"].startswith("data:image/jpeg;base64,") for s in samples)
    report = tmp_path / "report.html"
    assert run_assay(["report", run_id, "-o", str(report)])[0] == 0
    assert report.read_text().count('<img class="thumb"') == 2
    # the same rows and paths with other pixels are a new run, not "already evaluated"
    write_png(tmp_path / "figs" / "red.png", colour=(0, 0, 0))
    code, out, err = run_assay(["eval", str(task), "-m", model])
    assert code == 0 and "already evaluated" not in err and out.split()[0] != run_id
    # a row whose image is missing stops the run before it starts, naming the row
    (tmp_path / "figs" / "blue.jpg").unlink()
    code, _, err = run_assay(["eval", str(task), "-m", model, "--rerun"])
    assert code == 2 and "data.jsonl:2" in err and "blue.jpg: no such image file" in err


def test_docs_add_describes_figures_and_ask_cites_them(
    vlm: Model, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assay.rag import Collection, figures
    from assay.workspace import Workspace
    from test_rag_store_index import HashingEmbedder

    monkeypatch.setattr(figures, "DESCRIBE_MAX_TOKENS", 8)
    col = Collection(Workspace.find(), "papers", embedder=HashingEmbedder())
    report = col.add(shared_data / "pdfs" / "06_inlg_W19-8623.pdf", describe_figures=vlm)
    result = report.results[0]
    assert (result.n_figures, result.n_described) == (3, 3)
    assert "3 figures (3 described)" in result.line()
    rows = col.figures()
    assert all(r.description for r in rows)
    chunks = [c for c in col.chunks(1) if (c["section"] or "").startswith("figure on page")]
    assert [(c["section"], c["page_start"]) for c in chunks] == [
        ("figure on page 2", 2),
        ("figure on page 3", 3),
        ("figure on page 8", 8),
    ]
    assert chunks[0]["text"].startswith("Figure 1 (figure on page 2). Figure 1: Distribution")
    assert rows[0].description in chunks[0]["text"]
    # retrieval finds the description and cites the figure
    hits = col.search(rows[2].description or "", k=3)
    assert any(h.anchor == "06_inlg_W19-8623.pdf, figure on page 8" for h in hits)
