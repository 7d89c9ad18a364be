"""Input that is not what the command expects ends in one clear line, never a traceback:
bytes that are not UTF-8, missing folders, directories given as files, and --debug placement."""

from __future__ import annotations

from cli_util import run_assay


def test_stdin_that_is_not_utf8_is_replaced_with_one_warning() -> None:
    code, out, err = run_assay(["generate", "fake:"], stdin=b"caf\xe9 au lait")
    assert code == 0, err
    assert "caf\ufffd au lait" in out
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert lines[0] == (
        "warning: standard input is not valid UTF-8 (byte 0xe9 at byte offset 3); "
        "undecodable bytes were replaced with U+FFFD"
    )


def test_argument_with_undecodable_bytes_is_replaced_with_one_warning() -> None:
    # How Python hands a command-line argument holding byte 0xE9 to the program.
    argument = b"caf\xe9".decode("utf-8", "surrogateescape")
    code, out, err = run_assay(["generate", "fake:", argument])
    assert code == 0, err
    assert "caf\ufffd" in out
    assert err.startswith(
        "warning: the prompt argument is not valid UTF-8 (byte 0xe9 at byte offset 3)"
    )


def test_debug_is_accepted_after_the_subcommand() -> None:
    code, _, err = run_assay(["generate", "fake:", "hi", "--debug"])
    assert code == 0, err
