"""Tone-mark placement: the old ("hóa, khóa, thủy, hòa") and new ("hoá, khoá, thuỷ, hoà") conventions.

Both spellings are correct Vietnamese and real transcripts (and vocabularies) mix them. They differ only for
the nuclei ``oa``, ``oe``, ``uy`` with no final consonant: the old style marks the first vowel, the new style
the second (with a final consonant both mark the second: ``hoàn``, ``tuyển``; after ``qu`` the ``u`` belongs
to the onset, so ``quý`` is the same in both).

* :func:`canonical_tones` maps every syllable to one convention (scoring uses the old style, so the two
  spellings never count as an error);
* :func:`to_vocab_spelling` picks the spelling a model vocabulary has (training targets): when the vocab holds
  only one of the two it wins; when it holds both, the configured style (default old) wins; when it holds
  neither, the configured style is returned (the vocabulary check then reports the word).

>>> canonical_tones("Hòa bình, khoá học, thuỷ lợi", "old")
'Hòa bình, khóa học, thủy lợi'
>>> canonical_tones("hòa khóa thủy quý hoàn", "new")
'hoà khoá thuỷ quý hoàn'
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container

TONE_STYLES = ("old", "new")
# grave, acute, tilde, hook above, dot below: the five tone marks (NFD combining characters)
TONE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323")
_VOWELS = frozenset("aăâeêioôơuưy")
_WORD = re.compile(r"\w+")


def _check_style(style: str) -> None:
    if style not in TONE_STYLES:
        raise ValueError(f"tone style must be one of {TONE_STYLES}, not {style!r}")


def split_tone(syllable: str) -> tuple[str, str]:
    """(the syllable without its tone mark, NFC; the tone mark or ``""``).

    >>> split_tone("khoá")
    ('khoa', '́')
    """
    nfd = unicodedata.normalize("NFD", syllable)
    tone = "".join(c for c in nfd if c in TONE_MARKS)
    base = "".join(c for c in nfd if c not in TONE_MARKS)
    return unicodedata.normalize("NFC", base), tone[:1]


def _sensitive(base: str) -> bool:
    """True when ``base`` (no tone mark) ends in the nucleus oa/oe/uy with no final consonant and no ``qu``."""
    low = base.lower()
    if low[-2:] not in ("oa", "oe", "uy"):
        return False
    onset = low[:-2]
    # a vowel before the pair means another nucleus (e.g. "uoa" is not one); "qu" makes the u an onset glide
    return not any(c in _VOWELS for c in onset) and not onset.endswith("q")


def _with_tone(base: str, tone: str, index: int) -> str:
    chars = list(base)
    chars[index] = unicodedata.normalize("NFC", unicodedata.normalize("NFD", chars[index]) + tone)
    return "".join(chars)


def syllable_tones(syllable: str, style: str) -> str:
    """One syllable in ``style``; syllables without a style difference are returned unchanged.

    >>> syllable_tones("thủy", "new"), syllable_tones("hoà", "old"), syllable_tones("hoàn", "old")
    ('thuỷ', 'hòa', 'hoàn')
    """
    _check_style(style)
    base, tone = split_tone(syllable)
    if not tone or not _sensitive(base):
        return syllable
    return _with_tone(base, tone, len(base) - (2 if style == "old" else 1))


def canonical_tones(text: str, style: str = "old") -> str:
    """Every syllable of ``text`` in one tone-mark convention (case and everything else kept)."""
    _check_style(style)
    return _WORD.sub(lambda m: syllable_tones(m.group(), style), text)


def to_vocab_spelling(word: str, vocab: Container[str], style: str = "old") -> str:
    """The spelling of ``word`` a vocabulary of words (no ``▁``) can emit.

    Only one spelling in ``vocab``: that one. Both: ``style`` (one fixed rule, so training targets never mix
    the two). Neither (or ``word`` has no style difference): ``word`` in ``style``.

    >>> to_vocab_spelling("hoà", {"hòa", "hoà"}), to_vocab_spelling("khóa", {"khoá"}), to_vocab_spelling("hòa", {"hoà"})
    ('hòa', 'khoá', 'hoà')
    """
    old, new = syllable_tones(word, "old"), syllable_tones(word, "new")
    preferred = old if style == "old" else new
    if old == new:
        return word
    if (old in vocab) == (new in vocab):
        return preferred
    return old if old in vocab else new
