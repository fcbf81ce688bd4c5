"""One utterance's CTC output → text, words with times and confidences: the decoding API.

    from chunkformer.decoding import CTCDecoder, DecodeOptions, build_hotwords
    dec = CTCDecoder(tokenizer, DecodeOptions(beam=10, lm=LMFusion(KenLM("lm.arpa"), 0.5, 1.0)))
    hot = build_hotwords(["nguyễn văn an", "tai nghe"], tokenizer)      # per request, cheap
    hyp = dec.decode(log_probs, hotwords=hot.graph)                     # (T, V) tensor or FrameTopK
    hyp.text, hyp.confidence, [(w.word, w.start, w.end, w.conf) for w in hyp.words]

Search: greedy (argmax path) unless ``DecodeOptions.method`` is ``"beam"``, or is ``"auto"`` (the default)
and hotwords or an LM are given. Then CTC prefix beam search with the hotword graph and the LM fused
(:mod:`~chunkformer.decoding.fusion`). With an LM and no hotwords, ``LMFusion.search="auto"`` runs that search
in flashlight-text's C++ decoder where it can (:mod:`~chunkformer.decoding.flashlight_search`: installed, a
whole-word vocabulary), ours otherwise; ``"ours"`` always ours, ``"flashlight"`` refuses to fall back.

Times: the hypothesis is aligned to the frames (:func:`~chunkformer.decoding.alignment.ctc_align`, best CTC
path). Given the utterance's fbank (``fbank=``, what the model read), each word's boundaries come from the
audio's loudness, placed in the alignment's order and near its spikes
(:func:`~chunkformer.decoding.word_times.word_boundaries`, 10 ms resolution). Without it (or with flat audio)
they are the spikes' own: a word starts at the first frame emitting its first token and ends where the next
word starts, but no later than ``max_word_frames`` after its last emitting frame (pauses are not given to the
word before them), frames stamped at the centre of their receptive field
(:func:`~chunkformer.model.subsampling.output_frame_start`). ``offset`` is added to every time.

Confidence (in [0, 1]): a token's is its posterior averaged over the frames that emit it in the alignment;
a word's is the smallest of its tokens' (a syllable vocabulary has one token per word); the utterance's is
the mean of its words' (an empty hypothesis: the mean blank posterior, how sure the model is of silence;
no frames at all: 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import torch

from chunkformer.decoding.alignment import ctc_align, greedy_path, path_log_probs, token_spans
from chunkformer.decoding.context_graph import ContextGraph
from chunkformer.decoding.ctc_search import FrameTopK, prefix_beam_search
from chunkformer.decoding.flashlight_search import FlashlightLMSearch, unusable
from chunkformer.decoding.fusion import LMFusion, PrefixScorer
from chunkformer.decoding.word_times import WordTimeOptions, word_boundaries
from chunkformer.model.subsampling import OUTPUT_FRAME_CENTRE_SECONDS, OUTPUT_FRAME_SECONDS, output_frame_start
from chunkformer.tokenizer import WORD_START, Tokenizer

METHODS = ("auto", "greedy", "beam")


@dataclass(frozen=True)
class Word:
    """One word of a hypothesis: times in seconds, ``conf`` in [0, 1]."""

    word: str
    start: float
    end: float
    conf: float


@dataclass
class Hypothesis:
    """The decoded utterance. ``score``: CTC log-prob of the path (greedy) or the fused beam score."""

    text: str
    tokens: list[int]
    words: list[Word] = field(default_factory=list)
    confidence: float = 1.0
    score: float = 0.0
    path: list[int] = field(default_factory=list, repr=False)  # per frame: index into tokens, -1 = blank

    def to_dict(self) -> dict:
        """JSON-ready: ``{"text", "confidence", "words": [{"word", "start", "end", "conf"}]}``."""
        return {"text": self.text, "confidence": round(self.confidence, 4),
                "words": [{"word": w.word, "start": round(w.start, 2), "end": round(w.end, 2),
                           "conf": round(w.conf, 4)} for w in self.words]}


@dataclass(frozen=True)
class DecodeOptions:
    """How to decode. ``hotwords``/``lm`` given here apply to every utterance (``decode(hotwords=)`` overrides
    the graph per call); ``prune_topk`` None = ``beam``; ``max_word_frames`` caps how far a word's end
    reaches past its last emitting frame when times come from the spikes alone; ``word_times``: the
    constants of the boundaries found in the fbank."""

    method: str = "auto"
    beam: int = 10
    prune_topk: int | None = None
    hotwords: ContextGraph | None = None
    lm: LMFusion | None = None
    max_word_frames: int = 4
    word_times: WordTimeOptions = field(default_factory=WordTimeOptions)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown decoding method {self.method!r}; choose from {METHODS}")
        if self.beam < 1:
            raise ValueError(f"beam must be >= 1, got {self.beam}")

    def search(self, hotwords: ContextGraph | None = None) -> str:
        """``"greedy"`` or ``"beam"`` for this utterance."""
        if self.method != "auto":
            return self.method
        return "beam" if (hotwords or self.hotwords or self.lm) is not None else "greedy"

    def check_hotwords(self, hotwords: ContextGraph | None) -> None:
        """ValueError when per-call ``hotwords`` meet options that force the greedy search."""
        if hotwords is not None and self.method == "greedy":
            raise ValueError("hotwords need the beam search: this decoder's method is 'greedy' ('auto' or 'beam')")

    def topk(self, hotwords: ContextGraph | None = None) -> int:
        """Entries per frame a :class:`FrameTopK` must keep to decode with these options and the per-call
        ``hotwords`` (1 when that search is greedy)."""
        if self.search(hotwords) == "greedy":
            return 1
        return max(self.beam, self.prune_topk or self.beam)

    def frames(self, log_probs: torch.Tensor, hotwords: ContextGraph | None = None) -> FrameTopK:
        """What :meth:`CTCDecoder.decode` needs of (T, V) log-probs with the per-call ``hotwords`` (top-1 by
        ``max`` for greedy, as ``argmax``, so a greedy utterance of an ``"auto"`` decoder is exactly
        ``method="greedy"``'s)."""
        k = self.topk(hotwords)
        return FrameTopK.best(log_probs) if k == 1 else FrameTopK.from_log_probs(log_probs, k)


class CTCDecoder:
    """Decodes utterances with fixed options; thread-compatible (no state kept between calls)."""

    def __init__(self, tokenizer: Tokenizer, options: DecodeOptions | None = None) -> None:
        self.tok = tokenizer
        self.opts = options or DecodeOptions()
        self.lm_search = self._lm_search()

    def _lm_search(self) -> FlashlightLMSearch | None:
        """flashlight's search for LM-only beam searches (None: ours), as ``LMFusion.search`` says; never with
        the options' hotwords, which only our search takes."""
        lm = self.opts.lm
        if lm is None or lm.search == "ours" or self.opts.method == "greedy" or self.opts.hotwords is not None:
            return None
        if lm.search == "auto" and unusable(self.tok.tokens, lm) is not None:
            return None
        return FlashlightLMSearch(self.tok.tokens, self.tok.blank_id, lm, self.opts.beam)

    @property
    def lm_search_name(self) -> str:
        """``"flashlight"`` or ``"ours"``: which search runs this decoder's LM (per-call hotwords: always ours)."""
        return "ours" if self.lm_search is None else "flashlight"

    def with_options(self, **changes: object) -> CTCDecoder:
        """A decoder with some options replaced (``dataclasses.replace``)."""
        return CTCDecoder(self.tok, replace(self.opts, **changes))

    def decode(self, log_probs: torch.Tensor | FrameTopK, hotwords: ContextGraph | None = None,
               offset: float = 0.0, fbank: torch.Tensor | None = None) -> Hypothesis:
        """Decodes one utterance's (T, V) CTC log-probs (or their top-k); ``offset`` (s) is added to times;
        ``fbank``: the (T', 80) features the log-probs were computed from, for word boundaries from the audio."""
        self.opts.check_hotwords(hotwords)
        graph = hotwords if hotwords is not None else self.opts.hotwords
        frames = log_probs if isinstance(log_probs, FrameTopK) else self.opts.frames(log_probs, graph)
        need = min(self.opts.topk(graph), frames.vocab)
        if frames.k < need:  # e.g. greedy top-1 frames given to a hotword search: it would silently stay greedy
            raise ValueError(f"this search needs the top {need} entries of every frame, got {frames.k} "
                             f"(make them with DecodeOptions.frames(log_probs, hotwords))")
        if len(frames) == 0:
            return Hypothesis("", [], [], 0.0, 0.0)
        if self.opts.search(graph) == "greedy":
            tokens, path = greedy_path(frames.ids[:, 0].tolist(), self.tok.blank_id)
            return self.finish(frames, tokens, float(frames.values[:, 0].double().sum()), offset, path, fbank)
        if graph is None and self.lm_search is not None:
            tokens, score = self.lm_search.search(frames)
            return self.finish(frames, tokens, score, offset, fbank=fbank)
        scorer = PrefixScorer(self.tok.tokens, graph, self.opts.lm)
        nbest = prefix_beam_search(frames, self.opts.beam, self.tok.blank_id, self.opts.prune_topk, scorer=scorer)
        tokens, score = nbest[0] if nbest else ([], -math.inf)
        return self.finish(frames, tokens, score, offset, fbank=fbank)

    def decode_long(self, frames: FrameTopK, hotwords: ContextGraph | None = None, offset: float = 0.0,
                    max_frames: int = 7500, min_pause: int = 3, fbank: torch.Tensor | None = None) -> Hypothesis:
        """:meth:`decode` of a long utterance in pieces of at most ``max_frames`` (600 s), cut in the middle
        of pauses (runs of >= ``min_pause`` frames whose best entry is blank) where there are any.

        Greedy results equal :meth:`decode`'s (the cuts fall on blank frames); beam results may differ
        slightly, as the search restarts at each cut. Bounds the alignment's memory (:func:`ctc_align`).
        """
        if len(frames) <= max_frames:
            return self.decode(frames, hotwords, offset, fbank)
        tokens: list[int] = []
        path: list[int] = []
        score = 0.0
        for a, b in pause_cuts(frames.ids[:, 0].tolist(), max_frames, min_pause, self.tok.blank_id):
            h = self.decode(FrameTopK(frames.values[a:b], frames.ids[a:b], frames.vocab), hotwords)
            path += [k + len(tokens) if k >= 0 else -1 for k in h.path]
            tokens += h.tokens
            score += h.score
        # times and confidences over the whole utterance: a word is not cut where a piece ends
        return self.finish(frames, tokens, score, offset, path, fbank)

    def finish(self, frames: FrameTopK | torch.Tensor, tokens: list[int], score: float = 0.0,
               offset: float = 0.0, path: list[int] | None = None, fbank: torch.Tensor | None = None
               ) -> Hypothesis:
        """Times and confidences of a given token sequence (e.g. a hypothesis from another decoder, or a
        reference: forced alignment); ``path`` skips the alignment when the caller has it; ``fbank`` as in
        :meth:`decode`."""
        blank = self.tok.blank_id
        if path is None:
            path = ctc_align(frames, tokens, blank)
        post = path_log_probs(frames, tokens, path, blank)
        words = self._words(tokens, path, post, offset, fbank)
        # no words: how sure the model is of silence
        conf = sum(w.conf for w in words) / len(words) if words else _mean_exp(post)
        return Hypothesis(self.tok.decode(tokens), list(tokens), words, conf, score, list(path))

    def _words(self, tokens: list[int], path: list[int], post: list[float], offset: float,
               fbank: torch.Tensor | None) -> list[Word]:
        """Tokens grouped into words (a ``▁`` token starts one), with times and confidences."""
        spans = token_spans(path, len(tokens))
        conf = [0.0] * len(tokens)  # mean posterior of each token over its (contiguous) emitting frames
        for t, k in enumerate(path):
            if k >= 0:
                conf[k] += min(1.0, math.exp(post[t])) / (spans[k][1] - spans[k][0] + 1)
        groups: list[list[int]] = []
        for k, t in enumerate(tokens):
            if not groups or self.tok.tokens[t].startswith(WORD_START):
                groups.append([])
            groups[-1].append(k)
        groups = [g for g in groups if self.tok.decode([tokens[k] for k in g])]
        times = None
        if fbank is not None and groups:
            anchors = [spans[g[0]][0] * OUTPUT_FRAME_SECONDS + OUTPUT_FRAME_CENTRE_SECONDS for g in groups]
            times = word_boundaries(fbank, anchors, self.opts.word_times)
        if times is None:
            times = self._spike_times(groups, spans, len(path))
        return [Word(self.tok.decode([tokens[k] for k in g]), offset + a, offset + b, min(conf[k] for k in g))
                for g, (a, b) in zip(groups, times, strict=True)]

    def _spike_times(self, groups: list[list[int]], spans: list[tuple[int, int]], frames: int
                     ) -> list[tuple[float, float]]:
        """Word times from the emitting frames alone: from the first one to the next word's (at most
        ``max_word_frames`` past the last one), frames stamped at the centre of their receptive field."""
        cap = self.opts.max_word_frames
        out = []
        for i, g in enumerate(groups):
            first, last = spans[g[0]][0], spans[g[-1]][1]
            nxt = spans[groups[i + 1][0]][0] if i + 1 < len(groups) else frames
            out.append((output_frame_start(first), output_frame_start(min(nxt, last + 1 + cap))))
        return out


def pause_cuts(ids: list[int], max_frames: int, min_pause: int = 3, blank: int = 0) -> list[tuple[int, int]]:
    """``[(start, end)]`` frame ranges covering ``ids`` (per-frame best ids), each at most ``max_frames`` long,
    cut in the middle of runs of >= ``min_pause`` blanks; a stretch with no such run is cut at ``max_frames``."""
    if max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    cuts, run = [], 0
    for t, i in enumerate(ids):
        run = run + 1 if i == blank else 0
        if run and (t + 1 == len(ids) or ids[t + 1] != blank) and run >= min_pause:
            cuts.append(t + 1 - run // 2 - run % 2)  # the middle frame of the run starts the next piece
    out, start, best = [], 0, None
    for c in [*cuts, len(ids)]:
        while c - start > max_frames:
            end = best if best is not None and best > start else start + max_frames
            out.append((start, end))
            start, best = end, None
        best = c
    if start < len(ids):
        out.append((start, len(ids)))
    return out


def _mean_exp(logs: list[float]) -> float:
    """Mean of ``exp(x)`` (each at most 1); 1.0 for no values."""
    return sum(min(1.0, math.exp(x)) for x in logs) / len(logs) if logs else 1.0
