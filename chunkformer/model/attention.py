"""Chunked multi-head self-attention with relative positions and right context
(official ``ChunkAttentionWithRelativeRightContext.forward_parallel_chunk``).

Input: all chunks of all utterances, x (N, c, d). Keys/values of every chunk are laid end to end
(``[cache(l) | chunk_0 … chunk_{N-1} | zeros(r)]``) and cut into overlapping windows of W = l + c + r frames
stepped by c ("overlapping chunk transformation"), so chunk i attends to its l left and r right neighbours;
the boolean mask (N, W) removes keys of other utterances, padding and out-of-range cache.
Scores: ((q + u)·kᵀ + rel_shift((q + v)·pᵀ)) / sqrt(d_k), softmax in float32 or wider (Transformer-XL).

Work is split in three steps so that a layer can run them over small groups of chunks (see
``ChunkFormerEncoderLayer``): :meth:`project` (q and the k/v rows of some chunks), :meth:`kv_sequence`
(all k/v rows + cache + right padding, and the next segment's cache), :meth:`attend` (scores, softmax and the
output projection for some chunks, reading their k/v windows from the full sequence).
Small groups keep every temporary in cache-sized buffers that the allocator reuses, instead of page-faulting
fresh (N, h, c, W) tensors for the whole batch: on CPU that, not arithmetic, dominated the cost.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class ChunkRelPositionAttention(nn.Module):
    """x (N, c, d), mask (N, l+c+r) bool, pos (1, 2c+l+r-1, d) → (N, c, d), new cache (l, h, 2·d_k), in the three
    steps :meth:`project`, :meth:`kv_sequence`, :meth:`attend` that ``ChunkFormerEncoderLayer`` calls per group."""

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
        # int8 inference (chunkformer.model.quantize): the fused q|k,v projection as one int8 Linear
        self.qkv_int8: nn.Module | None = None

    def fused_qkv(self) -> tuple[torch.Tensor, torch.Tensor] | nn.Module:
        """One (3d, d) weight and (3d,) bias for q | k,v interleaved per head, so that one GEMM yields q and the
        k/v rows in the (frames, h, 2·d_k) layout the window step needs. Rebuilt per forward (weights train);
        after int8 quantisation, the int8 module that computes the same product."""
        if self.qkv_int8 is not None:
            return self.qkv_int8
        h, dk = self.h, self.d_k
        d = h * dk
        kv_w = torch.stack([self.linear_k.weight.view(h, dk, d), self.linear_v.weight.view(h, dk, d)], 1)
        kv_b = torch.stack([self.linear_k.bias.view(h, dk), self.linear_v.bias.view(h, dk)], 1)
        return (torch.cat([self.linear_q.weight, kv_w.reshape(2 * d, d)]),
                torch.cat([self.linear_q.bias, kv_b.reshape(2 * d)]))

    def project(self, x: torch.Tensor, qkv: tuple[torch.Tensor, torch.Tensor] | nn.Module
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (g, c, d) → q (g, c, h, d_k), kv rows (g·c, h, 2·d_k); ``qkv`` from :meth:`fused_qkv`."""
        g, c, d = x.shape
        y = qkv(x) if isinstance(qkv, nn.Module) else nn.functional.linear(x, *qkv)
        return y[..., :d].view(g, c, self.h, self.d_k), y[..., d:].reshape(g * c, self.h, 2 * self.d_k)

    @staticmethod
    def kv_sequence(
        kv: torch.Tensor, left: int, right: int, cache: torch.Tensor | None = None, keep: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """k/v rows (N·c, h, 2·d_k) → ``[cache or zeros (l) | rows | zeros (r)]`` and the next segment's cache:
        the last ``l`` rows before the segment's kept part (``keep`` frames)."""
        prefix = cache.to(kv.dtype) if cache is not None else kv.new_zeros(left, *kv.shape[1:])
        seq = torch.cat([prefix, kv, kv.new_zeros(right, *kv.shape[1:])], dim=0)
        new_cache = seq[: keep + left][-left:] if cache is not None and left > 0 else cache
        return seq, new_cache

    def pos_proj(self, pos_emb: torch.Tensor) -> torch.Tensor:
        """(1, P, d) → pᵀ per head (h, d_k, P), scaled by 1/sqrt(d_k); once per layer and forward."""
        p = self.linear_pos(pos_emb[0]).view(-1, self.h, self.d_k)
        return p.permute(1, 2, 0) / math.sqrt(self.d_k)

    def attend(
        self, q: torch.Tensor, kv_seq: torch.Tensor, first: int, mask: torch.Tensor, p_t: torch.Tensor, width: int
    ) -> torch.Tensor:
        """Attention output (g, c, d) for the g chunks ``first … first+g-1`` with queries q (g, c, h, d_k),
        the full k/v sequence from :meth:`kv_sequence`, their mask (g, W) and ``p_t`` from :meth:`pos_proj`."""
        return self.linear_out(self._heads(q, kv_seq, first, mask, p_t, width))

    def attend_packed(self, q: torch.Tensor, kv: torch.Tensor, lens: list[int], p_t: torch.Tensor) -> torch.Tensor:
        """Full attention within each utterance of a packed batch (inference): q (T, h, d_k) and kv rows
        (T, h, 2·d_k) of utterances of ``lens`` frames laid end to end (T = Σ lens), ``p_t`` from :meth:`pos_proj`
        of the window of the longest (2·max(lens) - 1 positions) → (T, d). Each utterance is one chunk with no
        context and no mask, as a batch of one is; the output projection runs once over all frames."""
        longest = (p_t.size(-1) + 1) // 2
        heads, start = [], 0
        for n in lens:
            # the centred 2n - 1 positions of the longest window are this utterance's window
            p = p_t[..., longest - n : longest + n - 1]
            heads.append(self._heads(q[start : start + n].unsqueeze(0), kv[start : start + n], 0, None, p, n)[0])
            start += n
        return self.linear_out(torch.cat(heads) if len(heads) > 1 else heads[0])

    def _heads(
        self, q: torch.Tensor, kv_seq: torch.Tensor, first: int, mask: torch.Tensor | None, p_t: torch.Tensor,
        width: int,
    ) -> torch.Tensor:
        """:meth:`attend` before the output projection: the heads' outputs (g, c, h·d_k); ``mask`` None: every key
        of the window is valid."""
        g, c, h, dk = q.shape
        scale = 1.0 / math.sqrt(dk)
        # windows of chunks first…first+g-1: rows first·c … first·c + (g-1)·c + W of the sequence
        win = kv_seq[first * c : (first + g - 1) * c + width].unfold(0, width, c)  # (g, h, 2·d_k, W) view
        # (g, h, W, d_k) views; matmul copies them row-wise (fast), a kᵀ-shaped copy would be a slow transpose
        k, v = win[:, :, :dk].transpose(-2, -1), win[:, :, dk:].transpose(-2, -1)
        # 1/sqrt(d_k) folded into q (exact for the usual d_k = 64): (ac + bd)/sqrt(d_k) without an extra pass
        q_u = ((q + self.pos_bias_u) * scale).transpose(1, 2)  # (g, h, c, d_k)
        scores = torch.matmul(q_u, k.contiguous().transpose(-2, -1))  # ac (g, h, c, W)
        # bd for all chunks in one GEMM per head against the shared p: (h, g·c, d_k) @ (h, d_k, P)
        q_v = (q + self.pos_bias_v).permute(2, 0, 1, 3).reshape(h, g * c, dk)
        bd = torch.bmm(q_v, p_t)  # (h, g·c, P), already scaled through p_t
        p_len = bd.size(-1)
        # rel_shift as a view: bd[g, h, i, j] = raw[h, g·c + i, c - 1 - i + j]
        bd = bd.as_strided((g, h, c, width), (c * p_len, g * c * p_len, p_len - 1, 1), bd.storage_offset() + c - 1)
        # in place on the matmul output (autograd-safe: matmul's backward needs its inputs, not its output)
        scores = scores.add_(bd)
        if mask is not None:
            scores = scores.masked_fill_(~mask.view(g, 1, 1, width), -float("inf"))
        # every chunk keeps at least its own first frame, so no row is all -inf and masked weights are exactly 0
        # half types are raised to float32 for the softmax; float64 (a reference run) must not be lowered to it
        if scores.dtype in (torch.float32, torch.float64):
            attn = torch.softmax(scores, dim=-1)
        else:
            attn = torch.softmax(scores.float(), dim=-1).type_as(scores)
        out = torch.matmul(self.dropout(attn), v)  # (g, h, c, d_k)
        return out.transpose(1, 2).reshape(g, c, h * dk)
