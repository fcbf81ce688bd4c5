"""Word boundaries from the audio's loudness, in the order and near the places the CTC alignment gives.

Why: a CTC model emits each token on one spiky frame whose place is not tied to the sound (the demo models,
with 10 s of right context, put it in the pause *before* the word, about at the previous word's end; the
first one on frame 0, the last one after the utterance's last word), so spike times miss the word by
0.1-0.4 s. The spikes do say which words come in which order and roughly where; the fbank says where sound
is. :func:`word_boundaries` combines them with one Viterbi pass over 10 ms fbank frames (docs/DECODING.md,
"Word times"):

- **evidence** per fbank frame (:func:`speech_evidence`): a speech score ``v`` in [-1, 1], the frame's log
  energy (log-sum of its mel bands) against a threshold ``threshold`` of the way from the audio's quiet
  floor (2nd percentile) to its loud level (98th percentile), saturating at ``softness`` of that range;
  and an onset strength ``o`` in [0, 1], the mean rise of the log-mel bands over 20 ms (a syllable's
  start; one syllable is one word in Vietnamese), relative to its 99th percentile;
- **labels**, in order, ``Q0 R0 W1 Q1 R1 W2 ... WN QN``: ``Wk`` the frames of word k (at least
  ``min_word`` long), ``Rk`` a pure pause right before word k+1 (may be empty), ``Qk`` a stretch no word of
  the hypothesis claims (pauses, or the sound of a word the recogniser dropped; may be empty). A word frame
  scores ``v`` (``pause_in_word · v`` when quiet: a syllable does not span a pause), a pause frame ``-v``, an
  unclaimed frame ``max(0, -v)``; a word start earns ``onset_bonus · o``;
- **anchors**: word k's spike (centre of its first emitting output frame, plus a per-utterance shift, below)
  must lie in the pause right before it, within ``anchor_slack``: the pause (or, with none, the word) must
  start by the anchor + slack, the word must not start before the anchor - slack (not enforced for the last
  word, whose spike comes late); each second beyond costs ``anchor_cost``. A spike right at a word's start
  (onset-spiking models) satisfies this as well as one at the previous word's end (the demo models);
- **shift**: for models whose spikes fall inside words, the anchors move by the shift in [-0.5, 0.2] s that
  puts most of them on quiet frames, when it puts at least ``shift_min_words`` more, and a share more than
  ``shift_margin`` larger, there than no shift (ties: the smallest shift).

Long inputs are cut into pieces of at most ``max_piece`` seconds at the quietest frame near a word's anchor,
so time and memory stay linear. Without usable contrast (flat energy) or frames, the caller keeps the CTC
times. The constants were chosen on validation-pattern sentences (``bench/bench_word_times.py --patterns val
--grid``), never on the test words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from chunkformer.frontend import FRAME_LENGTH, FRAME_SHIFT

_NEG = -1e18
_SHIFTS = np.round(np.arange(-0.5, 0.2001, 0.02), 2)  # seconds tried by the per-utterance anchor shift
_MIN_CONTRAST = 1.0  # natural-log energy range (4.3 dB) below which the audio gives no boundary evidence


@dataclass(frozen=True)
class WordTimeOptions:
    """Constants of :func:`word_boundaries` (module docstring); seconds unless said otherwise."""

    threshold: float = 0.4
    softness: float = 0.25
    onset_bonus: float = 1.0
    pause_in_word: float = 10.0
    anchor_slack: float = 0.1
    anchor_cost: float = 200.0  # per second beyond the slack: 2 per 10 ms frame, a word frame's worth twice
    min_word: float = 0.08
    shift_margin: float = 0.2
    shift_min_words: int = 3
    max_piece: float = 30.0

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0 or self.softness <= 0.0 or self.min_word <= 0.0 or self.max_piece <= 0.0:
            raise ValueError(f"bad word-time options {self}: threshold in (0, 1), softness, min_word and "
                             "max_piece > 0")


@dataclass(frozen=True)
class Evidence:
    """Per fbank frame: ``speech`` score in [-1, 1] and ``onset`` strength in [0, 1] (module docstring)."""

    speech: np.ndarray
    onset: np.ndarray

    def __len__(self) -> int:
        return len(self.speech)


def frame_time(i: np.ndarray | int) -> np.ndarray | float:
    """Start (s) of fbank frame ``i``'s 10 ms cell, centred on its 25 ms window: ``0.01·i + 0.0075``."""
    return i * FRAME_SHIFT + (FRAME_LENGTH - FRAME_SHIFT) / 2


def speech_evidence(fbank: torch.Tensor, opts: WordTimeOptions) -> Evidence | None:
    """(T, 80) log-mel fbank → :class:`Evidence`, or None when its energy has no usable contrast."""
    f = fbank.detach().double().cpu()
    energy = torch.logsumexp(f, dim=1).numpy()
    if len(energy) == 0:
        return None
    floor, loud = np.percentile(energy, [2, 98])
    if loud - floor < _MIN_CONTRAST:
        return None
    threshold = floor + opts.threshold * (loud - floor)
    speech = np.clip((energy - threshold) / (opts.softness * (loud - floor)), -1.0, 1.0)
    rise = np.zeros(len(f))
    if len(f) > 2:
        rise[2:] = (f[2:] - f[:-2]).clamp(min=0).mean(dim=1).numpy()
    top = np.percentile(rise, 99)
    onset = np.clip(rise / top, 0.0, 1.0) if top > 0 else rise
    return Evidence(speech, onset)


def anchor_shift(ev: Evidence, anchors: np.ndarray, opts: WordTimeOptions) -> float:
    """The shift (s) that puts most anchors on quiet frames, if it puts at least ``shift_min_words`` more of
    them, and a share more than ``shift_margin`` larger, there than no shift; else 0. Ties go to the
    smallest shift."""
    frames = np.rint((anchors[None, :] + _SHIFTS[:, None] - frame_time(0)) / FRAME_SHIFT).astype(int)
    quiet = (ev.speech[frames.clip(0, len(ev) - 1)] < 0).sum(axis=1)
    best = max(range(len(_SHIFTS)), key=lambda i: (quiet[i], -abs(_SHIFTS[i])))
    gain = quiet[best] - quiet[int(np.argmin(np.abs(_SHIFTS)))]
    return float(_SHIFTS[best]) if gain >= opts.shift_min_words and gain > opts.shift_margin * len(anchors) else 0.0


def word_boundaries(fbank: torch.Tensor, anchors: Sequence[float], opts: WordTimeOptions | None = None
                    ) -> list[tuple[float, float]] | None:
    """``(start, end)`` seconds (from the fbank's first sample) of each word, given its anchor (s, the centre
    of its first emitting output frame), in order; None when the audio gives no evidence (flat energy) or
    is too short for the words (the caller keeps the CTC times). A shifted set of anchors
    (:func:`anchor_shift`) replaces them when the spikes are clearly not in the pauses."""
    opts = opts or WordTimeOptions()
    ev = speech_evidence(fbank, opts)
    if ev is None or not anchors or len(ev) < len(anchors):
        return None
    a = np.asarray(anchors, dtype=np.float64)
    spans = _label(ev, a + anchor_shift(ev, a, opts), opts)
    return [(float(frame_time(s)), float(frame_time(e + 1))) for s, e in spans]


def _label(ev: Evidence, a: np.ndarray, opts: WordTimeOptions) -> list[tuple[int, int]]:
    """(first, last) frame of each word, piece by piece (:func:`_pieces`)."""
    m = max(1, round(opts.min_word / FRAME_SHIFT))
    spans = []
    for lo, hi, first, last in _pieces(ev, a, opts):
        piece = _viterbi(Evidence(ev.speech[lo:hi], ev.onset[lo:hi]), a[first:last] - lo * FRAME_SHIFT,
                         min(m, (hi - lo) // (last - first)), last == len(a), opts)
        spans += [(lo + s, lo + e) for s, e in piece]
    return spans


def _pieces(ev: Evidence, a: np.ndarray, opts: WordTimeOptions) -> list[tuple[int, int, int, int]]:
    """``(first frame, end frame, first word, end word)`` pieces of at most ``max_piece`` seconds (unless one
    word's neighbourhood is longer), each cut at the quietest frame within the slack of a word's anchor,
    the candidate nearest the middle. Pieces keep at least one frame per word."""
    limit = round(opts.max_piece / FRAME_SHIFT)
    todo, done = [(0, len(ev), 0, len(a))], []
    while todo:
        lo, hi, first, last = todo.pop()
        cuts = []
        for k in range(first + 1, last):  # a cut before word k
            w0, w1 = (int(np.rint((a[k] + d - frame_time(0)) / FRAME_SHIFT)) for d in
                      (-opts.anchor_slack, opts.anchor_slack))
            w0, w1 = max(w0, lo + (k - first)), min(w1 + 1, hi - (last - k))
            if w0 < w1:
                cuts.append((k, w0 + int(np.argmin(ev.speech[w0:w1]))))
        if hi - lo <= limit or not cuts:
            done.append((lo, hi, first, last))
            continue
        k, cut = min(cuts, key=lambda c: abs(c[1] - (lo + hi) / 2))
        todo += [(lo, cut, first, k), (cut, hi, k, last)]
    return sorted(done)


@dataclass(frozen=True)
class _Layout:
    """State arrays of the label sequence ``Q0 R0 W1[0..m-1] Q1 R1 W2[..] ... WN[..] QN``."""

    word: np.ndarray  # word number (1-based) of a W state, 0 elsewhere
    kind: np.ndarray  # 0 Q, 1 R, 2 W
    first: np.ndarray  # the first state of a word (entered once per word)
    loop: np.ndarray  # states that may repeat (Q, R, the last state of a word)
    anchor: np.ndarray  # anchor (s) of the word an R or W state belongs to, nan elsewhere
    early: np.ndarray  # W-first states held to "not before the anchor - slack"

    @classmethod
    def build(cls, anchors: np.ndarray, m: int, last_is_final: bool) -> _Layout:
        n = len(anchors)
        period = m + 2
        size = n * period + 1
        pos = np.arange(size) % period
        k = np.arange(size) // period  # word index (0-based) whose Q, R, W states these are
        kind = np.where(pos == 0, 0, np.where(pos == 1, 1, 2))
        kind[-1] = 0
        first = (kind == 2) & (pos == 2)
        loop = (kind != 2) | (pos == period - 1)
        anchor = np.where(kind > 0, anchors[np.minimum(k, n - 1)], np.nan)
        early = first.copy()
        if last_is_final:
            early[(n - 1) * period + 2] = False
        return cls(np.where(kind == 2, k + 1, 0), kind, first, loop, anchor, early)


def _viterbi(ev: Evidence, anchors: np.ndarray, m: int, last_is_final: bool, opts: WordTimeOptions
             ) -> list[tuple[int, int]]:
    """First and last frame of each word in the best labelling (module docstring), one frame at a time."""
    lay = _Layout.build(anchors, m, last_is_final)
    size, n = len(lay.kind), len(ev)
    is_r, is_w = lay.kind == 1, lay.kind == 2
    enter_r_or_w = is_r | lay.first
    has_anchor = ~np.isnan(lay.anchor)
    anchor = np.nan_to_num(lay.anchor)
    cost = opts.anchor_cost
    back = np.zeros((n, size), dtype=np.int8)  # 0 stay, 1-3: came from that many states before
    score = np.full(size, _NEG)
    score[0] = 0.0  # before the first frame: in Q0
    for i in range(n):
        t = frame_time(i)
        late = np.where(has_anchor, cost * np.maximum(0.0, t - anchor - opts.anchor_slack), 0.0)
        early = np.where(lay.early, cost * np.maximum(0.0, anchor - opts.anchor_slack - t), 0.0)
        start = np.where(lay.first, opts.onset_bonus * ev.onset[i] - early, 0.0)
        cand = np.full((4, size), _NEG)
        cand[0] = np.where(lay.loop, score, _NEG)
        cand[1, 1:] = score[:-1]
        cand[1] += np.where(is_r, -late, 0.0) + start  # Q→R, R→W, W→W (chain), W→Q
        cand[2, 2:] = score[:-2]
        cand[2] = np.where(enter_r_or_w, cand[2] - late + start, _NEG)  # Q→W (no pause), W→R (nothing unclaimed)
        cand[3, 3:] = score[:-3]
        cand[3] = np.where(lay.first, cand[3] - late + start, _NEG)  # W→W: words touching
        back[i] = cand.argmax(axis=0)
        v = ev.speech[i]
        emit = np.where(is_w, v if v > 0 else opts.pause_in_word * v, np.where(is_r, -v, max(0.0, -v)))
        score = cand.max(axis=0) + emit
    s = size - 1 if score[-1] >= score[-2] else size - 2
    labels = np.zeros(n, dtype=np.int64)
    for i in range(n - 1, -1, -1):
        labels[i] = s
        s -= int(back[i, s])
    words = lay.word[labels]
    spans = []
    for k in range(1, len(anchors) + 1):
        idx = np.flatnonzero(words == k)
        spans.append((int(idx[0]), int(idx[-1])))
    return spans
