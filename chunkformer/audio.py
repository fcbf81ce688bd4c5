"""Audio I/O: read any rate/format/channel count, pick a channel or downmix, band-limited resampling.

:func:`read_audio` reads a file; :func:`decode_audio` an in-memory one (a request body), checking its header
(duration limit, truncation) before decoding it.

Samples are float32 in [-1, 1]. The model front end (:mod:`chunkformer.frontend`) scales them to the
int16 range the official models were trained on.

>>> import numpy as np
>>> resample(np.zeros(8000, dtype=np.float32), 8000, 16000).shape
(16000,)
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from math import gcd
from pathlib import Path
from typing import NamedTuple

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from chunkformer.utils.cli import first_line

MODEL_RATE = 16000
MAX_RATE = 384000  # the highest rate audio formats use; resampling costs memory in proportion to the rate
SILENCE_DBFS = -70.0  # digital silence: a peak (DC removed) at or below this level; stage 0 and the noise/RIR banks


def dc_free_peak(x: np.ndarray) -> float:
    """The largest |sample| of ``x`` after each channel's mean (last axis) is removed: 0 for a constant (DC)
    signal or an empty one."""
    x = np.asarray(x, dtype=np.float64)
    return float(np.abs(x - x.mean(axis=-1, keepdims=True)).max()) if x.size else 0.0


def is_silent(x: np.ndarray, dbfs: float = SILENCE_DBFS) -> bool:
    """True when ``x`` is empty or its peak (DC removed, :func:`dc_free_peak`) is at or below ``dbfs``."""
    return dc_free_peak(x) <= 10.0 ** (dbfs / 20.0)


class AudioError(ValueError):
    """An audio file that cannot be used; the message names the file and the reason."""


class AudioTooLong(AudioError):
    """Audio longer than the caller's limit, found from the header (nothing decoded) or after decoding."""


class TruncatedAudio(AudioError):
    """A WAV whose data chunk holds fewer bytes than its header declares (a copy cut short)."""


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited polyphase resampling (Kaiser-windowed FIR) along the last axis.

    The official package resamples with pydub/audioop linear interpolation, which aliases; a proper
    anti-aliasing filter is used here instead (documented difference; 16 kHz input is untouched).
    """
    if rate_in == rate_out:
        return x
    g = gcd(rate_in, rate_out)
    y = resample_poly(x, rate_out // g, rate_in // g, axis=-1)
    return y.astype(np.float32, copy=False)


def read_audio(path: str | Path, rate: int | None = MODEL_RATE, channel: int | None = None,
               on_downmix: Callable[[Path, int], None] | None = None, whole: bool = False
               ) -> tuple[np.ndarray, int]:
    """Reads ``path`` as mono float32; resamples to ``rate`` unless ``rate`` is None.

    ``channel`` (0-based, as lhotse counts) picks one channel; None averages every channel of a multi-channel
    file and then calls ``on_downmix(path, channels)`` (callers that may hold two speakers warn there).
    ``whole``: also refuse a compressed file that decodes to fewer samples than its header declares (a
    truncated MP3), as :func:`decode_audio` does; without it such a file gives the samples it holds.
    Raises :class:`AudioError` for unreadable, empty, truncated (a WAV with fewer bytes than its header declares:
    soundfile would read what is there; ``whole``: any format) or non-finite audio, or a channel the file does
    not have.
    """
    path = Path(path)
    if path.is_dir():
        raise AudioError(f"{path}: a directory, not an audio file (pass its files, e.g. {path / '*.wav'})")
    if not path.is_file():
        raise AudioError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: empty (no bytes)")
    try:
        check_complete(wav_file_chunk(path), str(path))
    except OSError as e:
        raise AudioError(f"{path}: cannot read ({e.strerror or e})") from e
    try:
        info = sf.info(str(path))
    except Exception as e:  # soundfile raises several types for corrupt files
        raise AudioError(f"{path}: cannot decode audio ({e})") from e
    _check_known_length(str(path), info.frames)
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as e:
        raise AudioError(f"{path}: cannot decode audio ({e})") from e
    _check_samples(str(path), data.shape[0], info.frames if whole else 0)
    return _mono(data, int(sr), path, rate, channel, on_downmix)


def _mono(data: np.ndarray, sr: int, path: Path, rate: int | None, channel: int | None,
          on_downmix: Callable[[Path, int], None] | None) -> tuple[np.ndarray, int]:
    """(frames, channels) samples → the chosen channel or the average, checked, resampled (see read_audio)."""
    if data.shape[0] == 0:
        raise AudioError(f"{path}: no samples")
    if channel is not None:
        if not 0 <= channel < data.shape[1]:
            raise AudioError(f"{path}: no channel {channel} (0-based) in a {data.shape[1]}-channel file")
        x = data[:, channel]
    elif data.shape[1] > 1:
        x = data.mean(axis=1)
        if on_downmix is not None:
            on_downmix(path, data.shape[1])
    else:
        x = data[:, 0]
    if not np.isfinite(x).all():
        raise AudioError(f"{path}: NaN or Inf samples")
    if rate is not None and sr > MAX_RATE:  # the resampling filter grows with the rate: GBs for a crafted header
        raise AudioError(f"{path}: sample rate of {sr} Hz; the highest supported is {MAX_RATE} Hz")
    if rate is not None and sr != rate:
        x = resample(x, sr, rate)
        sr = rate
    return np.ascontiguousarray(x, dtype=np.float32), int(sr)


# data-chunk sizes that writers streaming to a pipe put in the header instead of the real size: 0, the 32-bit
# maximum, and 0x7FFFF000 (espeak-ng --stdout; libsndfile's pipe writer uses the same value)
STREAMED_WAV_SIZES = frozenset({0, 0xFFFFFFFF, 0x7FFFF000})
UNKNOWN_FRAMES = 2**63 - 1  # libsndfile's frame count for a file whose header gives no length (SF_COUNT_MAX)
WAV_HEAD_BYTES = 1 << 16  # what is read of a file to find its data chunk (chunks before it are small)


class WavData(NamedTuple):
    """A RIFF/WAVE file's ``data`` chunk as its header describes it."""

    declared: int  # bytes the chunk header declares
    present: int  # bytes that follow the chunk header in the file (more than declared when chunks follow)
    byte_rate: int  # the fmt chunk's nAvgBytesPerSec (0 when absent): bytes per second of audio, any codec

    @property
    def seconds(self) -> float | None:
        """The declared duration in seconds, None without a byte rate."""
        return self.declared / self.byte_rate if self.byte_rate > 0 else None


def wav_data_chunk(data: bytes, total: int | None = None) -> WavData | None:
    """The ``data`` chunk of a RIFF/WAVE file (:class:`WavData`), from its header; None when not a WAV, or
    written by a streaming writer that leaves the size unset. soundfile sizes a WAV by the bytes present, so
    this is how a truncated file or an over-long declared duration is seen. The duration comes from the byte
    rate, not the block size: in ADPCM or GSM WAVs one block holds hundreds of sample frames. ``data`` may be the
    file's first bytes only, with ``total`` the whole file's size.

    >>> fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, 8000, 16000, 2, 16)  # PCM, mono, 16-bit, 8 kHz
    >>> wav_data_chunk(b"RIFF" + bytes(4) + b"WAVE" + fmt + b"data" + struct.pack("<I", 16) + bytes(6))
    WavData(declared=16, present=6, byte_rate=16000)
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, 0
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if cid == b"fmt " and pos + 20 <= len(data):
            byte_rate = struct.unpack_from("<I", data, pos + 16)[0]  # nAvgBytesPerSec
        if cid == b"data":
            if size in STREAMED_WAV_SIZES:  # unknown length: the writer could not seek back to fill it in
                return None
            return WavData(size, (len(data) if total is None else total) - pos - 8, byte_rate)
        pos += 8 + size + (size & 1)
    return None


def wav_file_chunk(path: str | Path) -> WavData | None:
    """:func:`wav_data_chunk` of a WAV file on disk, from its first bytes and its size (nothing decoded)."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(WAV_HEAD_BYTES)
    return wav_data_chunk(head, path.stat().st_size)


def check_complete(wav: WavData | None, name: str) -> None:
    """Raises :class:`TruncatedAudio` when the WAV's data chunk (:func:`wav_data_chunk`) is cut short."""
    if wav is not None and wav.present < wav.declared:
        raise TruncatedAudio(f"{name}: truncated WAV: its data chunk holds {wav.present} of the {wav.declared} "
                             "bytes it declares")


def decode_audio(data: bytes, name: str = "<audio>", rate: int | None = MODEL_RATE, channel: int | None = None,
                 max_seconds: float | None = None, on_downmix: Callable[[Path, int], None] | None = None
                 ) -> tuple[np.ndarray, int]:
    """:func:`read_audio` for an in-memory file of any format soundfile reads (``name`` is used in messages).

    Before decoding: an unreadable header, a duration over ``max_seconds`` (:class:`AudioTooLong`, from the
    header, nothing decoded) and a truncated WAV are refused. After decoding: fewer samples than the header
    promises (a truncated compressed file) and a duration over the limit (headers of some formats estimate).
    """
    path = Path(name)
    if not data:
        raise AudioError(f"{name}: empty (no bytes)")
    try:
        info = sf.info(io.BytesIO(data))
    except Exception as e:  # soundfile raises several types for unknown formats
        raise AudioError(f"{name}: not an audio file soundfile can read ({_first_line(e)})") from None
    _check_known_length(name, info.frames)
    wav = wav_data_chunk(data)
    seconds = wav.seconds if wav is not None and wav.seconds is not None else info.frames / info.samplerate
    if max_seconds is not None and seconds > max_seconds:
        raise AudioTooLong(f"{name}: {seconds:.1f} s of audio (from the header, not decoded); "
                           f"the limit is {max_seconds:g} s")
    check_complete(wav, name)
    try:
        samples, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as e:
        raise AudioError(f"{name}: cannot decode audio ({_first_line(e)})") from None
    _check_samples(name, samples.shape[0], info.frames)
    if max_seconds is not None and samples.shape[0] / sr > max_seconds:
        raise AudioTooLong(f"{name}: {samples.shape[0] / sr:.1f} s of audio; the limit is {max_seconds:g} s")
    return _mono(samples, int(sr), path, rate, channel, on_downmix)


def _check_known_length(name: str, frames: int) -> None:
    """AudioError for a file whose header gives no length (libsndfile then counts SF_COUNT_MAX frames): a FLAC
    written to a pipe, which soundfile cannot read to its end."""
    if frames >= UNKNOWN_FRAMES:
        raise AudioError(f"{name}: its header gives no length (written to a pipe?), which soundfile cannot decode; "
                         "re-encode it to a file, e.g. sox in.flac out.flac")


def _check_samples(name: str, decoded: int, declared: int) -> None:
    """AudioError for fewer decoded samples than the header declares (a truncated compressed file)."""
    if 0 < decoded < 0.99 * declared:
        raise AudioError(f"{name}: truncated: {decoded} of the {declared} samples its header declares")


def _first_line(e: Exception) -> str:
    """soundfile's reason without its "Error opening <_io.BytesIO object at 0x…>: " prefix."""
    msg = getattr(e, "error_string", None) or first_line(e)
    return msg.split(">: ", 1)[-1].strip().rstrip(".")
