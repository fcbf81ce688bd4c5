"""The project's one espeak-ng wrapper: Vietnamese voices, speaker variants, and a seeded random speaker.

espeak-ng has three Vietnamese voices (northern ``vi``, ``vi-vn-x-central``, ``vi-vn-x-south``) and ~100
"variants" (``espeak-ng --voices=variant``) that change pitch range, formants and breathiness; ``vi+m3`` is the
northern voice with variant ``m3``. The variants below were listened to / measured on one sentence at rate 150:
each gives 3.8-4.2 s of audio at a normal level (``Andrea`` was dropped: it speaks at ~1.6x speed; ``david``,
``whisper``, ``m8`` were dropped: peak level below 0.6, i.e. mostly breath). Some variants are held out: test
sets use only HELDOUT_VARIANTS, training and validation only TRAIN_VARIANTS, so a test measures unseen speakers.

    python -c "import sys; sys.path.insert(0, 'local'); import tts; print(tts.espeak('xin chào', 'vi', 150, 50))"
"""

from __future__ import annotations

import io
import subprocess

import numpy as np
import soundfile as sf

from chunkformer.audio import resample

VOICES = ("vi", "vi-vn-x-central", "vi-vn-x-south")
# "" = the voice without a variant (espeak-ng's default male)
TRAIN_VARIANTS = ("", "m1", "m2", "m3", "m4", "m6", "m7", "f1", "f2", "f4", "Annie", "aunty")
HELDOUT_VARIANTS = ("m5", "f3", "f5")
RATE_RANGE = (125, 185)   # words per minute, inclusive
PITCH_RANGE = (30, 70)    # espeak-ng pitch 0-99, inclusive
PAD_SECONDS = 0.2  # silence around a held-out test sentence, as every corpus has (50-400 ms)


def voice_name(voice: str, variant: str = "") -> str:
    """``vi`` + ``m3`` -> ``vi+m3``; no variant -> the voice itself."""
    return f"{voice}+{variant}" if variant else voice


def espeak(text: str, voice: str, speed: int, pitch: int, gap: int = 0) -> tuple[np.ndarray, int]:
    """Speaks ``text`` with espeak-ng; returns (mono float32 samples, sample rate) — 22 050 Hz for these voices.

    ``voice`` may carry a variant (``vi+f2``); ``gap`` is extra silence between words in 10 ms units.
    """
    out = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-g", str(gap), "--stdout",
                          text], capture_output=True, check=True).stdout
    x, rate = sf.read(io.BytesIO(out), dtype="float32")
    return x, rate


def dither(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """TPDF dither of 1 LSB at 16 bits. espeak-ng's pauses and our padding are digital zeros, which the log-mel
    front end (no dither, as the official decoder) maps to its floor, -15.9: measured on the first general corpus,
    23 % of all feature values sat there against speech at 14 +- 5, the global CMVN saw a std of 13, and a model
    trained from scratch stayed at 100 % WER for 1 250 steps. Real recordings never hold digital silence."""
    lsb = 1.0 / 32768
    return (x + (rng.random(len(x)) - rng.random(len(x))) * lsb).astype(np.float32)


def random_speaker(rng: np.random.Generator, variants: tuple[str, ...] = TRAIN_VARIANTS) -> tuple[str, int, int]:
    """(voice with variant, rate, pitch) drawn from ``rng``: a voice, one of ``variants``, rate 125-185,
    pitch 30-70."""
    voice = VOICES[int(rng.integers(len(VOICES)))]
    variant = variants[int(rng.integers(len(variants)))]
    return (voice_name(voice, variant), int(rng.integers(RATE_RANGE[0], RATE_RANGE[1] + 1)),
            int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1)))


def speak_heldout(i: int, text: str) -> tuple[np.ndarray, int]:
    """Sentence ``i`` of a hand-written test set, spoken by the held-out speakers round-robin at a plain rate
    (150-170) and pitch (50), as 16 kHz float32. Like the corpora: 200 ms of silence before and after
    (espeak-ng starts on sample 0, and a recording never starts on its first phoneme; measured with the general
    pretrained checkpoint: 33.1 % WER without it, 28.1 % with it), dithered (no digital silence), seeded by
    ``i``, so a rerun gives the same samples. Shared by the tests and benches of hand-written sentences, so
    their numbers stay comparable."""
    voice = voice_name(VOICES[i % len(VOICES)], HELDOUT_VARIANTS[i % len(HELDOUT_VARIANTS)])
    x, rate = espeak(text, voice, 150 + 5 * (i % 5), 50)
    pad = np.zeros(int(PAD_SECONDS * 16000), dtype=np.float32)
    return dither(np.concatenate([pad, resample(x, rate, 16000), pad]), np.random.default_rng(i)), 16000
