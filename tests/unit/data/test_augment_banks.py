"""Bad files in the noise / RIR banks and what the augmentation chain makes of them (found by an audit that ran
the chain on real speech): each defect is an error or a warning naming the file, never silently wrong audio."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from chunkformer.audio import AudioError
from chunkformer.data.augment import AugmentConfig, add_noise, apply_rir, augment_waveform
from chunkformer.data.banks import list_audio
from chunkformer.data.pipeline import load_wave_16k

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


def test_a_silent_noise_or_rir_file_is_skipped_with_a_warning_naming_it(tmp_path: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    """A silent noise adds nothing whatever the SNR drawn; a silent RIR turns the speech into silence."""
    sf.write(tmp_path / "ok.wav", noise(1.0), RATE)
    sf.write(tmp_path / "zeros.wav", np.zeros(RATE, dtype=np.float32), RATE)
    with caplog.at_level(logging.WARNING, logger="chunkformer.data"):
        assert list_audio(tmp_path, "noise") == [tmp_path / "ok.wav"]
    assert "zeros.wav" in caplog.text and "silence" in caplog.text
    (tmp_path / "ok.wav").unlink()
    with pytest.raises(FileNotFoundError, match="no usable audio files for the RIR set"):
        list_audio(tmp_path, "RIR")


def test_a_silent_bank_file_listed_by_an_older_plan_is_an_error_naming_it(tmp_path: Path) -> None:
    sf.write(tmp_path / "zeros.wav", np.zeros(RATE, dtype=np.float32), RATE)
    with pytest.raises(AudioError, match=r"zeros\.wav: digital silence"):
        load_wave_16k(tmp_path / "zeros.wav")


def test_silent_noise_or_rir_arrays_are_errors_not_clean_or_silent_output() -> None:
    x = speech(1, 1.0)
    with pytest.raises(ValueError, match="silent noise"):
        add_noise(x, np.zeros(800, dtype=np.float32), 10.0)
    with pytest.raises(ValueError, match="silent impulse response"):
        apply_rir(x, np.zeros(400, dtype=np.float32))


def test_an_rir_with_leading_silence_does_not_delay_or_truncate_the_speech() -> None:
    """A measured RIR often starts with the sound's travel time (here 0.5 s of zeros): convolving and cutting to the
    input length shifted the speech by 0.5 s and dropped its last 0.5 s, whose words the transcript still holds."""
    x = speech(1, 2.0)
    tail = 0.3 * np.exp(-np.arange(1, 800) / 100.0) * np.random.default_rng(0).standard_normal(799)
    rir = np.concatenate([[1.0], tail]).astype(np.float32)
    late = np.concatenate([np.zeros(RATE // 2, dtype=np.float32), rir])
    assert np.allclose(apply_rir(x, late), apply_rir(x, rir), atol=1e-5)
    delta = np.zeros(RATE // 2 + 1, dtype=np.float32)
    delta[-1] = 1.0
    assert np.allclose(apply_rir(x, delta), x, atol=1e-5)


def test_the_bank_rirs_are_applied_from_their_direct_path(tmp_path: Path) -> None:
    """The same RIR written with 8000 leading zeros, as a stage-2 bank at 8 kHz: read, resampled, aligned."""
    x = speech(2, 2.0)
    rir = np.zeros(1200, dtype=np.float32)
    rir[0], rir[36] = 1.0, 0.4
    sf.write(tmp_path / "late.wav", np.concatenate([np.zeros(4000, dtype=np.float32), rir[::2]]), 8000,
             subtype="FLOAT")
    y, _, p = augment_waveform(x, RATE, AugmentConfig(reverb_prob=1.0), np.random.default_rng(0), None,
                               [load_wave_16k(tmp_path / "late.wav")], {"add_reverb"})
    lag = int(np.argmax(np.correlate(y[:RATE], x[:RATE], "full"))) - (RATE - 1)
    assert p == {"rir": 0} and abs(lag) <= 16  # 1 ms: the resampled pulse rings a few samples before its peak


def test_the_telephone_channel_rescales_a_loud_signal_instead_of_clipping_it() -> None:
    """Speech plus noise at 5 dB often peaks above full scale; the G.711 encoder clipped it (measured: 19 of 200
    peak-normalised utterances) before the chain's final rescaling, which exists because clipping is not wanted."""
    t = np.arange(RATE) / RATE
    x = (1.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    y, rate, p = augment_waveform(x, RATE, AugmentConfig(telephony_prob=1.0, codecs=("mulaw",)),
                                  np.random.default_rng(0), None, None, {"telephony"})
    spec = np.abs(np.fft.rfft(y[800:-800] * np.hanning(len(y) - 1600)))
    freqs = np.fft.rfftfreq(len(y) - 1600, 1 / rate)
    at = {f: spec[np.abs(freqs - f).argmin()] for f in (1000, 3000)}
    assert rate == 8000 and p["codec"] == "mulaw"
    assert 20 * np.log10(at[3000] / at[1000]) < -40  # clipping a sine makes a strong 3rd harmonic
