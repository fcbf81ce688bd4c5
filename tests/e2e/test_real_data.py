"""Issue 14, "Done means": a new user's real-looking data through ``./run.sh --stage 0 --stop-stage 5``.

Kaldi dirs of stereo 8 kHz calls (agent on channel 0, customer on channel 1, other speech on each), the customer
chosen with ``channel: 1``, transcripts with amounts, times, an OTP code, a Latin word and noise tags, and a bare
``.pt`` state dict with ``--vocab``. Every item is kept (normalised, counted in ``normalized-<split>.json``) or
rejected with its reason (``rejected-<split>.tsv``); the training audio is the customer channel only; RESULTS.md
states the scoring normalisation. Tiny model and sizes: well under 2 minutes on 2 busy cores.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from chunkformer.checkpoint import safe_load
from chunkformer.data.manifests import TRAIN_CUTS, cuts_path
from chunkformer.data.pipeline import load_mono

from helpers import REPO, speech

pytestmark = pytest.mark.slow  # end-to-end: deselect with -m 'not slow'

MODEL = REPO / "tests" / "fixtures" / "official" / "model"
RATE = 8000
# the fixture model's 62 outputs relabelled with the syllables of these transcripts (ids 50-59)
NEW_WORDS = "chuyển lúc giờ mươi mã ô tê pê là phẩy".split()
CUSTOMER = [  # (transcript, kept?) per customer turn
    ("Tôi muốn chuyển 500.000 đồng lúc 9h30, mã OTP là 123456 [noise]", True),
    ("Dạ, em muốn kiểm tra số dư tài khoản: 1,5 triệu đồng <unk>", True),
    ("Vâng, cảm ơn chị. Tôi có 2 đơn hàng chưa được giao", True),
    ("Cho tôi gặp Bluetooth ạ", False),  # unknown Latin word
    ("[noise]", False),                  # empty after normalisation
    ("Xin chào, tôi muốn chuyển 20.000 đồng", True),
]
REASONS = {"Bluetooth": "unknown Latin word", "[noise]": "empty transcript"}
MODEL_YAML = """model:
  context: [16, 8, 16]
optim:
  lr: 1.0e-3
  warmup_steps: 2
trainer:
  epochs: 2
  patience: 5
  max_duration: 8
  num_workers: 0
  save_every_n: 100
  keep_last_k: 2
"""


def relabelled_vocab(out: Path) -> Path:
    lines = (MODEL / "vocab.txt").read_text(encoding="utf-8").splitlines()
    for i, w in enumerate(NEW_WORDS):
        lines[50 + i] = f"▁{w} {50 + i}"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def make_calls(d: Path, n_calls: int, seed: int, extra_segment: bool = False) -> dict[str, str]:
    """A Kaldi dir of stereo calls, two customer turns each (3.6 s); every channel also as a mono file
    ``<call>-ch<k>.wav``. Returns {utterance id: expected rejection reason or ""}."""
    d.mkdir(parents=True)
    scp, segs, text, expect = [], [], [], {}
    for c in range(n_calls):
        name = f"call{seed}{c}"
        chans = [speech(seed * 100 + 2 * c, 8.0, RATE), 0.8 * speech(seed * 100 + 2 * c + 1, 8.0, RATE)]
        sf.write(d / f"{name}.wav", np.stack(chans, axis=1), RATE, subtype="PCM_16")
        for k, x in enumerate(chans):
            sf.write(d / f"{name}-ch{k}.wav", x, RATE, subtype="PCM_16")
        scp.append(f"{name} {d / (name + '.wav')}")
        for t in range(2):
            utt, (words, kept) = f"{name}-{t}", CUSTOMER[(2 * c + t + seed) % len(CUSTOMER)]
            segs.append(f"{utt} {name} {0.2 + 4.0 * t:.1f} {3.8 + 4.0 * t:.1f}")
            text.append(f"{utt} {words}")
            expect[utt] = "" if kept else next(r for k, r in REASONS.items() if k in words)
    if extra_segment:  # beyond the end of the call
        segs.append(f"late {scp[0].split()[0]} 7.0 12.0")
        text.append(f"late {CUSTOMER[0][0]}")
        expect["late"] = "segment outside audio"
    (d / "wav.scp").write_text("\n".join(scp) + "\n", encoding="utf-8")
    (d / "segments").write_text("\n".join(segs) + "\n", encoding="utf-8")
    (d / "text").write_text("\n".join(text) + "\n", encoding="utf-8")
    return expect


def rejections(path: Path) -> dict[str, str]:
    with open(path, encoding="utf-8") as f:
        return {r["id"]: r["reason"].split(":")[0] for r in csv.DictReader(f, delimiter="\t")}


@pytest.mark.slow
def test_stereo_kaldi_calls_and_bare_pt_through_run_sh(tmp_path: Path) -> None:
    expect = {"train": make_calls(tmp_path / "train", 4, 1, extra_segment=True),
              "val": make_calls(tmp_path / "val", 1, 2), "test": make_calls(tmp_path / "test", 2, 3)}
    (tmp_path / "data.yaml").write_text("".join(
        f"{split}:\n  - path: {split}\n    domain: telephony\n    channel: 1    # the customer (0-based)\n"
        f"    aug: {'[specaugment, speed_perturb, add_noise]' if split == 'train' else 'none'}\n"
        for split in expect) + "mixing: {epoch_hours: null}\ngenerated: {noises_per_kind: 1, noise_seconds: 3.0, "
        "num_rirs: 4}\n", encoding="utf-8")
    (tmp_path / "model.yaml").write_text(MODEL_YAML, encoding="utf-8")
    bare = tmp_path / "paper_final_checkpoint.pt"  # a bare WeNet-style state dict, no vocab beside it
    torch.save(safe_load(MODEL / "pytorch_model.bin"), bare)
    vocab = relabelled_vocab(tmp_path / "vocab.txt")
    exp, mdir = tmp_path / "exp", tmp_path / "data" / "manifests"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    res = subprocess.run(["./run.sh", "--stage", "0", "--stop-stage", "5", "--data-config", str(tmp_path / "data.yaml"),
                          "--model-config", str(tmp_path / "model.yaml"), "--resume", str(bare), "--vocab", str(vocab),
                          "--save-dir", str(exp), "--manifest-dir", str(mdir), "--fbank-dir", str(tmp_path / "fbank"),
                          "--nproc", "1", "--num-avg", "2", "--decode-methods", "greedy", "--decode-splits", "test",
                          "--train-args", "--epochs 2 --threads 1"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-4000:]
    for split, want in expect.items():  # every item kept or rejected with its reason
        from lhotse import load_manifest

        kept = {c.id: c for c in load_manifest(cuts_path(mdir, "telephony", split))}
        assert rejections(mdir / f"rejected-{split}.tsv") == {u: r for u, r in want.items() if r}, split
        assert set(kept) == {u for u, r in want.items() if not r}, split
        assert all(c.channel == 1 and c.supervisions[0].channel == 1 for c in kept.values())
    norm = json.loads((mdir / "normalized-train.json").read_text(encoding="utf-8"))
    assert {"amount", "time", "digits", "spell_out", "tag"} <= set(norm["changes"]), norm["changes"]
    assert norm["unknown_latin_words"] == {"Bluetooth": 1}
    texts = {c.supervisions[0].text for c in load_manifest(cuts_path(mdir, "telephony", "train"))}
    assert ("tôi muốn chuyển năm trăm nghìn đồng lúc chín giờ ba mươi mã ô tê pê là một hai ba bốn năm sáu"
            in texts)
    train_cuts = list(load_manifest(mdir / TRAIN_CUTS))  # what stage 3 trained on: the customer channel only
    assert train_cuts and all(c.channel == 1 for c in train_cuts)
    for cut in train_cuts[:3]:
        mono = [sf.read(tmp_path / "train" / f"{cut.recording.id}-ch{k}.wav", dtype="float32")[0] for k in (0, 1)]
        s = int(round(cut.start * RATE))
        x, _ = load_mono(cut)
        assert np.array_equal(x, mono[1][s: s + len(x)]) and not np.allclose(x, mono[0][s: s + len(x)], atol=1e-3)
    results = (exp / "RESULTS.md").read_text(encoding="utf-8")
    assert "Scoring normalisation" in results and "ô tê pê" in results
    assert (exp / "avg2.pt").is_file() and (exp / "greedy_search").is_dir()
