"""``./run.sh --stage 5 --lm auto|FILE`` (issue 16): the LM estimated from the train supervisions (auto: with the
cached KenLM build; skipped when it is not built, the tests never build it), weight and bonus tuned on val,
``<model>+LM`` rows in RESULTS.md; without ``--lm`` stage 5 neither builds nor estimates anything; a bad ``--lm``
is one clear error."""

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
KENLM_BIN = REPO / ".venv" / "kenlm" / "bin"  # where run.sh --lm auto finds (or builds) it
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
    text = tmp_path / "more.txt"
    text.write_text("xin chào anh\n", encoding="utf-8")
    res = run_sh("--stage", "5", "--save-dir", str(tmp_path / "exp"), "--lm", "auto", "--lm-text",
                 f"{text},{tmp_path / 'missing.txt'}", timeout=60)
    assert res.returncode != 0
    assert f"--lm-text must be auto, none or comma-separated text files; no file '{tmp_path / 'missing.txt'}'" \
        in res.stderr
    assert not (tmp_path / "exp").exists()  # refused before anything ran
    res = run_sh("--stage", "5", "--save-dir", str(tmp_path / "exp"), "--lm", "auto", "--lm-classes",
                 str(tmp_path / "cat.tsv"), timeout=60)
    assert res.returncode != 0
    assert f"--lm-classes must be auto, none or a 'class<TAB>phrase' file; no file '{tmp_path / 'cat.tsv'}'" \
        in res.stderr
    res = run_sh("--stage", "5", "--save-dir", str(tmp_path / "exp"), "--hotwords", str(tmp_path / "hot.txt"),
                 timeout=60)
    assert res.returncode != 0
    assert f"--hotwords must be auto, none or a phrase file (one per line); no file '{tmp_path / 'hot.txt'}'" \
        in res.stderr
    assert not (tmp_path / "exp").exists()


def test_stage_5_with_a_hotword_list(exp_setup: tuple[Path, list[str]], tmp_path: Path) -> None:
    """``--hotwords FILE``: beam+hotwords beside the plain beam (added to the methods), its score chosen on val,
    the list's recall and cost in RESULTS.md; a changed list redoes stage 5, an unchanged one does not."""
    exp, common = exp_setup
    hot = tmp_path / "hot.txt"
    hot.write_text("kiểm tra đơn hàng\nxin chào anh\n", encoding="utf-8")
    args = [*common[:-2], "--hotwords", str(hot)]
    res = run_sh(*args)
    assert res.returncode == 0, res.stderr[-3000:]
    results = (exp / "RESULTS.md").read_text(encoding="utf-8")
    assert "| pretrained |" in results and "| pretrained+hotwords |" in results
    assert "## Hotwords (`+hotwords` rows)" in results and "chosen per model on the **val** sets" in results
    assert (exp / "prefix_beam_search_hotwords" / "recogs-test_telephony-pretrained.txt").is_file()
    again = run_sh(*args)
    assert again.returncode == 0 and "stage 5: already done" in again.stderr
    hot.write_text("kiểm tra đơn hàng\n", encoding="utf-8")
    changed = run_sh(*args)
    assert changed.returncode == 0 and "stage 5: already done" not in changed.stderr
    assert "1 usable phrase;" in (exp / "RESULTS.md").read_text(encoding="utf-8")


@pytest.fixture()
def exp_setup(tmp_path: Path) -> tuple[Path, list[str]]:
    mdir, exp = tmp_path / "manifests", tmp_path / "exp"
    write_manifests(mdir, "telephony", "train", TRAIN, OFFICIAL / "A.wav")
    write_manifests(mdir, "telephony", "val", ["em muốn kiểm tra đơn hàng", "cảm ơn chị"], OFFICIAL / "B.wav")
    write_manifests(mdir, "telephony", "test", ["xin chào anh"], OFFICIAL / "C.wav")
    return exp, ["--stage", "5", "--resume", str(MODEL), "--save-dir", str(exp), "--manifest-dir", str(mdir),
                 "--decode-methods", "beam", "--hotwords", "none"]  # the demo's catalogue is not this vocab's


def check_lm_results(exp: Path, lm: Path) -> None:
    fusion = json.loads((exp / "lm_fusion.json").read_text(encoding="utf-8"))
    assert fusion["tuned_on"] == "val" and fusion["lm"] == str(lm)
    assert set(fusion["models"]) == {"pretrained"} and len(fusion["models"]["pretrained"]["grid"]) == 18
    results = (exp / "RESULTS.md").read_text(encoding="utf-8")
    assert "| pretrained |" in results and "| pretrained+LM |" in results and "## LM fusion" in results
    assert (exp / "prefix_beam_search_lm" / "recogs-test_telephony-pretrained.txt").is_file()


def test_stage_5_with_an_lm_file(exp_setup: tuple[Path, list[str]], tmp_path: Path) -> None:
    """Without --lm nothing LM-related runs; with an LM file, beam+lm is added and tuned (no KenLM build needed)."""
    exp, common = exp_setup
    plain = run_sh(*common)
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert "KenLM" not in plain.stderr and not (exp / "lm").exists()  # the default path never builds an LM
    assert "+LM" not in (exp / "RESULTS.md").read_text(encoding="utf-8")
    arpa = tmp_path / "lm.arpa"
    arpa.write_text("\\data\\\nngram 1=5\nngram 2=1\n\n\\1-grams:\n-2.0\t<unk>\n-99\t<s>\t-0.3\n-0.8\t</s>\n"
                    "-0.7\txin\t-0.2\n-0.7\tchào\n\n\\2-grams:\n-0.1\txin chào\n\n\\end\\\n", encoding="utf-8")
    res = run_sh(*common, "--lm", str(arpa))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "KenLM" not in res.stderr and not (exp / "lm").exists()
    check_lm_results(exp, arpa)


@pytest.mark.skipif(not (KENLM_BIN / "lmplz").is_file(), reason=f"KenLM is not built in {KENLM_BIN}: run "
                    "local/build_kenlm.sh first (the tests never build it: minutes of CI time)")
def test_stage_5_lm_auto(exp_setup: tuple[Path, list[str]], tmp_path: Path) -> None:
    """``--lm auto`` with ``--lm-text FILE`` and ``--lm-classes FILE``: the file's sentences join the transcripts,
    the catalogue's members their carrier sentences (the demo's own text and catalogue, ``auto``, need the general
    corpus's Debian packages and the demo corpus: not made here)."""
    exp, common = exp_setup
    text, cat = tmp_path / "more.txt", tmp_path / "cat.tsv"
    text.write_text("Xin chào chị, em muốn kiểm tra đơn hàng.\n", encoding="utf-8")
    cat.write_text("party\tanh\nparty\tchị\n", encoding="utf-8")
    opts = ["--lm", "auto", "--lm-text", str(text), "--lm-classes", str(cat)]
    res = run_sh(*common, *opts)
    assert res.returncode == 0, res.stderr[-3000:]
    info = json.loads((exp / "lm" / "lm.json").read_text())
    assert (exp / "lm" / "lm.bin").is_file() and info["order"] in (3, 4)
    assert info["train"]["text_files"][str(text)]["sentences"] == 1
    matched = sum("anh" in t.split() or "chị" in t.split() for t in TRAIN)
    assert matched and info["train"]["classes"]["sentences_added"] == 10 * matched  # --class-copies' default
    check_lm_results(exp, exp / "lm" / "lm.bin")
    again = run_sh(*common, *opts)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "already built" in again.stderr and "train_lm: already done" in again.stdout
