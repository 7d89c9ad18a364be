"""``assay ask`` on real papers: are shown answers cited, on the right page, and does it abstain
when the answer is not there?

The questions (benchmarks/data/ask_pdfs.jsonl) were written by reading the six PDFs in
``shared/data/pdfs``: 20 with a known answer, document and page (PDF page numbers, from 1), and
11 on-topic questions whose answer is in none of the papers (a figure or fact the paper that
the question is about does not give). The PDFs are indexed into a fresh workspace, every question
is asked once with the given model (greedy decoding), and the script reports:

* shown: answers shown (not abstained), and how each was made (generated / extractive);
* cited share: shown answers with at least one valid citation;
* citation-page accuracy: answerable questions whose shown answer cites the gold document on a
  gold page (the citation's page; ``in range`` also counts a chunk whose page span holds it);
* answer found: the gold answer string appears in the shown answer;
* abstention precision / recall on the unanswerable questions (and false abstentions on the
  answerable ones);
* a sweep of ``min_support`` over the recorded support scores: the abstention rates each
  threshold would give (the gate only, without the model's own abstentions), which is how the
  default was chosen.

Usage::

    python benchmarks/ask_pdfs.py [--model default] [--extractive] [--limit N]

Prints a markdown summary and writes JSON to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from machine import environment, save  # noqa: E402

DEFAULT_PDFS = HERE.parents[1] / "shared" / "data" / "pdfs"
DEFAULT_QUESTIONS = HERE / "data" / "ask_pdfs.jsonl"


def load_questions(path: Path) -> list[dict[str, Any]]:
    rows = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise SystemExit(f"{path}:{i}: not JSON ({exc})") from None
    return rows


def judge(row: dict[str, Any], answer: Any) -> dict[str, Any]:
    """One question's record: what was shown, and whether its citations hit the gold page."""
    shown = not answer.insufficient
    valid = [c for c in answer.citations if c.valid]
    by_n = {s.n: s for s in answer.sources}
    gold_pages = set(row.get("pages") or [])
    on_doc = [c for c in valid if c.document == row.get("document")]
    on_page = any(c.page in gold_pages for c in on_doc)
    in_range = any(
        any(
            (by_n[c.n].hit.page_start or 0) <= p <= (by_n[c.n].hit.page_end or 0)
            for p in gold_pages
        )
        for c in on_doc
    )
    gold = str(row.get("answer") or "")
    return {
        "id": row["id"],
        "answerable": row["answerable"],
        "mode": answer.mode,
        "reason": answer.reason,
        "problem": answer.problem,
        "shown": shown,
        "cited": shown and bool(valid),
        "invalid_citations": answer.invalid_citations,
        "on_document": bool(on_doc),
        "on_page": on_page,
        "page_in_range": in_range,
        "answer_found": bool(gold) and gold.lower() in answer.text.lower(),
        "support": answer.extra.get("support"),
        "best_relevance": answer.extra.get("best_relevance"),
        "called_model": answer.called_model,
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "seconds": answer.latency_s + answer.retrieval_s,
        "text": answer.text,
        "citations": [(c.document, c.page) for c in valid],
    }


def ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    ans = [r for r in records if r["answerable"]]
    unans = [r for r in records if not r["answerable"]]
    shown = [r for r in records if r["shown"]]
    shown_ans = [r for r in ans if r["shown"]]
    abstained = [r for r in records if not r["shown"]]
    return {
        "questions": len(records),
        "answerable": len(ans),
        "unanswerable": len(unans),
        "shown": len(shown),
        "shown_generated": sum(r["mode"] == "generated" for r in shown),
        "shown_extractive": sum(r["mode"] == "extractive" for r in shown),
        "cited_share": ratio(sum(r["cited"] for r in shown), len(shown)),
        "shown_with_invalid_citation": sum(bool(r["invalid_citations"]) for r in shown),
        "citation_page_accuracy": ratio(sum(r["on_page"] for r in shown_ans), len(shown_ans)),
        "citation_page_in_range": ratio(sum(r["page_in_range"] for r in shown_ans), len(shown_ans)),
        "citation_document_accuracy": ratio(
            sum(r["on_document"] for r in shown_ans), len(shown_ans)
        ),
        "answer_found": ratio(sum(r["answer_found"] for r in shown_ans), len(shown_ans)),
        "abstention_precision": ratio(sum(not r["answerable"] for r in abstained), len(abstained)),
        "abstention_recall": ratio(sum(not r["shown"] for r in unans), len(unans)),
        "false_abstention_rate": ratio(sum(not r["shown"] for r in ans), len(ans)),
    }


def sweep(records: list[dict[str, Any]], floor: float) -> list[dict[str, Any]]:
    """Abstention rates of the support gate alone at each threshold (relevance floor kept)."""
    out = []
    for step in range(6, 19):
        t = step * 0.05
        gate = [(r["support"] or 0.0) < t or (r["best_relevance"] or 0.0) < floor for r in records]
        tp = sum(g and not r["answerable"] for g, r in zip(gate, records, strict=True))
        fp = sum(g and r["answerable"] for g, r in zip(gate, records, strict=True))
        n_un = sum(not r["answerable"] for r in records)
        out.append(
            {
                "min_support": round(t, 2),
                "precision": ratio(tp, tp + fp),
                "recall": ratio(tp, n_un),
                "false_abstentions": fp,
            }
        )
    return out


def fmt(v: Any) -> str:
    return "n/a" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pdfs", type=Path, default=DEFAULT_PDFS)
    ap.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    ap.add_argument("--model", default="default")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--extractive", action="store_true", help="quote instead of generating")
    ap.add_argument("--limit", type=int, default=None, help="first N questions (smoke test)")
    ap.add_argument("--workspace", type=Path, default=None, help="reuse this workspace")
    args = ap.parse_args(argv)

    from assay.models.facade import Model
    from assay.rag import Collection
    from assay.rag.answer import DEFAULT_MIN_RELEVANCE, DEFAULT_MIN_SUPPORT, ask
    from assay.workspace import Workspace

    rows = load_questions(args.questions)[: args.limit]
    tmp = tempfile.TemporaryDirectory()
    ws = Workspace.init(args.workspace or Path(tmp.name))
    col = Collection(ws, "papers")
    if not col.exists or not col.documents():
        started = time.perf_counter()
        col.add(sorted(args.pdfs.glob("*.pdf")))
        print(f"indexed {args.pdfs} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    model = None if args.extractive else Model.load(args.model, workspace=ws)

    records = []
    started = time.perf_counter()
    for row in rows:
        answer = ask(
            row["question"],
            collection=col,
            model=model or args.model,
            k=args.k,
            extractive=args.extractive,
            workspace=ws,
        )
        rec = judge(row, answer)
        records.append(rec)
        print(
            f"{rec['id']}  {rec['mode']:10} support {fmt(rec['support'])}  "
            f"page {'ok' if rec['on_page'] else '--'}  {rec['text'][:70]!r}",
            file=sys.stderr,
        )
    wall = time.perf_counter() - started
    summary = summarise(records)
    table = sweep(records, DEFAULT_MIN_RELEVANCE)

    print(f"\n## assay ask on {len(rows)} questions ({args.model}, k={args.k})\n")
    print("| figure | value |\n|---|---|")
    for key, value in summary.items():
        print(f"| {key.replace('_', ' ')} | {fmt(value)} |")
    print(f"\nmin_support sweep (default {DEFAULT_MIN_SUPPORT}; gate alone):\n")
    print("| min_support | abstention precision | recall | false abstentions |\n|---|---|---|---|")
    for r in table:
        print(
            f"| {r['min_support']:.2f} | {fmt(r['precision'])} | {fmt(r['recall'])} "
            f"| {r['false_abstentions']} |"
        )
    print(f"\n{wall:.0f} s for {len(rows)} questions")
    save(
        "ask_pdfs",
        {
            "environment": environment(),
            "settings": {
                "model": args.model,
                "k": args.k,
                "extractive": args.extractive,
                "min_support": DEFAULT_MIN_SUPPORT,
                "min_relevance": DEFAULT_MIN_RELEVANCE,
            },
            "summary": summary,
            "sweep": table,
            "records": records,
            "seconds": wall,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
