"""The model front end as a lhotse feature extractor (``chunkformer-fbank``), for stage-1 features."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from lhotse.features.base import FeatureExtractor, register_extractor

from chunkformer.audio import MODEL_RATE, resample
from chunkformer.frontend import FRAME_SHIFT, NUM_MEL_BINS, fbank


@dataclass
class ChunkFormerFbankConfig:
    num_mel_bins: int = NUM_MEL_BINS


@register_extractor
class ChunkFormerFbank(FeatureExtractor):
    """Exactly :func:`chunkformer.frontend.fbank` of one channel's audio resampled to 16 kHz (the caller picks
    the channel: :func:`chunkformer.data.pipeline.load_mono`; several channels are refused, never averaged)."""

    name = "chunkformer-fbank"
    config_type = ChunkFormerFbankConfig

    @property
    def frame_shift(self) -> float:
        return FRAME_SHIFT

    def feature_dim(self, sampling_rate: int) -> int:  # noqa: ARG002 - lhotse's signature
        return NUM_MEL_BINS

    def extract(self, samples: np.ndarray | torch.Tensor, sampling_rate: int) -> np.ndarray:
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim > 1 and x.shape[0] > 1:
            raise ValueError(f"{self.name}: {x.shape[0]} channels given; extract one channel (load_mono)")
        x = x.reshape(-1)
        return fbank(resample(x, sampling_rate, MODEL_RATE)).numpy()
