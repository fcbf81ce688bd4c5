"""bench/bench_decoding_quality.py's bookkeeping: the val setting choice and the hotword row (recall of the
held-out values only, WER on the utterances whose reference has none of the catalogue's phrases)."""

from __future__ import annotations

import sys

import torch

from helpers import REPO, VOCAB

sys.path.insert(0, str(REPO / "bench"))
from bench_decoding_quality import EvalSet, Utt, choose_setting, hotword_graphs, hotword_row, tune  # noqa: E402
from callbot_catalogue import Catalogue  # noqa: E402

from chunkformer.decoding import CTCDecoder, DecodeOptions, FrameTopK, Hypothesis, build_hotwords  # noqa: E402
from chunkformer.tokenizer import Tokenizer  # noqa: E402


def row(k: int, score: float, recall: float, change: float) -> dict:
    return {"prune_topk": k, "score": score, "recall_list_pct": recall, "no_phrase_wer_change": change}


def test_choose_setting_best_recall_within_the_wer_limit() -> None:
    grid = [row(10, 1.0, 20.0, -0.1), row(10, 2.0, 40.0, 0.2), row(50, 2.0, 40.0, 0.1), row(50, 3.0, 70.0, 0.5)]
    assert choose_setting(grid, 0.3) == grid[2]  # 70 % costs too much; of the two 40 %, the smaller change
    assert choose_setting(grid, 1.0) == grid[3]


def test_choose_setting_without_any_within_the_limit_takes_the_smallest_change() -> None:
    grid = [row(10, 2.0, 40.0, 0.9), row(10, 3.0, 60.0, 0.5), row(50, 3.0, 70.0, 0.5)]
    assert choose_setting(grid, 0.3) == grid[2]


def decoded(pairs: list[tuple[str, str]]) -> list[tuple[Utt, Hypothesis]]:
    return [(Utt(f"u{i}", ref, ""), Hypothesis(hyp, [])) for i, (ref, hyp) in enumerate(pairs)]


def test_hotword_row() -> None:
    cat = Catalogue(held_out=("hùng", "tủ lạnh"), distractors=("lan",))
    refs = ["em là hùng", "mua tủ lạnh", "xin chào chị", "chị lan ạ"]
    plain = decoded(list(zip(refs, ["em là hưng", "mua tủ lạnh", "xin chào chị", "chị lan ạ"], strict=True)))
    biased = decoded(list(zip(refs, ["em là hùng", "mua tủ lạnh", "xin chào hùng", "chị lan ạ"], strict=True)))
    r = hotword_row(plain, biased, cat)
    assert r["held_out_occurrences"] == 2  # the distractor "lan" in u3 is not a held-out value
    assert (r["recall_beam_pct"], r["recall_list_pct"]) == (50.0, 100.0)
    # only u2 ("xin chào chị") has no catalogue phrase: 0 errors plain, 1 substitution of 3 words with the list
    assert r["no_phrase_utts"] == 1
    assert (r["no_phrase_wer_beam"], r["no_phrase_wer_list"], r["no_phrase_wer_change"]) == (0.0, 33.33, 33.33)
    assert (r["wer_beam"], r["wer_list"]) == (round(100 / 12, 2), round(100 / 12, 2))


def test_the_list_may_act_through_the_list_decoder_alone() -> None:
    """``--list-lm``: the search with the list is another decoder (a class LM); score 0 is that decoder without a
    graph. Here the list decoder carries the catalogue as its own graph, on hand-made log-probs where the plain
    beam hears "chị" and the held-out "anh" is a close second."""
    tok = Tokenizer.from_file(VOCAB)

    def frames(dists: list[dict[str, float]]) -> FrameTopK:
        probs = torch.full((len(dists), len(tok.tokens)), 1e-4)
        for t, dist in enumerate(dists):
            for token, p in dist.items():
                probs[t, tok.tokens.index(token)] = p
        return FrameTopK.from_log_probs((probs / probs.sum(-1, keepdim=True)).log(), 10)

    cat = Catalogue(held_out=("anh",), distractors=("hà nội",))
    said = frames([{"▁xin": 0.9}, {"▁chào": 0.9}, {"▁chị": 0.55, "▁anh": 0.44}, {"<blank>": 0.99}])
    none = frames([{"▁cảm": 0.9}, {"▁ơn": 0.9}, {"<blank>": 0.99}])  # no catalogue phrase: for the WER change
    val = {"val/x": EvalSet([Utt("u0", "xin chào anh", ""), Utt("u1", "cảm ơn", "")], [said, none])}
    plain = CTCDecoder(tok, DecodeOptions(method="beam", beam=4))
    listed = CTCDecoder(tok, DecodeOptions(method="beam", beam=4, hotwords=build_hotwords(cat.phrases, tok).graph))
    graphs, rejected = hotword_graphs(cat, tok, [0.0, 2.0])
    assert graphs[0.0] is None and graphs[2.0] is not None and rejected == []
    grid = tune(val, {4: plain}, {4: listed}, cat, {0.0: None}, lambda _: None)
    assert (grid[0]["recall_beam_pct"], grid[0]["recall_list_pct"]) == (0.0, 100.0)
    assert grid[0]["no_phrase_wer_change"] == 0.0
    assert tune(val, {4: plain}, {4: plain}, cat, {0.0: None}, lambda _: None)[0]["recall_list_pct"] == 0.0
