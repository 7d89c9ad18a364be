"""Images as model input: reading and checking files, prompts with images, refusals."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from assay.errors import AssayWarning, UnsupportedOperationError
from assay.models.fake import scripted
from assay.models.image_prompts import check_images
from assay.models.images import MAX_SIDE, ImageError, fit_image, load_image
from assay.models.types import GenerateRequest, Message
from assay.prompting.prompt import with_images
from cli_util import run_assay
from image_files import pdf_bytes, write_jpeg, write_png


def test_png_and_jpeg_are_read_with_their_identity(tmp_path: Path) -> None:
    png = load_image(write_png(tmp_path / "a.png"))
    assert (png.media_type, png.width, png.height) == ("image/png", 40, 30)
    jpeg_path = write_jpeg(tmp_path / "b.jpg")
    jpeg = load_image(jpeg_path)
    # A JPEG is kept byte for byte; the hash is of the bytes sent.
    assert jpeg.media_type == "image/jpeg" and jpeg.data == jpeg_path.read_bytes()
    assert jpeg.data_url().startswith("data:image/jpeg;base64,")
    # bytes, a data URL and the path give the same image
    assert load_image(jpeg_path.read_bytes()).sha256 == jpeg.sha256
    assert load_image(jpeg.data_url()).sha256 == jpeg.sha256


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("empty.png", b"", "empty (0 bytes)"),
        ("broken.png", b"\x89PNG\r\n\x1a\n not really", "not an image Pillow can read"),
        ("notes.txt", b"just some text", "not an image Pillow can read"),
        ("fig.svg", b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
    ],
)
def test_bad_files_are_refused_naming_the_file(
    tmp_path: Path, name: str, content: bytes, words: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ImageError) as err:
        load_image(path)
    assert str(path) in err.value.message and words in err.value.message


def test_missing_file_and_truncated_png(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="no such image file"):
        load_image(tmp_path / "nope.png")
    whole = write_png(tmp_path / "whole.png", size=(64, 64)).read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ImageError, match=r"cut\.png"):
        load_image(cut)


def test_pdf_first_page_is_rendered_with_a_warning_for_more(tmp_path: Path) -> None:
    path = tmp_path / "fig.pdf"
    path.write_bytes(pdf_bytes(pages=1))
    image = load_image(path)
    # 298x420 points at 144 dpi
    assert (image.media_type, image.width, image.height) == ("image/png", 596, 840)
    path.write_bytes(pdf_bytes(pages=2))
    with pytest.warns(AssayWarning, match="only page 1"):
        load_image(path)


def test_huge_images_are_downscaled_with_a_note(tmp_path: Path) -> None:
    path = write_png(tmp_path / "wide.png", size=(MAX_SIDE + 904, 100))
    with pytest.warns(AssayWarning, match=r"5000x100 image downscaled to 4096x82"):
        image = load_image(path)
    assert (image.width, image.height) == (4096, 82)
    with pytest.warns(AssayWarning, match="downscaled to 512x10"):
        smaller = fit_image(image, 512)
    assert smaller.sha256 != image.sha256
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fit_image(smaller, 512) is smaller


def test_messages_take_paths_and_dump_only_the_identity(tmp_path: Path) -> None:
    a = write_png(tmp_path / "a.png")
    b = tmp_path / "copy.png"
    b.write_bytes(a.read_bytes())
    one = Message(role="user", content="What is this?", images=[a])
    two = Message(role="user", content="What is this?", images=str(b))
    # The path is not part of the identity: the cache key depends on the pixels.
    assert one.model_dump(mode="json") == two.model_dump(mode="json")
    assert "data" not in one.model_dump()["images"][0]
    # A text-only turn dumps as before images existed (so old cache keys still match).
    assert Message(role="user", content="x").model_dump() == {"role": "user", "content": "x"}
    req = GenerateRequest(prompt=(one,))
    assert [i.sha256 for i in req.images] == [one.images[0].sha256]
    # A different image is a different request.
    other = Message(role="user", content="What is this?", images=[write_jpeg(tmp_path / "c.jpg")])
    assert GenerateRequest(prompt=(other,)).key() != req.key()


def test_images_go_to_the_last_user_turn(tmp_path: Path) -> None:
    image = load_image(write_png(tmp_path / "a.png"))
    chat = [
        Message(role="system", content="Be brief."),
        Message(role="user", content="Hello"),
        Message(role="assistant", content="Hi"),
        Message(role="user", content="What is shown?"),
    ]
    out = with_images(chat, [image])
    assert isinstance(out, list)
    assert [len(m.images) for m in out] == [0, 0, 0, 1]
    with pytest.raises(ImageError, match="raw prompt"):
        with_images("plain text", [image])


def test_a_text_only_model_refuses_images_naming_model_and_capability(tmp_path: Path) -> None:
    model = scripted(["fine"])
    chat = [Message(role="user", content="Describe", images=[write_png(tmp_path / "a.png")])]
    with pytest.raises(UnsupportedOperationError) as err:
        model.generate([chat])
    assert "text-only" in err.value.message and "'images' capability" in err.value.message
    assert model.address in err.value.message
    # nothing was sent or logged as a generation
    assert model.backend.requests == []  # type: ignore[attr-defined]


def test_more_images_than_the_model_takes_are_refused(tmp_path: Path) -> None:
    class Limited:
        from assay.models.capabilities import Capabilities

        capabilities = Capabilities(images=True)
        max_images = 1
        max_image_side = 16

    a = write_png(tmp_path / "a.png")
    one = (Message(role="user", content="x", images=[a]),)
    with pytest.warns(AssayWarning, match="downscaled to 16x12"):
        fitted = check_images(one, Limited(), "vlm:test")
    assert isinstance(fitted, tuple) and fitted[0].images[0].width == 16
    two = (Message(role="user", content="x", images=[a, a]),)
    with pytest.raises(ImageError, match="2 images in one prompt, but vlm:test accepts at most 1"):
        check_images(two, Limited(), "vlm:test")


def test_cli_generate_refuses_bad_images_in_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    code, out, err = run_assay(["generate", "fake:", "hi", "--image", str(empty)])
    assert code == 2 and out == ""
    assert "empty.png: the file is empty (0 bytes)" in err and "Traceback" not in err
    png = write_png(tmp_path / "a.png")
    code, out, err = run_assay(["generate", "fake:", "hi", "--image", str(png)])
    assert code == 2 and "fake: is a text-only model: it lacks the 'images' capability" in err
    code, _, err = run_assay(["generate", "fake:", "hi", "--raw", "--image", str(png)])
    assert code == 2 and "drop --raw" in err


def test_templates_show_images_where_image_is_called(tmp_path: Path) -> None:
    from assay.prompting.templates import PromptTemplate, TemplateError

    png = write_png(tmp_path / "fig.png")
    tpl = PromptTemplate.from_string(
        "{# role: system #}\nYou read figures.\n{# role: user #}\n{{ image(figure) }}\n"
        "What does {{ name }} show?",
        name="fig.jinja",
    )
    assert tpl.variables == {"figure", "name"}
    chat = tpl.render(figure=str(png), name="Figure 2")
    assert [m.content for m in chat] == ["You read figures.", "What does Figure 2 show?"]
    assert [len(m.images) for m in chat] == [0, 1]
    assert chat[1].images[0].sha256 == load_image(png).sha256
    with pytest.raises(
        TemplateError, match=r"fig\.jinja line 4: .*missing\.png: no such image file"
    ):
        tpl.render(figure=str(tmp_path / "missing.png"), name="x")
