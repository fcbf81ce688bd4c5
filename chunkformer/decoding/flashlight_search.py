"""The CTC beam search fused with a KenLM n-gram LM, run by flashlight-text's ``LexiconDecoder`` (C++).

Used by :class:`chunkformer.decoding.CTCDecoder` for a beam search with an LM and no hotwords when the
``flashlight-text`` package is installed and the vocabulary is one of whole words (every token but the
specials starts with ``▁``: the syllable vocabularies of the Vietnamese ChunkFormer models): then its lexicon is
the vocabulary itself, one token per word, and it ranks hypotheses by our fused score (``docs/DECODING.md``,
"n-gram LM"): CTC score + ``weight`` · ln P_lm + ``word_bonus`` per word, ``</s>`` scored at the end; but the
CTC score of a hypothesis is its best single alignment (Viterbi), where ours sums over alignments. On the
demo's sets, with twice our beam (``BEAM_FACTOR``), it gives the same val WER as ours at 2.5× the search speed
(docs/BENCHMARKS.md, "Decoding"). Hotwords stay with our search (flashlight has no context graph); so do
vocabularies with word pieces.

One difference: flashlight's lexicon search expects a word-separator token, so after a word's last token a
path may stay only on that separator, never on the same token: a word token held over two consecutive frames
(no blank between) is not a path it considers. Such frames are 0.75 % of the emitting frames of the demo model's
greedy paths on its test sets; where one occurs, flashlight takes the next best path.

Flashlight's KenLM wrapper returns log10 scores; the LM weight is multiplied by ln 10 so that the fused score
is ours, in natural log. A decoder object keeps per-call buffers, so each call makes its own (cheap); the
lexicon trie and the LM, read-only during decoding, are built once per LM file and vocabulary. The frames go
in in blocks of ``BLOCK`` (flashlight reads dense (T, V) emissions; a 10-minute piece at once would be 200 MB).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chunkformer.decoding.ctc_search import FrameTopK
from chunkformer.decoding.fusion import LMFusion
from chunkformer.tokenizer import WORD_START

# flashlight's beam size per unit of ours. Its beam entries are (prefix, last token, blank or not) states, where
# ours holds each prefix once with both CTC scores, so the same number holds fewer distinct prefixes. Chosen on
# the demo's val sets (pooled WER, weight and bonus tuned for each): 20.85 % at 1, 20.76 % at 2 and 3, ours at
# beam 10 20.74 %; at 2 its search is 2.5x as fast as ours (bench/bench_lm_decoding.py --python-lm).
BEAM_FACTOR = 2
BEAM_THRESHOLD = 25.0  # hypotheses more than this below the best are dropped (flashlight's usual value)
LOG_ADD = False  # Viterbi: the best single alignment per hypothesis (flashlight's and torchaudio's default)
BLOCK = 256  # frames per decode step: dense (frames, V) float32 emissions (6.8 MB at V = 6 640), not (T, V)
_FLOOR = -1e4  # log-prob of the entries outside a frame's top k: never chosen, and finite


def _module() -> Any | None:
    try:
        import flashlight.lib.text.decoder as fl  # noqa: PLC0415 (optional dependency, imported on use)
    except ImportError:
        return None
    return fl


def unusable(tokens: Sequence[str], lm: LMFusion) -> str | None:
    """Why flashlight cannot run this search (None: it can): not installed, an LM without a file, or a
    vocabulary with word pieces or without a special token to stand for silence."""
    if _module() is None:
        return "flashlight-text is not installed"
    if getattr(lm.lm, "path", None) is None:
        return "the LM is not read from a file"
    words = [t for t in tokens if not (t.startswith("<") and t.endswith(">"))]
    if any(not t.startswith(WORD_START) or WORD_START in t[1:] for t in words):
        return "the vocabulary has word pieces (tokens without a leading ▁)"
    if _silence(tokens) is None:
        return "the vocabulary has no <sos/eos> or <unk> token to stand for silence"
    return None


def _silence(tokens: Sequence[str]) -> int | None:
    """A token the lexicon does not use, as flashlight's silence: ``<sos/eos>`` (never emitted by a CTC head),
    else ``<unk>``."""
    for name in ("<sos/eos>", "<unk>"):
        if name in tokens:
            return list(tokens).index(name)
    return None


@functools.lru_cache(maxsize=4)
def _lexicon(path: str, stamp: tuple[int, int], tokens: tuple[str, ...]  # noqa: ARG001 (stamp: cache key)
             ) -> tuple[Any, Any, Any, dict[int, int]]:
    """(word dictionary, flashlight KenLM, smeared lexicon trie, word index → token id) for an LM file (its
    modification time and size in ``stamp``: a rewritten file is read again) and a whole-word vocabulary."""
    fl = _module()
    from flashlight.lib.text.decoder.kenlm import KenLM  # noqa: PLC0415 (optional dependency)
    from flashlight.lib.text.dictionary import Dictionary  # noqa: PLC0415

    ids = [i for i, t in enumerate(tokens) if t.startswith(WORD_START)]
    words = Dictionary([tokens[i][len(WORD_START):] for i in ids] + ["<unk>"])
    lm = KenLM(path, words)
    trie = fl.Trie(len(tokens), _silence(tokens))
    start = lm.start(False)
    for w, i in enumerate(ids):
        trie.insert([i], w, lm.score(start, w)[1])
    trie.smear(fl.SmearingMode.MAX)
    return words, lm, trie, dict(enumerate(ids))


class FlashlightLMSearch:
    """``search(frames)`` → (token ids, fused score) of the best hypothesis; see the module docstring.

    Args:
      tokens: the vocabulary (id → token); ``blank``: the blank id.
      lm: the LM and its weight and word bonus (natural log, as our search takes them).
      beam: hypotheses kept per frame.
    """

    def __init__(self, tokens: Sequence[str], blank: int, lm: LMFusion, beam: int) -> None:
        why = unusable(tokens, lm)
        if why is not None:
            raise ValueError(f"flashlight cannot run this LM search: {why}")
        self.fl = _module()
        self.vocab = len(tokens)
        self.blank = blank
        self.silence = _silence(tokens)
        path = Path(lm.lm.path)
        st = path.stat()
        self.words, self.lm, self.trie, self.token_of = _lexicon(str(path), (st.st_mtime_ns, st.st_size),
                                                                 tuple(tokens))
        self.unk = self.words.get_index("<unk>")
        self.beam = beam
        self.weight, self.bonus = lm.weight * math.log(10), lm.word_bonus

    def search(self, frames: FrameTopK) -> tuple[list[int], float]:
        opts = self.fl.LexiconDecoderOptions(
            beam_size=BEAM_FACTOR * self.beam, beam_size_token=frames.k, beam_threshold=BEAM_THRESHOLD,
            lm_weight=self.weight, word_score=self.bonus, unk_score=-math.inf, sil_score=0.0, log_add=LOG_ADD,
            criterion_type=self.fl.CriterionType.CTC)
        decoder = self.fl.LexiconDecoder(opts, self.trie, self.lm, self.silence, self.blank, self.unk, [], False)
        decoder.decode_begin()
        ids, values = frames.ids.numpy(), frames.values.float().numpy()
        emissions = np.empty((BLOCK, self.vocab), dtype=np.float32)
        for a in range(0, len(frames), BLOCK):
            n = min(BLOCK, len(frames) - a)
            emissions[:n] = _FLOOR
            np.put_along_axis(emissions[:n], ids[a : a + n], values[a : a + n], axis=1)
            decoder.decode_step(emissions.ctypes.data, n, self.vocab)
        decoder.decode_end()
        best = decoder.get_all_final_hypothesis()[0]  # sorted best first; includes the end (</s>) score
        return [self.token_of[w] for w in best.words if w >= 0], float(best.score)
