"""Telephony augmentation DSP: RT60 of generated RIRs, exact SNR, telephone band, G.711, SpecAugment widths."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from chunkformer.data.augment import (
    AugmentConfig,
    add_noise,
    alaw_decode,
    alaw_encode,
    augment_waveform,
    bandlimit,
    make_noise,
    make_rir,
    measure_rt60,
    mulaw_decode,
    mulaw_encode,
    spec_augment,
    telephone_channel,
)

RATE = 16000


def tone(f: float, seconds: float = 1.0, rate: int = RATE) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * f * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def level_db(x: np.ndarray) -> float:
    return 10 * np.log10(np.mean(x[2000:-2000] ** 2))


def test_generated_rirs_have_the_requested_rt60():
    rng = np.random.default_rng(1)
    for target in rng.uniform(0.05, 0.15, size=20):
        assert abs(measure_rt60(make_rir(float(target), RATE, rng), RATE) / target - 1) <= 0.15


@pytest.mark.parametrize("kind", ["white", "pink", "hum", "babble"])
def test_add_noise_realizes_the_snr(kind):
    rng = np.random.default_rng(2)
    x = tone(440)
    n = make_noise(kind, len(x), RATE, rng, babble_sources=[tone(200, 0.7), tone(300, 1.3), tone(500, 0.4)])
    y = add_noise(x, n, 7.5)
    assert abs(10 * np.log10(np.mean(x**2) / np.mean((y - x) ** 2)) - 7.5) < 0.1


def test_bandlimit_is_the_telephone_band():
    assert level_db(bandlimit(tone(1000), RATE)) - level_db(tone(1000)) > -1
    for f in (100, 6000):
        assert level_db(bandlimit(tone(f), RATE)) - level_db(tone(f)) < -20


def test_g711_round_trip_and_known_values():
    x = np.linspace(-1, 1, 1001).astype(np.float32)
    assert np.abs(mulaw_decode(mulaw_encode(x)) - x).max() < 0.025  # half a step at full scale
    assert np.abs(alaw_decode(alaw_encode(x)) - x).max() < 0.025
    small = np.array([0.001, 0.01], dtype=np.float32)  # companding: fine steps near zero
    assert np.abs(mulaw_decode(mulaw_encode(small)) - small).max() < 0.001
    assert mulaw_encode(np.array([0.0, 1.0, -1.0])).tolist() == [128, 255, 0]
    assert alaw_encode(np.array([0.0, 1.0, -1.0])).tolist() == [128, 255, 0]


def test_telephone_channel_is_8k_and_band_limited():
    y, rate = telephone_channel(tone(1000) + tone(3900) + tone(100), RATE, "mulaw")
    assert rate == 8000 and len(y) == 8000
    spec = np.abs(np.fft.rfft(y[1000:-1000]))
    freqs = np.fft.rfftfreq(len(y) - 2000, 1 / 8000)
    at = {f: spec[np.abs(freqs - f).argmin()] for f in (100, 1000, 3900)}
    assert at[1000] > 10 * at[3900] and at[1000] > 100 * at[100]


def test_augment_chain_draws_within_ranges_and_is_seeded():
    cfg = AugmentConfig(noise_prob=1.0, reverb_prob=1.0, telephony_prob=0.0)
    ops = {"speed_perturb", "add_reverb", "add_noise"}
    for seed in range(20):
        y, rate, p = augment_waveform(tone(300), RATE, cfg, np.random.default_rng(seed), None, None, ops)
        assert 5 <= p["snr"] <= 15 and 0.05 <= p["rt60"] <= 0.15 and p["speed"] in (0.9, 1.0, 1.1)
        assert rate == RATE and abs(len(y) - RATE / p["speed"]) <= 1 and np.isfinite(y).all()
        assert np.abs(y).max() <= 1.0
    a = augment_waveform(tone(300), RATE, cfg, np.random.default_rng(5), None, None, ops)[0]
    b = augment_waveform(tone(300), RATE, cfg, np.random.default_rng(5), None, None, ops)[0]
    assert np.array_equal(a, b)


def test_spec_augment_mask_widths():
    cfg = AugmentConfig(num_freq_masks=1, freq_mask_width=27, num_time_masks=1, time_mask_width=100,
                        max_time_mask_fraction=1.0)
    feats = torch.arange(500 * 80, dtype=torch.float32).reshape(500, 80) + 1e6
    widths_f, widths_t = [], []
    for seed in range(30):
        out = spec_augment(feats, cfg, np.random.default_rng(seed))
        masked = out != feats
        widths_f.append(int(masked.all(0).sum()))  # fully masked bins come from the frequency mask only
        widths_t.append(int(masked.all(1).sum()))  # fully masked frames from the time mask only
    assert max(widths_f) <= 27 and max(widths_t) <= 100
    assert max(widths_f) > 10 and max(widths_t) > 50  # masks of the configured size do occur
    short = spec_augment(feats[:100], AugmentConfig(num_freq_masks=0), np.random.default_rng(0))
    assert int((short != feats[:100]).all(1).sum()) <= 2 * 20  # ≤ 20 % of a short utterance per mask


def test_unknown_keys_and_ops_are_errors():
    with pytest.raises(ValueError, match="unknown augmentation key"):
        AugmentConfig.from_dict({"snr": [5, 15]})
    with pytest.raises(ValueError, match="unknown augmentation op"):
        augment_waveform(tone(300), RATE, AugmentConfig(), np.random.default_rng(0), None, None, {"tempo"})


def test_babble_key_changes_when_a_cut_audio_is_rewritten_under_the_same_id(tmp_path) -> None:
    """The noise bank is reused only while its babble sources are the same audio, not merely the same ids."""
    import os

    import soundfile as sf
    from lhotse import Recording

    from chunkformer.data.banks import cut_audio_key

    wav = tmp_path / "utt1.wav"
    sf.write(wav, tone(200, 1.0), RATE)
    cut = Recording.from_file(wav, recording_id="utt1").to_cut()
    before = cut_audio_key(cut)
    assert before.startswith("utt1:") and before == cut_audio_key(cut)
    sf.write(wav, tone(300, 1.2), RATE)
    os.utime(wav, ns=(1, 1))  # a new mtime even on a coarse-clock file system
    assert cut_audio_key(cut) != before
