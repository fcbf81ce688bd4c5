"""Demo corpus: Vietnamese number words, layout/rates of a tiny generated corpus, disjoint splits, determinism,
and every sentence spellable by the demo vocabulary."""

from __future__ import annotations

import collections
import csv
import hashlib
import random
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "local"))
from make_demo_corpus import DEFAULT_COUNTS, DOMAINS, draw_texts, parse_counts, templates_missing_from_train  # noqa: E402
from vi_callbot_text import NUM_TEMPLATES, distinct_sentences, number_to_words, sentence  # noqa: E402

from chunkformer.tokenizer import Tokenizer  # noqa: E402


@pytest.mark.parametrize("n,words", [(0, "không"), (5, "năm"), (10, "mười"), (15, "mười lăm"), (21, "hai mươi mốt"),
                                     (24, "hai mươi tư"), (55, "năm mươi lăm"), (105, "một trăm linh năm"),
                                     (110, "một trăm mười"), (1005, "một nghìn không trăm linh năm"),
                                     (2_500_000, "hai triệu năm trăm nghìn")])
def test_number_to_words(n, words):
    assert number_to_words(n) == words


def test_generator_makes_thousands_of_distinct_spellable_sentences():
    reading = distinct_sentences(3000, seed=1)
    conversation = distinct_sentences(300, seed=2, style="conversation", exclude={s.base for s in reading})
    texts = [s.text for s in reading + conversation]
    assert len(set(texts)) == len(texts)
    assert sum(s.text != s.base for s in conversation) > 0.8 * len(conversation)  # fillers on the base sentence
    tok = Tokenizer.from_file(ROOT / "egs/callbot/demo/vocab.txt")
    assert all(not tok.unspellable(t) for t in texts)
    assert len(tok) > 6000  # broad syllable coverage, not only the generator's words


def test_every_template_has_room_for_the_held_out_splits_and_reaches_train():
    """A template with few fillings would be used up by test/val (drawn first) and never be heard in train."""
    r = random.Random(0)
    for k in range(NUM_TEMPLATES):
        fillings = {sentence(r, "reading", k).base for _ in range(600)}
        assert len(fillings) >= 140, (k, len(fillings), next(iter(fillings)))
    counts = {split: parse_counts(spec) for split, spec in DEFAULT_COUNTS.items()}
    lists = draw_texts(counts, seed=42)
    assert templates_missing_from_train(lists) == {}
    held = {s.base for (_, split), sents in lists.items() if split != "train" for s in sents}
    train = {s.base for (_, split), sents in lists.items() if split == "train" for s in sents}
    assert len(held) == 3 * (60 + 150) and not held & train  # disjoint across domains, fillers aside
    for domain in DOMAINS:
        per_template = collections.Counter(s.template for s in lists[(domain, "test")])
        assert max(per_template.values()) - min(per_template.values()) <= 1  # drawn in rounds


def make(out: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "local/make_demo_corpus.py"), "--out-dir", str(out),
                    "--num-train", "3", "--num-val", "2", "--num-test", "2", "--seed", "7", "--jobs", "1"],
                   check=True, capture_output=True)


def read(tsv: Path) -> list[dict]:
    with tsv.open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_tiny_corpus_layout_rates_disjoint_and_deterministic(tmp_path):
    make(tmp_path / "a")
    make(tmp_path / "b")
    rates = {"reading": 16000, "conversation": 16000, "telephony": 8000}
    for domain, rate in rates.items():
        texts = {}
        for split in ("train", "val", "test"):
            rows = read(tmp_path / "a" / domain / split / "list.tsv")
            assert len(rows) == {"train": 3, "val": 2, "test": 2}[split]
            texts[split] = {r["txt"] for r in rows}
            for r in rows:
                wav = tmp_path / "a" / domain / split / r["wav"]
                assert sf.info(wav).samplerate == rate and sf.info(wav).duration > 0.5
                twin = tmp_path / "b" / domain / split / r["wav"]
                assert hashlib.sha256(wav.read_bytes()).digest() == hashlib.sha256(twin.read_bytes()).digest()
        assert not (texts["train"] & texts["test"]) and not (texts["val"] & texts["test"])
        assert not (texts["train"] & texts["val"])
    res = subprocess.run([sys.executable, str(ROOT / "local/make_demo_corpus.py"), "--out-dir", str(tmp_path / "a"),
                          "--num-train", "3", "--num-val", "2", "--num-test", "2", "--seed", "7"],
                         capture_output=True, text=True)
    assert "already done" in res.stderr
