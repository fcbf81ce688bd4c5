"""Source readers (glob, Kaldi, TSV, lhotse, the official training list) on small synthetic corpora."""

from __future__ import annotations

from pathlib import Path

import pytest

from chunkformer.data.sources import SourceError, read_source

from helpers import REPO, make_corpus, speech, write_wav


def test_glob_source_reads_every_file_with_sibling_text(tmp_path: Path) -> None:
    make_corpus(tmp_path, n_good=2)
    items = {it.id: it for it in read_source(str(tmp_path / "tel" / "*.wav"))}
    assert items["tel0"].text and items["tel0"].text_error is None
    assert items["notext"].text is None and items["notext"].text_error.startswith("missing transcript")
    assert items["latin1"].text_error.startswith("non-UTF-8")
    assert "corrupt" in items  # unreadable audio is listed, judged later


def test_kaldi_and_tsv_sources(tmp_path: Path) -> None:
    make_corpus(tmp_path, n_good=1)
    kaldi = {it.id: it for it in read_source(str(tmp_path / "conv"))}
    assert kaldi["conv2"].start == 2.0 and kaldi["conv2"].duration == 2.0 and kaldi["conv1"].speaker == "s1"
    assert kaldi["conv5"].command and kaldi["conv5"].audio.startswith("sox -D ")  # -D: no dither, deterministic
    assert kaldi["orphan"].text_error.startswith("no audio")
    tsv = {it.id: it for it in read_source(str(tmp_path / "val" / "list.tsv"))}
    assert Path(tsv["v0"].audio) == tmp_path / "val" / "audio" / "v0.wav"  # relative to the TSV's folder
    folder = {it.id: it for it in read_source(str(tmp_path / "test"))}
    assert set(folder) == {"utt-t0", "utt-t1"} and folder["utt-t1"].text_error.startswith("non-UTF-8")


def test_source_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no files match"):
        read_source(str(tmp_path / "nothing" / "*.wav"))
    with pytest.raises(SourceError, match="source not found"):
        read_source(str(tmp_path / "absent"))
    (tmp_path / "bad.tsv").write_text("path\ttext\nx.wav\thi\n", encoding="utf-8")
    with pytest.raises(SourceError, match="no 'wav' column"):
        read_source(str(tmp_path / "bad.tsv"))


def test_lhotse_manifest_source(tmp_path: Path) -> None:
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet

    write_wav(tmp_path / "a.wav", speech(1, 2.0))
    rec = Recording.from_file(tmp_path / "a.wav")
    sups = [SupervisionSegment("a-1", "a", 0.0, 1.0, text="xin chào"), SupervisionSegment("a-2", "a", 1.0, 1.0)]
    (tmp_path / "m").mkdir()
    RecordingSet.from_recordings([rec]).to_file(tmp_path / "m" / "x_recordings_train.jsonl.gz")
    SupervisionSet.from_segments(sups).to_file(tmp_path / "m" / "x_supervisions_train.jsonl.gz")
    items = {it.id: it for it in read_source(str(tmp_path / "m"))}
    assert items["a-1"].text == "xin chào" and items["a-1"].recording.id == "a" and items["a-2"].start == 1.0
    assert items["a-2"].text is None and items["a-2"].text_error == "missing transcript"


def test_official_chunkformer_training_list_is_a_source(tmp_path: Path) -> None:
    """The official recipe's ``data.tsv``: header ``key wav txt``, absolute paths; two files with the same stem
    in different folders keep their own keys."""
    for d in ("a", "b"):
        write_wav(tmp_path / d / "same.wav", speech(3, 1.0))
    rows = [f"spk1-utt1\t{tmp_path / 'a' / 'same.wav'}\txin chào", f"spk2-utt1\t{tmp_path / 'b' / 'same.wav'}\tcảm ơn"]
    (tmp_path / "data.tsv").write_text("key\twav\ttxt\n" + "\n".join(rows) + "\n", encoding="utf-8")
    for src in (tmp_path / "data.tsv", tmp_path):  # the file, or its folder
        items = {it.id: it for it in read_source(str(src))}
        assert set(items) == {"spk1-utt1", "spk2-utt1"}
        assert items["spk2-utt1"].audio == str(tmp_path / "b" / "same.wav") and items["spk2-utt1"].text == "cảm ơn"


def test_top_level_train_py_is_the_trainer() -> None:
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "train.py", "--help"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and "python -m chunkformer.train" in res.stdout and "--init" in res.stdout
