"""``./run.sh --stage 5 --lm auto`` (issue 16): KenLM built once (cached in .venv/kenlm: minutes the first time),
the LM estimated from the train supervisions, weight and bonus tuned on val, ``<model>+LM`` rows in RESULTS.md;
without ``--lm`` stage 5 neither builds nor estimates anything; a bad ``--lm`` is one clear error."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import OFFICIAL
from helpers import REPO, VOCAB, write_manifests

pytestmark = pytest.mark.slow  # end-to-end: deselect with -m 'not slow'

MODEL = VOCAB.parent  # the official-format tiny model
TRAIN = ["xin chào anh", "em muốn kiểm tra số dư tài khoản", "tôi muốn kiểm tra đơn hàng", "cảm ơn anh",
         "đơn hàng đã được giao chưa", "em muốn kiểm tra địa chỉ giao hàng", "xin chào chị", "cảm ơn chị ạ"]


def run_sh(*args: str, timeout: int = 1800) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    return subprocess.run(["./run.sh", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def test_bad_lm_option_is_one_clear_error(tmp_path: Path) -> None:
    for bad in ("bogus", str(tmp_path)):  # neither none, auto nor a file
        res = run_sh("--stage", "5", "--save-dir", str(tmp_path / "exp"), "--lm", bad, timeout=60)
        assert res.returncode != 0
        assert f"--lm must be none, auto or an LM file (ARPA or KenLM binary), not '{bad}'" in res.stderr


def test_stage_5_lm_auto(tmp_path: Path) -> None:
    mdir, exp = tmp_path / "manifests", tmp_path / "exp"
    write_manifests(mdir, "telephony", "train", TRAIN, OFFICIAL / "A.wav")
    write_manifests(mdir, "telephony", "val", ["em muốn kiểm tra đơn hàng", "cảm ơn chị"], OFFICIAL / "B.wav")
    write_manifests(mdir, "telephony", "test", ["xin chào anh"], OFFICIAL / "C.wav")
    common = ["--stage", "5", "--resume", str(MODEL), "--save-dir", str(exp), "--manifest-dir", str(mdir)]
    plain = run_sh(*common, "--decode-methods", "beam")
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert "KenLM" not in plain.stderr and not (exp / "lm").exists()  # the default path never builds an LM
    assert "+LM" not in (exp / "RESULTS.md").read_text(encoding="utf-8")
    res = run_sh(*common, "--decode-methods", "beam", "--lm", "auto")
    assert res.returncode == 0, res.stderr[-3000:]
    assert (exp / "lm" / "lm.bin").is_file() and json.loads((exp / "lm" / "lm.json").read_text())["order"] in (3, 4)
    fusion = json.loads((exp / "lm_fusion.json").read_text(encoding="utf-8"))
    assert fusion["tuned_on"] == "val" and fusion["lm"] == str(exp / "lm" / "lm.bin")
    assert set(fusion["models"]) == {"pretrained"} and len(fusion["models"]["pretrained"]["grid"]) == 18
    results = (exp / "RESULTS.md").read_text(encoding="utf-8")
    assert "| pretrained |" in results and "| pretrained+LM |" in results and "## LM fusion" in results
    assert (exp / "prefix_beam_search_lm" / "recogs-test_telephony-pretrained.txt").is_file()
    again = run_sh(*common, "--decode-methods", "beam", "--lm", "auto")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already built" in again.stderr and "train_lm: already done" in again.stdout
