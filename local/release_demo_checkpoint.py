#!/usr/bin/env python3
"""Writes the demo's pretrained checkpoint (official folder) from a from-scratch run of ``chunkformer.train``,
with what it was trained on and how long in ``config.yaml`` → ``demo_pretraining``, and its validation curve
(minutes of training → WER) as a PNG beside the run. ``--earlier-phase`` names the run(s) it continued from (the
curriculum of local/pretrain_demo.sh): their curves come first, and minutes and steps add up. When those runs are
gone and only their release is left (a new machine), ``--earlier-release`` takes the phases and the curve that
release recorded instead.

    python local/release_demo_checkpoint.py --exp-dir exp/demo_pretrain --out-dir egs/callbot/demo/pretrained \
        --earlier-phase exp/demo_pretrain_p1 --corpus-report data/general_corpus/report.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import yaml

from chunkformer.checkpoint import CheckpointError, load_model, safe_load, save_official_folder
from chunkformer.plot import plot_valid_wer
from chunkformer.utils.cli import error


def joined_history(phases: list[dict]) -> list[dict]:
    """The validation histories of consecutive runs as one: each run's minutes and steps shifted by the
    training time and steps of the checkpoints before it (a run's own history restarts at 0)."""
    out: list[dict] = []
    minutes, steps = 0.0, 0
    for ck in phases:
        out += [{**h, "minutes": round(minutes + float(h.get("minutes") or 0.0), 2), "step": steps + h["step"]}
                for h in ck["history"]]
        minutes += float(ck.get("elapsed", 0.0)) / 60
        steps += ck["step"]
    return out


def released_phases(folder: Path) -> dict:
    """A pseudo-checkpoint of the phases released in ``folder``: the history, steps, training time, architecture
    and phase list that its ``config.yaml`` → ``demo_pretraining`` records."""
    rec = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8")).get("demo_pretraining") or {}
    if not rec.get("curve"):
        raise CheckpointError(f"{folder}/config.yaml has no demo_pretraining curve: not a released demo checkpoint")
    # the curve keeps the pooled WER only; the pretraining validates on one set, the general corpus's val split
    history = [{"minutes": m, "step": s, "wer_all": w, "wer": {"general": w}} for m, s, w in rec["curve"]]
    return {"history": history, "elapsed": float(rec["minutes"]) * 60, "step": int(rec["steps"]),
            "arch": rec["arch"], "phases": rec.get("phases", [])}


def phase_records(exp_dir: Path, ck: dict) -> list[dict]:
    """What the release records of one phase (or of every phase an earlier release holds)."""
    if "phases" in ck:
        return ck["phases"]
    return [{"exp_dir": str(exp_dir), "steps": ck["step"], "minutes": round(float(ck.get("elapsed", 0.0)) / 60, 1),
             "data_config": ck["train_config"]["trainer"].get("data_config"), "val_wer": ck.get("valid_wer")}]


def summary(ck: dict, exp_dir: Path, report: dict | None, earlier: list[tuple[Path, dict]]) -> dict:
    """What the released folder records about its training (``earlier`` may start with an earlier release's
    pseudo-checkpoint, :func:`released_phases`)."""
    t = ck["train_config"]
    phases = [*earlier, (exp_dir, ck)]
    curve = joined_history([c for _, c in phases])
    first = earlier[0][1] if earlier else ck
    arch = first["arch"] if "arch" in first else first["train_config"]["model"]["arch"]
    return {
        "data": "general Vietnamese speech (local/make_general_corpus.py): espeak-ng voices reading Debian help "
                "pages, man pages, message catalogs, generated everyday and daily-life sentences, spoken numbers "
                "and vocabulary-coverage text; no call-bot sentences, no phone channel",
        "corpus": {k: report[k] for k in ("hours", "sentences") if k in report} if report else None,
        "engine": "python -m chunkformer.train --init random (local/pretrain_demo.sh)",
        "steps": sum(c["step"] for _, c in phases),
        "minutes": round(sum(float(c.get("elapsed", 0.0)) for _, c in phases) / 60, 1),
        "val_wer": ck.get("valid_wer"), "arch": arch,
        "optim": t["optim"], "seed": t["trainer"]["seed"],
        "phases": [rec for d, c in phases for rec in phase_records(d, c)],
        "curve": [[h.get("minutes"), h["step"], h["wer_all"]] for h in curve],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--checkpoint", default="best.pt", help="file in --exp-dir (default best.pt: lowest val WER)")
    p.add_argument("--corpus-report", type=Path, help="report.json of the pretraining corpus")
    p.add_argument("--earlier-phase", type=Path, action="append", default=[],
                   help="exp dir of a run this one continued from (its best.pt), in order; repeatable")
    p.add_argument("--earlier-release", type=Path,
                   help="instead of --earlier-phase: the released folder this run continued from")
    a = p.parse_args(argv)
    path = a.exp_dir / a.checkpoint
    try:
        ck = safe_load(path)
        loaded = load_model(path)
        earlier = [(d, safe_load(d / "best.pt")) for d in a.earlier_phase]
        if a.earlier_release:
            earlier = [(a.earlier_release, released_phases(a.earlier_release)), *earlier]
    except CheckpointError as e:
        return error(e)
    report = json.loads(a.corpus_report.read_text(encoding="utf-8")) if a.corpus_report else None
    loaded.config["demo_pretraining"] = summary(ck, a.exp_dir, report, earlier)
    save_official_folder(loaded, a.out_dir)
    back = load_model(a.out_dir)
    if not all(torch.equal(v, back.model.state_dict()[k]) for k, v in loaded.model.state_dict().items()):
        return error(f"{a.out_dir} does not load back to the same weights")
    history = joined_history([c for _, c in earlier] + [ck])
    png = plot_valid_wer(history, a.exp_dir / "pretrain_curve.png", "Pretraining: validation WER", x="minutes")
    print(f"wrote {a.out_dir} (step {ck['step']}, val WER {ck.get('valid_wer')}%) and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
