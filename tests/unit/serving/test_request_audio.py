"""A request body's audio (chunkformer.audio.decode_audio, wav_data_chunk): the header checks made before
decoding (a duration over the limit, a truncated WAV) on real files written by soundfile, in every WAV codec
soundfile writes (PCM, float, μ-law, ADPCM, GSM: one block holds hundreds of frames there) and in compressed
formats; what passes decodes to the samples of the file."""

from __future__ import annotations

import io
import struct
import subprocess

import numpy as np
import pytest
import soundfile as sf

from chunkformer.audio import (
    STREAMED_WAV_SIZES,
    AudioError,
    AudioTooLong,
    WavData,
    decode_audio,
    read_audio,
    resample,
    wav_data_chunk,
)

from helpers import speech

WAV_CODECS = ["PCM_16", "PCM_24", "FLOAT", "ULAW", "IMA_ADPCM", "MS_ADPCM", "GSM610"]


def encode(x: np.ndarray, rate: int = 16000, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    """``x`` (frames,) or (frames, channels) float32 in [-1, 1] → the bytes of a file soundfile writes."""
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def pcm_wav(declared_bytes: int, body: bytes, rate: int = 16000) -> bytes:
    """A hand-made 16-bit mono PCM WAV whose data chunk declares ``declared_bytes`` and holds ``body``."""
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, rate, 2 * rate, 2, 16)
    riff = 4 + len(fmt) + 8 + declared_bytes
    return b"RIFF" + struct.pack("<I", riff) + b"WAVE" + fmt + b"data" + struct.pack("<I", declared_bytes) + body


@pytest.mark.parametrize("subtype", WAV_CODECS)
def test_wav_header_gives_the_duration_of_every_codec(tmp_path, subtype):
    x = speech(1, 4.0)  # 4 s at 16 kHz
    data = encode(x, subtype=subtype)
    wav = wav_data_chunk(data)
    assert isinstance(wav, WavData) and wav.present == wav.declared
    assert wav.seconds == pytest.approx(4.0, rel=0.02)  # ADPCM pads its last block
    with pytest.raises(AudioTooLong, match=r"4\.0 s of audio \(from the header, not decoded\); the limit is 3 s"):
        decode_audio(data, "turn.wav", max_seconds=3)
    y, rate = decode_audio(data, "turn.wav", max_seconds=5)
    (tmp_path / "turn.wav").write_bytes(data)
    ref, ref_rate = read_audio(tmp_path / "turn.wav")  # what python -m chunkformer.transcribe reads
    assert rate == ref_rate == 16000 and np.array_equal(y, ref)


@pytest.mark.parametrize("subtype", WAV_CODECS)
def test_truncated_wav_is_refused_with_its_byte_counts(subtype):
    data = encode(speech(2, 2.0), subtype=subtype)
    wav = wav_data_chunk(data)
    assert wav is not None
    with pytest.raises(AudioError, match=rf"^turn\.wav: truncated WAV: its data chunk holds {wav.declared - 1000} "
                                         rf"of the {wav.declared} bytes it declares$"):
        decode_audio(data[:-1000], "turn.wav", max_seconds=60)


def test_declared_hour_with_a_small_body_is_too_long_from_the_header():
    hour = 3600 * 16000 * 2
    data = pcm_wav(hour, bytes(3200))  # declares 1 h, holds 0.1 s
    assert wav_data_chunk(data) == WavData(hour, 3200, 32000)
    with pytest.raises(AudioTooLong, match=r"3600\.0 s of audio \(from the header, not decoded\)"):
        decode_audio(data, "call.wav", max_seconds=60)
    with pytest.raises(AudioError, match="truncated WAV: its data chunk holds 3200 of the 115200000 bytes"):
        decode_audio(data, "call.wav")  # no limit: still refused, as truncated


def test_wav_chunks_around_data_and_streamed_sizes():
    body = np.arange(800, dtype="<i2").tobytes()  # 800 16-bit samples: 0.05 s at 16 kHz
    plain = pcm_wav(len(body), body)
    assert wav_data_chunk(plain) == WavData(1600, 1600, 32000)
    # an odd-sized LIST chunk (with its pad byte) before data, and a chunk after it: both skipped
    odd = b"LIST" + struct.pack("<I", 5) + b"INFOx" + b"\0"
    head, data_chunk = plain[:36], plain[36:]
    with_chunks = head + odd + data_chunk + b"junk" + struct.pack("<I", 4) + b"abcd"
    assert wav_data_chunk(with_chunks) == WavData(1600, 1612, 32000)
    y, rate = decode_audio(with_chunks, max_seconds=1)
    assert rate == 16000 and np.array_equal(y, decode_audio(plain)[0])
    for unknown in STREAMED_WAV_SIZES:  # a streaming writer's unknown length
        streamed = plain[:40] + struct.pack("<I", unknown) + body
        assert wav_data_chunk(streamed) is None
        if unknown:  # libsndfile reads a declared 0 as no samples (an empty file then says so)
            assert np.array_equal(decode_audio(streamed)[0], decode_audio(plain)[0])
    assert wav_data_chunk(encode(speech(3, 0.5), fmt="FLAC")) is None
    assert wav_data_chunk(b"RIFF\0\0\0\0WAVE") is None  # no chunks at all


@pytest.mark.parametrize(("data", "message"), [
    (b"", r"^req: empty \(no bytes\)$"),
    (b"hello, not audio " * 20, r"^req: not an audio file soundfile can read \(Format not recognised\)$"),
    (b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk", r"^req: not an audio file soundfile can read"),
])
def test_bytes_that_are_not_audio(data, message):
    with pytest.raises(AudioError, match=message):
        decode_audio(data, "req", max_seconds=60)


@pytest.mark.parametrize("fmt", ["FLAC", "MP3", "OGG"])
def test_compressed_formats_are_limited_and_decoded(fmt):
    x = speech(4, 4.0)
    data = encode(x, fmt=fmt)
    with pytest.raises(AudioTooLong, match="the limit is 3 s"):
        decode_audio(data, f"turn.{fmt.lower()}", max_seconds=3)
    y, rate = decode_audio(data, f"turn.{fmt.lower()}", max_seconds=5)
    assert rate == 16000 and abs(len(y) - len(x)) <= 0.01 * len(x)


def test_truncated_mp3_and_flac_are_refused():
    x = speech(5, 4.0)
    with pytest.raises(AudioError, match=r"truncated: \d+ of the 64000 samples its header declares"):
        decode_audio(encode(x, fmt="MP3")[:9000], "turn.mp3")
    with pytest.raises(AudioError, match="cannot decode audio"):
        decode_audio(encode(x, fmt="FLAC")[:20000], "turn.flac")


def test_flac_without_its_length_is_named_not_too_long(tmp_path):
    """A FLAC written to a pipe has 0 ("unknown") as its total sample count: libsndfile then reports 2**63 - 1
    frames, and soundfile can neither size nor seek it. Refused as such (was: a 413 for 576460752303423.5 s of
    audio from the server, "array is too big" from transcribe)."""
    data = bytearray(encode(speech(5, 2.0), fmt="FLAC"))
    fields = int.from_bytes(data[18:26], "big")  # STREAMINFO: rate, channels, bits, then 36 bits of total samples
    data[18:26] = (fields & ~((1 << 36) - 1)).to_bytes(8, "big")
    (tmp_path / "piped.flac").write_bytes(data)
    message = r"piped\.flac: its header gives no length \(written to a pipe\?\), which soundfile cannot decode"
    with pytest.raises(AudioError, match=message) as e:
        decode_audio(bytes(data), "piped.flac", max_seconds=60)
    assert not isinstance(e.value, AudioTooLong)
    with pytest.raises(AudioError, match=message):
        read_audio(tmp_path / "piped.flac")


def test_sample_rate_beyond_any_format_is_refused_before_resampling():
    """The resampling filter has ~20 taps per unit of max(up, down): a 96 KB WAV whose header says 1 000 003 Hz
    took 1 GB and 4 s to resample, one saying 2**31 - 1 Hz asked numpy for 320 GiB (the server's 500)."""
    x = speech(10, 0.5)
    for rate in (1_000_003, 2**31 - 1):
        data = bytearray(encode(x))
        struct.pack_into("<II", data, 24, rate, 2 * rate)  # fmt chunk: sample rate, byte rate
        with pytest.raises(AudioError, match=rf"^turn\.wav: sample rate of {rate} Hz; the highest supported is "
                                             r"384000 Hz$"):
            decode_audio(bytes(data), "turn.wav", max_seconds=60)
    y, rate = decode_audio(encode(resample(x, 16000, 384000), 384000), "turn.wav", max_seconds=60)
    assert rate == 16000 and len(y) == len(x)


def test_channels_rate_and_nan():
    left, right = speech(6, 1.0, 8000), speech(7, 1.0, 8000)
    data = encode(np.stack([left, right], 1), 8000, subtype="FLOAT")
    calls: list[int] = []
    y, rate = decode_audio(data, "call.wav", channel=1, on_downmix=lambda _p, n: calls.append(n))
    assert rate == 16000 and len(y) == 16000 and not calls
    assert np.array_equal(y, decode_audio(encode(right, 8000, subtype="FLOAT"))[0])
    decode_audio(data, "call.wav", on_downmix=lambda _p, n: calls.append(n))
    assert calls == [2]
    with pytest.raises(AudioError, match=r"^call\.wav: no channel 2 \(0-based\) in a 2-channel file$"):
        decode_audio(data, "call.wav", channel=2)
    nan = speech(8, 0.5).copy()
    nan[100] = np.nan
    with pytest.raises(AudioError, match="NaN or Inf samples"):
        decode_audio(encode(nan, subtype="FLOAT"), "nan.wav")


def test_espeak_ng_piped_wav_is_read_whole():
    """espeak-ng --stdout cannot seek back: its header declares 0x7FFFF000 data bytes; that is a stream, not a
    truncated file."""
    out = subprocess.run(["espeak-ng", "-v", "vi", "--stdout", "xin chào"], capture_output=True, check=True).stdout
    assert struct.unpack_from("<I", out, 40)[0] == 0x7FFFF000
    y, rate = decode_audio(out, "<stdin>", rate=None)
    assert rate == 22050 and len(y) == (len(out) - 44) // 2
