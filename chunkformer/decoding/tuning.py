"""Choosing the LM weight and word bonus of shallow fusion on held-out data: a small grid search.

The weight trades the LM against the acoustic model, the bonus counters the LM's bias towards short
hypotheses; both depend on the model and the LM, so they are chosen per model on the validation sets (whose
sentence patterns are held out from training and disjoint from the test patterns), never on test.

>>> tune_fusion(parse_grid("0.2,0.5:0,1"), lambda w, b: abs(w - 0.5) + abs(b - 1)).point
(0.5, 1.0)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

K = TypeVar("K", float, tuple)

DEFAULT_GRID = "0.1,0.2,0.3,0.5,0.7,1.0:0,1,2"  # weights : word bonuses (natural log)


@dataclass(frozen=True)
class FusionChoice:
    """The chosen ``(weight, bonus)`` and the error rate of every grid point tried (lower is better)."""

    weight: float
    bonus: float
    grid: dict[tuple[float, float], float]

    @property
    def point(self) -> tuple[float, float]:
        return self.weight, self.bonus

    @property
    def error(self) -> float:
        return self.grid[self.point]

    def to_dict(self) -> dict:
        """JSON-ready: the chosen values, their error rate, and the grid as ``{"weight,bonus": error}``."""
        return {"weight": self.weight, "bonus": self.bonus, "error": self.error,
                "grid": {f"{w:g},{b:g}": round(e, 4) for (w, b), e in self.grid.items()}}


def parse_grid(spec: str) -> list[tuple[float, float]]:
    """``"W1,W2,...:B1,B2,..."`` → every (weight, bonus) pair; weights must be positive (0 is plain beam)."""
    weights_s, sep, bonuses_s = spec.partition(":")
    try:
        weights = [float(x) for x in weights_s.split(",") if x.strip()]
        bonuses = [float(x) for x in bonuses_s.split(",") if x.strip()] if sep else [0.0]
    except ValueError:
        raise ValueError(f"LM grid {spec!r}: expected numbers as 'W1,W2,...:B1,B2,...'") from None
    if not weights or not bonuses:
        raise ValueError(f"LM grid {spec!r}: needs at least one weight and one bonus ('W1,W2,...:B1,B2,...')")
    if any(w <= 0 for w in weights):
        raise ValueError(f"LM grid {spec!r}: LM weights must be > 0")
    return list(itertools.product(sorted(set(weights)), sorted(set(bonuses))))


def tune_fusion(grid: Sequence[tuple[float, float]], evaluate: Callable[[float, float], float]) -> FusionChoice:
    """The grid point with the lowest ``evaluate(weight, bonus)`` (e.g. the pooled WER of the val sets).

    Ties go to the smaller weight, then the smaller bonus: of equally good settings, the one that leans
    least on the LM.
    """
    if not grid:
        raise ValueError("empty LM tuning grid")
    scores = {(float(w), float(b)): float(evaluate(w, b)) for w, b in grid}
    best = min(scores, key=lambda p: (scores[p], p))
    return FusionChoice(best[0], best[1], scores)


DEFAULT_HOTWORD_GRID = "0.5,1,1.5,2,2.5,3"  # per-token hotword scores (natural log)
MAX_WER_CHANGE = 0.3  # points of WER a list may add where it has nothing to find (issue 16's limit)


@dataclass(frozen=True)
class HotwordChoice:
    """The chosen per-token hotword score and, for every score tried, ``(recall %, WER change in points)``: the
    recall of the listed phrases (None when no phrase occurs) and the WER change on the utterances holding none."""

    score: float
    grid: dict[float, tuple[float | None, float]]

    def to_dict(self) -> dict:
        """JSON-ready: the chosen score and the grid as ``{"score": [recall, change]}``."""
        return {"score": self.score, "grid": {f"{s:g}": list(v) for s, v in self.grid.items()}}


def parse_scores(spec: str) -> list[float]:
    """``"S1,S2,..."`` → sorted distinct positive hotword scores."""
    try:
        scores = sorted({float(x) for x in spec.split(",") if x.strip()})
    except ValueError:
        raise ValueError(f"hotword grid {spec!r}: expected numbers as 'S1,S2,...'") from None
    if not scores or scores[0] <= 0:
        raise ValueError(f"hotword grid {spec!r}: needs one or more scores, all > 0")
    return scores


def best_within_limit(rows: Mapping[K, tuple[float | None, float]], max_change: float) -> K:
    """The key of ``rows`` (key → ``(recall %, WER change in points)``) with the highest recall among those whose
    change is at most ``max_change`` (ties: the smaller change, then the smaller key); when none is within it, the
    one of least change (ties: the higher recall, then the smaller key). A recall of None (no listed phrase)
    counts as 0. The one rule for a hotword setting: stage 5's score, the decoding-quality bench's score × top-k.

    >>> best_within_limit({1: (20.0, 0.0), 2: (40.0, 0.3), 3: (60.0, 0.5)}, 0.3)
    2
    >>> best_within_limit({1: (20.0, 0.9), 2: (40.0, 0.5)}, 0.3)
    2
    """
    if not rows:
        raise ValueError("empty hotword tuning grid")
    within = [k for k, (_, change) in rows.items() if change <= max_change]
    if within:
        return min(within, key=lambda k: (-(rows[k][0] or 0.0), rows[k][1], k))
    return min(rows, key=lambda k: (rows[k][1], -(rows[k][0] or 0.0), k))


def choose_hotword_score(grid: Sequence[float], evaluate: Callable[[float], tuple[float | None, float]],
                         max_change: float = MAX_WER_CHANGE) -> HotwordChoice:
    """The score of :func:`best_within_limit` over ``evaluate(score)`` for every score of ``grid``.

    >>> choose_hotword_score([1, 2, 3], lambda s: (20.0 * s, 0.2 * s * s)).score  # 3 adds 1.8 points
    1.0
    >>> choose_hotword_score([1, 2, 3], lambda s: (20.0 * s, 0.05 * s)).score
    3.0
    """
    if not grid:
        raise ValueError("empty hotword tuning grid")
    rows = {float(s): evaluate(s) for s in grid}
    return HotwordChoice(best_within_limit(rows, max_change), rows)
