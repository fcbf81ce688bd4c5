"""local/train_lm.py: the domain LM from the train supervisions, its order chosen on val, redone only when an
input changes. Needs KenLM's lmplz (local/build_kenlm.sh); without it only the error for its absence runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from chunkformer.decoding import ArpaLM, KenLM
from chunkformer.decoding.lm_build import perplexity
from chunkformer.tokenizer import Tokenizer

from conftest import OFFICIAL
from helpers import REPO, VOCAB, load_script, write_manifests

train_lm = load_script("train_lm")
KENLM_BIN = Path(os.environ.get("KENLM_BIN", REPO / ".venv" / "kenlm" / "bin"))
TRAIN = ["xin chào anh", "em muốn kiểm tra số dư tài khoản", "tôi muốn kiểm tra đơn hàng", "cảm ơn anh",
         "đơn hàng đã được giao chưa", "em muốn kiểm tra địa chỉ giao hàng", "xin chào chị", "cảm ơn chị ạ",
         "tài khoản của tôi", "số dư tài khoản của mình"]
GENERAL = ["một hai ba bốn năm", "hai trăm nghìn đồng", "ngày mười tháng ba", "xin chào xyzzy"]  # xyzzy: unspellable
VAL = ["em muốn kiểm tra số dư", "cảm ơn chị", "đơn hàng của tôi đã được giao chưa"]


@pytest.fixture()
def mdir(tmp_path: Path) -> Path:
    d = tmp_path / "manifests"
    write_manifests(d, "telephony", "train", TRAIN, OFFICIAL / "A.wav")
    write_manifests(d, "general", "train", GENERAL, OFFICIAL / "A.wav")
    write_manifests(d, "telephony", "val", VAL, OFFICIAL / "A.wav")
    write_manifests(d, "telephony", "test", ["không được đọc"], OFFICIAL / "A.wav")
    return d


def test_missing_kenlm_is_one_clear_error(mdir: Path, tmp_path: Path, capsys) -> None:
    argv = ["--manifest-dir", str(mdir), "--vocab", str(VOCAB), "--out-dir", str(tmp_path / "lm"),
            "--kenlm-bin", str(tmp_path / "none")]
    assert train_lm.main(argv) == 2
    assert "lmplz not found: build KenLM with local/build_kenlm.sh" in capsys.readouterr().err
    assert train_lm.main([*argv[:-2], "--orders", "3,9"]) == 2
    assert "--orders must be n-gram orders in 1..6" in capsys.readouterr().err


@pytest.mark.skipif(not (KENLM_BIN / "lmplz").is_file(), reason=f"KenLM's lmplz is not built in {KENLM_BIN} "
                    "(run local/build_kenlm.sh, or set KENLM_BIN)")
def test_lm_from_the_train_supervisions_order_chosen_on_val(mdir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "lm"
    argv = ["--manifest-dir", str(mdir), "--vocab", str(VOCAB), "--out-dir", str(out), "--kenlm-bin", str(KENLM_BIN),
            "--orders", "2,3"]
    assert train_lm.main(argv) == 0
    info = json.loads((out / "lm.json").read_text(encoding="utf-8"))
    kept = TRAIN + GENERAL[:3]
    assert info["train"] == {"domains": ["general", "telephony"], "sentences": len(kept),
                             "words": sum(len(t.split()) for t in kept), "skipped_unspellable": 1,
                             "text_files": {}, "classes": None}
    val_ppl = {n: perplexity(ArpaLM(out / f"lm-o{n}.arpa"), VAL) for n in (2, 3)}
    assert info["order"] == min(val_ppl, key=val_ppl.get)
    assert info["val_perplexity"] == {str(n): round(p, 2) for n, p in val_ppl.items()}
    assert (out / "lm.arpa").read_bytes() == (out / f"lm-o{info['order']}.arpa").read_bytes()
    unigrams = set(ArpaLM(out / "lm.arpa").prob)
    assert ("kiểm",) in unigrams and ("xyzzy",) not in unigrams and ("được", "đọc") not in unigrams  # no test text
    assert KenLM(out / "lm.bin").sentence_score(VAL[0].split()) == pytest.approx(
        ArpaLM(out / "lm.arpa").sentence_score(VAL[0].split()), abs=1e-4)
    capsys.readouterr()
    assert train_lm.main(argv) == 0 and "already done" in capsys.readouterr().out
    write_manifests(mdir, "telephony", "train", [*TRAIN, "anh muốn kiểm tra"], OFFICIAL / "A.wav")
    assert train_lm.main(argv) == 0 and "already done" not in capsys.readouterr().out
    assert json.loads((out / "lm.json").read_text(encoding="utf-8"))["train"]["sentences"] == 14


def test_a_text_file_is_normalised_blank_lines_ignored(tmp_path: Path) -> None:
    """``--text``: raw sentences get the transcripts' spelling (numbers in words, lower case, no punctuation)."""
    f = tmp_path / "more.txt"
    f.write_text("Chị ơi, em nợ 200 nghìn đồng!\n\n   \nXIN CHÀO ANH.\n?!\n", encoding="utf-8")
    got = train_lm.read_text_file(f, Tokenizer.from_file(VOCAB))
    assert got.texts == ["chị ơi em nợ hai trăm nghìn đồng", "xin chào anh"]
    assert got.lines == 3  # "?!" is a line that normalises to nothing: counted, not kept


def test_a_bad_text_file_is_one_clear_error(mdir: Path, tmp_path: Path, capsys) -> None:
    tok = Tokenizer.from_file(VOCAB)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("xin chào".encode("utf-16"))
    with pytest.raises(ValueError, match=r"latin1.txt: not UTF-8 text"):
        train_lm.read_text_file(latin1, tok)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty.txt: no sentence"):
        train_lm.read_text_file(empty, tok)
    for bad in (tmp_path / "missing.txt", tmp_path):  # no file, a folder
        argv = ["--manifest-dir", str(mdir), "--vocab", str(VOCAB), "--out-dir", str(tmp_path / "lm"),
                "--text", str(bad)]
        assert train_lm.main(argv) == 2
        assert f"--text {bad}: no such file" in capsys.readouterr().err


@pytest.mark.skipif(not (KENLM_BIN / "lmplz").is_file(), reason=f"KenLM's lmplz is not built in {KENLM_BIN} "
                    "(run local/build_kenlm.sh, or set KENLM_BIN)")
def test_text_files_join_the_transcripts_and_key_the_rerun(mdir: Path, tmp_path: Path, capsys) -> None:
    out, more = tmp_path / "lm", tmp_path / "more.txt"
    more.write_text("Em muốn kiểm tra 200 nghìn đồng.\nxin chào xyzzy\n", encoding="utf-8")
    argv = ["--manifest-dir", str(mdir), "--vocab", str(VOCAB), "--out-dir", str(out), "--kenlm-bin", str(KENLM_BIN),
            "--orders", "2", "--text", str(more)]
    assert train_lm.main(argv) == 0
    info = json.loads((out / "lm.json").read_text(encoding="utf-8"))
    assert info["train"]["text_files"] == {str(more): {"lines": 2, "sentences": 1, "words": 8,
                                                       "skipped_unspellable": 1}}
    assert info["train"]["sentences"] == len(TRAIN) + 3 + 1
    assert ("tra", "hai") in set(ArpaLM(out / "lm.arpa").prob)  # a bigram only the file has
    capsys.readouterr()
    assert train_lm.main(argv) == 0 and "already done" in capsys.readouterr().out
    more.write_text("cảm ơn anh\n", encoding="utf-8")
    assert train_lm.main(argv) == 0 and "already done" not in capsys.readouterr().out


def test_a_catalogue_is_normalised_unspellable_phrases_set_aside(tmp_path: Path) -> None:
    f = tmp_path / "cat.tsv"
    f.write_text("# the bot's catalogue\nproduct\tĐơn hàng 5\ncity\tHà Nội\ncity\tHồ Chí Minh\nname\tMinh\n",
                 encoding="utf-8")
    cat = train_lm.read_catalogue(f, Tokenizer.from_file(VOCAB))
    assert cat.classes == {"product": ["đơn hàng năm"], "city": ["hà nội"], "name": ["minh"]}
    assert cat.unspellable == {"city": ["Hồ Chí Minh"]}
    f.write_text("name\txyzzy\n", encoding="utf-8")
    with pytest.raises(ValueError, match="cat.tsv: the vocabulary cannot spell any phrase"):
        train_lm.read_catalogue(f, Tokenizer.from_file(VOCAB))


def test_a_bad_catalogue_option_is_one_clear_error(mdir: Path, tmp_path: Path, capsys) -> None:
    base = ["--manifest-dir", str(mdir), "--vocab", str(VOCAB), "--out-dir", str(tmp_path / "lm")]
    assert train_lm.main([*base, "--classes", str(tmp_path / "none.tsv")]) == 2
    assert "--classes" in (err := capsys.readouterr().err) and "no such file" in err
    (tmp_path / "cat.tsv").write_text("name\tan\n", encoding="utf-8")
    assert train_lm.main([*base, "--classes", str(tmp_path / "cat.tsv"), "--class-copies", "0"]) == 2
    assert "--class-copies must be >= 1" in capsys.readouterr().err


@pytest.mark.skipif(not (KENLM_BIN / "lmplz").is_file(), reason=f"KenLM's lmplz is not built in {KENLM_BIN} "
                    "(run local/build_kenlm.sh, or set KENLM_BIN)")
def test_a_catalogue_puts_its_members_in_the_carrier_sentences_and_keys_the_rerun(mdir: Path, tmp_path: Path,
                                                                                   capsys) -> None:
    out, cat = tmp_path / "lm", tmp_path / "cat.tsv"
    cat.write_text("party\tanh\nparty\tchị\nparty\thồ minh\nparty\txyzzy\n", encoding="utf-8")
    argv = ["--manifest-dir", str(mdir), "--vocab", str(VOCAB), "--out-dir", str(out), "--kenlm-bin", str(KENLM_BIN),
            "--orders", "2", "--classes", str(cat), "--class-copies", "3"]
    assert train_lm.main(argv) == 0
    info = json.loads((out / "lm.json").read_text(encoding="utf-8"))
    matched = sum(any(w in ("anh", "chị") for w in t.split()) for t in TRAIN + GENERAL[:3])  # 5 sentences
    assert info["train"]["classes"] == {"file": str(cat), "copies": 3, "transcripts_matched": matched,
                                        "sentences_added": 3 * matched,
                                        "classes": {"party": {"members": 3, "in_transcripts": matched,
                                                              "unspellable": 1}}}
    assert info["train"]["sentences"] == len(TRAIN) + 3 + 3 * matched
    assert ("chào", "hồ") in set(ArpaLM(out / "lm.arpa").prob)  # "xin chào hồ minh": only by expansion
    capsys.readouterr()
    assert train_lm.main(argv) == 0 and "already done" in capsys.readouterr().out
    assert train_lm.main([*argv[:-1], "2"]) == 0 and "already done" not in capsys.readouterr().out  # other copies
