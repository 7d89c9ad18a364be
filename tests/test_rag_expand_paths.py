"""Folders given to ``docs add``: every path that is left out is reported, none silently."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assay.rag.ingest import expand_paths


def test_links_to_nothing_are_reported_and_hidden_files_left_out(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_text("b\n")
    (tmp_path / "sub" / "gone.pdf").symlink_to(tmp_path / "nowhere.pdf")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "c.md").write_text("c\n")
    (tmp_path / "notes.xyz").write_text("unsupported\n")
    files, problems = expand_paths([tmp_path])
    assert [f.name for f in files] == ["a.md", "b.txt"]
    assert [(p.status, p.message) for p in problems] == [
        ("skipped", f"{tmp_path / 'sub' / 'gone.pdf'}: a link to a missing file")
    ]
    assert problems[0].line().startswith("skipped    ")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
def test_unreadable_sub_folders_are_reported(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# A\n")
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "b.md").write_text("b\n")
    locked.chmod(0)
    try:
        files, problems = expand_paths([tmp_path])
    finally:
        locked.chmod(0o755)
    assert [f.name for f in files] == ["a.md"]
    assert len(problems) == 1 and "cannot read the folder" in problems[0].message
