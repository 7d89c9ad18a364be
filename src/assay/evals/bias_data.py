"""Built-in bias datasets read from their upstream files (no download at run time)."""

from __future__ import annotations

import csv
from pathlib import Path

from assay.errors import UserError
from assay.evals.datasets import Dataset, file_sha256, from_rows

PathLike = str | Path

CROWS_FILE = "crows_pairs_anonymized.csv"
CROWS_COLUMNS = ("sent_more", "sent_less", "stereo_antistereo", "bias_type")


def crows_pairs(path: PathLike | None = None, *, bias_type: str | None = None) -> Dataset:
    """CrowS-Pairs (Nangia et al., 2020): 1,508 sentence pairs, the more and the less
    stereotyping sentence of each, in nine bias types.

    ``path`` is ``crows_pairs_anonymized.csv`` or the folder holding it (the upstream
    repository's ``data/`` folder). Rows: ``sent_more``, ``sent_less``, ``choices`` (the two,
    in that order), ``target`` 0, ``bias_type``, ``stereo_antistereo``; ``id`` is the CSV's row
    index. ``bias_type`` keeps one type (e.g. ``gender``). Scored as lm-evaluation-harness's
    ``crows_pairs_english`` does: each sentence's log-likelihood after an empty context.
    """
    if path is None:
        raise UserError(
            "crows-pairs needs crows_pairs_anonymized.csv",
            hint="pass path= (the data/ folder of github.com/nyu-mll/crows-pairs), e.g. "
            "--set dataset.options.path=data/crows_pairs",
        )
    file = Path(path).expanduser()
    if file.is_dir():
        file = file / CROWS_FILE
    if not file.is_file():
        raise UserError(f"crows-pairs: {file} is missing")
    rows = []
    with file.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in CROWS_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise UserError(f"{file}: not the CrowS-Pairs CSV (no column {', '.join(missing)})")
        for line, r in enumerate(reader, start=2):
            if not r["sent_more"] or not r["sent_less"]:
                raise UserError(f"{file}:{line}: a pair without both sentences")
            if bias_type and r["bias_type"] != bias_type:
                continue
            rows.append(
                {
                    "id": r.get("") or str(line - 2),
                    "sent_more": r["sent_more"],
                    "sent_less": r["sent_less"],
                    "choices": [r["sent_more"], r["sent_less"]],
                    "target": 0,
                    "bias_type": r["bias_type"],
                    "stereo_antistereo": r["stereo_antistereo"],
                }
            )
    if not rows:
        raise UserError(f"crows-pairs: no pairs of bias type '{bias_type}' in {file}")
    return from_rows(
        rows,
        source="crows-pairs",
        path=str(file),
        sha256=file_sha256(file),
        format="csv",
        split="test",
        files=(file.name,),
        n_source_rows=len(rows),
        licence="CC BY-SA 4.0 (not to be used to train models)",
        citation=(
            "Nangia, Vania, Bhalerao, Bowman. CrowS-Pairs: A Challenge Dataset for Measuring "
            "Social Biases in Masked Language Models. EMNLP 2020."
        ),
        url="https://github.com/nyu-mll/crows-pairs",
        note="Blodgett et al. (2021) report noise in these pairs: read scores with care",
        options={"bias_type": bias_type},
    )


__all__ = ["crows_pairs"]
