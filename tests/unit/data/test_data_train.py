"""Stages 0-2 then TrainData: domain shares, SNR and RT60 ranges, determinism, resume, DDP, idempotency."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf
import torch

from chunkformer.data.datamodule import LoaderConfig, TrainData
from chunkformer.tokenizer import Tokenizer

from helpers import VOCAB, load_script, make_corpus, sentence, speech

EXTRA = """mixing:
  epoch_hours: 0.03
generated:
  noises_per_kind: 1
  noise_seconds: 4.0
  num_rirs: 8
augment:
  noise_prob: 1.0
  reverb_prob: 0.5
"""
READING = "  - path: read/*.wav\n    domain: reading\n    weight: 0.1\n    aug: [specaugment]\n"


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("train")
    yaml, _, _ = make_corpus(root, extra_yaml=EXTRA)
    (root / "read").mkdir()
    for i in range(3):  # a clean domain without waveform augmentation: stage 1 computes its features
        sf.write(str(root / "read" / f"r{i}.wav"), speech(70 + i, 1.5), 16000)
        (root / "read" / f"r{i}.txt").write_text(sentence(80 + i), encoding="utf-8")
    text = yaml.read_text(encoding="utf-8").replace("val:\n", READING + "val:\n", 1)
    yaml.write_text(text, encoding="utf-8")
    mdir, fb = root / "manifests", root / "fbank"
    assert load_script("prepare_manifests").main(["--data-config", str(yaml), "--vocab", str(VOCAB),
                                                  "--out-dir", str(mdir), "--num-jobs", "1"]) == 0
    stage1 = load_script("compute_fbank")
    assert stage1.main(["--manifest-dir", str(mdir), "--out-dir", str(fb), "--num-jobs", "1"]) == 0
    stage2 = load_script("build_train_cuts")
    args = ["--data-config", str(yaml), "--manifest-dir", str(mdir), "--seed", "5"]
    assert stage2.main(args) == 0
    return {"root": root, "mdir": mdir, "stage2": stage2, "args": args, "tok": Tokenizer.from_file(VOCAB)}


def collect(td: TrainData, epoch: int, skip: int = 0) -> list:
    return list(td.batches(epoch, skip_batches=skip))


def same(a: list, b: list) -> bool:
    return [x.cut_ids for x in a] == [x.cut_ids for x in b] and all(
        torch.equal(f, g) for x, y in zip(a, b) for f, g in zip(x.feats, y.feats))


def test_shares_snr_and_rt60(prepared: dict) -> None:
    td = TrainData(prepared["mdir"], prepared["tok"], LoaderConfig(max_duration=12.0, num_workers=0, seed=3))
    want = {"telephony": 0.8 / 1.1, "conversation": 0.2 / 1.1, "reading": 0.1 / 1.1}
    for epoch in (1, 2):
        got = td.realized_shares(epoch)
        assert all(abs(got[d] - w) <= 0.03 for d, w in want.items()), (epoch, got)
    batches = collect(td, 1)
    frames: dict[str, float] = {}
    for b in batches:
        for dom, f, p in zip(b.domains, b.feats, b.params):
            frames[dom] = frames.get(dom, 0.0) + f.shape[0]
            if dom == "reading":  # stage-1 features, SpecAugment only
                assert p == {"specaugment": True}
            else:
                assert p["speed"] in (0.9, 1.0, 1.1) and 5.0 <= p["snr"] <= 15.0  # noise_prob 1
    total = sum(frames.values())
    assert all(abs(frames[d] / total - w) <= 0.03 for d, w in want.items()), frames  # after speed perturbation
    assert sum(len(b.cut_ids) for b in batches) > 60 and any("_r" in i for b in batches for i in b.cut_ids)
    from chunkformer.data.augment import measure_rt60

    rows = list(csv.DictReader(open(prepared["root"] / "augment" / "rirs" / "rirs.tsv", encoding="utf-8"),
                               delimiter="\t"))
    assert len(rows) == 8
    for r in rows:
        target = float(r["rt60_target"])
        rir, rate = sf.read(str(prepared["root"] / "augment" / "rirs" / r["file"]), dtype="float32")
        measured = measure_rt60(rir, rate)
        assert 0.05 <= target <= 0.15 and abs(measured - target) <= 0.15 * target, (r, measured)


def test_measured_snr_of_added_noise(prepared: dict) -> None:
    from chunkformer.data.augment import augment_waveform
    from chunkformer.data.datamodule import aug_plan, load_plan
    from chunkformer.data.pipeline import cut_rng, load_mono

    plan = aug_plan(load_plan(prepared["mdir"]))
    td = TrainData(prepared["mdir"], prepared["tok"], LoaderConfig(num_workers=0))
    for cut in td.pools["telephony"]:
        x, rate = load_mono(cut)
        x = 0.1 * x  # headroom: no peak rescaling, so y - x is exactly the added noise
        y, _, p = augment_waveform(x, rate, plan.cfg, cut_rng(0, 0, cut.id), plan.noises, plan.rirs, {"add_noise"})
        snr = 10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum((y - x).astype(np.float64) ** 2))
        assert 5.0 <= p["snr"] <= 15.0 and abs(snr - p["snr"]) < 0.1


def test_batches_are_deterministic_across_workers_and_resumable(prepared: dict) -> None:
    cfg = LoaderConfig(max_duration=12.0, num_workers=0, seed=11)
    td0 = TrainData(prepared["mdir"], prepared["tok"], cfg)
    full = collect(td0, 1)
    assert len(full) == td0.num_batches(1)
    td2 = TrainData(prepared["mdir"], prepared["tok"], LoaderConfig(max_duration=12.0, num_workers=2, seed=11))
    assert same(collect(td2, 1), full)
    assert same(collect(td0, 1, skip=3), full[3:])
    other = collect(td0, 2)
    assert not same(other, full)


def test_ddp_ranks_split_the_epoch(prepared: dict) -> None:
    cfg = LoaderConfig(max_duration=None, batch_size=4, num_workers=0, seed=2)
    ranks = [TrainData(prepared["mdir"], prepared["tok"], cfg, rank=r, world_size=2) for r in (0, 1)]
    ids = [[c.id for b in r.sampler(1) for c in b] for r in ranks]
    assert ranks[0].num_batches(1) == ranks[1].num_batches(1)
    assert not set(ids[0]) & set(ids[1])
    everything = {c.id for c in TrainData(prepared["mdir"], prepared["tok"], cfg).epoch_cuts(1)}
    assert set(ids[0]) | set(ids[1]) == everything


def test_stage2_is_idempotent_and_redoes_only_what_was_deleted(prepared: dict, capsys: pytest.CaptureFixture) -> None:
    stage2, args, mdir = prepared["stage2"], prepared["args"], prepared["mdir"]
    capsys.readouterr()
    assert stage2.main(args) == 0
    assert "stage 2: already done" in capsys.readouterr().out
    cuts_mtime = (mdir / "train_cuts.jsonl.gz").stat().st_mtime_ns
    (prepared["root"] / "augment" / "rirs" / "rir_0003.wav").unlink()
    assert stage2.main(args) == 0
    assert "stage 2: wrote RIRs" in capsys.readouterr().out
    assert (mdir / "train_cuts.jsonl.gz").stat().st_mtime_ns == cuts_mtime


def test_an_epoch_with_fewer_cuts_than_buckets_still_batches(prepared: dict) -> None:
    """lhotse's bucket estimate asserts with fewer cuts than buckets; the sampler adapts the bucket count."""
    data = TrainData(prepared["mdir"], prepared["tok"], LoaderConfig(max_duration=8.0, num_buckets=10, num_workers=0))
    few = data.epoch_cuts(0)[:5]
    data.epoch_cuts = lambda epoch: few  # an epoch of 5 cuts (a tiny corpus or a short epoch_hours)
    assert data.num_buckets(len(few)) == 2
    batches = list(data.batches(0))
    assert sorted(c for b in batches for c in b.cut_ids) == sorted(c.id for c in few)
