"""LM estimation with KenLM's lmplz and the choice of LM weight / word bonus.

The lmplz tests need the binaries of ``local/build_kenlm.sh`` (``.venv/kenlm/bin``, or ``$KENLM_BIN``) and are
skipped, saying so, without them; the tuning and text tests run everywhere."""

from __future__ import annotations

import itertools
import math
import os
from pathlib import Path

import pytest
import torch

from chunkformer.decoding import ArpaLM, KenLM, LMError, LMFusion
from chunkformer.decoding.ctc_search import prefix_beam_search
from chunkformer.decoding.fusion import PrefixScorer
from chunkformer.decoding.lm_build import FALLBACK_NOTE, build_binary, estimate_arpa, lm_sentences, perplexity
from chunkformer.decoding.tuning import parse_grid, tune_fusion
from chunkformer.tokenizer import Tokenizer

from helpers import REPO

KENLM_BIN = Path(os.environ.get("KENLM_BIN", REPO / ".venv" / "kenlm" / "bin"))
needs_lmplz = pytest.mark.skipif(not (KENLM_BIN / "lmplz").is_file() or not (KENLM_BIN / "build_binary").is_file(),
                                 reason=f"KenLM's lmplz/build_binary are not built in {KENLM_BIN} "
                                        "(run local/build_kenlm.sh, or set KENLM_BIN)")
TOK = Tokenizer(["<blank>", "▁xin", "▁chào", "▁anh", "▁chị", "▁ạ", "▁em", "▁cảm", "▁ơn"])
TEXT = ["xin chào anh ạ", "xin chào chị ạ", "em chào anh", "em cảm ơn anh ạ", "cảm ơn chị", "xin chào em",
        "em cảm ơn chị ạ", "chào anh"]


def test_tuning_picks_the_point_a_hand_made_scorer_says_is_best() -> None:
    grid = parse_grid("0.2,0.5,1.0:0,1,2")
    assert len(grid) == 9 and (0.5, 1.0) in grid
    table = {(w, b): 30.0 - 5 * (w == 0.5) - 2 * b for w, b in grid}  # best: (0.5, 2)
    calls: list[tuple[float, float]] = []

    def scorer(w: float, b: float) -> float:
        calls.append((w, b))
        return table[(w, b)]

    choice = tune_fusion(grid, scorer)
    assert choice.point == (0.5, 2.0) and choice.error == 21.0 and sorted(calls) == sorted(grid)
    assert choice.to_dict()["grid"]["0.5,2"] == 21.0
    # a tie goes to the smaller weight, then the smaller bonus: the least LM that is as good
    assert tune_fusion(grid, lambda w, b: 10.0 if w >= 0.5 else 11.0).point == (0.5, 0.0)
    assert parse_grid("0.3") == [(0.3, 0.0)]
    for bad in ("", "0,0.5:1", "a:1", "0.5:"):
        with pytest.raises(ValueError, match="LM grid"):
            parse_grid(bad)


def test_lm_text_is_the_decoders_words() -> None:
    tok = Tokenizer(["<blank>", "▁xin", "▁ch", "ào", "▁anh"])  # "chào" is two pieces, one word
    lines, skipped = lm_sentences(["xin chào anh", "  xin   anh ", "xin chị", ""], tok)
    assert lines == ["xin chào anh", "xin anh"] and skipped == 1


def test_perplexity_counts_end_of_sentence(tmp_path: Path) -> None:
    arpa = tmp_path / "lm.arpa"
    arpa.write_text("\\data\\\nngram 1=4\n\n\\1-grams:\n-1.0\t<unk>\n-99\t<s>\n-0.5\t</s>\n-0.3\tan\n\n\\end\\\n",
                    encoding="utf-8")
    lm = ArpaLM(arpa)
    want = math.exp(-(lm.sentence_score(["an", "an"]) + lm.sentence_score(["an"])) / 5)  # 3 words + 2 </s>
    assert perplexity(lm, ["an an", "an"]) == pytest.approx(want)


def test_estimation_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(LMError, match="lmplz not found"):
        estimate_arpa(["xin chào"], 3, tmp_path / "lm.arpa", tmp_path / "nope" / "lmplz")
    with pytest.raises(LMError, match="no LM training text"):
        estimate_arpa([], 3, tmp_path / "lm.arpa", tmp_path / "lmplz")


@needs_lmplz
def test_lmplz_lm_scores_the_same_through_kenlm_and_the_reference(tmp_path: Path) -> None:
    """An LM estimated by lmplz on a tiny text (with fallback discounts: the closed form fails on so little
    text, and without --discount_fallback lmplz would stop) scores every word
    sequence, and every fused beam-search hypothesis, the same through KenLM (ARPA and build_binary's binary)
    as through the pure-Python ARPA reader."""
    arpa, binary = tmp_path / "lm.arpa", tmp_path / "lm.bin"
    lines, _ = lm_sentences(TEXT, TOK)
    log = estimate_arpa(lines, 3, arpa, KENLM_BIN / "lmplz")
    assert FALLBACK_NOTE in log and "ngram 3=" in arpa.read_text(encoding="utf-8")
    build_binary(arpa, binary, KENLM_BIN / "build_binary")
    ref = ArpaLM(arpa)
    assert ref.order == 3 and all(w in ref for line in lines for w in line.split())
    kens = [KenLM(arpa), KenLM(binary)]
    words = ["xin", "chào", "anh", "ạ", "em", "ơn", "ngoài"]  # "ngoài" is not in the LM: <unk>
    for n in range(5):
        for seq in itertools.product(words, repeat=n):
            for ken in kens:
                assert ken.sentence_score(list(seq)) == pytest.approx(ref.sentence_score(list(seq)), abs=1e-4)
    def fused(lp: torch.Tensor, lm: object) -> list[tuple[list[int], float]]:
        return prefix_beam_search(lp, beam=16, prune_topk=len(TOK),
                                  scorer=PrefixScorer(TOK.tokens, None, LMFusion(lm, 0.8, 0.5)))

    g = torch.Generator().manual_seed(0)
    for _ in range(4):
        lp = torch.log_softmax(2.0 * torch.randn(8, len(TOK), generator=g, dtype=torch.float64), dim=-1)
        want = fused(lp, ref)
        for ken in kens:
            got = fused(lp, ken)
            assert [p for p, _ in got] == [p for p, _ in want]
            assert [s for _, s in got] == pytest.approx([s for _, s in want], abs=1e-3)
    assert perplexity(kens[1], lines) == pytest.approx(perplexity(ref, lines), rel=1e-4)
