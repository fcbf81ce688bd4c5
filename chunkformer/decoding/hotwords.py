"""Hotword lists: phrases → normalised text → token ids → :class:`~chunkformer.decoding.context_graph.ContextGraph`.

A phrase is normalised like a transcript (:class:`chunkformer.text.TextNormalizer`: numbers and codes in
words, spell-out of Latin words, lower case, punctuation removed, the vocabulary's tone-mark spelling) and
must be spellable by the vocabulary; phrases that are not are returned in ``HotwordList.rejected`` with the
reason, never silently dropped.

File format (``transcribe --hotwords FILE``): one phrase per line, optionally ``<TAB>score`` (per-token
bonus overriding the global one); blank lines and lines starting with ``#`` are ignored.

>>> from chunkformer.tokenizer import Tokenizer
>>> tok = Tokenizer(["<blank>", "<unk>", "▁nguyễn", "▁văn", "▁an", "▁hai"])
>>> hw = build_hotwords(["Nguyễn Văn An", ("2", 3.0), "Văn Xyzzy"], tok, score=1.5)
>>> hw.phrases, hw.rejected
(['nguyễn văn an', 'hai'], [('Văn Xyzzy', 'the vocabulary cannot spell xyzzy')])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from chunkformer.decoding.context_graph import ContextGraph
from chunkformer.text import NormalizeError, TextNormalizer, TextNormConfig
from chunkformer.tokenizer import WORD_START, Tokenizer

DEFAULT_SCORE = 2.0  # per-token bonus (natural log): icefall's default context score, not tuned here yet
MAX_SCORE = 1000.0  # per-token bonus beyond any log-prob gap of a CTC frame: a larger one changes nothing


@dataclass
class HotwordList:
    """A built hotword list: ``graph`` is None when no phrase survived."""

    graph: ContextGraph | None
    phrases: list[str] = field(default_factory=list)  # normalised text of the kept phrases, in input order
    scores: list[float] = field(default_factory=list)  # per-token bonus of each kept phrase
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (phrase as given, reason)


def phrase_normalizer(tokenizer: Tokenizer) -> TextNormalizer:
    """The transcript normaliser with the vocabulary's spelling (Latin words not in the vocab are kept, then
    reported by the spelling check)."""
    words = {t[len(WORD_START):] for t in tokenizer.tokens if t.startswith(WORD_START)}
    return TextNormalizer(TextNormConfig(unknown_latin="keep"), vocab=words)


def score_error(score: float) -> str:
    """Why ``score`` cannot be a per-token hotword bonus, or "" (a finite number in (0, MAX_SCORE])."""
    if not 0 < score < math.inf:
        return f"score must be a finite number > 0, got {score}"
    if score > MAX_SCORE:  # sums of bonuses near the float maximum overflow to inf, and inf - inf is NaN
        return f"score must be at most {MAX_SCORE:g} nats per token (a larger one decides nothing more), got {score}"
    return ""


def build_hotwords(phrases: Iterable[str | tuple[str, float | None]], tokenizer: Tokenizer,
                   score: float = DEFAULT_SCORE, normalizer: TextNormalizer | None = None) -> HotwordList:
    """Normalises, spells and compiles ``phrases`` (text, or ``(text, per-token score or None)``)."""
    bad = score_error(score)
    if bad:
        raise ValueError(f"hotword {bad}")
    norm = normalizer or phrase_normalizer(tokenizer)
    out = HotwordList(None)
    ids: list[list[int]] = []
    seen: dict[str, int] = {}
    for item in phrases:
        text, own = (item, None) if isinstance(item, str) else item
        try:
            clean = norm(text).text
        except NormalizeError as e:
            out.rejected.append((text, str(e)))
            continue
        bad = tokenizer.unspellable(clean)
        if not clean or bad:
            out.rejected.append((text, f"the vocabulary cannot spell {' '.join(bad)}" if bad else "empty phrase"))
            continue
        s = float(score if own is None else own)
        if score_error(s):
            out.rejected.append((text, score_error(s)))
            continue
        if clean in seen:  # a duplicate keeps the larger score
            k = seen[clean]
            out.scores[k] = max(out.scores[k], s)
            continue
        seen[clean] = len(out.phrases)
        out.phrases.append(clean)
        out.scores.append(s)
        ids.append(tokenizer.encode(clean))
    if ids:
        out.graph = ContextGraph(ids, out.scores, out.phrases)
    return out


def read_hotwords_file(path: str | Path) -> list[tuple[str, float | None]]:
    """``phrase[<TAB>score]`` lines; ValueError names the line of a bad score (not a finite number). Scores
    <= 0 and phrases the vocabulary cannot spell are left to :func:`build_hotwords`, which reports them."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: hotword file not found")
    out: list[tuple[str, float | None]] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        text, _, num = line.partition("\t")
        if not num.strip():
            out.append((text.strip(), None))
            continue
        try:
            value = float(num)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise ValueError(f"{path}:{lineno}: score {num.strip()!r} is not a finite number")
        out.append((text.strip(), value))
    return out


def load_hotword_graph(path: str | Path, tokenizer: Tokenizer, score: float | None = None,
                       warn: Callable[[str], None] | None = None) -> ContextGraph:
    """The context graph of a hotwords file (what ``--hotwords FILE`` does): each rejected phrase is passed
    to ``warn`` as one sentence; ValueError when no phrase is usable (or a score is bad), FileNotFoundError."""
    hot = build_hotwords(read_hotwords_file(path), tokenizer, score=DEFAULT_SCORE if score is None else score)
    for phrase, reason in hot.rejected:
        if warn is not None:
            warn(f"{path}: hotword {phrase!r} ignored: {reason}")
    if hot.graph is None:
        raise ValueError(f"{path}: no usable hotword ({len(hot.rejected)} rejected, see above)")
    return hot.graph
