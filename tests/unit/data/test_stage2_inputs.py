"""Stage 2 against what it was built from: a data.yaml edited after stage 2 is refused by the trainer's data
module (not trained on with the old mix), and train audio that is also in val/test is reported."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chunkformer.data.datamodule import LoaderConfig, TrainData
from chunkformer.tokenizer import Tokenizer

from helpers import VOCAB, load_script, sentence, speech, write_wav

YAML = """train:
  - {{path: tel/*.wav, domain: telephony, weight: {w}, aug: [specaugment]}}
  - {{path: read/*.wav, domain: reading, weight: 0.2, aug: [specaugment]}}
val:
  - {{path: {val}, domain: telephony}}
"""


def corpus(root: Path, weight: float = 0.8, val: str = "val/*.wav") -> Path:
    """Three 1.5 s items per folder (tel, read, val) and a data.yaml over them."""
    for folder, seed in (("tel", 10), ("read", 20), ("val", 30)):
        for i in range(3):
            if not (root / folder / f"{folder}{i}.wav").exists():
                write_wav(root / folder / f"{folder}{i}.wav", speech(seed + i, 1.5))
                (root / folder / f"{folder}{i}.txt").write_text(sentence(seed + i), encoding="utf-8")
    path = root / "data.yaml"
    path.write_text(YAML.format(w=weight, val=val), encoding="utf-8")
    return path


def stages_0_2(yaml: Path, mdir: Path) -> None:
    assert load_script("prepare_manifests").main(["--data-config", str(yaml), "--vocab", str(VOCAB),
                                                  "--out-dir", str(mdir), "--num-jobs", "1"]) == 0
    assert load_script("build_train_cuts").main(["--data-config", str(yaml), "--manifest-dir", str(mdir)]) == 0


def test_a_data_yaml_edited_after_stage_2_is_refused_until_stage_2_reruns(tmp_path: Path) -> None:
    yaml, mdir = corpus(tmp_path), tmp_path / "manifests"
    stages_0_2(yaml, mdir)
    tok, loader = Tokenizer.from_file(VOCAB), LoaderConfig(max_duration=10.0, num_workers=0)
    assert TrainData(mdir, tok, loader, data_config=yaml).weights == pytest.approx({"telephony": 0.8, "reading": 0.2})
    corpus(tmp_path, weight=0.2)  # the user halves telephony's share, then runs stage 3 alone
    with pytest.raises(ValueError, match=r"train_plan.json was not built from .*data.yaml as it is now.*stages 0-2"):
        TrainData(mdir, tok, loader, data_config=yaml)
    stages_0_2(yaml, mdir)
    assert TrainData(mdir, tok, loader, data_config=yaml).weights == pytest.approx({"telephony": 0.5, "reading": 0.5})


def test_train_audio_listed_in_val_too_is_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    yaml, mdir = corpus(tmp_path, val="glob:tel/tel1.wav"), tmp_path / "manifests"
    with caplog.at_level("WARNING"):
        stages_0_2(yaml, mdir)
    leaks = [r.getMessage() for r in caplog.records if "also in train" in r.getMessage()]
    assert len(leaks) == 1 and "val/telephony: 1 cut(s)" in leaks[0] and "tel1 = train tel1" in leaks[0], leaks
    caplog.clear()
    yaml.write_text(YAML.format(w=0.8, val="val/*.wav"), encoding="utf-8")
    stages_0_2(yaml, mdir)
    assert not [r for r in caplog.records if "also in train" in r.getMessage()]


def test_a_corpus_of_three_training_files_trains(tmp_path: Path) -> None:
    """An epoch of 2-3 cuts (a first try on a handful of files) once asked lhotse for 1 bucket: AssertionError."""
    yaml, mdir = corpus(tmp_path), tmp_path / "manifests"
    yaml.write_text(YAML.format(w=0.8, val="val/*.wav").replace("  - {path: read/*.wav, domain: reading, weight: "
                                                                "0.2, aug: [specaugment]}\n", ""), encoding="utf-8")
    stages_0_2(yaml, mdir)
    data = TrainData(mdir, Tokenizer.from_file(VOCAB), LoaderConfig(max_duration=10.0, num_workers=0),
                     data_config=yaml)
    assert len(data.epoch_cuts(0)) == 3
    assert sorted(c for b in data.batches(0) for c in b.cut_ids) == ["tel0", "tel1", "tel2"]


def test_an_epoch_hours_too_short_for_a_domain_is_refused_in_one_line(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    """0.0001 h gives reading 0.07 s per epoch, less than one 1.5 s cut: most epochs would hold no cut at all."""
    yaml, mdir = corpus(tmp_path), tmp_path / "manifests"
    yaml.write_text(yaml.read_text(encoding="utf-8") + "mixing: {epoch_hours: 0.0001}\n", encoding="utf-8")
    assert load_script("prepare_manifests").main(["--data-config", str(yaml), "--vocab", str(VOCAB),
                                                  "--out-dir", str(mdir), "--num-jobs", "1"]) == 0
    capsys.readouterr()
    assert load_script("build_train_cuts").main(["--data-config", str(yaml), "--manifest-dir", str(mdir)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mixing.epoch_hours 0.0001 is too short" in err[0] and "at least 0.002" in err[0], err
    # the value it names passes the check itself (it is rounded up, never down)
    suggested = re.search(r"at least ([0-9.e-]+) ", err[0]).group(1)
    yaml.write_text(yaml.read_text(encoding="utf-8").replace("0.0001", suggested), encoding="utf-8")
    assert load_script("build_train_cuts").main(["--data-config", str(yaml), "--manifest-dir", str(mdir)]) == 0
    yaml.write_text(yaml.read_text(encoding="utf-8").replace(suggested, "0.0001"), encoding="utf-8")
    yaml.write_text(yaml.read_text(encoding="utf-8").replace("0.0001", "0.0021"), encoding="utf-8")
    stages_0_2(yaml, mdir)
    data = TrainData(mdir, Tokenizer.from_file(VOCAB), LoaderConfig(max_duration=10.0, num_workers=0),
                     data_config=yaml)
    assert all({c.custom["domain"] for c in data.epoch_cuts(e)} == {"telephony", "reading"} for e in range(20))
