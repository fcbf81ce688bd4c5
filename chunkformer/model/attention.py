"""Chunked multi-head self-attention with relative positions and right context
(official ``ChunkAttentionWithRelativeRightContext.forward_parallel_chunk``).

Input: all chunks of all utterances, x (N, c, d). Keys/values of every chunk are laid end to end
(``[cache(l) | chunk_0 … chunk_{N-1} | zeros(r)]``) and cut into overlapping windows of l + c + r frames
stepped by c ("overlapping chunk transformation"), so chunk i attends to its l left and r right neighbours;
the boolean mask (N, l + c + r) removes keys of other utterances, padding and out-of-range cache.
Scores: ((q + u)·kᵀ + rel_shift((q + v)·pᵀ)) / sqrt(d_k), softmax in float32 (Transformer-XL).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def rel_shift(x: torch.Tensor, width: int) -> torch.Tensor:
    """(N, h, c, 2c+l+r-1) → (N, h, c, width=l+c+r): ``out[.., i, j] = x[.., i, c - 1 - i + j]``."""
    n, h, t1, _ = x.shape
    s = x.stride()
    return x.as_strided((n, h, t1, width), (s[0], s[1], s[2] - s[3], s[3]), storage_offset=s[3] * (t1 - 1))


class ChunkRelPositionAttention(nn.Module):
    """x (N, c, d), mask (N, l+c+r) bool, pos (1, 2c+l+r-1, d) → (N, c, d), new cache (l, h, 2·d_k)."""

    def __init__(self, heads: int, d_model: int, dropout_rate: float) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model {d_model} is not divisible by {heads} heads")
        self.h = heads
        self.d_k = d_model // heads
        self.linear_q = nn.Linear(d_model, d_model)
        self.linear_k = nn.Linear(d_model, d_model)
        self.linear_v = nn.Linear(d_model, d_model)
        self.linear_out = nn.Linear(d_model, d_model)
        self.dropout = nn.Dropout(dropout_rate)
        self.linear_pos = nn.Linear(d_model, d_model, bias=False)
        self.pos_bias_u = nn.Parameter(torch.empty(heads, self.d_k))
        self.pos_bias_v = nn.Parameter(torch.empty(heads, self.d_k))
        nn.init.xavier_uniform_(self.pos_bias_u)
        nn.init.xavier_uniform_(self.pos_bias_v)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor,
        pos_emb: torch.Tensor,
        left: int,
        right: int,
        cache: torch.Tensor | None = None,
        keep: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        n, c, d = x.shape
        h, d_k = self.h, self.d_k
        q = self.linear_q(x).view(n, c, h, d_k)
        k = self.linear_k(x).view(n, c, h, d_k)
        v = self.linear_v(x).view(n, c, h, d_k)
        kv = torch.cat([k, v], dim=-1).reshape(n * c, h, 2 * d_k)
        prefix = cache if cache is not None else kv.new_zeros(left, h, 2 * d_k)
        kv = torch.cat([prefix, kv], dim=0)
        # the last `left` frames before the segment's kept part seed the next segment
        new_cache = kv[: keep + left][-left:] if cache is not None and left > 0 else cache
        kv = nn.functional.pad(kv, (0, 0, 0, 0, 0, right))
        kv = kv.unfold(0, left + c + right, c).transpose(2, 3)  # (N, h, W, 2·d_k)
        k, v = kv.split(d_k, dim=-1)
        p = self.linear_pos(pos_emb).view(1, -1, h, d_k).transpose(1, 2)
        q_u = (q + self.pos_bias_u).transpose(1, 2)
        q_v = (q + self.pos_bias_v).transpose(1, 2)
        ac = torch.matmul(q_u, k.transpose(-2, -1))
        bd = rel_shift(torch.matmul(q_v, p.transpose(-2, -1)), left + c + right)
        scores = (ac + bd) / math.sqrt(d_k)
        masked = ~mask.view(n, 1, 1, -1)
        scores = scores.masked_fill(masked, -float("inf"))
        attn = torch.softmax(scores.float(), dim=-1).type_as(v).masked_fill(masked, 0.0)
        out = torch.matmul(self.dropout(attn), v).transpose(1, 2).reshape(n, c, d)
        return self.linear_out(out), new_cache
