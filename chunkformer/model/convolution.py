"""Chunk convolution module (official ``ChunkConvolutionModule.forward_parallel_chunk``, dynamic_conv).

x (N, c, d) → pointwise Conv1d(d→2d) → GLU → chunks laid end to end ``[cache(k//2) | …]`` and cut into
windows of c + 2·(k//2) frames → mask (N, c + 2·(k//2)) → depthwise Conv1d(k, no padding) → LayerNorm over
channels → SiLU → pointwise Conv1d(d→d) → zero at invalid frames → (N, c, d).
The depthwise conv sees real frames of the neighbouring chunks (up to min(r, k//2) on the right), in
training and inference alike (the official training path pads zeros there instead; we do not).
"""

from __future__ import annotations

import torch
from torch import nn


class ChunkConvolutionModule(nn.Module):
    def __init__(self, channels: int, kernel_size: int, activation: nn.Module, norm_eps: float = 1e-5) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"cnn_module_kernel must be odd, got {kernel_size}")
        self.channels = channels
        self.lorder = kernel_size // 2
        self.pointwise_conv1 = nn.Conv1d(channels, 2 * channels, 1)
        self.depthwise_conv = nn.Conv1d(channels, channels, kernel_size, groups=channels)
        self.norm = nn.LayerNorm(channels, eps=norm_eps)
        self.pointwise_conv2 = nn.Conv1d(channels, channels, 1)
        self.activation = activation

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor, cache: torch.Tensor | None = None, keep: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (N, c, d), mask (N, c + 2·lorder), cache (d, lorder) → (N, c, d), new cache (d, lorder)."""
        n, c, d = x.shape
        lo = self.lorder
        x = nn.functional.glu(self.pointwise_conv1(x.transpose(1, 2)), dim=1)  # (N, d, c)
        x = x.transpose(0, 1).reshape(d, n * c)
        prefix = cache if cache is not None else x.new_zeros(d, lo)
        x = torch.cat([prefix.to(x.dtype), x], dim=-1)
        new_cache = x[:, : keep + lo][:, -lo:] if cache is not None else None
        x = nn.functional.pad(x, (0, lo))
        x = x.unfold(-1, c + 2 * lo, c).transpose(0, 1)  # (N, d, c + 2·lo)
        m = mask.unsqueeze(1)
        x = torch.where(m, x, 0)
        x = self.depthwise_conv(x)
        x = self.activation(self.norm(x.transpose(1, 2))).transpose(1, 2)
        x = self.pointwise_conv2(x)
        x = x.masked_fill(~m[:, :, lo:-lo], 0.0)
        return x.transpose(1, 2), new_cache
