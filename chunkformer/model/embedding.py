"""Relative positional encoding with right context (official ``RelPositionalEncodingWithRightContext``).

A Transformer-XL sinusoid table over relative positions +4999 … -4999 (index 4999 = distance 0; positive =
key to the left of the query). For a chunk of ``c`` queries with ``l`` left and ``r`` right context frames,
``window(c, l, r)`` returns the (1, 2c + l + r - 1, d) slice covering distances c+l-1 … -(c+r-1).
The table is derived, not learned, so it is not in the state dict. Inputs are scaled by sqrt(d).
"""

from __future__ import annotations

import math

import torch
from torch import nn

MAX_LEN = 5000


def _table(d_model: int, max_len: int = MAX_LEN) -> torch.Tensor:
    pos = torch.arange(0, max_len, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * -(math.log(10000.0) / d_model))
    pe_pos = torch.zeros(max_len, d_model)
    pe_neg = torch.zeros(max_len, d_model)
    pe_pos[:, 0::2] = torch.sin(pos * div)
    pe_pos[:, 1::2] = torch.cos(pos * div)
    pe_neg[:, 0::2] = torch.sin(-1 * pos * div)
    pe_neg[:, 1::2] = torch.cos(-1 * pos * div)
    return torch.cat([torch.flip(pe_pos, [0]), pe_neg[1:]], dim=0).unsqueeze(0)


class RelPositionalEncoding(nn.Module):
    """x (N, c, d) → (dropout(x·sqrt(d)), dropout(pos_emb (1, 2c+l+r-1, d)))."""

    def __init__(self, d_model: int, dropout_rate: float) -> None:
        super().__init__()
        self.xscale = math.sqrt(d_model)
        self.dropout = nn.Dropout(dropout_rate)
        self.pe = _table(d_model)  # plain attribute: official checkpoints do not store it
        self.center = self.pe.size(1) // 2

    def window(self, chunk: int, left: int, right: int) -> torch.Tensor:
        """Refuses a window past either end of the table: a right context past it would come back short, and the
        attention's relative-shift view would read the next row's positions for the farthest keys (or fail with
        ``setStorage: … out of bounds`` when the shortfall reaches a chunk)."""
        for side, frames in (("left", left), ("right", right)):
            if chunk + frames >= MAX_LEN:
                raise ValueError(f"chunk + {side} context = {chunk + frames} frames exceeds the {MAX_LEN}-frame table")
        return self.pe[:, self.center - (chunk + left) + 1 : self.center + chunk + right]

    def forward(self, x: torch.Tensor, left: int, right: int) -> tuple[torch.Tensor, torch.Tensor]:
        pos = self.window(x.size(1), left, right).to(device=x.device, dtype=x.dtype)
        return self.dropout(x * self.xscale), self.dropout(pos)
