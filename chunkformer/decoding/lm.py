"""Word n-gram language models for shallow fusion in the CTC prefix beam search.

The LM's words are the vocabulary's words: a token starting with ``▁`` begins a word, other tokens continue
it (for the syllable vocabularies of the released Vietnamese models every token is one word, a syllable).
Scores are natural logs (KenLM's log10 values times ln 10), so an LM weight of 1 weighs the LM like the
acoustic model.

* :class:`NgramLM`: what the beam search needs (``begin``, ``score``, ``end``); any object with these
  methods works.
* :class:`KenLM`: an ARPA or KenLM binary file, queried through the ``kenlm`` Python module (the prebuilt
  ``kenlm-ex`` wheel pinned in requirements.txt provides it; no compiler needed).
* :class:`ArpaLM`: a pure-Python back-off scorer of an ARPA file: the reference the tests check the fusion
  against, and the fallback of :func:`load_lm` when ``kenlm`` is missing (small LMs only: it holds every
  n-gram in Python dicts).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol

LN10 = math.log(10.0)


class NgramLM(Protocol):
    """A stateful word LM: states are opaque, scores natural-log probabilities."""

    def begin(self) -> Any:
        """The state after ``<s>``."""
        ...

    def score(self, state: Any, word: str) -> tuple[float, Any]:
        """``(log P(word | state), next state)``."""
        ...

    def end(self, state: Any) -> float:
        """``log P(</s> | state)``."""
        ...


class LMError(RuntimeError):
    """The LM cannot be loaded (missing file, missing ``kenlm`` module)."""


def _kenlm_module() -> Any:
    try:
        import kenlm  # noqa: PLC0415 (optional dependency, imported on use)
    except ImportError as e:
        raise LMError("the kenlm Python module is not installed: pip install kenlm-ex==0.2.1 "
                      "(requirements.txt)") from e
    return kenlm


class KenLM:
    """A KenLM model (ARPA or binary). ``score`` results are cached per (state, word).

    >>> lm = KenLM("lm.arpa")        # doctest: +SKIP
    >>> s0 = lm.begin(); lp, s1 = lm.score(s0, "xin"); lm.end(s1)  # doctest: +SKIP
    """

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise LMError(f"{path}: language model file not found")
        kenlm = _kenlm_module()
        self.path = path
        self._kenlm = kenlm
        try:
            self.model = kenlm.Model(str(path))
        except (OSError, RuntimeError) as e:  # KenLM's FormatLoadException, with its C++ location in front
            reason = str(e).rsplit("threw FormatLoadException.", 1)[-1].strip(" .)") or str(e)
            raise LMError(f"{path}: KenLM cannot read this LM: {reason}") from None
        except UnicodeDecodeError:  # KenLM's message quotes the file's bytes, which are not text
            raise LMError(f"{path}: KenLM cannot read this LM: neither an ARPA file nor a KenLM binary") from None
        self.order: int = self.model.order
        self._cache: dict[tuple[Any, str], tuple[float, Any]] = {}

    def begin(self) -> Any:
        state = self._kenlm.State()
        self.model.BeginSentenceWrite(state)
        return state

    def score(self, state: Any, word: str) -> tuple[float, Any]:
        key = (state, word)
        hit = self._cache.get(key)
        if hit is None:
            out = self._kenlm.State()
            hit = self._cache[key] = (self.model.BaseScore(state, word, out) * LN10, out)
        return hit

    def end(self, state: Any) -> float:
        return self.model.BaseScore(state, "</s>", self._kenlm.State()) * LN10

    def __contains__(self, word: str) -> bool:
        return word in self.model

    def sentence_score(self, words: list[str]) -> float:
        """``log P(<s> words </s>)`` (natural log)."""
        return self.model.score(" ".join(words), bos=True, eos=True) * LN10


class ArpaLM:
    """Pure-Python ARPA back-off LM (the standard recursion, as KenLM computes it).

    ``log P(w | h) = log p(h w)`` if the n-gram ``h w`` is listed, else ``backoff(h) + log P(w | h[1:])``
    (a context that is not listed has back-off 0); a word that is not a unigram scores as ``<unk>`` (KenLM's
    -100 in log10 when the file has no ``<unk>``). States are tuples of the last ``order - 1`` words.
    """

    UNK_LOG10 = -100.0

    def __init__(self, path: str | Path) -> None:
        path = Path(path)
        if not path.is_file():
            raise LMError(f"{path}: language model file not found")
        self.path = path
        self.prob: dict[tuple[str, ...], float] = {}  # natural log
        self.backoff: dict[tuple[str, ...], float] = {}
        order = 0
        section = 0
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise LMError(f"{path}: not an ARPA file (not UTF-8 text at byte {e.start})") from None
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line:
                continue
            if line.startswith("\\"):
                if line.endswith("-grams:"):
                    try:
                        section = int(line[1:].split("-")[0])
                    except ValueError:
                        raise LMError(f"{path}:{lineno}: bad section header {line!r}") from None
                    order = max(order, section)
                else:  # \data\ or \end\
                    section = 0
                continue
            if section == 0:
                continue
            parts = line.split()
            if len(parts) not in (section + 1, section + 2):
                raise LMError(f"{path}:{lineno}: expected a log10 prob, {section} words and an optional back-off")
            try:
                words = tuple(parts[1:section + 1])
                self.prob[words] = float(parts[0]) * LN10
                if len(parts) == section + 2:
                    self.backoff[words] = float(parts[-1]) * LN10
            except ValueError:
                raise LMError(f"{path}:{lineno}: bad number in {line!r}") from None
        if order == 0:
            raise LMError(f"{path}: no n-gram sections (not an ARPA file?)")
        self.order = order
        self._unk = self.prob.get(("<unk>",), self.UNK_LOG10 * LN10)

    def begin(self) -> tuple[str, ...]:
        return ("<s>",)

    def _log_p(self, context: tuple[str, ...], word: str) -> float:
        """``word`` is listed as a unigram (or is ``<unk>``)."""
        if (word,) not in self.prob:  # <unk> not listed (KenLM: -100, no back-off)
            return self._unk
        out = 0.0
        for i in range(len(context) + 1):
            h = context[i:]
            lp = self.prob.get(h + (word,))
            if lp is not None:
                return out + lp
            out += self.backoff.get(h, 0.0)
        raise AssertionError("unreachable: the unigram is listed")

    def score(self, state: tuple[str, ...], word: str) -> tuple[float, tuple[str, ...]]:
        if (word,) not in self.prob:
            word = "<unk>"
        lp = self._log_p(state, word)
        return lp, (state + (word,))[-(self.order - 1):] if self.order > 1 else ()

    def end(self, state: tuple[str, ...]) -> float:
        return self._log_p(state, "</s>")

    def __contains__(self, word: str) -> bool:
        return (word,) in self.prob

    def sentence_score(self, words: list[str]) -> float:
        """``log P(<s> words </s>)`` (natural log)."""
        state, total = self.begin(), 0.0
        for w in words:
            lp, state = self.score(state, w)
            total += lp
        return total + self.end(state)


def load_lm(path: str | Path) -> NgramLM:
    """:class:`KenLM` when the ``kenlm`` module is installed, else :class:`ArpaLM` (ARPA files only)."""
    try:
        return KenLM(path)
    except LMError as e:
        if "not installed" not in str(e) or not str(path).endswith(".arpa"):
            raise
        return ArpaLM(path)
