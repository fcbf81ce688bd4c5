"""Aho-Corasick context graph over token ids: hotword bonuses for the CTC prefix beam search.

The algorithm of icefall's and WeNet's ``ContextGraph`` (Aho-Corasick automaton with scores), held in flat
lists. A phrase of ``n`` tokens with per-token score ``s`` is a trie path; each token that extends a partial
match earns ``s``. When a prefix leaves the path (the next token does not continue any phrase), the automaton
follows fail arcs to the longest phrase prefix that is a suffix of the hypothesis and the bonus of the
abandoned part is **withdrawn** (``node_score`` of the new state minus that of the old one), so an unfinished
phrase earns nothing in the end. Completing a phrase adds its whole ``node_score`` once more as an *output*
score that is never withdrawn: the net gain of a completed phrase is ``n·s``, of an unfinished one 0.
:meth:`ContextGraph.finalize` withdraws the pending partial bonus at the end of the utterance.

States are ints (0 = root). Scores are natural-log bonuses added to the hypothesis' score.

>>> g = ContextGraph([[5, 6, 7]], [1.0])
>>> s, total = 0, 0.0
>>> for tok in (5, 6):  # two tokens of the phrase: +1 each, pending
...     d, s = g.forward_one_step(s, tok); total += d
>>> total, g.finalize(s)[0]  # the utterance ends: the partial bonus is withdrawn
(2.0, -2.0)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence


class ContextGraph:
    """Aho-Corasick automaton of token-id phrases with per-token bonuses.

    Args:
      phrases: token-id sequences (non-empty; duplicates allowed).
      scores: per-token bonus of each phrase (> 0). A token shared by several phrases' prefixes gets the
        largest of their scores.
      texts: optional text of each phrase (for :meth:`matched`); default the ids joined by spaces.
    """

    def __init__(self, phrases: Sequence[Sequence[int]], scores: Sequence[float],
                 texts: Sequence[str] | None = None) -> None:
        if len(phrases) != len(scores):
            raise ValueError(f"{len(phrases)} phrases but {len(scores)} scores")
        if texts is not None and len(texts) != len(phrases):
            raise ValueError(f"{len(phrases)} phrases but {len(texts)} texts")
        self.texts = list(texts) if texts is not None else [" ".join(map(str, p)) for p in phrases]
        self.children: list[dict[int, int]] = [{}]
        self.token_score: list[float] = [0.0]
        self.phrase: list[int] = [-1]  # index of the phrase ending at a node, -1 if none
        for k, (ids, score) in enumerate(zip(phrases, scores, strict=True)):
            self._insert(k, list(ids), float(score))
        self.node_score = [0.0] * len(self.children)  # bonus accumulated from the root along the trie
        self.fail = [0] * len(self.children)
        self.output = [-1] * len(self.children)  # nearest proper suffix state that ends a phrase
        self.output_score = [0.0] * len(self.children)  # score kept when the node (or a suffix) ends a phrase
        self._link()
        self._step: dict[tuple[int, int], tuple[float, int]] = {}

    def _insert(self, k: int, ids: list[int], score: float) -> None:
        if not ids:
            raise ValueError(f"phrase {k} ({self.texts[k]!r}) has no tokens")
        if not score > 0:
            raise ValueError(f"phrase {k} ({self.texts[k]!r}): score must be > 0, got {score}")
        node = 0
        for tok in ids:
            nxt = self.children[node].get(tok)
            if nxt is None:
                nxt = self.children[node][tok] = len(self.children)
                self.children.append({})
                self.token_score.append(score)
                self.phrase.append(-1)
            else:
                self.token_score[nxt] = max(self.token_score[nxt], score)
            node = nxt
        if self.phrase[node] < 0:
            self.phrase[node] = k

    def _link(self) -> None:
        """Breadth-first: node scores, fail arcs, output arcs and output scores."""
        queue = deque([0])
        while queue:
            node = queue.popleft()
            for tok, child in self.children[node].items():
                self.node_score[child] = self.node_score[node] + self.token_score[child]
                if node:  # the longest proper suffix of child's path that is a trie path
                    f = self.fail[node]
                    while f and tok not in self.children[f]:
                        f = self.fail[f]
                    self.fail[child] = self.children[f].get(tok, 0)
                queue.append(child)
            if node:  # fail[node] is a shallower node, already final
                f = self.fail[node]
                self.output[node] = f if self.phrase[f] >= 0 else self.output[f]
                own = self.node_score[node] if self.phrase[node] >= 0 else 0.0
                suffix = self.output_score[self.output[node]] if self.output[node] > 0 else 0.0
                self.output_score[node] = own + suffix

    @property
    def num_states(self) -> int:
        return len(self.children)

    def forward_one_step(self, state: int, token: int) -> tuple[float, int]:
        """``(bonus, next_state)`` after ``token``: the partial-match change plus the scores of phrases it ends."""
        key = (state, token)
        hit = self._step.get(key)
        if hit is not None:
            return hit
        nxt = self.children[state].get(token)
        if nxt is not None:
            score = self.token_score[nxt]
        else:
            f = state
            while f and token not in self.children[f]:
                f = self.fail[f]
            nxt = self.children[f].get(token, 0)
            score = self.node_score[nxt] - self.node_score[state]  # withdraw the abandoned part
        hit = self._step[key] = (score + self.output_score[nxt], nxt)
        return hit

    def finalize(self, state: int) -> tuple[float, int]:
        """``(bonus, root)`` at the end of the utterance: the pending partial bonus is withdrawn."""
        return -self.node_score[state], 0

    def matched(self, state: int) -> list[str]:
        """Texts of the phrases that end at ``state`` (the longest first)."""
        out = []
        node = state if self.phrase[state] >= 0 else self.output[state]
        while node > 0:
            out.append(self.texts[self.phrase[node]])
            node = self.output[node]
        return out
