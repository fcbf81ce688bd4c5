"""Word boundaries from the audio's loudness, in the order and near the places the CTC alignment gives.

Why: a CTC model emits each token on one spiky frame whose place is not tied to the sound (the demo models,
with 10 s of right context, put it in the pause *before* the word, about at the previous word's end; the
first one on frame 0, the last one after the utterance's last word), so spike times miss the word by
0.1-0.4 s. The spikes do say which words come in which order and roughly where; the fbank says where sound
is. :func:`word_boundaries` combines them in one Viterbi search over 10 ms fbank frames (docs/DECODING.md,
"Word times"), computed label by label over all frames at once (:func:`_run`), so it costs a fraction of the
model's own time:

- **evidence** per fbank frame (:func:`speech_evidence`): a speech score ``v`` in [-1, 1], the frame's log
  energy (log-sum of its mel bands) against a threshold ``threshold`` of the way from the audio's quiet
  floor (2nd percentile) to its loud level (98th percentile), saturating at ``softness`` of that range. On a
  noisy line (that range below ``noisy_below``) loudness hardly moves between words and pauses, so the score
  is instead how far the frame rises above the noise: the mean over the mel bands of its log energy above
  that band's own floor (its ``noise_floor`` percentile over the utterance), capped at ``snr_cap`` per band,
  with the threshold ``noisy_threshold`` (steady line noise, and the bands a phone line does not carry, then
  do not hide the pauses);
  and an onset strength ``o`` in [0, 1], the mean rise of the log-mel bands over 20 ms (a syllable's
  start; one syllable is one word in Vietnamese), relative to its 99th percentile;
- **labels**, in order, ``Q0 R0 W1 Q1 R1 W2 ... WN QN``: ``Wk`` the frames of word k (at least
  ``min_word`` long), ``Rk`` a pure pause right before word k+1 (may be empty), ``Qk`` a stretch no word of
  the hypothesis claims (pauses, or the sound of a word the recogniser dropped; may be empty). A word frame
  scores ``v`` (``pause_in_word · v`` when quiet: a syllable does not span a pause), a pause frame ``-v``, an
  unclaimed frame ``-v`` when quiet and ``unclaimed_speech · v`` when loud (a word gains little by swallowing
  a neighbouring sound, so a dropped word's sound is left to itself); a word start earns ``onset_bonus · o``;
- **anchors**: word k's spike (centre of its first emitting output frame, plus a per-utterance shift, below)
  must lie in the pause right before it, within ``anchor_slack``: the pause (or, with none, the word) must
  start by the anchor + slack, the word must not start before the anchor - slack; each second beyond costs
  ``anchor_cost``. A spike right at a word's start (onset-spiking models) satisfies this as well as one at
  the previous word's end (the demo models). The utterance's last spike does not bound its word's start (the
  demo models put it on the utterance's last frames, 0.14-0.22 s after the last word's end whatever came
  before); instead that word must end at most ``last_slack`` before it, so that after a dropped word the last
  word takes the last sound, not the first unclaimed one;
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
_MIN_CONTRAST = 1.0  # natural-log range (4.3 dB) of the speech score below which the audio gives no evidence


@dataclass(frozen=True)
class WordTimeOptions:
    """Constants of :func:`word_boundaries` (module docstring); seconds unless said otherwise."""

    threshold: float = 0.4
    softness: float = 0.25
    # a noisy line's evidence (docs/DECODING.md: chosen on val-pattern sentences over the phone line; the demo's
    # clean val audio spans 15.7-17.8 of loudness range, over the phone line 3.0-10.9)
    noisy_below: float = 13.0  # loudness range (natural log, 2nd to 98th percentile; 56 dB) of a noisy line
    noisy_threshold: float = 0.25
    noise_floor: float = 5.0  # percentile of each mel band over the utterance
    snr_cap: float = 10.0  # natural log (43 dB)
    onset_bonus: float = 1.0
    pause_in_word: float = 10.0
    unclaimed_speech: float = 0.5
    anchor_slack: float = 0.1
    last_slack: float = 0.3
    anchor_cost: float = 200.0  # per second beyond the slack: 2 per 10 ms frame, a word frame's worth twice
    min_word: float = 0.08
    shift_margin: float = 0.2
    shift_min_words: int = 3
    max_piece: float = 30.0

    def __post_init__(self) -> None:
        if (not 0.0 < self.threshold < 1.0 or not 0.0 < self.noisy_threshold < 1.0
                or not 0.0 <= self.noise_floor < 100.0 or self.softness <= 0.0 or self.snr_cap <= 0.0
                or self.min_word <= 0.0 or self.max_piece <= 0.0):
            raise ValueError(f"bad word-time options {self}: thresholds in (0, 1), noise_floor in [0, 100), "
                             "softness, snr_cap, min_word and max_piece > 0")


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
    f = fbank.detach().cpu().numpy().astype(np.float64)  # numpy: torch's threads cost more than these sums
    if len(f) == 0:
        return None
    top = f.max(axis=1)
    score = top + np.log(np.exp(f - top[:, None]).sum(axis=1))  # loudness: the log-sum of the mel bands
    floor, loud = np.percentile(score, [2, 98])
    threshold = opts.threshold
    if loud - floor < opts.noisy_below:  # a noisy line: how far each band rises above its own noise
        score = np.clip(f - np.percentile(f, opts.noise_floor, axis=0), 0.0, opts.snr_cap).mean(axis=1)
        floor, loud = np.percentile(score, [2, 98])
        threshold = opts.noisy_threshold
    if loud - floor < _MIN_CONTRAST:
        return None
    level = floor + threshold * (loud - floor)
    speech = np.clip((score - level) / (opts.softness * (loud - floor)), -1.0, 1.0)
    rise = np.zeros(len(f))
    if len(f) > 2:
        rise[2:] = np.maximum(f[2:] - f[:-2], 0.0).mean(axis=1)
    high = np.percentile(rise, 99)
    onset = np.clip(rise / high, 0.0, 1.0) if high > 0 else rise
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
        for k in range(first + 1, last) if hi - lo > limit else ():  # a cut before word k
            w0, w1 = (int(np.rint((a[k] + d - frame_time(0)) / FRAME_SHIFT)) for d in
                      (-opts.anchor_slack, opts.anchor_slack))
            w0, w1 = max(w0, lo + (k - first)), min(w1 + 1, hi - (last - k))
            if w0 < w1:
                cuts.append((k, w0 + int(np.argmin(ev.speech[w0:w1]))))
        if not cuts:
            done.append((lo, hi, first, last))
            continue
        k, cut = min(cuts, key=lambda c: abs(c[1] - (lo + hi) / 2))
        todo += [(lo, cut, first, k), (cut, hi, k, last)]
    return sorted(done)


@dataclass
class _State:
    """One label's best scores: ``score[i]`` of the best labelling of frames 0..i ending in it; ``entry[i]`` the
    frame its current run started at; ``came[j]`` the predecessor chosen when entering at frame j."""

    score: np.ndarray
    entry: np.ndarray
    came: np.ndarray


def _run(enter: list[np.ndarray], cumsum: np.ndarray, min_frames: int = 1) -> _State:
    """A label entered at frame j with score ``max(enter)[j]`` (candidates by predecessor, costs included),
    then held at least ``min_frames`` frames emitting ``diff(cumsum)``: best score per frame in O(T) array
    operations (``score[i] = cumsum[i] + max over j <= i - min_frames + 1 of enter[j] - cumsum[j - 1]``)."""
    stacked = np.stack(enter)
    came = stacked.argmax(axis=0).astype(np.int8)
    best = stacked.max(axis=0)
    before = np.concatenate(([0.0], cumsum[:-1]))
    value = best - before
    run_max = np.maximum.accumulate(value)
    idx = np.arange(len(value))
    run_arg = np.maximum.accumulate(np.where(value == run_max, idx, 0))
    score = np.full(len(value), _NEG)
    entry = np.zeros(len(value), dtype=np.int64)
    k = min_frames - 1
    score[k:] = cumsum[k:] + run_max[: len(value) - k]
    entry[k:] = run_arg[: len(value) - k]
    return _State(np.maximum(score, _NEG), entry, came)


def _viterbi(ev: Evidence, anchors: np.ndarray, m: int, last_is_final: bool, opts: WordTimeOptions
             ) -> list[tuple[int, int]]:
    """First and last frame of each word in the best labelling (module docstring): the labels are processed in
    order (Q0, R0, W1, Q1, ..., WN, QN), each over all frames at once (:func:`_run`)."""
    n, v = len(ev), ev.speech
    t = frame_time(np.arange(n))
    cum = {"Q": np.cumsum(np.maximum(0.0, -v) + opts.unclaimed_speech * np.maximum(0.0, v)), "R": np.cumsum(-v),
           "W": np.cumsum(np.where(v > 0, v, opts.pause_in_word * v))}
    start = np.full(n, _NEG)
    start[0] = 0.0  # before the first frame: in Q0

    def prev(x: _State) -> np.ndarray:  # score of having been in x at frame i - 1
        return np.concatenate(([_NEG], x.score[:-1]))

    states: list[_State] = [_run([start], cum["Q"])]  # Q0
    from_start = np.where(np.arange(n) == 0, 0.0, _NEG)
    cost = opts.anchor_cost
    leave_at_end = 0.0
    for k, a in enumerate(anchors):
        final = last_is_final and k == len(anchors) - 1
        late = cost * np.maximum(0.0, t - a - opts.anchor_slack)
        # the utterance's last spike: not a bound on its word's start, but its word ends at most last_slack before
        early = np.zeros(n) if final else cost * np.maximum(0.0, a - opts.anchor_slack - t)
        leave = cost * np.maximum(0.0, a - opts.last_slack - t) if final else np.zeros(n)
        w_prev = states[-2] if k else None  # the previous word
        q_prev = prev(states[-1]) if k else np.maximum(prev(states[-1]), from_start)  # Q0 may be empty
        r = _run([q_prev - late] + ([prev(w_prev) - late] if w_prev else []), cum["R"])
        bonus = opts.onset_bonus * ev.onset - early
        w_in = [prev(r) + bonus, q_prev - late + bonus] + ([prev(w_prev) - late + bonus] if w_prev else [])
        w = _run(w_in, cum["W"], m)
        states += [r, w, _run([prev(w) - leave], cum["Q"])]
        if final:
            leave_at_end = cost * max(0.0, a - opts.last_slack - float(frame_time(n)))
    in_word = states[-2].score[-1] - leave_at_end > states[-1].score[-1]
    return _backtrack(states, len(anchors), n, in_word)


def _backtrack(states: list[_State], words: int, n: int, in_word: bool) -> list[tuple[int, int]]:
    """(first, last) frame of each word from the states ``Q0 R0 W1 Q1 ... WN QN``: runs followed backwards
    from the end, in WN (``in_word``) or QN."""
    s = len(states) - 2 if in_word else len(states) - 1
    i, spans = n - 1, {}
    while i >= 0 and s >= 0:
        j = int(states[s].entry[i])
        if s % 3 == 2:  # a word state
            spans[s // 3] = (j, i)
        s, i = _predecessor(s, int(states[s].came[j])), j - 1
    return [spans[k] for k in range(words)]


def _predecessor(s: int, came: int) -> int:
    """The state a run of state ``s`` was entered from, by the index of its chosen candidate in :func:`_viterbi`
    (Q: the word before; R: Q, word; W: R, Q, previous word)."""
    kind = s % 3  # 0 Q, 1 R, 2 W
    if kind == 0:
        return s - 1
    if kind == 1:
        return (s - 1, s - 2)[came]
    return (s - 1, s - 2, s - 3)[came]
