#!/usr/bin/env python3
"""The demo call-bot's hotword catalogue: ONE global list for every test utterance (issue 16, "Done means").

    python local/callbot_catalogue.py --corpus data/demo_corpus --out exp/catalogue.txt \
        [--classes-out exp/catalogue_classes.tsv]

What a call-bot's operator would load: its catalogue of names, streets, products…, never a list made from each
utterance's own answer. Two parts:

* **held-out**: every held-out value (``vi_callbot_text.HELD_VALUES``) of the open *lexical* slots: customer
  names, streets, wards, districts, cities, products, shops, banks, cards, bank services, plans, bills,
  insurances, departments, defects, line issues. These never occur in training; they are what biasing must fix.
  The numeric slots (amounts, dates, times, house numbers, counts, percents, years) are left out: they are
  spelled with everyday number words ("hai", "ba mươi"), a bot does not keep a catalogue of them, and a list
  with "ba" in it would bias every number.
* **distractors**: training-side values of the same slots that occur in no test reference (``test`` and
  ``test_seen`` of every domain), at least as many as the held-out values: boosted phrases the audio never
  says, so that a score which inserts listed phrases where they were not said costs WER and is not chosen.

Phrases are compared as scoring words (``chunkformer.text.scoring_text``, whole-word runs), as WER compares
text. The output file has the format of ``transcribe --hotwords`` (one phrase per line, ``#`` comments);
``--classes-out`` writes the same phrases with their slot (``class<TAB>phrase``), the catalogue of a class LM
(``local/train_lm.py --classes``, ``run.sh --lm-classes``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vi_callbot_text import HELD_VALUES, TRAIN_VALUES  # noqa: E402

from chunkformer.decoding.metrics import phrase_count, phrase_words  # noqa: E402
from chunkformer.decoding.scoring import units  # noqa: E402
from chunkformer.utils.cli import error  # noqa: E402
from chunkformer.utils.io import atomic_write_text  # noqa: E402

NUMERIC_SLOTS = frozenset({"amount", "date", "time", "house", "count", "percent", "year"})
LEXICAL_SLOTS = tuple(s for s in HELD_VALUES if s not in NUMERIC_SLOTS)
DOMAINS = ("telephony", "conversation", "reading")
TEST_SPLITS = ("test", "test_seen")


@dataclass(frozen=True)
class Catalogue:
    """The global hotword list: held-out slot values, then distractors (each list in slot order)."""

    held_out: tuple[str, ...]
    distractors: tuple[str, ...]

    @property
    def phrases(self) -> tuple[str, ...]:
        return self.held_out + self.distractors

    def to_text(self) -> str:
        """The hotwords file (``transcribe --hotwords`` format)."""
        head = (f"# demo call-bot catalogue: {len(self.held_out)} held-out slot values, "
                f"{len(self.distractors)} distractors (local/callbot_catalogue.py)\n")
        return head + "".join(p + "\n" for p in self.phrases)

    def to_classes_text(self) -> str:
        """The phrases with their slot, ``slot<TAB>phrase`` (``train_lm.py --classes``); a value of two slots is
        listed under both."""
        listed = set(self.phrases)
        rows = [f"{s}\t{v}" for s in LEXICAL_SLOTS for v in HELD_VALUES[s] + TRAIN_VALUES[s] if v in listed]
        return (f"# demo call-bot catalogue by slot: {len(listed)} phrases (local/callbot_catalogue.py)\n"
                + "".join(r + "\n" for r in rows))


def held_out_phrases() -> tuple[str, ...]:
    """Every held-out value of the lexical open slots."""
    return tuple(v for s in LEXICAL_SLOTS for v in HELD_VALUES[s])


def distractor_phrases(test_refs: Iterable[str]) -> tuple[str, ...]:
    """Training-side values of the lexical slots that occur in none of ``test_refs``."""
    refs = [units(r) for r in test_refs]
    return tuple(v for s in LEXICAL_SLOTS for v in TRAIN_VALUES[s]
                 if not any(phrase_count(r, phrase_words(v)) for r in refs))


def build_catalogue(test_refs: Iterable[str]) -> Catalogue:
    """The catalogue for these test references; ValueError if there are fewer distractors than held-out values."""
    held, distractors = held_out_phrases(), distractor_phrases(test_refs)
    if len(distractors) < len(held):
        raise ValueError(f"only {len(distractors)} training-side slot values are absent from the test references, "
                         f"fewer than the {len(held)} held-out values")
    return Catalogue(held, distractors)


def read_list(path: Path) -> list[tuple[str, str]]:
    """``(wav path, transcript)`` rows of a corpus ``list.tsv`` (``wav<TAB>txt`` header), wav paths absolute."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: corpus list not found")
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines()[1:], 2):
        wav, sep, text = line.partition("\t")
        if not sep:
            raise ValueError(f"{path}:{lineno}: expected 'wav<TAB>txt', got {line!r}")
        rows.append((str(path.parent / wav), text))
    return rows


def reference_texts(corpus: Path, domains: Iterable[str] = DOMAINS) -> list[str]:
    """Transcripts of every test split (``test``, ``test_seen``) of ``domains`` in the corpus."""
    return [t for d in domains for s in TEST_SPLITS for _, t in read_list(corpus / d / s / "list.tsv")]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=Path("data/demo_corpus"), help="the demo corpus (stage -1)")
    p.add_argument("--out", type=Path, required=True, help="hotwords file to write")
    p.add_argument("--classes-out", type=Path, help="also the phrases by slot, 'slot<TAB>phrase' (train_lm --classes)")
    a = p.parse_args(argv)
    try:
        cat = build_catalogue(reference_texts(a.corpus))
    except (FileNotFoundError, ValueError) as e:
        return error(e)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(a.out, cat.to_text())
    if a.classes_out is not None:
        a.classes_out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(a.classes_out, cat.to_classes_text())
    print(f"{a.out}: {len(cat.phrases)} phrases ({len(cat.held_out)} held-out, {len(cat.distractors)} distractors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
