"""Faithfulness of cited answers: is each claim supported by the passages it cites?

    >>> from assay.rag import ask
    >>> from assay.rag.faithfulness import check_faithfulness
    >>> answer = ask("What corpus do the authors use?", collection="papers")
    >>> report = check_faithfulness(answer, judge="default")
    >>> for c in report.answers[0].claims:
    ...     print(c.verdict, c.claim.citations, c.claim.text)
    >>> print(report.summary["faithfulness"])          # mean with a 95% interval

Steps: split the answer into claims (:mod:`assay.rag.claims`: sentences by default, citation
markers kept as each claim's citations; ``splitter="llm"`` asks the judge for atomic claims);
for every (claim, cited source) pair ask the judge for a structured verdict, ``supported``,
``contradicted`` or ``not_enough_info``, with a one-sentence reason; a claim that cites nothing
is judged against all the answer's sources together and the judge names the source it used
(``uncited="skip"`` leaves such claims unjudged instead). A claim is supported if any cited
source supports it, contradicted if none does and one contradicts it.

Per answer (None where the denominator is empty):

* ``faithfulness``: supported claims / judged claims.
* ``contradiction_rate``: contradicted claims / judged claims.
* ``citation_precision``: citations whose passage supports the claim / all citations (a
  citation to a source number that was not given counts as not supporting).
* ``citation_coverage``: claims with at least one supporting citation / judged claims (a
  recall-like figure: claims left uncited or cited wrongly lower it).

Across answers, :class:`FaithfulnessReport` gives each metric as the mean over answers with a t
interval (macro) and pooled over claims or citations with a bootstrap interval that resamples
answers (``*_pooled``). A verdict the judge could not give validly is counted in ``n_failed``
and left out of the denominators, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from assay.errors import UserError
from assay.rag.claims import Claim, split_claims, split_claims_llm

if TYPE_CHECKING:
    from assay.models.facade import Model
    from assay.rag.answer import Answer
    from assay.stats import Estimate
    from assay.workspace import Workspace

Verdict = Literal["supported", "contradicted", "not_enough_info"]
VERDICTS: tuple[str, ...] = ("supported", "contradicted", "not_enough_info")
METRICS = ("faithfulness", "contradiction_rate", "citation_precision", "citation_coverage")


# The judge's reply for one claim, reason first (it decides better after writing it). No
# docstring: pydantic would put it in the JSON schema the judge is shown.
class ClaimVerdict(BaseModel):
    reason: str = Field(max_length=200)  # bounded, so a reply always ends within its budget
    verdict: Verdict
    source: int | None = None
    """The number of the source that supports or contradicts the claim (when judged against all)."""


_RULES = (
    'Write a one-sentence reason, then the verdict: "supported" if the {what} states the claim '
    'or directly implies it, "contradicted" if the {what} states something incompatible with '
    'the claim, "not_enough_info" if the {what} does not say.{source} Judge only from the {what}, '
    "not from what you know."
)
PAIR_RULES = _RULES.format(what="passage", source="")
ALL_RULES = _RULES.format(
    what="sources", source=' Give as "source" the number of the source you used (null if none).'
)


def pair_prompt(n: int, passage: str, claim: str) -> str:
    return f"Does the source passage support the claim?\n\nSource [{n}]:\n{passage}\n\nClaim: {claim}\n\n{PAIR_RULES}"


def all_prompt(passages: str, claim: str) -> str:
    return f"Do the sources support the claim?\n\n{passages}\n\nClaim: {claim}\n\n{ALL_RULES}"


# -- inputs -------------------------------------------------------------------------------------


@dataclass
class AnswerInput:
    """An answer to check: its text and the numbered passages it was given."""

    text: str
    sources: dict[int, str]
    question: str = ""
    id: str = ""


def as_input(obj: Answer | Mapping[str, Any], index: int = 0) -> AnswerInput:
    """From an :class:`~assay.rag.answer.Answer`, its ``to_dict()`` (``assay ask --json``), or a
    mapping with ``answer`` (or ``text``) and ``sources`` (a list of ``{n, text}``, a list of
    passages numbered from 1, or a mapping number → passage)."""
    from assay.rag.answer import Answer

    if isinstance(obj, Answer):
        return AnswerInput(obj.text, {s.n: s.text for s in obj.sources}, obj.question, str(index))
    if not isinstance(obj, Mapping):
        raise UserError(f"answer {index + 1}: expected an object, got {type(obj).__name__}")
    text = obj.get("answer", obj.get("text"))
    if not isinstance(text, str):
        raise UserError(f"answer {index + 1}: no 'answer' text")
    raw = obj.get("sources", obj.get("passages", []))
    sources: dict[int, str] = {}
    if isinstance(raw, Mapping):
        sources = {int(k): str(v) for k, v in raw.items()}
    elif isinstance(raw, Sequence) and not isinstance(raw, str):
        for i, s in enumerate(raw, start=1):
            if isinstance(s, Mapping):
                sources[int(s.get("n", i))] = str(s.get("text", ""))
            else:
                sources[i] = str(s)
    else:
        raise UserError(f"answer {index + 1}: 'sources' is not a list or mapping of passages")
    return AnswerInput(text, sources, str(obj.get("question", "")), str(obj.get("id", index)))


# -- results ------------------------------------------------------------------------------------


@dataclass
class CitationCheck:
    """One source a claim cites, and whether its passage supports the claim."""

    n: int
    exists: bool
    verdict: Verdict | None = None
    reason: str = ""
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "exists": self.exists,
            "verdict": self.verdict,
            "reason": self.reason,
            "error": self.error,
        }


@dataclass
class ClaimCheck:
    claim: Claim
    verdict: Verdict | None
    """None when no valid verdict could be had (or ``uncited="skip"`` left it unjudged)."""
    source: int | None = None
    """The source that supports (else contradicts) the claim."""
    reason: str = ""
    judged_against: Literal["cited", "all", "none"] = "cited"
    citations: list[CitationCheck] = field(default_factory=list)
    error: str | None = None

    @property
    def supporting_citations(self) -> list[int]:
        return [c.n for c in self.citations if c.verdict == "supported"]

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.claim.to_dict(),
            "verdict": self.verdict,
            "source": self.source,
            "reason": self.reason,
            "judged_against": self.judged_against,
            "citation_checks": [c.to_dict() for c in self.citations],
            "error": self.error,
        }


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


@dataclass
class AnswerCheck:
    answer: AnswerInput
    claims: list[ClaimCheck]

    @property
    def judged(self) -> list[ClaimCheck]:
        return [c for c in self.claims if c.verdict is not None]

    def counts(self) -> dict[str, tuple[int, int]]:
        """Numerator and denominator of each metric."""
        judged = self.judged
        cites = [x for c in self.claims for x in c.citations if x.error is None]
        return {
            "faithfulness": (sum(c.verdict == "supported" for c in judged), len(judged)),
            "contradiction_rate": (sum(c.verdict == "contradicted" for c in judged), len(judged)),
            "citation_precision": (sum(x.verdict == "supported" for x in cites), len(cites)),
            "citation_coverage": (sum(bool(c.supporting_citations) for c in judged), len(judged)),
        }

    @property
    def metrics(self) -> dict[str, float | None]:
        return {name: _ratio(*nd) for name, nd in self.counts().items()}

    @property
    def n_failed(self) -> int:
        """Judge calls that gave no valid verdict."""
        against_all = sum(1 for c in self.claims if c.error and c.judged_against == "all")
        return against_all + sum(1 for c in self.claims for x in c.citations if x.error)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.answer.id,
            "question": self.answer.question,
            "answer": self.answer.text,
            "metrics": self.metrics,
            "n_claims": len(self.claims),
            "n_failed": self.n_failed,
            "claims": [c.to_dict() for c in self.claims],
        }


@dataclass
class FaithfulnessReport:
    answers: list[AnswerCheck]
    summary: dict[str, Estimate]
    judge: str
    splitter: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "judge": self.judge,
            "splitter": self.splitter,
            "summary": {k: v.to_dict() for k, v in self.summary.items()},
            "n_answers": len(self.answers),
            "n_claims": sum(len(a.claims) for a in self.answers),
            "n_failed": sum(a.n_failed for a in self.answers),
            "answers": [a.to_dict() for a in self.answers],
        }


# -- judging ------------------------------------------------------------------------------------


def _cut(text: str, max_chars: int | None) -> str:
    text = " ".join(text.split())
    if max_chars is None or len(text) <= max_chars:
        return text
    return text[:max_chars].rsplit(" ", 1)[0] + " ..."


@dataclass
class _Job:
    prompt: str
    answer: int
    claim: int
    citation: int | None  # index into the claim's citation checks; None: judged against all


def _plan(
    inputs: Sequence[AnswerInput],
    claims: Sequence[Sequence[Claim]],
    uncited: str,
    max_chars: int | None,
) -> tuple[list[list[ClaimCheck]], list[_Job]]:
    checks: list[list[ClaimCheck]] = []
    jobs: list[_Job] = []
    for a, (inp, cs) in enumerate(zip(inputs, claims, strict=True)):
        row: list[ClaimCheck] = []
        for c, claim in enumerate(cs):
            check = ClaimCheck(claim, None)
            if claim.citations:
                for n in claim.citations:
                    exists = n in inp.sources
                    check.citations.append(CitationCheck(n, exists))
                    if exists:
                        prompt = pair_prompt(n, _cut(inp.sources[n], max_chars), claim.text)
                        jobs.append(_Job(prompt, a, c, len(check.citations) - 1))
                    else:
                        check.citations[-1].reason = "no such source"
                if not any(x.exists for x in check.citations):
                    check.verdict, check.reason = "not_enough_info", "cites no given source"
            elif uncited == "all" and inp.sources:
                check.judged_against = "all"
                passages = "\n\n".join(
                    f"Source [{n}]:\n{_cut(t, max_chars)}" for n, t in sorted(inp.sources.items())
                )
                jobs.append(_Job(all_prompt(passages, claim.text), a, c, None))
            elif uncited == "all":
                check.judged_against = "none"
                check.verdict, check.reason = "not_enough_info", "the answer was given no sources"
            else:
                check.judged_against = "none"
            row.append(check)
        checks.append(row)
    return checks, jobs


def _settle(check: ClaimCheck) -> None:
    """A cited claim's verdict from its citations' verdicts."""
    if check.judged_against != "cited" or not check.citations:
        return
    done = [x for x in check.citations if x.verdict is not None]
    if not done:
        if any(x.error for x in check.citations):
            check.error = "no valid verdict for any cited source"
        return
    for wanted in ("supported", "contradicted"):
        hit = next((x for x in done if x.verdict == wanted), None)
        if hit is not None:
            check.verdict, check.source, check.reason = hit.verdict, hit.n, hit.reason
            return
    check.verdict, check.source = "not_enough_info", None
    check.reason = "; ".join(x.reason for x in done if x.reason)


def check_faithfulness(
    answers: Answer | Mapping[str, Any] | Sequence[Answer | Mapping[str, Any]],
    judge: Model | str = "default",
    *,
    splitter: Literal["sentences", "llm"] = "sentences",
    uncited: Literal["all", "skip"] = "all",
    max_passage_chars: int | None = 4000,
    max_attempts: int = 3,
    workspace: Workspace | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    seed: int = 0,
) -> FaithfulnessReport:
    """Split each answer into claims and judge them against the passages they cite (see the
    module docstring). ``judge`` is a model or an address; verdicts decode greedily, so they are
    reproducible and cached like any other generation."""
    from assay.models.facade import Model as ModelClass
    from assay.prompting.structured import generate_structured

    items = (
        [answers]
        if isinstance(answers, Mapping) or not isinstance(answers, Sequence)
        else list(answers)
    )
    inputs = [as_input(a, i) for i, a in enumerate(items)]
    if splitter not in ("sentences", "llm"):
        raise UserError(f"unknown claim splitter '{splitter}' (use sentences or llm)")
    if uncited not in ("all", "skip"):
        raise UserError(f"uncited must be 'all' or 'skip', not '{uncited}'")
    loaded: list[Model] = []

    def model() -> Model:  # loaded only when there is something to ask it
        if not loaded:
            loaded.append(
                judge if not isinstance(judge, str) else ModelClass.load(judge, workspace=workspace)
            )
        return loaded[0]

    if splitter == "llm":
        claims = split_claims_llm(model(), [i.text for i in inputs], max_attempts=max_attempts)
    else:
        claims = [split_claims(i.text) for i in inputs]
    checks, jobs = _plan(inputs, claims, uncited, max_passage_chars)

    size = max(1, model().settings.batch_size) if jobs else 1
    for start in range(0, len(jobs), size):
        batch = jobs[start : start + size]
        replies = generate_structured(
            model(), [j.prompt for j in batch], ClaimVerdict, max_attempts=max_attempts
        )
        for job, reply in zip(batch, replies, strict=True):
            check = checks[job.answer][job.claim]
            value = reply.value if isinstance(reply.value, ClaimVerdict) else None
            error = None if value is not None else ("; ".join(reply.errors) or "invalid reply")
            if job.citation is not None:
                cite = check.citations[job.citation]
                if value is None:
                    cite.error = error
                else:
                    cite.verdict, cite.reason = value.verdict, value.reason
            elif value is None:
                check.error = error
            else:
                check.verdict, check.reason = value.verdict, value.reason
                known = value.source in inputs[job.answer].sources
                check.source = (
                    value.source if known and value.verdict != "not_enough_info" else None
                )
        if on_progress is not None:
            on_progress(min(start + size, len(jobs)), len(jobs))
    for row in checks:
        for check in row:
            _settle(check)
    results = [AnswerCheck(inp, row) for inp, row in zip(inputs, checks, strict=True)]
    address = loaded[0].address if loaded else (judge if isinstance(judge, str) else judge.address)
    return FaithfulnessReport(results, summarise(results, seed=seed), address, splitter)


check = check_faithfulness


def summarise(answers: Sequence[AnswerCheck], seed: int = 0) -> dict[str, Estimate]:
    """Each metric as the mean over answers (t interval) and pooled (``*_pooled``: ratio of sums,
    bootstrap over answers), over the answers where it is defined."""
    import numpy as np

    from assay.stats import Estimate, bootstrap_ci, mean_ci

    out: dict[str, Estimate] = {}
    for name in METRICS:
        pairs = [a.counts()[name] for a in answers]
        pairs = [(n, d) for n, d in pairs if d > 0]
        if not pairs:
            continue
        values = [n / d for n, d in pairs]
        nums = np.array([n for n, _ in pairs], dtype=float)
        dens = np.array([d for _, d in pairs], dtype=float)
        pooled = float(nums.sum() / dens.sum())
        if len(pairs) < 2:
            out[name] = Estimate(values[0], values[0], values[0], None, 1, "single")
            out[name + "_pooled"] = Estimate(pooled, pooled, pooled, None, 1, "single")
            continue
        out[name] = mean_ci(values)

        def ratio(n: np.ndarray, d: np.ndarray) -> Any:
            return n.sum(axis=-1) / d.sum(axis=-1)

        if np.all(nums == nums[0] * dens / dens[0]):  # every answer the same ratio: no spread
            out[name + "_pooled"] = Estimate(pooled, pooled, pooled, 0.0, len(pairs), "constant")
        else:
            out[name + "_pooled"] = bootstrap_ci(
                ratio, nums, dens, n_resamples=1000, seed=seed, vectorized=True
            )
    return out


__all__ = [
    "METRICS",
    "VERDICTS",
    "AnswerCheck",
    "AnswerInput",
    "CitationCheck",
    "ClaimCheck",
    "ClaimVerdict",
    "FaithfulnessReport",
    "as_input",
    "check",
    "check_faithfulness",
    "summarise",
]
