"""local/tts.py: the synthetic corpora never hold digital silence (it maps to the log-mel floor)."""

from __future__ import annotations

import sys

import numpy as np

from chunkformer.frontend import fbank

from helpers import REPO

sys.path.insert(0, str(REPO / "local"))
from tts import dither  # noqa: E402


def test_dither_lifts_silence_off_the_log_mel_floor() -> None:
    silence = np.zeros(16000, dtype=np.float32)
    assert float(fbank(silence, 16000).min()) < -15  # the floor: log of float eps
    d = dither(silence, np.random.default_rng(0))
    pcm = np.round(d * 32768)
    assert np.abs(pcm).max() <= 2 and (pcm != 0).mean() > 0.2  # about one LSB of 16-bit audio
    on_disk = (pcm / 32768).astype(np.float32)  # what the PCM_16 wav holds
    assert float(fbank(on_disk, 16000).min()) > -15 and float(fbank(on_disk, 16000).mean()) > 0
    assert np.array_equal(d, dither(silence, np.random.default_rng(0)))  # seeded: same bytes on a rerun
