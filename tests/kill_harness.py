"""Kill ``assay`` commands with SIGKILL at seeded random moments, run them again until they
finish, and check the promise of resumable runs: the final results equal those of one
uninterrupted run, no unit of work (evaluation item, output row, document, training step, item
of a sweep's cell) is lost or duplicated, and none that was committed before a kill is computed
again.

Model work goes to :class:`~faulty_api.FaultyAPI` (no faults, a small delay per answer) through
the real ``openai:`` backend and embedder, so every prompt and every embedded text is seen on the
wire. Each attempt sends its own API key, so the server knows which process asked for what.
Before each attempt the harness reads what is committed (database rows, complete output lines,
cached answers, complete checkpoints); whatever the attempt then asks for that was among them is
counted as *recomputed*. Units asked for again after being in flight at a kill are allowed and
counted as *redone*.

Used by ``tests/test_kills.py`` (a handful of kills) and ``benchmarks/kill_runs.py`` (fifty).
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faulty_api import FaultyAPI

REPO = Path(__file__).resolve().parents[1]
NUMBER = re.compile(r"\d+")
RUN_ID = re.compile(r"\b[\w.-]+-\d{8}-\d{6}-[0-9a-f]{4,}\b")


# -- reading a workspace without disturbing it ---------------------------------------------------
def _query(home: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` on the workspace database; none while it or the table does not exist."""
    db_path = home / "assay.db"
    if not db_path.exists():
        return []
    db = sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        return db.execute(sql, args).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        db.close()


def _cached_numbers(home: Path) -> set[str]:
    """The answers in the response cache (each answer is the number its prompt asked for)."""
    out: set[str] = set()
    for (response,) in _query(home, "SELECT response FROM responses WHERE op = 'generate'"):
        out.update(NUMBER.findall(str(json.loads(response).get("text", ""))))
    return out


def _complete_lines(path: Path) -> list[dict[str, Any]]:
    """The records of an append-only JSONL file: complete lines only (a kill can cut the last)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_bytes().split(b"\n"):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def _same(a: Any, b: Any, tol: float = 1e-5) -> bool:
    """Equal structures, floats equal within ``tol`` (a resumed run adds in another order)."""
    if isinstance(a, float) or isinstance(b, float):
        return (
            isinstance(a, int | float)
            and isinstance(b, int | float)
            and math.isclose(a, b, abs_tol=tol, rel_tol=0)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], tol) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y, tol) for x, y in zip(a, b, strict=True))
    return bool(a == b)


# -- scenarios -----------------------------------------------------------------------------------
@dataclass
class Scenario:
    """One command to kill. Subclasses say what its units are and where they are committed."""

    name: str
    work: Path
    api: FaultyAPI
    n: int

    def setup(self) -> None:
        """Write the inputs (shared by the uninterrupted and the killed run)."""

    def prepare_home(self, home: Path) -> None:
        home.mkdir(parents=True, exist_ok=True)
        (home / "config.yaml").write_text(
            "batch_size: 4\nopenai: {max_concurrency: 2, timeout_s: 20, max_retries: 2}\n"
        )

    def command(self, home: Path) -> list[str]:
        raise NotImplementedError

    def committed(self, home: Path) -> set[str]:
        """Units durably done in ``home`` (so a later attempt must not compute them)."""
        raise NotImplementedError

    def computed(self, key: str, stderr: str, finished: bool) -> list[str]:
        """Units the attempt with API key ``key`` asked to have computed."""
        return [u for k, text in self.api.received if k == key for u in self.unit_of(text)]

    def unit_of(self, text: str) -> list[str]:
        numbers = NUMBER.findall(text)
        return numbers[-1:]

    def result(self, home: Path) -> Any:
        """The final results, comparable between runs."""
        raise NotImplementedError

    def units(self, home: Path) -> list[str]:
        """The units present in the final results, repeats included."""
        raise NotImplementedError

    def expected_units(self) -> set[str]:
        raise NotImplementedError


class EvalScenario(Scenario):
    def setup(self) -> None:
        rows = [
            {"id": f"q{i}", "question": f"Please repeat the number {1000 + i}.", "answer": 1000 + i}
            for i in range(self.n)
        ]
        (self.work / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (self.work / "repeat.yaml").write_text(
            f"name: repeat\ndataset: {{source: {self.work / 'items.jsonl'}, id_field: id}}\n"
            "template: '{{ question }}'\ntarget: answer\nextract: {strategy: last_number}\n"
            "scorers: [numeric_match]\n"
        )

    def command(self, home: Path) -> list[str]:
        model = f"openai:m@{self.api.base_url}"
        return ["eval", str(self.work / "repeat.yaml"), "-m", model]

    def committed(self, home: Path) -> set[str]:
        done = {
            NUMBER.findall(str(json.loads(r)["output"]))[-1]
            for (r,) in _query(home, "SELECT record FROM samples")
        }
        return done | _cached_numbers(home)

    def _records(self, home: Path) -> list[tuple[str, dict[str, Any]]]:
        rows = _query(home, "SELECT sample_id, record FROM samples")
        return [(sid, json.loads(r)) for sid, r in rows]

    def result(self, home: Path) -> Any:
        runs = _query(home, "SELECT status, n_total, metrics FROM runs")
        samples = sorted(
            (sid, r["input"], r["output"], r["extracted"], r["scores"])
            for sid, r in self._records(home)
        )
        return {"runs": [(s, n, json.loads(m or "null")) for s, n, m in runs], "samples": samples}

    def units(self, home: Path) -> list[str]:
        return [sid for sid, _ in self._records(home)]

    def expected_units(self) -> set[str]:
        return {f"q{i}" for i in range(self.n)}


WORDINGS = {"plain": "{{ question }}", "terse": "Reply with the number alone. {{ question }}"}
"""The sweep's two prompt wordings: they differ in length, so a wording is told by its words."""


class SweepScenario(EvalScenario):
    """``assay sweep`` of the eval scenario's task: two prompt wordings x one model at the
    server, so two cells of ``n`` items each, run one after the other.

    A unit is a wording's item, named ``<words>w:<number>``: the server bills one prompt token
    per word of a request with no system message, so a cached answer tells its wording too."""

    def setup(self) -> None:
        super().setup()
        prompts = "".join(f"    {k}: '{v}'\n" for k, v in WORDINGS.items())
        (self.work / "sweep.yaml").write_text(
            f"name: kills\ntask: repeat.yaml\naxes:\n"
            f"  model: ['openai:m@{self.api.base_url}']\n  prompt:\n{prompts}"
        )

    def command(self, home: Path) -> list[str]:
        return ["sweep", str(self.work / "sweep.yaml"), "--format", "json"]

    def unit_of(self, text: str) -> list[str]:
        return [f"{len(text.split())}w:{n}" for n in NUMBER.findall(text)[-1:]]

    def committed(self, home: Path) -> set[str]:
        # Samples and cached answers both keep the answer and the prompt tokens it was billed.
        answers = [json.loads(r) for (r,) in _query(home, "SELECT record FROM samples")]
        answers += [
            json.loads(r)
            for (r,) in _query(home, "SELECT response FROM responses WHERE op = 'generate'")
        ]
        return {
            f"{a['prompt_tokens']}w:{n}"
            for a in answers
            for n in NUMBER.findall(str(a.get("output", a.get("text", ""))))[-1:]
        }

    def _cells(self, home: Path) -> list[tuple[int, str, str, str | None]]:
        """(index, label, status, run id) of the one sweep's cells."""
        rows = _query(home, "SELECT idx, label, status, run_id FROM sweep_cells ORDER BY idx")
        return [(int(i), str(label), str(status), run) for i, label, status, run in rows]

    def _cell_records(self, home: Path) -> list[tuple[str, str, dict[str, Any]]]:
        out = []
        for _, label, _, run_id in self._cells(home):
            rows = _query(home, "SELECT sample_id, record FROM samples WHERE run_id = ?", (run_id,))
            out += [(label, sid, json.loads(r)) for sid, r in rows]
        return out

    def _leaderboard(self, home: Path, sweep_id: str) -> dict[str, Any]:
        """The sweep's leaderboards less what depends on time (latency, throughput) and ids."""
        from assay.sweeps import show
        from assay.workspace import Workspace

        # cache_hits: how many answers a resumed cell took from the cache depends on where the
        # kill fell (the cache is what keeps them from being asked again).
        timing = {
            "run_id",
            "latency_p50",
            "latency_p95",
            "items_per_s",
            "tokens_per_s",
            "wall_s",
            "cache_hits",
        }
        out = {}
        for board in show(sweep_id, Workspace(home)).to_dict():
            board.pop("sweep")
            board.pop("recommendation")  # it may cite latencies, which differ between runs
            board["warnings"] = [w for w in board["warnings"] if "response cache" not in w]
            board["cells"] = [
                {k: v for k, v in c.items() if k not in timing} for c in board["cells"]
            ]
            # Warnings name the cells' runs, whose ids hold the time they started.
            out[board["task"]] = json.loads(RUN_ID.sub("<run>", json.dumps(board)))
        return out

    def result(self, home: Path) -> Any:
        sweeps = _query(home, "SELECT id, name, status FROM sweeps")
        runs = _query(
            home,
            "SELECT c.label, r.status, r.n_total, r.metrics FROM runs r "
            "LEFT JOIN sweep_cells c ON c.run_id = r.id",
        )
        return {
            "sweeps": [(name, status) for _, name, status in sweeps],
            "cells": [(i, label, status) for i, label, status, _ in self._cells(home)],
            # One run per cell and no other (a cell started afresh would leave one unlinked).
            "runs": sorted(
                ((label or "", s, n, json.loads(m or "null")) for label, s, n, m in runs),
                key=lambda r: str(r[:3]),
            ),
            "samples": sorted(
                (label, sid, r["input"], r["output"], r["extracted"], r["scores"])
                for label, sid, r in self._cell_records(home)
            ),
            "leaderboard": self._leaderboard(home, sweeps[0][0]) if len(sweeps) == 1 else {},
        }

    def units(self, home: Path) -> list[str]:
        return [f"{label}:{sid}" for label, sid, _ in self._cell_records(home)]

    def expected_units(self) -> set[str]:
        return {f"prompt={w}:q{i}" for w in WORDINGS for i in range(self.n)}


class GenerateScenario(Scenario):
    def setup(self) -> None:
        rows = [{"q": f"Please repeat the number {2000 + i}."} for i in range(self.n)]
        (self.work / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (self.work / "q.jinja").write_text("{{ q }}\n")

    def command(self, home: Path) -> list[str]:
        return [
            "generate",
            f"openai:m@{self.api.base_url}",
            "--template",
            str(self.work / "q.jinja"),
            "--input",
            str(self.work / "rows.jsonl"),
            "--output",
            str(home / "out.jsonl"),
        ]

    def committed(self, home: Path) -> set[str]:
        written = {
            NUMBER.findall(str(r.get("output")))[-1]
            for r in _complete_lines(home / "out.jsonl")
            if r.get("output")
        }
        return written | _cached_numbers(home)

    def result(self, home: Path) -> Any:
        return sorted(
            (r["row"], r["vars"], r["output"], r["error"])
            for r in _complete_lines(home / "out.jsonl")
        )

    def units(self, home: Path) -> list[str]:
        return [str(r["row"]) for r in _complete_lines(home / "out.jsonl")]

    def expected_units(self) -> set[str]:
        return {str(i + 1) for i in range(self.n)}


TOPICS = ["glaciers", "deserts", "volcanoes", "reefs", "tundra", "forests", "rivers", "dunes"]


class DocsScenario(Scenario):
    """``n`` Markdown notes of 40 short paragraphs each, embedded over the API."""

    def setup(self) -> None:
        folder = self.work / "notes"
        folder.mkdir(exist_ok=True)
        for i in range(self.n):
            topic = TOPICS[i % len(TOPICS)]
            text = "\n\n".join(
                f"Note {i} paragraph {k}: field studies of {topic} measured site {i * 100 + k} "
                f"again, season after season, and found the change slow."
                for k in range(40)
            )
            (folder / f"{i:03d}-{topic}.md").write_text(f"# {topic.title()} {i}\n\n{text}\n")

    def _paths(self) -> list[str]:
        return sorted(str(p) for p in (self.work / "notes").glob("*.md"))

    def command(self, home: Path) -> list[str]:
        return [
            "docs",
            "add",
            *self._paths(),
            "-c",
            "notes",
            "--embedder",
            f"openai:emb@{self.api.base_url}",
            "--chunk-tokens",
            "64",
            "--overlap-tokens",
            "0",
            "--no-progress",
        ]

    def unit_of(self, text: str) -> list[str]:
        return [text] if text != "dimension" else []  # the embedder's size probe

    def committed(self, home: Path) -> set[str]:
        return {t for (t,) in _query(home, "SELECT text FROM rag_chunks")}

    def result(self, home: Path) -> Any:
        docs = _query(
            home,
            "SELECT d.name, d.sha256, c.seq, c.text, e.vector FROM rag_documents d "
            "JOIN rag_chunks c ON c.document_id = d.id "
            "JOIN rag_embeddings e ON e.text_hash = c.text_hash ORDER BY d.name, c.seq",
        )
        import numpy as np

        return [
            (name, sha, seq, text, [round(float(v), 5) for v in np.frombuffer(vec, "<f4")])
            for name, sha, seq, text, vec in docs
        ]

    def units(self, home: Path) -> list[str]:
        return [name for (name,) in _query(home, "SELECT name FROM rag_documents")]

    def expected_units(self) -> set[str]:
        return {Path(p).name for p in self._paths()}


class TrainScenario(Scenario):
    """The classifier recipe on a tiny random BERT: ``n`` optimizer steps, a checkpoint every 2."""

    def setup(self) -> None:
        from finetune_util import sentiment_rows, tiny_encoder, write_jsonl, write_yaml

        encoder = tiny_encoder(self.work / "encoder")
        data = write_jsonl(self.work / "sentiment.jsonl", sentiment_rows(40))
        write_yaml(
            self.work / "clf.yaml",
            {
                "recipe": "classifier",
                "model": str(encoder),
                "run_id": "clf",
                "seed": 3,
                "progress": False,
                "max_length": 16,
                "data": {"train": str(data), "validation_fraction": 0.2},
                "optim": {"max_steps": self.n, "batch_size": 4, "learning_rate": 3e-3},
                "eval": {"every_steps": 4},
                "checkpoint": {"every_steps": 2, "keep": 2},
            },
        )

    def command(self, home: Path) -> list[str]:
        return ["train", str(self.work / "clf.yaml")]

    def committed(self, home: Path) -> set[str]:
        folder = home / "models" / "clf" / "checkpoints"
        steps = [
            int(p.name.removeprefix("step-"))
            for p in folder.glob("step-*")
            if (p / "state.json").is_file()
        ]
        return {str(s) for s in range(1, max(steps, default=0) + 1)}

    def computed(self, key: str, stderr: str, finished: bool) -> list[str]:
        # Steps run by an attempt: all after the one it resumed from. A killed attempt that
        # said nothing may have died before reading its checkpoints: nothing is known of it.
        found = re.search(r"resuming from step-\d+ \(step (\d+) of", stderr)
        if found is None and not finished:
            return []
        start = int(found.group(1)) if found else 0
        return [str(s) for s in range(start + 1, self.n + 1)]

    def _record(self, home: Path) -> dict[str, Any]:
        path = home / "models" / "clf" / "assay_training.json"
        data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        return data

    def result(self, home: Path) -> Any:
        from safetensors.numpy import load_file

        record = self._record(home)
        weights_file = home / "models" / "clf" / "model.safetensors"
        weights = load_file(str(weights_file)) if weights_file.exists() else {}
        return {
            "train": [r["loss"] for r in record.get("curves", {}).get("train", [])],
            "eval": [r["loss"] for r in record.get("curves", {}).get("eval", [])],
            "weights": {k: [float(v.astype("float64").sum())] for k, v in weights.items()},
        }

    def units(self, home: Path) -> list[str]:
        train = self._record(home).get("curves", {}).get("train", [])
        return [str(r.get("step", i + 1)) for i, r in enumerate(train)]

    def expected_units(self) -> set[str]:
        return {str(i + 1) for i in range(self.n)}


# -- the harness ---------------------------------------------------------------------------------
@dataclass
class Outcome:
    scenario: str
    kills: int = 0
    attempts: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    recomputed: list[str] = field(default_factory=list)
    """Units computed again although committed before the attempt: must stay empty."""
    redone: int = 0
    """Units computed again after being in flight at a kill (allowed)."""
    equal: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.equal and not (self.lost or self.duplicated or self.recomputed or self.problems)

    def line(self) -> str:
        return (
            f"{self.scenario}: {self.kills} kills, {self.attempts} attempts, "
            f"lost {len(self.lost)}, duplicated {len(self.duplicated)}, "
            f"recomputed after commit {len(self.recomputed)}, redone in flight {self.redone}, "
            f"equal to uninterrupted: {'yes' if self.equal else 'NO'}"
            + (f", problems: {'; '.join(self.problems)}" if self.problems else "")
        )


def child_env(home: Path, key: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ASSAY_HOME=str(home),
        OPENAI_API_KEY=key,
        OMP_NUM_THREADS="1",
        TOKENIZERS_PARALLELISM="false",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONPATH=str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", ""),
    )
    return env


def _start(scenario: Scenario, home: Path, key: str, log: Path) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "assay.cli.main", *scenario.command(home)]
    with log.open("wb") as err:
        return subprocess.Popen(
            cmd,
            env=child_env(home, key),
            cwd=scenario.work,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def run_with_kills(
    scenario: Scenario, kills: int, rng: random.Random, timeout_s: float = 300
) -> Outcome:
    """Run ``scenario`` once straight through, then again with ``kills`` SIGKILLs at moments
    drawn from ``rng`` over the straight run's duration, rerunning after each; compare."""
    scenario.work.mkdir(parents=True, exist_ok=True)
    scenario.setup()
    out = Outcome(scenario.name)
    straight = scenario.work / "uninterrupted"
    scenario.prepare_home(straight)
    started = time.monotonic()
    log = scenario.work / "uninterrupted.log"
    proc = _start(scenario, straight, _key(scenario, 0), log)
    if proc.wait(timeout_s) != 0:
        out.problems.append(f"the uninterrupted run failed: {log.read_text()[-500:]}")
        return out
    duration = time.monotonic() - started

    home = scenario.work / "killed"
    scenario.prepare_home(home)
    while True:
        out.attempts += 1
        key = _key(scenario, out.attempts)
        before = scenario.committed(home)
        log = scenario.work / f"attempt-{out.attempts}.log"
        proc = _start(scenario, home, key, log)
        if out.kills < kills:
            try:
                proc.wait(rng.uniform(0.0, 0.9 * duration))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                out.kills += 1
        else:
            proc.wait(timeout_s)
        stderr = log.read_text(errors="replace")
        asked = scenario.computed(key, stderr, proc.returncode == 0)
        out.recomputed += [u for u in asked if u in before]
        out.redone += sum(
            1 for u in set(asked) - before if u in _asked_before(scenario, out.attempts)
        )
        if proc.returncode == 0:
            break
        if proc.returncode != -signal.SIGKILL:
            out.problems.append(f"attempt {out.attempts} failed: {stderr.strip()[-500:]}")
            return out
        if out.attempts > kills + 5:
            out.problems.append("no end after the kills")
            return out

    got = scenario.units(home)
    out.lost = sorted(scenario.expected_units() - set(got))
    out.duplicated = sorted(u for u, c in Counter(got).items() if c > 1)
    out.equal = _same(scenario.result(home), scenario.result(straight))
    return out


def _key(scenario: Scenario, attempt: int) -> str:
    """The API key of one attempt (0: the uninterrupted run): unique on a server shared by
    several scenarios, since each has its own folder."""
    return f"{scenario.work.resolve()}#{attempt}"


def _asked_before(scenario: Scenario, attempt: int) -> set[str]:
    keys = {_key(scenario, i) for i in range(1, attempt)}
    return {u for k, text in scenario.api.received if k in keys for u in scenario.unit_of(text)}


SCENARIOS: dict[str, type[Scenario]] = {
    "eval": EvalScenario,
    "generate": GenerateScenario,
    "docs": DocsScenario,
    "train": TrainScenario,
    "sweep": SweepScenario,
}
