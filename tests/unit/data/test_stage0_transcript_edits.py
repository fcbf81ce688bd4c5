"""Stage 0 reruns after a transcript of a glob source is edited (the pattern matches the audio files only, so the
sibling ``.txt`` files must count in the source's stamp), and stays "already done" otherwise."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from helpers import VOCAB, load_script, sentence, speech, write_wav


def stage0(yaml: Path, mdir: Path) -> None:
    assert load_script("prepare_manifests").main(["--data-config", str(yaml), "--vocab", str(VOCAB),
                                                  "--out-dir", str(mdir), "--num-jobs", "1"]) == 0


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
