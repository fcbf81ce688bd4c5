"""Vietnamese transcript normalisation: spoken numbers against an independent reference, amounts/times/dates/
phones/percent/decimals, tags, Latin words, tone-mark styles and vocab spelling, scoring, and stage 0."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest

from chunkformer.data.config import ConfigError, load_data_config
from chunkformer.decoding.scoring import compute_wer
from chunkformer.text import (
    NormalizeError,
    TextNormalizer,
    TextNormConfig,
    canonical_tones,
    digits_to_words,
    number_to_words,
    scoring_text,
    to_vocab_spelling,
)
from chunkformer.text.normalize import UNKNOWN_NOTE

from helpers import REPO, load_script, speech

DEMO_VOCAB = REPO / "egs" / "callbot" / "demo" / "vocab.txt"
D = "không một hai ba bốn năm sáu bảy tám chín".split()

# ------------------------------------------------------------------------------------ reference speller
# Written independently of chunkformer.text.numbers: each group of three digits is first read naively
# ("X trăm Y mươi Z"), then spoken rewrites are applied as string substitutions; the number is cut into
# 9-digit blocks (each block followed by "tỷ" once per block level) on its decimal string.
_REWRITES = (("không mươi không", ""), ("không mươi", "LINH"), ("một mươi", "mười"), ("mươi một", "mươi mốt"),
             ("mươi bốn", "mươi tư"), ("mươi năm", "mươi lăm"), ("mười năm", "mười lăm"), ("mươi không", "mươi"),
             ("mười không", "mười"))


def ref_triplet(t: str, leading: bool) -> str:
    s = f"{D[int(t[0])]} trăm {D[int(t[1])]} mươi {D[int(t[2])]}"
    for a, b in _REWRITES:
        s = s.replace(a, b)
    if leading:  # the first group of a number does not say its zero hundreds, nor "linh"
        s = s.removeprefix("không trăm").strip().removeprefix("LINH").strip()
    return " ".join(s.split())


def ref_number(n: int, thousand: str = "nghìn", zero_tens: str = "linh") -> str:
    if n == 0:
        return "không"
    s = str(n)
    s = s.zfill(-(-len(s) // 9) * 9)
    blocks = [s[i:i + 9] for i in range(0, len(s), 9)]
    parts: list[str] = []
    for level, block in zip(range(len(blocks) - 1, -1, -1), blocks):
        if int(block) == 0:
            continue
        for name, trip in zip(("triệu", "NGHIN", ""), (block[:3], block[3:6], block[6:])):
            if int(trip):
                parts.append(f"{ref_triplet(trip, leading=not parts)} {name}".strip())
        parts += ["tỷ"] * level
    return " ".join(parts).replace("NGHIN", thousand).replace("LINH", zero_tens)


def random_numbers(count: int, seed: int) -> list[int]:
    """Up to 18 digits, zeros over-represented (they drive the linh / không trăm / silent-group rules)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        k = rng.randint(1, 18)
        out.append(int("".join("0" if rng.random() < 0.4 else str(rng.randint(1, 9)) for _ in range(k))))
    return out


@pytest.mark.parametrize("n,words", [
    (0, "không"), (1, "một"), (4, "bốn"), (5, "năm"), (10, "mười"), (11, "mười một"), (14, "mười bốn"),
    (15, "mười lăm"), (20, "hai mươi"), (21, "hai mươi mốt"), (24, "hai mươi tư"), (25, "hai mươi lăm"),
    (101, "một trăm linh một"), (105, "một trăm linh năm"), (111, "một trăm mười một"),
    (1005, "một nghìn không trăm linh năm"), (2024, "hai nghìn không trăm hai mươi tư"),
    (1_000_000, "một triệu"), (1_000_021, "một triệu không trăm hai mươi mốt"),
    (1_500_000_000, "một tỷ năm trăm triệu"), (10**12, "một nghìn tỷ"),
    (3_000_000_000_015, "ba nghìn tỷ không trăm mười lăm"), (10**15 - 1, " ".join(
        ["chín trăm chín mươi chín nghìn chín trăm chín mươi chín tỷ"]
        + ["chín trăm chín mươi chín triệu chín trăm chín mươi chín nghìn chín trăm chín mươi chín"])),
])
def test_number_to_words_hand_checked(n: int, words: str) -> None:
    assert number_to_words(n) == words == ref_number(n)


def test_number_to_words_matches_the_independent_reference() -> None:
    for n in list(range(20001)) + random_numbers(6000, seed=14):
        assert number_to_words(n) == ref_number(n), n
    for n in random_numbers(1000, seed=15):
        assert number_to_words(n, thousand_word="ngàn", zero_tens="lẻ") == ref_number(n, "ngàn", "lẻ"), n


def test_number_to_words_options_and_errors() -> None:
    assert number_to_words(105_005, "ngàn", "lẻ") == "một trăm lẻ năm ngàn không trăm lẻ năm"
    assert digits_to_words("0912345678") == "không chín một hai ba bốn năm sáu bảy tám"
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError):
            number_to_words(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="thousand_word"):
        number_to_words(1000, thousand_word="ngan")
    with pytest.raises(ValueError):
        digits_to_words("12a")


# ------------------------------------------------------------------------------------ the normaliser
CALL = "Tôi muốn chuyển 500.000 đồng lúc 9h30, mã OTP là 123456 [noise]"
CALL_NORM = ("tôi muốn chuyển năm trăm nghìn đồng lúc chín giờ ba mươi mã ô tê pê là "
             "một hai ba bốn năm sáu")


@pytest.mark.parametrize("text,norm", [
    (CALL, CALL_NORM),
    ("Phí 2.000.000đ, giảm 50k", "phí hai triệu đồng giảm năm mươi nghìn"),
    ("vay 1,5 triệu, 5tr hay 2 tỷ", "vay một phẩy năm triệu năm triệu hay hai tỷ"),
    ("lúc 14:05 hoặc 9h hoặc 7:00", "lúc mười bốn giờ không năm hoặc chín giờ hoặc bảy giờ"),
    ("hẹn 20/11/2024", "hẹn ngày hai mươi tháng mười một năm hai nghìn không trăm hai mươi tư"),
    ("ngày 1-4-2025", "ngày một tháng tư năm hai nghìn không trăm hai mươi lăm"),
    ("ngày 30/4", "ngày ba mươi tháng tư"),
    ("lãi 15% năm, 0,5% tháng", "lãi mười lăm phần trăm năm không phẩy năm phần trăm tháng"),
    ("tăng 1,25 lần, 3,05 điểm", "tăng một phẩy hai mươi lăm lần ba phẩy không năm điểm"),
    ("gọi 0912 345 678 hoặc 0912.345.678", "gọi " + digits_to_words("0912345678") + " hoặc "
     + digits_to_words("0912345678")),
    ("tài khoản 19036688 số 42", "tài khoản " + digits_to_words("19036688") + " số bốn mươi hai"),
    ("số tài khoản là 123456", "số tài khoản là một hai ba bốn năm sáu"),
    ("có 012 người", "có không một hai người"),
    ("số dư 1.250.000 đồng", "số dư một triệu hai trăm năm mươi nghìn đồng"),
    ("nhà số 105", "nhà số một trăm linh năm"),
])
def test_normalizer_examples(text: str, norm: str) -> None:
    assert TextNormalizer()(text).text == norm


def test_normalizer_records_each_change() -> None:
    kinds = [c.kind for c in TextNormalizer()(CALL).changes]
    assert {"tag", "amount", "time", "digits", "spell_out", "case/punctuation"} <= set(kinds)
    by_kind = {c.kind: c for c in TextNormalizer()(CALL).changes}
    assert by_kind["time"][1:] == ("9h30", "chín giờ ba mươi")
    assert by_kind["amount"][1:] == ("500.000 đồng", "năm trăm nghìn đồng")
    assert by_kind["tag"][1:] == ("[noise]", "")


def test_options_thousand_word_zero_tens_numbers_off() -> None:
    cfg = TextNormConfig(thousand_word="ngàn", zero_tens="lẻ")
    assert TextNormalizer(cfg)("1.005 đồng").text == "một ngàn không trăm lẻ năm đồng"
    assert TextNormalizer(TextNormConfig(numbers=False, unknown_latin="keep"))("Có 5 người.").text == "có 5 người"


def test_text_without_digits_or_tags_is_the_plain_normalisation() -> None:
    from chunkformer.text import normalize_text

    for text in ("  Xin CHÀO, bạn!!  ", "Nó nói: được!", "dạ, vâng ạ... em cảm ơn"):
        assert TextNormalizer()(text).text == normalize_text(text)


def test_tags_removed_mapped_and_configurable() -> None:
    assert TextNormalizer()("[noise] xin <unk> chào (laugh) [music] <sil> (Cough) bạn").text == "xin chào bạn"
    cfg = TextNormConfig.from_mapping({"tags": {"(laugh)": "cười", "[music]": "nhạc"}})
    assert TextNormalizer(cfg)("(laugh) [music] [noise] vâng").text == "cười nhạc vâng"
    # a null value removes a default: <sil> is then a note no tag knows, named as such
    cfg = TextNormConfig.from_mapping({"tags": {"<*>": None}})
    with pytest.raises(NormalizeError) as e:
        TextNormalizer(cfg)("<sil> vâng")
    assert (e.value.word, e.value.kind) == ("<sil>", UNKNOWN_NOTE)
    with pytest.raises(ValueError, match="not tags"):
        TextNormConfig.from_mapping({"tags": {"noise": ""}})


def test_latin_words_spelled_out_or_rejected_naming_the_word() -> None:
    assert TextNormalizer()("Mở App rồi xem Email, OK").text == "mở áp rồi xem i meo ô kê"
    with pytest.raises(NormalizeError, match="'Momo'") as e:
        TextNormalizer()("Anh cài app Momo giúp em")
    assert e.value.word == "Momo"
    assert TextNormalizer(TextNormConfig(unknown_latin="keep"))("cài Momo").text == "cài momo"
    cfg = TextNormConfig.from_mapping({"spell_out": {"Momo": "mô mô", "OTP": None}})
    assert TextNormalizer(cfg)("cài Momo").text == "cài mô mô"
    with pytest.raises(NormalizeError, match="'OTP'"):
        TextNormalizer(cfg)("mã OTP")
    # a word the model vocabulary has as a whole word is kept (the demo vocab spells "alo")
    assert TextNormalizer(vocab={"alo"})("Alo, em chào anh").text == "alo em chào anh"


def test_config_rejects_bad_keys() -> None:
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['numbres'\]"):
        TextNormConfig.from_mapping({"numbres": True})
    with pytest.raises(ValueError, match="tone_style"):
        TextNormConfig.from_mapping({"tone_style": "modern"})
    with pytest.raises(ValueError, match="unknown_latin"):
        TextNormConfig(unknown_latin="drop")


# ------------------------------------------------------------------------------------ tone marks
OLD_NEW = [("hòa", "hoà"), ("khóa", "khoá"), ("thủy", "thuỷ"), ("hóa", "hoá"), ("xòe", "xoè"), ("ủy", "uỷ"),
           ("Hòa", "Hoà"), ("lũy", "luỹ"), ("tọa", "toạ")]
SAME = ["hoàn", "khoáng", "tuyển", "quý", "quả", "hoài", "ngoáy", "hoa", "thuy", "múa", "mía", "huế"]


def test_canonical_tones_both_ways() -> None:
    for old, new in OLD_NEW:
        assert canonical_tones(new, "old") == old and canonical_tones(old, "new") == new
        assert canonical_tones(old, "old") == old and canonical_tones(new, "new") == new
    for w in SAME:
        assert canonical_tones(w, "old") == w == canonical_tones(w, "new")
    assert canonical_tones("Hoà bình, thuỷ lợi!", "old") == "Hòa bình, thủy lợi!"


def test_vocab_spelling_with_the_demo_vocab() -> None:
    words = {line.split()[0][1:] for line in DEMO_VOCAB.read_text(encoding="utf-8").splitlines()
             if line.startswith("▁")}
    assert {"hòa", "hoà", "khoá", "thuỷ"} <= words and not {"khóa", "thủy"} & words
    # both spellings in the vocab: the configured style (old by default)
    assert to_vocab_spelling("hoà", words) == "hòa" == to_vocab_spelling("hòa", words)
    assert to_vocab_spelling("hòa", words, style="new") == "hoà"
    # only one: that one, whatever was written or configured
    assert to_vocab_spelling("khóa", words) == "khoá" == to_vocab_spelling("khoá", words, style="old")
    assert to_vocab_spelling("thủy", words) == "thuỷ"
    assert to_vocab_spelling("hoàn", words) == "hoàn"
    norm = TextNormalizer(vocab=words)("Khóa học thủy lợi ở Biên Hoà")
    assert norm.text == "khoá học thuỷ lợi ở biên hòa"
    assert [c[1:] for c in norm.changes if c.kind == "tone"] == [("khóa", "khoá"), ("thủy", "thuỷ"), ("hoà", "hòa")]


def test_scoring_treats_tone_styles_and_written_numbers_as_equal() -> None:
    st = compute_wer([("u1", "Hoà bình, thuỷ lợi", "hòa bình thủy lợi"), ("u2", "khoá 15%", "khóa mười lăm phần trăm")])
    assert st.errors == 0 and st.ref_words == 9
    assert compute_wer([("u1", "hòa bình", "hoa bình")]).errors == 1
    assert scoring_text("[noise] Xin chào <unk>") == "xin chào"
    assert scoring_text("cài Momo") == "cài momo"  # scoring never rejects


# ------------------------------------------------------------------------------------ stage 0
def _wav(path: Path, seed: int, seconds: float) -> None:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), speech(seed, seconds), 16000)


@pytest.fixture()
def corpus(tmp_path: Path) -> Path:
    """A val set (TSV list) of real wav files with raw call transcripts; returns data.yaml."""
    rows = {"call": CALL, "momo": "Anh cài app Momo giúp em", "tone": "Hoà bình 15%", "tags": "[noise] <unk>",
            "note": "(tiếng ồn) dạ em nghe"}
    for seed, key in enumerate(rows):
        _wav(tmp_path / "audio" / f"{key}.wav", seed, 5.0)
    lines = "".join(f"{k}\taudio/{k}.wav\t{t}\n" for k, t in rows.items())
    (tmp_path / "list.tsv").write_text("id\twav\ttxt\n" + lines, encoding="utf-8")
    (tmp_path / "data.yaml").write_text("val:\n  - path: list.tsv\n    domain: telephony\n", encoding="utf-8")
    return tmp_path / "data.yaml"


def test_stage0_normalises_reports_and_rejects_unknown_latin(corpus: Path, capsys: pytest.CaptureFixture) -> None:
    from lhotse import load_manifest

    mdir = corpus.parent / "manifests"
    stage0 = load_script("prepare_manifests")
    args = ["--data-config", str(corpus), "--vocab", str(DEMO_VOCAB), "--out-dir", str(mdir), "--num-jobs", "1"]
    assert stage0.main(args) == 0
    cuts = {c.id: c for c in load_manifest(mdir / "telephony_cuts_val.jsonl.gz")}
    assert set(cuts) == {"call", "tone"}
    assert cuts["call"].supervisions[0].text == CALL_NORM
    assert cuts["tone"].supervisions[0].text == "hòa bình mười lăm phần trăm"
    with open(mdir / "rejected-val.tsv", encoding="utf-8") as f:
        rej = {r["id"]: r["reason"] for r in csv.DictReader(f, delimiter="\t")}
    assert rej["momo"].startswith("unknown Latin word: 'Momo'") and "spell_out" in rej["momo"]
    assert rej["tags"].startswith("empty transcript") and "[noise] <unk>" in rej["tags"]
    # a transcriber's note no tag knows is not said: rejected, naming it and the text.tags entry that drops it
    assert rej["note"].startswith("unknown transcriber's note: '(tiếng ồn)'") and "text.tags" in rej["note"]
    report = json.loads((mdir / "normalized-val.json").read_text(encoding="utf-8"))
    assert report["items"] == 5 and report["rejected_unknown_latin"] == 1
    assert report["unknown_notes"] == {"(tiếng ồn)": 1} and report["rejected_unknown_notes"] == 1
    assert report["unknown_latin_words"] == {"Momo": 1}
    assert {"amount": 1, "time": 1, "digits": 1, "spell_out": 1, "percent": 1, "tone": 1}.items() <= \
        report["changes"].items() and report["changes"]["tag"] == 3
    ex = {k: [(e["before"], e["after"]) for e in v] for k, v in report["examples"].items()}
    assert ("9h30", "chín giờ ba mươi") in ex["time"] and ("500.000 đồng", "năm trăm nghìn đồng") in ex["amount"]
    assert ("hoà", "hòa") in ex["tone"] and report["examples"]["time"][0]["transcript"] == CALL
    assert "normalized 3 of 5 transcripts" in capsys.readouterr().out
    # a change of the text: section redoes stage 0 with it
    corpus.write_text(corpus.read_text(encoding="utf-8") + "text:\n  thousand_word: ngàn\n", encoding="utf-8")
    assert stage0.main(args) == 0
    assert "split val" in capsys.readouterr().out  # redone, not "already done"
    cuts = {c.id: c for c in load_manifest(mdir / "telephony_cuts_val.jsonl.gz")}
    assert "năm trăm ngàn đồng" in cuts["call"].supervisions[0].text


def test_data_yaml_text_section(corpus: Path) -> None:
    base = corpus.read_text(encoding="utf-8")
    plain = load_data_config(corpus)
    assert plain.text == TextNormConfig()
    corpus.write_text(base + "text:\n  zero_tens: lẻ\n  spell_out: {momo: mô mô}\n", encoding="utf-8")
    cfg = load_data_config(corpus)
    assert cfg.text.zero_tens == "lẻ" and cfg.text.spell_out["momo"] == "mô mô" and "otp" in cfg.text.spell_out
    assert cfg.fingerprint("val") != plain.fingerprint("val")
    corpus.write_text(base + "text:\n  zero_tenz: lẻ\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"data.yaml: text: unknown key\(s\) \['zero_tenz'\]"):
        load_data_config(corpus)
    corpus.write_text(base + "text:\n  thousand_word: nghin\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="text.thousand_word"):
        load_data_config(corpus)


def test_results_md_states_the_scoring_normalisation() -> None:
    from chunkformer import decode

    method = next(iter(decode.METHODS))
    md = decode.results_markdown({method: {"m": {"test_a": decode.SetResult(1.0, 0.5, 1, 2)}}}, ["m"], "test",
                                 "cmd", {}, decode.Context(16, 8, 16))
    assert decode.SCORING_NOTE in md and "hoà = hòa" in md and "scoring_text" in md


def test_non_ascii_digits_do_not_crash_the_number_speller() -> None:
    """Arabic-Indic digits (seen in a gettext catalog) are not numbers it can speak: they stay as they are, for
    the vocabulary check to reject with the word named; ASCII numbers beside them are still spoken."""
    from chunkformer.text.normalize import TextNormalizer

    out = TextNormalizer()("mã ١٢٣ và 25 nhé").text
    assert out == "mã ١٢٣ và hai mươi lăm nhé"
