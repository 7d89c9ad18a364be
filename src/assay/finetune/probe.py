"""Memorisation versus generalisation: finetune on facts, then ask them verbatim and paraphrased.

A model that learned the facts answers paraphrased questions about as well as the verbatim
ones it was trained on; a model that memorised strings does much better verbatim. The probe:

1. reads facts (``question``, ``answer``, ``paraphrases``: a list of other wordings) with line
   numbers;
2. finetunes with the ``sft`` recipe on the verbatim question → answer pairs (all facts, no
   held-out split; the SFT settings are yours: ``optim``, ``lora``, ...);
3. scores the base and the finetuned model on every fact as a multiple-choice question: the gold
   answer against ``n_distractors`` other facts' answers (a seeded choice per fact), each scored
   by its mean per-token log-likelihood after the question rendered with the chat template.
   A fact's verbatim score is 0/1; its paraphrase score is the fraction of its paraphrases
   answered right;
4. reports accuracies with intervals and the **gap** (verbatim − paraphrased, paired per fact,
   with a paired bootstrap interval and p-value), for the finetuned and the base model, and
   the finetuning gain on each form.

The report goes to ``<run>/probe.json`` and is returned.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import UserError
from assay.finetune.data import read_examples, require_columns

if TYPE_CHECKING:
    from assay.models.facade import Model
    from assay.workspace import Workspace


@dataclass(frozen=True)
class Fact:
    question: str
    answer: str
    paraphrases: tuple[str, ...]
    where: str


def read_facts(source: str) -> list[Fact]:
    examples = read_examples(source, what="facts")
    require_columns(examples, ["question", "answer", "paraphrases"], text=["question", "answer"])
    facts = []
    for ex in examples.items:
        paraphrases = ex["paraphrases"]
        if not isinstance(paraphrases, list) or not all(
            isinstance(p, str) and p.strip() for p in paraphrases
        ):
            raise UserError(f"{ex.where}: 'paraphrases' must be a non-empty list of questions")
        facts.append(Fact(ex["question"], ex["answer"], tuple(paraphrases), ex.where))
    if len(facts) < 2:
        raise UserError(
            f"{examples.path}: the probe needs at least two facts (answers are distractors)"
        )
    answers = [f.answer for f in facts]
    dupes = sorted({a for a in answers if answers.count(a) > 1})
    if dupes:
        raise UserError(
            f"{examples.path}: facts share the answer {dupes[0]!r}; answers must differ "
            "(each fact's distractors are other facts' answers)"
        )
    return facts


def _choices(facts: Sequence[Fact], n_distractors: int, seed: int) -> list[list[str]]:
    """For each fact: its answer first, then distractors from the other facts (seeded)."""
    out = []
    for i, fact in enumerate(facts):
        others = [f.answer for j, f in enumerate(facts) if j != i]
        rng = random.Random(f"{seed}:{i}")
        out.append([fact.answer, *rng.sample(others, min(n_distractors, len(others)))])
    return out


def score(
    model: Model, facts: Sequence[Fact], choices: Sequence[Sequence[str]]
) -> dict[str, list[float]]:
    """Per fact: verbatim correct (0/1) and the fraction of paraphrases answered right."""
    from assay.models.types import Message

    def correct(question: str, options: Sequence[str]) -> bool:
        context = model.render_chat([Message(role="user", content=question)])
        scored = model.loglikelihood([(context, option) for option in options])
        means = [s.logprob / max(s.n_tokens, 1) for s in scored]
        return max(range(len(options)), key=lambda k: means[k]) == 0

    verbatim, paraphrased = [], []
    for fact, options in zip(facts, choices, strict=True):
        verbatim.append(float(correct(fact.question, options)))
        hits = [correct(p, options) for p in fact.paraphrases]
        paraphrased.append(sum(hits) / len(hits))
    return {"verbatim": verbatim, "paraphrased": paraphrased}


def memorisation_probe(
    facts: str | Path,
    sft: dict[str, Any],
    *,
    run_id: str = "memorisation-probe",
    n_distractors: int = 3,
    seed: int = 0,
    workspace: Workspace | None = None,
    fresh: bool = False,
    quiet: bool = False,
) -> dict[str, Any]:
    """Finetune on ``facts`` with the ``sft`` settings (a config mapping without ``data``) and
    report verbatim vs paraphrased accuracy, with intervals (see the module docstring)."""
    from assay import stats
    from assay.finetune import train
    from assay.models.facade import load
    from assay.workspace import Workspace

    ws = workspace or Workspace.find()
    items = read_facts(str(facts))
    data_dir = ws.dir("probes", run_id)
    train_file = data_dir / "facts-train.jsonl"
    train_file.write_text(
        "".join(json.dumps({"prompt": f.question, "response": f.answer}) + "\n" for f in items),
        encoding="utf-8",
    )
    config = {
        **sft,
        "recipe": "sft",
        "run_id": run_id,
        "seed": sft.get("seed", seed),
        "data": {
            **sft.get("data", {}),
            "train": str(train_file),
            "validation_fraction": 0.0,
            "dedup": False,
        },
    }
    result = train(config, workspace=ws, fresh=fresh, quiet=quiet)
    choices = _choices(items, n_distractors, seed)
    base_path = result.record["base_model"]["path"]
    tuned = score(load(result.address, workspace=ws), items, choices)
    base = score(load(f"hf:{base_path}", workspace=ws), items, choices)

    def summary(scores: dict[str, list[float]]) -> dict[str, Any]:
        gap = stats.paired_bootstrap(scores["verbatim"], scores["paraphrased"], seed=seed)
        return {
            "verbatim": stats.proportion_ci(scores["verbatim"]).to_dict(),
            "paraphrased": stats.mean_ci(scores["paraphrased"]).to_dict(),
            "gap": gap.difference.to_dict(),
            "gap_p_value": gap.p_value,
        }

    def gain(form: str) -> dict[str, Any]:
        test = stats.paired_bootstrap(tuned[form], base[form], seed=seed)
        return {**test.difference.to_dict(), "p_value": test.p_value}

    report: dict[str, Any] = {
        "run_id": run_id,
        "facts": str(facts),
        "n_facts": len(items),
        "n_paraphrases": sum(len(f.paraphrases) for f in items),
        "n_choices": n_distractors + 1,
        "chance": 1 / (min(n_distractors, len(items) - 1) + 1),
        "finetuned": summary(tuned),
        "base": summary(base),
        "finetuning_gain": {"verbatim": gain("verbatim"), "paraphrased": gain("paraphrased")},
        "per_fact": [
            {
                "where": f.where,
                "question": f.question,
                "verbatim": v,
                "paraphrased": p,
                "base_verbatim": bv,
                "base_paraphrased": bp,
            }
            for f, v, p, bv, bp in zip(
                items,
                tuned["verbatim"],
                tuned["paraphrased"],
                base["verbatim"],
                base["paraphrased"],
                strict=True,
            )
        ],
    }
    (result.path / "probe.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    if not quiet:
        t = report["finetuned"]
        print(
            f"memorisation probe ({len(items)} facts): verbatim {t['verbatim']['value']:.3f}, "
            f"paraphrased {t['paraphrased']['value']:.3f}, gap {t['gap']['value']:+.3f} "
            f"[{t['gap']['ci_low']:+.3f}, {t['gap']['ci_high']:+.3f}]",
        )
    return report


__all__ = ["Fact", "memorisation_probe", "read_facts", "score"]
