"""flashlight-text's LM beam search behind CTCDecoder: exactly the best Viterbi hypothesis of the fused score
(brute force over every path of small lattices), chosen only where it applies, refused where it cannot run."""

from __future__ import annotations

import itertools
import math
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from chunkformer.decoding import ArpaLM, CTCDecoder, DecodeOptions, LMFusion, build_hotwords, load_lm
from chunkformer.decoding.ctc_search import FrameTopK, collapse
from chunkformer.decoding.flashlight_search import FlashlightLMSearch, unusable
from chunkformer.tokenizer import Tokenizer

from helpers import SMALL_ARPA

# requirements.txt installs flashlight-text where it has wheels (Python 3.10-3.12); elsewhere decoding uses ours
pytestmark = pytest.mark.skipif(sys.version_info >= (3, 13), reason="flashlight-text 0.0.7 has no wheel here")

# whole words, as the Vietnamese syllable vocabularies; <unk> stands for flashlight's silence
WORDS = Tokenizer(["<blank>", "▁an", "▁ba", "▁anh", "<unk>"])
PIECES = Tokenizer(["<blank>", "▁an", "▁ba", "h"])  # "h" continues a word: not a lexicon of whole words


@pytest.fixture()
def arpa(tmp_path: Path) -> Path:
    path = tmp_path / "lm.arpa"
    path.write_text(SMALL_ARPA, encoding="utf-8")
    return path


def viterbi_reference(lp: torch.Tensor, lm: ArpaLM, weight: float, bonus: float) -> dict[tuple[int, ...], float]:
    """Every label sequence: its best single path's log-prob + weight · ln P_lm (with </s>) + bonus · words,
    over the paths flashlight's lexicon search allows: a word token held over two frames is not one of them
    (module docstring of chunkformer.decoding.flashlight_search)."""
    T, V = lp.shape
    best: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(V), repeat=T):
        if any(a == b != 0 for a, b in itertools.pairwise(path)):
            continue
        labels = tuple(collapse(list(path)))
        s = sum(float(lp[t, u]) for t, u in enumerate(path))
        best[labels] = max(best.get(labels, -math.inf), s)
    return {labels: s + weight * lm.sentence_score(WORDS.decode(labels).split()) + bonus * len(labels)
            for labels, s in best.items()}


@pytest.mark.parametrize("seed", range(8))
def test_flashlight_finds_the_best_fused_viterbi_hypothesis(arpa: Path, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    T, V = 5, len(WORDS)
    raw = 2.0 * torch.randn(T, V, generator=g, dtype=torch.float64)
    raw[:, 4] = -1e9  # the silence token is never emitted
    lp = torch.log_softmax(raw, dim=-1)
    weight, bonus = 0.5 + 0.1 * seed, 0.3 * (seed % 3)
    reference = viterbi_reference(lp, ArpaLM(arpa), weight, bonus)
    best = max(reference, key=reference.get)
    fusion = LMFusion(load_lm(arpa), weight, bonus, "flashlight")
    dec = CTCDecoder(WORDS, DecodeOptions(beam=1000, prune_topk=V, lm=fusion))
    assert isinstance(dec.lm_search, FlashlightLMSearch)
    tokens, score = dec.lm_search.search(FrameTopK.from_log_probs(lp.float(), V))
    assert tuple(tokens) == best
    assert score == pytest.approx(reference[best], abs=1e-3)
    assert dec.decode(lp.float()).tokens == tokens


def test_the_engine_is_chosen_where_flashlight_applies(arpa: Path) -> None:
    """auto: flashlight for a whole-word vocabulary with an LM file, ours for word pieces, with hotwords, for
    ``search="ours"`` and without an LM; ``"flashlight"`` refuses what it cannot run, saying why."""
    fusion = LMFusion(load_lm(arpa), 0.5, 1.0)
    assert unusable(WORDS.tokens, fusion) is None
    assert isinstance(CTCDecoder(WORDS, DecodeOptions(lm=fusion)).lm_search, FlashlightLMSearch)
    assert CTCDecoder(WORDS, DecodeOptions(lm=replace(fusion, search="ours"))).lm_search is None
    assert CTCDecoder(WORDS, DecodeOptions()).lm_search is None
    assert CTCDecoder(PIECES, DecodeOptions(lm=fusion)).lm_search is None
    assert unusable(PIECES.tokens, fusion) == "the vocabulary has word pieces (tokens without a leading ▁)"
    with pytest.raises(ValueError, match="flashlight cannot run this LM search: the vocabulary has word pieces"):
        CTCDecoder(PIECES, DecodeOptions(lm=replace(fusion, search="flashlight")))
    no_silence = Tokenizer(["<blank>", "▁an", "▁ba"])
    assert "no <sos/eos> or <unk>" in unusable(no_silence.tokens, fusion)
    with pytest.raises(ValueError, match="unknown LM search 'c'"):
        LMFusion(fusion.lm, search="c")
    # hotwords go to our search, which takes them with the LM: the same answer as the python engine's
    lp = torch.log_softmax(torch.randn(8, len(WORDS), generator=torch.Generator().manual_seed(3)), dim=-1)
    graph = build_hotwords(["ba anh"], WORDS).graph
    ours = CTCDecoder(WORDS, DecodeOptions(lm=replace(fusion, search="ours"))).decode(lp, hotwords=graph)
    auto = CTCDecoder(WORDS, DecodeOptions(lm=fusion)).decode(lp, hotwords=graph)
    assert (auto.tokens, auto.score) == (ours.tokens, ours.score)
    assert CTCDecoder(WORDS, DecodeOptions(lm=fusion)).lm_search_name == "flashlight"
    assert CTCDecoder(WORDS, DecodeOptions(lm=fusion, hotwords=graph)).lm_search_name == "ours"


def test_long_inputs_go_in_blocks_with_the_same_result(arpa: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Frames fed in blocks of 7 (as long inputs are, in blocks of BLOCK) give exactly the one-block result."""
    g = torch.Generator().manual_seed(11)
    raw = 3.0 * torch.randn(60, len(WORDS), generator=g)
    raw[:, 4] = -1e9
    frames = FrameTopK.from_log_probs(torch.log_softmax(raw, dim=-1), 4)
    search = FlashlightLMSearch(WORDS.tokens, 0, LMFusion(load_lm(arpa), 0.7, 0.5), beam=4)
    whole = search.search(frames)
    monkeypatch.setattr("chunkformer.decoding.flashlight_search.BLOCK", 7)
    assert search.search(frames) == whole and len(whole[0]) > 5
