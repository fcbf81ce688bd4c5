"""The demo's hotword catalogue (local/callbot_catalogue.py): every held-out lexical slot value is in, the
distractors occur in no test reference, at least as many distractors as held-out values, >= 100 phrases; the
file it writes is a hotwords file the demo vocabulary can spell entirely. References come from the real
generator (test patterns with any values, training patterns with held-out values), as the demo corpus's."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from helpers import REPO

sys.path.insert(0, str(REPO / "local"))
from callbot_catalogue import (  # noqa: E402
    DOMAINS,
    LEXICAL_SLOTS,
    NUMERIC_SLOTS,
    build_catalogue,
    main,
    reference_texts,
)
from vi_callbot_heldout import TEST_PATTERNS  # noqa: E402
from vi_callbot_text import HELD_VALUES, TRAIN_PATTERNS, TRAIN_VALUES, distinct_sentences  # noqa: E402

from chunkformer.decoding import build_hotwords, read_hotwords_file  # noqa: E402
from chunkformer.decoding.lm_classes import read_class_file  # noqa: E402
from chunkformer.tokenizer import Tokenizer  # noqa: E402

DEMO_VOCAB = REPO / "egs" / "callbot" / "demo" / "pretrained" / "vocab.txt"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo-shaped corpus of test lists (no audio needed): 150 test + 150 test_seen sentences per domain."""
    root = tmp_path_factory.mktemp("corpus")
    sources = {"test": (TEST_PATTERNS, "any"), "test_seen": (TRAIN_PATTERNS, "heldout")}
    for d, dom in enumerate(DOMAINS):
        style = "conversation" if dom == "conversation" else "reading"
        for s, (split, (patterns, part)) in enumerate(sources.items()):
            out = root / dom / split
            out.mkdir(parents=True)
            rows = [f"wavs/{dom}-{split}-{i:05d}.wav\t{x.text}"
                    for i, x in enumerate(distinct_sentences(150, 100 * d + s, patterns, style, part))]
            (out / "list.tsv").write_text("wav\ttxt\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return root


def padded(text: str) -> str:
    return f" {' '.join(text.split())} "


def test_catalogue_contents(corpus: Path) -> None:
    refs = reference_texts(corpus)
    assert len(refs) == 900
    cat = build_catalogue(refs)
    held = [v for s in LEXICAL_SLOTS for v in HELD_VALUES[s]]
    assert list(cat.held_out) == held and len(held) > 50  # every held-out value of the lexical slots, in order
    assert not set(LEXICAL_SLOTS) & NUMERIC_SLOTS and "name" in LEXICAL_SLOTS and "product" in LEXICAL_SLOTS
    train = {v for s in LEXICAL_SLOTS for v in TRAIN_VALUES[s]}
    assert set(cat.distractors) <= train  # training-side values only
    assert len(cat.distractors) >= len(cat.held_out) and len(cat.phrases) >= 100
    assert len(set(cat.phrases)) == len(cat.phrases)
    # plain substring check, independent of the module's word matching (the generator text is normalised)
    assert not [(p, r) for p in cat.distractors for r in refs if padded(p) in padded(r)]
    # and the catalogue keeps every training value that is absent: none was dropped for another reason
    assert {v for v in train if not any(padded(v) in padded(r) for r in refs)} == set(cat.distractors)


def test_too_few_distractors_is_one_clear_error() -> None:
    every_train_value = [" ".join(v for s in LEXICAL_SLOTS for v in TRAIN_VALUES[s])]
    with pytest.raises(ValueError, match="fewer than the 78 held-out values"):
        build_catalogue(every_train_value)


def test_cli_writes_a_hotwords_file_the_demo_vocab_spells(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "cat" / "catalogue.txt"
    assert main(["--corpus", str(corpus), "--out", str(out)]) == 0
    phrases = read_hotwords_file(out)
    assert len(phrases) == len(build_catalogue(reference_texts(corpus)).phrases)
    hot = build_hotwords(phrases, Tokenizer.from_file(DEMO_VOCAB))
    assert hot.rejected == [] and len(hot.phrases) == len(phrases)


def test_classes_file_lists_every_phrase_under_its_slot(corpus: Path, tmp_path: Path) -> None:
    """``--classes-out``: the class LM's catalogue (train_lm --classes) holds the same phrases, each under a slot
    that has it as a value."""
    out, classes = tmp_path / "catalogue.txt", tmp_path / "classes.tsv"
    assert main(["--corpus", str(corpus), "--out", str(out), "--classes-out", str(classes)]) == 0
    by_class = read_class_file(classes)
    assert set(by_class) <= set(LEXICAL_SLOTS) and "name" in by_class
    assert {p for ps in by_class.values() for p in ps} == {p for p, _ in read_hotwords_file(out)}
    for slot, phrases in by_class.items():
        assert set(phrases) <= set(HELD_VALUES[slot]) | set(TRAIN_VALUES[slot])


def test_cli_missing_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--corpus", str(tmp_path / "nope"), "--out", str(tmp_path / "c.txt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "list.tsv: corpus list not found" in err and err.count("\n") == 1
