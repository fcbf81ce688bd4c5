"""Hotword biasing: the Aho-Corasick context graph, its fusion into the prefix beam search (phrases found that
the plain beam misses, unfinished phrases earn nothing), phrase normalisation and the hotwords file."""

from __future__ import annotations

import itertools
import math
import re
from collections import defaultdict

import pytest
import torch

from chunkformer.decoding import CTCDecoder, DecodeOptions, build_hotwords, read_hotwords_file
from chunkformer.decoding.context_graph import ContextGraph
from chunkformer.decoding.ctc_search import collapse, prefix_beam_search
from chunkformer.decoding.fusion import PrefixScorer
from chunkformer.decoding.hotwords import phrase_normalizer
from chunkformer.text import TextNormalizer, TextNormConfig
from chunkformer.tokenizer import Tokenizer

VOCAB = ["<blank>", "<unk>", "▁nguyễn", "▁văn", "▁an", "▁ăn", "▁anh", "▁chào", "▁xin", "▁hai", "▁ô", "▁tê",
         "▁pê", "▁mã", "▁hòa", "▁bình"]
TOK = Tokenizer(VOCAB)
ID = {t.lstrip("▁"): i for i, t in enumerate(VOCAB)}


def posteriors(frames: list[dict[str, float]]) -> torch.Tensor:
    """(T, V) log-probs from per-frame {word or "-" (blank): probability}; the rest of each frame's mass is
    spread evenly over the other entries."""
    V = len(VOCAB)
    rows = []
    for f in frames:
        p = torch.zeros(V, dtype=torch.float64)
        for w, q in f.items():
            p[0 if w == "-" else ID[w]] = q
        rest = 1.0 - float(p.sum())
        free = p == 0
        p[free] = rest / int(free.sum())
        rows.append(p)
    return torch.log(torch.stack(rows))


# "nguyễn văn" then a syllable the model hears as "ăn" a little more than "an"
AMBIGUOUS = [{"nguyễn": 0.9}, {"-": 0.9}, {"văn": 0.9}, {"-": 0.9}, {"ăn": 0.5, "an": 0.4}, {"-": 0.9}]


def test_hotword_finds_the_phrase_the_plain_beam_misses() -> None:
    lp = posteriors(AMBIGUOUS)
    plain = CTCDecoder(TOK, DecodeOptions(method="beam", beam=4)).decode(lp)
    assert plain.text == "nguyễn văn ăn"
    hot = build_hotwords(["Nguyễn Văn An"], TOK, score=1.0)
    assert hot.rejected == [] and hot.phrases == ["nguyễn văn an"]
    biased = CTCDecoder(TOK, DecodeOptions(beam=4)).decode(lp, hotwords=hot.graph)  # auto: beam with hotwords
    assert biased.text == "nguyễn văn an"
    # the phrase was completed: its 3 tokens x 1.0 are kept on top of the CTC score of the path (a wide beam:
    # what it prunes weighs < 1e-4; the exhaustive test below checks exactness)
    exact = CTCDecoder(TOK, DecodeOptions(beam=100, prune_topk=len(VOCAB))).decode(lp, hotwords=hot.graph)
    ctc = dict((tuple(p), s) for p, s in prefix_beam_search(lp, beam=100, prune_topk=len(VOCAB)))
    assert exact.tokens == biased.tokens
    assert exact.score == pytest.approx(ctc[tuple(biased.tokens)] + 3.0, abs=1e-4)
    # an unrelated hotword leaves the result alone
    other = build_hotwords(["xin chào"], TOK, score=1.0)
    assert CTCDecoder(TOK, DecodeOptions(beam=4)).decode(lp, hotwords=other.graph).text == "nguyễn văn ăn"


def test_per_call_hotwords_switch_an_auto_decoder_per_utterance() -> None:
    """One "auto" decoder for every request of a server: without a list an utterance is decoded exactly as by
    ``method="greedy"`` (top-1 frames), with one by the hotword beam search; a greedy-only decoder, or top-1
    frames handed to a hotword search, is an error rather than a silently unbiased result."""
    lp = posteriors(AMBIGUOUS)
    graph = build_hotwords(["Nguyễn Văn An"], TOK, score=1.0).graph
    auto = CTCDecoder(TOK, DecodeOptions(beam=4))
    greedy = CTCDecoder(TOK, DecodeOptions(method="greedy"))
    assert auto.opts.frames(lp).k == 1 and auto.opts.frames(lp, graph).k == 4
    assert auto.decode(lp) == greedy.decode(lp)
    assert auto.decode(lp).text == "nguyễn văn ăn" and auto.decode(lp, hotwords=graph).text == "nguyễn văn an"
    with pytest.raises(ValueError, match="hotwords need the beam search"):
        greedy.decode(lp, hotwords=graph)
    with pytest.raises(ValueError, match="needs the top 4 entries of every frame, got 1"):
        auto.decode(auto.opts.frames(lp), hotwords=graph)


def test_unfinished_phrase_earns_nothing_at_the_end() -> None:
    """'nguyễn văn' matches 2 of the phrase's 3 tokens: +2 during the search, withdrawn at the end."""
    lp = posteriors([{"nguyễn": 0.9}, {"-": 0.9}, {"văn": 0.9}, {"-": 0.9}])
    graph = build_hotwords(["nguyễn văn an"], TOK, score=1.0).graph
    plain = prefix_beam_search(lp, beam=8)
    fused = prefix_beam_search(lp, beam=8, scorer=PrefixScorer(TOK.tokens, graph))
    assert fused[0][0] == plain[0][0] == [ID["nguyễn"], ID["văn"]]
    assert fused[0][1] == pytest.approx(plain[0][1], abs=1e-12)
    # and on the graph itself: the two steps earn +2, finalize takes them back
    s, total = 0, 0.0
    for tok in (ID["nguyễn"], ID["văn"]):
        bonus, s = graph.forward_one_step(s, tok)
        total += bonus
    assert total == pytest.approx(2.0) and graph.finalize(s)[0] == pytest.approx(-2.0)
    # a phrase abandoned mid-utterance ("nguyễn văn anh") gives its partial bonus back at once
    bonus, s2 = graph.forward_one_step(s, ID["anh"])
    assert bonus == pytest.approx(-2.0) and s2 == 0


def _occurrences(seq: tuple[int, ...], phrase: tuple[int, ...]) -> int:
    return sum(seq[i:i + len(phrase)] == phrase for i in range(len(seq) - len(phrase) + 1))


@pytest.mark.parametrize("seed", range(6))
def test_fused_scores_are_ctc_plus_completed_phrases(seed: int) -> None:
    """Exhaustive check on a tiny lattice: with nothing pruned, every returned score is the exact CTC
    log-probability plus n·s for every (overlapping) occurrence of a phrase, and nothing for partial ones."""
    phrases = {(1, 2): 1.0, (2, 3): 0.5}  # no shared first token: the scores stay per phrase
    g = torch.Generator().manual_seed(seed)
    T, V = 5, 4
    lp = torch.log_softmax(2.0 * torch.randn(T, V, generator=g, dtype=torch.float64), dim=-1)
    paths: dict[tuple[int, ...], list[float]] = defaultdict(list)
    for path in itertools.product(range(V), repeat=T):
        paths[tuple(collapse(list(path)))].append(sum(float(lp[t, u]) for t, u in enumerate(path)))
    sums = {k: math.log(sum(math.exp(x) for x in v)) for k, v in paths.items()}
    graph = ContextGraph([list(p) for p in phrases], list(phrases.values()))
    tokens = ["<blank>", "▁a", "▁b", "▁c"]
    fused = prefix_beam_search(lp, beam=10_000, prune_topk=V, scorer=PrefixScorer(tokens, graph))
    assert {tuple(p) for p, _ in fused} == set(sums)
    for p, score in fused:
        bonus = sum(_occurrences(tuple(p), ph) * len(ph) * s for ph, s in phrases.items())
        assert score == pytest.approx(sums[tuple(p)] + bonus, abs=1e-9), p


def test_context_graph_overlaps_and_matches() -> None:
    g = ContextGraph([[1, 2], [2, 3], [1, 2, 3, 4]], [1.0, 1.0, 1.0], ["ab", "bc", "abcd"])
    s, total = 0, 0.0
    for tok in (1, 2, 3, 4):
        bonus, s = g.forward_one_step(s, tok)
        total += bonus
        if tok == 2:
            assert g.matched(s) == ["ab"]
    assert g.matched(s) == ["abcd"]
    # 'ab' (2) + 'abcd' (4) completed; 'bc' is a suffix of 'abc' on the way, also completed (2)
    assert total + g.finalize(s)[0] == pytest.approx(2 + 4 + 2)
    with pytest.raises(ValueError, match="no tokens"):
        ContextGraph([[]], [1.0])
    with pytest.raises(ValueError, match="score must be > 0"):
        ContextGraph([[1]], [0.0])


def test_phrases_are_normalised_like_transcripts_and_unspellable_ones_reported() -> None:
    given = ["  Nguyễn   Văn An! ", "mã OTP", ("2", 3.0), "Hoà Bình", "Văn Xyzzy", "...", ("xin chào", -1.0),
             "nguyễn văn an"]
    hw = build_hotwords(given, TOK, score=1.5)
    # the project's transcript normaliser with the vocabulary's spelling: spell-out, numbers, tone marks
    norm = TextNormalizer(TextNormConfig(unknown_latin="keep"), vocab={t.lstrip("▁") for t in VOCAB})
    assert phrase_normalizer(TOK)("mã OTP").text == norm("mã OTP").text == "mã ô tê pê"
    assert hw.phrases == ["nguyễn văn an", "mã ô tê pê", "hai", "hòa bình"]  # the duplicate merged
    assert hw.scores == [1.5, 1.5, 3.0, 1.5]
    assert [r[0] for r in hw.rejected] == ["Văn Xyzzy", "...", "xin chào"]
    reasons = dict(hw.rejected)
    assert reasons["Văn Xyzzy"] == "the vocabulary cannot spell xyzzy"
    assert reasons["..."] == "empty phrase"
    assert "score must be" in reasons["xin chào"]
    assert hw.graph is not None and hw.graph.texts == hw.phrases
    nothing = build_hotwords(["zzz qqq"], TOK)
    assert nothing.graph is None and nothing.phrases == [] and len(nothing.rejected) == 1
    with pytest.raises(ValueError, match="finite number > 0"):
        build_hotwords(["an"], TOK, score=0.0)
    # 1e308 per token: two tokens' bonuses overflow to inf and withdrawing them gives NaN (the list did nothing)
    with pytest.raises(ValueError, match=r"^hotword score must be at most 1000 nats per token .*got 1e\+308$"):
        build_hotwords(["an"], TOK, score=1e308)
    huge = build_hotwords([("hai", 1e308), ("an", 1000.0)], TOK)
    assert huge.phrases == ["an"] and "at most 1000" in dict(huge.rejected)["hai"]


def test_hotwords_file_parsing_and_rejections(tmp_path) -> None:
    f = tmp_path / "hot.txt"
    f.write_text("# names\nNguyễn Văn An\n\n  tai nghe  \t 2.5\nmã OTP\t3\n", encoding="utf-8")
    assert read_hotwords_file(f) == [("Nguyễn Văn An", None), ("tai nghe", 2.5), ("mã OTP", 3.0)]
    for bad, what in [("an\tabc\n", "'abc'"), ("an\tinf\n", "'inf'"), ("an\t1\t2\n", "'1\\t2'")]:
        f.write_text("xin chào\n" + bad, encoding="utf-8")
        with pytest.raises(ValueError, match=re.escape(f"hot.txt:2: score {what} is not a finite number")):
            read_hotwords_file(f)
    with pytest.raises(FileNotFoundError, match="hotword file not found"):
        read_hotwords_file(tmp_path / "missing.txt")
