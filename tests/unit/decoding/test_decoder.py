"""The decoding API: word times from the CTC best path, confidences, long utterances cut at pauses."""

from __future__ import annotations

import math

import pytest
import torch

from chunkformer.decoding import CTCDecoder, DecodeOptions, FrameTopK
from chunkformer.decoding.alignment import ctc_align, greedy_path, token_spans
from chunkformer.decoding.ctc_search import greedy_search
from chunkformer.decoding.decoder import pause_cuts
from chunkformer.tokenizer import Tokenizer

VOCAB = ["<blank>", "▁xin", "▁chào", "▁an", "▁ng", "uyễn", "▁văn"]
TOK = Tokenizer(VOCAB)
ID = {t: i for i, t in enumerate(VOCAB)}


def frames_of(path: list[str], peak: float = 0.9) -> torch.Tensor:
    """(T, V) log-probs whose best entry at frame t is ``path[t]`` ("-" = blank) with probability ``peak``."""
    V = len(VOCAB)
    lp = torch.full((len(path), V), math.log((1 - peak) / (V - 1)), dtype=torch.float64)
    for t, tok in enumerate(path):
        lp[t, 0 if tok == "-" else ID[tok]] = math.log(peak)
    return lp


# frames (80 ms): - xin xin - chào - - - - - - an - ng uyễn - văn
PATH = ["-", "▁xin", "▁xin", "-", "▁chào", "-", "-", "-", "-", "-", "-", "▁an", "-", "▁ng", "uyễn", "-", "▁văn"]


@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_word_times_from_the_best_path(method: str) -> None:
    hyp = CTCDecoder(TOK, DecodeOptions(method=method, beam=4)).decode(frames_of(PATH), offset=10.0)
    assert hyp.text == "xin chào an nguyễn văn"
    # no audio given: times from the spikes alone, frame t's cell centred on its receptive field
    # (t·0.08 + 0.0825 ± 0.04, so frame t starts at t·0.08 + 0.0425)
    got = [(w.word, round(w.start - 10.0 - 0.0425, 4), round(w.end - 10.0 - 0.0425, 4)) for w in hyp.words]
    # a word starts at its first emitting frame; it ends where the next word starts, but at most 4 frames
    # after its last emitting frame (the pause after "chào" is not given to it)
    assert got == [("xin", 0.08, 0.32),          # frames 1-2, next word at frame 4
                   ("chào", 0.32, 0.72),         # frame 4, capped at 4 + 1 + 4 = 9 (next word at 11)
                   ("an", 0.88, 1.04),           # frame 11, next word at 13
                   ("nguyễn", 1.04, 1.28),       # frames 13-14 (two tokens, one word), next at 16
                   ("văn", 1.28, 1.36)]          # frame 16, the last frame
    d = hyp.to_dict()
    assert set(d) == {"text", "confidence", "words"}
    assert d["words"][1] == {"word": "chào", "start": 10.36, "end": 10.76, "conf": pytest.approx(0.9, abs=1e-4)}


def test_alignment_paths() -> None:
    lp = frames_of(PATH)
    tokens, path = greedy_path(lp.argmax(-1).tolist())
    assert tokens == greedy_search(lp)
    assert ctc_align(lp, tokens) == path  # Viterbi finds the argmax path of the greedy hypothesis
    assert ctc_align(FrameTopK.from_log_probs(lp, 3), tokens) == path
    assert token_spans(path, len(tokens))[:2] == [(1, 2), (4, 4)]
    # forced alignment of another text: "xin xin" needs a blank between the two tokens
    two = [ID["▁xin"], ID["▁xin"]]
    assert ctc_align(frames_of(["▁xin", "▁xin", "▁xin"]), two) == [0, -1, 1]
    with pytest.raises(ValueError, match="need at least 3 frames"):
        ctc_align(frames_of(["▁xin", "▁xin"]), two)


def test_confidence_peaked_flat_and_silence() -> None:
    dec = CTCDecoder(TOK, DecodeOptions(method="greedy"))
    peaked = dec.decode(frames_of(PATH, peak=0.95))
    flat = dec.decode(frames_of(PATH, peak=0.2))  # the same best path, barely above the other entries
    assert peaked.text == flat.text
    for h in (peaked, flat):
        assert 0.0 <= h.confidence <= 1.0 and all(0.0 <= w.conf <= 1.0 for w in h.words)
    assert flat.confidence < peaked.confidence
    assert peaked.confidence == pytest.approx(0.95, abs=1e-6)  # every emitting frame has 0.95
    assert flat.confidence == pytest.approx(0.2, abs=1e-6)
    # a word's confidence is its weakest token's: "nguyễn" with one uncertain piece
    lp = frames_of(PATH, peak=0.95)
    lp[14] = torch.log(torch.tensor([0.3 / 6] * 7, dtype=torch.float64))
    lp[14, ID["uyễn"]] = math.log(0.7)
    words = {w.word: w.conf for w in dec.decode(lp).words}
    assert words["nguyễn"] == pytest.approx(0.7) and words["xin"] == pytest.approx(0.95)
    # silence: no words, the confidence is the mean blank posterior
    quiet = dec.decode(frames_of(["-"] * 5, peak=0.8))
    assert quiet.text == "" and quiet.words == [] and quiet.confidence == pytest.approx(0.8)
    # probabilities a hair above 1 (float rounding of log_softmax) still give at most 1
    assert dec.decode(torch.zeros(3, len(VOCAB)).log_softmax(-1) * 0 + 1e-7).confidence <= 1.0
    assert dec.decode(torch.zeros(0, len(VOCAB))).confidence == 0.0


def test_long_utterances_are_cut_at_pauses() -> None:
    ids = [0, 1, 0, 0, 0, 0, 2, 2, 0, 3, 0, 0, 0, 4, 4, 4, 4, 4, 4, 5]
    cuts = pause_cuts(ids, max_frames=8, min_pause=3)
    assert cuts[0][0] == 0 and cuts[-1][1] == len(ids)
    assert all(b - a <= 8 for a, b in cuts) and all(a == b0 for (_, b0), (a, _) in zip(cuts, cuts[1:]))
    assert cuts[0] == (0, 4)  # the middle of the first pause (frames 2-5)
    assert pause_cuts(ids, max_frames=100) == [(0, len(ids))]
    lp = frames_of(PATH * 3)
    dec = CTCDecoder(TOK, DecodeOptions(method="greedy"))
    frames = dec.opts.frames(lp)
    whole, pieces = dec.decode(frames), dec.decode_long(frames, max_frames=20)
    assert pieces.text == whole.text and pieces.tokens == whole.tokens
    assert [(w.word, round(w.start, 4)) for w in pieces.words] == [(w.word, round(w.start, 4)) for w in whole.words]
    beam = CTCDecoder(TOK, DecodeOptions(method="beam", beam=4))
    assert beam.decode_long(beam.opts.frames(lp), max_frames=20).text == whole.text
