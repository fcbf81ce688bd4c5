"""Global CMVN, applied inside the encoder: (..., F) → (x - mean) · istd.

Stats come from the official JSON file (``mean_stat``, ``var_stat``, ``frame_num``), computed in float64
(var floored at 1e-20) then stored as float32 buffers ``mean``/``istd`` (state-dict keys
``encoder.global_cmvn.mean``/``.istd``, which win over the file when a checkpoint holds them).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from torch import nn


def read_cmvn_json(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, istd) float32 from an official ``global_cmvn`` JSON file."""
    path = Path(path)
    try:
        stats = json.loads(Path(path).read_text(encoding="utf-8"))
        means, var, n = list(stats["mean_stat"]), list(stats["var_stat"]), stats["frame_num"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not a CMVN JSON file with mean_stat/var_stat/frame_num ({e})") from e
    istd = []
    for i in range(len(means)):
        means[i] /= n
        v = var[i] / n - means[i] * means[i]
        istd.append(1.0 / math.sqrt(max(v, 1.0e-20)))
    return (torch.tensor(means, dtype=torch.float64).float(), torch.tensor(istd, dtype=torch.float64).float())


def cmvn_json(mean: torch.Tensor, istd: torch.Tensor, frame_num: int = 1) -> dict:
    """Inverse of :func:`read_cmvn_json`: stats that reproduce ``mean``/``istd`` (to float32 rounding)."""
    m = mean.double()
    var = 1.0 / istd.double() ** 2
    return {"mean_stat": (m * frame_num).tolist(), "var_stat": ((var + m * m) * frame_num).tolist(),
            "frame_num": frame_num}


class GlobalCMVN(nn.Module):
    def __init__(self, mean: torch.Tensor, istd: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.clone().float())
        self.register_buffer("istd", istd.clone().float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) * self.istd
