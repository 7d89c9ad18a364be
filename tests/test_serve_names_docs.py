"""``assay serve``: the model answers to the name it was served under, and /docs works offline."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx
import pytest

from assay.models.fake import scripted
from assay.serve.app import create_app
from cli_util import run_assay, served


def _alias(home: Path, name: str, target: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.yaml").write_text(f"aliases:\n  {name}: '{target}'\n", encoding="utf-8")


def test_an_alias_is_served_under_its_own_name_and_its_address(assay_home: Path) -> None:
    _alias(assay_home, "mine", "fake:")
    with served(["mine", "--embedder", "none"], {**os.environ, "ASSAY_HOME": str(assay_home)}) as s:
        models = httpx.get(f"{s.base_url}/models", timeout=10).json()["data"]
        assert [m["id"] for m in models] == ["mine"]
        assert models[0]["assay_address"] == "fake:"
        code, out, err = run_assay(["generate", f"openai:mine@{s.base_url}", "Hello"])
        assert code == 0, err
        assert out.startswith("echo: User: Hello")
        # The resolved address is accepted too; another name is not.
        code, out, _ = run_assay(["generate", f"openai:fake:@{s.base_url}", "Hi"])
        assert code == 0 and out.startswith("echo: User: Hi")
        code, _, err = run_assay(["generate", f"openai:other@{s.base_url}", "Hi"])
        assert code != 0 and "serves 'mine'" in err
    assert "Serving mine at" in s.stdout and 'assay.load("openai:mine@' in s.stdout


def test_docs_page_needs_no_other_host(serve_app) -> None:
    server = serve_app(create_app(scripted(["ok"]), api_key="secret", embedder=None))
    page = httpx.get(f"{server.url}/docs", timeout=10)
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    # Every script, stylesheet and icon is on this server, and the online validator is off.
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(refs) == 3 and all(r.startswith("/docs/assets/") for r in refs), refs
    assert "http://" not in page.text and "https://" not in page.text
    assert '"validatorUrl": null' in page.text
    for ref in refs:  # open without the API key, like the page itself
        asset = httpx.get(f"{server.url}{ref}", timeout=10)
        assert asset.status_code == 200 and len(asset.content) > 500, ref
    spec = httpx.get(f"{server.url}/openapi.json", timeout=10).json()
    assert spec["paths"]["/v1/models"]
    assert httpx.get(f"{server.base_url}/models", timeout=10).status_code == 401


def test_bundled_swagger_ui_reads_the_openapi_version_fastapi_writes(serve_app) -> None:
    """Swagger UI 4 shows "Unable to render this definition" for OpenAPI 3.1; 5 reads it."""
    from swagger_ui_bundle import swagger_ui_path

    server = serve_app(create_app(scripted(["ok"]), embedder=None))
    spec = httpx.get(f"{server.url}/openapi.json", timeout=10).json()
    ui_major = int(Path(str(swagger_ui_path)).name.removeprefix("swagger-ui-").split(".")[0])
    if spec["openapi"].startswith("3.1"):
        assert ui_major >= 5, f"Swagger UI {ui_major} cannot render OpenAPI {spec['openapi']}"


@pytest.mark.slow
def test_readme_serve_then_generate_with_the_default_model(
    real_home: Path, assay_home: Path
) -> None:
    """README: `assay serve default --port 8000`, then
    `assay generate openai:default@http://127.0.0.1:8000/v1 "Hello"`."""
    env = {**os.environ, "ASSAY_HOME": str(real_home), "OMP_NUM_THREADS": "1"}
    with served(["default", "--embedder", "none"], env, timeout_s=300) as s:
        code, out, err = run_assay(
            ["generate", f"openai:default@{s.base_url}", "Hello", "--max-tokens", "8"]
        )
    assert code == 0, err
    assert out.strip(), err
