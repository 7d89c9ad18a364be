"""Plugins: ``examples/plugin`` installed for real (pip, into a folder put on ``sys.path``) and
found through its entry points, its provider, scorer and task used through the command line;
a broken plugin reported in one line while the rest keeps working; the registry type itself."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import assay
from assay import plugins
from assay.errors import ConfigError
from assay.models.card import CardRequest, ModelCard
from assay.plugins import PluginError, Registry
from cli_util import run_assay

ROOT = Path(__file__).resolve().parents[1]

BROKEN_ENTRY_POINTS = """\
[assay.providers]
licensed = assay_broken_plugin.provider

[assay.scorers]
needs_missing = assay_broken_plugin.metrics:score

[assay.tasks]
not-a-task = assay_broken_plugin:NUMBER

[assay.commands]
not-a-command = assay_broken_plugin:NUMBER
"""


def _install_broken_plugin(site: Path) -> None:
    """A plugin whose provider raises on import, whose scorer needs a missing package and whose
    task is not a task, laid out as pip leaves an installed package (its folder and its
    ``.dist-info``); written directly, as building it would only repeat the example's build."""
    package = site / "assay_broken_plugin"
    package.mkdir()
    (package / "__init__.py").write_text("NUMBER = 42\n")
    (package / "provider.py").write_text('raise RuntimeError("no licence server\\nat all")\n')
    (package / "metrics.py").write_text("import assay_missing_dependency_xyz\n")
    info = site / "assay_broken_plugin-0.2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: assay-broken-plugin\nVersion: 0.2.0\n"
    )
    (info / "entry_points.txt").write_text(BROKEN_ENTRY_POINTS)


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin, installed by pip into a folder of its own (so the test environment
    is left as it was), and a broken one beside it."""
    work = tmp_path_factory.mktemp("plugins")
    example = work / "example"
    shutil.copytree(
        ROOT / "examples" / "plugin",
        example,
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
    )
    site = work / "site"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index"),
            *("--no-build-isolation", "--target", str(site)),
            str(example),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (site / "assay_example_plugin-0.1.0.dist-info" / "entry_points.txt").is_file()
    _install_broken_plugin(site)
    return site


@pytest.fixture
def installed(plugin_site: Path) -> Iterator[Path]:
    sys.path.insert(0, str(plugin_site))
    plugins.refresh()
    try:
        yield plugin_site
    finally:
        sys.path.remove(str(plugin_site))
        plugins.refresh()


def _ok(args: list[str]) -> str:
    code, out, err = run_assay(args)
    assert code == 0, err
    return out


@pytest.mark.usefixtures("installed")
def test_plugins_lists_each_entry_with_its_package() -> None:
    lines = _ok(["plugins"]).splitlines()
    by_name = {line.split()[1]: line for line in lines}
    assert by_name["echo"].split()[0] == "assay.providers"
    assert "assay-example-plugin 0.1.0" in by_name["echo"]
    assert "assay_example_plugin.scorers:edit_similarity" in by_name["edit_similarity"]
    assert by_name["shout"].startswith("assay.tasks")
    # A broken plugin: one line per entry, with the reason, and nothing else about it.
    assert "FAILED RuntimeError: no licence server" in by_name["licensed"]
    assert "No module named 'assay_missing_dependency_xyz'" in by_name["needs_missing"]
    assert "int is not a task file or a TaskConfig" in by_name["not-a-task"]
    assert "int is not a click command" in by_name["not-a-command"]
    assert len(lines) == 7
    entries = json.loads(_ok(["plugins", "--json"]))["entries"]
    assert {e["name"]: e["ok"] for e in entries} == {
        "echo": True,
        "licensed": False,
        "edit_similarity": True,
        "needs_missing": False,
        "shout": True,
        "not-a-task": False,
        "not-a-command": False,
    }
    everything = _ok(["plugins", "--all"])
    assert "assay.models.hf" in everything and "assay.finetune.recipes.sft" in everything


@pytest.mark.usefixtures("installed")
def test_provider_scorer_and_task_through_the_command_line() -> None:
    assert _ok(["generate", "echo:upper", "plugins are packages"]).strip() == (
        "PLUGINS ARE PACKAGES"
    )
    out = _ok(["eval", "shout", "-m", "echo:upper", "-m", "echo:reverse"])
    scores = [line.split()[1] for line in out.splitlines() if "edit_similarity" in line]
    assert scores[0] == "1.000" and float(scores[1]) < 0.5  # the plugin's scorer, per model
    assert "shout" in _ok(["tasks", "list"])
    card = json.loads(_ok(["models", "info", "echo:upper", "--json"]))
    assert card["format"] == "backend" and card["provider"] == "echo"
    assert card["metadata"]["capabilities"] == [] and card["metadata"]["transform"] == "upper"


@pytest.mark.usefixtures("installed")
def test_a_broken_plugin_costs_one_line_and_only_itself() -> None:
    code, out, err = run_assay(["generate", "licensed:x", "hi"])
    assert code == 2 and not out and "Traceback" not in err
    first, hint = err.strip().splitlines()
    assert first.startswith("error: the provider 'licensed' (assay_broken_plugin.provider, from ")
    assert first.endswith("failed to load: RuntimeError: no licence server")
    assert "fix or uninstall assay-broken-plugin" in hint
    # Listing tasks warns once about the broken one and lists the rest.
    code, out, err = run_assay(["tasks", "list"])
    assert code == 0 and "gsm8k" in out and "shout" in out
    assert err.count("\n") == 1 and err.startswith("warning: the task 'not-a-task'")
    code, _, err = run_assay(
        ["eval", "shout", "-m", "echo:upper", "--set", "scorers=[needs_missing]"]
    )
    assert code == 2 and "No module named 'assay_missing_dependency_xyz'" in err
    # The command list shows the broken command as such; running it is one line.
    code, out, _ = run_assay(["--help"])
    assert code == 0 and "not-a-command" in out and "failed to load" in out
    code, out, err = run_assay(["not-a-command"])
    assert code == 2 and not out and len(err.strip().splitlines()) == 2
    assert "int is not a click command" in err and "Traceback" not in err


@pytest.mark.usefixtures("installed")
def test_unknown_names_suggest_the_nearest() -> None:
    code, _, err = run_assay(["generate", "ecko:upper", "hi"])
    assert code == 2 and "did you mean 'echo'?" in err
    code, _, err = run_assay(
        ["eval", "shout", "-m", "echo:upper", "--set", "scorers=[edit_simlarity]"]
    )
    assert code == 2 and "did you mean 'edit_similarity'" in err
    code, _, err = run_assay(["plugin"])
    assert code == 2 and "Did you mean" in err and "'plugins'" in err


def test_without_the_plugin_nothing_of_it_remains() -> None:
    out = _ok(["plugins"])
    assert out.startswith("no plugins installed") or "echo" not in out
    code, _, err = run_assay(["generate", "echo:upper", "hi"])
    assert code == 2 and "unknown provider 'echo'" in err


# -- the registry type ---------------------------------------------------------------------------
def test_registry_registers_lazily_and_suggests() -> None:
    colours: Registry[str] = Registry("colour", hint="see the palette")
    colours.register("red", "#f00")
    colours.register_lazy("sep", "os:sep")
    colours.register_lazy("nowhere", "assay_no_such_module_abc:thing", source="a plugin 1.0")

    @colours("blue")
    def blue() -> str:
        return "#00f"

    assert colours.get("red") == "#f00" and colours["sep"] == "/" and "blue" in colours
    assert colours.names() == ["red", "sep", "nowhere", "blue"] and len(colours) == 4
    with pytest.raises(ConfigError, match="unknown colour 'rad'") as info:
        colours.get("rad")
    assert info.value.hint == "did you mean 'red'? known: red, sep, nowhere, blue; see the palette"
    with pytest.raises(PluginError, match="failed to load: ModuleNotFoundError"):
        colours.get("nowhere")
    assert [e.name for e in colours.problems()] == ["nowhere"]
    with pytest.warns(UserWarning, match="the colour 'nowhere'"):
        assert dict(colours.items()) == {"red": "#f00", "sep": "/", "blue": blue}
    colours.remove("nowhere")
    assert "nowhere" not in colours.names()


def test_registry_turns_plugin_values_into_its_kind() -> None:
    def convert(name: str, obj: object) -> int:
        if not isinstance(obj, str):
            raise PluginError(f"{type(obj).__name__} is not text")
        return len(obj)

    lengths: Registry[int] = Registry("length", convert=convert)
    lengths.register_lazy("sep", "os:sep")
    lengths.register_lazy("path", "os:path", source="a plugin 1.0")
    assert lengths.get("sep") == 1
    with pytest.raises(PluginError, match="module is not text") as info:
        lengths.get("path")
    assert info.value.hint is not None and "fix or uninstall a plugin" in info.value.hint
    lengths.register_lazy("broken", "assay_no_such_module_abc:thing")  # assay's own: as it is
    with pytest.raises(ModuleNotFoundError):
        lengths.get("broken")


def test_a_reader_for_a_new_file_type(tmp_path: Path) -> None:
    from assay.rag.document import ParsedDocument
    from assay.rag.errors import DocumentError
    from assay.rag.readers import READERS, read_document, supported_suffixes

    def read_tsv(path: Path, data: bytes) -> ParsedDocument:
        return ParsedDocument(text=data.decode().replace("\t", " "), kind="tsv")

    READERS.register("tsv", read_tsv, source="a test")
    READERS.register("bad", lambda path, data: 1 / 0, source="a test")
    try:
        (tmp_path / "a.tsv").write_text("gene\tcount\n")
        (tmp_path / "b.bad").write_text("x")
        assert read_document(tmp_path / "a.tsv").text == "gene count\n"
        assert ".tsv" in supported_suffixes() and ".pdf" in supported_suffixes()
        with pytest.raises(DocumentError, match=r"b.bad: the bad reader from a test failed: Zero"):
            read_document(tmp_path / "b.bad")
    finally:
        READERS.remove("tsv")
        READERS.remove("bad")
    with pytest.raises(DocumentError, match=r"unsupported file type '\.tsv'"):
        read_document(tmp_path / "a.tsv")


def test_capabilities_are_declared_or_read_once_from_old_attributes() -> None:
    from assay.models.capabilities import Capabilities, capabilities_of
    from assay.models.fake import scripted

    model = scripted(["x"])
    assert model.capabilities == Capabilities(prompt_logprobs=True, reports_finished=True)
    model.backend.constrains_json_schema = True  # type: ignore[attr-defined]
    assert model.capabilities.constrained_decoding

    class Undeclared:
        constrains_json_schema = True

        def info(self) -> object:
            return type("Info", (), {"supports_loglikelihood": True})()

    found = capabilities_of(Undeclared())
    assert found.loglikelihood and found.constrained_decoding and not found.prompt_logprobs
    assert found.names() == ["log-likelihood", "constrained decoding"]


def load(name: str, ctx: object) -> object:
    """A provider module's ``load``: this test module stands in for a plugin's module."""
    raise AssertionError("the card is built without loading a backend")


def card(request: CardRequest) -> ModelCard:
    return ModelCard(
        address=request.address,
        resolved=request.resolved,
        provider=request.provider,
        name=f"lab model {request.name}",
        format="api",
        notes=["described by the lab's own card builder"],
    )


def test_a_provider_module_with_a_card_builds_its_own_card() -> None:
    from assay.models.registry import PROVIDERS, _as_provider

    provider = _as_provider("lab", sys.modules[__name__])
    assert provider.card == f"{__name__}:card" and provider.module == __name__
    PROVIDERS.register("lab", provider, source="a test")
    try:
        built = assay.model_card("lab:x7", devices=[])
    finally:
        PROVIDERS.remove("lab")
    assert built.name == "lab model x7" and built.provider == "lab" and built.memory is None
    with pytest.raises(PluginError, match="int is not a provider"):
        _as_provider("lab", 3)
