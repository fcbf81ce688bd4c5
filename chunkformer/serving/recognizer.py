"""What the server does with a request's audio: decode and check it, fbank, and greedy CTC over a masked batch.

:meth:`Recognizer.prepare` runs per request on a worker thread (any format and rate via
:func:`chunkformer.audio.decode_audio`, header checks before decoding, 16 kHz fbank). :meth:`Recognizer.run_batch`
runs on the batcher's thread: one ``ChunkFormerModel.ctc_log_probs`` call over all utterances of the batch,
then greedy search per utterance, exactly what ``python -m chunkformer.transcribe`` does for a batch of files.

Per-request decoding options (:class:`DecodeOptions`) travel with each utterance through the batch, so options
that only change the search (hotwords, word times) do not split batches. Hotword biasing needs a decoder that
supports it; until ``chunkformer.decoding`` offers one, a request with hotwords is refused (400), not ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from chunkformer.audio import MODEL_RATE, decode_audio
from chunkformer.decoding.ctc_search import collapse
from chunkformer.frontend import FRAMES_PER_SECOND, fbank
from chunkformer.model import ChunkFormerModel
from chunkformer.model.masked_batch import Context
from chunkformer.model.subsampling import RECEPTIVE_FIELD
from chunkformer.tokenizer import Tokenizer


class OptionError(ValueError):
    """A request option the server cannot honour (the message names it)."""


@dataclass(frozen=True)
class DecodeOptions:
    """Per-request options. ``channel``: 0-based channel of a multi-channel file (default: average them);
    ``hotwords``: phrases to bias the search towards (refused until the decoder supports them)."""

    channel: int | None = None
    hotwords: tuple[str, ...] = ()


@dataclass
class Utterance:
    """One request's audio, ready for the model."""

    feats: torch.Tensor  # (T, 80) fbank at 16 kHz
    seconds: float
    options: DecodeOptions
    warnings: list[str] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return int(self.feats.shape[0])

    @property
    def decodable(self) -> bool:
        """False for audio shorter than the model's receptive field (0.16 s): its transcript is empty."""
        return self.frames >= RECEPTIVE_FIELD


class Recognizer:
    """A loaded model with its tokenizer and context, serving :class:`Utterance` batches."""

    supports_hotwords = False

    def __init__(self, model: ChunkFormerModel, tokenizer: Tokenizer, context: Context = Context.DEFAULT) -> None:
        self.model = model.eval()
        self.tok = tokenizer
        self.ctx = context

    def prepare(self, data: bytes, name: str, options: DecodeOptions, max_seconds: float | None = None
                ) -> Utterance:
        """Request bytes → :class:`Utterance`; raises ``AudioError`` (``AudioTooLong`` past ``max_seconds``,
        found from the header when it says so) or :class:`OptionError`. The limit is the caller's (the
        server's settings), so that one setting governs it."""
        if options.hotwords and not self.supports_hotwords:
            raise OptionError("hotwords: this server's decoder does not support hotword biasing yet")
        warnings: list[str] = []

        def downmixed(_path: object, channels: int) -> None:
            warnings.append(f"{channels} channels averaged into one; pass channel=N (0-based) for one speaker")

        x, rate = decode_audio(data, name, MODEL_RATE, options.channel, max_seconds, downmixed)
        return Utterance(fbank(x, rate), len(x) / rate, options, warnings)

    def run_batch(self, utts: list[Utterance]) -> list[dict]:
        """One masked batch over every decodable utterance → ``{"text": …}`` per utterance, in order."""
        idx = [i for i, u in enumerate(utts) if u.decodable]
        texts = [""] * len(utts)
        if idx:
            log_probs = self.model.ctc_log_probs([utts[i].feats for i in idx], self.ctx)
            for i, lp in zip(idx, log_probs):
                texts[i] = self.tok.decode(collapse(lp.argmax(-1).tolist()))
        return [{"text": t} for t in texts]

    def warm_up(self) -> None:
        """One small batch, so that the first request does not pay for lazy initialisation."""
        feats = torch.zeros(int(FRAMES_PER_SECOND), 80) + torch.linspace(0.0, 1.0, 80)
        self.run_batch([Utterance(feats, 1.0, DecodeOptions())])
