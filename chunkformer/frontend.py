"""Model front end, identical to official inference: 16 kHz mono → int16-scale samples → Kaldi fbank.

The official package computes ``torchaudio.compliance.kaldi.fbank(wave_int16_as_float, num_mel_bins=80,
frame_length=25, frame_shift=10, dither=0, energy_floor=0)`` (povey window, pre-emphasis 0.97, DC removal,
power spectrum, 512-point FFT, mel banks 20 Hz–Nyquist, snip_edges). torchaudio cannot be installed here,
so the same algorithm is written below in torch, op for op, which keeps features equal to float rounding
(checked against official fixtures in tests) and lets it run on GPU. Global CMVN is part of the model.

>>> import torch
>>> fbank(torch.zeros(16000)).shape
torch.Size([98, 80])
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from chunkformer.audio import MODEL_RATE, read_audio

INT16_SCALE = 32768.0
NUM_MEL_BINS = 80
_EPS = torch.finfo(torch.float32).eps


def _mel(f: torch.Tensor) -> torch.Tensor:
    return 1127.0 * (1.0 + f / 700.0).log()


@lru_cache(maxsize=8)
def _mel_banks(num_bins: int, padded: int, rate: int, low: float, high: float) -> torch.Tensor:
    """Triangular mel filters (num_bins, padded // 2 + 1), Kaldi's construction."""
    nyquist = 0.5 * rate
    high = high + nyquist if high <= 0.0 else high
    mel_low, mel_high = 1127.0 * math.log(1.0 + low / 700.0), 1127.0 * math.log(1.0 + high / 700.0)
    delta = (mel_high - mel_low) / (num_bins + 1)
    b = torch.arange(num_bins).unsqueeze(1)
    left, center, right = mel_low + b * delta, mel_low + (b + 1.0) * delta, mel_low + (b + 2.0) * delta
    mel = _mel((rate / padded) * torch.arange(padded // 2)).unsqueeze(0)
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    banks = torch.max(torch.zeros(1), torch.min(up, down))
    return torch.nn.functional.pad(banks, (0, 1))


@lru_cache(maxsize=8)
def _povey(size: int) -> torch.Tensor:
    return torch.hann_window(size, periodic=False, dtype=torch.float32).pow(0.85)


@dataclass(frozen=True)
class FbankOptions:
    """Kaldi fbank settings of the released ChunkFormer models."""

    num_mel_bins: int = NUM_MEL_BINS
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    rate: int = MODEL_RATE
    low_freq: float = 20.0
    high_freq: float = 0.0
    preemphasis: float = 0.97


FRAME_SHIFT = FbankOptions.frame_shift_ms / 1000  # seconds between fbank frames (0.01)
FRAMES_PER_SECOND = round(1 / FRAME_SHIFT)      # fbank frames per second of audio (100)
FRAME_LENGTH = FbankOptions.frame_length_ms / 1000  # seconds of audio under one fbank frame (0.025)


def _frame_geometry(rate: int, opts: FbankOptions) -> tuple[int, int]:
    """(window, shift) in samples."""
    return int(rate * opts.frame_length_ms * 0.001), int(rate * opts.frame_shift_ms * 0.001)


def fbank(samples: np.ndarray | torch.Tensor, rate: int = MODEL_RATE, opts: FbankOptions = FbankOptions(),
          block_frames: int = 6000) -> torch.Tensor:
    """Log mel filterbank (T, 80) of mono float samples in [-1, 1] at ``rate`` (must be 16 kHz).

    ``T = 1 + (N - 400) // 160`` for N >= 400 samples, else 0. Frames are independent, so they are computed
    in blocks of ``block_frames`` (60 s) to keep the FFT buffers small for hour-long audio; results are identical.
    """
    if rate != opts.rate:
        raise ValueError(f"fbank expects {opts.rate} Hz audio, got {rate} Hz: resample first")
    x = torch.as_tensor(samples, dtype=torch.float32)
    if x.dim() != 1:
        raise ValueError(f"fbank expects mono samples (N,), got shape {tuple(x.shape)}")
    x = x * INT16_SCALE
    win, shift = _frame_geometry(rate, opts)
    padded = 1 << (win - 1).bit_length()
    if x.numel() < win:
        return torch.zeros(0, opts.num_mel_bins, dtype=torch.float32, device=x.device)
    all_frames = x.unfold(0, win, shift)
    banks = _mel_banks(opts.num_mel_bins, padded, rate, opts.low_freq, opts.high_freq).to(x.device)
    window = _povey(win).to(x.device)
    return torch.cat([_fbank_frames(all_frames[i : i + block_frames], window, banks, padded, opts.preemphasis)
                      for i in range(0, all_frames.shape[0], block_frames)])


def _fbank_frames(frames: torch.Tensor, window: torch.Tensor, banks: torch.Tensor, padded: int, preemph: float
                  ) -> torch.Tensor:
    win = frames.shape[1]
    frames = frames - frames.mean(dim=1, keepdim=True)
    prev = torch.nn.functional.pad(frames.unsqueeze(0), (1, 0), mode="replicate").squeeze(0)[:, :-1]
    frames = frames - preemph * prev
    frames = frames * window
    frames = torch.nn.functional.pad(frames, (0, padded - win))
    power = torch.fft.rfft(frames).abs().pow(2.0)
    mel = torch.mm(power, banks.T)
    return torch.max(mel, torch.tensor(_EPS, device=frames.device)).log()


def load_features(path: str | Path, channel: int | None = None,
                  on_downmix: Callable[[Path, int], None] | None = None, whole: bool = False) -> torch.Tensor:
    """Reads any audio file (rate, format; one ``channel`` or all averaged; ``whole``: a file cut short is an
    error, see :func:`chunkformer.audio.read_audio`) and returns its (T, 80) fbank at 16 kHz."""
    x, rate = read_audio(path, rate=MODEL_RATE, channel=channel, on_downmix=on_downmix, whole=whole)
    return fbank(x, rate)


def num_frames(num_samples: int, rate: int = MODEL_RATE) -> int:
    """Number of fbank frames for ``num_samples`` samples at ``rate`` (snip_edges)."""
    win, shift = _frame_geometry(rate, FbankOptions())
    return 0 if num_samples < win else 1 + (num_samples - win) // shift
