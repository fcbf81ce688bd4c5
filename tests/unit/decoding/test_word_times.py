"""Word boundaries from the fbank (chunkformer.decoding.word_times) on hand-made audio features whose word
extents are known to the frame, with CTC spikes placed where the demo models put them (in the pause before
each word), inside words, or after the last word."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from chunkformer.decoding import CTCDecoder, DecodeOptions
from chunkformer.decoding.word_times import WordTimeOptions, frame_time, speech_evidence, word_boundaries
from chunkformer.tokenizer import Tokenizer

LOW, HIGH = (0, 40), (40, 80)  # mel bands a "word" is loud in: two timbres, so touching words show an onset


def fbank_of(words: list[tuple[int, int, tuple[int, int]]], frames: int, seed: int = 0) -> torch.Tensor:
    """(frames, 80) log-mel features: quiet (-4 ± 0.1) except words ``(first, end, bands)``, loud (6) in
    their bands."""
    g = torch.Generator().manual_seed(seed)
    f = -4.0 + 0.1 * torch.randn(frames, 80, generator=g)
    for a, b, (lo, hi) in words:
        f[a:b, lo:hi] = 6.0 + 0.1 * torch.randn(b - a, hi - lo, generator=g)
    return f


# three words (10 ms fbank frames): 30-60, 80-120 and, touching it (no pause), 120-150, in other bands
WORDS = [(30, 60, LOW), (80, 120, LOW), (120, 150, HIGH)]
TRUTH = [(frame_time(a), frame_time(b)) for a, b, _ in WORDS]  # a word covers the cells of frames a..b-1


def close(got: list[tuple[float, float]] | None, want: list[tuple[float, float]], tol: float = 0.0101) -> bool:
    return got is not None and len(got) == len(want) and all(
        abs(s - s0) <= tol and abs(e - e0) <= tol for (s, e), (s0, e0) in zip(got, want, strict=True))


def test_boundaries_from_energy_and_onsets() -> None:
    feats = fbank_of(WORDS, 200)
    # spikes in the pause before each word (0.20 s, 0.70 s) and, for the touching word, at the boundary
    got = word_boundaries(feats, [0.20, 0.70, 1.21])
    assert close(got, TRUTH), got
    # spikes at each word's start (onset-spiking models) give the same boundaries
    assert close(word_boundaries(feats, [0.31, 0.81, 1.21]), TRUTH)
    # the touching words' boundary comes from the onset (the last word's spike is not trusted to bound its
    # start): without the onset bonus it is lost
    assert close(word_boundaries(feats, [0.20, 0.70, 1.25]), TRUTH)
    assert not close(word_boundaries(feats, [0.20, 0.70, 1.25], WordTimeOptions(onset_bonus=0.0)), TRUTH)


def test_a_dropped_word_stays_unclaimed_and_a_late_last_spike_is_harmless() -> None:
    # four sounds, the hypothesis has three words: the second sound (80-120) was not recognised
    sounds = [(30, 60, LOW), (80, 120, LOW), (140, 170, LOW), (190, 230, LOW)]
    feats = fbank_of(sounds, 300)
    # spikes: before sound 1, before sound 3 (in the 120-140 pause), and the last one 0.2 s after the end
    got = word_boundaries(feats, [0.20, 1.30, 2.50])
    assert close(got, [TRUTH[0], (frame_time(140), frame_time(170)), (frame_time(190), frame_time(230))]), got


def sounds_of(lengths: list[int], pauses: list[int], count: int, start: int = 30) -> list[tuple[int, int, tuple]]:
    """``count`` words (frames) of the given lengths and pauses after them, cycled."""
    out = []
    for i in range(count):
        out.append((start, start + lengths[i % len(lengths)], LOW))
        start = out[-1][1] + pauses[i % len(pauses)]
    return out


def test_a_word_does_not_swallow_a_dropped_neighbour() -> None:
    # sound B (0.63-0.98 s) follows A after only 30 ms and was not recognised; the last spike sits on the
    # utterance's end, as the demo models put it
    feats = fbank_of([(30, 60, LOW), (63, 98, LOW), (120, 150, LOW)], 200)
    want = [TRUTH[0], (frame_time(120), frame_time(150))]
    assert close(word_boundaries(feats, [0.20, 1.70]), want)
    # a word gaining as much from unclaimed sound as from its own would take B across the short pause
    assert not close(word_boundaries(feats, [0.20, 1.70], WordTimeOptions(unclaimed_speech=0.0)), want)
    # and a last word not held near its (late) spike would take B, the first sound no word claims
    assert not close(word_boundaries(feats, [0.20, 1.70], WordTimeOptions(last_slack=5.0)), want)


def test_spikes_inside_words_are_shifted_into_the_pauses() -> None:
    sounds = sounds_of([35, 50, 40], [15, 25, 20, 30], 8)  # words of 0.35-0.5 s, pauses of 0.15-0.3 s
    feats = fbank_of(sounds, sounds[-1][1] + 30)
    truth = [(frame_time(a), frame_time(b)) for a, b, _ in sounds]
    late = [frame_time(a) + 0.25 for a, _, _ in sounds]  # a delayed model: spikes 0.25 s into each word
    assert close(word_boundaries(feats, late), truth)
    # the shift is only taken when it clearly helps: with it disabled the words are misplaced
    assert not close(word_boundaries(feats, late, WordTimeOptions(shift_margin=1.0)), truth)


def test_long_input_in_pieces_equals_one_piece() -> None:
    sounds = [(30 + 50 * i, 60 + 50 * i + (i % 3) * 5, (LOW, HIGH)[i % 2]) for i in range(40)]
    feats = fbank_of(sounds, 2100, seed=3)
    anchors = [frame_time(a) - 0.08 for a, _, _ in sounds]
    whole = word_boundaries(feats, anchors)
    assert close(whole, [(frame_time(a), frame_time(b)) for a, b, _ in sounds])
    assert close(word_boundaries(feats, anchors, WordTimeOptions(max_piece=3.0)), whole, tol=1e-9)


def test_steady_noise_louder_than_the_words_does_not_hide_them() -> None:
    """A hum in bands the words do not use, louder than the words (a line's steady noise): the loudness of the
    whole frame barely moves, the rise above each band's own noise floor does."""
    words = [(30, 60, (40, 70)), (80, 120, (40, 70)), (120, 150, (50, 80))]
    f = fbank_of(words, 200)
    f[:, :30] = 9.0 + 0.1 * torch.randn(200, 30, generator=torch.Generator().manual_seed(1))
    spikes = [0.0, frame_time(60), frame_time(115)]
    assert close(word_boundaries(f, spikes), [(frame_time(a), frame_time(b)) for a, b, _ in words])


def test_loudness_evidence_for_clean_audio_per_band_excess_for_a_noisy_line() -> None:
    """The speech score is the frame's loudness when the audio's loudness spans at least ``noisy_below`` (clean
    audio), else the mean rise of its bands above their own noise floors, each with its own threshold."""
    opts = WordTimeOptions()

    def expected(score: np.ndarray, threshold: float) -> np.ndarray:
        lo, hi = np.percentile(score, [2, 98])
        return np.clip((score - lo - threshold * (hi - lo)) / (opts.softness * (hi - lo)), -1.0, 1.0)

    for quiet, path in ((-12.0, "loudness"), (-4.0, "noisy")):
        f = fbank_of(WORDS, 200) + (quiet + 4.0) * (fbank_of(WORDS, 200) < 0)  # pauses (and unused bands) lower
        x = f.numpy().astype(np.float64)
        loudness = np.log(np.exp(x).sum(axis=1))
        lo, hi = np.percentile(loudness, [2, 98])
        assert (hi - lo >= opts.noisy_below) == (path == "loudness")
        excess = np.clip(x - np.percentile(x, opts.noise_floor, axis=0), 0.0, opts.snr_cap).mean(axis=1)
        want = expected(loudness, opts.threshold) if path == "loudness" else expected(excess, opts.noisy_threshold)
        np.testing.assert_allclose(speech_evidence(f, opts).speech, want, atol=1e-9)


def test_no_evidence_or_too_few_frames() -> None:
    assert word_boundaries(torch.zeros(100, 80), [0.3]) is None  # flat energy: the caller keeps spike times
    assert word_boundaries(fbank_of(WORDS, 200)[:2], [0.1, 0.2, 0.3]) is None  # fewer frames than words
    assert word_boundaries(fbank_of(WORDS, 200), []) is None
    ev = speech_evidence(fbank_of(WORDS, 200), WordTimeOptions())
    assert ev is not None and ev.speech.min() == -1.0 and ev.speech.max() == 1.0
    starts, inside = [30, 31, 80, 81, 120, 121], [45, 100, 135, 180]  # rises: word starts, new bands at 120
    assert ev.onset[starts].min() > 0.9 and ev.onset[inside].max() < 0.1
    for bad in (dict(threshold=1.5), dict(noise_floor=100.0), dict(snr_cap=0.0)):
        with pytest.raises(ValueError, match="bad word-time options"):
            WordTimeOptions(**bad)


VOCAB = ["<blank>", "▁xin", "▁chào", "▁an"]
TOK = Tokenizer(VOCAB)


def log_probs(spikes: dict[int, int], frames: int, peak: float = 0.9) -> torch.Tensor:
    """(frames, V): blank everywhere except token ``spikes[t]`` at output frame ``t``."""
    lp = torch.full((frames, len(VOCAB)), math.log((1 - peak) / (len(VOCAB) - 1)), dtype=torch.float64)
    for t in range(frames):
        lp[t, spikes.get(t, 0)] = math.log(peak)
    return lp


@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_decoder_times_from_the_fbank(method: str) -> None:
    feats = fbank_of(WORDS, 200)
    frames = 1 + (200 - 15) // 8  # output frames of 200 fbank frames
    # spikes at output frames 2 (centre 0.2425 s), 8 (0.7225 s), 14 (1.2025 s)
    lp = log_probs({2: 1, 8: 2, 14: 3}, frames)
    dec = CTCDecoder(TOK, DecodeOptions(method=method, beam=4))
    hyp = dec.decode(lp, offset=5.0, fbank=feats)
    assert hyp.text == "xin chào an"
    assert close([(w.start - 5.0, w.end - 5.0) for w in hyp.words], TRUTH)
    spikes = dec.decode(lp, offset=5.0)  # no audio: the spike times, 80 ms cells centred on the receptive field
    assert [round(w.start - 5.0, 4) for w in spikes.words] == [0.2025, 0.6825, 1.1625]
    # the forced alignment of a reference gets the same boundaries
    ref = dec.finish(lp, [1, 2, 3], fbank=feats)
    assert close([(w.start, w.end) for w in ref.words], TRUTH)
    assert [w.conf for w in ref.words] == pytest.approx([0.9] * 3)  # confidences do not depend on the times


def test_decode_long_hands_each_piece_its_fbank() -> None:
    sounds = [(30 + 60 * i, 70 + 60 * i, LOW) for i in range(10)]  # 0.4 s words, 0.2 s pauses, 6.3 s
    feats = fbank_of(sounds, 630)
    frames = 1 + (630 - 15) // 8
    spikes = {int(round((frame_time(a) - 0.1 - 0.0825) / 0.08)): 1 + i % 3 for i, (a, _, _) in enumerate(sounds)}
    lp = log_probs(spikes, frames)
    dec = CTCDecoder(TOK, DecodeOptions(method="greedy"))
    whole = dec.decode(lp, fbank=feats)
    pieces = dec.decode_long(dec.opts.frames(lp), max_frames=25, fbank=feats)
    assert pieces.text == whole.text and len(whole.words) == 10
    truth = [(frame_time(a), frame_time(b)) for a, b, _ in sounds]
    assert close([(w.start, w.end) for w in whole.words], truth)
    assert close([(w.start, w.end) for w in pieces.words], truth)
    assert np.all(np.diff([w.start for w in pieces.words]) > 0)
