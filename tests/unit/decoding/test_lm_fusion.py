"""n-gram LM shallow fusion: the ARPA back-off scorer by hand, KenLM against it, and the fused prefix beam
search against brute-force enumeration of every label sequence of a small lattice."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from pathlib import Path

import pytest
import torch

from chunkformer.decoding import ArpaLM, CTCDecoder, DecodeOptions, LMError, LMFusion, load_lm
from chunkformer.decoding.ctc_search import collapse, prefix_beam_search
from chunkformer.decoding.fusion import PrefixScorer
from chunkformer.decoding.lm import LN10
from chunkformer.tokenizer import Tokenizer

from helpers import SMALL_ARPA

# "h" continues a word: "an" + "h" is the word "anh"; "ba" + "h" is "bah", not in the LM (<unk>)
TOK = Tokenizer(["<blank>", "▁an", "▁ba", "h"])


@pytest.fixture()
def arpa(tmp_path: Path) -> Path:
    path = tmp_path / "lm.arpa"
    path.write_text(SMALL_ARPA, encoding="utf-8")
    return path


def lms(arpa: Path) -> list:
    out = [ArpaLM(arpa)]
    try:
        from chunkformer.decoding import KenLM

        out.append(KenLM(arpa))
    except LMError:  # the kenlm module is optional: ArpaLM is the reference either way
        pass
    return out


def test_arpa_back_off_by_hand(arpa: Path) -> None:
    lm = ArpaLM(arpa)
    assert lm.order == 3 and "anh" in lm and "xyz" not in lm

    def log10(state: tuple[str, ...], word: str) -> float:
        return lm.score(state, word)[0] / LN10

    assert log10(("<s>",), "an") == pytest.approx(-0.20)  # listed bigram
    assert log10(("<s>", "an"), "ba") == pytest.approx(-0.10)  # listed trigram
    assert log10(("an", "ba"), "an") == pytest.approx(-0.15 + -0.25 + -0.50)  # bo(an ba) + bo(ba) + p(an)
    assert log10(("<s>", "ba"), "an") == pytest.approx(-0.12 + -0.25 + -0.50)  # bo(<s> ba) + bo(ba) + p(an)
    assert log10(("<s>", "anh"), "ba") == pytest.approx(-0.10 + -0.60)  # no "<s> anh": bo(anh) + p(ba)
    assert log10(("ba",), "xyz") == pytest.approx(-0.25 + -1.0)  # an unknown word is <unk>: bo(ba) + p(<unk>)
    assert lm.score(("ba",), "xyz")[1] == ("ba", "<unk>")
    assert lm.sentence_score(["an", "ba", "anh"]) / LN10 == pytest.approx(-0.20 - 0.10 - 0.05 - 0.25)  # anh </s>
    with pytest.raises(LMError, match="not found"):
        ArpaLM(arpa.parent / "missing.arpa")
    (arpa.parent / "bad.arpa").write_text("not an arpa file\n", encoding="utf-8")
    with pytest.raises(LMError, match="no n-gram sections"):
        ArpaLM(arpa.parent / "bad.arpa")


def test_kenlm_agrees_with_the_reference_scorer(arpa: Path) -> None:
    pytest.importorskip("kenlm")
    ref, ken = ArpaLM(arpa), load_lm(arpa)
    assert type(ken).__name__ == "KenLM"
    for n in range(5):
        for words in itertools.product(["an", "ba", "anh", "h", "xyz"], repeat=n):
            assert ken.sentence_score(list(words)) == pytest.approx(ref.sentence_score(list(words)), abs=1e-5)


def brute_force(lp: torch.Tensor, lm, weight: float, bonus: float) -> dict[tuple[int, ...], float]:
    """Every label sequence of the lattice: exact CTC log-prob (sum over all V^T paths) + weight · LM
    + bonus · words."""
    T, V = lp.shape
    paths: dict[tuple[int, ...], list[float]] = defaultdict(list)
    for path in itertools.product(range(V), repeat=T):
        paths[tuple(collapse(list(path)))].append(sum(float(lp[t, u]) for t, u in enumerate(path)))
    out = {}
    for labels, scores in paths.items():
        words = TOK.decode(labels).split()
        out[labels] = math.log(sum(math.exp(s) for s in scores)) + weight * lm.sentence_score(words) \
            + bonus * len(words)
    return out


@pytest.mark.parametrize("seed", range(8))
def test_fused_beam_equals_brute_force(arpa: Path, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    T, V = 5, len(TOK)
    lp = torch.log_softmax(2.0 * torch.randn(T, V, generator=g, dtype=torch.float64), dim=-1)
    weight, bonus = 0.5 + 0.1 * seed, 0.3 * (seed % 3)
    reference = brute_force(lp, ArpaLM(arpa), weight, bonus)
    best = max(reference, key=lambda k: (reference[k], tuple(-x for x in k)))
    for lm in lms(arpa):
        fusion = LMFusion(lm, weight, bonus)
        nbest = prefix_beam_search(lp, beam=10_000, prune_topk=V, scorer=PrefixScorer(TOK.tokens, None, fusion))
        assert {tuple(p) for p, _ in nbest} == set(reference)
        for p, score in nbest:
            assert score == pytest.approx(reference[tuple(p)], abs=1e-5)
        assert tuple(nbest[0][0]) == best
        # through the decoder API (auto: beam with an LM) with an ordinary beam: the same best sequence; its
        # score misses the alignments the beam pruned, so it is at most the exact one
        hyp = CTCDecoder(TOK, DecodeOptions(beam=16, prune_topk=V, lm=fusion)).decode(lp)
        assert tuple(hyp.tokens) == best
        assert reference[best] - 0.1 < hyp.score <= reference[best] + 1e-5


def test_lm_changes_the_choice(arpa: Path) -> None:
    """The acoustics slightly prefer "ba an", the LM strongly prefers "an ba": fusion picks "an ba"."""
    p = torch.tensor([[0.05, 0.45, 0.50, 0.0], [0.9, 0.05, 0.05, 0.0], [0.05, 0.50, 0.45, 0.0],
                      [0.9, 0.05, 0.05, 0.0]], dtype=torch.float64) + 1e-3
    lp = torch.log(p / p.sum(-1, keepdim=True))
    assert TOK.decode(prefix_beam_search(lp, beam=8)[0][0]) == "ba an"
    fused = CTCDecoder(TOK, DecodeOptions(lm=LMFusion(ArpaLM(arpa), 1.0))).decode(lp)
    assert fused.text == "an ba"


def test_load_lm_missing_file(tmp_path: Path) -> None:
    with pytest.raises(LMError, match="not found"):
        load_lm(tmp_path / "nope.arpa")


def test_a_file_kenlm_cannot_read_is_one_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("kenlm")
    unigram = tmp_path / "uni.arpa"  # KenLM's hashed models need at least bigrams
    unigram.write_text("\\data\\\nngram 1=3\n\n\\1-grams:\n-1\t<unk>\n-99\t<s>\n-1\t</s>\n\n\\end\\\n",
                       encoding="utf-8")
    with pytest.raises(LMError, match=r"uni.arpa: KenLM cannot read this LM: .*at least a bigram model") as e:
        load_lm(unigram)
    assert "\n" not in str(e.value)
    (tmp_path / "junk.bin").write_bytes(b"not an lm")
    with pytest.raises(LMError, match="junk.bin: KenLM cannot read this LM"):
        load_lm(tmp_path / "junk.bin")
    (tmp_path / "random.bin").write_bytes(b"\xfb\xff" * 200)  # bytes that are not UTF-8 (was: no file name)
    with pytest.raises(LMError, match="random.bin: KenLM cannot read this LM: neither an ARPA file nor a KenLM"):
        load_lm(tmp_path / "random.bin")


def test_the_python_scorer_names_a_file_that_is_not_text(tmp_path: Path) -> None:
    (tmp_path / "lm.arpa").write_bytes(b"\\data\\\n\xff\xfe")
    with pytest.raises(LMError, match=r"lm.arpa: not an ARPA file \(not UTF-8 text at byte 7\)"):
        ArpaLM(tmp_path / "lm.arpa")


def test_load_lm_falls_back_to_the_pure_python_scorer(arpa: Path, monkeypatch) -> None:
    import chunkformer.decoding.lm as lm_module

    def missing() -> None:
        raise LMError("the kenlm Python module is not installed")

    monkeypatch.setattr(lm_module, "_kenlm_module", missing)
    assert isinstance(load_lm(arpa), ArpaLM)
    binary = arpa.with_suffix(".bin")
    binary.write_bytes(b"\0")
    with pytest.raises(LMError, match="not installed"):  # a binary LM needs kenlm
        load_lm(binary)
