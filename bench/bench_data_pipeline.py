#!/usr/bin/env python3
"""Throughput of the on-the-fly training data pipeline, in seconds of audio per second per CPU core.

    .venv/bin/python bench/bench_data_pipeline.py [--utts 24] [--seconds 4] [--reps 5] [--telephony]

One process, one torch thread, no DataLoader workers (so the figure is per core). The same cuts (8 kHz
telephony-like speech, synthetic) go through:

* ours — :func:`chunkformer.data.pipeline.process_cut`: load + resample to 16 kHz + speed perturbation
  {0.9, 1.0, 1.1} + reverb (a generated RIR, RT60 50–150 ms) + noise (SNR 5–15 dB) + model fbank + SpecAugment;
* lhotse's equivalent — ``cut.resample(16000).perturb_speed(f).reverb_rir(rir_recording=...)``, then
  ``.mix(noise_cut, snr=...)``, lhotse ``Fbank(FbankConfig(num_mel_bins=80))`` and lhotse ``SpecAugment``.

Each repetition processes every cut once; the median over repetitions is reported (the machine is
shared, so single runs are noisy). Noise and RIR probabilities are forced to 1 so every cut pays for
every step (a worst case: real configs apply them with probability < 1).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "fixtures"))


def make_cuts(d: Path, n: int, seconds: float) -> list:
    from lhotse import MonoCut, Recording, SupervisionSegment

    from chunkformer.audio import resample

    from synth_audio import make_wave

    cuts = []
    for i in range(n):
        x = resample(make_wave(100 + i, seconds).astype(np.float32) / 32768.0, 16000, 8000)
        path = d / f"utt{i}.wav"
        sf.write(str(path), x, 8000, subtype="PCM_16")
        rec = Recording.from_file(path)
        sup = SupervisionSegment(f"utt{i}", rec.id, 0.0, rec.duration, text="xin chào")
        cuts.append(MonoCut(f"utt{i}", 0.0, rec.duration, 0, recording=rec, supervisions=[sup],
                            custom={"domain": "telephony"}))
    return cuts


def make_banks(d: Path, seed: int) -> tuple[list[Path], list[Path]]:
    from chunkformer.data.augment import make_noise, make_rir

    rng = np.random.default_rng(seed)
    noises, rirs = [], []
    for k, kind in enumerate(["white", "pink", "hum", "white"]):
        p = d / f"noise{k}.wav"
        sf.write(str(p), 0.3 * make_noise(kind, 16000 * 10, 16000, rng), 16000, subtype="FLOAT")
        noises.append(p)
    for k in range(8):
        p = d / f"rir{k}.wav"
        sf.write(str(p), make_rir(float(rng.uniform(0.05, 0.15)), 16000, rng), 16000, subtype="FLOAT")
        rirs.append(p)
    return noises, rirs


def run_ours(cuts: list, noises: list[Path], rirs: list[Path], telephony: bool, rep: int) -> float:
    from chunkformer.data.augment import AugmentConfig
    from chunkformer.data.pipeline import AugPlan, cut_rng, load_wave_16k, process_cut

    cfg = AugmentConfig.from_dict({"noise_prob": 1.0, "reverb_prob": 1.0,
                                   **({"telephony_prob": 1.0} if telephony else {})})
    ops = {"speed_perturb", "add_noise", "add_reverb"} | ({"telephony"} if telephony else set())
    plan = AugPlan(cfg, {"telephony": frozenset(ops)}, {"telephony": True},
                   [load_wave_16k(p) for p in noises], [load_wave_16k(p) for p in rirs])
    t0 = time.perf_counter()
    for c in cuts:
        process_cut(c, plan, cut_rng(0, rep, c.id))
    return time.perf_counter() - t0


def run_lhotse(cuts: list, noises: list[Path], rirs: list[Path], rep: int) -> float:
    from lhotse import MonoCut, Recording
    from lhotse.dataset import SpecAugment
    from lhotse.features import Fbank, FbankConfig

    rng = np.random.default_rng(rep)
    noise_cuts = [MonoCut(f"n{k}", 0.0, r.duration, 0, recording=r)
                  for k, r in enumerate(Recording.from_file(p) for p in noises)]
    rir_recs = [Recording.from_file(p) for p in rirs]
    extractor = Fbank(FbankConfig(num_mel_bins=80))
    specaug = SpecAugment(time_warp_factor=0, num_frame_masks=2, features_mask_size=27, num_feature_masks=2,
                          frames_mask_size=100, p=1.0)
    t0 = time.perf_counter()
    for c in cuts:
        f = float(rng.choice([0.9, 1.0, 1.1]))
        x = c.resample(16000)
        x = x.perturb_speed(f) if f != 1.0 else x
        x = x.reverb_rir(rir_recording=rir_recs[int(rng.integers(len(rir_recs)))])
        nc = noise_cuts[int(rng.integers(len(noise_cuts)))]
        noise = nc.truncate(offset=float(rng.uniform(0, nc.duration - x.duration)), duration=x.duration)
        m = x.mix(noise, snr=float(rng.uniform(5, 15)), preserve_id="left")
        feats = torch.from_numpy(extractor.extract(m.load_audio(), 16000))
        specaug(feats.unsqueeze(0))
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--utts", type=int, default=24)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--telephony", action="store_true", help="also apply the telephony channel (ours only)")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        cuts = make_cuts(d, a.utts, a.seconds)
        noises, rirs = make_banks(d, 0)
        audio = sum(c.duration for c in cuts)
        run_ours(cuts[:2], noises, rirs, a.telephony, 999)  # warm-up: imports, caches
        run_lhotse(cuts[:2], noises, rirs, 999)
        ours, lh = [], []
        for rep in range(a.reps):  # alternate so that machine noise hits both alike
            ours.append(audio / run_ours(cuts, noises, rirs, a.telephony, rep))
            lh.append(audio / run_lhotse(cuts, noises, rirs, rep))
    mo, ml = statistics.median(ours), statistics.median(lh)
    print(f"audio per repetition: {audio:.1f} s ({a.utts} x {a.seconds:g} s, 8 kHz); {a.reps} repetitions; "
          f"1 thread; torch {torch.__version__}")
    print("| pipeline | x real time per core (median) | min | max |")
    print("|---|---|---|---|")
    name = "ours (speed + reverb + noise" + (" + telephony" if a.telephony else "") + " + fbank + SpecAugment)"
    print(f"| {name} | {mo:.0f} | {min(ours):.0f} | {max(ours):.0f} |")
    print(f"| lhotse (perturb_speed + reverb_rir + mix + Fbank + SpecAugment) | {ml:.0f} | {min(lh):.0f} | "
          f"{max(lh):.0f} |")
    print(f"ratio ours / lhotse: {mo / ml:.2f}; target >= 50x real time per core: {'met' if mo >= 50 else 'NOT met'}")
    return 0 if mo >= 50 else 1


if __name__ == "__main__":
    sys.exit(main())
