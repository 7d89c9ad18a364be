"""Retrieval benchmark on PubMedQA (PQA-L, 1,000 expert-labelled questions with their abstracts).

Each abstract is one document; each question is a query whose only relevant document is its own
abstract. Reports, for BM25, dense and hybrid retrieval over the real ``assay.rag`` index:

* recall@1/5/10, MRR and nDCG@10 (documents ranked by their best chunk), on all 1,000 questions,
  and on the official 500-question test split with hybrid weights chosen on the other 500;
* the same for the previous BM25 (SQLite FTS5's ``bm25()``, still maintained in the store), side
  by side, with the overlap of its rankings with the in-memory BM25;
* query latency p50/p95 (query embedding included) at 10k and 100k chunks, the abstracts padded
  with synthetic filler chunks (words sampled from the corpus, random unit vectors), with the FTS5
  BM25 query timed beside them as the baseline;
* index maintenance at each scale: appending one new document, updating after removing one, and a
  full rebuild from SQLite;
* ingest throughput (chunks/s, parse + chunk + embed + write + index append) against the bare
  embedder encoding the same chunk texts.

Usage::

    python benchmarks/retrieval_pubmedqa.py [--data ../shared/data/pubmedqa] [--quick]

Prints a markdown table and writes JSON to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE.parents[1] / "shared" / "data" / "pubmedqa"
MODES = ("bm25", "dense", "hybrid", "mmr")
LATENCY_ROWS = (*MODES, "bm25 FTS5 (before)")


def fts5_bm25(col: Any, query: str, k: int) -> list[Any]:
    """The BM25 search the store ran before the in-memory index: SQLite FTS5's bm25() over an OR
    query of the content words, restricted to the collection by its tag, then hydrated."""
    from assay.rag.bm25 import query_words
    from assay.rag.search import hydrate

    info = col._require(counts=False)
    words = query_words(query)
    if not words:
        return []
    match = f"tags : c{info.id} AND (" + " OR ".join(f'"{w}"' for w in words) + ")"
    rows = col.store.db.execute(
        "SELECT f.rowid, -bm25(rag_fts, 1.0, 0.0) AS s FROM rag_fts f WHERE rag_fts MATCH ? "
        "ORDER BY s DESC LIMIT ?",
        (match, k),
    ).fetchall()
    return hydrate(col.store.db, [(int(r[0]), float(r[1])) for r in rows])


def search_timed(col: Any, mode: str, query: str, k: int) -> Any:
    if mode == "bm25 FTS5 (before)":
        return fts5_bm25(col, query, k)
    return col.search(query, k=k, mode=mode)


def load_pubmedqa(folder: Path) -> tuple[dict[str, dict[str, Any]], set[str]]:
    data = json.loads((folder / "ori_pqal.json").read_text())
    test = set(json.loads((folder / "test_ground_truth.json").read_text()))
    return data, test


def abstract_text(item: dict[str, Any]) -> str:
    """The abstract as published: labelled sections, then the conclusion (LONG_ANSWER)."""
    parts = [
        f"{label.title()}: {text}"
        for label, text in zip(item["LABELS"], item["CONTEXTS"], strict=False)
    ]
    parts.append(f"Conclusions: {item['LONG_ANSWER']}")
    return "\n\n".join(parts)


def doc_ranking(hits: list[Any]) -> list[str]:
    return list(dict.fromkeys(Path(h.document).stem for h in hits))


def timed(fn: Any) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def measure_latency(
    col: Any,
    embedder: Any,
    data: dict[str, Any],
    pmids: list[str],
    scales: list[int],
    n_queries: int,
) -> dict[str, Any]:
    """Pad the collection with filler chunks up to each scale and time each search mode."""
    from assay.rag.chunking import Chunk
    from assay.rag.document import ParsedDocument
    from assay.rag.index import IndexFiles
    from assay.rag.ingest import text_hash
    from assay.rag.store import PreparedDocument

    rng = np.random.default_rng(0)
    words = np.array(" ".join(abstract_text(data[p]) for p in pmids).lower().split(), dtype=object)
    queries = [data[p]["QUESTION"] for p in pmids[:n_queries]]
    latency: dict[str, Any] = {}
    store = col.store
    filler_doc = 0

    def write_filler(n: int) -> str:
        """One document of ``n`` filler chunks written straight to the store (no embedding)."""
        nonlocal filler_doc
        info = col._require(counts=False)
        lengths = rng.integers(80, 180, size=n)
        chunk_texts = [" ".join(rng.choice(words, size=int(m))) for m in lengths]
        vecs = rng.standard_normal((n, embedder.dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        body = "\n\n".join(chunk_texts)
        chunks, pos = [], 0
        for s, t in enumerate(chunk_texts):
            chunks.append(Chunk(s, pos, pos + len(t), t, len(t.split()), None, None, None))
            pos += len(t) + 2
        hashes = [text_hash(t) for t in chunk_texts]
        filler_doc += 1
        prepared = PreparedDocument(
            path=f"/filler/{filler_doc}.txt",
            name=f"filler-{filler_doc}.txt",
            sha256=f"filler{filler_doc}",
            size=len(body),
            doc=ParsedDocument(text=body, kind="text"),
            chunks=chunks,
            hashes=hashes,
            quality={},
        )
        store.write_documents(
            info.id, [prepared], embedder.name, dict(zip(hashes, vecs, strict=True))
        )
        return prepared.name

    for target in scales:
        info = col.info
        assert info is not None
        need = target - info.n_chunks
        t0 = time.perf_counter()
        while need > 0:
            n = min(need, 5000)
            write_filler(n)
            need -= n
        fill_s = time.perf_counter() - t0
        # The filler went around Collection.add: the first search appends all of it at once.
        _, catch_up_s = timed(lambda: col.search("warm", k=1, mode="dense"))
        files = IndexFiles(store, col._require(counts=False))
        name = write_filler(100)
        _, append_s = timed(lambda: col.search("warm", k=1, mode="dense"))
        col.remove(name)
        _, prune_s = timed(lambda: col.search("warm", k=1, mode="dense"))
        _, rebuild_s = timed(files.rebuild)
        _, load_s = timed(lambda: col.search("warm", k=1, mode="dense"))
        for q in queries[:5]:
            for mode in LATENCY_ROWS:
                search_timed(col, mode, q, 10)
        row: dict[str, Any] = {
            "chunks": col.info.n_chunks if col.info else target,
            "fill_seconds": round(fill_s, 1),
            "index": {
                "catch_up_seconds": round(catch_up_s, 2),
                "append_100_chunks_seconds": round(append_s, 2),
                "after_removing_100_chunks_seconds": round(prune_s, 2),
                "full_rebuild_seconds": round(rebuild_s, 2),
                "load_seconds": round(load_s, 2),
            },
        }
        for mode in LATENCY_ROWS:
            times, cpu = [], []
            for q in queries:
                c0 = time.process_time()
                _, dt = timed(lambda q=q, mode=mode: search_timed(col, mode, q, 10))
                cpu.append((time.process_time() - c0) * 1000)
                times.append(dt * 1000)
            row[mode] = {
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(percentile(times, 95), 1),
                # CPU time of the process (all threads): what the query costs without waiting for
                # a core on a shared machine; for hybrid it is the sum of its two threads.
                "cpu_p50_ms": round(statistics.median(cpu), 1),
            }
        qtimes = []
        for q in queries:
            _, dt = timed(lambda q=q: embedder.encode_query(q))
            qtimes.append(dt * 1000)
        row["query_embedding_p50_ms"] = round(statistics.median(qtimes), 1)
        latency[str(target)] = row
        print(f"latency @ {target}: {row}", file=sys.stderr)
    return latency


def latency_table(latency: dict[str, Any]) -> list[str]:
    lines = ["| chunks | mode | p50 ms | p95 ms | CPU p50 ms |", "|---|---|---|---|---|"]
    for row in latency.values():
        for mode in LATENCY_ROWS:
            m = row[mode]
            lines.append(
                f"| {row['chunks']:,} | {mode} | {m['p50_ms']} | {m['p95_ms']} | "
                f"{m.get('cpu_p50_ms', '')} |"
            )
        lines.append(
            f"| {row['chunks']:,} | (query embedding alone) | {row['query_embedding_p50_ms']} | | |"
        )
    lines += [
        "",
        "| chunks | catch-up s | append 100 chunks s | after removing 100 s | full rebuild s | "
        "load s |",
        "|---|---|---|---|---|---|",
    ]
    for row in latency.values():
        ix = row["index"]
        lines.append(
            f"| {row['chunks']:,} | {ix['catch_up_seconds']} | {ix['append_100_chunks_seconds']} | "
            f"{ix['after_removing_100_chunks_seconds']} | {ix['full_rebuild_seconds']} | "
            f"{ix['load_seconds']} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--throughput-docs", type=int, default=300)
    ap.add_argument("--latency-queries", type=int, default=100)
    ap.add_argument("--scales", default="10000,100000")
    ap.add_argument("--quick", action="store_true", help="200 docs, 1k/5k scales (smoke test)")
    ap.add_argument(
        "--latency-only",
        action="store_true",
        help="only the latency table, over filler chunks alone (no abstracts embedded)",
    )
    args = ap.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="assay-bench-"))
    os.environ["ASSAY_HOME"] = str(home)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from assay.rag import ChunkingConfig, Collection
    from assay.rag.embed import load_embedder
    from assay.rag.metrics import evaluate_rankings
    from assay.rag.search import RRF_K, reciprocal_rank_fusion
    from assay.workspace import Workspace

    data, test_ids = load_pubmedqa(args.data)
    pmids = sorted(data)
    if args.quick:
        pmids = pmids[:200]
        args.scales = "1000,5000"
        args.throughput_docs = 60
        args.latency_queries = 30
    scales = [int(s) for s in args.scales.split(",") if s]
    docs_dir = home / "abstracts"
    docs_dir.mkdir()
    for pmid in pmids:
        (docs_dir / f"{pmid}.txt").write_text(abstract_text(data[pmid]))

    ws = Workspace(home)
    embedder = load_embedder(None)
    embedder.encode(["warm up the model"] * 4)
    chunking = ChunkingConfig()
    col = Collection(ws, "pubmedqa", embedder=embedder, chunking=chunking)
    results: dict[str, Any] = {
        "dataset": "PubMedQA PQA-L ori_pqal.json",
        "n_documents": len(pmids),
        "embedder": embedder.name,
        "chunking": chunking.model_dump(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
    }

    if args.latency_only:
        col._ensure()
        results["latency"] = measure_latency(
            col, embedder, data, pmids, scales, args.latency_queries
        )
        results["note"] = "latency only: the collection holds filler chunks alone"
        print("\n".join(latency_table(results["latency"])))
        args.out.mkdir(parents=True, exist_ok=True)
        results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
        (args.out / "retrieval_pubmedqa-latency.json").write_text(json.dumps(results, indent=2))
        return 0

    # -- ingest throughput vs the bare embedder ---------------------------------------------------
    first = [docs_dir / f"{p}.txt" for p in pmids[: args.throughput_docs]]
    rest = [docs_dir / f"{p}.txt" for p in pmids[args.throughput_docs :]]
    from assay.rag.chunking import chunk_document
    from assay.rag.readers import read_document

    texts: list[str] = []
    for f in first:
        doc = read_document(f)
        texts += [
            c.text
            for c in chunk_document(doc, chunking, embedder.count_tokens, embedder.token_spans)
        ]
    print(f"throughput: {len(first)} abstracts, {len(texts)} chunks", file=sys.stderr)
    _, raw_a = timed(lambda: embedder.encode(texts, batch_size=32))
    report, ingest_s = timed(lambda: col.add(first))
    _, raw_b = timed(lambda: embedder.encode(texts, batch_size=32))
    n_chunks = report.embedded
    raw_s = (raw_a + raw_b) / 2
    results["ingest"] = {
        "documents": len(first),
        "chunks": n_chunks,
        "ingest_seconds": round(ingest_s, 2),
        "raw_encode_seconds": [round(raw_a, 2), round(raw_b, 2)],
        "ingest_chunks_per_s": round(n_chunks / ingest_s, 2),
        "raw_chunks_per_s": round(len(texts) / raw_s, 2),
        "overhead": round(ingest_s / raw_s, 3),
        "note": "ingest = read + chunk + embed + SQLite/FTS5 write + search index append; "
        "raw = SentenceTransformer.encode of the same chunk texts (mean of one run before and "
        "one after)",
    }
    _, re_add_s = timed(lambda: col.add(first))
    results["ingest"]["re_add_unchanged_seconds"] = round(re_add_s, 3)
    print(f"ingest: {results['ingest']}", file=sys.stderr)
    report, rest_s = timed(lambda: col.add(rest))
    results["ingest_rest"] = {
        "documents": len(rest),
        "chunks": report.embedded,
        "seconds": round(rest_s, 1),
    }
    info = col.info
    assert info is not None
    results["n_chunks"] = info.n_chunks
    print(f"indexed {info.n_documents} abstracts, {info.n_chunks} chunks", file=sys.stderr)

    # -- retrieval quality -------------------------------------------------------------------------
    pool = 100
    rankings: dict[str, dict[str, list[str]]] = {m: {} for m in ("bm25", "dense", "fts5")}
    chunk_lists: dict[str, dict[str, list[int]]] = {m: {} for m in ("bm25", "dense")}
    doc_of_chunk: dict[int, str] = {}
    top10_overlap: list[float] = []
    for i, pmid in enumerate(pmids):
        q = data[pmid]["QUESTION"]
        for mode in ("bm25", "dense"):
            hits = col.search(q, k=pool, mode=mode)
            rankings[mode][pmid] = doc_ranking(hits)
            chunk_lists[mode][pmid] = [h.chunk_id for h in hits]
            doc_of_chunk.update({h.chunk_id: Path(h.document).stem for h in hits})
        before = fts5_bm25(col, q, pool)
        rankings["fts5"][pmid] = doc_ranking(before)
        ours = chunk_lists["bm25"][pmid][:10]
        if ours:
            top10_overlap.append(len(set(ours) & {h.chunk_id for h in before[:10]}) / len(ours))
        if i % 200 == 0:
            print(f"  queried {i}/{len(pmids)}", file=sys.stderr)

    def fused(pmid: str, k_rrf: int, w_dense: float, depth: int = 40) -> list[str]:
        lists = {m: chunk_lists[m][pmid][:depth] for m in ("dense", "bm25")}
        ranked = reciprocal_rank_fusion(lists, {"dense": w_dense, "bm25": 1.0}, k_rrf)
        return list(dict.fromkeys(doc_of_chunk[c] for c, _ in ranked))

    def score(ids: list[str], ranking: dict[str, list[str]]) -> dict[str, float]:
        return evaluate_rankings([ranking[p] for p in ids], [{p} for p in ids])

    dev = [p for p in pmids if p not in test_ids]
    test = [p for p in pmids if p in test_ids]
    grid = [(k, w) for k in (5, 10, 20, 30, 60, 100) for w in (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)]
    tuning = []
    for k_rrf, w in grid:
        ranking = {p: fused(p, k_rrf, w) for p in dev}
        tuning.append((score(dev, ranking)["mrr"], k_rrf, w))
    best_mrr, best_k, best_w = max(tuning)
    results["hybrid_tuning"] = {
        "grid": [{"rrf_k": k, "w_dense": w, "dev_mrr": round(m, 4)} for m, k, w in tuning],
        "chosen": {"rrf_k": best_k, "w_dense": best_w, "dev_mrr": round(best_mrr, 4)},
        "default": {"rrf_k": RRF_K, "w_dense": 1.0},
    }
    # Hybrid through the public API (default and tuned parameters), so what is reported is what
    # Collection.search returns.
    hybrid_default: dict[str, list[str]] = {}
    hybrid_tuned: dict[str, list[str]] = {}
    for pmid in pmids:
        q = data[pmid]["QUESTION"]
        hybrid_default[pmid] = doc_ranking(col.search(q, k=pool, mode="hybrid"))
        hybrid_tuned[pmid] = doc_ranking(
            col.search(
                q, k=pool, mode="hybrid", rrf_k=best_k, weights={"dense": best_w, "bm25": 1.0}
            )
        )
    quality: dict[str, Any] = {}
    for split, ids in (("all", pmids), ("test", test), ("dev", dev)):
        if not ids:
            continue
        quality[split] = {
            "bm25": score(ids, rankings["bm25"]),
            "bm25 FTS5 (before)": score(ids, rankings["fts5"]),
            "dense": score(ids, rankings["dense"]),
            "hybrid (rrf k=60, equal)": score(ids, hybrid_default),
            f"hybrid (rrf k={best_k}, w_dense={best_w}; tuned on dev)": score(ids, hybrid_tuned),
            "n_queries": len(ids),
        }
    results["quality"] = quality
    results["bm25_vs_fts5"] = {
        "top10_chunk_overlap_mean": round(float(np.mean(top10_overlap)), 4),
        "identical_document_rankings": sum(
            rankings["bm25"][p][:10] == rankings["fts5"][p][:10] for p in pmids
        ),
        "queries": len(pmids),
    }

    # -- latency at scale ---------------------------------------------------------------------------
    results["latency"] = measure_latency(col, embedder, data, pmids, scales, args.latency_queries)
    results["machine"]["load_average_at_end"] = (
        os.getloadavg() if hasattr(os, "getloadavg") else None
    )

    # -- report -------------------------------------------------------------------------------------
    lines = [
        "| split | method | R@1 | R@5 | R@10 | MRR | nDCG@10 |",
        "|---|---|---|---|---|---|---|",
    ]
    for split, rows in quality.items():
        for method, m in rows.items():
            if method == "n_queries":
                continue
            lines.append(
                f"| {split} ({rows['n_queries']}) | {method} | {m['recall@1']:.3f} | "
                f"{m['recall@5']:.3f} | {m['recall@10']:.3f} | {m['mrr']:.3f} | "
                f"{m['ndcg@10']:.3f} |"
            )
    agree = results["bm25_vs_fts5"]
    lines += [
        "",
        f"In-memory BM25 vs FTS5 bm25(): identical top-10 document rankings on "
        f"{agree['identical_document_rankings']}/{agree['queries']} questions; mean top-10 chunk "
        f"overlap {agree['top10_chunk_overlap_mean']}.",
        "",
        *latency_table(results["latency"]),
    ]
    ing = results["ingest"]
    lines += [
        "",
        f"Ingest: {ing['chunks']} chunks at {ing['ingest_chunks_per_s']} chunks/s vs the bare "
        f"embedder at {ing['raw_chunks_per_s']} chunks/s: overhead {ing['overhead']}x. "
        f"Re-adding the unchanged files: {ing['re_add_unchanged_seconds']} s.",
        f"Load average at start/end: {results['machine']['load_average_at_start']} / "
        f"{results['machine']['load_average_at_end']} (2 cores, shared).",
    ]
    table = "\n".join(lines)
    print(table)
    results["table_markdown"] = table
    args.out.mkdir(parents=True, exist_ok=True)
    results["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
    name = "retrieval_pubmedqa" + ("-quick" if args.quick else "")
    (args.out / f"{name}.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
