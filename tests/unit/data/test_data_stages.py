"""Stages 0 and 1 on a corpus seeded with every defect: exact rejections, kept items, features, idempotency."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from chunkformer.data.manifests import cuts_path
from chunkformer.data.pipeline import stored_features
from chunkformer.frontend import fbank
from chunkformer.text import normalize_text

from helpers import VOCAB, load_script, make_corpus, rejected, sentence, write_manifests


def kept_ids(mdir: Path, split: str) -> set[str]:
    from lhotse import load_manifest

    return {c.id for p in mdir.glob(f"*_cuts_{split}.jsonl.gz") for c in load_manifest(p)}


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict, dict]:
    root = tmp_path_factory.mktemp("corpus")
    yaml, rej, good = make_corpus(root)
    mdir = root / "manifests"
    stage0 = load_script("prepare_manifests")
    assert stage0.main(["--data-config", str(yaml), "--vocab", str(VOCAB.parent), "--out-dir", str(mdir),
                        "--num-jobs", "1"]) == 0
    return yaml, mdir, rej, good


def test_stage0_rejects_every_defect_with_its_reason(staged: tuple) -> None:
    _, mdir, rej, good = staged
    for split in ("train", "val", "test"):
        assert rejected(mdir, split) == rej[split], split
        assert kept_ids(mdir, split) == good[split], split


def test_stage0_manifests_keep_domain_channels_and_segments(staged: tuple) -> None:
    from lhotse import MultiCut, load_manifest

    _, mdir, _, _ = staged
    conv = {c.id: c for c in load_manifest(cuts_path(mdir, "conversation", "train"))}
    assert conv["conv2"].start == pytest.approx(2.0) and conv["conv2"].recording.sampling_rate == 44100
    assert isinstance(conv["conv3"], MultiCut) and conv["conv3"].recording.num_channels == 2
    assert conv["conv5"].recording.sources[0].type == "command"  # "sox ... |" entries of wav.scp
    assert all(c.custom["domain"] == "conversation" for c in conv.values())
    tel = {c.id: c for c in load_manifest(cuts_path(mdir, "telephony", "train"))}
    assert tel["tel0"].recording.sampling_rate == 8000
    # the supervision holds the normalised transcript (lower case, no final "."): see unit/text/test_text_normalize.py
    assert tel["tel0"].supervisions[0].text == normalize_text(sentence(0)) != sentence(0)


def test_stage0_is_idempotent_and_redoes_only_a_deleted_split(staged: tuple, capsys: pytest.CaptureFixture) -> None:
    yaml, mdir, _, _ = staged
    stage0 = load_script("prepare_manifests")
    args = ["--data-config", str(yaml), "--vocab", str(VOCAB), "--out-dir", str(mdir), "--num-jobs", "1"]
    capsys.readouterr()
    assert stage0.main(args) == 0
    assert "stage 0: already done" in capsys.readouterr().out
    mtime = cuts_path(mdir, "telephony", "train").stat().st_mtime_ns
    (mdir / "rejected-val.tsv").unlink()
    assert stage0.main(args) == 0
    out = capsys.readouterr().out
    assert "redid val" in out and "split val" in out and "split train" not in out
    assert (mdir / "rejected-val.tsv").exists() and cuts_path(mdir, "telephony", "train").stat().st_mtime_ns == mtime


def test_stage0_redoes_a_split_whose_corpus_was_rewritten_in_place(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture) -> None:
    """Same config, new content (e.g. the demo corpus regenerated): stale manifests must not be kept."""
    yaml, _, _ = make_corpus(tmp_path)
    mdir = tmp_path / "manifests"
    stage0 = load_script("prepare_manifests")
    args = ["--data-config", str(yaml), "--vocab", str(VOCAB), "--out-dir", str(mdir), "--num-jobs", "1"]
    assert stage0.main(args) == 0
    listing = tmp_path / "val" / "list.tsv"
    rows = listing.read_text(encoding="utf-8").splitlines()
    listing.write_text("\n".join(r for r in rows if "v1.wav" not in r) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert stage0.main(args) == 0
    out = capsys.readouterr().out
    assert "redid val" in out and "train" not in out.split("unchanged:")[0]
    assert "v1" not in kept_ids(mdir, "val") and "v0" in kept_ids(mdir, "val")


def test_stage1_features_equal_the_model_front_end_and_are_idempotent(staged: tuple, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    from lhotse import load_manifest

    from chunkformer.data.datamodule import eval_batches, eval_sets
    from chunkformer.data.pipeline import load_mono
    from chunkformer.tokenizer import Tokenizer

    _, mdir, _, good = staged
    fb = tmp_path / "fbank"
    stage1 = load_script("compute_fbank")
    args = ["--manifest-dir", str(mdir), "--out-dir", str(fb), "--num-jobs", "1"]
    assert stage1.main(args) == 0
    cuts = list(load_manifest(cuts_path(fb, "telephony", "val")))
    assert {c.id for c in cuts} == good["val"]
    for c in cuts:
        from chunkformer.audio import resample

        x, rate = load_mono(c)
        assert torch.equal(stored_features(c), fbank(resample(x, rate, 16000)))
    capsys.readouterr()
    assert stage1.main(args) == 0
    assert "stage 1: already done" in capsys.readouterr().out
    (fb / ".fbank-telephony-test.done").unlink()
    assert stage1.main(args) == 0
    out = capsys.readouterr().out
    assert "computed test/telephony" in out and "already done: val/telephony" in out
    sets = eval_sets(mdir, "val")
    assert list(sets) == ["telephony"] and all(c.has_features for c in sets["telephony"])
    tok = Tokenizer.from_file(VOCAB)
    batches = list(eval_batches(sets["telephony"], tok, max_duration=3.5))
    assert sorted(i for b in batches for i in b.cut_ids) == sorted(good["val"])
    assert all(b.duration <= 3.5 for b in batches if len(b.cut_ids) > 1)
    b = batches[0]
    assert b.feats[0].shape[1] == 80 and b.targets[0].dtype == torch.int64
    assert tok.decode(b.targets[0].tolist()) == b.texts[0]


def test_an_empty_eval_cuts_file_is_left_out_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                                           ) -> None:
    """An empty ``<domain>_cuts_val.jsonl.gz`` next to a good one: the trainer trained a whole epoch, then stopped
    with 'error rate is undefined: zero reference units' (no set named), and decode crashed in scoring."""
    from lhotse import CutSet

    from chunkformer.data.datamodule import eval_sets

    write_manifests(tmp_path, "telephony", "val", ["xin chào"], VOCAB.parent.parent / "A.wav")
    CutSet.from_cuts([]).to_file(cuts_path(tmp_path, "reading", "val"))
    with caplog.at_level("WARNING", logger="chunkformer.data"):
        sets = eval_sets(tmp_path, "val")
    assert list(sets) == ["telephony"]
    assert f"{cuts_path(tmp_path, 'reading', 'val')}: no cuts: the val set reading is left out" in caplog.text
