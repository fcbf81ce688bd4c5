#!/usr/bin/env python3
"""Writes the demo's pretrained checkpoint (official folder) from a from-scratch run of ``chunkformer.train``,
with what it was trained on and how long in ``config.yaml`` → ``demo_pretraining``, and its validation curve
(minutes of training → WER) as a PNG beside the run.

    python local/release_demo_checkpoint.py --exp-dir exp/demo_pretrain --out-dir egs/callbot/demo/pretrained \
        --corpus-report data/general_corpus/report.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from chunkformer.checkpoint import CheckpointError, load_model, safe_load, save_official_folder
from chunkformer.plot import plot_valid_wer
from chunkformer.utils.cli import error


def summary(ck: dict, exp_dir: Path, report: dict | None) -> dict:
    """What the released folder records about its training."""
    t = ck["train_config"]
    return {
        "data": "general Vietnamese speech (local/make_general_corpus.py): espeak-ng voices reading Debian help "
                "pages, man pages, message catalogs and vocabulary-coverage text; no call-bot sentences, no phone "
                "channel",
        "corpus": {k: report[k] for k in ("hours", "sentences") if k in report} if report else None,
        "engine": "python -m chunkformer.train --init random (local/pretrain_demo.sh)",
        "steps": ck["step"], "minutes": round(float(ck.get("elapsed", 0.0)) / 60, 1),
        "val_wer": ck.get("valid_wer"), "arch": t["model"]["arch"], "optim": t["optim"],
        "seed": t["trainer"]["seed"], "exp_dir": str(exp_dir),
        "curve": [[h.get("minutes"), h["step"], h["wer_all"]] for h in ck["history"]],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--checkpoint", default="best.pt", help="file in --exp-dir (default best.pt: lowest val WER)")
    p.add_argument("--corpus-report", type=Path, help="report.json of the pretraining corpus")
    a = p.parse_args(argv)
    path = a.exp_dir / a.checkpoint
    try:
        ck = safe_load(path)
        loaded = load_model(path)
    except CheckpointError as e:
        return error(e)
    report = json.loads(a.corpus_report.read_text(encoding="utf-8")) if a.corpus_report else None
    loaded.config["demo_pretraining"] = summary(ck, a.exp_dir, report)
    save_official_folder(loaded, a.out_dir)
    back = load_model(a.out_dir)
    if not all(torch.equal(v, back.model.state_dict()[k]) for k, v in loaded.model.state_dict().items()):
        return error(f"{a.out_dir} does not load back to the same weights")
    png = plot_valid_wer(ck["history"], a.exp_dir / "pretrain_curve.png", "Pretraining: validation WER", x="minutes")
    print(f"wrote {a.out_dir} (step {ck['step']}, val WER {ck.get('valid_wer')}%) and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
