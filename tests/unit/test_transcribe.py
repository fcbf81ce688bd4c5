"""`python -m chunkformer.transcribe` prints the official batch_decode transcripts, for short files in one
masked batch and for a several-minute file (one shot and in cached segments)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from chunkformer.decoding.ctc_search import collapse
from chunkformer.transcribe import main, split_at_pauses

from conftest import OFFICIAL

CTX = "128,64,128"
TAG = "l128_c64_r128"


def run_cli(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chunkformer.transcribe", *args], capture_output=True, text=True)


def test_short_files_match_official(golden_meta, official_model_dir):
    wavs = [str(OFFICIAL / f"{n}.wav") for n in "ABC"]
    res = run_cli(["--model", str(official_model_dir), "--context", CTX, *wavs])
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().split("\n")
    assert [ln.split("\t")[0] for ln in lines] == wavs
    for n, line in zip("ABC", lines):
        assert line.split("\t")[1] == golden_meta["batch_decode"][TAG][n]


@pytest.mark.parametrize("segment_seconds", ["600", "30"])
def test_long_file_matches_official(tmp_path, golden_meta, official_model_dir, long_wave, capsys, segment_seconds):
    wav = tmp_path / "long.wav"
    sf.write(wav, long_wave, 16000, subtype="PCM_16")
    jsonl = tmp_path / "out.jsonl"
    rc = main(["--model", str(official_model_dir), "--context", CTX, "--segment-seconds", segment_seconds,
               "--jsonl", str(jsonl), str(wav)])
    assert rc == 0
    text = capsys.readouterr().out.strip().split("\t")[1]
    assert text == golden_meta["batch_decode"][TAG]["L"]
    rec = json.loads(jsonl.read_text(encoding="utf-8"))
    assert rec["text"] == text
    assert len(rec["segments"]) > 5
    starts = [s["start"] for s in rec["segments"]]
    assert starts == sorted(starts) and rec["segments"][-1]["end"] <= 200.0


def test_other_rates_and_stereo(tmp_path, official_model_dir, capsys):
    x, _ = sf.read(OFFICIAL / "B.wav", dtype="float32")
    sf.write(tmp_path / "b8k.wav", x[::2], 8000)
    sf.write(tmp_path / "b_stereo.flac", np.stack([x, x], 1), 16000)
    rc = main(["--model", str(official_model_dir), str(tmp_path / "b8k.wav"), str(tmp_path / "b_stereo.flac")])
    out = capsys.readouterr().out.strip().split("\n")
    assert rc == 0 and len(out) == 2 and all(line.split("\t")[1] for line in out)


def test_bad_file_is_reported_and_others_still_decoded(tmp_path, official_model_dir, capsys):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF not really a wav")
    rc = main(["--model", str(official_model_dir), str(bad), str(OFFICIAL / "A.wav")])
    cap = capsys.readouterr()
    assert rc == 1
    assert "broken.wav" in cap.err and "cannot decode audio" in cap.err
    assert cap.out.startswith(str(OFFICIAL / "A.wav"))


def test_missing_model_is_one_line_error(tmp_path, capsys):
    assert main(["--model", str(tmp_path / "nope"), str(OFFICIAL / "A.wav")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nope" in err


def test_collapse_and_pauses():
    assert collapse([0, 3, 3, 0, 3, 5, 5, 0]) == [3, 3, 5]
    segs = split_at_pauses([0, 3, 3, 0, 0, 0, 4, 0, 5], max_silence_frames=3)
    assert segs == [(1, 3, [3]), (6, 9, [4, 5])]
