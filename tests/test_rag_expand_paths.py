"""Folders given to ``docs add``: every path that is left out is reported, none silently."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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


def test_unreadable_sub_folders_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.md").write_text("# A\n")
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "b.md").write_text("b\n")
    # What listing a folder without read permission raises (root would read it anyway, so the
    # error is raised here rather than made with chmod).
    scandir = os.scandir

    def refusing(path: Any = ".") -> Any:
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)
    files, problems = expand_paths([tmp_path])
    assert [f.name for f in files] == ["a.md"]
    assert len(problems) == 1 and "cannot read the folder" in problems[0].message
