"""Loss and evaluation curves of a training run as a PNG (matplotlib, Agg: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_curves(
    curves: dict[str, list[dict[str, Any]]], path: Path, *, title: str = "", metric: str = "loss"
) -> Path | None:
    """Training loss per step (and validation loss) on the left, the chosen metric on the right.

    Returns the file written, or None when there is nothing to draw.
    """
    train = curves.get("train") or []
    evals = curves.get("eval") or []
    if not train:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    other = [k for k in (metric, *(evals[0].keys() if evals else ())) if k not in ("step", "loss")]
    right = other[0] if other and evals and other[0] in evals[0] else None
    fig, axes = plt.subplots(1, 2 if right else 1, figsize=(10 if right else 6, 4), squeeze=False)
    ax = axes[0][0]
    ax.plot([r["step"] for r in train], [r["loss"] for r in train], lw=1, label="train loss")
    if evals and "loss" in evals[0]:
        ax.plot(
            [r["step"] for r in evals],
            [r["loss"] for r in evals],
            "o-",
            lw=1.5,
            label="validation loss",
        )
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    if right:
        ax2 = axes[0][1]
        ax2.plot([r["step"] for r in evals], [r.get(right) for r in evals], "o-", color="C2")
        ax2.set_xlabel("optimizer step")
        ax2.set_ylabel(f"validation {right}")
        ax2.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)
    return path


__all__ = ["plot_curves"]
