"""A rerun of stage 3 in a save dir that holds a run must be that same run.

The merged config (``config.yaml``) and the digests of what the run read (``inputs.json``: data config, stage-2
training cuts, the initial checkpoint) are compared with the new command's; a difference stops the run with a
one-line error naming the setting and both values. Settings that change neither the data, the model nor the
optimizer's path may differ (workers, threads, logging and checkpoint intervals); the budget (epochs,
max_steps) may grow when the lr schedule does not depend on it (``decay`` other than cosine).

>>> cfg = {"optim": {"lr": 1e-4, "decay": "cosine"}, "trainer": {"threads": 1}}
>>> differences(cfg, {"optim": {"lr": 5e-5, "decay": "cosine"}, "trainer": {"threads": 2}})
[('optim.lr', 0.0001, 5e-05)]
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml

from chunkformer.checkpoint import folder_weights
from chunkformer.data.manifests import TRAIN_CUTS
from chunkformer.training.config import TrainConfig
from chunkformer.utils.io import atomic_write_text, file_digest

INPUTS = "inputs.json"
# settings a resumed run may change: they affect speed, logging and retention, not what is computed (and
# the save dir itself, which may have been moved)
FREE = {"trainer.num_workers", "trainer.threads", "trainer.device", "trainer.valid_interval",
        "trainer.save_every_n", "trainer.keep_last_k", "trainer.max_bad_batches", "trainer.save_dir"}
BUDGET = {"trainer.epochs", "trainer.max_steps"}
# file and folder settings: the same place written another way (relative or absolute, "./x", "a/../x") is the same
# setting; compared as resolved paths (against the working directory), their contents by inputs.json's digests
PATHS = {"trainer.resume_checkpoint", "trainer.vocab", "trainer.data_config", "trainer.manifest_dir"}


class RunChanged(ValueError):
    """The command contradicts the run already in the save dir."""


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and not key.endswith("arch"):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def differences(saved: dict[str, Any], new: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, saved value, new value) for every setting that differs, except the FREE ones; PATHS compare as
    resolved paths.

    >>> differences({"trainer": {"vocab": "egs/v.txt"}}, {"trainer": {"vocab": "./egs/../egs/v.txt"}})
    []
    """
    a, b = _flat(saved), _flat(new)
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b))
            if k not in FREE and not _same(k, a.get(k), b.get(k))]


def _same(key: str, was: Any, now: Any) -> bool:
    if key in PATHS and isinstance(was, str) and isinstance(now, str) and was and now:
        return Path(was).resolve() == Path(now).resolve()
    return was == now


def _weights_file(path: Path) -> Path | None:
    if path.is_dir():
        return folder_weights(path)
    return path if path.is_file() else None


def run_inputs(cfg: TrainConfig) -> dict[str, str | None]:
    """Digests of the files the run reads (None for what it does not use)."""
    t = cfg.trainer

    def digest(p: Path | None) -> str | None:
        return file_digest(p) if p is not None and p.is_file() else None

    resume = _weights_file(Path(t.resume_checkpoint)) if t.resume_checkpoint and cfg.model.init == "checkpoint" \
        else None
    return {"data_config": digest(Path(t.data_config)) if t.data_config else None,
            "train_cuts": digest(Path(t.manifest_dir) / TRAIN_CUTS),
            "init_checkpoint": digest(resume), "vocab": digest(Path(t.vocab)) if t.vocab else None}


def check_same_run(save_dir: Path, cfg: TrainConfig) -> None:
    """Raises :class:`RunChanged` when ``cfg`` (or what it reads) differs from the run saved in ``save_dir``."""
    saved_cfg = save_dir / "config.yaml"
    if not saved_cfg.is_file():
        return
    saved = yaml.safe_load(saved_cfg.read_text(encoding="utf-8")) or {}
    diffs = differences(saved, cfg.to_dict())
    if cfg.optim.decay != "cosine":  # the schedule does not depend on the budget: a longer run is the same run
        diffs = [d for d in diffs if d[0] not in BUDGET]
    inputs_path = save_dir / INPUTS
    if inputs_path.is_file():
        old = json.loads(inputs_path.read_text(encoding="utf-8"))
        new = run_inputs(cfg)
        diffs += [(f"content of {k}", old.get(k), new[k]) for k in sorted(new) if old.get(k) != new[k]]
    if diffs:
        key, was, now = diffs[0]
        more = f" (and {len(diffs) - 1} more: {', '.join(d[0] for d in diffs[1:])})" if len(diffs) > 1 else ""
        raise RunChanged(f"{save_dir} holds a run with {key}={was!r} but this command gives {now!r}{more}; "
                         f"rerun with the same settings to continue it, or use another --save-dir, or pass "
                         f"--new-run to move the old run into {save_dir}/previous-<time>/ and start over")


def check_same_world(save_dir: Path, checkpoint: dict[str, Any], world_size: int) -> None:
    """Raises :class:`RunChanged` when the checkpoint to continue was written by another number of processes
    (one saved RNG state per rank): each rank's batches, the steps per epoch and so the lr schedule depend on it,
    so the continued run would repeat or skip data and bend the schedule. A checkpoint without per-rank states
    (older format) is let through; the trainer warns that dropout will not repeat exactly."""
    ranks = len(checkpoint.get("rng_ranks") or [])
    if ranks and ranks != world_size:
        raise RunChanged(f"{save_dir} holds a run trained with {ranks} process(es) but this command starts "
                         f"{world_size}; continue it with {ranks} (run.sh --nproc {ranks}, torchrun "
                         f"--nproc_per_node {ranks}), or use another --save-dir, or pass --new-run to move the old "
                         f"run into {save_dir}/previous-<time>/ and start over")


def record(save_dir: Path, cfg: TrainConfig) -> None:
    """Writes the merged config and the input digests of the run in ``save_dir``."""
    atomic_write_text(save_dir / "config.yaml", cfg.to_yaml())
    atomic_write_text(save_dir / INPUTS, json.dumps(run_inputs(cfg), indent=1, sort_keys=True) + "\n")


def move_aside(save_dir: Path) -> Path | None:
    """Moves every file of an old run into ``previous-<time>/`` (nothing is deleted); None if there was none."""
    files = [p for p in save_dir.iterdir() if not p.name.startswith("previous-")]
    if not files:
        return None
    dest = save_dir / time.strftime("previous-%Y%m%d-%H%M%S")
    dest.mkdir()
    for p in files:
        p.rename(dest / p.name)
    return dest
