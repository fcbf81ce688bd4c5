"""CTC alignment of a hypothesis: which frame emits which token (Viterbi over the CTC topology).

:func:`ctc_align` returns the single best path that collapses to the given tokens, over (T, V) log-probs or
their :class:`~chunkformer.decoding.ctc_search.FrameTopK` (entries outside a frame's top-k count as
``min(top-k) - MISSING_PENALTY``, so a path always exists; a hypothesis of the beam search with the same
``k`` never needs them). :func:`greedy_path` is the same for the greedy hypothesis, read off the argmax ids.
:func:`token_spans` turns a path into each token's first and last emitting frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from chunkformer.decoding.ctc_search import FrameTopK

MISSING_PENALTY = 30.0  # natural log: an entry outside the top-k is taken as e^-30 times the frame's k-th value


class _Emissions:
    """Log-prob of each extended label (blank, t0, blank, t1, ..., blank) at frame ``t``: ``self[t]`` is an
    (S,) row. Held as a (T, U) table over the U distinct labels (U <= S), so memory stays O(T·U), never
    O(T·k·S)."""

    def __init__(self, frames: FrameTopK | torch.Tensor, labels: np.ndarray) -> None:
        uniq, self.inv = np.unique(labels, return_inverse=True)
        if isinstance(frames, FrameTopK):
            values = frames.values.double().numpy()  # (T, k)
            ids = frames.ids.numpy()
            floor = values.min(axis=1) - MISSING_PENALTY if values.shape[1] else np.zeros(len(values))
            table = np.repeat(floor[:, None], len(uniq), axis=1)  # (T, U)
            pos = np.searchsorted(uniq, ids).clip(max=len(uniq) - 1)
            hit = uniq[pos] == ids  # (T, k): top-k ids are distinct within a frame
            rows = np.nonzero(hit)[0]
            table[rows, pos[hit]] = values[hit]
            self.table = table
        else:
            self.table = frames.detach().double().cpu().numpy()[:, uniq]

    def __getitem__(self, t: int) -> np.ndarray:
        return self.table[t, self.inv]


def ctc_align(frames: FrameTopK | torch.Tensor, tokens: Sequence[int], blank: int = 0) -> list[int]:
    """The best CTC path of ``tokens``: for every frame, the index in ``tokens`` it emits, or -1 (blank).

    Viterbi over the 2L+1 CTC states: O(T·L) time, T·(2L+1) bytes of back-pointers (a 10-minute segment
    of 1 800 tokens: 27 MB; :meth:`~chunkformer.decoding.decoder.CTCDecoder.decode_long` cuts longer audio
    at pauses first).

    Args:
      frames: (T, V) log-probs or their top-k.
      tokens: the hypothesis (token ids, no blanks).
      blank: blank id.
    Raises:
      ValueError: ``tokens`` need more frames than there are (repeats need a blank between them), or no
        path of nonzero probability exists.
    """
    T, L = len(frames), len(tokens)
    if L == 0:
        return [-1] * T
    labels = np.full(2 * L + 1, blank, dtype=np.int64)
    labels[1::2] = tokens
    need = L + sum(a == b for a, b in zip(tokens, tokens[1:]))
    if need > T:
        raise ValueError(f"{L} tokens need at least {need} frames, the utterance has {T}")
    emit = _Emissions(frames, labels)
    S = 2 * L + 1
    skip_ok = np.zeros(S, dtype=bool)  # s may be entered from s-2: a token differing from the one before it
    skip_ok[3::2] = labels[3::2] != labels[1:-2:2]
    back = np.zeros((T, S), dtype=np.int8)  # 0: stay, 1: from s-1, 2: from s-2
    alpha = np.full(S, -np.inf)
    alpha[:2] = emit[0][:2]
    stacked = np.full((3, S), -np.inf)
    for t in range(1, T):
        stacked[0] = alpha
        stacked[1, 1:] = alpha[:-1]
        stacked[2, 2:] = np.where(skip_ok[2:], alpha[:-2], -np.inf)
        back[t] = stacked.argmax(axis=0)
        alpha = stacked.max(axis=0) + emit[t]
    s = S - 1 if alpha[S - 1] >= alpha[S - 2] else S - 2
    if alpha[s] == -np.inf:
        raise ValueError("no CTC path of nonzero probability emits these tokens")
    path = [0] * T
    for t in range(T - 1, -1, -1):
        path[t] = (s - 1) // 2 if s % 2 else -1
        s -= int(back[t, s])
    return path


def greedy_path(ids: Sequence[int], blank: int = 0) -> tuple[list[int], list[int]]:
    """Per-frame argmax ids → (collapsed tokens, their path): the best path of the greedy hypothesis itself,
    which every frame's maximum makes optimal, so no Viterbi (nor its memory) is needed."""
    tokens: list[int] = []
    path: list[int] = []
    prev = None
    for i in ids:
        if i == blank:
            path.append(-1)
        else:
            if i != prev:
                tokens.append(i)
            path.append(len(tokens) - 1)
        prev = i
    return tokens, path


def token_spans(path: Sequence[int], num_tokens: int) -> list[tuple[int, int]]:
    """``(first, last)`` frame emitting each token of a :func:`ctc_align` path."""
    spans = [(-1, -1)] * num_tokens
    for t, k in enumerate(path):
        if k >= 0:
            first = spans[k][0]
            spans[k] = (t if first < 0 else first, t)
    return spans


def path_log_probs(frames: FrameTopK | torch.Tensor, tokens: Sequence[int], path: Sequence[int],
                   blank: int = 0) -> list[float]:
    """Log-prob, at every frame, of the label ``path`` puts there (blank or ``tokens[k]``)."""
    labels = np.array([blank if k < 0 else tokens[k] for k in path], dtype=np.int64)
    if isinstance(frames, FrameTopK):
        values = frames.values.double().numpy()
        hit = frames.ids.numpy() == labels[:, None]
        floor = values.min(axis=1) - MISSING_PENALTY
        return np.where(hit, values, -np.inf).max(axis=1, initial=-np.inf).clip(min=floor).tolist()
    lp = frames.detach().double().cpu()
    return lp[torch.arange(len(labels)), torch.from_numpy(labels)].tolist()
