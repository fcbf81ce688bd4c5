"""chunkformer.decoding.lm_classes: the catalogue file, phrase matching and balanced class expansion."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from chunkformer.decoding.lm_classes import expand_classes, find_phrases, phrase_index, read_class_file

NAMES = ["an", "bình", "nguyễn văn an"]
STREETS = ["lê lợi", "hai bà trưng", "láng"]


def test_class_file_comments_blanks_duplicates_and_a_phrase_in_two_classes(tmp_path: Path) -> None:
    f = tmp_path / "cat.tsv"
    f.write_text("\ufeff# catalogue\nname\tAn\n\nname\tBình\nname\tAn\nstreet\t Lê Lợi \ncity\tLê Lợi\n",
                 encoding="utf-8")
    assert read_class_file(f) == {"name": ["An", "Bình"], "street": ["Lê Lợi"], "city": ["Lê Lợi"]}
    f.write_text("\ufeffname\tAn\r\nname\tBình\r\n", encoding="utf-8")  # a Windows editor's file
    assert read_class_file(f) == {"name": ["An", "Bình"]}


@pytest.mark.parametrize(("text", "why"), [("name An\n", "expected 'class<TAB>phrase'"),
                                           ("\tAn\n", "expected 'class<TAB>phrase'"),
                                           ("name\t \n", "expected 'class<TAB>phrase'"),
                                           ("# only a comment\n\n", "no 'class<TAB>phrase' line")])
def test_a_bad_class_file_names_the_file_and_line(tmp_path: Path, text: str, why: str) -> None:
    f = tmp_path / "bad.tsv"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=rf"bad.tsv.*{why}"):
        read_class_file(f)
    f.write_bytes("name\tAn".encode("utf-16"))
    with pytest.raises(ValueError, match="bad.tsv: not UTF-8"):
        read_class_file(f)


def test_longest_phrase_first_whole_words_left_to_right() -> None:
    index = phrase_index({"name": NAMES, "street": STREETS})
    words = "anh nguyễn văn an ở hai bà trưng gần láng an".split()
    assert find_phrases(words, index) == [(1, 3, "name"), (5, 3, "street"), (9, 1, "street"), (10, 1, "name")]
    assert find_phrases("anh bình thường".split(), phrase_index({"name": ["bình thường vui"]})) == []
    # a phrase listed in two classes is replaced as the first class
    assert find_phrases(["láng"], phrase_index({"street": ["láng"], "ward": ["láng"]})) == [(0, 1, "street")]


def test_every_member_gets_its_share_of_the_carrier_sentences() -> None:
    sents = ["tên tôi là an", "xin chào", "tôi ở lê lợi", "anh an ở láng"]
    exp = expand_classes(sents, {"name": NAMES, "street": STREETS}, copies=6, seed=3)
    assert exp.matched_sentences == 3 and exp.occurrences == {"name": 2, "street": 2}
    assert len(exp.lines) == 18 and "xin chào" not in exp.lines
    names = Counter(line.removeprefix("tên tôi là ") for line in exp.lines[:6])
    assert names == {m: 2 for m in NAMES}  # a shuffled cycle: each member equally often
    for line in exp.lines[12:]:  # both phrases of the sentence replaced, the rest kept
        before, _, street = line.partition(" ở ")
        assert before.removeprefix("anh ") in NAMES and street in STREETS and line.startswith("anh ")
    again = expand_classes(sents, {"name": NAMES, "street": STREETS}, copies=6, seed=3)
    assert again.lines == exp.lines  # seeded
    assert expand_classes(sents, {"name": NAMES}, copies=0).lines == []


def test_no_member_or_negative_copies_is_an_error() -> None:
    with pytest.raises(ValueError, match="no class has a member"):
        expand_classes(["an"], {"name": ["", " "]}, copies=1)
    with pytest.raises(ValueError, match="copies must be >= 0"):
        expand_classes(["an"], {"name": ["an"]}, copies=-1)
