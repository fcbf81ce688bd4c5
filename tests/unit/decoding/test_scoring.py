"""WER/CER against jiwer, kaldialign-style alignment, and icefall-shaped result files."""

from __future__ import annotations

import random
import unicodedata
from pathlib import Path

import jiwer
import pytest

from chunkformer.decoding.scoring import (
    ErrorStats,
    align,
    compute_cer,
    compute_wer,
    main,
    read_recogs,
    units,
    write_error_stats,
    write_recogs,
    write_wer_summary,
)
from chunkformer.text import normalize_text

SYLLABLES = (
    "xin chào bạn không được của người việt nam tôi anh em một hai ba có là và "
    "thì sẽ đã gọi điện thoại số tiền ngân hàng ạ vâng dạ"
).split()


def random_pairs(n: int, seed: int) -> list[tuple[str, str, str]]:
    """Reference of random syllables; hypothesis with random substitutions, deletions and insertions."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        ref = [rng.choice(SYLLABLES) for _ in range(rng.randint(1, 15))]
        hyp: list[str] = []
        for w in ref:
            x = rng.random()
            if x < 0.1:
                continue
            hyp.append(rng.choice(SYLLABLES) if x < 0.25 else w)
            if rng.random() < 0.08:
                hyp.append(rng.choice(SYLLABLES))
        out.append((f"utt-{i:03d}", " ".join(ref), " ".join(hyp)))
    return out


# Expected alignments from kaldialign's own test suite (tests/test_align.py), the aligner icefall uses.
@pytest.mark.parametrize(
    ("ref", "hyp", "expected"),
    [
        ("a b c", "a s x c", [("a", "a"), ("b", "s"), (None, "x"), ("c", "c")]),
        ("a b", "b c", [("a", None), ("b", "b"), (None, "c")]),
        ("A B C", "D C A", [("A", "D"), ("B", None), ("C", "C"), (None, "A")]),
        ("A B C D", "C E D F", [("A", None), ("B", None), ("C", "C"), (None, "E"), ("D", "D"), (None, "F")]),
        ("a", "a a", [("a", "a"), (None, "a")]),
        ("", "x y", [(None, "x"), (None, "y")]),
        ("x y", "", [("x", None), ("y", None)]),
        ("", "", []),
    ],
)
def test_align_matches_kaldialign(ref: str, hyp: str, expected: list) -> None:
    assert align(ref.split(), hyp.split()) == expected


def test_wer_and_cer_equal_jiwer_on_random_pairs() -> None:
    pairs = random_pairs(200, seed=0)
    refs = [normalize_text(r) for _, r, _ in pairs]
    hyps = [normalize_text(h) for _, _, h in pairs]

    st = compute_wer(pairs)
    out = jiwer.process_words(refs, hyps)
    assert st.wer == pytest.approx(100.0 * jiwer.wer(refs, hyps), abs=1e-9)
    assert st.errors == out.substitutions + out.deletions + out.insertions
    assert st.ref_words == out.hits + out.substitutions + out.deletions
    assert st.utts == 200
    assert 0 < st.errors < st.ref_words

    # Per utterance: same minimal edit distance; the S/D/I split follows kaldi's tie-breaking, so only the
    # invariants that every minimal alignment shares are compared with jiwer.
    for (uid, ref, hyp), r, h in zip(pairs, refs, hyps, strict=True):
        one = compute_wer([(uid, ref, hyp)])
        o = jiwer.process_words(r, h)
        assert one.errors == o.substitutions + o.deletions + o.insertions, uid
        assert one.ins - one.dels == len(h.split()) - len(r.split()), uid

    cer = compute_cer(pairs)
    assert cer.wer == pytest.approx(100.0 * jiwer.cer(refs, hyps), abs=1e-9)
    assert cer.ref_words == sum(len(r) for r in refs)  # spaces are counted, as in jiwer


def test_tie_breaking_differs_from_jiwer_only_in_the_split() -> None:
    st = compute_wer([("u", "a b", "b c")])
    assert (st.subs, st.dels, st.ins) == (0, 1, 1)  # kaldialign's choice
    o = jiwer.process_words("a b", "b c")
    assert (o.substitutions, o.deletions, o.insertions) == (2, 0, 0)
    assert st.errors == 2 and st.wer == pytest.approx(100.0 * o.wer)


def test_edge_cases() -> None:
    st = compute_wer([("u1", "xin chào bạn", "")])
    assert (st.dels, st.errors, st.ref_words, st.wer, st.sent_errs) == (3, 3, 3, 100.0, 1)

    with pytest.raises(ValueError, match="utterance 'u2'.*empty after normalization"):
        compute_wer([("u1", "xin chào", "xin chào"), ("u2", " ?! ", "a")])
    with pytest.raises(ValueError, match="utterance 'u2'"):
        compute_cer([("u1", "xin chào", "xin chào"), ("u2", "", "")])

    # icefall's rule on request: hypothesis words of an empty reference are insertions (jiwer agrees).
    pairs = [("u1", "xin chào", "xin chào"), ("u2", "", "vâng ạ")]
    st = compute_wer(pairs, allow_empty_ref=True)
    assert (st.ins, st.ref_words, st.wer, st.sent_errs) == (2, 2, 100.0, 1)
    assert st.wer == pytest.approx(100.0 * jiwer.wer(["xin chào", ""], ["xin chào", "vâng ạ"]))
    with pytest.raises(ValueError, match="zero reference units"):
        _ = compute_wer([("u", "", "a")], allow_empty_ref=True).wer

    with pytest.raises(ValueError, match="'u1' appears more than once"):
        compute_wer([("u1", "a", "a"), ("u1", "b", "b")])
    with pytest.raises(TypeError, match="result #0"):
        compute_wer([("u1", "a")])  # type: ignore[list-item]


def test_normalization_is_applied() -> None:
    ref = "Tôi muốn chuyển tiền, được không?"
    nfd = unicodedata.normalize("NFD", ref)
    assert nfd != ref
    for hyp in (nfd, ref.upper(), "tôi muốn chuyển tiền được không", "  TÔI muốn... chuyển   tiền được KHÔNG!"):
        assert compute_wer([("u", ref, hyp)]).errors == 0, hyp
        assert compute_cer([("u", ref, hyp)]).errors == 0, hyp
    a = compute_wer([("u", ref, "tôi muốn chuyển tiên được")])
    nfd_hyp = unicodedata.normalize("NFD", "tôi muốn chuyển tiên được")
    b = compute_wer([("u", unicodedata.normalize("NFD", ref), nfd_hyp)])
    assert a == b and (a.subs, a.dels) == (1, 1)
    assert units("xin chào!", "char") == list("xin▁chào")


def test_error_stats_aggregation() -> None:
    a = ErrorStats(ref_words=10, ins=1, dels=2, subs=3, utts=2, sent_errs=1)
    b = ErrorStats(ref_words=5, ins=0, dels=0, subs=1, utts=1, sent_errs=1)
    total = sum([a, b])
    assert total == ErrorStats(15, 1, 2, 4, 3, 2)
    assert total.errors == 7 and total.correct == 9
    assert total.wer == pytest.approx(100 * 7 / 15) and total.ser == pytest.approx(100 * 2 / 3)
    assert total.summary("dev") == "[dev] %WER 46.67% [7 / 15, 1 ins, 2 del, 4 sub ]"
    pairs = random_pairs(30, seed=3)
    assert sum(compute_wer([p]) for p in pairs) == compute_wer(pairs)


EXPECTED_ERRS = """\
%WER = 45.45
Errors: 1 insertions, 1 deletions, 3 substitutions, over 11 reference words (7 correct)
Search below for sections starting with PER-UTT DETAILS:, SUBSTITUTIONS:, DELETIONS:, INSERTIONS:, PER-WORD STATS:

PER-UTT DETAILS: corr or (ref->hyp)
a1:\txin chào (bạn->bàn)
a2:\ttôi muốn (chuyển->chuyến) tiền (*->ạ)
b1:\tmột (hai ba->bốn) năm

SUBSTITUTIONS: count ref -> hyp
1   hai -> bốn
1   chuyển -> chuyến
1   bạn -> bàn

DELETIONS: count ref
1   ba

INSERTIONS: count hyp
1   ạ

PER-WORD STATS: word  corr tot_errs count_in_ref count_in_hyp
ạ   0 1 0 1
hai   0 1 1 0
chuyển   0 1 1 0
chuyến   0 1 0 1
bốn   0 1 0 1
bạn   0 1 1 0
bàn   0 1 0 1
ba   0 1 1 0
xin   1 0 1 1
tôi   1 0 1 1
tiền   1 0 1 1
năm   1 0 1 1
một   1 0 1 1
muốn   1 0 1 1
chào   1 0 1 1
""".replace("(ref->hyp)\n", "(ref->hyp)  \n")  # icefall's header line ends in two spaces


def test_errs_file_layout(tmp_path: Path) -> None:
    results = [
        ("b1", "Một, hai, ba, năm.", "một bốn năm"),
        ("a2", "Tôi muốn chuyển tiền", "tôi muốn chuyến tiền ạ"),
        ("a1", "Xin chào bạn", "xin chào bàn"),
    ]
    path = tmp_path / "errs-test.txt"
    wer = write_error_stats(path, "test_greedy", results)
    assert wer == 45.45
    assert path.read_text(encoding="utf-8") == EXPECTED_ERRS
    st = compute_wer(results)
    assert (st.ins, st.dels, st.subs, st.ref_words) == (1, 1, 3, 11)

    cer_path = tmp_path / "errs-cer.txt"
    cer = write_error_stats(cer_path, "test_greedy", results, unit="char")
    lines = cer_path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"%CER = {cer:.2f}" and cer == round(compute_cer(results).wer, 2)
    cst = compute_cer(results)
    assert lines[1].endswith(f"over {cst.ref_words} reference chars ({cst.correct} correct)")
    assert "a1:\tx i n ▁ c h à o ▁ b (ạ->à) n" in lines


def test_recogs_round_trip(tmp_path: Path) -> None:
    results = random_pairs(40, seed=5) + [("spk:01:\"q'", "Nó nói: 'được'!", ""), ("z-empty-hyp", "vâng", "")]
    path = tmp_path / "recogs-test.txt"
    write_recogs(path, results)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"{sorted(results)[0][0]}:\tref={units(sorted(results)[0][1])}"
    assert all(line.split(":\t")[-1][:4] in ("ref=", "hyp=") for line in lines)
    back = read_recogs(path)
    assert [u for u, _, _ in back] == sorted(u for u, _, _ in results)
    by_id = {u: (r, h) for u, r, h in results}
    for uid, r, h in back:
        assert r == units(by_id[uid][0]) and h == units(by_id[uid][1])
    rescored = compute_wer([(u, " ".join(r), " ".join(h)) for u, r, h in back])
    assert rescored == compute_wer(results)

    bad = tmp_path / "bad.txt"
    bad.write_text("u1:\tref=['a']\nu2:\thyp=['a']\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.txt:2: hypothesis of 'u2'"):
        read_recogs(bad)


def test_wer_summary(tmp_path: Path) -> None:
    path = tmp_path / "wer-summary-test.txt"
    write_wer_summary(path, {"ctc-prefix-beam-search": 12.5, "ctc-greedy-search": 12.75, "b": 12.5})
    assert path.read_text(encoding="utf-8") == (
        "settings\tWER\nb\t12.5\nctc-prefix-beam-search\t12.5\nctc-greedy-search\t12.75\n"
    )


def test_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref, hyp = tmp_path / "ref.txt", tmp_path / "hyp.txt"
    ref.write_text("u1 Xin chào bạn\nu2 một hai ba\n", encoding="utf-8")
    hyp.write_text("u1 xin chào\nu2 một hai ba\n", encoding="utf-8")
    errs = tmp_path / "errs.txt"
    assert main([str(ref), str(hyp), "--name", "dev", "--errs", str(errs)]) == 0
    assert capsys.readouterr().out.strip() == "[dev] %WER 16.67% [1 / 6, 0 ins, 1 del, 0 sub ]"
    assert errs.read_text(encoding="utf-8").startswith("%WER = 16.67\n")

    recogs = tmp_path / "recogs.txt"
    write_recogs(recogs, [("u1", "Xin chào bạn", "xin chào"), ("u2", "một hai ba", "một hai ba")], unit="char")
    assert main(["--recogs", str(recogs), "--unit", "char"]) == 0
    expected = compute_cer([("u1", "Xin chào bạn", "xin chào"), ("u2", "một hai ba", "một hai ba")])
    assert capsys.readouterr().out.strip() == expected.summary("test", "CER")

    hyp.write_text("u1 xin chào\n", encoding="utf-8")
    with pytest.raises(SystemExit, match=r"hyp.txt: ids differ .* 1 missing \(e.g. \['u2'\]\)"):
        main([str(ref), str(hyp)])
