"""CTC decoding without a language model: greedy search and prefix beam search.

Input is one utterance's CTC log-posteriors, a ``(T, V)`` tensor (``T`` output frames, ``V`` vocabulary
entries, blank id 0 by default), e.g. one element of ``ChunkFormerModel.ctc_log_probs``.

* :func:`greedy_search` is the official post-processing: per-frame argmax, collapse repeats, then drop
  blanks (``X ∅ X`` stays ``X X``).
* :func:`prefix_beam_search` is WeNet's ``ctc_prefix_beam_search``: every prefix keeps two log scores,
  ``pb`` (all alignments ending in blank) and ``pnb`` (ending in its last label). A repeated label ``u``
  after a prefix ending in ``u`` only extends the prefix when a blank separates them (``pb``); otherwise
  it stays on the same prefix (``pnb``). Each frame expands only its top-``prune_topk`` tokens and keeps
  the ``beam`` best prefixes. With ``beam`` and ``prune_topk`` large enough nothing is pruned and each
  returned score is the exact log-probability of the label sequence summed over all its alignments
  (the tests check this against brute-force enumeration).

Scores are accumulated in Python floats (double precision) from the tensor's values; no frame is
skipped, because skipping near-certain blank frames changes the scores slightly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

_NEG_INF = float("-inf")


def _check_log_probs(log_probs: torch.Tensor, blank: int) -> None:
    if not isinstance(log_probs, torch.Tensor):
        raise TypeError(f"log_probs must be a torch.Tensor (T, V), got {type(log_probs).__name__}")
    if log_probs.dim() != 2:
        raise ValueError(f"log_probs must have shape (T, V), got {tuple(log_probs.shape)}")
    if not log_probs.is_floating_point():
        raise ValueError(f"log_probs must be floating point, got {log_probs.dtype}")
    vocab = log_probs.shape[1]
    if not 0 <= blank < vocab:
        raise ValueError(f"blank id {blank} is outside the vocabulary of size {vocab}")
    if torch.isnan(log_probs).any():
        raise ValueError("log_probs contains NaN")


def collapse(ids: Sequence[int], blank: int = 0) -> list[int]:
    """CTC collapse of frame-level ids: merge repeats, then drop blanks (``a ∅ a`` stays two tokens)."""
    out: list[int] = []
    prev = None
    for i in ids:
        if i != prev and i != blank:
            out.append(i)
        prev = i
    return out


def greedy_search(log_probs: torch.Tensor, blank: int = 0) -> list[int]:
    """Best path: argmax per frame, collapse repeats, drop blanks.

    Args:
      log_probs: (T, V) CTC log-posteriors (any monotone scores give the same result).
      blank: blank id.
    Returns:
      Token ids, blanks removed.
    """
    _check_log_probs(log_probs, blank)
    if log_probs.shape[0] == 0:
        return []
    return collapse(log_probs.argmax(dim=-1).tolist(), blank)


def greedy_search_batch(log_probs: Sequence[torch.Tensor], blank: int = 0) -> list[list[int]]:
    """:func:`greedy_search` for each ``(T_i, V)`` tensor of a list (unpadded, one per utterance)."""
    return [greedy_search(lp, blank) for lp in log_probs]


def _log_add(a: float, b: float) -> float:
    if a < b:
        a, b = b, a
    if b == _NEG_INF:
        return a
    return a + math.log1p(math.exp(b - a))


class _PrefixTrie:
    """Prefixes as trie nodes: node 0 is the empty prefix, node k has ``parent[k]`` and last label ``token[k]``.

    Keying the beam by node id keeps each extension O(1); tuple prefixes cost O(length) to copy and hash,
    which made long flat-posterior utterances several times slower.
    """

    def __init__(self) -> None:
        self.parent: list[int] = [-1]
        self.token: list[int] = [-1]
        self._child: dict[tuple[int, int], int] = {}

    def extend(self, node: int, u: int) -> int:
        """The node of prefix ``node + [u]`` (created on first use)."""
        key = (node, u)
        k = self._child.get(key)
        if k is None:
            k = self._child[key] = len(self.parent)
            self.parent.append(node)
            self.token.append(u)
        return k

    def labels(self, node: int) -> list[int]:
        """The label sequence of ``node``."""
        out: list[int] = []
        while node > 0:
            out.append(self.token[node])
            node = self.parent[node]
        return out[::-1]


def _slot(scores: dict[int, list[float]], node: int) -> list[float]:
    return scores.setdefault(node, [_NEG_INF, _NEG_INF])


def _expand_frame(
    cur: dict[int, list[float]],
    ids: list[int],
    vals: list[float],
    trie: _PrefixTrie,
    blank: int,
) -> dict[int, list[float]]:
    """One frame of prefix extension: ``cur`` (node -> [pb, pnb]) times this frame's top tokens."""
    nxt: dict[int, list[float]] = {}
    for u, p in zip(ids, vals, strict=True):
        if p == _NEG_INF:
            continue
        for node, (pb, pnb) in cur.items():
            if u == blank:
                s = _slot(nxt, node)
                s[0] = _log_add(s[0], _log_add(pb, pnb) + p)
            elif trie.token[node] == u:
                # u u -> u: the repeat collapses into the same prefix (only from pnb) ...
                s = _slot(nxt, node)
                s[1] = _log_add(s[1], pnb + p)
                # ... u ∅ u -> u u: a new label only when a blank separates the two (from pb).
                if pb != _NEG_INF:
                    s2 = _slot(nxt, trie.extend(node, u))
                    s2[1] = _log_add(s2[1], pb + p)
            else:
                s = _slot(nxt, trie.extend(node, u))
                s[1] = _log_add(s[1], _log_add(pb, pnb) + p)
    return nxt


def _prune(nxt: dict[int, list[float]], beam: int) -> dict[int, list[float]]:
    """The ``beam`` best prefixes of nonzero probability."""
    # Stable sort: equal scores keep their (deterministic) insertion order.
    ranked = sorted(((node, sc, _log_add(sc[0], sc[1])) for node, sc in nxt.items()), key=lambda x: -x[2])
    return {node: sc for node, sc, total in ranked[:beam] if total != _NEG_INF}


def _check_beam_args(beam: int, prune_topk: int | None, vocab: int) -> int:
    """Validate ``beam``/``prune_topk``; return the number of tokens expanded per frame."""
    if beam < 1:
        raise ValueError(f"beam must be >= 1, got {beam}")
    topk = beam if prune_topk is None else prune_topk
    if topk < 1:
        raise ValueError(f"prune_topk must be >= 1, got {prune_topk}")
    return min(topk, vocab)


def prefix_beam_search(
    log_probs: torch.Tensor,
    beam: int = 10,
    blank: int = 0,
    prune_topk: int | None = None,
) -> list[tuple[list[int], float]]:
    """CTC prefix beam search (WeNet's algorithm) over one utterance.

    Args:
      log_probs: (T, V) CTC log-posteriors.
      beam: number of prefixes kept after each frame (and the size of the returned n-best).
      blank: blank id.
      prune_topk: tokens expanded per frame (the highest-scoring ones); ``None`` means ``beam``, as in
        WeNet. Values above V are clamped to V.
    Returns:
      Up to ``beam`` ``(token_ids, log_prob)`` pairs, best first; ties are ordered by the token ids (and,
      during per-frame pruning, by first appearance), so the result is deterministic.
      Prefixes of probability zero (``-inf``) are never returned. An empty input (T = 0) returns
      ``[([], 0.0)]``.
    """
    _check_log_probs(log_probs, blank)
    topk = _check_beam_args(beam, prune_topk, log_probs.shape[1])

    # One batched top-k and one conversion to Python floats: per-element tensor access in the frame loop
    # would dominate the run time for T ~ 1000.
    values, indices = log_probs.detach().topk(topk, dim=-1)
    frames_vals: list[list[float]] = values.double().tolist()
    frames_ids: list[list[int]] = indices.tolist()

    trie = _PrefixTrie()
    cur: dict[int, list[float]] = {0: [0.0, _NEG_INF]}  # node -> [pb, pnb]
    for vals, ids in zip(frames_vals, frames_ids, strict=True):
        cur = _prune(_expand_frame(cur, ids, vals, trie, blank), beam)
        if not cur:
            # Every expanded token had probability zero: no label sequence is possible.
            return []

    result = [(trie.labels(node), _log_add(pb, pnb)) for node, (pb, pnb) in cur.items()]
    result.sort(key=lambda x: (-x[1], x[0]))
    return result
