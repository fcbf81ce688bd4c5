"""PNG plot of validation WER per epoch (one line per validation set), written beside RESULTS.md.

>>> # plot_valid_wer([{"epoch": 1, "wer": {"telephony": 30.0}}, {"epoch": 2, "wer": {"telephony": 20.0}}], "v.png")
"""

from __future__ import annotations

from pathlib import Path


def plot_valid_wer(history: list[dict], out: str | Path, title: str = "Validation WER per epoch",
                   x: str = "epoch") -> Path:
    """``history``: [{"epoch": int, "wer": {set name: WER %}, ...}] in training order → PNG at ``out``; ``x``
    is the history key on the horizontal axis (``epoch``, ``step`` or ``minutes`` of training)."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers
    import matplotlib.pyplot as plt

    sets = sorted({s for h in history for s in h.get("wer", {})})
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for s in sets:
        pts = [(h[x], h["wer"][s]) for h in history if s in h.get("wer", {}) and x in h]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=s)
    ax.set_xlabel({"minutes": "minutes of training"}.get(x, x))
    ax.set_ylabel("WER (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if sets:
        ax.legend()
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out
