"""``run.sh --seed N`` seeds training only: the demo corpus (and so its test sets) keeps ``--corpus-seed`` (42), so a
second training seed is measured on the same sentences and audio. Stage -1 runs against a corpus folder whose
markers say it was built with the defaults: it must find it done instead of rebuilding it with seed N."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO

pytestmark = pytest.mark.slow  # runs run.sh (set-up check included): deselect with -m 'not slow'
sys.path.insert(0, str(REPO / "local"))
import make_demo_corpus as demo  # noqa: E402
import make_general_corpus as general  # noqa: E402

GENERAL_ARGS = ["--natural-hours", "2", "--num-val", "100", "--num-everyday", "0", "--num-numbers", "0",
                "--min-count", "0"]  # run.sh's stage -1


def built_with_defaults(corpus: Path, seed: int) -> None:
    """The two ``.done`` markers stage -1 leaves after building the demo corpus with ``seed``."""
    counts = {"train": demo.parse_counts(demo.DEFAULT_COUNTS["train"]),
              **{s: demo.parse_counts(demo.DEFAULT_COUNTS[s if s != "test_seen" else "test"])
                 for s in ("val", "test", "test_seen")}}
    (corpus / "general").mkdir(parents=True)
    (corpus / ".done").write_text(demo.corpus_key(counts, seed) + "\n")
    a = general.parse_args(["--out-dir", str(corpus / "general"), *GENERAL_ARGS])
    (corpus / "general" / ".done").write_text(general.run_key(a) + "\n")


def stage_minus_1(corpus: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(["./run.sh", "--stage", "-1", "--stop-stage", "-1", "--demo-corpus", str(corpus), *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_another_training_seed_keeps_the_demo_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "demo_corpus"
    built_with_defaults(corpus, 42)
    res = stage_minus_1(corpus, "--seed", "7")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "demo corpus: already done" in res.stderr and "general corpus: already done" in res.stderr
    assert not (corpus / "telephony").exists()  # nothing was synthesised
