"""Source paths with glob characters (issue 14 item 7): ``[``, ``*``, ``?`` in a path that exists are literal;
only a path that does not exist, or one with an explicit ``glob:`` prefix, is a pattern."""

from __future__ import annotations

from pathlib import Path

import pytest

from chunkformer.data.config import load_data_config
from chunkformer.data.sources import SourceError, is_glob, read_source, source_stamp

from helpers import sentence, speech, write_wav


def calls(d: Path, names: tuple[str, ...] = ("a", "b")) -> None:
    for i, n in enumerate(names):
        write_wav(d / f"{n}.wav", speech(i, 1.0, 8000), 8000)
        (d / f"{n}.txt").write_text(sentence(i), encoding="utf-8")


def test_existing_paths_with_glob_characters_are_literal(tmp_path: Path) -> None:
    folder = tmp_path / "calls [2024]"
    calls(folder)
    assert not is_glob(str(folder))
    assert {it.id for it in read_source(str(folder))} == {"a", "b"}
    assert {Path(n).name for n, _, _ in source_stamp(str(folder))} == {"a.wav", "a.txt", "b.wav", "b.txt"}
    tsv = tmp_path / "list*?.tsv"
    tsv.write_text(f"wav\ttxt\n{folder / 'a.wav'}\txin chào\n", encoding="utf-8")
    assert [it.id for it in read_source(str(tsv))] == ["a"]
    assert source_stamp(str(tsv))[0][0] == str(tsv)


def test_a_pattern_under_an_existing_folder_with_brackets(tmp_path: Path) -> None:
    folder = tmp_path / "calls [2024]"
    calls(folder, ("a", "b", "c"))
    pattern = str(folder / "[ab].wav")  # the folder part exists (literal), the file part is a pattern
    assert is_glob(pattern)
    assert {it.id for it in read_source(pattern)} == {"a", "b"}
    # the matches and their transcripts, not c's
    assert {Path(n).name for n, _, _ in source_stamp(pattern)} == {"a.wav", "a.txt", "b.wav", "b.txt"}


def test_explicit_glob_prefix_and_relative_resolution(tmp_path: Path) -> None:
    calls(tmp_path / "data", ("a", "b", "x"))
    (tmp_path / "d.yaml").write_text("train:\n  - path: glob:data/[ab].wav\n    domain: t\n", encoding="utf-8")
    path = load_data_config(tmp_path / "d.yaml").splits["train"][0].path
    assert path == f"glob:{tmp_path / 'data'}/[ab].wav"
    assert {it.id for it in read_source(path)} == {"a", "b"}
    assert {it.source for it in read_source(path)} == {path}
    lit = tmp_path / "data" / "[ab].wav"  # now a file of that very name exists: literal without the prefix
    write_wav(lit, speech(9, 1.0, 8000), 8000)
    assert not is_glob(str(lit)) and is_glob(f"glob:{lit}")
    assert {it.id for it in read_source(f"glob:{tmp_path / 'data'}/[ab].wav")} == {"a", "b"}


def test_a_missing_path_with_glob_characters_is_a_pattern(tmp_path: Path) -> None:
    calls(tmp_path / "d")
    assert {it.id for it in read_source(str(tmp_path / "d" / "*.wav"))} == {"a", "b"}
    with pytest.raises(SourceError, match="no files match"):
        read_source(str(tmp_path / "nothing [x]" / "*.wav"))


def test_a_folder_source_is_stamped_recursively(tmp_path: Path) -> None:
    """A folder of audio files is read recursively, so a transcript fixed in a sub-folder must change the stamp
    (and redo stage 0)."""
    sub = tmp_path / "calls" / "day1"
    sub.mkdir(parents=True)
    (sub / "a.txt").write_text("xin chào", encoding="utf-8")
    before = source_stamp(str(tmp_path / "calls"))
    assert [Path(n).name for n, _, _ in before] == ["a.txt"]
    (sub / "a.txt").write_text("xin chào anh", encoding="utf-8")
    assert source_stamp(str(tmp_path / "calls")) != before
