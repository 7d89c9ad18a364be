"""The top-level package: its lazy exports are listed before they are first used."""

from __future__ import annotations

import json
import subprocess
import sys


def test_dir_lists_lazy_exports_before_first_use() -> None:
    # a fresh interpreter, so no export has been touched yet (as in a new notebook)
    code = "import assay, json; print(json.dumps([dir(assay), assay.__all__]))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    listed, public = json.loads(out.stdout)
    assert {"load", "Conversation", "structured", "errors", "__version__"} <= set(listed)
    assert set(public) <= set(listed)
    assert listed == sorted(listed)
