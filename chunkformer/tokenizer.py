"""Tokenizer over an official ``vocab.txt`` (one ``token id`` pair per line).

``▁`` marks the start of a word, id 0 is the CTC blank, ``<unk>`` (if present) is never produced for
training targets: text the vocabulary cannot spell is reported, not silently mapped.

Words are tokenized by greedy longest match of ``▁word`` over the vocabulary, which is exact for the
released syllable-level Vietnamese vocabularies (one ``▁syllable`` token per word) and also covers
sub-word (BPE-like) pieces.

>>> tok = Tokenizer(["<blank>", "<unk>", "▁xin", "▁chào", "<sos/eos>"])
>>> tok.encode("xin chào")
[2, 3]
>>> tok.decode([2, 3])
'xin chào'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from chunkformer.text import nfc
from chunkformer.utils.io import numbered_lines

WORD_START = "▁"


class UnspellableError(ValueError):
    """Raised when text contains words the vocabulary cannot spell."""

    def __init__(self, text: str, units: list[str]) -> None:
        self.units = units
        super().__init__(f"vocabulary cannot spell {units!r} in {text!r}")


class Tokenizer:
    """Maps text to CTC target ids and ids back to text."""

    def __init__(self, tokens: Sequence[str]) -> None:
        if not tokens:
            raise ValueError("empty vocabulary")
        self.tokens = [nfc(t) for t in tokens]
        self.token_to_id: dict[str, int] = {}
        for i, t in enumerate(self.tokens):
            self.token_to_id.setdefault(t, i)
        self.max_len = max(len(t) for t in self.tokens)
        self.blank_id = 0

    @classmethod
    def from_file(cls, path: str | Path) -> Tokenizer:
        """Reads ``vocab.txt``: ``token id`` per line, ids 0..V-1, each exactly once."""
        path = Path(path)
        entries: dict[int, str] = {}
        for lineno, line in numbered_lines(path, "vocabulary file"):
            parts = line.split()
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise ValueError(f"{path}:{lineno}: expected 'token id', got {line!r}")
            idx = int(parts[1])
            if idx in entries:
                raise ValueError(f"{path}:{lineno}: id {idx} appears twice")
            entries[idx] = parts[0]
        if sorted(entries) != list(range(len(entries))):
            raise ValueError(f"{path}: ids must be 0..{len(entries) - 1} without gaps")
        return cls([entries[i] for i in range(len(entries))])

    def save(self, path: str | Path) -> None:
        Path(path).write_text("".join(f"{t} {i}\n" for i, t in enumerate(self.tokens)), encoding="utf-8")

    def __len__(self) -> int:
        return len(self.tokens)

    def _split_word(self, word: str) -> list[int] | None:
        piece = WORD_START + word
        ids: list[int] = []
        pos = 0
        while pos < len(piece):
            for end in range(min(len(piece), pos + self.max_len), pos, -1):
                idx = self.token_to_id.get(piece[pos:end])
                if idx is not None and idx != self.blank_id:
                    ids.append(idx)
                    pos = end
                    break
            else:
                return None
        return ids

    def unspellable(self, text: str) -> list[str]:
        """Words of ``text`` (NFC, whitespace-split) that the vocabulary cannot spell."""
        return [w for w in nfc(text).split() if self._split_word(w) is None]

    def encode(self, text: str) -> list[int]:
        """Token ids for ``text``; raises :class:`UnspellableError` naming every unspellable word."""
        ids: list[int] = []
        bad: list[str] = []
        for word in nfc(text).split():
            pieces = self._split_word(word)
            if pieces is None:
                bad.append(word)
            else:
                ids.extend(pieces)
        if bad:
            raise UnspellableError(text, bad)
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Joins tokens with no separator, ``▁`` becomes a space (the official post-processing)."""
        return "".join(self.tokens[i] for i in ids if i != self.blank_id).replace(WORD_START, " ").strip()
