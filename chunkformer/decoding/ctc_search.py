"""CTC decoding: greedy search and prefix beam search (optionally fused with hotwords and an n-gram LM).

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
* With a :class:`~chunkformer.decoding.fusion.PrefixScorer` (``scorer=``), prefixes are ranked by their CTC
  score plus the scorer's per-prefix hotword / LM / word-bonus score, and the returned scores are those fused
  scores, end-of-utterance terms included. Without it the results are exactly those of the plain search.

Scores are accumulated in Python floats (double precision) from the tensor's values; no frame is
skipped, because skipping near-certain blank frames changes the scores slightly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from chunkformer.decoding.fusion import PrefixScorer

_NEG_INF = float("-inf")


def _check_blank(blank: int, vocab: int) -> None:
    if not 0 <= blank < vocab:
        raise ValueError(f"blank id {blank} is outside the vocabulary of size {vocab}")


def _check_log_probs(log_probs: torch.Tensor, blank: int) -> None:
    if not isinstance(log_probs, torch.Tensor):
        raise TypeError(f"log_probs must be a torch.Tensor (T, V), got {type(log_probs).__name__}")
    if log_probs.dim() != 2:
        raise ValueError(f"log_probs must have shape (T, V), got {tuple(log_probs.shape)}")
    if not log_probs.is_floating_point():
        raise ValueError(f"log_probs must be floating point, got {log_probs.dtype}")
    _check_blank(blank, log_probs.shape[1])
    if torch.isnan(log_probs).any():
        raise ValueError("log_probs contains NaN")


@dataclass(frozen=True)
class FrameTopK:
    """The ``k`` best entries of every frame of (T, V) CTC log-posteriors, best first.

    What the searches and the alignment read: an hour of audio keeps (T, k) values instead of (T, V).
    ``values``: (T, k) float log-probs, descending per row; ``ids``: (T, k) token ids; ``vocab``: V.
    """

    values: torch.Tensor
    ids: torch.Tensor
    vocab: int

    @classmethod
    def from_log_probs(cls, log_probs: torch.Tensor, k: int) -> FrameTopK:
        """Top-``k`` of (T, V) log-probs (``k`` clamped to V)."""
        if log_probs.dim() != 2:
            raise ValueError(f"log_probs must have shape (T, V), got {tuple(log_probs.shape)}")
        values, ids = log_probs.detach().cpu().topk(min(k, log_probs.shape[1]), dim=-1)
        return cls(values, ids, log_probs.shape[1])

    @classmethod
    def best(cls, log_probs: torch.Tensor) -> FrameTopK:
        """Top-1 by ``max`` (ties go to the lowest id, exactly as ``argmax`` and :func:`greedy_search`)."""
        if log_probs.dim() != 2:
            raise ValueError(f"log_probs must have shape (T, V), got {tuple(log_probs.shape)}")
        values, ids = log_probs.detach().cpu().max(dim=-1, keepdim=True)
        return cls(values, ids, log_probs.shape[1])

    @classmethod
    def cat(cls, parts: Sequence[FrameTopK]) -> FrameTopK:
        """Consecutive segments of one utterance joined along time."""
        if not parts:
            raise ValueError("no segments to join")
        return cls(torch.cat([p.values for p in parts]), torch.cat([p.ids for p in parts]), parts[0].vocab)

    def __len__(self) -> int:
        return self.values.shape[0]

    @property
    def k(self) -> int:
        return self.values.shape[1]


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

    def __init__(self, scorer: PrefixScorer | None = None) -> None:
        self.parent: list[int] = [-1]
        self.token: list[int] = [-1]
        self._child: dict[tuple[int, int], int] = {}
        self.scorer = scorer
        self.extra = scorer.extra if scorer is not None else None  # fusion score per node

    def extend(self, node: int, u: int) -> int:
        """The node of prefix ``node + [u]`` (created on first use)."""
        key = (node, u)
        k = self._child.get(key)
        if k is None:
            k = self._child[key] = len(self.parent)
            self.parent.append(node)
            self.token.append(u)
            if self.scorer is not None:
                self.scorer.extend(node, u)
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


def _prune(nxt: dict[int, list[float]], beam: int, extra: list[float] | None) -> dict[int, list[float]]:
    """The ``beam`` best prefixes of nonzero probability (ranked by CTC score + ``extra[node]`` if given)."""
    # Stable sort: equal scores keep their (deterministic) insertion order.
    ranked = [(node, sc, _log_add(sc[0], sc[1])) for node, sc in nxt.items()]
    if extra is None:
        ranked.sort(key=lambda x: -x[2])
    else:
        ranked.sort(key=lambda x: -(x[2] + extra[x[0]]))
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
    log_probs: torch.Tensor | FrameTopK,
    beam: int = 10,
    blank: int = 0,
    prune_topk: int | None = None,
    *,
    scorer: PrefixScorer | None = None,
) -> list[tuple[list[int], float]]:
    """CTC prefix beam search (WeNet's algorithm) over one utterance.

    Args:
      log_probs: (T, V) CTC log-posteriors, or their :class:`FrameTopK` (then at most its ``k`` tokens
        per frame are expanded).
      beam: number of prefixes kept after each frame (and the size of the returned n-best).
      blank: blank id.
      prune_topk: tokens expanded per frame (the highest-scoring ones); ``None`` means ``beam``, as in
        WeNet. Values above V are clamped to V.
      scorer: hotword / LM fusion (a fresh :class:`~chunkformer.decoding.fusion.PrefixScorer` per
        utterance: it holds per-prefix state); None for the plain search.
    Returns:
      Up to ``beam`` ``(token_ids, score)`` pairs, best first: the CTC log-probability (plus the fused
      scores with a ``scorer``). Ties are ordered by the token ids (and, during per-frame pruning, by first
      appearance), so the result is deterministic. Prefixes of probability zero (``-inf``) are never
      returned. An empty input (T = 0) returns ``[([], 0.0)]`` (plus the scorer's end terms).
    """
    if isinstance(log_probs, FrameTopK):
        topk = _check_beam_args(beam, prune_topk, log_probs.vocab)
        frames = log_probs
        _check_blank(blank, frames.vocab)
    else:
        _check_log_probs(log_probs, blank)
        topk = _check_beam_args(beam, prune_topk, log_probs.shape[1])
        frames = FrameTopK.from_log_probs(log_probs, topk)
    # One conversion to Python floats: per-element tensor access in the frame loop would dominate the run time
    # for T ~ 1000.
    frames_vals: list[list[float]] = frames.values[:, :topk].double().tolist()
    frames_ids: list[list[int]] = frames.ids[:, :topk].tolist()

    trie = _PrefixTrie(scorer)
    cur: dict[int, list[float]] = {0: [0.0, _NEG_INF]}  # node -> [pb, pnb]
    for vals, ids in zip(frames_vals, frames_ids, strict=True):
        cur = _prune(_expand_frame(cur, ids, vals, trie, blank), beam, trie.extra)
        if not cur:
            # Every expanded token had probability zero: no label sequence is possible.
            return []

    result = [(trie.labels(node), _log_add(pb, pnb) + (scorer.final(node) if scorer is not None else 0.0))
              for node, (pb, pnb) in cur.items()]
    result.sort(key=lambda x: (-x[1], x[0]))
    return result
