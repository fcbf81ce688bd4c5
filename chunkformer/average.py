"""Checkpoint averaging (icefall/WeNet style), also installed as the ``average_checkpoints`` command.

    average_checkpoints --inputs exp/*.pt --num-ckpts 5 --output exp/avg5.pt [--mode best|last]

``--mode best`` (default) averages the N training checkpoints with the lowest validation WER, ``--mode last``
the N newest (by step). ``--init-model PATH --init-weight W`` then mixes in the model the fine-tune started from:
``(1 - W)·average + W·initial`` (weight-space ensembling, WiSE-FT: Wortsman et al., CVPR 2022), which gives back
part of what the fine-tune forgot of the initial model's domains for part of the gain; pick W on validation data.
Files that are not training checkpoints (averaged or exported models) and duplicates of the same training state
(``best.pt`` next to its ``epoch-N.pt``) are skipped, and the reason is printed.
Floating-point tensors are averaged in float64; integer tensors are taken from the newest checkpoint. The
output is a model-only checkpoint that ``transcribe``, ``decode`` and ``export`` accept; its ``trained_from`` names
the checkpoint the run started from (None after a random init).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from chunkformer.checkpoint import FORMAT_TRAIN, CheckpointError, atomic_save, load_model, safe_load
from chunkformer.utils.cli import error


@dataclass
class Candidate:
    path: Path
    step: int
    epoch: int
    wer: float | None
    ckpt: dict[str, Any]


def valid_wer(ckpt: dict[str, Any]) -> float | None:
    """The validation WER recorded with a training checkpoint (None if it was saved between validations)."""
    wer = ckpt.get("valid_wer")
    return float(wer) if wer is not None else None


def _arch(ckpt: dict[str, Any]) -> tuple:
    cfg = ckpt.get("config", {})
    return (cfg.get("input_dim"), cfg.get("output_dim"), tuple(sorted((cfg.get("encoder_conf") or {}).items())))


def _preference(c: Candidate) -> tuple[bool, int]:
    """Among files holding the same step: one with a validation WER, then epoch-N over checkpoint-S over best."""
    kind = 2 if c.path.name.startswith("epoch-") else 0 if c.path.name.startswith("best") else 1
    return c.wer is not None, kind


def collect(paths: list[Path], log=print) -> list[Candidate]:
    """Reads training checkpoints, skipping (and reporting) other files and duplicate states: files of the same
    optimizer step hold the same weights (``checkpoint-S.pt`` at an epoch's last step and ``epoch-N.pt``, or
    ``best.pt``), and averaging them twice would weight that state double."""
    by_step: dict[int, Candidate] = {}
    for p in sorted(set(paths), key=str):
        try:
            ck = safe_load(p)
        except CheckpointError as e:
            log(f"skip {p}: {e}")
            continue
        if not isinstance(ck, dict) or ck.get("format") != FORMAT_TRAIN:
            log(f"skip {p}: not a training checkpoint (model-only or foreign file)")
            continue
        cand = Candidate(p, int(ck.get("step", -1)), int(ck.get("epoch", -1)), valid_wer(ck), ck)
        old = by_step.get(cand.step)
        if old is not None:
            keep, drop = (cand, old) if _preference(cand) > _preference(old) else (old, cand)
            log(f"skip {drop.path}: same training state (step {cand.step}) as {keep.path}")
            cand = keep
        by_step[cand.step] = cand
    return sorted(by_step.values(), key=lambda c: c.step)


def select(cands: list[Candidate], num: int, mode: str) -> list[Candidate]:
    if mode == "last":
        return sorted(cands, key=lambda c: c.step)[-num:]
    scored = [c for c in cands if c.wer is not None]
    if len(scored) < num:
        raise ValueError(f"--mode best needs {num} checkpoints with a validation WER, found {len(scored)}; "
                         "use --mode last or fewer --num-ckpts")
    return sorted(scored, key=lambda c: (c.wer, -c.step))[:num]


def average_state_dicts(sds: list[dict[str, torch.Tensor]], names: list[str]) -> dict[str, torch.Tensor]:
    """Mean of float tensors (float64 accumulation); non-float tensors from the last state dict."""
    ref = sds[-1]
    for sd, name in zip(sds, names):
        if sd.keys() != ref.keys():
            diff = sorted(set(sd) ^ set(ref))[:3]
            raise ValueError(f"{name}: different parameters than {names[-1]} (e.g. {diff}); architectures differ")
        for k, v in sd.items():
            if v.shape != ref[k].shape:
                raise ValueError(f"{name}: {k} has shape {tuple(v.shape)} but {tuple(ref[k].shape)} in {names[-1]}; "
                                 "architectures differ")
    out = {}
    for k, v in ref.items():
        if v.is_floating_point():
            out[k] = (sum(sd[k].double() for sd in sds) / len(sds)).to(v.dtype)
        else:
            out[k] = v.clone()
    return out


def interpolate(sd: dict[str, torch.Tensor], init: dict[str, torch.Tensor], init_weight: float,
                names: tuple[str, str] = ("average", "initial model")) -> dict[str, torch.Tensor]:
    """``(1 - init_weight)·sd + init_weight·init`` for float tensors (float64 accumulation); other tensors from
    ``sd``. Both must have the same parameters and shapes (ValueError naming the first difference)."""
    if not 0.0 <= init_weight <= 1.0:
        raise ValueError(f"--init-weight must be in [0, 1], got {init_weight}")
    both = average_state_dicts([init, sd], list(reversed(names)))  # the same checks as averaging
    w = init_weight
    return {k: ((1 - w) * v.double() + w * init[k].double()).to(v.dtype) if v.is_floating_point() else both[k]
            for k, v in sd.items()}


def average(paths: list[Path], num: int, mode: str = "best", log=print) -> dict[str, Any]:
    """Selects ``num`` checkpoints from ``paths`` and returns the averaged model-only checkpoint."""
    if num < 1:
        raise ValueError(f"--num-ckpts must be at least 1, got {num}")
    cands = collect(paths, log)
    if len(cands) < num:
        raise ValueError(f"need {num} training checkpoints, found {len(cands)} among {len(paths)} inputs")
    chosen = select(cands, num, mode)
    archs = {_arch(c.ckpt) for c in chosen}
    if len(archs) > 1:
        raise ValueError("checkpoints have different model configs: " + ", ".join(str(c.path) for c in chosen))
    chosen.sort(key=lambda c: c.step)
    odd = [c.path for c in chosen if list(c.ckpt.get("vocab") or []) != list(chosen[-1].ckpt.get("vocab") or [])]
    if odd:
        raise ValueError(f"{odd[0]}: vocabulary differs from {chosen[-1].path}'s (the same output ids are other "
                         "tokens); average checkpoints of one run only")
    for c in chosen:
        why = f"validation WER {c.wer:.2f}%" if mode == "best" else "newest"
        log(f"use {c.path} (epoch {c.epoch}, step {c.step}): {why}")
    sd = average_state_dicts([c.ckpt["model"] for c in chosen], [str(c.path) for c in chosen])
    newest = chosen[-1].ckpt
    return {"format": "chunkformer-callbot/model", "model": sd, "config": newest["config"], "vocab": newest["vocab"],
            "extra_state": newest.get("extra_state", {}), "averaged_from": [str(c.path) for c in chosen],
            "average_mode": mode, "trained_from": recorded_init(newest.get("train_config") or {})}


def recorded_init(train_config: dict[str, Any]) -> str | None:
    """The checkpoint a training run started from, as its merged config records it (None: random init)."""
    if (train_config.get("model") or {}).get("init") == "random":
        return None
    return (train_config.get("trainer") or {}).get("resume_checkpoint") or None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="average_checkpoints", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inputs", nargs="+", type=Path, required=True, help="checkpoint files (a shell glob is fine)")
    p.add_argument("--num-ckpts", type=int, default=5)
    p.add_argument("--output", type=Path, required=True)
    p.add_argument("--mode", choices=["best", "last"], default="best")
    p.add_argument("--init-weight", type=float, default=0.0,
                   help="share of the initial model in the output: (1 - W)·average + W·initial (default 0)")
    p.add_argument("--init-model", type=Path,
                   help="the initial model (folder, .pt or checkpoint); default: the --resume the run recorded "
                        "(nothing is written when the run started from random weights)")
    a = p.parse_args(argv)
    inputs = [x for x in a.inputs if x.resolve() != a.output.resolve()]
    if a.init_model is not None and a.init_weight == 0.0:
        return error("--init-model needs a non-zero --init-weight")
    try:
        payload = average(inputs, a.num_ckpts, a.mode)
        init_model = (a.init_model or payload["trained_from"]) if a.init_weight else None  # 0: not needed
        if a.init_weight and init_model is None:
            print(f"{a.output} not written: the run started from random weights, there is no initial model to mix "
                  "back (--init-weight); pass --init-model to name one")
            return 0
        if init_model is not None:
            init = load_model(init_model).model.state_dict()
            payload["model"] = interpolate(payload["model"], init, a.init_weight, ("average", str(init_model)))
            payload.update(init_model=str(init_model), init_weight=a.init_weight)
    except (ValueError, CheckpointError, FileNotFoundError) as e:
        return error(e)
    try:
        atomic_save(payload, a.output)
    except OSError as e:  # a missing or read-only folder, a folder named like the output
        return error(f"{a.output}: cannot write the average there ({e.strerror}: {e.filename})")
    mixed = f", {a.init_weight:g} of {init_model}" if init_model is not None else ""
    print(f"wrote {a.output} (average of {len(payload['averaged_from'])}, mode {a.mode}{mixed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
