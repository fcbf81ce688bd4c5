"""Scores of a prefix beyond CTC: hotword bonuses (context graph), n-gram LM and a word insertion bonus.

All of them depend only on the prefix's label sequence, so they are computed once per node of the beam
search's prefix trie (when the node is created) and added to the node's CTC score when prefixes are ranked:

    fused(prefix) = log P_ctc(prefix) + hotword(prefix) + lm_weight · log P_lm(words) + word_bonus · |words|

At the end of the utterance :meth:`PrefixScorer.final` adds what only a finished hypothesis owes: the context
graph withdraws unfinished phrase bonuses and the LM scores ``</s>``.

LM words: a token starting with ``▁`` (or the first token) begins a word; a token without it continues the
current word. The word is scored as soon as it begins (syllable vocabularies: every token is a whole word),
and rescored from the state before it when a continuation token makes it longer, so a finished hypothesis
carries exactly the LM score of its words.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chunkformer.decoding.context_graph import ContextGraph
from chunkformer.decoding.lm import NgramLM, load_lm
from chunkformer.tokenizer import WORD_START

LM_SEARCHES = ("auto", "ours", "flashlight")


@dataclass(frozen=True)
class LMFusion:
    """An LM and how it is fused: ``weight`` scales its natural-log score, ``word_bonus`` is added per word;
    ``search``: which beam search runs it without hotwords (:data:`LM_SEARCHES`; "auto": flashlight-text's C++
    search where it applies, ours otherwise, :mod:`chunkformer.decoding.flashlight_search`)."""

    lm: NgramLM
    weight: float = 0.5
    word_bonus: float = 0.0
    search: str = "auto"

    def __post_init__(self) -> None:
        check_fusion_values(self.weight, self.word_bonus)
        if self.search not in LM_SEARCHES:
            raise ValueError(f"unknown LM search {self.search!r}; choose from {LM_SEARCHES}")


def check_fusion_values(weight: float, bonus: float) -> None:
    """ValueError unless the LM weight is a finite number >= 0 and the word bonus a finite number."""
    if not (math.isfinite(weight) and weight >= 0.0 and math.isfinite(bonus)):
        raise ValueError(f"LM weight must be a finite number >= 0 and the word bonus a finite number, got weight "
                         f"{weight}, bonus {bonus}")


def add_lm_arguments(p: argparse.ArgumentParser) -> None:
    """``--lm FILE --lm-weight W [--lm-bonus B]``: the fixed LM fusion of ``transcribe`` and ``serve`` (read by
    :func:`lm_fusion_from_args`). Stage 5 (``chunkformer.decode``) tunes the two values per model on val and
    writes them to ``<exp>/lm_fusion.json``; these commands take them as given."""
    g = p.add_argument_group("n-gram LM (beam search fused with it)")
    g.add_argument("--lm", type=Path, metavar="FILE",
                   help="word n-gram LM, ARPA or KenLM binary (run.sh --lm auto writes <exp>/lm/lm.bin): every "
                        "utterance is decoded by the beam search fused with it")
    g.add_argument("--lm-weight", type=float, metavar="W",
                   help="LM weight (× natural-log LM score), required with --lm: stage 5 writes each model's "
                        "value tuned on val to <exp>/lm_fusion.json")
    g.add_argument("--lm-bonus", type=float, metavar="B", help="word insertion bonus, natural log (default 0)")
    add_lm_search_argument(g)


def add_lm_search_argument(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--lm-search`` (:attr:`LMFusion.search`), for every command that fuses an LM."""
    p.add_argument("--lm-search", choices=LM_SEARCHES, default="auto",
                   help="auto: flashlight-text's C++ search where it applies (whole-word vocabulary, no hotwords), "
                        "else ours; ours: always ours; flashlight: refuse to fall back (default %(default)s)")


def lm_fusion_from_args(a: argparse.Namespace) -> LMFusion | None:
    """The :class:`LMFusion` of :func:`add_lm_arguments`' options (None without ``--lm``); ValueError or
    :class:`chunkformer.decoding.lm.LMError` (one line) for a missing value or an LM that cannot be read."""
    if a.lm is None:
        if a.lm_weight is not None or a.lm_bonus is not None:
            raise ValueError("--lm-weight/--lm-bonus need --lm FILE")
        return None
    if a.lm_weight is None:
        raise ValueError(f"--lm {a.lm} needs --lm-weight W (and --lm-bonus B): stage 5 writes the values tuned on "
                         "val for each model to <exp>/lm_fusion.json")
    bonus = 0.0 if a.lm_bonus is None else a.lm_bonus
    check_fusion_values(a.lm_weight, bonus)  # before loading: a large LM takes a while
    return LMFusion(load_lm(a.lm), a.lm_weight, bonus, a.lm_search)


class PrefixScorer:
    """Per-node fusion scores for a prefix trie whose node 0 is the empty prefix.

    Args:
      tokens: the vocabulary (id → token string, ``▁`` marks a word start).
      context: hotword graph, or None.
      lm: LM fusion settings, or None (a ``word_bonus`` alone needs ``LMFusion`` with ``weight`` 0).
    """

    def __init__(self, tokens: Sequence[str], context: ContextGraph | None = None,
                 lm: LMFusion | None = None) -> None:
        self.tokens = tokens
        self.context = context
        self.lm = lm
        self.extra: list[float] = [0.0]  # what ranking adds to the CTC score, per node
        self.ctx_state: list[int] = [0]
        self.ctx_score: list[float] = [0.0]
        if lm is not None:
            self.lm_state: list[Any] = [lm.lm.begin()]
            self.lm_prev: list[Any] = [self.lm_state[0]]  # state before the node's last word
            self.lm_word: list[str] = [""]  # the last word so far
            self.lm_score: list[float] = [0.0]  # log P of all words, the last one included
            self.lm_before: list[float] = [0.0]  # log P of the words before the last one
            self.words: list[int] = [0]

    def extend(self, parent: int, token: int) -> None:
        """Fills the arrays for a new node (the next index) = ``parent`` + ``token``."""
        extra = 0.0
        if self.context is not None:
            bonus, state = self.context.forward_one_step(self.ctx_state[parent], token)
            self.ctx_state.append(state)
            self.ctx_score.append(self.ctx_score[parent] + bonus)
            extra += self.ctx_score[-1]
        if self.lm is not None:
            extra += self._extend_lm(parent, token)
        self.extra.append(extra)

    def _extend_lm(self, parent: int, token: int) -> float:
        piece = self.tokens[token]
        if piece.startswith(WORD_START) or parent == 0:
            prev, before, word = self.lm_state[parent], self.lm_score[parent], piece.lstrip(WORD_START)
            words = self.words[parent] + 1
        else:  # continues the parent's last word: rescore the longer word
            prev, before, word = self.lm_prev[parent], self.lm_before[parent], self.lm_word[parent] + piece
            words = self.words[parent] + (0 if self.lm_word[parent] else 1)  # after a bare "▁": a new word
        if word:
            lp, state = self.lm.lm.score(prev, word)
        else:  # a bare "▁": the word has no letters yet
            lp, state, words = 0.0, prev, words - 1
        self.lm_state.append(state)
        self.lm_prev.append(prev)
        self.lm_word.append(word)
        self.lm_score.append(before + lp)
        self.lm_before.append(before)
        self.words.append(words)
        return self.lm.weight * self.lm_score[-1] + self.lm.word_bonus * words

    def final(self, node: int) -> float:
        """``extra`` plus the end-of-utterance terms (unfinished hotword bonus withdrawn, LM ``</s>``)."""
        out = self.extra[node]
        if self.context is not None:
            out += self.context.finalize(self.ctx_state[node])[0]
        if self.lm is not None:
            out += self.lm.weight * self.lm.lm.end(self.lm_state[node])
        return out
