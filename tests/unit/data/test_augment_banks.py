"""Bad files in the noise / RIR banks and what the augmentation chain makes of them (found by an audit that ran
the chain on real speech): each defect is an error or a warning naming the file, never silently wrong audio."""

from __future__ import annotations

import numpy as np

from chunkformer.data.augment import AugmentConfig, augment_waveform

from helpers import speech

RATE = 16000


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    return (0.3 * np.random.default_rng(seed).standard_normal(int(seconds * RATE))).astype(np.float32)


def test_noise_cropped_from_a_silent_stretch_still_adds_noise_at_the_drawn_snr() -> None:
    """A noise recording with 25 s of digital silence then 0.5 s of noise: a crop inside the silence added nothing
    while the params reported the SNR; the whole recording (tiled) is used instead."""
    x = speech(1, 2.0)
    src = np.concatenate([np.zeros(25 * RATE, dtype=np.float32), noise(0.5)])
    cfg = AugmentConfig(noise_prob=1.0)
    for seed in range(5):
        y, _, p = augment_waveform(x, RATE, cfg, np.random.default_rng(seed), [src], None, {"add_noise"})
        snr = 10 * np.log10(np.sum(x.astype(np.float64) ** 2) / np.sum((y - x).astype(np.float64) ** 2))
        assert abs(snr - p["snr"]) < 0.05, (seed, snr, p)
