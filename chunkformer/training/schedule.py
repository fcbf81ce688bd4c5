"""Learning-rate schedule: linear warm-up to the peak, then a documented decay.

- ``cosine``: from the peak at ``warmup`` down to ``min_lr_ratio``·peak at ``total`` steps (default);
- ``inverse_sqrt``: peak·sqrt(warmup/step) (the Noam tail WeNet uses);
- ``constant``: the peak after warm-up.

>>> f = lr_factor(OptimSpec(warmup=10, total=110, decay="cosine", min_ratio=0.0))
>>> [round(f(s), 3) for s in (0, 9, 10, 60, 110)]
[0.1, 1.0, 1.0, 0.5, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class OptimSpec:
    warmup: int
    total: int
    decay: str = "cosine"
    min_ratio: float = 0.05


def lr_factor(spec: OptimSpec) -> Callable[[int], float]:
    """Multiplier of the peak lr for optimizer step ``s`` (0-based), for ``torch.optim.lr_scheduler.LambdaLR``."""
    def f(s: int) -> float:
        if s < spec.warmup:
            return (s + 1) / spec.warmup
        if spec.decay == "constant":
            return 1.0
        if spec.decay == "inverse_sqrt":
            return math.sqrt(spec.warmup / max(s, 1)) if spec.warmup else 1.0
        span = max(1, spec.total - spec.warmup)
        progress = min(1.0, (s - spec.warmup) / span)
        return spec.min_ratio + (1 - spec.min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return f
