"""Class expansion of an n-gram LM's training text with a catalogue of phrases (names, streets, products…).

A fine-tune's transcripts say a few hundred names and products; a call-bot's catalogue holds many more, most of
which no caller of the training calls said. An n-gram LM of the transcripts knows those only through back-off to
their syllables' unigrams, so the fused search prefers a near-homophone it has seen, in exactly the places where
a catalogue entry is expected. A class-based LM fixes that: the transcripts become carrier sentences
("tên tôi là <name>") and every member of the class gets its share of the slot's probability.

Here the class LM is approximated in the text, so that any n-gram estimator (lmplz) and decoder works unchanged:
each sentence containing a catalogue phrase of class C (whole words, the longest phrase first, left to right) is
written ``copies`` more times with every such phrase replaced by another member of its class. Members are drawn in
turn from a seeded, shuffled cycle per class, so every member appears in its class's carrier sentences about
equally often, and the original sentences stay in the text as they were.

Catalogue file (``read_class_file``): one ``class<TAB>phrase`` per line; ``#`` comments and blank lines skipped.
A phrase listed under two classes is a member of both; where it occurs in a sentence, the class listed first is
replaced.

Example::

    >>> exp = expand_classes(["tên tôi là an", "xin chào"], {"name": ["an", "bình"]}, copies=2, seed=0)
    >>> sorted(exp.lines)
    ['tên tôi là an', 'tên tôi là bình']
    >>> exp.matched_sentences
    1
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


def read_class_file(path: str | Path) -> dict[str, list[str]]:
    """``{class: [phrase, ...]}`` in file order (duplicates within a class kept once). ValueError naming the file and
    line for a line without a tab, an empty class or phrase, a file that is not UTF-8 or has no entry."""
    path = Path(path)
    try:
        raw = path.read_text(encoding="utf-8-sig").splitlines()  # -sig: a Windows editor's byte-order mark
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    out: dict[str, list[str]] = {}
    for n, line in enumerate(raw, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cls, tab, phrase = line.partition("\t")
        cls, phrase = cls.strip(), phrase.strip()
        if not tab or not cls or not phrase:
            raise ValueError(f"{path}:{n}: expected 'class<TAB>phrase', got {line!r}")
        members = out.setdefault(cls, [])
        if phrase not in members:
            members.append(phrase)
    if not out:
        raise ValueError(f"{path}: no 'class<TAB>phrase' line")
    return out


@dataclass
class ClassExpansion:
    """The sentences ``expand_classes`` wrote (the originals not included) and what it found."""

    lines: list[str]
    matched_sentences: int
    occurrences: dict[str, int] = field(default_factory=dict)  # class → phrases of it found in the sentences


class _Cycle:
    """Members of one class in a shuffled order, reshuffled when exhausted: balanced, seeded draws."""

    def __init__(self, members: Sequence[str], rng: random.Random) -> None:
        self.members, self.rng, self.order = list(members), rng, []

    def next(self) -> str:
        if not self.order:
            self.order = self.members[:]
            self.rng.shuffle(self.order)
        return self.order.pop()


def find_phrases(words: Sequence[str], index: Mapping[str, list[tuple[tuple[str, ...], str]]]
                 ) -> list[tuple[int, int, str]]:
    """Non-overlapping ``(start, length, class)`` of the indexed phrases in ``words``: left to right, the longest
    phrase starting at a position first. ``index``: first word → [(phrase words, class)], longest first."""
    spans, i = [], 0
    while i < len(words):
        for phrase, cls in index.get(words[i], ()):
            if tuple(words[i:i + len(phrase)]) == phrase:
                spans.append((i, len(phrase), cls))
                i += len(phrase)
                break
        else:
            i += 1
    return spans


def phrase_index(classes: Mapping[str, Sequence[str]]) -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """First word → [(phrase words, class)], longest phrase first; a phrase in two classes keeps the first."""
    seen: dict[tuple[str, ...], str] = {}
    for cls, members in classes.items():
        for m in members:
            seen.setdefault(tuple(m.split()), cls)
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for phrase, cls in seen.items():
        if phrase:
            index.setdefault(phrase[0], []).append((phrase, cls))
    for entries in index.values():
        entries.sort(key=lambda e: -len(e[0]))
    return index


def expand_classes(sentences: Iterable[str], classes: Mapping[str, Sequence[str]], copies: int,
                   seed: int = 0) -> ClassExpansion:
    """For each sentence with a phrase of ``classes`` (space-separated words, as the sentences), ``copies``
    sentences with every such phrase replaced by the next member of its class's cycle.

    ``classes`` holds at least one non-empty class; ``copies`` >= 0 (0: nothing written, the matches counted)."""
    if copies < 0:
        raise ValueError(f"copies must be >= 0, got {copies}")
    members = {c: [m for m in ms if m.split()] for c, ms in classes.items()}
    if not any(members.values()):
        raise ValueError("no class has a member")
    rng = random.Random(seed)
    cycles = {c: _Cycle(ms, rng) for c, ms in members.items() if ms}
    index = phrase_index(members)
    out = ClassExpansion([], 0, dict.fromkeys(members, 0))
    for sentence in sentences:
        words = sentence.split()
        spans = find_phrases(words, index)
        if not spans:
            continue
        out.matched_sentences += 1
        for _, _, cls in spans:
            out.occurrences[cls] += 1
        for _ in range(copies):
            new, j = [], 0
            for i, n, cls in spans:
                new += words[j:i] + cycles[cls].next().split()
                j = i + n
            out.lines.append(" ".join(new + words[j:]))
    return out
