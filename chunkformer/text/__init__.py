"""Text normalization shared by CTC targets and scoring.

Scoring normalization (documented in the README): Unicode NFC, lower case, punctuation removed,
whitespace collapsed. Vietnamese diacritics are kept: they are part of the syllable.

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
