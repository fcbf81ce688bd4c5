"""Waveform and feature augmentation for call-bot audio, in numpy/scipy (no torchaudio).

lhotse's random RIR, μ-law narrowband and tempo need torchaudio, which cannot be installed beside torch 2.x
here, so the telephony ops are written below. All waveforms are mono float32 in [-1, 1]; every random op takes
an explicit ``np.random.Generator`` (seeded per cut by the data pipeline).

>>> rng = np.random.default_rng(0)
>>> rir = make_rir(0.1, 16000, rng)
>>> abs(measure_rt60(rir, 16000) - 0.1) < 0.015
True
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import torch
from scipy.signal import butter, fftconvolve, sosfiltfilt

from chunkformer.audio import SILENCE_DBFS, is_silent, resample

NOISE_KINDS = ("white", "pink", "babble", "hum")
# the waveform augmentations a data.yaml source may name (the chain applies them speed → reverb → noise →
# telephony, see augment_waveform); telephony last: ``aug: all`` means every one but it
WAVE_OPS = ("speed_perturb", "add_noise", "add_reverb", "telephony")


@dataclass
class AugmentConfig:
    """Every probability and range of the augmentation (keys of ``augmentation:`` in data.yaml)."""

    speed_factors: tuple[float, ...] = (0.9, 1.0, 1.1)
    noise_prob: float = 0.8
    snr_range: tuple[float, float] = (5.0, 15.0)
    noise_kinds: tuple[str, ...] = NOISE_KINDS
    reverb_prob: float = 0.5
    rt60_range: tuple[float, float] = (0.05, 0.15)
    telephony_prob: float = 0.5
    codecs: tuple[str, ...] = ("mulaw", "alaw")
    num_freq_masks: int = 2
    freq_mask_width: int = 27
    num_time_masks: int = 2
    time_mask_width: int = 100
    max_time_mask_fraction: float = 0.2  # a mask never hides more than this share of a short utterance
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> AugmentConfig:
        """Builds a config from data.yaml's mapping; unknown keys are an error naming them."""
        d = dict(d or {})
        names = {f.name for f in fields(cls)} - {"extra"}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown augmentation key(s) {unknown}; known: {sorted(names)}")
        for k in ("speed_factors", "snr_range", "noise_kinds", "rt60_range", "codecs"):
            if k in d:
                d[k] = tuple(d[k])
        cfg = cls(**d)
        bad = [k for k in cfg.noise_kinds if k not in NOISE_KINDS]
        if bad or any(c not in ("mulaw", "alaw") for c in cfg.codecs):
            raise ValueError(f"unknown noise kind or codec in {cfg.noise_kinds} / {cfg.codecs}")
        if cfg.snr_range[0] > cfg.snr_range[1] or cfg.rt60_range[0] > cfg.rt60_range[1]:
            raise ValueError("snr_range and rt60_range must be (low, high)")
        return cfg


# --- reverb -----------------------------------------------------------------------------------------------

def make_rir(rt60: float, rate: int, rng: np.random.Generator) -> np.ndarray:
    """Synthetic room impulse response: direct path, a few early reflections, and a Gaussian-noise tail whose
    energy decays by 60 dB in ``rt60`` seconds (amplitude envelope exp(-ln(1000)·t/rt60)). Peak 1."""
    n = max(int(2.0 * rt60 * rate), 16)
    t = np.arange(n) / rate
    tail = rng.standard_normal(n) * np.exp(-np.log(1000.0) * t / rt60) * 0.5
    h = tail
    h[0] = 1.0
    for _ in range(4):  # early reflections within the first 10 ms
        k = int(rng.integers(1, max(2, int(0.01 * rate))))
        h[k] += rng.uniform(-0.5, 0.5)
    return (h / np.abs(h).max()).astype(np.float32)


def measure_rt60(rir: np.ndarray, rate: int) -> float:
    """RT60 by Schroeder backward integration: energy decay curve in dB, least-squares line between -5 and
    -25 dB (T20), extrapolated to 60 dB."""
    e = np.cumsum((rir.astype(np.float64) ** 2)[::-1])[::-1]
    edc = 10 * np.log10(e / e[0] + 1e-300)
    idx = np.where((edc <= -5) & (edc >= -25))[0]
    if len(idx) < 2:
        raise ValueError("impulse response too short to measure its decay")
    slope = np.polyfit(idx / rate, edc[idx], 1)[0]
    return float(-60.0 / slope)


def rir_onset(rir: np.ndarray) -> int:
    """Index of the direct path: the first sample within 20 dB of the RIR's peak. A measured RIR starts with the
    sound's travel time (leading near-zeros); the peak itself may be an early reflection a few ms later."""
    a = np.abs(rir)
    return int(np.argmax(a >= 0.1 * a.max()))


def apply_rir(x: np.ndarray, rir: np.ndarray) -> np.ndarray:
    """FFT convolution from the RIR's direct path (:func:`rir_onset`: the speech is neither delayed nor its end cut
    off), cut to the input length, rescaled to the input's RMS (level stays comparable). A silent impulse response
    is a ValueError: it would turn the speech into silence under its transcript."""
    if is_silent(rir):
        raise ValueError(f"silent impulse response (all zeros or below {SILENCE_DBFS:g} dBFS): it would erase "
                         "the speech")
    y = fftconvolve(x, rir[rir_onset(rir) :])[: len(x)]
    rx, ry = np.sqrt(np.mean(x**2)), np.sqrt(np.mean(y**2))
    return (y * (rx / ry if ry > 0 else 1.0)).astype(np.float32)


# --- noise ------------------------------------------------------------------------------------------------

def _unit_rms(x: np.ndarray) -> np.ndarray:
    r = np.sqrt(np.mean(x**2))
    return (x / r if r > 0 else x).astype(np.float32)


def make_noise(kind: str, num_samples: int, rate: int, rng: np.random.Generator,
               babble_sources: list[np.ndarray] | None = None) -> np.ndarray:
    """Unit-RMS noise: white, pink (1/f power), babble (several other utterances summed), hum (mains 50 Hz +
    harmonics + a little white noise)."""
    if kind == "white":
        return _unit_rms(rng.standard_normal(num_samples))
    if kind == "pink":
        spec = np.fft.rfft(rng.standard_normal(num_samples))
        f = np.arange(len(spec), dtype=np.float64)
        f[0] = 1.0
        return _unit_rms(np.fft.irfft(spec / np.sqrt(f), n=num_samples))
    if kind == "hum":
        t = np.arange(num_samples) / rate
        base = rng.choice([50.0, 60.0])
        y = sum(np.sin(2 * np.pi * base * k * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 8)
                if base * k < rate / 2)
        return _unit_rms(y + 0.05 * rng.standard_normal(num_samples))
    if kind == "babble":
        if not babble_sources:
            raise ValueError("babble noise needs other utterances (babble_sources)")
        y = np.zeros(num_samples)
        for _ in range(int(rng.integers(3, 7))):
            src = babble_sources[int(rng.integers(len(babble_sources)))]
            if len(src) == 0:
                continue
            seg = np.resize(src, num_samples + len(src))
            start = int(rng.integers(len(src)))
            y += _unit_rms(seg[start : start + num_samples])
        return _unit_rms(y)
    raise ValueError(f"unknown noise kind {kind!r}; choose from {NOISE_KINDS}")


def add_noise(x: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """x + noise scaled to exactly ``snr_db`` (signal power over noise power); noise tiled/cropped to len(x).
    Silent ``x`` is returned as it is; silent noise is a ValueError (no scale gives it an SNR)."""
    if len(noise) == 0:
        raise ValueError("empty noise")
    n = np.resize(noise, len(x)).astype(np.float64)
    px, pn = np.mean(x.astype(np.float64) ** 2), np.mean(n**2)
    if pn == 0:
        raise ValueError("silent noise (all zeros): nothing to add at any SNR")
    if px == 0:
        return x.astype(np.float32)
    return (x + n * np.sqrt(px / (pn * 10 ** (snr_db / 10)))).astype(np.float32)


# --- telephone channel ------------------------------------------------------------------------------------

def bandlimit(x: np.ndarray, rate: int, low: float = 300.0, high: float = 3400.0) -> np.ndarray:
    """Zero-phase 4th-order Butterworth band-pass (the telephone band)."""
    high = min(high, 0.45 * rate)
    sos = butter(4, [low, high], btype="bandpass", fs=rate, output="sos")
    return sosfiltfilt(sos, x).astype(np.float32)


MU, A = 255.0, 87.6


def _quantize(y: np.ndarray) -> np.ndarray:
    """[-1, 1] → 8-bit codes 0..255."""
    return np.clip(np.round((y + 1) / 2 * 255), 0, 255).astype(np.uint8)


def _dequantize(c: np.ndarray) -> np.ndarray:
    return c.astype(np.float64) / 255 * 2 - 1


def mulaw_encode(x: np.ndarray) -> np.ndarray:
    """G.711 μ-law (μ = 255) companding to 8-bit codes."""
    x = np.clip(x, -1, 1)
    return _quantize(np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU))


def mulaw_decode(c: np.ndarray) -> np.ndarray:
    y = _dequantize(c)
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(MU)) / MU).astype(np.float32)


def alaw_encode(x: np.ndarray) -> np.ndarray:
    """G.711 A-law (A = 87.6) companding to 8-bit codes."""
    x = np.clip(x, -1, 1)
    ax = np.abs(x)
    la = 1 + np.log(A)
    y = np.where(ax < 1 / A, A * ax / la, (1 + np.log(np.maximum(A * ax, 1e-12))) / la)
    return _quantize(np.sign(x) * y)


def alaw_decode(c: np.ndarray) -> np.ndarray:
    y = _dequantize(c)
    ay = np.abs(y)
    la = 1 + np.log(A)
    x = np.where(ay < 1 / la, ay * la / A, np.exp(ay * la - 1) / A)
    return (np.sign(y) * x).astype(np.float32)


def telephone_channel(x: np.ndarray, rate: int, codec: str = "mulaw",
                      rng: np.random.Generator | None = None,  # noqa: ARG001 - see the docstring
                      ) -> tuple[np.ndarray, int]:
    """Band-limit 300–3400 Hz, resample to 8 kHz, G.711 μ-law or A-law round trip → (y, 8000). A peak above full
    scale (speech plus noise, filter overshoot) is rescaled first: the encoder would clip it. Deterministic:
    ``rng`` is unused, kept only while local/make_demo_corpus.py still passes one."""
    y = resample(bandlimit(x, rate), rate, 8000)
    peak = float(np.abs(y).max()) if len(y) else 0.0
    if peak > 1.0:
        y = y / peak
    if codec == "mulaw":
        y = mulaw_decode(mulaw_encode(y))
    elif codec == "alaw":
        y = alaw_decode(alaw_encode(y))
    else:
        raise ValueError(f"unknown codec {codec!r}; choose mulaw or alaw")
    return y.astype(np.float32), 8000


# --- features ---------------------------------------------------------------------------------------------

def spec_augment(feats: torch.Tensor, cfg: AugmentConfig, rng: np.random.Generator) -> torch.Tensor:
    """SpecAugment on (T, F) log-mel features: ``num_freq_masks`` masks of width ≤ F, ``num_time_masks`` of
    width ≤ T (and ≤ ``max_time_mask_fraction`` of the utterance). Masked cells get the utterance mean: CMVN
    lives inside the model, so zero is not "neutral" at this point."""
    x = feats.clone()
    t, f = x.shape
    fill = x.mean()
    for _ in range(cfg.num_freq_masks):
        w = int(rng.integers(0, min(cfg.freq_mask_width, f) + 1))
        f0 = int(rng.integers(0, f - w + 1))
        x[:, f0 : f0 + w] = fill
    max_t = min(cfg.time_mask_width, int(cfg.max_time_mask_fraction * t))
    for _ in range(cfg.num_time_masks):
        w = int(rng.integers(0, max_t + 1))
        t0 = int(rng.integers(0, t - w + 1))
        x[t0 : t0 + w] = fill
    return x


# --- the chain --------------------------------------------------------------------------------------------

def speed_perturb(x: np.ndarray, rate: int, factor: float) -> np.ndarray:
    """Like sox ``speed``: tempo and pitch change together; duration becomes len/factor."""
    if factor == 1.0:
        return x
    return resample(x, int(round(rate * factor)), rate)


def augment_waveform(x: np.ndarray, rate: int, cfg: AugmentConfig, rng: np.random.Generator,
                     noises: list[np.ndarray] | None, rirs: list[np.ndarray] | None, ops: set[str]
                     ) -> tuple[np.ndarray, int, dict[str, Any]]:
    """Speed → reverb → noise → telephone channel, each gated by ``ops`` and its probability.

    ``noises``/``rirs`` are recordings at ``rate`` (generated ones are made when None); a noise crop that is
    digital silence is replaced by the recording's audible samples, so the drawn SNR is always realized. Returns the new
    waveform, its rate and the drawn parameters (speed, rt60 or rir index, snr and noise, codec)."""
    unknown = set(ops) - set(WAVE_OPS)
    if unknown:
        raise ValueError(f"unknown augmentation op(s) {sorted(unknown)}; known: {WAVE_OPS}")
    params: dict[str, Any] = {}
    y = np.asarray(x, dtype=np.float32)
    if "speed_perturb" in ops and cfg.speed_factors:
        factor = float(cfg.speed_factors[int(rng.integers(len(cfg.speed_factors)))])
        y = speed_perturb(y, rate, factor)
        params["speed"] = factor
    if "add_reverb" in ops and rng.random() < cfg.reverb_prob:
        if rirs:
            i = int(rng.integers(len(rirs)))
            y = apply_rir(y, rirs[i])
            params["rir"] = i
        else:
            rt60 = float(rng.uniform(*cfg.rt60_range))
            y = apply_rir(y, make_rir(rt60, rate, rng))
            params["rt60"] = rt60
    if "add_noise" in ops and rng.random() < cfg.noise_prob:
        snr = float(rng.uniform(*cfg.snr_range))
        if noises:
            i = int(rng.integers(len(noises)))
            src = noises[i]
            start = int(rng.integers(max(1, len(src) - len(y) + 1)))
            noise = src[start : start + len(y)]
            if is_silent(noise):  # a silent stretch of the recording would add nothing: its audible samples instead
                noise = src[np.abs(src) > 10.0 ** (SILENCE_DBFS / 20.0)]
            params["noise"] = i
        else:
            kind = str(cfg.noise_kinds[int(rng.integers(len(cfg.noise_kinds)))])
            kind = "white" if kind == "babble" else kind  # babble needs a noise set of utterances
            noise = make_noise(kind, len(y), rate, rng)
            params["noise"] = kind
        y = add_noise(y, noise, snr)
        params["snr"] = snr
    if "telephony" in ops and rng.random() < cfg.telephony_prob:
        codec = str(cfg.codecs[int(rng.integers(len(cfg.codecs)))])
        y, rate = telephone_channel(y, rate, codec)
        params["codec"] = codec
    peak = float(np.abs(y).max()) if len(y) else 0.0
    if peak > 1.0:  # rescaling keeps the SNR; clipping would not
        y = y / peak
    return np.ascontiguousarray(y, dtype=np.float32), rate, params
