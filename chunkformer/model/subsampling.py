"""Depthwise-separable conv subsampling, 8x in time (official ``DepthwiseConvSubsampling``, "dw_striding").

Input (N, T, F=80) → (N, 1, T, F) → Conv2d(1→C,3,s2) ReLU → [depthwise Conv2d(C,3,s2) → pointwise
Conv2d(C→C,1) → ReLU] × 2 → (N, C, T', F') → (N, T', C·F') channel-major → Linear → (N, T', d).
No padding: ``T' = 1 + (T - 15) // 8`` (receptive field 15 frames), F' = 9 for F = 80.
Sequential indices 0, 2, 3, 5, 6 hold the weights (ReLUs at 1, 4, 7), as in the released state dicts.
"""

from __future__ import annotations

import torch
from torch import nn

from chunkformer.frontend import FRAME_LENGTH, FRAME_SHIFT, FRAMES_PER_SECOND

RATE = 8  # fbank frames per output frame: three stride-2 convolutions
RECEPTIVE_FIELD = 15  # fbank frames under one output frame: kernel 3 at input strides 1, 2, 4 → 3 + 2·2 + 2·4
OUTPUT_FRAME_SECONDS = RATE / FRAMES_PER_SECOND  # 0.08 s of audio per output frame
# Output frame t reads the audio [t·0.08, t·0.08 + 0.165] s (15 fbank frames of 25 ms, 10 ms apart); times are
# stamped at the centre of that receptive field, t·0.08 + 0.0825, not at its start (which put every time 80 ms
# early): the one place the convention is written.
OUTPUT_FRAME_CENTRE_SECONDS = ((RECEPTIVE_FIELD - 1) * FRAME_SHIFT + FRAME_LENGTH) / 2


def output_frame_start(t: float) -> float:
    """Start (s) of output frame ``t``'s 80 ms cell, centred on its receptive field: ``t·0.08 + 0.0425``; a
    word emitted on frames a..b spans ``[output_frame_start(a), output_frame_start(b + 1)]``."""
    return t * OUTPUT_FRAME_SECONDS + OUTPUT_FRAME_CENTRE_SECONDS - OUTPUT_FRAME_SECONDS / 2


def conv_out_len(n: int) -> int:
    """Length after three (kernel 3, stride 2, no padding) convolutions."""
    for _ in range(3):
        n = (n - 3) // 2 + 1
    return n


def subsampled_len(num_frames: torch.Tensor | int) -> torch.Tensor | int:
    """Output frames for ``num_frames`` input frames, ``1 + (T - 15) // 8`` (0 when shorter than the receptive
    field): the one place this formula is written."""
    if isinstance(num_frames, int):
        return 1 + (num_frames - RECEPTIVE_FIELD) // RATE if num_frames >= RECEPTIVE_FIELD else 0
    return torch.where(num_frames >= RECEPTIVE_FIELD, 1 + (num_frames - RECEPTIVE_FIELD) // RATE, 0)


class DepthwiseConvSubsampling(nn.Module):
    """(N, T, input_dim) → (N, subsampled_len(T), d)."""

    def __init__(self, input_dim: int, d_model: int) -> None:
        super().__init__()
        c = d_model
        self.conv = nn.Sequential(
            nn.Conv2d(1, c, 3, 2),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, 2, groups=c),
            nn.Conv2d(c, c, 1),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, 2, groups=c),
            nn.Conv2d(c, c, 1),
            nn.ReLU(),
        )
        self.out = nn.Linear(c * conv_out_len(input_dim), d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv[2:](self._first_conv(x))  # conv[1], the ReLU, is applied inside _first_conv
        n, c, t, f = x.shape
        return self.out(x.transpose(1, 2).reshape(n, t, c * f))

    def _first_conv(self, x: torch.Tensor) -> torch.Tensor:
        """``conv[0]`` (1→C) as one matrix product over the kernel's patches: (N, T, F) → (N, C, T', F') laid out
        channels-last, which the depthwise convolutions read natively and int8's pointwise products without a
        copy. On CPU this beat PyTorch's own convolution, which has no fast path for one input channel
        (docs/BENCHMARKS.md, int8 section); the result is the same up to float rounding. The ReLU that follows
        (``conv[1]``) runs here, in place on the product's contiguous rows: on the channels-last view it took a
        strided kernel that cost ~30 % of the whole subsampling."""
        conv = self.conv[0]
        (k, _), (s, _) = conv.kernel_size, conv.stride
        patches = x.unfold(1, k, s).unfold(2, k, s)  # (N, T', F', k, k)
        n, t, f = patches.shape[:3]
        y = torch.addmm(conv.bias, patches.reshape(n * t * f, k * k), conv.weight.view(-1, k * k).t())
        torch.relu_(y)  # autograd-safe: addmm saves its inputs, not its output
        return y.view(n, t, f, -1).permute(0, 3, 1, 2)
