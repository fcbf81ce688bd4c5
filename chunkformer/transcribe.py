"""Transcribe audio files of any rate and length with a ChunkFormer checkpoint (CTC, masked batch).

    python -m chunkformer.transcribe --model PATH [--vocab F] [--context L,C,R] [--channel N] [--jsonl OUT]
        [--int8] [--hotwords FILE [--hotword-score S]] [--lm FILE --lm-weight W [--lm-bonus B] [--lm-search S]]
        [--beam N] WAV...

Prints ``path<TAB>text`` per file, in input order. Short files are decoded together in masked batches
(``--batch-seconds`` of audio per batch, like the official ``total_batch_duration``); files longer than
``--segment-seconds`` are decoded alone in cached segments, so memory stays bounded for hour-long calls.
``--jsonl`` also writes, per file, its ``words`` (``word``, ``start``, ``end`` in seconds, ``conf``; boundaries
from the audio's loudness in the CTC alignment's order), segments (runs of words split at pauses of
≥ ``--max-silence`` seconds between them, with start/end in seconds) and the file's ``confidence`` (in [0, 1]);
docs/DECODING.md defines them. ``--hotwords FILE`` (one
phrase per line, optionally ``<TAB>score``) biases a CTC prefix beam search towards those phrases (names,
products, addresses of the call); ``--lm FILE`` fuses a word n-gram LM into that beam search (weight and word
bonus as stage 5 tuned them, ``<exp>/lm_fusion.json``); without either, decoding is greedy, as the official
decoder.
``--channel N`` (0-based, as lhotse counts) transcribes one channel of multi-channel files (e.g. the customer
side of a stereo call); without it their channels are averaged, with one warning. ``--int8`` runs the model's
matrix products in int8 on the CPU (:mod:`chunkformer.model.quantize`).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import torch
from tqdm import tqdm

from chunkformer.audio import MODEL_RATE, AudioError, decode_audio
from chunkformer.checkpoint import CheckpointError, add_model_arguments, int8_backend_arg, load_model
from chunkformer.decoding import ContextGraph, CTCDecoder, DecodeOptions, FrameTopK, Hypothesis, LMError, Word
from chunkformer.decoding.fusion import add_lm_arguments, lm_fusion_from_args
from chunkformer.decoding.hotwords import DEFAULT_SCORE, load_hotword_graph
from chunkformer.frontend import FRAMES_PER_SECOND, fbank, load_features
from chunkformer.model import ChunkFormerModel
from chunkformer.model.masked_batch import Context
from chunkformer.model.quantize import QuantizationError, quantize_int8
from chunkformer.model.subsampling import OUTPUT_FRAME_SECONDS, RECEPTIVE_FIELD
from chunkformer.tokenizer import Tokenizer
from chunkformer.utils.cli import error
from chunkformer.utils.logs import setup_logger

log = logging.getLogger("chunkformer.transcribe")


@dataclass
class Transcript:
    path: str
    text: str
    segments: list[dict] = field(default_factory=list)
    error: str | None = None
    hypothesis: Hypothesis | None = None  # words with times and confidences

    def record(self) -> dict:
        """The ``--jsonl`` object: path, text, segments, confidence, words."""
        rec = {"path": self.path, "text": self.text, "segments": self.segments}
        if self.hypothesis is not None:
            d = self.hypothesis.to_dict()
            rec.update(confidence=d["confidence"], words=d["words"])
        return rec


def split_at_pauses(words: list[Word], max_silence: float) -> list[dict]:
    """Words → JSONL segments ``{"start", "end", "text"}`` (s): a new segment after a pause of at least
    ``max_silence`` seconds between one word's end and the next one's start, so segments agree with the
    word times."""
    runs: list[list[Word]] = []
    for w in words:
        if not runs or w.start - runs[-1][-1].end >= max_silence - 1e-9:  # times are float sums
            runs.append([])
        runs[-1].append(w)
    return [{"start": round(r[0].start, 2), "end": round(r[-1].end, 2), "text": " ".join(w.word for w in r)}
            for r in runs]


class Transcriber:
    """CTC transcription (greedy, or beam search with hotwords: ``options``, or per call
    ``transcribe(paths, hotwords=...)``) with masked batching and segmented long-form decoding."""

    def __init__(self, model: ChunkFormerModel, tokenizer: Tokenizer, context: Context = Context.DEFAULT,
                 batch_seconds: float = 1800.0, segment_seconds: float = 600.0, max_silence: float = 0.5,
                 channel: int | None = None, options: DecodeOptions | None = None) -> None:
        self.model = model.eval()
        self.decoder = CTCDecoder(tokenizer, options or DecodeOptions())  # "auto": greedy unless hotwords
        self.channel = channel
        self._downmix_warned = False
        self.tok = tokenizer
        self.ctx = context
        self.batch_frames = int(batch_seconds * FRAMES_PER_SECOND)
        # segments hold a whole number of chunks
        self.segment_frames = max(1, int(segment_seconds / OUTPUT_FRAME_SECONDS) // context.chunk) * context.chunk
        self.long_frames = int(segment_seconds * FRAMES_PER_SECOND)
        self.max_silence = max_silence

    def _downmixed(self, path: Path, channels: int) -> None:
        """Warns once per run that multi-channel audio was averaged (two speakers in one transcript)."""
        if not self._downmix_warned:
            log.warning("%s has %d channels: averaged into one (both speakers of a call in one transcript); "
                        "pass --channel N (0-based) to transcribe one channel. Not repeated for other files.",
                        path, channels)
            self._downmix_warned = True

    def _features(self, path: str) -> torch.Tensor:
        """(T, 80) fbank of an audio file, or of the audio bytes on standard input for ``-``
        (``espeak-ng -v vi --stdout "..." | python -m chunkformer.transcribe --model M -``)."""
        if path == "-":
            x, rate = decode_audio(sys.stdin.buffer.read(), "<stdin>", MODEL_RATE, self.channel,
                                   on_downmix=self._downmixed)
            return fbank(x, rate)
        return load_features(path, self.channel, self._downmixed, whole=True)  # a file cut short: an error

    def _frames(self, feats: list[torch.Tensor], hotwords: ContextGraph | None) -> list[FrameTopK]:
        return [self.decoder.opts.frames(lp, hotwords) for lp in self.model.ctc_log_probs(feats, self.ctx)]

    def _long_frames(self, feats: torch.Tensor, hotwords: ContextGraph | None) -> FrameTopK:
        # keep the top-k only (k = 1 for greedy): full log-probs of an hour would need GBs
        return FrameTopK.cat([self.decoder.opts.frames(lp, hotwords) for lp in
                              self.model.long_segments(feats.to(self.model.device), self.ctx, self.segment_frames)])

    def _result(self, path: str, frames: FrameTopK, hotwords: ContextGraph | None, feats: torch.Tensor
                ) -> Transcript:
        hyp = self.decoder.decode_long(frames, hotwords, max_frames=self.segment_frames, fbank=feats)
        return Transcript(path, hyp.text, split_at_pauses(hyp.words, self.max_silence), hypothesis=hyp)

    def transcribe(self, paths: list[str], progress: bool = True, hotwords: ContextGraph | None = None
                   ) -> Iterator[Transcript]:
        """Yields one :class:`Transcript` per path, in order; unreadable files yield one with ``error`` set.
        ``hotwords`` (:func:`chunkformer.decoding.build_hotwords`'s ``graph``) bias this call's files with the
        beam search instead of the options' list, so one Transcriber serves calls with different lists;
        ValueError if the options force ``method="greedy"``."""
        self.decoder.opts.check_hotwords(hotwords)  # before any file is read
        pending: list[tuple[str, torch.Tensor]] = []
        budget = 0

        def flush() -> Iterator[Transcript]:
            if pending:
                frames = self._frames([f for _, f in pending], hotwords)
                for (p, feats), fr in zip(pending, frames, strict=True):
                    yield self._result(p, fr, hotwords, feats)
                pending.clear()

        for path in tqdm(paths, desc="transcribe", unit="file", disable=not progress, file=sys.stderr):
            try:
                feats = self._features(path)
            except AudioError as e:
                yield from flush()
                budget = 0
                yield Transcript(path, "", error=str(e))
                continue
            if feats.shape[0] < RECEPTIVE_FIELD:
                yield from flush()
                budget = 0
                yield Transcript(path, "", error=f"{path}: shorter than 0.16 s, nothing to decode")
                continue
            if feats.shape[0] > self.long_frames:
                yield from flush()
                budget = 0
                yield self._result(path, self._long_frames(feats, hotwords), hotwords, feats)
                continue
            pending.append((path, feats))
            budget += feats.shape[0]
            if budget >= self.batch_frames:
                yield from flush()
                budget = 0
        yield from flush()


def decode_options(a: argparse.Namespace, tokenizer: Tokenizer) -> DecodeOptions:
    """Greedy, or beam search biased by ``--hotwords`` and/or fused with ``--lm`` ("auto"; rejected phrases are
    warned about; ValueError or LMError when no phrase is usable, an option is wrong or the LM unreadable)."""
    if a.hotwords is None and a.hotword_score is not None:  # before the LM, which may take a while to load
        raise ValueError("--hotword-score needs --hotwords FILE")
    lm = lm_fusion_from_args(a)
    graph = None if a.hotwords is None else load_hotword_graph(a.hotwords, tokenizer, a.hotword_score, log.warning)
    return DecodeOptions(beam=a.beam, hotwords=graph, lm=lm)


def check_lengths(a: argparse.Namespace) -> None:
    """ValueError naming ``--batch-seconds`` or ``--segment-seconds`` when it is NaN or infinite (they become
    frame counts)."""
    for flag, value in (("--batch-seconds", a.batch_seconds), ("--segment-seconds", a.segment_seconds)):
        if not math.isfinite(value):
            raise ValueError(f"{flag} must be a finite number of seconds, got {value}")


def open_jsonl(path: str | None) -> IO[str] | nullcontext[None]:
    """The ``--jsonl`` file opened for writing, or a no-op context without the option (OSError when it cannot
    be written: a missing folder, a folder, no permission)."""
    if path is None:
        return nullcontext()
    return open(path, "w", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m chunkformer.transcribe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(p)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-seconds", type=float, default=1800.0, help="audio per masked batch")
    p.add_argument("--segment-seconds", type=float, default=600.0, help="longer files are decoded in segments")
    p.add_argument("--max-silence", type=float, default=0.5, help="pause that splits JSONL segments (s)")
    p.add_argument("--jsonl", help="also write one JSON object per file: text, timestamped segments, confidence, "
                   "words with start/end times (s) and confidences")
    p.add_argument("--hotwords", metavar="FILE",
                   help="phrases to favour (one per line, optionally <TAB>per-token score; # comments): switches "
                        "to beam search")
    p.add_argument("--hotword-score", type=float, default=None,
                   help=f"bonus per hotword token, natural log (default {DEFAULT_SCORE})")
    p.add_argument("--beam", type=int, default=10, help="beam size of the beam search (hotwords, LM)")
    add_lm_arguments(p)
    p.add_argument("--channel", type=int, default=None,
                   help="channel of multi-channel files, 0-based (default: average them, with a warning)")
    p.add_argument("wavs", nargs="+", help="audio files; - reads one file's bytes from standard input")
    a = p.parse_args(argv)
    setup_logger(None, level=logging.WARNING)
    if a.threads:
        torch.set_num_threads(a.threads)
    try:
        check_lengths(a)
        loaded = load_model(a.model, vocab=a.vocab, cmvn=a.cmvn)
        ctx = Context.parse(a.context)
        backend = int8_backend_arg(a)
        if a.int8:
            if a.device != "cpu":
                raise ValueError(f"--int8 runs on the CPU only; pass --device cpu (got {a.device})")
            quantize_int8(loaded.model, backend=backend)
        options = decode_options(a, loaded.tokenizer)
    except (CheckpointError, QuantizationError, LMError, ValueError, FileNotFoundError) as e:
        return error(e)
    model = loaded.model.to(a.device)
    tr = Transcriber(model, loaded.tokenizer, ctx, a.batch_seconds, a.segment_seconds, a.max_silence, a.channel,
                     options)
    try:
        jsonl = open_jsonl(a.jsonl)
    except OSError as e:
        return error(f"--jsonl {a.jsonl}: cannot write ({e.strerror})")
    failed = 0
    with jsonl as out:
        for t in tr.transcribe(a.wavs):
            if t.error:
                failed += 1
                error(t.error)
                continue
            print(f"{t.path}\t{t.text}", flush=True)
            if out:
                out.write(json.dumps(t.record(), ensure_ascii=False) + "\n")
    if failed:
        return error(f"{failed} of {len(a.wavs)} files could not be transcribed (see above)", code=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
