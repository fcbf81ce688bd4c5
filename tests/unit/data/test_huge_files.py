"""Over-long audio is rejected from its header (issue 14 item 9): stage 0 never decodes a file it would reject
as too long; a short segment of a long recording is still kept."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import soundfile as sf

import chunkformer.data.validate as validate
from chunkformer.data.sources import Item
from chunkformer.data.validate import Limits, validate_items
from chunkformer.tokenizer import Tokenizer

from helpers import VOCAB, load_script, rejected, sentence, speech, write_wav


def long_wav(path: Path, minutes: float, rate: int = 8000) -> Path:
    """A long 8 kHz PCM file, written in blocks (speech-like audio repeated)."""
    block = (speech(1, 10.0, rate) * 32767).astype(np.int16)
    with sf.SoundFile(path, "w", rate, 1, "PCM_16") as f:
        for _ in range(int(minutes * 6)):
            f.write(block)
    return path


def test_too_long_file_is_rejected_without_decoding(tmp_path: Path, monkeypatch) -> None:
    huge = long_wav(tmp_path / "huge.wav", 20)
    write_wav(tmp_path / "ok.wav", speech(2, 1.6, 8000), 8000)
    decoded: list[str] = []
    real = validate._decode_audio

    def spy(item: Item):
        decoded.append(Path(item.audio).name)
        return real(item)

    monkeypatch.setattr(validate, "_decode_audio", spy)
    items = [Item("huge", "s", str(huge), str(huge), text=sentence(1)),
             Item("ok", "s", str(tmp_path / "ok.wav"), str(tmp_path / "ok.wav"), text=sentence(2)),
             # a short segment of the long file is fine: its recording is decoded (once) for it
             Item("seg", "k", str(huge), "rec", text=sentence(3), start=60.0, duration=2.0)]
    t0 = time.perf_counter()
    kept, rej = validate_items(items, Tokenizer.from_file(VOCAB), Limits(max_duration=30.0))
    assert {k.item.id for k in kept} == {"ok", "seg"}
    assert [(r.id, r.reason) for r in rej] == [("huge", "too long")]
    assert "1200.00 s > max_duration 30.0 s (from the header, not decoded)" in rej[0].detail
    assert decoded.count("huge.wav") == 1 and decoded.count("ok.wav") == 1  # once, for the segment only
    decoded.clear()
    _, rej = validate_items(items[:1], Tokenizer.from_file(VOCAB), Limits(max_duration=30.0))
    assert decoded == [] and rej[0].reason == "too long" and time.perf_counter() - t0 < 30


def test_too_long_lhotse_recording_is_rejected_from_its_metadata(tmp_path: Path) -> None:
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet

    huge = long_wav(tmp_path / "huge.wav", 2)
    rec = Recording.from_file(huge, recording_id="huge")
    (tmp_path / "m").mkdir()
    RecordingSet.from_recordings([rec]).to_file(tmp_path / "m" / "x_recordings_train.jsonl.gz")
    SupervisionSet.from_segments([SupervisionSegment("whole", "huge", 0.0, rec.duration, text=sentence(1))]).to_file(
        tmp_path / "m" / "x_supervisions_train.jsonl.gz")
    huge.unlink()  # only the metadata is left: a decode would fail with "unreadable audio"
    (tmp_path / "d.yaml").write_text(f"train:\n  - path: {tmp_path / 'm'}\n    domain: t\n", encoding="utf-8")
    args = ["--data-config", str(tmp_path / "d.yaml"), "--vocab", str(VOCAB), "--out-dir", str(tmp_path / "out"),
            "--num-jobs", "1"]
    assert load_script("prepare_manifests").main(args) == 0
    assert rejected(tmp_path / "out", "train") == {"whole": "too long"}
