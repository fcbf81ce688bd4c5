"""CTC head: encoder output (..., d) → ``ctc_lo`` Linear → (..., V) logits; blank id 0."""

from __future__ import annotations

import torch
from torch import nn


class CTC(nn.Module):
    def __init__(self, d_model: int, vocab_size: int) -> None:
        super().__init__()
        self.ctc_lo = nn.Linear(d_model, vocab_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ctc_lo(x)

    def log_softmax(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.ctc_lo(x), dim=-1)
