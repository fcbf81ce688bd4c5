"""Text normalization shared by CTC targets, stage 0 and scoring (standard library only: a bottom layer).

* :func:`normalize_text`: NFC, lower case, punctuation removed, whitespace collapsed. Vietnamese diacritics
  are kept: they are part of the syllable. Digits and tags are left as they are.
* :class:`TextNormalizer` (:mod:`chunkformer.text.normalize`): the transcript normaliser of stage 0 (numbers,
  amounts, times, dates, tags, spell-out of Latin words, tone-mark spelling), configured by ``text:`` in
  data.yaml; :func:`scoring_text` is what scoring compares.
* :mod:`chunkformer.text.numbers`: Vietnamese spoken numbers; :mod:`chunkformer.text.tones`: tone-mark styles.

>>> normalize_text("  Xin CHÀO, bạn!  ")
'xin chào bạn'
"""

from __future__ import annotations

import re
import unicodedata

_PUNCT = re.compile(r"[^\w\s']|_", flags=re.UNICODE)
_SPACE = re.compile(r"\s+")


def nfc(text: str) -> str:
    """Unicode NFC: Vietnamese has composed and decomposed spellings of the same syllable."""
    return unicodedata.normalize("NFC", text)


def normalize_text(text: str) -> str:
    """NFC, lower case, punctuation (except apostrophes) replaced by spaces, whitespace collapsed."""
    text = nfc(text).lower()
    text = _PUNCT.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


# after nfc/normalize_text: the submodules are independent of them, but callers import everything from here
from chunkformer.text.normalize import (  # noqa: E402
    RULES_VERSION,
    Change,
    NormalizationReport,
    Normalized,
    NormalizeError,
    TextNormalizer,
    TextNormConfig,
    is_vietnamese_syllable,
    scoring_text,
)
from chunkformer.text.numbers import digits_to_words, number_to_words  # noqa: E402
from chunkformer.text.tones import canonical_tones, to_vocab_spelling  # noqa: E402

__all__ = ["RULES_VERSION", "Change", "NormalizationReport", "NormalizeError", "Normalized", "TextNormConfig",
           "TextNormalizer",
           "canonical_tones", "digits_to_words", "is_vietnamese_syllable", "nfc", "normalize_text",
           "number_to_words", "scoring_text", "to_vocab_spelling"]
