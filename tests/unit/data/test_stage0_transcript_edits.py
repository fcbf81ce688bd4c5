"""Stage 0 reruns after a transcript of a glob source is edited (the pattern matches the audio files only, so the
sibling ``.txt`` files must count in the source's stamp), and stays "already done" otherwise."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from chunkformer.text import RULES_VERSION

from helpers import VOCAB, load_script, sentence, speech, write_wav


def stage0(yaml: Path, mdir: Path) -> None:
    assert load_script("prepare_manifests").main(["--data-config", str(yaml), "--vocab", str(VOCAB),
                                                  "--out-dir", str(mdir), "--num-jobs", "1"]) == 0


def tsv_corpus(root: Path, n: int, seed: int) -> Path:
    """``n`` wavs of 1.5 s listed by ``root/list.tsv``, and a data.yaml reading it; returns the data.yaml."""
    for i in range(n):
        write_wav(root / "wavs" / f"a{i}.wav", speech(seed + i, 1.5))
    (root / "list.tsv").write_text("wav\ttxt\n" + "".join(f"wavs/a{i}.wav\t{sentence(seed + 10 + i)}\n"
                                                          for i in range(n)), encoding="utf-8")
    yaml = root / "data.yaml"
    yaml.write_text("train:\n  - path: list.tsv\n    domain: telephony\n", encoding="utf-8")
    return yaml


@pytest.mark.parametrize("split", [False, True])
def test_an_edited_sibling_transcript_redoes_stage_0(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                     split: bool) -> None:
    names = [f"a{i}_ch{c}" for i in range(2) for c in (0, 1)] if split else [f"a{i}" for i in range(2)]
    for i in range(2):
        x = speech(40 + i, 1.5)
        write_wav(tmp_path / "calls" / f"a{i}.wav", np.stack([x, x[::-1]], axis=1) if split else x)
    for n, name in enumerate(names):
        (tmp_path / "calls" / f"{name}.txt").write_text(sentence(50 + n), encoding="utf-8")
    yaml = tmp_path / "data.yaml"
    extra = "\n    channels: split" if split else ""
    yaml.write_text(f"train:\n  - path: calls/*.wav\n    domain: telephony{extra}\n", encoding="utf-8")
    mdir = tmp_path / "manifests"
    stage0(yaml, mdir)
    stage0(yaml, mdir)
    assert "stage 0: already done" in capsys.readouterr().out
    (tmp_path / "calls" / f"{names[-1]}.txt").write_text("xin chào", encoding="utf-8")  # the user fixes a label
    stage0(yaml, mdir)
    assert "stage 0: already done" not in capsys.readouterr().out
    with gzip.open(mdir / "telephony_supervisions_train.jsonl.gz", "rt", encoding="utf-8") as f:
        texts = {json.loads(line)["id"]: json.loads(line)["text"] for line in f}
    assert texts[names[-1]] == "xin chào"


def test_audio_replaced_under_an_unchanged_tsv_redoes_stage_0(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The TSV lists the same paths, but one wav was re-recorded (longer): stage 0 redoes the split and the
    manifest has the new duration; untouched audio keeps it "already done"."""
    yaml = tsv_corpus(tmp_path, 2, 60)
    mdir = tmp_path / "manifests"
    stage0(yaml, mdir)
    stage0(yaml, mdir)
    assert "stage 0: already done" in capsys.readouterr().out
    write_wav(tmp_path / "wavs" / "a1.wav", speech(61, 2.5))  # replaced in place, the TSV untouched
    stage0(yaml, mdir)
    assert "stage 0: already done" not in capsys.readouterr().out
    with gzip.open(mdir / "telephony_recordings_train.jsonl.gz", "rt", encoding="utf-8") as f:
        durations = {json.loads(line)["id"]: json.loads(line)["duration"] for line in f}
    assert durations["a1"] == pytest.approx(2.5, abs=0.01) and durations["a0"] == pytest.approx(1.5, abs=0.01)
    stage0(yaml, mdir)
    assert "stage 0: already done" in capsys.readouterr().out


def test_a_marker_from_before_the_audio_stamp_is_trusted(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Markers written before the audio stamp existed carry none: stage 0 stays done (no cascade of reruns
    through stages 1-3 for an upgrade alone)."""
    yaml = tsv_corpus(tmp_path, 1, 80)
    mdir = tmp_path / "manifests"
    stage0(yaml, mdir)
    marker = mdir / ".stage0-train.done"
    old = json.loads(marker.read_text(encoding="utf-8"))
    assert len(old.pop("audio")) == 16
    marker.write_text(json.dumps(old), encoding="utf-8")
    capsys.readouterr()
    stage0(yaml, mdir)
    assert "stage 0: already done" in capsys.readouterr().out


def test_new_normaliser_rules_redo_stage_0(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A split normalised with older rules (its marker says so) is redone; one with the current rules is not."""
    yaml = tsv_corpus(tmp_path, 1, 90)
    mdir = tmp_path / "manifests"
    stage0(yaml, mdir)
    marker = mdir / ".stage0-train.done"
    info = json.loads(marker.read_text(encoding="utf-8"))
    assert info["text_rules"] == RULES_VERSION
    marker.write_text(json.dumps({**info, "text_rules": RULES_VERSION - 1}), encoding="utf-8")
    capsys.readouterr()
    stage0(yaml, mdir)
    assert "stage 0: already done" not in capsys.readouterr().out
    assert json.loads(marker.read_text(encoding="utf-8"))["text_rules"] == RULES_VERSION
    stage0(yaml, mdir)
    assert "stage 0: already done" in capsys.readouterr().out
