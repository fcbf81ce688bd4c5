"""Decoding-quality metrics: phrase recall counted on a hand-made example, word correctness labels, ROC AUC
against hand-computed values and brute force."""

from __future__ import annotations

import itertools
import random

import pytest

from chunkformer.decoding.metrics import (
    contains_any,
    list_effect,
    phrase_count,
    phrase_recall,
    ranks,
    roc_auc,
    spearman,
    word_labels,
)


def test_phrase_count_whole_words_only() -> None:
    words = "anh an ở an phú an".split()
    assert phrase_count(words, ("an",)) == 3  # not inside "anh"
    assert phrase_count(words, ("an", "phú")) == 1
    assert phrase_count("ba ba ba".split(), ("ba", "ba")) == 2  # overlapping runs count
    assert phrase_count([], ("an",)) == 0


def test_phrase_recall_hand_made() -> None:
    results = [
        # "an" twice in the reference (once inside "an phú"), the hypothesis keeps both "an" but not "an phú"
        ("u1", "chị an ở phường an phú", "chị an ở phường an phố"),
        # said twice, recognised once; "tủ lạnh" said elsewhere in the hypothesis still counts (min of counts)
        ("u2", "tủ lạnh và tủ lạnh mini", "tủ lạnh và tủ lành mi ni"),
        # a phrase only in the hypothesis is no recall and no penalty here (that is the WER's job)
        ("u3", "không có gì", "an không có gì"),
        # spelling variants count as equal after scoring normalisation (old / new tone-mark style, case)
        ("u4", "Thanh Hoá", "thanh hóa"),
    ]
    r = phrase_recall(results, ["an", "an phú", "tủ lạnh", "thanh hoá"])
    # in the references: an ×2 + an phú ×1 (u1), tủ lạnh ×2 (u2), thanh hoá ×1 (u4) = 6
    # recalled: an 2, an phú 0, tủ lạnh 1, thanh hoá 1 = 4
    assert (r.in_ref, r.recalled) == (6, 4)
    assert r.recall == 66.67
    assert sorted(r.missed) == [("u1", "an phú"), ("u2", "tủ lạnh")]
    assert (r + r).in_ref == 12


def test_recall_undefined_without_occurrences() -> None:
    with pytest.raises(ValueError, match="no phrase occurs"):
        _ = phrase_recall([("u", "xin chào", "xin chào")], ["an"]).recall


def test_contains_any() -> None:
    assert contains_any("Chị ở Hoà Bình", ["hòa bình"])
    assert not contains_any("chị ở hoà", ["hòa bình", "anh"])


def test_word_labels_follow_the_wer_alignment() -> None:
    # ref a b c d; hyp a x c d e: a ok, x substitution, c ok, d ok, e insertion
    assert word_labels("xin chào anh an", ["xin", "chao", "anh", "an", "nhé"]) == [True, False, True, True, False]
    assert word_labels("xin chào", []) == []
    assert word_labels("hòa bình", ["hoà", "bình"]) == [True, True]  # scoring spelling


def test_roc_auc_hand_computed() -> None:
    # pairs (pos, neg): 0.9 beats both, 0.8 beats both, 0.4 ties 0.4 (1/2) and beats 0.1: 5.5 of 6
    assert roc_auc([0.9, 0.8, 0.4], [0.4, 0.1]) == pytest.approx(5.5 / 6)
    assert roc_auc([1.0], [0.0]) == 1.0
    assert roc_auc([0.0], [1.0]) == 0.0
    assert roc_auc([0.5, 0.5], [0.5]) == 0.5
    with pytest.raises(ValueError, match="both classes"):
        roc_auc([0.3], [])


def test_roc_auc_equals_pair_counting() -> None:
    rng = random.Random(3)
    pos = [rng.choice([0.1, 0.2, 0.5, 0.7, 0.9]) for _ in range(40)]
    neg = [rng.choice([0.1, 0.2, 0.5, 0.6]) for _ in range(25)]
    pairs = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    assert roc_auc(pos, neg) == pytest.approx(pairs / (len(pos) * len(neg)))


def test_ranks_and_spearman() -> None:
    assert ranks([3.0, 1.0, 3.0, 2.0]) == [3.5, 1.0, 3.5, 2.0]
    assert spearman([1, 2, 3, 4], [10, 20, 30, 100]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


def test_list_effect_hand_made() -> None:
    """Recall plain → biased where the references hold a listed phrase; WER plain → biased where none does."""
    plain = [("a", "gặp chị lan ở bến tre", "gặp chị làn ở bến tre"), ("b", "cảm ơn chị", "cảm ơn chị"),
             ("c", "dạ vâng", "dạ vân")]
    biased = [("a", "gặp chị lan ở bến tre", "gặp chị lan ở bến tre"), ("b", "cảm ơn chị", "cảm ơn chị lan"),
              ("c", "dạ vâng", "dạ vâng")]
    e = list_effect(plain, biased, ["lan", "bến tre", "hà nội"])
    assert (e.occurrences, e.recall_plain, e.recall_biased) == (2, 50.0, 100.0)
    assert e.no_phrase_utts == 2  # b and c: 5 reference words, 1 error plain (vân), 1 biased (an inserted lan)
    assert (e.no_phrase_wer_plain, e.no_phrase_wer_biased) == (20.0, 20.0)
    none = list_effect(plain[1:], biased[1:], ["hà nội"])
    assert (none.occurrences, none.recall_plain, none.recall_biased) == (0, None, None)
    every = list_effect(plain[:1], biased[:1], ["lan"])
    assert (every.no_phrase_utts, every.no_phrase_wer_plain, every.no_phrase_wer_biased) == (0, None, None)
    held = list_effect(plain, biased, ["lan", "bến tre", "hà nội"], recalled=["bến tre"])
    assert (held.occurrences, held.recall_plain, held.recall_biased, held.no_phrase_utts) == (1, 100.0, 100.0, 2)
    with pytest.raises(ValueError, match="same utterances"):
        list_effect(plain, biased[::-1], ["lan"])
