"""CTC greedy and prefix beam search: hand cases, exactness against brute-force enumeration, speed."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import pytest
import torch

from chunkformer.decoding.ctc_search import greedy_search, greedy_search_batch, prefix_beam_search


def one_hot_log_probs(path: list[int], vocab: int) -> torch.Tensor:
    """(T, V) log-probs whose argmax is ``path`` (0.9 on the chosen token)."""
    lp = torch.full((len(path), vocab), math.log(0.1 / (vocab - 1)))
    for t, u in enumerate(path):
        lp[t, u] = math.log(0.9)
    return lp


def collapse(path: tuple[int, ...], blank: int = 0) -> tuple[int, ...]:
    out = []
    prev = None
    for u in path:
        if u != prev and u != blank:
            out.append(u)
        prev = u
    return tuple(out)


def exact_label_log_probs(log_probs: torch.Tensor) -> dict[tuple[int, ...], float]:
    """log P(labels) = log of the sum over every alignment (all V^T paths) that collapses to the labels."""
    T, V = log_probs.shape
    lp = log_probs.double().tolist()
    sums: dict[tuple[int, ...], list[float]] = defaultdict(list)
    for path in itertools.product(range(V), repeat=T):
        sums[collapse(path)].append(sum(lp[t][u] for t, u in enumerate(path)))
    return {k: math.log(sum(math.exp(x) for x in v)) for k, v in sums.items()}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ([0, 1, 1, 0, 1, 2, 2, 0], [1, 1, 2]),  # a blank separates a real repeat
        ([1, 1, 1], [1]),
        ([0, 0, 0], []),
        ([2, 0, 2, 2, 1], [2, 2, 1]),
        ([3], [3]),
    ],
)
def test_greedy_hand_cases(path: list[int], expected: list[int]) -> None:
    assert greedy_search(one_hot_log_probs(path, 4)) == expected


def test_greedy_other_blank_empty_and_batch() -> None:
    assert greedy_search(one_hot_log_probs([3, 1, 1, 3, 2], 4), blank=3) == [1, 2]
    assert greedy_search(torch.zeros(0, 5)) == []
    batch = [one_hot_log_probs(p, 4) for p in ([1, 0, 1], [0, 0], [2, 3, 3])]
    assert greedy_search_batch(batch) == [[1, 1], [], [2, 3]]


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"shape \(T, V\)"):
        greedy_search(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="blank id 5"):
        prefix_beam_search(torch.zeros(3, 4), blank=5)
    with pytest.raises(ValueError, match="NaN"):
        prefix_beam_search(torch.full((2, 3), float("nan")))
    with pytest.raises(ValueError, match="beam must be"):
        prefix_beam_search(torch.zeros(2, 3), beam=0)


@pytest.mark.parametrize("seed", range(24))
def test_prefix_beam_without_pruning_is_exact(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    T = 1 + seed % 5
    V = 2 + seed % 2
    # Peaked, but not one-hot: scale 3 logits gives a dominant token per frame most of the time.
    log_probs = torch.log_softmax(3.0 * torch.randn(T, V, generator=g, dtype=torch.float64), dim=-1)
    exact = exact_label_log_probs(log_probs)
    nbest = prefix_beam_search(log_probs, beam=10_000, prune_topk=V)

    assert {tuple(p) for p, _ in nbest} == set(exact)
    for prefix, score in nbest:
        assert score == pytest.approx(exact[tuple(prefix)], abs=1e-5)
    scores = [s for _, s in nbest]
    assert scores == sorted(scores, reverse=True)
    assert [tuple(p) for p, _ in nbest] == sorted(exact, key=lambda k: (-exact[k], k))
    # The label sequences partition all paths, so their probabilities sum to one.
    assert math.log(sum(math.exp(s) for s in scores)) == pytest.approx(0.0, abs=1e-9)


def test_pruned_beam_never_overestimates() -> None:
    g = torch.Generator().manual_seed(7)
    log_probs = torch.log_softmax(2.0 * torch.randn(5, 3, generator=g, dtype=torch.float64), dim=-1)
    exact = exact_label_log_probs(log_probs)
    nbest = prefix_beam_search(log_probs, beam=2, prune_topk=2)
    assert 1 <= len(nbest) <= 2
    for prefix, score in nbest:
        assert score <= exact[tuple(prefix)] + 1e-12


def test_repeated_label_needs_a_blank() -> None:
    # Two frames of token 1: "1 1" collapses, so [1, 1] is impossible and never returned.
    log_probs = torch.log(torch.tensor([[0.1, 0.9], [0.1, 0.9]], dtype=torch.float64))
    nbest = dict((tuple(p), s) for p, s in prefix_beam_search(log_probs, beam=10))
    assert set(nbest) == {(), (1,)}
    assert nbest[(1,)] == pytest.approx(math.log(0.9 * 0.9 + 0.1 * 0.9 + 0.9 * 0.1))
    assert prefix_beam_search(torch.zeros(0, 3)) == [([], 0.0)]


def test_peaked_posteriors_agree_with_greedy() -> None:
    g = torch.Generator().manual_seed(0)
    T, V = 1000, 5000
    path = torch.randint(1, V, (T,), generator=g)
    path[torch.rand(T, generator=g) < 0.6] = 0  # mostly blank, like real CTC output
    logits = torch.randn(T, V, generator=g)
    logits[torch.arange(T), path] += 12.0
    log_probs = torch.log_softmax(logits, dim=-1)

    nbest = prefix_beam_search(log_probs, beam=10)
    assert nbest[0][0] == greedy_search(log_probs)
    assert len(nbest) == 10
