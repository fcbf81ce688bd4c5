"""The committed demo checkpoint (egs/callbot/demo/pretrained): official folder format, size, what it records,
and the premise of the demo on fresh synthetic speech: good on clean reading, lost on the phone line."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from chunkformer.checkpoint import load_model, safe_load
from chunkformer.decoding.ctc_search import greedy_search
from chunkformer.decoding.scoring import compute_wer
from chunkformer.frontend import load_features
from chunkformer.model.masked_batch import Context
from chunkformer.text import normalize_text

from helpers import REPO

ROOT = REPO
sys.path.insert(0, str(ROOT / "local"))
from make_demo_corpus import DEFAULT_COUNTS, draw_texts, parse_counts  # noqa: E402

pytestmark = pytest.mark.slow  # end-to-end: deselect with -m 'not slow'

DEMO = ROOT / "egs/callbot/demo/pretrained"


def test_official_folder_loads_strictly_and_is_small() -> None:
    names = {p.name for p in DEMO.iterdir()}
    assert {"config.yaml", "pytorch_model.bin", "vocab.txt", "global_cmvn"} <= names
    size = sum(p.stat().st_size for p in DEMO.iterdir())
    assert size <= 25 * 2**20, f"{size / 2**20:.1f} MiB"
    loaded = load_model(DEMO)
    sd = safe_load(DEMO / "pytorch_model.bin")
    missing, unexpected = loaded.model.load_state_dict(sd, strict=False)
    assert not missing and not unexpected
    assert (DEMO / "vocab.txt").read_bytes() == (ROOT / "egs/callbot/demo/vocab.txt").read_bytes()
    info = loaded.config["demo_pretraining"]
    assert info["steps"] > 0 and "no call-bot sentences" in info["data"] and info["val_wer"] < 10
    # the record of its curriculum: phases whose steps add up, and a curve that ends at the released WER
    assert sum(ph["steps"] for ph in info["phases"]) == info["steps"]
    assert min(wer for _, _, wer in info["curve"]) == info["val_wer"]


@pytest.fixture(scope="module")
def fresh_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Test sentences the checkpoint never saw: the first 12 of the default corpus's test sets (seed 42, test drawn
    first), which its reading train split, the checkpoint's only data, excludes; checked here, not assumed."""
    out = tmp_path_factory.mktemp("demo_corpus")
    subprocess.run([sys.executable, str(ROOT / "local/make_demo_corpus.py"), "--out-dir", str(out),
                    "--num-train", "0", "--num-val", "0", "--num-test", "reading=12,telephony=12", "--seed", "42",
                    "--jobs", "1"], check=True, capture_output=True)
    lists = draw_texts({split: parse_counts(spec) for split, spec in DEFAULT_COUNTS.items()}, seed=42)
    train = {s.text for s in lists[("reading", "train")]}
    for domain in ("reading", "telephony"):
        with (out / domain / "test/list.tsv").open(encoding="utf-8") as f:
            assert not {r["txt"] for r in csv.DictReader(f, delimiter="\t")} & train
    return out


def wer_on(loaded, tsv: Path) -> float:
    with tsv.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    feats = [load_features(tsv.parent / r["wav"]) for r in rows]
    with torch.no_grad():
        outs = loaded.model.ctc_log_probs(feats, Context.parse("128,64,128"))
    tok = loaded.tokenizer
    return compute_wer([(str(i), normalize_text(r["txt"]), tok.decode(greedy_search(o)))
                        for i, (r, o) in enumerate(zip(rows, outs))]).wer


@pytest.fixture(scope="module")
def fresh_wers(fresh_corpus: Path) -> dict[str, float]:
    loaded = load_model(DEMO)
    loaded.model.eval()
    out = {d: wer_on(loaded, fresh_corpus / f"{d}/test/list.tsv") for d in ("reading", "telephony")}
    print(f"demo checkpoint on fresh sentences: {out}")
    return out


def test_clean_speech_is_recognized_and_the_phone_line_is_not(fresh_wers: dict[str, float]) -> None:
    """The demo's premise on unseen call-bot patterns and held-out voices: a model that knows Vietnamese (measured
    19.6 % on these 12 reading sentences; 28.9 % before pretraining phase 4, 91 % for the template-trained
    checkpoint before that) and is lost on the phone line (97.0 %)."""
    assert fresh_wers["reading"] <= 23.0, fresh_wers
    assert fresh_wers["telephony"] >= 3 * fresh_wers["reading"], fresh_wers  # the channel gap the fine-tune closes


def test_clean_call_bot_reading_meets_the_issue_target(fresh_wers: dict[str, float]) -> None:
    """Issue 13's target, met by a hair (19.6 %: 44 errors in 225 words; 45 would be 20.0 %)."""
    assert fresh_wers["reading"] <= 20.0, fresh_wers
