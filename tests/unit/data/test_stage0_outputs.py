"""Stage 0 replaces only what it wrote (issue 14 item 4): a user's icefall manifests kept in the manifest dir,
read by a source, survive stage 0, reruns and config changes; stage 0 stops rather than overwrite them."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from chunkformer.data.manifests import Stage0Done, domains_of, marker_path

from helpers import VOCAB, load_script, sentence, speech, write_wav


def user_manifests(mdir: Path, n: int = 3) -> dict[str, str]:
    """icefall-style ``callcentre_{recordings,supervisions,cuts}_train.jsonl.gz`` in ``mdir``; name → sha256."""
    from lhotse import CutSet, Recording, RecordingSet, SupervisionSegment, SupervisionSet

    recs, sups = [], []
    for i in range(n):
        wav = mdir.parent / "audio" / f"u{i}.wav"
        write_wav(wav, speech(70 + i, 1.6, 8000), 8000)
        recs.append(Recording.from_file(wav, recording_id=f"u{i}"))
        sups.append(SupervisionSegment(f"u{i}", f"u{i}", 0.0, recs[-1].duration, text=sentence(70 + i)))
    mdir.mkdir(parents=True, exist_ok=True)
    RecordingSet.from_recordings(recs).to_file(mdir / "callcentre_recordings_train.jsonl.gz")
    SupervisionSet.from_segments(sups).to_file(mdir / "callcentre_supervisions_train.jsonl.gz")
    CutSet.from_manifests(RecordingSet.from_recordings(recs), SupervisionSet.from_segments(sups)).to_file(
        mdir / "callcentre_cuts_train.jsonl.gz")
    return digests(mdir)


def digests(mdir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in mdir.glob("callcentre_*")}


def stage0(root: Path, mdir: Path, domains: list[str], *extra: str) -> int:
    srcs = "".join(f"  - path: {mdir / 'callcentre_cuts_train.jsonl.gz'}\n    domain: {d}\n" for d in domains)
    (root / "data.yaml").write_text(f"train:\n{srcs}", encoding="utf-8")
    return load_script("prepare_manifests").main(["--data-config", str(root / "data.yaml"), "--vocab", str(VOCAB),
                                                  "--out-dir", str(mdir), "--num-jobs", "1", *extra])


def test_user_manifests_in_the_output_dir_survive_stage0_and_reruns(tmp_path: Path) -> None:
    mdir = tmp_path / "manifests"
    before = user_manifests(mdir)
    assert stage0(tmp_path, mdir, ["tel"]) == 0
    assert digests(mdir) == before
    assert domains_of(mdir, "train") == ["tel"]  # the user's callcentre_cuts_train is not a stage-0 domain
    done = Stage0Done.read(marker_path(mdir, "stage0-train"))
    assert set(done.outputs) == {"tel_recordings_train.jsonl.gz", "tel_supervisions_train.jsonl.gz",
                                 "tel_cuts_train.jsonl.gz", "rejected-train.tsv", "normalized-train.json"}
    assert stage0(tmp_path, mdir, ["tel"], "--force") == 0  # a forced rerun
    assert stage0(tmp_path, mdir, ["phone"]) == 0  # a config change: tel outputs replaced by phone outputs
    assert digests(mdir) == before
    assert not (mdir / "tel_cuts_train.jsonl.gz").exists() and (mdir / "phone_cuts_train.jsonl.gz").exists()


def test_stage0_refuses_to_overwrite_a_file_it_did_not_write(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    mdir = tmp_path / "manifests"
    before = user_manifests(mdir)
    assert stage0(tmp_path, mdir, ["callcentre"]) == 2  # a domain named like the user's files
    err = capsys.readouterr().err
    assert "would overwrite" in err and "callcentre_cuts_train.jsonl.gz" in err
    assert digests(mdir) == before
    (mdir / "other_cuts_train.jsonl.gz").write_bytes(b"a user's file, not read by any source")
    assert stage0(tmp_path, mdir, ["other"]) != 0
    assert "was not written by stage 0" in capsys.readouterr().err
    assert (mdir / "other_cuts_train.jsonl.gz").read_bytes() == b"a user's file, not read by any source"
