"""The pretraining curriculum's inputs and outputs: the corpus sub-lists each phase trains on
(local/make_general_corpus.py) and the joined validation curve of the released checkpoint
(local/release_demo_checkpoint.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import soundfile as sf
import yaml

from chunkformer.checkpoint import CheckpointError

from helpers import load_script

corpus = load_script("make_general_corpus")
release = load_script("release_demo_checkpoint")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_synthesize_writes_the_phase_sub_lists(tmp_path: Path):
    lists = {"train": [("help:text/a.xhp", "mở tập tin"), ("catalog:apt/apt.mo", "không tìm thấy gói"),
                       ("generated:coverage", "xoáy khuỷu nghiêng"), ("help:text/b.xhp", "lưu tài liệu"),
                       ("generated:numbers", "một trăm hai mươi"), ("generated:daily", "mẹ tôi đi rút tiền")]}
    seconds = corpus.synthesize(lists, tmp_path, seed=3, jobs=1)
    split = tmp_path / "train"
    names = ("help", "natural", "coverage", "prose", "everyday", "daily")
    texts = {name: [r["txt"] for r in _rows(split / f"list-{name}.tsv")] for name in names}
    assert texts["help"] == ["mở tập tin", "lưu tài liệu"]
    assert texts["natural"] == ["mở tập tin", "không tìm thấy gói", "lưu tài liệu", "một trăm hai mươi"]
    assert texts["coverage"] == ["xoáy khuỷu nghiêng"]
    assert texts["prose"] == ["mở tập tin", "không tìm thấy gói", "lưu tài liệu"]
    assert texts["everyday"] == ["một trăm hai mươi"]
    assert texts["daily"] == ["mẹ tôi đi rút tiền"]  # phase 4's own list; the earlier phases' lists lack it
    full = _rows(split / "list.tsv")
    assert [r["txt"] for r in full] == [t for _, t in lists["train"]]
    # every sub-list line is a line of the full list, pointing at a real wav
    for name in texts:
        for r in _rows(split / f"list-{name}.tsv"):
            assert r in full and sf.info(split / r["wav"]).frames > 0
    assert seconds["train"] > 0


def _ck(step: int, minutes: float, history: list[tuple[int, float, float]], arch: dict | None) -> dict:
    return {"step": step, "elapsed": minutes * 60, "valid_wer": history[-1][2],
            "train_config": {"model": {"arch": arch}, "optim": {"lr": 1e-3}, "trainer": {"seed": 1,
                             "data_config": f"phase{step}.yaml"}},
            "history": [{"step": s, "minutes": m, "wer_all": w} for s, m, w in history]}


def test_release_joins_the_phases_curves():
    p1 = _ck(2000, 22.0, [(1000, 11.0, 88.9), (2000, 22.0, 60.0)], {"output_size": 144})
    p2 = _ck(500, 6.5, [(250, 3.0, 40.0), (500, 6.5, 30.0)], None)
    joined = release.joined_history([p1, p2])
    assert [(h["step"], h["minutes"], h["wer_all"]) for h in joined] == [
        (1000, 11.0, 88.9), (2000, 22.0, 60.0), (2250, 25.0, 40.0), (2500, 28.5, 30.0)]
    info = release.summary(p2, Path("exp/p2"), None, [(Path("exp/p1"), p1)])
    assert info["steps"] == 2500 and info["minutes"] == 28.5
    assert info["arch"] == {"output_size": 144}  # phase 2 starts from a checkpoint: the architecture is phase 1's
    assert [ph["data_config"] for ph in info["phases"]] == ["phase2000.yaml", "phase500.yaml"]
    assert info["curve"][-1] == [28.5, 2500, 30.0]


def test_release_continues_an_earlier_release(tmp_path: Path):
    """Phase 3 on a machine where only the release of phases 1-2 is left: that release's record comes first."""
    p1 = _ck(2000, 22.0, [(1000, 11.0, 88.9), (2000, 22.0, 60.0)], {"output_size": 144})
    p2 = _ck(500, 6.5, [(250, 3.0, 40.0), (500, 6.5, 30.0)], None)
    rec = release.summary(p2, Path("exp/p2"), None, [(Path("exp/p1"), p1)])
    folder = tmp_path / "released"
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump({"demo_pretraining": rec}), encoding="utf-8")
    p3 = _ck(100, 2.0, [(100, 2.0, 20.0)], None)
    info = release.summary(p3, Path("exp/p3"), None, [(folder, release.released_phases(folder))])
    assert info["steps"] == 2600 and info["minutes"] == 30.5
    assert info["arch"] == {"output_size": 144}
    assert [ph["data_config"] for ph in info["phases"]] == ["phase2000.yaml", "phase500.yaml", "phase100.yaml"]
    assert info["curve"] == [*rec["curve"], [30.5, 2600, 20.0]]
    (folder / "config.yaml").write_text("encoder_conf: {}\n", encoding="utf-8")
    with pytest.raises(CheckpointError, match="no demo_pretraining curve"):
        release.released_phases(folder)
