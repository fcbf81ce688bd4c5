"""Serve a ChunkFormer checkpoint over HTTP with dynamic batching (FastAPI + uvicorn).

    python -m chunkformer.serve --model PATH [--host 127.0.0.1] [--port 8000] [--int8] [--threads N]
        [--batch-window-ms 30] [--max-batch 8] [--max-batch-seconds 300] [--no-batching] [--batch-workers 0]
        [--max-body-mb 16] [--max-seconds 60] [--max-pending 256] [--context L,C,R]
        [--beam 10] [--hotword-score 2.0] [--max-hotwords 256] [--max-hotword-chars 100]
        [--lm FILE --lm-weight W [--lm-bonus B] [--lm-search auto]]
        [--malloc-arenas 0] [--trim-interval 1]

    curl -s --data-binary @turn.wav http://127.0.0.1:8000/transcribe          # raw bytes, any format/rate
    curl -s -F file=@turn.mp3 'http://127.0.0.1:8000/transcribe?channel=1'    # multipart, channel 1 of a call
    curl -s -F file=@turn.wav -F 'hotwords=Nguyễn Văn An,tai nghe' http://127.0.0.1:8000/transcribe  # biased
    curl -s http://127.0.0.1:8000/health

Requests arriving within ``--batch-window-ms`` of each other (or until ``--max-batch-seconds`` of audio or
``--max-batch`` requests) are decoded in one batch; ``--no-batching`` decodes one request per forward
pass. ``--batch-workers`` batches run at once (default: 2 when ``--threads``, or torch's default, is 2 or more),
sharing the ``--threads`` between them: while one worker is in Python (search, word times), the other keeps the
cores on the model. A request with ``hotwords`` is decoded with the hotword beam search (``--beam``,
``--hotword-score``) in the same batch as the others, which stay greedy; with ``--lm`` every request is decoded
by the beam search fused with that n-gram LM (weight and word bonus as stage 5 tuned them,
``<exp>/lm_fusion.json``). SIGTERM or Ctrl-C stops accepting connections, finishes the requests in flight (up to
``--shutdown-timeout`` seconds), then exits 0. API, errors and measurements: docs/SERVING.md.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from types import FrameType

import torch
import uvicorn

from chunkformer.checkpoint import CheckpointError, add_model_arguments, int8_backend_arg, load_model
from chunkformer.decoding import LMError
from chunkformer.decoding.fusion import add_lm_arguments, lm_fusion_from_args
from chunkformer.decoding.hotwords import DEFAULT_SCORE
from chunkformer.model.masked_batch import Context
from chunkformer.model.quantize import QuantizationError, int8_backend, quantize_int8
from chunkformer.serving.app import ServerSettings, create_app
from chunkformer.serving.memory import DEFAULT_ARENAS, limit_arenas
from chunkformer.serving.recognizer import Recognizer
from chunkformer.utils.cli import error
from chunkformer.utils.logs import setup_logger

log = logging.getLogger("chunkformer.serve")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m chunkformer.serve", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--batch-window-ms", type=float, default=30.0, help="how long a batch waits for company")
    p.add_argument("--max-batch", type=int, default=ServerSettings.max_batch,
                   help="requests per batch (default %(default)s: see ServerSettings)")
    p.add_argument("--max-batch-seconds", type=float, default=300.0, help="audio per batch (frame budget)")
    p.add_argument("--no-batching", action="store_true", help="one request per forward pass")
    p.add_argument("--max-body-mb", type=float, default=16.0, help="largest request body (413 beyond)")
    p.add_argument("--max-seconds", type=float, default=60.0, help="longest audio (413 beyond, from the header)")
    p.add_argument("--max-pending", type=int, default=256, help="requests in the server at once (503 beyond)")
    p.add_argument("--prep-threads", type=int, default=2, help="threads that decode audio and compute fbank")
    p.add_argument("--batch-workers", type=int, default=0,
                   help="batches decoded at once, each on its own thread; --threads is split between them (0: auto, "
                        "2 when there are 2 or more threads, else 1: on 2 cores two 1-thread workers answered "
                        "13-55 %% more audio at saturation than one 2-thread worker, docs/BENCHMARKS.md)")
    p.add_argument("--shutdown-timeout", type=float, default=30.0, help="seconds to finish requests on SIGTERM")
    p.add_argument("--beam", type=int, default=10, help="beam size of the beam search (hotwords, LM)")
    p.add_argument("--hotword-score", type=float, default=DEFAULT_SCORE,
                   help="default per-token hotword bonus, natural log (a request's hotword_score overrides it)")
    p.add_argument("--max-hotwords", type=int, default=256, help="hotword phrases per request (413 beyond)")
    p.add_argument("--max-hotword-chars", type=int, default=100, help="characters per hotword phrase (400 beyond)")
    add_lm_arguments(p)
    p.add_argument("--malloc-arenas", type=int, default=DEFAULT_ARENAS,
                   help="glibc malloc arenas (0: glibc's default, 8 per core); fewer hold less memory but make "
                        "threads wait for each other (docs/BENCHMARKS.md, Soak)")
    p.add_argument("--trim-interval", type=float, default=1.0,
                   help="seconds between hand-backs of freed memory to the system while idle (0: never)")
    p.add_argument("--access-log", action="store_true", help="log every request")
    return p.parse_args(argv)


def settings_from(a: argparse.Namespace) -> ServerSettings:
    """The command line's limits → :class:`ServerSettings`; ValueError (one line) for a bad value."""
    if a.malloc_arenas < 0:  # a process setting; every other limit is checked by ServerSettings
        raise ValueError(f"--malloc-arenas must not be negative, got {a.malloc_arenas}")
    if a.threads < 0 or a.batch_workers < 0:
        raise ValueError(f"--threads and --batch-workers must not be negative (0: auto), got {a.threads} and "
                         f"{a.batch_workers}")
    threads = a.threads or torch.get_num_threads()
    workers = a.batch_workers or (2 if threads >= 2 else 1)
    return ServerSettings(
        max_body_bytes=int(a.max_body_mb * (1 << 20)), max_seconds=a.max_seconds,
        window=0.0 if a.no_batching else a.batch_window_ms / 1000, max_batch=1 if a.no_batching else a.max_batch,
        max_batch_seconds=a.max_batch_seconds, max_pending=a.max_pending, prep_threads=a.prep_threads,
        batch_workers=workers, model_threads=max(1, threads // workers),
        max_hotwords=a.max_hotwords, max_hotword_chars=a.max_hotword_chars, trim_interval=a.trim_interval)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, telling the app to refuse new requests (503) as soon as a stop signal arrives."""

    def __init__(self, config: uvicorn.Config, app_state: object) -> None:
        super().__init__(config)
        self._app_state = app_state

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._app_state.draining = True  # type: ignore[attr-defined]
        super().handle_exit(sig, frame)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    setup_logger(None, level=logging.INFO)
    try:
        settings = settings_from(a)
    except ValueError as e:
        return error(e)
    if a.malloc_arenas:  # before torch's threads and the model allocate
        limit_arenas(a.malloc_arenas)
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    try:
        loaded = load_model(a.model, vocab=a.vocab, cmvn=a.cmvn)
        ctx = Context.parse(a.context)
        backend = int8_backend_arg(a)
        model = quantize_int8(loaded.model, backend=backend) if a.int8 else loaded.model
        rec = Recognizer(model, loaded.tokenizer, ctx, a.beam, a.hotword_score, lm_fusion_from_args(a))
    except (CheckpointError, QuantizationError, LMError, ValueError, FileNotFoundError) as e:
        return error(e)
    rec.warm_up()
    info = {"model": str(a.model), "int8": a.int8, "int8_backend": int8_backend(model), "context": str(ctx),
            "threads": torch.get_num_threads(), "batch_workers": settings.batch_workers,
            "worker_threads": settings.model_threads,
            "batching": not a.no_batching, "beam": a.beam, "hotword_score": a.hotword_score,
            "lm": None if (lm := rec.decoder.opts.lm) is None else {
                "path": str(a.lm), "weight": lm.weight, "bonus": lm.word_bonus, "search": rec.decoder.lm_search_name}}
    app = create_app(rec, settings, info)
    config = uvicorn.Config(app, host=a.host, port=a.port, access_log=a.access_log, log_level="info",
                            timeout_graceful_shutdown=a.shutdown_timeout, lifespan="on")
    server = DrainingServer(config, app.state.serving)
    log.info("serving %s (%s, %d batch worker(s) of %d thread(s), batching %s) on http://%s:%d", a.model,
             f"int8, {info['int8_backend']}" if a.int8 else "fp32", settings.batch_workers, settings.model_threads,
             "off" if a.no_batching else f"{settings.window * 1000:g} ms window",
             a.host, a.port)
    for sig in (signal.SIGINT, signal.SIGTERM):  # uvicorn re-raises the stop signal after draining: exit 0 instead
        signal.signal(sig, lambda *_: None)
    try:
        server.run()
    except SystemExit:  # uvicorn's sys.exit(3): the port could not be bound, or the app did not start
        return error(f"could not serve on {a.host}:{a.port} (see the log above)", code=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
