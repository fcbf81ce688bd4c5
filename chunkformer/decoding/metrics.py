"""Decoding quality beyond WER: phrase recall (hotwords), word correctness (confidence) and ROC AUC.

What ``bench/bench_decoding_quality.py`` measures (docs/BENCHMARKS.md, "Decoding quality"). Texts are compared
after :func:`chunkformer.text.scoring_text`, as WER compares them, so a tone-mark spelling or case never counts
as a miss.

* **Phrase recall**: for each utterance and phrase, ``r`` = its occurrences in the reference and ``h`` in the
  hypothesis (contiguous runs of whole words); ``min(r, h)`` of the ``r`` are recalled. Recall is the recalled
  sum over the reference sum: a hypothesis that says the phrase elsewhere in a wrong place still gets it, one
  that says it once where the reference says it twice gets half.
* **Word correctness**: a hypothesis word is correct when the WER alignment (kaldialign) pairs it with an equal
  reference word; substitutions and insertions are wrong.
* **ROC AUC** (Mann–Whitney): the probability that a correct word's score exceeds a wrong word's, ties
  counting one half.

>>> phrase_recall([("u1", "chị an ở an phú", "chị an ở an phố")], ["an", "an phú"]).recall
66.67
>>> roc_auc([0.9, 0.8, 0.4], [0.4, 0.1])
0.9166666666666666
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from chunkformer.decoding.scoring import Result, align, compute_wer, units
from chunkformer.text import scoring_text


@lru_cache(maxsize=8192)
def phrase_words(phrase: str) -> tuple[str, ...]:
    """A phrase as scoring words (``scoring_text``; cached: a catalogue is checked against every utterance);
    ValueError for a phrase that normalises to nothing."""
    words = tuple(units(phrase))
    if not words:
        raise ValueError(f"phrase {phrase!r} is empty after normalisation")
    return words


def phrase_count(words: Sequence[str], phrase: Sequence[str]) -> int:
    """Occurrences of ``phrase`` as a contiguous run of whole words of ``words`` (overlapping runs counted)."""
    n = len(phrase)
    if n == 0:
        raise ValueError("phrase has no words")
    first = phrase[0]
    return sum(1 for i in range(len(words) - n + 1) if words[i] == first and tuple(words[i:i + n]) == tuple(phrase))


def contains_any(text: str, phrases: Iterable[str]) -> bool:
    """Whether ``text`` contains any of ``phrases`` (scoring words, whole-word runs)."""
    words = units(text)
    return any(phrase_count(words, phrase_words(p)) for p in phrases)


@dataclass
class PhraseRecall:
    """Phrase occurrences in the references, how many the hypotheses recalled, and the misses."""

    in_ref: int = 0
    recalled: int = 0
    missed: list[tuple[str, str]] = field(default_factory=list)  # (utterance id, phrase), one per missed occurrence

    @property
    def recall(self) -> float:
        """Recalled share in percent (2 decimals); ValueError when no phrase occurs in any reference."""
        if self.in_ref == 0:
            raise ValueError("recall is undefined: no phrase occurs in the references")
        return round(100.0 * self.recalled / self.in_ref, 2)

    def __add__(self, other: PhraseRecall) -> PhraseRecall:
        return PhraseRecall(self.in_ref + other.in_ref, self.recalled + other.recalled, self.missed + other.missed)


def phrase_recall(results: Iterable[tuple[str, str, str]], phrases: Iterable[str]) -> PhraseRecall:
    """Recall of ``phrases`` over ``(id, reference, hypothesis)`` triples (definition in the module docstring)."""
    wanted = {p: phrase_words(p) for p in phrases}
    out = PhraseRecall()
    for uid, ref, hyp in results:
        r_words, h_words = units(ref), units(hyp)
        for phrase, words in wanted.items():
            r = phrase_count(r_words, words)
            if r:
                got = min(r, phrase_count(h_words, words))
                out.in_ref += r
                out.recalled += got
                out.missed += [(uid, phrase)] * (r - got)
    return out


@dataclass(frozen=True)
class ListEffect:
    """What one phrase list did to one set, the plain search against the biased one: the recall of its phrases
    where the references hold them, and the WER of the utterances whose reference holds none of them (what the
    list costs where it has nothing to find). Recalls are None when no phrase occurs, WERs when no utterance
    is phrase-free."""

    occurrences: int
    recall_plain: float | None
    recall_biased: float | None
    no_phrase_utts: int
    no_phrase_wer_plain: float | None
    no_phrase_wer_biased: float | None


def list_effect(plain: Sequence[Result], biased: Sequence[Result], phrases: Sequence[str],
                recalled: Sequence[str] | None = None) -> ListEffect:
    """:class:`ListEffect` of a list of ``phrases`` from the same utterances decoded without (``plain``) and with
    it (``biased``), ``(id, reference, hypothesis)`` in the same order; ValueError if the utterances differ.
    ``recalled``: the phrases whose recall is counted (default ``phrases``; e.g. a catalogue's held-out values,
    while an utterance is phrase-free only without any of ``phrases``).

    >>> e = list_effect([("a", "gặp chị lan", "gặp chị làn"), ("b", "cảm ơn", "cảm ơn")],
    ...                 [("a", "gặp chị lan", "gặp chị lan"), ("b", "cảm ơn", "cảm ơn lan")], ["lan"])
    >>> e.recall_plain, e.recall_biased, e.no_phrase_wer_plain, e.no_phrase_wer_biased
    (0.0, 100.0, 0.0, 50.0)
    """
    if [(u, r) for u, r, _ in plain] != [(u, r) for u, r, _ in biased]:
        raise ValueError("plain and biased results must hold the same utterances in the same order")
    wanted = phrases if recalled is None else recalled
    rp, rb = phrase_recall(plain, wanted), phrase_recall(biased, wanted)
    free = [i for i, (_, ref, _) in enumerate(plain) if not contains_any(ref, phrases)]
    wp = compute_wer([plain[i] for i in free]) if free else None
    wb = compute_wer([biased[i] for i in free]) if free else None
    return ListEffect(rp.in_ref, rp.recall if rp.in_ref else None, rb.recall if rb.in_ref else None, len(free),
                      round(wp.wer, 2) if wp and wp.ref_words else None,
                      round(wb.wer, 2) if wb and wb.ref_words else None)


def word_labels(ref: str, hyp_words: Sequence[str]) -> list[bool]:
    """For each hypothesis word (e.g. ``Hypothesis.words``' texts), whether the WER alignment against ``ref``
    pairs it with an equal reference word. Each word is normalised on its own, so labels stay one per word."""
    hyp = [scoring_text(w) or w for w in hyp_words]
    if any(not w for w in hyp):
        raise ValueError(f"empty hypothesis word in {list(hyp_words)!r}")
    labels = [h == r for r, h in align(units(ref), hyp) if h is not None]
    assert len(labels) == len(hyp)  # every hypothesis word is in the alignment exactly once
    return labels


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks of ``values`` in ascending order, ties given their average rank."""
    order = sorted(range(len(values)), key=values.__getitem__)
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in order[i:j + 1]:
            out[k] = (i + j) / 2 + 1
        i = j + 1
    return out


def roc_auc(pos: Sequence[float], neg: Sequence[float]) -> float:
    """Area under the ROC curve of a score separating ``pos`` from ``neg``: the Mann–Whitney U over
    ``len(pos) * len(neg)`` (ties count one half). ValueError if either side is empty."""
    if not pos or not neg:
        raise ValueError(f"AUC needs both classes, got {len(pos)} positive and {len(neg)} negative scores")
    r = ranks(list(pos) + list(neg))
    u = sum(r[:len(pos)]) - len(pos) * (len(pos) + 1) / 2
    return u / (len(pos) * len(neg))


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (Pearson's over average ranks)."""
    return statistics.correlation(ranks(x), ranks(y))
