"""The HTTP API (FastAPI): ``POST /transcribe`` and ``GET /health``, over a :class:`DynamicBatcher`.

``POST /transcribe``: the body is an audio file's bytes (any format soundfile reads, any rate, one call turn),
or ``multipart/form-data`` with the file in field ``file``. Options as query parameters (or form fields):
``channel`` (0-based), ``hotwords`` (comma-separated phrases, the parameter may repeat: this request is decoded
with the hotword beam search, the others of its batch stay greedy), ``hotword_score`` (per-token bonus).
Answers ``{"text", "confidence", "words": [{"word", "start", "end", "conf"}], "duration", "warnings", "stats":
{"batch_size", "queued_ms", "compute_ms"}}`` (+ ``"hotwords": {"phrases", "rejected"}`` with a list).

Errors, each ``{"detail": "<one line>"}`` and none of them stops the server: 400 bad audio (empty, not audio,
truncated, NaN) or bad option (a hotword list with no usable phrase, a phrase over ``max_hotword_chars``); 413
body over ``max_body_bytes`` (from Content-Length, or while reading), audio over ``max_seconds`` (from the file
header, before decoding) or more than ``max_hotwords`` phrases; 503 with ``Retry-After`` when
``max_pending`` requests are already in the server or it is shutting down; 500 for an unexpected failure.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from chunkformer.audio import AudioError, AudioTooLong
from chunkformer.frontend import FRAMES_PER_SECOND
from chunkformer.serving.batcher import Closed, DynamicBatcher, QueueFull
from chunkformer.serving.memory import IdleTrimmer
from chunkformer.serving.recognizer import OptionError, Recognizer, RequestOptions, Utterance

log = logging.getLogger("chunkformer.serving")


@dataclass(frozen=True)
class ServerSettings:
    """Limits and batching. ``window``: seconds a batch waits for company after its first request;
    ``max_batch_seconds``: audio per batch (the frame budget); ``max_batch``: requests per batch (1 = no
    batching); ``max_pending``: requests in the server at once (reading, queued or decoding); ``prep_threads``:
    threads that decode audio and compute fbank (one torch thread each); ``batch_workers``: batches run at once,
    each on its own thread (the model is shared: inference only reads it); ``model_threads``: torch threads of each
    batch thread (0: the starting thread's ``torch.get_num_threads()``); ``max_hotwords``,
    ``max_hotword_chars``: phrases per request and characters per phrase (the beam search and the graph grow
    with them); ``trim_interval``: seconds between two hand-backs of freed memory while idle (0: never;
    :mod:`chunkformer.serving.memory`)."""

    max_body_bytes: int = 16 << 20
    max_seconds: float = 60.0
    window: float = 0.03
    max_batch_seconds: float = 300.0
    # 8: on CPU the model's gain from batching (packed call turns) is complete at 8 (bench/bench_server_costs.py,
    # demo model, 2 cores: 1.71x per turn at 4, 1.96x at 8, 1.97x at 16), and smaller batches answer a burst of
    # callers progressively (32 paced callers arriving together: p95 0.37 s at 8; 1.61 s at 64 before packing)
    max_batch: int = 8
    max_pending: int = 256
    prep_threads: int = 2
    model_threads: int = 0
    batch_workers: int = 1
    max_hotwords: int = 256
    max_hotword_chars: int = 100
    trim_interval: float = 1.0

    def __post_init__(self) -> None:
        bad = [f"{k}={getattr(self, k)} must be positive" for k in _POSITIVE if not getattr(self, k) > 0]
        bad += [f"{k}={getattr(self, k)} must not be negative" for k in _NOT_NEGATIVE if not getattr(self, k) >= 0]
        if bad:
            raise ValueError(f"bad server settings: {', '.join(bad)}")


# the one rule for every limit of ServerSettings (the command line's values are checked here too)
_POSITIVE = ("max_body_bytes", "max_seconds", "max_batch_seconds", "max_batch", "max_pending", "prep_threads",
             "batch_workers", "max_hotwords", "max_hotword_chars")
_NOT_NEGATIVE = ("window", "trim_interval", "model_threads")


_WORKER = threading.local()


def _init_worker(torch_threads: int) -> None:
    """Initializer of the server's worker threads. torch's thread count is kept per calling thread (its GEMMs and
    OpenMP teams): a thread that never set it runs a matrix product on every core whatever ``torch.set_num_threads``
    said on the main thread, so ``--threads 1`` did not hold on the batch thread, and each preparation thread's
    fbank competed with the model for both cores (docs/BENCHMARKS.md, "Serving")."""
    torch.set_num_threads(torch_threads)
    _WORKER.torch_threads = torch_threads


def worker_torch_threads() -> int | None:
    """The torch threads this server worker thread was started with (None: not a server worker thread)."""
    return getattr(_WORKER, "torch_threads", None)


class HTTPError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def create_app(recognizer: Recognizer, settings: ServerSettings = ServerSettings(), info: dict | None = None
               ) -> FastAPI:
    """The ASGI app; its lifespan starts the batcher and, on shutdown, finishes every queued request."""
    state = _State(recognizer, settings, info or {})

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.start()
        yield
        await state.stop()

    app = FastAPI(title="chunkformer", lifespan=lifespan)
    app.state.serving = state

    @app.post("/transcribe")
    async def transcribe(request: Request) -> JSONResponse:
        try:
            return JSONResponse(await state.transcribe(request))
        except HTTPError as e:
            headers = {"Retry-After": "1"} if e.status == 503 else None
            return JSONResponse({"detail": e.detail}, status_code=e.status, headers=headers)

    @app.get("/health")
    async def health() -> JSONResponse:
        body = state.health()
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    return app


class _State:
    """Everything the endpoints share: batcher, thread pool, counters, drain flag."""

    def __init__(self, recognizer: Recognizer, settings: ServerSettings, info: dict) -> None:
        self.rec, self.settings, self.info = recognizer, settings, info
        self.pending = 0
        self.served = 0
        self.failed = 0
        self.refused = 0  # 503 at the door (busy or draining): never read, so neither served nor failed
        self.draining = False
        self.batcher: DynamicBatcher[Utterance, dict] | None = None
        self.prep: ThreadPoolExecutor | None = None
        self.trimmer = IdleTrimmer(settings.trim_interval)

    def start(self) -> None:
        s = self.settings
        self.prep = ThreadPoolExecutor(s.prep_threads, thread_name_prefix="prepare", initializer=_init_worker,
                                       initargs=(1,))  # one turn's fbank is small: threads only add contention
        threads = s.model_threads or torch.get_num_threads()
        self.batcher = DynamicBatcher(self._run_batch, window=s.window,
                                      max_cost=int(s.max_batch_seconds * FRAMES_PER_SECOND),
                                      max_items=s.max_batch, max_queue=s.max_pending,
                                      thread_init=partial(_init_worker, threads), workers=s.batch_workers)
        self.batcher.start()

    def _run_batch(self, utts: list[Utterance]) -> list[dict]:
        """On the batch thread: the recognizer's batch, then freed memory back to the system when no other
        request is in the server (a trim makes the next batch fault its pages in again: in one saturation run,
        trimming whenever the queue was empty cost ~10 % of the throughput; this rule never trims under load)."""
        out = self.rec.run_batch(utts)
        self.trimmer.maybe(idle=self.pending <= len(utts))
        return out

    async def stop(self) -> None:
        self.draining = True
        if self.batcher is not None:
            await self.batcher.close()
        if self.prep is not None:
            self.prep.shutdown(wait=True)

    def health(self) -> dict:
        b = self.batcher
        stats = b.stats.to_dict() if b is not None else {}
        return {"status": "draining" if self.draining else "ok", **self.info, "pending": self.pending,
                "queued": b.queued if b is not None else 0, "served": self.served, "failed": self.failed,
                "refused": self.refused,
                "batches": stats, "memory_trims": self.trimmer.trims}

    async def transcribe(self, request: Request) -> dict:
        if self.draining or self.pending >= self.settings.max_pending:
            self.refused += 1
            raise HTTPError(503, "the server is shutting down" if self.draining else
                            f"server busy: {self.pending} requests in progress (the limit); retry later")
        self.pending += 1
        try:
            out = await self._transcribe(request)
            self.served += 1
            return out
        except HTTPError as e:
            self.failed += 1
            if e.status >= 500:
                log.warning("%s", e.detail)
            raise
        finally:
            self.pending -= 1

    async def _transcribe(self, request: Request) -> dict:
        data, name, options = await self._read(request)
        loop = asyncio.get_running_loop()
        try:
            utt = await loop.run_in_executor(self.prep, self.rec.prepare, data, name, options,
                                             self.settings.max_seconds)
        except AudioTooLong as e:
            raise HTTPError(413, str(e)) from None
        except (AudioError, OptionError) as e:
            raise HTTPError(400, str(e)) from None
        except Exception as e:
            log.exception("preparing %s failed", name)
            raise HTTPError(500, f"preparing the audio failed: {type(e).__name__}: {e}") from None
        if not utt.decodable:
            utt.warnings.append("shorter than 0.16 s: nothing to decode")
            return {**self.rec.answer(utt), "duration": round(utt.seconds, 3), "warnings": utt.warnings}
        assert self.batcher is not None
        try:
            done = await self.batcher.submit(utt, utt.frames)
        except QueueFull as e:
            raise HTTPError(503, f"server busy: {e}; retry later") from None
        except Closed as e:
            raise HTTPError(503, str(e)) from None
        except Exception as e:
            log.exception("decoding failed")
            raise HTTPError(500, f"decoding failed: {type(e).__name__}: {e}") from None
        stats = {"batch_size": done.batch_size, "queued_ms": round(1000 * done.queued_s, 1),
                 "compute_ms": round(1000 * done.compute_s, 1)}
        return {**done.result, "duration": round(utt.seconds, 3), "warnings": utt.warnings, "stats": stats}

    async def _read(self, request: Request) -> tuple[bytes, str, RequestOptions]:
        """(audio bytes, name for messages, options) from a raw or multipart body, within the size limit."""
        body = await _read_body(request, self.settings.max_body_bytes)
        params = list(request.query_params.multi_items())
        name = "request body"
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            data, name, fields = await _multipart(request, body)
            params += fields
        else:
            data = body
        return data, name, _options(params, self.settings)


async def _read_body(request: Request, limit: int) -> bytes:
    """The whole body (at most ``limit`` bytes, else 413); 400 when the client hangs up before sending it all
    (the answer goes nowhere, but the request is counted as failed and nothing is logged as a crash)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPError(413, f"body of {int(declared)} bytes; the limit is {limit} bytes")
    buf = bytearray()
    try:
        async for chunk in request.stream():
            buf += chunk
            if len(buf) > limit:
                raise HTTPError(413, f"body over the limit of {limit} bytes")
    except ClientDisconnect:
        raise HTTPError(400, f"the client disconnected after sending {len(buf)} bytes of the body") from None
    return bytes(buf)


async def _multipart(request: Request, body: bytes) -> tuple[bytes, str, list[tuple[str, str]]]:
    async def stream() -> AsyncIterator[bytes]:
        yield body

    try:
        form = await MultiPartParser(request.headers, stream(), max_files=1, max_fields=16).parse()
    except MultiPartException as e:
        raise HTTPError(400, f"bad multipart body: {e.message}") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPError(400, "multipart body has no file in field 'file'")
        data = await upload.read()
        fields = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
        return data, upload.filename or "file", fields
    finally:
        await form.close()  # uploads over 1 MiB are spooled to temporary files


def _options(params: list[tuple[str, str]], settings: ServerSettings) -> RequestOptions:
    """Query parameters and form fields (a repeated one: its last value, but ``hotwords`` adds up) → options;
    HTTPError 400 for a bad value, 413 for more hotwords than the limit."""
    last = dict(params)
    channel = last.get("channel")
    if channel is not None and not (channel.isascii() and channel.isdigit()):  # "²".isdigit(), but int() fails
        raise HTTPError(400, f"channel must be a 0-based channel number, got {channel!r}")
    hotwords = _hotwords([v for k, v in params if k == "hotwords"], settings)
    return RequestOptions(int(channel) if channel is not None else None, hotwords,
                          _hotword_score(last.get("hotword_score"), hotwords))


def _hotword_score(text: str | None, hotwords: tuple[str, ...]) -> float | None:
    """The ``hotword_score`` parameter as a number (its range is checked where the list is built)."""
    if text is None:
        return None
    if not hotwords:
        raise HTTPError(400, "hotword_score needs hotwords")
    try:
        return float(text)
    except ValueError:
        raise HTTPError(400, f"hotword_score must be a number, got {text!r}") from None


def _hotwords(values: list[str], settings: ServerSettings) -> tuple[str, ...]:
    """Comma-separated phrases of every ``hotwords`` value, blanks dropped, within the request limits."""
    phrases = tuple(w.strip() for v in values for w in v.split(",") if w.strip())
    if len(phrases) > settings.max_hotwords:
        raise HTTPError(413, f"hotwords: {len(phrases)} phrases; the limit is {settings.max_hotwords} per request")
    for w in phrases:
        if len(w) > settings.max_hotword_chars:
            raise HTTPError(400, f"hotwords: a phrase of {len(w)} characters ({w[:20]!r}...); the limit is "
                                 f"{settings.max_hotword_chars}")
    return phrases
