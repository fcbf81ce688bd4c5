"""bench/bench_hotword_bound.py: the phrase deficit equals a brute force over every span and every label path,
and the curve counts recall and false spots as its docstring says."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest

from helpers import REPO

sys.path.insert(0, str(REPO / "bench"))
from bench_hotword_bound import Lattice, Scored, curve, deficits  # noqa: E402


def collapse(path: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(x for i, x in enumerate(path) if x != 0 and (i == 0 or path[i - 1] != x))


def brute_force(lp: np.ndarray, phrase: tuple[int, ...]) -> float:
    cost = lp.max(axis=1, keepdims=True) - lp
    best = np.inf
    for s in range(len(lp)):
        for e in range(s, len(lp)):
            for path in itertools.product(range(lp.shape[1]), repeat=e - s + 1):
                if collapse(path) == phrase:
                    best = min(best, sum(cost[s + i, v] for i, v in enumerate(path)))
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_deficit_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lp = np.log(rng.dirichlet(np.ones(4), size=6))  # (T=6, V=4), blank 0
    phrases = [(1,), (2, 3), (3, 3), (1, 2, 1)]  # (3, 3): the blank between equal tokens may not be skipped
    got = deficits(lp, Lattice.of(phrases))
    want = [brute_force(lp, p) for p in phrases]
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_deficit_is_zero_for_the_best_path_and_infinite_when_too_long() -> None:
    lp = np.log(np.array([[0.1, 0.8, 0.05, 0.05], [0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.7, 0.1]]))
    got = deficits(lp, Lattice.of([(1, 2), (1, 1, 1)]))  # (1, 1, 1) needs 5 frames
    assert got[0] == 0.0 and got[1] > 1e8


def test_curve_counts_recall_false_spots_and_wer_change() -> None:
    phrases, held = ["hùng", "tủ lạnh", "lan"], frozenset({"hùng", "tủ lạnh"})
    scored = [Scored(("em", "là", "hùng"), ("em", "là", "hưng"), np.array([1.0, 9.0, 9.0])),  # held out, missed
              Scored(("mua", "tủ", "lạnh"), ("mua", "tủ", "lạnh"), np.array([9.0, 0.0, 9.0])),  # greedy has it
              Scored(("xin", "chào", "chị"), ("xin", "chào", "chị"), np.array([1.5, 3.0, 0.4]))]  # no phrase
    rows = curve(scored, phrases, held, [0.5, 1.2, 2.0])
    assert [r["recall_pct"] for r in rows] == [50.0, 100.0, 100.0]
    assert [r["false_spots"] for r in rows] == [1, 1, 3]  # lan at 0.4; then hùng 1.5 and tủ lạnh 3.0 / 2 = 1.5
    assert [r["wer_change_points"] for r in rows] == [33.33, 33.33, 133.33]  # 1, 1, 1 + 1 + 2 words of 3
