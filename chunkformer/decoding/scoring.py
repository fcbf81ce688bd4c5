"""Word and character error rates, and icefall-shaped result files (recogs, errs, wer-summary).

Scoring rules (documented in the README):

* Both reference and hypothesis go through :func:`chunkformer.text.scoring_text` first: the stage-0
  normaliser's defaults (NFC, tags removed, numbers/amounts/times/dates in words, spell-out table, lower
  case, punctuation removed, whitespace collapsed; unknown Latin words kept) and every syllable in the old
  tone-mark style, so NFC/NFD spellings, case, punctuation, "hoà"/"hòa" and "15%"/"mười lăm phần trăm"
  never count as errors.
* **WER** is over whitespace-separated words (for Vietnamese: syllables).
* **CER** is over the characters of the normalized text *including the single spaces between words*,
  which is exactly what ``jiwer.cer`` counts (icefall's ``compute_CER`` drops spaces instead). In
  alignments and result files a space is shown as ``▁`` (normalization removes any real ``▁``, so the
  mapping is one-to-one).
* The edit distance is the plain Levenshtein distance (all costs 1), so totals equal jiwer's. The alignment
  is ``kaldialign.align``'s (icefall's ``write_error_stats`` uses it), so among several minimal alignments
  the split into substitutions / deletions / insertions can differ from jiwer's (``"a b"`` vs ``"b c"``:
  kaldialign 1 del + 1 ins, jiwer 2 sub) while the total error count is always the same.
* An utterance whose normalized reference is empty raises ``ValueError`` naming it (jiwer and icefall
  would score its hypothesis words as insertions against zero reference words, which usually hides a
  data bug). Pass ``allow_empty_ref=True`` to get the icefall behaviour. A total of zero reference
  units makes the rate undefined and also raises.
* Utterance ids must be unique and contain no tab or newline; results are written sorted by id.

File shapes follow icefall (``icefall/utils.py``: ``store_transcripts``, ``write_error_stats``; and
``save_results`` in its decode scripts), byte-for-byte for word scoring, including its tie order in the
sorted sections (count, then string, both descending). For character scoring the labels say ``%CER`` and
``reference chars`` instead of ``%WER`` and ``reference words``.
"""

from __future__ import annotations

import argparse
import ast
import logging
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import kaldialign

from chunkformer.text import scoring_text
from chunkformer.utils.io import numbered_lines

logger = logging.getLogger(__name__)

Unit = Literal["word", "char"]
SPACE = "▁"
ERR = "*"  # icefall's marker for a missing word in the errs file
_EPS = ""  # kaldialign's gap symbol here: no scoring unit is empty

Result = tuple[str, str, str]  # (utterance id, reference text, hypothesis text)


def units(text: str, unit: Unit = "word") -> list[str]:
    """Normalized scoring units of ``text``: words, or characters with spaces shown as ``▁``."""
    norm = scoring_text(text)
    if unit == "word":
        return norm.split()
    if unit == "char":
        return [SPACE if c == " " else c for c in norm]
    raise ValueError(f"unit must be 'word' or 'char', got {unit!r}")


def align(ref: Sequence[str], hyp: Sequence[str]) -> list[tuple[str | None, str | None]]:
    """Levenshtein alignment of two token lists by ``kaldialign.align`` (what icefall's ``write_error_stats``
    calls): ``(ref_token, hyp_token)`` pairs in order; ``None`` on the hypothesis side is a deletion, on the
    reference side an insertion; unequal tokens are a substitution. Tokens are non-empty strings."""
    return [(r or None, h or None) for r, h in kaldialign.align(ref, hyp, _EPS)]


@dataclass
class ErrorStats:
    """Error counts over one or more utterances; ``+`` (and ``sum``) aggregates."""

    ref_words: int = 0  # reference units (words or characters)
    ins: int = 0
    dels: int = 0
    subs: int = 0
    utts: int = 0
    sent_errs: int = 0  # utterances with at least one error

    @property
    def errors(self) -> int:
        return self.ins + self.dels + self.subs

    @property
    def correct(self) -> int:
        return self.ref_words - self.dels - self.subs

    @property
    def wer(self) -> float:
        """Error rate in percent over the scored units (words for WER, characters for CER)."""
        if self.ref_words == 0:
            raise ValueError("error rate is undefined: zero reference units")
        return 100.0 * self.errors / self.ref_words

    @property
    def ser(self) -> float:
        """Sentence error rate in percent."""
        if self.utts == 0:
            raise ValueError("sentence error rate is undefined: zero utterances")
        return 100.0 * self.sent_errs / self.utts

    def summary(self, name: str, metric: str = "WER") -> str:
        """icefall's log line: ``[name] %WER 12.34% [errs / ref, I ins, D del, S sub ]``."""
        return (
            f"[{name}] %{metric} {self.wer:.2f}% [{self.errors} / {self.ref_words}, {self.ins} ins, "
            f"{self.dels} del, {self.subs} sub ]"
        )

    def __add__(self, other: ErrorStats) -> ErrorStats:
        if not isinstance(other, ErrorStats):
            return NotImplemented
        return ErrorStats(
            self.ref_words + other.ref_words,
            self.ins + other.ins,
            self.dels + other.dels,
            self.subs + other.subs,
            self.utts + other.utts,
            self.sent_errs + other.sent_errs,
        )

    def __radd__(self, other: object) -> ErrorStats:
        # Lets the builtin sum() start from 0.
        if other == 0:
            return self
        return NotImplemented

    @classmethod
    def from_alignment(cls, ali: Iterable[tuple[str | None, str | None]]) -> ErrorStats:
        """Counts of one utterance's alignment."""
        st = cls(utts=1)
        for r, h in ali:
            if r is None:
                st.ins += 1
            elif h is None:
                st.dels += 1
                st.ref_words += 1
            else:
                st.subs += r != h
                st.ref_words += 1
        st.sent_errs = int(st.errors > 0)
        return st


def _check_results(results: Iterable[Result]) -> list[Result]:
    """Validates (id, ref, hyp) triples; returns them sorted by id."""
    out = list(results)
    seen: set[str] = set()
    for i, item in enumerate(out):
        if not (isinstance(item, tuple | list) and len(item) == 3 and all(isinstance(x, str) for x in item)):
            raise TypeError(f"result #{i} must be an (id, ref, hyp) tuple of strings, got {item!r}")
        uid = item[0]
        if not uid or any(c in uid for c in "\t\n\r"):
            raise ValueError(f"utterance id {uid!r} is empty or contains a tab/newline")
        if uid in seen:
            raise ValueError(f"utterance id {uid!r} appears more than once")
        seen.add(uid)
    return sorted(out, key=lambda x: x[0])


def _units_checked(uid: str, ref: str, hyp: str, unit: Unit, allow_empty_ref: bool) -> tuple[list, list]:
    r, h = units(ref, unit), units(hyp, unit)
    if not r and not allow_empty_ref:
        raise ValueError(
            f"utterance {uid!r}: reference {ref!r} is empty after normalization, so its error rate is "
            "undefined; fix or remove it (or pass allow_empty_ref=True to count its hypothesis as insertions)"
        )
    return r, h


def _aligned(
    results: Iterable[Result], unit: Unit, allow_empty_ref: bool
) -> list[tuple[str, list[str], list[str], list[tuple[str | None, str | None]]]]:
    out = []
    for uid, ref, hyp in _check_results(results):
        r, h = _units_checked(uid, ref, hyp, unit, allow_empty_ref)
        out.append((uid, r, h, align(r, h)))
    return out


def compute_error_stats(results: Iterable[Result], unit: Unit = "word", allow_empty_ref: bool = False) -> ErrorStats:
    """Aggregate error counts of ``(id, ref, hyp)`` triples after normalization."""
    return sum((ErrorStats.from_alignment(ali) for *_, ali in _aligned(results, unit, allow_empty_ref)), ErrorStats())


def compute_wer(results: Iterable[Result], allow_empty_ref: bool = False) -> ErrorStats:
    """Word (syllable) error counts; ``.wer`` is the WER in percent."""
    return compute_error_stats(results, "word", allow_empty_ref)


def compute_cer(results: Iterable[Result], allow_empty_ref: bool = False) -> ErrorStats:
    """Character error counts (spaces included, as jiwer); ``.wer`` is the CER in percent."""
    return compute_error_stats(results, "char", allow_empty_ref)


def write_recogs(path: str | Path, results: Iterable[Result], unit: Unit = "word") -> None:
    """icefall ``recogs-*.txt``: ``{id}:\\tref=[...]`` and ``{id}:\\thyp=[...]`` per utterance, sorted by id.

    The lists are the normalized scoring units (what was scored), as Python list reprs.
    """
    lines = []
    for uid, ref, hyp in _check_results(results):
        lines.append(f"{uid}:\tref={units(ref, unit)}")
        lines.append(f"{uid}:\thyp={units(hyp, unit)}")
    Path(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def read_recogs(path: str | Path) -> list[tuple[str, list[str], list[str]]]:
    """Parses a file written by :func:`write_recogs` (or icefall) into ``(id, ref_units, hyp_units)``."""
    path = Path(path)
    out: list[tuple[str, list[str], list[str]]] = []
    pending: tuple[str, list[str]] | None = None
    text = path.read_text(encoding="utf-8")
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        uid, sep, rest = line.partition(":\t")
        kind = rest[:4]
        if not sep or kind not in ("ref=", "hyp="):
            raise ValueError(f"{path}:{lineno}: expected '<id>:\\tref=[...]' or '<id>:\\thyp=[...]', got {line!r}")
        try:
            words = ast.literal_eval(rest[4:])
        except (ValueError, SyntaxError) as e:
            raise ValueError(f"{path}:{lineno}: cannot parse the word list {rest[4:]!r}: {e}") from None
        if not (isinstance(words, list) and all(isinstance(w, str) for w in words)):
            raise ValueError(f"{path}:{lineno}: expected a list of strings, got {rest[4:]!r}")
        if kind == "ref=":
            if pending is not None:
                raise ValueError(f"{path}:{lineno}: reference of {pending[0]!r} has no hypothesis line")
            pending = (uid, words)
        else:
            if pending is None or pending[0] != uid:
                raise ValueError(f"{path}:{lineno}: hypothesis of {uid!r} does not follow its reference line")
            out.append((uid, pending[1], words))
            pending = None
    if pending is not None:
        raise ValueError(f"{path}: reference of {pending[0]!r} has no hypothesis line")
    return out


def _merge_successive_errors(ali: list[tuple[str | None, str | None]]) -> list[tuple[str, str]]:
    """icefall's PER-UTT rendering: runs of adjacent errors become one ``(ref words->hyp words)``."""
    cells = [[[ERR if r is None else r], [ERR if h is None else h]] for r, h in ali]
    for i in range(len(cells) - 1):
        if cells[i][0] != cells[i][1] and cells[i + 1][0] != cells[i + 1][1]:
            cells[i + 1][0] = cells[i][0] + cells[i + 1][0]
            cells[i + 1][1] = cells[i][1] + cells[i + 1][1]
            cells[i] = [[], []]
    out = []
    for r, h in cells:
        r = [x for x in r if x != ERR]
        h = [x for x in h if x != ERR]
        if r or h:
            out.append((" ".join(r) if r else ERR, " ".join(h) if h else ERR))
    return out


def _tallies(alignments: Iterable[list[tuple[str | None, str | None]]]) -> tuple[dict, dict, dict, dict]:
    """Counts of substitution pairs, insertions, deletions, and per word [corr, ref_sub, hyp_sub, ins, dels]
    (icefall's order)."""
    subs: dict[tuple[str, str], int] = defaultdict(int)
    ins: dict[str, int] = defaultdict(int)
    dels: dict[str, int] = defaultdict(int)
    words: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for ali in alignments:
        for r, h in ali:
            if r is None:
                ins[h] += 1
                words[h][3] += 1
            elif h is None:
                dels[r] += 1
                words[r][4] += 1
            elif r != h:
                subs[(r, h)] += 1
                words[r][1] += 1
                words[h][2] += 1
            else:
                words[r][0] += 1
    return subs, ins, dels, words


def write_error_stats(
    path: str | Path,
    test_set_name: str,
    results: Iterable[Result],
    unit: Unit = "word",
    allow_empty_ref: bool = False,
) -> float:
    """Writes an icefall ``errs-*.txt`` and returns the error rate in percent, rounded to 2 decimals.

    Sections, in order: ``%WER = x.xx``; ``Errors: ...`` counts; ``PER-UTT DETAILS`` (one line per
    utterance, ``(ref->hyp)`` for errors, ``*`` for a missing word, successive errors merged);
    ``SUBSTITUTIONS``, ``DELETIONS``, ``INSERTIONS``, ``PER-WORD STATS`` (most frequent first). Also logs
    icefall's ``[name] %WER x.xx% [errs / ref, I ins, D del, S sub ]`` line.
    """
    aligned = _aligned(results, unit, allow_empty_ref)
    metric, noun = ("WER", "words") if unit == "word" else ("CER", "chars")
    stats = sum((ErrorStats.from_alignment(ali) for *_, ali in aligned), ErrorStats())
    subs, ins, dels, words = _tallies(ali for *_, ali in aligned)
    if stats.ref_words == 0:
        raise ValueError(f"{test_set_name}: no reference {noun} to score ({len(aligned)} utterances)")
    rate = f"{stats.wer:.2f}"
    logger.info(stats.summary(test_set_name, metric))

    lines = [
        f"%{metric} = {rate}",
        f"Errors: {stats.ins} insertions, {stats.dels} deletions, {stats.subs} substitutions, "
        f"over {stats.ref_words} reference {noun} ({stats.correct} correct)",
        "Search below for sections starting with PER-UTT DETAILS:, SUBSTITUTIONS:, DELETIONS:, "
        "INSERTIONS:, PER-WORD STATS:",
        "",
        "PER-UTT DETAILS: corr or (ref->hyp)  ",
    ]
    for uid, _, _, ali in aligned:
        cells = _merge_successive_errors(ali)
        lines.append(f"{uid}:\t" + " ".join(r if r == h else f"({r}->{h})" for r, h in cells))
    lines += ["", "SUBSTITUTIONS: count ref -> hyp"]
    lines += [f"{c}   {r} -> {h}" for c, (r, h) in sorted(((v, k) for k, v in subs.items()), reverse=True)]
    lines += ["", "DELETIONS: count ref"]
    lines += [f"{c}   {r}" for c, r in sorted(((v, k) for k, v in dels.items()), reverse=True)]
    lines += ["", "INSERTIONS: count hyp"]
    lines += [f"{c}   {h}" for c, h in sorted(((v, k) for k, v in ins.items()), reverse=True)]
    lines += ["", "PER-WORD STATS: word  corr tot_errs count_in_ref count_in_hyp"]
    for _, word, (corr, ref_sub, hyp_sub, n_ins, n_dels) in sorted(
        ((sum(v[1:]), k, v) for k, v in words.items()), reverse=True
    ):
        tot = ref_sub + hyp_sub + n_ins + n_dels
        lines.append(f"{word}   {corr} {tot} {corr + ref_sub + n_dels} {corr + hyp_sub + n_ins}")
    Path(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return float(rate)


def write_wer_summary(path: str | Path, rows: dict[str, float], metric: str = "WER") -> None:
    """icefall ``wer-summary-*.txt``: ``settings\\tWER`` then ``key\\tvalue`` lines, best first (ties by key)."""
    lines = [f"settings\t{metric}"]
    lines += [f"{k}\t{v}" for k, v in sorted(rows.items(), key=lambda kv: (kv[1], kv[0]))]
    Path(path).write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _read_text_file(path: Path) -> dict[str, str]:
    """Kaldi-style ``text``: ``<id> <transcript>`` per line (an id alone is an empty transcript)."""
    out: dict[str, str] = {}
    for lineno, line in numbered_lines(path):
        parts = line.split(maxsplit=1)
        uid = parts[0]
        if uid in out:
            raise ValueError(f"{path}:{lineno}: utterance id {uid!r} appears more than once")
        out[uid] = parts[1] if len(parts) > 1 else ""
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m chunkformer.decoding.scoring REF HYP`` (Kaldi ``text`` files) or ``--recogs recogs-x.txt``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("ref", nargs="?", type=Path, help="reference text file: '<id> <transcript>' per line")
    p.add_argument("hyp", nargs="?", type=Path, help="hypothesis text file, same ids as REF")
    p.add_argument("--recogs", type=Path, help="rescore an icefall recogs-*.txt instead of REF/HYP")
    p.add_argument("--unit", choices=["word", "char"], default="word", help="word = WER, char = CER")
    p.add_argument("--errs", type=Path, help="also write an icefall errs file here")
    p.add_argument("--name", default="test", help="test set name for the errs log line")
    p.add_argument("--allow-empty-ref", action="store_true", help="score empty references as insertions")
    args = p.parse_args(argv)

    if args.recogs is not None:
        if args.ref or args.hyp:
            p.error("give either REF HYP or --recogs, not both")
        # recogs hold already-normalized units; joining with the unit's separator restores the text.
        sep = " " if args.unit == "word" else ""
        results = [
            (uid, sep.join(r).replace(SPACE, " "), sep.join(h).replace(SPACE, " "))
            for uid, r, h in read_recogs(args.recogs)
        ]
    else:
        if args.ref is None or args.hyp is None:
            p.error("give REF and HYP text files, or --recogs")
        refs, hyps = _read_text_file(args.ref), _read_text_file(args.hyp)
        missing = sorted(set(refs) - set(hyps))
        extra = sorted(set(hyps) - set(refs))
        if missing or extra:
            raise SystemExit(
                f"{args.hyp}: ids differ from {args.ref}: {len(missing)} missing (e.g. {missing[:3]}), "
                f"{len(extra)} extra (e.g. {extra[:3]})"
            )
        results = [(uid, refs[uid], hyps[uid]) for uid in refs]
    stats = compute_error_stats(results, args.unit, args.allow_empty_ref)
    print(stats.summary(args.name, "WER" if args.unit == "word" else "CER"))
    if args.errs is not None:
        write_error_stats(args.errs, args.name, results, args.unit, args.allow_empty_ref)
    return 0


if __name__ == "__main__":
    sys.exit(main())
