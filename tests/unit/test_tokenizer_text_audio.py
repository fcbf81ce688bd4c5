"""Tokenizer (vocab.txt ↔ ids, NFC, unspellable words reported), scoring normalization and audio reading."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
import soundfile as sf

from chunkformer.audio import AudioError, read_audio, resample
from chunkformer.text import normalize_text
from chunkformer.tokenizer import Tokenizer, UnspellableError

TOKENS = ["<blank>", "<unk>", "▁xin", "▁chào", "▁bạn", "▁ng", "uyễn", "<sos/eos>"]


def test_encode_decode_and_subword_pieces(tmp_path):
    tok = Tokenizer(TOKENS)
    assert tok.encode("xin chào bạn") == [2, 3, 4]
    assert tok.encode("nguyễn") == [5, 6]
    assert tok.decode([2, 3, 0, 4]) == "xin chào bạn"
    tok.save(tmp_path / "vocab.txt")
    assert Tokenizer.from_file(tmp_path / "vocab.txt").tokens == TOKENS


def test_nfd_input_is_normalized():
    tok = Tokenizer(TOKENS)
    assert tok.encode(unicodedata.normalize("NFD", "xin chào")) == [2, 3]


def test_unspellable_words_are_reported_not_mapped():
    tok = Tokenizer(TOKENS)
    with pytest.raises(UnspellableError) as e:
        tok.encode("xin chào quý khách")
    assert e.value.units == ["quý", "khách"]
    assert tok.unspellable("bạn ơi") == ["ơi"]


@pytest.mark.parametrize("content,msg", [("a 0\nb\n", "expected 'token id'"), ("a 0\nb 0\n", "id 0 appears twice"),
                                         ("a 0\nb 2\n", "ids must be 0..1 without gaps")])
def test_bad_vocab_files(tmp_path, content, msg):
    (tmp_path / "vocab.txt").write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=msg):
        Tokenizer.from_file(tmp_path / "vocab.txt")


def test_vocab_that_is_not_utf8_is_named(tmp_path):
    (tmp_path / "vocab.txt").write_bytes("<blank> 0\nchào 1\n".encode("cp1258"))
    with pytest.raises(ValueError, match=r"vocab\.txt: vocabulary file is not UTF-8 text \(invalid .* at byte \d+\)$"):
        Tokenizer.from_file(tmp_path / "vocab.txt")


def test_missing_vocab(tmp_path):
    with pytest.raises(FileNotFoundError, match="vocabulary file not found"):
        Tokenizer.from_file(tmp_path / "vocab.txt")


def test_normalize_text():
    assert normalize_text("  Xin CHÀO, bạn!!  Giá: 100.000đ ") == "xin chào bạn giá 100 000đ"
    assert normalize_text(unicodedata.normalize("NFD", "Ừ")) == "ừ"


def test_read_audio_any_rate_and_channels(tmp_path):
    t = np.arange(8000) / 8000
    x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sf.write(tmp_path / "a.wav", np.stack([x, x], 1), 8000)
    y, rate = read_audio(tmp_path / "a.wav")
    assert rate == 16000 and y.shape == (16000,) and abs(np.abs(y).max() - 0.3) < 0.02


def test_resample_is_band_limited():
    t = np.arange(16000) / 16000
    tone = np.sin(2 * np.pi * 6000 * t).astype(np.float32)  # above the 4 kHz Nyquist of 8 kHz
    assert np.abs(resample(tone, 16000, 8000)[100:-100]).max() < 0.01  # edges: filter start-up transient


@pytest.mark.parametrize("make,msg", [
    (lambda p: p.write_bytes(b"garbage"), "cannot decode audio"),
    (lambda p: p.write_bytes(b""), r"x\.wav: empty \(no bytes\)$"),  # as decode_audio (stdin, serve) says
    (lambda p: sf.write(p, np.zeros(0, dtype=np.float32), 16000), "no samples"),
    (lambda p: sf.write(p, np.array([0.1, np.nan] * 100, dtype=np.float32), 16000, subtype="FLOAT"), "NaN or Inf"),
])
def test_bad_audio(tmp_path, make, msg):
    p = tmp_path / "x.wav"
    make(p)
    with pytest.raises(AudioError, match=msg):
        read_audio(p)


def test_a_truncated_wav_file_is_refused_as_from_a_pipe(tmp_path):
    """soundfile reads a WAV cut short as a shorter one; read_audio refuses it like decode_audio (stdin, serve)."""
    p = tmp_path / "cut.wav"
    sf.write(p, np.full(16000, 0.1, dtype=np.float32), 16000, subtype="PCM_16")
    p.write_bytes(p.read_bytes()[:20044])  # 10 000 of the 32 000 data bytes
    with pytest.raises(AudioError, match=r"cut\.wav: truncated WAV: its data chunk holds 20000 of the 32000 bytes"):
        read_audio(p)


def test_directory_is_not_reported_as_missing(tmp_path):
    (tmp_path / "calls").mkdir()
    with pytest.raises(AudioError, match=r"calls: a directory, not an audio file \(pass its files, e\.g\. "
                                         r".*calls/\*\.wav\)$"):
        read_audio(tmp_path / "calls")
    with pytest.raises(AudioError, match=r"nope\.wav: file not found$"):
        read_audio(tmp_path / "nope.wav")
