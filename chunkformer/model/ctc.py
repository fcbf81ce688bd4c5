"""CTC head: encoder output (..., d) → ``ctc_lo`` Linear → (..., V) log-probs; blank id 0. And the CTC
feasibility rule that stage-0 validation and the trainer share."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def ctc_min_frames(ids: Sequence[int]) -> int:
    """Shortest CTC alignment of ``ids``: one frame per token plus a blank between equal neighbours. Fewer
    encoder output frames make the CTC loss infinite."""
    return len(ids) + sum(1 for a, b in zip(ids, ids[1:]) if a == b)


class CTC(nn.Module):
    def __init__(self, d_model: int, vocab_size: int) -> None:
        super().__init__()
        self.ctc_lo = nn.Linear(d_model, vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ctc_lo(x)

    def log_softmax(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.ctc_lo(x), dim=-1)
