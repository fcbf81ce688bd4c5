"""Word n-gram language models for shallow fusion in the CTC prefix beam search.

The LM's words are the vocabulary's words: a token starting with ``▁`` begins a word, other tokens continue
it (for the syllable vocabularies of the released Vietnamese models every token is one word, a syllable).
Scores are natural logs (KenLM's log10 values times ln 10), so an LM weight of 1 weighs the LM like the
acoustic model.

* :class:`NgramLM`: what the beam search needs (``begin``, ``score``, ``end``); any object with these
  methods works (the tests use a pure-Python ARPA scorer).
* :class:`KenLM`: an ARPA or KenLM binary file, queried through the ``kenlm`` Python module (built by
  ``local/setup_kenlm.sh``; the ``kenlm-ex`` wheel provides the same module).
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
        raise LMError("the kenlm Python module is not installed: run local/setup_kenlm.sh "
                      "(or pip install kenlm)") from e
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
        self.model = kenlm.Model(str(path))
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
