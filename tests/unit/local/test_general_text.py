"""The general-text library (local/general_text.py) and the espeak-ng wrapper (local/tts.py): markup stripping,
sentence splitting, normalisation drops, document splits, cross-split de-duplication, vocabulary coverage,
generated material kept out of val/test. Fast: inline snippets and a small vocab, no package download.

    .venv/bin/python -m pytest -q tests/unit/local/test_general_text.py
"""

from __future__ import annotations

import shutil
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import REPO

ROOT = REPO
sys.path.insert(0, str(ROOT / "local"))
import daily_text  # noqa: E402
import general_text as gt  # noqa: E402
import tts  # noqa: E402

HELP_PAGE = """<!DOCTYPE html><html><head><title>Tùy chọn</title><script>var x = "không lấy";</script></head>
<body><header><p>LibreOffice 7.4 Help</p></header><div id="DisplayArea" itemprop="softwareHelp">
<h1 id="hd_1">Tùy chọn Nạp/Lưu</h1>
<p class="paragraph">Ghi rõ thiết lập <span class="emph">Nạp</span> chung. Nhấn vào nút để mở hộp thoại!</p>
<table><tr><td><p>Cột một</p></td><td><p>Cột hai &amp; ba</p></td></tr></table>
</div></body></html>"""

MAN_PAGE = r""".\" -*- coding: UTF-8 -*-
.\" comment that must not be read
.TH RECINF 1 "Tháng 4 năm 2022" "recinf 1.9" "Các câu lệnh"
.SH "MÔ TẢ"
Hiển thị thông tin về các kiểu
của các trường đã lưu trong \fBđầu vào\fP.
.TP
\fB\-t\fP, \fB\-\-type\fP=\fI\,KIỂU\/\fP
hiển thị thông tin trên những bản ghi.
.SH "TÁC GIẢ"
Được viết bởi \(lqJose\(rq.
"""

WORDS = ("nghìn chọn tập tin hiển thị thông tin về các kiểu của trường đã lưu trong đầu vào tôi đi học hôm nay "
         "ngày mai em ăn cơm nhấn vào nút để mở hộp thoại ghi rõ thiết lập nạp chung hoá học rất hay "
         "một hai ba bốn năm sáu bảy")


@pytest.fixture
def vocab(tmp_path: Path) -> set[str]:
    path = tmp_path / "vocab.txt"
    toks = ["<blank>", "<unk>"] + ["▁" + w for w in dict.fromkeys(WORDS.split())] + ["<sos/eos>"]
    path.write_text("".join(f"{t} {i}\n" for i, t in enumerate(toks)), encoding="utf-8")
    return gt.load_vocab(path)


def test_html_blocks_strip_tags_scripts_and_chrome():
    blocks = gt.html_blocks(HELP_PAGE)
    assert blocks == ["Tùy chọn Nạp/Lưu", "Ghi rõ thiết lập Nạp chung. Nhấn vào nút để mở hộp thoại!",
                      "Cột một", "Cột hai & ba"]


def test_split_sentences_at_punctuation():
    assert gt.split_sentences("Ghi rõ thiết lập. Nhấn vào nút! Cái gì? Một; hai: ba") == [
        "Ghi rõ thiết lập.", "Nhấn vào nút!", "Cái gì?", "Một;", "hai:", "ba"]
    assert gt.split_sentences("phiên bản 1.5 mới") == ["phiên bản 1.5 mới"]  # a decimal point is no sentence end


def test_man_blocks_join_lines_and_strip_markup():
    blocks = gt.man_blocks(MAN_PAGE)
    assert "MÔ TẢ" in blocks and "TÁC GIẢ" in blocks
    assert "Hiển thị thông tin về các kiểu của các trường đã lưu trong đầu vào." in blocks  # joined across lines
    assert "-t, --type=KIỂU" in blocks                                                      # .TP tag alone
    assert "hiển thị thông tin trên những bản ghi." in blocks
    assert 'Được viết bởi "Jose".' in blocks
    assert not any("comment" in b or "RECINF" in b or "\\f" in b for b in blocks)


def _write_mo(path: Path, entries: dict[str, str]) -> None:
    """A GNU .mo catalog (the format msgfmt writes): header, key table, value table, strings."""
    keys = sorted(entries)
    ids, strs = b"", b""
    offsets = []
    for k in keys:
        kb, vb = k.encode(), entries[k].encode()
        offsets.append((len(ids), len(kb), len(strs), len(vb)))
        ids += kb + b"\0"
        strs += vb + b"\0"
    n = len(keys)
    start = 28 + 16 * n
    table = b"".join(struct.pack("<II", ln, start + o) for o, ln, _, _ in offsets)
    table += b"".join(struct.pack("<II", ln, start + len(ids) + o) for _, _, o, ln in offsets)
    path.write_bytes(struct.pack("<Iiiiiii", 0x950412DE, 0, n, 28, 28 + 8 * n, 0, 0) + table + ids + strs)


def test_catalog_blocks_read_translations_without_accelerators(tmp_path: Path):
    mo = tmp_path / "x.mo"
    _write_mo(mo, {"": "Content-Type: text/plain; charset=UTF-8\n", "_Open": "_Mở hộp thoại", "Same": "Same",
                   "Save ~file": "Ghi ~rõ thiết lập\nnạp chung"})
    assert gt.catalog_blocks(mo) == ["Ghi rõ thiết lập", "nạp chung", "Mở hộp thoại"]  # by msgid


def test_normalize_sentence_keeps_and_reports_drops(vocab: set[str]):
    rep = gt.DropReport()
    assert gt.normalize_sentence("Nhấn vào NÚT để mở hộp thoại!", vocab, rep) == "nhấn vào nút để mở hộp thoại"
    assert gt.normalize_sentence("Hóa học rất hay.", vocab, rep) == "hoá học rất hay"  # vocab's tone convention
    assert gt.normalize_sentence("Chọn Tập tin > Mở hộp thoại.", vocab, rep) == "chọn tập tin mở hộp thoại"
    assert gt.normalize_sentence("Nhấn vào nút", vocab, rep) is None
    assert gt.normalize_sentence(" ".join(["tôi"] * 26), vocab, rep) is None
    assert gt.normalize_sentence("Nhấn vào nút Cancel để mở", vocab, rep) is None
    assert gt.normalize_sentence("Nhấn vào %s để mở hộp thoại", vocab, rep) is None
    assert gt.normalize_sentence("Nhấn vào nút utf8 để mở", vocab, rep) is None  # digits inside a word
    assert rep.counts == {"too_short": 1, "too_long": 1, "oov": 1, "symbols": 1, "digits": 1}
    assert rep.oov["cancel"] == 1 and rep.examples["oov"] == ["Nhấn vào nút Cancel để mở"]
    for i in range(150):
        rep.drop("oov", f"câu {i}")
    assert rep.examples["oov"] == ["Nhấn vào nút Cancel để mở", "câu 8", "câu 98"]  # the 1st, 10th, 100th


def test_numbers_are_spoken_or_dropped(vocab: set[str]):
    rep = gt.DropReport()
    assert gt.normalize_sentence("Tôi đi học 3 ngày.", vocab, rep) == "tôi đi học ba ngày"
    assert gt.normalize_sentence("Tôi đi học (ngày 2).", vocab, rep) == "tôi đi học ngày hai"
    assert gt.normalize_sentence("Tôi học 2.000 ngày.", vocab, rep) == "tôi học hai nghìn ngày"
    for unreadable in ("Phiên bản 1.5 mới", "Mục 1.2.3 mới", "Hệ x86_64 mới"):
        assert gt.normalize_sentence(unreadable, vocab, rep) is None
    assert rep.counts == {"digits": 3}


def test_document_split_is_deterministic_and_respects_the_committed_test_set():
    ids = [f"help:page{i}.html" for i in range(2000)]
    first = [gt.split_of(d) for d in ids]
    assert first == [gt.split_of(d) for d in ids]
    shares = {s: first.count(s) / len(ids) for s in ("train", "val", "test")}
    assert 0.87 < shares["train"] < 0.93 and 0.03 < shares["val"] < 0.07 and 0.03 < shares["test"] < 0.07
    train_doc = next(d for d, s in zip(ids, first) if s == "train")
    assert gt.split_of(train_doc, {train_doc}) == "test"


def _docs_by_split() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    i = 0
    while min(len(v) for v in out.values()) < 3:
        d = f"help:p{i}.html"
        out[gt.split_of(d)].append(d)
        i += 1
    return out


def test_held_out_sentences_never_in_train():
    by = _docs_by_split()
    shared = "câu này có trong nhiều trang"           # recurs in train, val and test documents
    doc_sents = {d: [shared, f"câu riêng của {d}"] for ds in by.values() for d in ds}
    val_doc = by["val"][0]
    doc_sents[by["train"][0]].append(f"câu riêng của {val_doc}")  # a val sentence also in a train document
    committed = [(by["test"][0], f"câu riêng của {by['test'][0]}")]
    sp = gt.split_sentences_by_document(doc_sents, committed, num_val=10, seed=1)
    train = {t for _, t in sp.train}
    assert not train & ({t for _, t in sp.val} | {t for _, t in sp.test})
    assert shared in train and len(train) == len(sp.train)          # de-duplicated, kept in train
    assert all(t != f"câu riêng của {val_doc}" for _, t in sp.val)  # also in a train document: not a val item
    assert all(gt.split_of(d) == "val" for d, _ in sp.val) and sp.test == committed
    assert sp.test == gt.split_sentences_by_document(doc_sents, committed, 10, 1).test


def test_committed_test_sentence_is_removed_from_train():
    by = _docs_by_split()
    doc_sents = {by["train"][0]: ["một câu thử nghiệm chung"], by["test"][0]: ["một câu thử nghiệm chung"]}
    sp = gt.split_sentences_by_document(doc_sents, [(by["test"][0], "một câu thử nghiệm chung")], 5, 1)
    assert sp.train == [] and sp.removed_from_train == 1


def test_coverage_reaches_k(vocab: set[str]):
    counts = gt.syllable_counts(["tôi đi học hôm nay", "tôi ăn cơm"])
    seqs = gt.coverage_sequences(vocab, counts, k=7, seed=3, exclude=set())
    assert min(counts[w] for w in vocab) >= 7
    recount = gt.syllable_counts(["tôi đi học hôm nay", "tôi ăn cơm"] + seqs)
    assert min(recount[w] for w in vocab) >= 7 and all(5 <= len(s.split()) <= 12 for s in seqs)


def test_generated_material_only_in_train(vocab: set[str]):
    by = _docs_by_split()
    doc_sents = {d: [f"hiển thị thông tin về {w} các kiểu" for w in ("nút", "hộp", "học")] for d in by["train"]}
    doc_sents |= {d: [f"tôi đi học hôm nay ở {d}"] for d in by["val"] + by["test"]}
    committed = [(by["test"][0], f"tôi đi học hôm nay ở {by['test'][0]}")]
    lists, info, pool = gt.assemble(doc_sents, committed, vocab, num_val=5, seed=2, num_everyday=50,
                                    num_numbers=20, min_count=5)
    assert info["coverage"]["min_count"] >= 5
    generated = {t for o, t in lists["train"] if o.startswith("generated:")}
    assert generated and any(o == "generated:coverage" for o, _ in lists["train"])
    for split in ("val", "test"):
        assert lists[split] and not any(o.startswith("generated:") for o, _ in lists[split])
        assert not generated & {t for _, t in lists[split]}
    assert all(w in vocab for _, t in lists["train"] for w in t.split())


def test_everyday_sentences_use_the_vocab_and_avoid_callbot_words():
    vocab = gt.load_vocab(ROOT / "egs/callbot/demo/vocab.txt")
    gen = gt.generated_material(vocab, seed=0, num_everyday=300, num_numbers=0, exclude=set())
    text = " ".join(gen["everyday"])
    assert len(gen["everyday"]) == 300
    for word in ("tôi", "em", "ơi", "nhé", "ạ", "vâng", "dạ", "ừ"):
        assert f" {word} " in f" {text} "
    for banned in ("tài khoản", "số dư", "đơn hàng", "giao hàng", "quý khách", "xin chào", "ngân hàng"):
        assert banned not in text


def test_daily_sentences_bring_everyday_words_but_no_service_talk_or_held_out_values():
    vocab = gt.load_vocab(ROOT / "egs/callbot/demo/vocab.txt")
    banned = ["bảo hiểm du lịch", "mua bảo hiểm"]  # the second is generated often: it must be filtered out
    daily = daily_text.daily_material(vocab, seed=3, count=400, exclude=set(), banned_phrases=banned)
    assert len(daily) == len(set(daily)) == 400
    assert daily == daily_text.daily_material(vocab, seed=3, count=400, exclude=set(), banned_phrases=banned)
    assert all(w in vocab for s in daily for w in s.split())
    text = " ".join(f" {s} " for s in daily)
    for word in ("bảo hiểm", "tài khoản", "ngân hàng", "hoá đơn", "triệu", "lắp", "mất"):
        assert f" {word} " in text, word
    assert not any(f" {b} " in text for b in banned)
    for service in ("quý khách", "xin chào", "vui lòng", "bên em", "cho em xin"):
        assert service not in text


def test_daily_sentences_come_last_and_leave_earlier_rows_unchanged(vocab: set[str]):
    by = _docs_by_split()
    doc_sents = {d: [f"hiển thị thông tin về {w} các kiểu" for w in ("nút", "hộp", "học")] for d in by["train"]}
    doc_sents |= {d: [f"tôi đi học hôm nay ở {d}"] for d in by["val"] + by["test"]}
    kw = dict(num_val=5, seed=2, num_everyday=50, num_numbers=20, min_count=1)
    vocab = vocab | gt.load_vocab(ROOT / "egs/callbot/demo/vocab.txt")
    before, _, _ = gt.assemble(doc_sents, [], vocab, **kw)
    after, info, _ = gt.assemble(doc_sents, [], vocab, **kw, num_daily=30)
    assert after["train"][:len(before["train"])] == before["train"]
    assert [o for o, _ in after["train"][len(before["train"]):]] == [gt.DAILY_ORIGIN] * 30
    assert after["val"] == before["val"] and info["daily"]["made"] == 30


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (local/setup_env.sh)")
@pytest.mark.parametrize("voice", tts.VOICES)
def test_espeak_every_voice(voice: str):
    for variant in ("", tts.TRAIN_VARIANTS[1], tts.HELDOUT_VARIANTS[0]):
        x, rate = tts.espeak("tôi đi học hôm nay", tts.voice_name(voice, variant), 150, 50)
        assert rate == 22050 and x.dtype == np.float32
        assert 0.8 < len(x) / rate < 4.0 and float(np.abs(x).max()) > 0.1
    assert not set(tts.TRAIN_VARIANTS) & set(tts.HELDOUT_VARIANTS) and "" in tts.TRAIN_VARIANTS


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (local/setup_env.sh)")
def test_test_only_mode_is_deterministic_and_a_rerun_is_a_no_op(tmp_path: Path):
    import soundfile as sf
    from make_general_corpus import main

    tsv = tmp_path / "general_test.tsv"
    tsv.write_text("doc\ttxt\nhelp:a.html\ttôi đi học hôm nay\nman:man1/x.1\tnhấn vào nút để mở hộp thoại\n",
                   encoding="utf-8")
    outs = [tmp_path / "a", tmp_path / "b"]
    for out in outs:
        assert main(["--out-dir", str(out), "--test-only", "--test-tsv", str(tsv), "--jobs", "1"]) == 0
    lines = (outs[0] / "test/list.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "wav\ttxt" and lines[1].endswith("\ttôi đi học hôm nay") and len(lines) == 3
    wav = lines[1].split("\t")[0]
    assert (outs[0] / "test" / wav).read_bytes() == (outs[1] / "test" / wav).read_bytes()
    x, rate = sf.read(outs[0] / "test" / wav)
    assert rate == 16000 and x.ndim == 1 and len(x) > 0.5 * rate
    speakers = (outs[0] / "test/sources.tsv").read_text(encoding="utf-8")
    assert all(any(f"+{v} " in ln for v in tts.HELDOUT_VARIANTS) for ln in speakers.splitlines()[1:])
    stamp = (outs[0] / ".done").stat().st_mtime_ns
    assert main(["--out-dir", str(outs[0]), "--test-only", "--test-tsv", str(tsv), "--jobs", "1"]) == 0
    assert (outs[0] / ".done").stat().st_mtime_ns == stamp


def test_maint_guide_is_never_fetched(tmp_path: Path):
    with pytest.raises(ValueError, match="independent checks"):
        gt.fetch_package("maint-guide-vi", tmp_path)
    assert "maint-guide-vi" not in gt.CATALOG_PACKAGES + (gt.HELP_PACKAGE, gt.MAN_PACKAGE)


def test_pick_test_set_balances_sources_lengths_and_documents():
    pool = [(f"help:p{i % 40}.html", " ".join(["câu"] * (4 + i % 22)) + f" số {i}") for i in range(2000)]
    pool += [(f"man:man1/x{i % 5}.1", f"một câu trong trang man số {i}") for i in range(100)]
    pool += [("catalog:bash/bash.mo", f"một chuỗi của danh mục số {i}") for i in range(500)]
    picked = gt.pick_test_set(pool, 100, seed=1)
    assert picked == gt.pick_test_set(pool, 100, seed=1) and len(set(picked)) == 100
    by_source = {s: sum(d.startswith(s) for d, _ in picked) for s in ("help", "catalog", "man")}
    assert by_source == {"help": 60, "catalog": 30, "man": 10}
    lengths = [len(t.split()) for d, t in picked if d.startswith("help")]
    assert min(lengths) <= 10 and max(lengths) >= 18                   # short and long sentences
    assert max(sum(d == p for d, _ in picked) for p in {d for d, _ in pool if d.startswith("help")}) <= 3


def test_cap_hours_is_a_seeded_subset():
    rows = [(f"help:p{i}.html", "một hai ba bốn năm sáu bảy tám") for i in range(1000)]  # ~2.9 s each
    capped = gt.cap_hours(rows, 0.2, seed=3)
    assert capped == gt.cap_hours(rows, 0.2, seed=3) and set(capped) <= set(rows)
    assert 0.19 <= gt.estimated_hours(t for _, t in capped) <= 0.2
    assert gt.cap_hours(rows, 0, seed=3) == rows


def test_text_out_writes_the_training_text_without_coverage_once(tmp_path: Path, monkeypatch):
    """``--text-out``: the training sentences an LM can learn from (every origin but the coverage sequences), no
    audio; a rerun with the same arguments does nothing, other arguments rewrite it. The extraction itself
    (Debian packages) is the corpus's own, tested above; here it is replaced by a fixed text."""
    import make_general_corpus as mgc

    calls = []

    def fake_build_text(a, committed):  # the texts as build_text returns them: {split: [(origin, text)]}
        calls.append(a.num_daily)
        train = [("help:a.html", "tôi đi học hôm nay"), (gt.COVERAGE_ORIGIN, "hoá học rất hay một"),
                 ("generated:daily", "ngày mai em ăn cơm")]
        return {"train": train, "val": [], "test": []}, {}, []

    monkeypatch.setattr(mgc, "build_text", fake_build_text)
    tsv = tmp_path / "general_test.tsv"
    tsv.write_text("doc\ttxt\nhelp:b.html\tnhấn vào nút\n", encoding="utf-8")
    out = tmp_path / "lm_text" / "general.txt"
    argv = ["--out-dir", str(tmp_path / "unused"), "--test-tsv", str(tsv), "--text-out", str(out)]
    assert mgc.main(argv) == 0
    assert out.read_text(encoding="utf-8") == "tôi đi học hôm nay\nngày mai em ăn cơm\n"
    assert not (tmp_path / "unused").exists()  # no corpus, no audio
    assert mgc.main(argv) == 0 and calls == [0]  # same arguments: not rebuilt
    assert mgc.main([*argv, "--num-daily", "5"]) == 0 and calls == [0, 5]
