"""local/make_demo_corpus.py end to end: layout, sample rates, disjoint splits and determinism of a tiny generated
corpus (two runs byte-identical), and a rerun that finds the corpus done."""

from __future__ import annotations

import csv
import hashlib
import itertools
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from helpers import REPO

sys.path.insert(0, str(REPO / "local"))
from make_demo_corpus import SPLITS  # noqa: E402

pytestmark = pytest.mark.slow
ROOT = REPO

COUNTS = {"train": 3, "val": 2, "test": 2, "test_seen": 1}


def make(out: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "local/make_demo_corpus.py"), "--out-dir", str(out),
                    "--num-train", "3", "--num-val", "2", "--num-test", "2", "--num-test-seen", "1", "--seed", "7",
                    "--jobs", "1"], check=True, capture_output=True)


def read(tsv: Path) -> list[dict]:
    with tsv.open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_tiny_corpus_layout_rates_disjoint_and_deterministic(tmp_path):
    make(tmp_path / "a")
    make(tmp_path / "b")
    rates = {"reading": 16000, "conversation": 16000, "telephony": 8000}
    for domain, rate in rates.items():
        texts = {}
        for split in SPLITS:
            rows = read(tmp_path / "a" / domain / split / "list.tsv")
            assert len(rows) == COUNTS[split]
            texts[split] = {r["txt"] for r in rows}
            for r in rows:
                wav = tmp_path / "a" / domain / split / r["wav"]
                assert sf.info(wav).samplerate == rate and sf.info(wav).duration > 0.5
                twin = tmp_path / "b" / domain / split / r["wav"]
                assert hashlib.sha256(wav.read_bytes()).digest() == hashlib.sha256(twin.read_bytes()).digest()
            assert (tmp_path / "a" / domain / split / "list.tsv").read_bytes() == \
                (tmp_path / "b" / domain / split / "list.tsv").read_bytes()
        for a, b in itertools.combinations(SPLITS, 2):
            assert not texts[a] & texts[b], (domain, a, b)
    res = subprocess.run([sys.executable, str(ROOT / "local/make_demo_corpus.py"), "--out-dir", str(tmp_path / "a"),
                          "--num-train", "3", "--num-val", "2", "--num-test", "2", "--num-test-seen", "1",
                          "--seed", "7"], capture_output=True, text=True)
    assert "already done" in res.stderr
