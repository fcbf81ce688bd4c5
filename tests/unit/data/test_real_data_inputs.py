"""Stages 0-1 on real-world input defects found by an audit: each is reported with its name and reason, and
nothing stops the run or is dropped silently."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from lhotse import load_manifest

from chunkformer import decode

from helpers import VOCAB, load_script, rejected, sentence, speech, write_wav


def stage0(root: Path, yaml: str, mdir: Path) -> int:
    (root / "data.yaml").write_text(yaml, encoding="utf-8")
    return load_script("prepare_manifests").main(["--data-config", str(root / "data.yaml"), "--vocab", str(VOCAB),
                                                  "--out-dir", str(mdir), "--num-jobs", "1"])


def test_non_utf8_file_names_and_ids_are_rejected_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    write_wav(tmp_path / "tmp.wav", speech(1, 2.0))
    (tmp_path / "tmp.wav").rename(os.fsdecode(os.fsencode(tmp_path / "a") + b"/caf\xe9.wav"))  # Latin-1 name
    write_wav(tmp_path / "ok.wav", speech(2, 2.0))
    (tmp_path / "list.tsv").write_bytes(b"wav\ttxt\na/caf\xe9.wav\t" + sentence(1).encode()
                                        + b"\na/gone\xe9.wav\txin ch\xc3\xa0o\nok.wav\t" + sentence(2).encode() + b"\n")
    kd = tmp_path / "kd"
    kd.mkdir()
    write_wav(kd / "r1.wav", speech(3, 2.0))
    wav = os.fsencode(kd / "r1.wav")
    (kd / "wav.scp").write_bytes(b"r\xe91 " + wav + b"\nr2 " + wav + b"\n")
    (kd / "text").write_bytes(b"r\xe91 xin ch\xc3\xa0o anh\nr2 xin ch\xc3\xa0o anh\n")
    mdir = tmp_path / "m"
    assert stage0(tmp_path, "val:\n  - path: list.tsv\n    domain: tel\ntest:\n  - path: kd\n    domain: tel\n",
                  mdir) == 0
    assert rejected(mdir, "val") == {"caf\\xe9": "non-UTF-8 name", "gone\\xe9": "non-UTF-8 name"}
    assert "rename the file" in (mdir / "rejected-val.tsv").read_text(encoding="utf-8")
    assert rejected(mdir, "test") == {"r\\xe91": "non-UTF-8 name"}
    json.loads((mdir / "normalized-test.json").read_text(encoding="utf-8"))
    assert (mdir / "tel_cuts_val.jsonl.gz").is_file() and (mdir / "tel_cuts_test.jsonl.gz").is_file()


def test_a_truncated_wav_is_rejected_not_kept_shorter(tmp_path: Path) -> None:
    """A WAV copy cut short (header: 2 s, file: 1 s) would be kept as 1 s of audio under a 2 s transcript."""
    write_wav(tmp_path / "c" / "ok.wav", speech(1, 2.0, 8000), 8000, "PCM_16")
    (tmp_path / "c" / "ok.txt").write_text(sentence(1), encoding="utf-8")
    write_wav(tmp_path / "c" / "cut.wav", speech(2, 2.0, 8000), 8000, "PCM_16")
    wav = tmp_path / "c" / "cut.wav"
    wav.write_bytes(wav.read_bytes()[: 44 + 16000])
    (tmp_path / "c" / "cut.txt").write_text(sentence(2), encoding="utf-8")
    mdir = tmp_path / "m"
    assert stage0(tmp_path, "train:\n  - path: c\n    domain: tel\n", mdir) == 0
    assert rejected(mdir, "train") == {"cut": "truncated audio"}
    assert "holds 16000 of the 32000 bytes" in (mdir / "rejected-train.tsv").read_text(encoding="utf-8")


def test_kaldi_dir_with_bom_tabs_crlf_and_a_repeated_id(tmp_path: Path) -> None:
    """Files saved by Windows tools (BOM, CRLF), a tab after the key (Kaldi splits on any whitespace) and a
    repeated utterance id: every line is its utterance, and the repeat is rejected, not silently kept instead."""
    kd = tmp_path / "kd"
    for i in range(3):
        write_wav(kd / f"k{i}.wav", speech(30 + i, 2.0, 8000), 8000)
    (kd / "wav.scp").write_text("\ufeff" + "".join(f"k{i}\t{kd / f'k{i}.wav'}\r\n" for i in range(3)), encoding="utf-8")
    (kd / "text").write_text(f"\ufeffk0 {sentence(30)}\r\nk1\t{sentence(31)}\r\nk2 {sentence(32)}\r\n"
                             f"k2 {sentence(33)}\r\n", encoding="utf-8")
    mdir = tmp_path / "m"
    assert stage0(tmp_path, "train:\n  - path: kd\n    domain: tel\n", mdir) == 0
    cuts = {c.id: c.supervisions[0].text for c in load_manifest(mdir / "tel_cuts_train.jsonl.gz")}
    assert set(cuts) == {"k0", "k1", "k2"}
    assert cuts["k2"] == sentence(32).lower().rstrip(".")  # the first line of k2
    assert rejected(mdir, "train") == {"k2": "duplicate id"}


def test_a_tsv_row_with_more_fields_than_the_header_is_rejected_not_cut(tmp_path: Path) -> None:
    """A tab inside a transcript made the row one field longer: its txt column held only the words before it."""
    for i in range(3):
        write_wav(tmp_path / f"v{i}.wav", speech(40 + i, 2.0, 8000), 8000)
    (tmp_path / "list.tsv").write_text(f"wav\ttxt\nv0.wav\t{sentence(40)}\nv1.wav\txin chào\tanh chị\n"
                                       f"v2.wav\t{sentence(42)}\t\n", encoding="utf-8")  # a trailing tab is fine
    mdir = tmp_path / "m"
    assert stage0(tmp_path, "val:\n  - path: list.tsv\n    domain: tel\n", mdir) == 0
    assert rejected(mdir, "val") == {"v1": "malformed TSV row"}
    assert {c.id for c in load_manifest(mdir / "tel_cuts_val.jsonl.gz")} == {"v0", "v2"}


def test_a_transcript_without_readable_audio_in_a_folder_is_reported(tmp_path: Path) -> None:
    """A folder source read only its audio files: a transcript whose audio is missing or in a format not read
    (a phone system's .m4a) vanished without a word, with its audio."""
    c = tmp_path / "c"
    write_wav(c / "a" / "ok.wav", speech(1, 2.0), 16000)
    (c / "a" / "ok.txt").write_text(sentence(1), encoding="utf-8")
    write_wav(c / "stereo.wav", speech(2, 2.0)[:, None].repeat(2, axis=1), 16000)
    for k in (0, 1):
        (c / f"stereo_ch{k}.txt").write_text(sentence(2 + k), encoding="utf-8")
    (c / "call.m4a").write_bytes(b"\x00\x00\x00\x18ftypM4A ")
    (c / "call.txt").write_text(sentence(3), encoding="utf-8")
    (c / "gone.txt").write_text(sentence(4), encoding="utf-8")
    mdir = tmp_path / "m"
    assert stage0(tmp_path, "train:\n  - path: c\n    domain: tel\n    channels: split\n"
                            "val:\n  - path: glob:c/*\n    domain: tel\n    channel: 0\n", mdir) == 0
    assert rejected(mdir, "train") == {"call": "no audio", "gone": "no audio", "ok": "no audio",  # ok_ch0.txt
                                       "ok_ch0": "missing transcript"}
    assert rejected(mdir, "val") == {"call": "unreadable audio", "gone": "no audio", "stereo_ch0": "no audio",
                                     "stereo_ch1": "no audio", "stereo": "missing transcript"}


def test_stage1_names_a_cut_whose_audio_vanished_after_stage0_and_computes_the_rest(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """A TSV's audio deleted after stage 0 (stage 0 stamps the TSV, not every file it names): stage 1 died with
    a 100-line traceback from a worker; now one line names the cut, file and fix, and the other sets are done."""
    for i in range(2):
        write_wav(tmp_path / "a" / f"v{i}.wav", speech(40 + i, 2.0, 8000), 8000)
        write_wav(tmp_path / "b" / f"t{i}.wav", speech(50 + i, 2.0, 8000), 8000)
    (tmp_path / "val.tsv").write_text("wav\ttxt\n" + "".join(f"a/v{i}.wav\t{sentence(i)}\n" for i in range(2)),
                                      encoding="utf-8")
    (tmp_path / "test.tsv").write_text("wav\ttxt\n" + "".join(f"b/t{i}.wav\t{sentence(i)}\n" for i in range(2)),
                                       encoding="utf-8")
    mdir, fb = tmp_path / "m", tmp_path / "fb"
    assert stage0(tmp_path, "val:\n  - path: val.tsv\n    domain: tel\ntest:\n  - path: test.tsv\n    domain: tel\n",
                  mdir) == 0
    (tmp_path / "a" / "v1.wav").rename(tmp_path / "v1.wav")
    stage1 = load_script("compute_fbank").main
    args = ["--manifest-dir", str(mdir), "--out-dir", str(fb), "--num-jobs", "1"]
    capsys.readouterr()
    assert stage1(args) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert err[0] == (f"error: val/tel: cut v1: cannot load {tmp_path / 'a' / 'v1.wav'} (file not found); the corpus "
                      "changed after stage 0: rerun local/prepare_manifests.py --force")
    assert (fb / "tel_cuts_test.jsonl.gz").is_file() and not (fb / "tel_cuts_val.jsonl.gz").exists()
    # decoding that set (no features, no audio) names the cut in one line too, instead of lhotse's traceback
    args_dec = ["--exp-dir", str(tmp_path / "exp"), "--manifest-dir", str(mdir), "--model", f"m={VOCAB.parent}",
                "--splits", "val", "--methods", "greedy"]
    assert decode.main(args_dec) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith(f"error: cut v1: cannot load {tmp_path}")
    (tmp_path / "v1.wav").rename(tmp_path / "a" / "v1.wav")
    assert stage1(args) == 0
    assert "computed val/tel; already done: test/tel" in capsys.readouterr().out


def test_stage1_redoes_a_set_when_one_feature_file_was_deleted(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Stage 1 said "already done" with a feature file gone (decoding then failed on that cut)."""
    for i in range(3):
        write_wav(tmp_path / "a" / f"v{i}.wav", speech(40 + i, 2.0, 8000), 8000)
    (tmp_path / "val.tsv").write_text("wav\ttxt\n" + "".join(f"a/v{i}.wav\t{sentence(i)}\n" for i in range(3)),
                                      encoding="utf-8")
    mdir, fb = tmp_path / "m", tmp_path / "fb"
    assert stage0(tmp_path, "val:\n  - path: val.tsv\n    domain: tel\n", mdir) == 0
    stage1 = load_script("compute_fbank").main
    args = ["--manifest-dir", str(mdir), "--out-dir", str(fb), "--num-jobs", "1"]
    assert stage1(args) == 0
    feats = [Path(c.features.storage_path, c.features.storage_key) for c in load_manifest(fb / "tel_cuts_val.jsonl.gz")]
    feats[1].unlink()
    capsys.readouterr()
    assert stage1(args) == 0
    assert "already done" not in capsys.readouterr().out and all(f.is_file() for f in feats)
    assert stage1(args) == 0
    assert "already done" in capsys.readouterr().out
