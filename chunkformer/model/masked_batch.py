"""Masked-batch chunk geometry, shared by training and inference (one implementation, two callers).

Each utterance's features (T, F) are cut into overlapping windows of ``(c-1)·8 + 15`` frames stepped by
``8c`` (the last window zero-padded), so every window subsamples to exactly ``c`` output frames and the
concatenation equals subsampling the whole utterance. Windows of all utterances are stacked into one
(N, size, F) tensor: no padding waste beyond the last chunk of each utterance.

Masks (paper §2.2, official ``forward_parallel_chunk``), for chunk starting at output frame ``s`` of an
utterance with ``L = subsampled_len(T)`` output frames and ``offset`` frames of real history in the cache:
- attention window position j ↔ key frame ``p = s - l + j``: valid iff ``-offset ≤ p ≤ L - 1``;
- conv window position j ↔ frame ``p = s - k//2 + j``: valid iff that and ``p - s ≤ c - 1 + r``.

>>> import torch
>>> b = make_chunk_batch([torch.zeros(600, 80), torch.zeros(100, 80)], Context(128, 64, 128))
>>> b.xs.shape, b.n_chunks, b.out_lens.tolist()
(torch.Size([3, 519, 80]), [2, 1], [74, 11])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from chunkformer.model.subsampling import RATE, RECEPTIVE_FIELD, subsampled_len


@dataclass(frozen=True)
class Context:
    """Attention context in 80 ms output frames: left, chunk, right (the paper's ``[l, c, r]``)."""

    left: int = 128
    chunk: int = 64
    right: int = 128
    DEFAULT: ClassVar[Context]  # Context(): the paper's best [l, c, r], the default of every command and config

    @classmethod
    def parse(cls, spec: str | list[int] | tuple[int, ...] | Context) -> Context:
        """``"128,64,128"`` or ``[128, 64, 128]`` (left, chunk, right) → Context."""
        if isinstance(spec, Context):
            return spec
        parts = [int(p) for p in spec.split(",")] if isinstance(spec, str) else [int(p) for p in spec]
        if len(parts) != 3 or parts[1] <= 0 or parts[0] < 0 or parts[2] < 0:
            raise ValueError(f"context must be 'left,chunk,right' with chunk > 0, got {spec!r}")
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.left},{self.chunk},{self.right}"


Context.DEFAULT = Context()


@dataclass
class ChunkBatch:
    """xs (N, size, F) windows; att_mask (N, l+c+r); conv_mask (N, c+2·lorder); per-utterance bookkeeping."""

    xs: torch.Tensor
    att_mask: torch.Tensor
    conv_mask: torch.Tensor
    n_chunks: list[int]
    out_lens: torch.Tensor
    context: Context

    def gather_index(self) -> torch.Tensor:
        """(B, max_len) index into the flattened (N·c) outputs, 0 beyond each length (mask with out_lens)."""
        c = self.context.chunk
        starts = torch.tensor([0] + self.n_chunks[:-1], device=self.out_lens.device).cumsum(0) * c
        t = torch.arange(int(self.out_lens.max()) if len(self.n_chunks) else 0, device=self.out_lens.device)
        idx = starts.unsqueeze(1) + t.unsqueeze(0)
        return torch.where(t.unsqueeze(0) < self.out_lens.unsqueeze(1), idx, 0)

    def split(self, y: torch.Tensor) -> list[torch.Tensor]:
        """(N, c, D) chunk outputs → per-utterance (L_b, D)."""
        parts = y.split(self.n_chunks, dim=0)
        return [p.reshape(-1, p.size(-1))[: int(n)] for p, n in zip(parts, self.out_lens)]


def check_lengths(feats: list[torch.Tensor]) -> None:
    """Refuses an empty batch or an utterance (T, F) shorter than one output frame's receptive field."""
    if not feats:
        raise ValueError("empty batch")
    for b, x in enumerate(feats):
        if x.size(0) < RECEPTIVE_FIELD:
            raise ValueError(f"utterance {b} has {x.size(0)} frames; at least {RECEPTIVE_FIELD} are needed")


def window_size(chunk: int) -> int:
    """fbank frames that ``chunk`` output frames read: the last one's receptive field reaches 15 - 8 = 7 frames
    past ``8·chunk``."""
    return (chunk - 1) * RATE + RECEPTIVE_FIELD


def make_chunk_batch(
    feats: list[torch.Tensor],
    context: Context,
    conv_lorder: int = 7,
    offsets: list[int] | None = None,
) -> ChunkBatch:
    """Cuts utterances (T_b, F) into masked chunk windows; ``offsets`` = cached history frames per utterance."""
    check_lengths(feats)
    c, left, right = context.chunk, context.left, context.right
    size, step = window_size(c), RATE * c
    device = feats[0].device
    windows, n_chunks, starts, lens, offs = [], [], [], [], []
    for b, x in enumerate(feats):
        t = x.size(0)
        max_len = subsampled_len(t)
        # chunks from the output length: the official formula adds an all-padding chunk when T exceeds a
        # window by 1-7 frames; its fully masked attention row is harmless in inference but NaN in backward
        n = -(-max_len // c)
        need = (n - 1) * step + size
        x = torch.nn.functional.pad(x, (0, 0, 0, need - t)) if need > t else x[:need]
        windows.append(x.unfold(0, size, step).transpose(1, 2))
        n_chunks.append(n)
        starts.append(torch.arange(n, device=device) * c)
        lens.append(max_len)
        offs.append(torch.full((n,), offsets[b] if offsets else 0, device=device))
    s = torch.cat(starts).unsqueeze(1)
    out_lens = torch.tensor(lens, device=device)
    max_len = torch.repeat_interleave(out_lens, torch.tensor(n_chunks, device=device)).unsqueeze(1)
    off = torch.cat(offs).unsqueeze(1)
    p_att = s - left + torch.arange(left + c + right, device=device).unsqueeze(0)
    att_mask = (p_att >= -off) & (p_att <= max_len - 1)
    p_conv = s - conv_lorder + torch.arange(c + 2 * conv_lorder, device=device).unsqueeze(0)
    conv_mask = (p_conv >= -off) & (p_conv <= max_len - 1) & (p_conv - s <= c - 1 + right)
    return ChunkBatch(torch.cat(windows, 0), att_mask, conv_mask, n_chunks, out_lens, context)
