"""Chunk convolution module (official ``ChunkConvolutionModule.forward_parallel_chunk``, dynamic_conv).

x (N, c, d) → pointwise Conv1d(d→2d) → GLU → chunks laid end to end ``[cache(k//2) | …]`` and cut into
windows of c + 2·(k//2) frames → mask (N, c + 2·(k//2)) → depthwise Conv1d(k, no padding) → LayerNorm over
channels → SiLU → pointwise Conv1d(d→d) → zero at invalid frames → (N, c, d).
The depthwise conv sees real frames of the neighbouring chunks (up to min(r, k//2) on the right), in
training and inference alike (the official training path pads zeros there instead; we do not).

Split in steps so that a layer can run them over small groups of chunks: :meth:`glu` (per chunk),
:meth:`sequence` (all GLU frames + cache + right padding, and the next segment's cache), :meth:`finish`
(depthwise conv onwards, per chunk). Frames stay channel-last (…, d) throughout; the 1×1 convolutions are
the same products as ``nn.functional.linear`` on that layout (weights keep their Conv1d shapes and names).
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
        # int8 inference (chunkformer.model.quantize): the two pointwise convolutions as int8 Linears
        self.pointwise1_int8: nn.Module | None = None
        self.pointwise2_int8: nn.Module | None = None

    @staticmethod
    def _pointwise(x: torch.Tensor, conv: nn.Conv1d, int8: nn.Module | None) -> torch.Tensor:
        """A 1×1 convolution on channel-last frames (…, d): the int8 module when quantised, else ``linear``."""
        return int8(x) if int8 is not None else nn.functional.linear(x, conv.weight.squeeze(-1), conv.bias)

    def glu(self, x: torch.Tensor) -> torch.Tensor:
        """(g, c, d) → GLU(pointwise_conv1(x)) as (g·c, d) frames."""
        y = self._pointwise(x, self.pointwise_conv1, self.pointwise1_int8)
        return nn.functional.glu(y, dim=-1).reshape(-1, self.channels)

    def sequence(
        self, frames: torch.Tensor, cache: torch.Tensor | None = None, keep: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """GLU frames (N·c, d) → ``[cache or zeros (k//2) | frames | zeros (k//2)]`` and the next segment's cache
        (d, k//2): the last k//2 frames before the segment's kept part (``keep`` frames)."""
        lo = self.lorder
        prefix = cache.t().to(frames.dtype) if cache is not None else frames.new_zeros(lo, self.channels)
        seq = torch.cat([prefix, frames, frames.new_zeros(lo, self.channels)], dim=0)
        new_cache = seq[: keep + lo][-lo:].t() if cache is not None else None
        return seq, new_cache

    def finish(self, seq: torch.Tensor, first: int, mask: torch.Tensor, chunk: int) -> torch.Tensor:
        """Output (g, c, d) of chunks ``first … first+g-1``, from the sequence of :meth:`sequence` and their mask
        (g, c + 2·(k//2)): depthwise conv over each chunk's window, LayerNorm, activation, pointwise_conv2."""
        lo = self.lorder
        g = mask.size(0)
        width = chunk + 2 * lo
        win = seq[first * chunk : (first + g - 1) * chunk + width].unfold(0, width, chunk)  # (g, d, W) view
        m = mask.unsqueeze(1)
        x = self.depthwise_conv(torch.where(m, win, 0))  # (g, d, c)
        x = self.activation(self.norm(x.transpose(1, 2)))  # (g, c, d)
        x = self._pointwise(x, self.pointwise_conv2, self.pointwise2_int8)
        return x.masked_fill_(~mask[:, lo:-lo].unsqueeze(-1), 0.0)  # in place: linear keeps no output

    def finish_packed(self, frames: torch.Tensor, lens: list[int]) -> torch.Tensor:
        """:meth:`finish` for a packed batch (inference): GLU frames (T, d) of utterances of ``lens`` frames laid
        end to end → (T, d). One depthwise convolution runs over ``[zeros(k//2) | u_0 | zeros(k//2) | u_1 | …]``:
        the k//2 zeros between neighbours are what each utterance sees past its ends, as alone."""
        lo = self.lorder
        gap = frames.new_zeros(lo, self.channels)
        parts, starts, start = [gap], [], 0
        for b, n in enumerate(lens):
            parts += [frames[start : start + n], gap]
            starts.append(start + b * lo)  # utterance b's outputs: b·(k//2) rows after its frames' own start
            start += n
        y = self.depthwise_conv(torch.cat(parts).t().unsqueeze(0))[0].t()  # (T + (B-1)·k//2, d)
        y = torch.cat([y[s : s + n] for s, n in zip(starts, lens)]) if len(lens) > 1 else y
        return self._pointwise(self.activation(self.norm(y)), self.pointwise_conv2, self.pointwise2_int8)
