"""Training checkpoints: what they hold, atomic writes, retention, and finding the newest valid one.

A training checkpoint is a ``weights_only``-loadable dict: ``format``, ``model``, ``config`` (official-style),
``vocab``, ``extra_state`` (carried decoder weights), ``optimizer``, ``scheduler``, ``scaler``, ``rng`` (python,
numpy, torch, cuda), ``epoch``, ``batch_in_epoch`` (sampler position), ``step``, ``early_stop``, ``history``,
``valid_wer`` (the validation run at this point, if any) and ``train_config``.
"""

from __future__ import annotations

import logging
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from chunkformer.checkpoint import FORMAT_TRAIN, CheckpointError, atomic_save, safe_load

log = logging.getLogger("chunkformer.train")
_NAME = re.compile(r"^(epoch-(\d+)|checkpoint-(\d+))\.pt$")


def rng_state() -> dict[str, Any]:
    """Every RNG as tensors and plain lists (so ``torch.load(weights_only=True)`` can read it back)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": _to_plain(random.getstate()),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _to_plain(x: Any) -> Any:
    return [_to_plain(v) for v in x] if isinstance(x, (tuple, list)) else x


def _to_tuple(x: Any) -> Any:
    return tuple(_to_tuple(v) for v in x) if isinstance(x, list) else x


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_to_tuple(state["python"]))
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(payload: dict[str, Any], save_dir: Path, name: str, keep_last_k: int) -> Path:
    """Atomically writes ``name`` and prunes step checkpoints beyond the newest ``keep_last_k``."""
    payload = dict(payload, format=FORMAT_TRAIN)
    path = save_dir / name
    try:
        atomic_save(payload, path)
    except OSError as e:  # a full disk, a read-only or removed save dir: no partial file is left (atomic_save)
        raise CheckpointError(f"{path}: cannot write the checkpoint ({e.strerror or e}); free space or fix "
                              f"{save_dir}, then rerun the same command: training resumes from the last "
                              "checkpoint written") from None
    steps = sorted((int(m.group(3)), p) for p in save_dir.glob("checkpoint-*.pt") if (m := _NAME.match(p.name)))
    for _, old in steps[: max(0, len(steps) - keep_last_k)]:
        old.unlink(missing_ok=True)
    return path


def newest_valid(save_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The training checkpoint furthest along in ``save_dir``: highest step read from the file (then epoch:
    ``epoch-N.pt`` after the ``checkpoint-S.pt`` of the same step), not the newest mtime, which a copy or a
    restore can change. Damaged files are logged and skipped, so a ``kill -9`` during a write (or a truncated
    copy) falls back to the previous checkpoint."""
    best: tuple[tuple[int, int], Path] | None = None
    for p in sorted(save_dir.glob("*.pt")):
        if not _NAME.match(p.name):
            continue
        try:
            ck = safe_load(p, mmap=True)  # only step/epoch are read here
        except CheckpointError as e:
            log.warning("skipping damaged checkpoint: %s", e)
            continue
        if not (isinstance(ck, dict) and ck.get("format") == FORMAT_TRAIN):
            log.warning("skipping %s: not a training checkpoint", p)
            continue
        key = (int(ck["step"]), int(ck["epoch"]))
        if best is None or key > best[0]:
            best = (key, p)
    return None if best is None else (best[1], safe_load(best[1]))
