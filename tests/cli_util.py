"""Run the ``assay`` command line in-process, or ``assay serve`` in a subprocess."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from click.testing import CliRunner

from assay.cli.main import main


def run_assay(args: list[str], stdin: str | bytes | None = None) -> tuple[int, str, str]:
    """Run ``assay`` through ``main`` (one-line errors, exit codes) with captured IO: returns
    the exit code, standard output and standard error."""
    with CliRunner().isolation(input=stdin) as (out, err, _):
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        return code, out.getvalue().decode(), err.getvalue().decode()


@dataclass
class ServedProcess:
    base_url: str
    """``http://127.0.0.1:PORT/v1``"""
    stdout: str = ""
    """What the server printed, filled in once it has stopped."""


@contextlib.contextmanager
def served(args: list[str], env: dict[str, str], timeout_s: float = 120) -> Iterator[ServedProcess]:
    """Run ``assay serve ARGS`` in a subprocess on a free port until its /health answers; stop
    it when the block ends."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    cmd = [sys.executable, "-m", "assay.cli.main", "serve", *args, "--port", str(port)]
    proc = subprocess.Popen(
        [*cmd, "--log-level", "warning"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**env, "PYTHONUNBUFFERED": "1"},
    )
    server = ServedProcess(f"http://127.0.0.1:{port}/v1")
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "assay serve did not come up"
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        server.stdout, _ = proc.communicate(timeout=20)


def one_error(err: str) -> str:
    """The single ``error:`` line of a failed command (its ``hint:`` line may follow), checking
    that nothing else, no traceback above all, was printed. Returns error and hint as one text."""
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    assert lines and lines[0].startswith("error: "), err
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("hint: ")), err
    return " ".join(lines)
