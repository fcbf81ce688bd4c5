"""What the server does with a request's audio: decode and check it, fbank, and CTC search over a masked batch.

:meth:`Recognizer.prepare` runs per request on a worker thread (any format and rate via
:func:`chunkformer.audio.decode_audio`, header checks before decoding, 16 kHz fbank, the request's hotword list
normalised, spelled and compiled). :meth:`Recognizer.run_batch` runs on the batcher's thread: one
``ChunkFormerModel.ctc_log_probs`` call over all utterances of the batch (packed end to end), then each
utterance's own search with :class:`chunkformer.decoding.CTCDecoder` ("auto": greedy, or the beam search for a
request that brought a hotword list, and for every request when the recognizer has an n-gram LM; word
boundaries from the request's fbank), and its answer from :meth:`chunkformer.decoding.Hypothesis.to_dict`, the
code behind
``python -m chunkformer.transcribe --jsonl``: ``{"text", "confidence", "words": [{"word", "start", "end",
"conf"}]}``.

Per-request options (:class:`RequestOptions`) travel with each utterance through the batch, so options that
only change the search (hotwords) do not split batches, and the other utterances of a batch get exactly the
answer they get without a biased neighbour.

Python use, without the HTTP server (one call turn, per-request hotwords)::

    rec = Recognizer(loaded.model, loaded.tokenizer)
    utt = rec.prepare(wav_bytes, "turn.wav", RequestOptions(hotwords=("Nguyễn Văn An", "tai nghe")))
    answer = rec.run_batch([utt])[0]   # {"text", "confidence", "words", "hotwords": {"phrases", "rejected"}}
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from chunkformer.audio import MODEL_RATE, decode_audio
from chunkformer.decoding import CTCDecoder, DecodeOptions, HotwordList, Hypothesis, LMFusion, build_hotwords
from chunkformer.decoding.hotwords import DEFAULT_SCORE, phrase_normalizer
from chunkformer.frontend import FRAMES_PER_SECOND, NUM_MEL_BINS, fbank
from chunkformer.model import ChunkFormerModel
from chunkformer.model.masked_batch import Context
from chunkformer.model.subsampling import RECEPTIVE_FIELD
from chunkformer.tokenizer import Tokenizer

SHOWN_REJECTED = 3  # rejected phrases named in the one-line error of a list with no usable phrase


class OptionError(ValueError):
    """A request option the server cannot honour (the message names it)."""


@dataclass(frozen=True)
class RequestOptions:
    """Per-request options. ``channel``: 0-based channel of a multi-channel file (default: average them);
    ``hotwords``: phrases to bias this request's search towards (beam search; none: greedy);
    ``hotword_score``: their per-token bonus (None: the recognizer's)."""

    channel: int | None = None
    hotwords: tuple[str, ...] = ()
    hotword_score: float | None = None


@dataclass
class Utterance:
    """One request's audio, ready for the model, with its compiled hotword list (None: greedy)."""

    feats: torch.Tensor  # (T, 80) fbank at 16 kHz
    seconds: float
    options: RequestOptions
    warnings: list[str] = field(default_factory=list)
    hotwords: HotwordList | None = None

    @property
    def frames(self) -> int:
        return int(self.feats.shape[0])

    @property
    def decodable(self) -> bool:
        """False for audio shorter than the model's receptive field (0.16 s): its transcript is empty."""
        return self.frames >= RECEPTIVE_FIELD


class Recognizer:
    """A loaded model with its tokenizer, context and decoder, serving :class:`Utterance` batches.

    ``beam``: beam size of the beam search; ``hotword_score``: default per-token bonus (natural log); ``lm``: an
    n-gram LM fused into the search of every request (which then is the beam search)."""

    def __init__(self, model: ChunkFormerModel, tokenizer: Tokenizer, context: Context = Context.DEFAULT,
                 beam: int = 10, hotword_score: float = DEFAULT_SCORE, lm: LMFusion | None = None) -> None:
        self.model = model.eval()
        self.tok = tokenizer
        self.ctx = context
        self.decoder = CTCDecoder(tokenizer, DecodeOptions(beam=beam, lm=lm))  # "auto": greedy unless hotwords/LM
        self.hotword_score = hotword_score
        self._normalizer = phrase_normalizer(tokenizer)  # built once: it holds the vocabulary's word set
        build_hotwords([], tokenizer, hotword_score)  # checks the score now, not at the first request

    def prepare(self, data: bytes, name: str, options: RequestOptions, max_seconds: float | None = None
                ) -> Utterance:
        """Request bytes → :class:`Utterance`; raises ``AudioError`` (``AudioTooLong`` past ``max_seconds``,
        found from the header when it says so) or :class:`OptionError` (a hotword list with no usable phrase,
        a bad score). The limit is the caller's (the server's settings), so that one setting governs it."""
        hotwords = self.hotwords(options) if options.hotwords else None
        warnings: list[str] = []

        def downmixed(_path: object, channels: int) -> None:
            warnings.append(f"{channels} channels averaged into one; pass channel=N (0-based) for one speaker")

        x, rate = decode_audio(data, name, MODEL_RATE, options.channel, max_seconds, downmixed)
        if hotwords is not None and hotwords.rejected:
            warnings.append(f"{len(hotwords.rejected)} of {len(options.hotwords)} hotwords ignored "
                            "(see hotwords.rejected)")
        return Utterance(fbank(x, rate), len(x) / rate, options, warnings, hotwords)

    def hotwords(self, options: RequestOptions) -> HotwordList:
        """The request's phrases normalised, spelled and compiled; :class:`OptionError` when none is usable
        (the first rejected ones and their reasons in one line) or the score is not in (0, MAX_SCORE]."""
        score = self.hotword_score if options.hotword_score is None else options.hotword_score
        try:
            hot = build_hotwords(options.hotwords, self.tok, score, self._normalizer)
        except ValueError as e:  # the score
            raise OptionError(str(e)) from None
        if hot.graph is None:
            shown = "; ".join(f"{p!r}: {why}" for p, why in hot.rejected[:SHOWN_REJECTED])
            more = f"; and {len(hot.rejected) - SHOWN_REJECTED} more" if len(hot.rejected) > SHOWN_REJECTED else ""
            raise OptionError(f"hotwords: no usable phrase ({shown}{more})")
        return hot

    def run_batch(self, utts: list[Utterance]) -> list[dict]:
        """One batch (``ctc_log_probs``) over every decodable utterance → :meth:`answer` per utterance, in order."""
        idx = [i for i, u in enumerate(utts) if u.decodable]
        log_probs: list[torch.Tensor | None] = [None] * len(utts)
        if idx:
            for i, lp in zip(idx, self.model.ctc_log_probs([utts[i].feats for i in idx], self.ctx)):
                log_probs[i] = lp
        return [self.answer(u, lp) for u, lp in zip(utts, log_probs)]

    def answer(self, utt: Utterance, log_probs: torch.Tensor | None = None) -> dict:
        """``{"text", "confidence", "words"}`` (what ``transcribe --jsonl`` writes, seconds), plus
        ``"hotwords": {"phrases": [normalised, kept], "rejected": [{"phrase", "reason"}]}`` when the request
        brought a list. No log-probs (audio too short for the model): empty text, confidence 0."""
        graph = utt.hotwords.graph if utt.hotwords is not None else None
        hyp = (self.decoder.decode(log_probs, hotwords=graph, fbank=utt.feats) if log_probs is not None
               else Hypothesis("", [], confidence=0.0))
        out = hyp.to_dict()
        if utt.hotwords is not None:
            out["hotwords"] = {"phrases": utt.hotwords.phrases,
                               "rejected": [{"phrase": p, "reason": why} for p, why in utt.hotwords.rejected]}
        return out

    def warm_up(self) -> None:
        """One small batch, so that the first request does not pay for lazy initialisation."""
        feats = torch.zeros(int(FRAMES_PER_SECOND), NUM_MEL_BINS) + torch.linspace(0.0, 1.0, NUM_MEL_BINS)
        self.run_batch([Utterance(feats, 1.0, RequestOptions())])
