"""The HTTP API (chunkformer.serving.app) in process: the real app, batcher, recognizer and fixture model
(tests/fixtures/official/model), its lifespan run as uvicorn runs it, requests sent by httpx over the ASGI
interface. Batching hands every caller its own transcript, the one ``python -m chunkformer.transcribe`` gives
for that file, with its words and confidence; a request's hotwords bias its own search only; bad requests get
one-line 400/413/503 answers and the server goes on answering good ones."""

from __future__ import annotations

import asyncio
import json
import random
import re
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf
import torch

from chunkformer.audio import resample
from chunkformer.checkpoint import LoadedModel, load_model
from chunkformer.decoding import DecodeOptions, LMFusion, build_hotwords, load_lm
from chunkformer.serving.app import ServerSettings, create_app, worker_torch_threads
from chunkformer.serving.recognizer import OptionError, Recognizer, RequestOptions
from chunkformer.transcribe import Transcriber

from conftest import OFFICIAL
from helpers import check_words, encode, post_in_order, serve, speech, write_fixture_lm

MODEL = OFFICIAL / "model"


@pytest.fixture(scope="module")
def loaded() -> LoadedModel:
    return load_model(MODEL)


def official(name: str) -> np.ndarray:
    x, rate = sf.read(OFFICIAL / f"{name}.wav", dtype="float32")
    assert rate == 16000
    return x


@pytest.fixture(scope="module")
def turns(tmp_path_factory: pytest.TempPathFactory, loaded: LoadedModel) -> dict[Path, str]:
    """Seven distinct call turns (0.5–5.7 s; 16 and 8 kHz, PCM, float and FLAC) → the transcript the
    Transcriber of ``python -m chunkformer.transcribe`` gives each with the same model."""
    d = tmp_path_factory.mktemp("turns")
    a, b, c = official("A"), official("B"), official("C")
    files = {"a.wav": (a, 16000, "PCM_16"), "b1_8k.wav": (resample(b[:48000], 16000, 8000), 8000, "PCM_16"),
             "b2.flac": (b[64000:128000], 16000, None), "b3.wav": (b[128000:], 16000, "FLOAT"),
             "c.wav": (c, 16000, "PCM_16"), "synth.wav": (speech(3, 2.5), 16000, "PCM_16"),
             "ab.wav": (np.concatenate([a, b[:16000]]), 16000, "PCM_16")}
    for name, (x, rate, subtype) in files.items():
        sf.write(d / name, x, rate, subtype=subtype)
    paths = [d / n for n in files]
    texts = {Path(t.path): t.text for t in Transcriber(loaded.model, loaded.tokenizer).transcribe(
        [str(p) for p in paths], progress=False)}
    assert len(set(texts.values())) == len(paths) and all(texts.values())  # distinct: a swap would show
    return texts


@pytest.mark.parametrize("batching", [True, False])
def test_concurrent_callers_get_their_own_transcripts(loaded, turns, batching):
    """Every turn twice, in shuffled order, all at once: each answer is that file's transcript. With batching,
    batches of several requests formed; without (max_batch 1), every request ran alone."""
    order = [p for p in turns for _ in range(2)]
    random.Random(0).shuffle(order)

    async def calls(client: httpx.AsyncClient, _state: Any) -> tuple[list[httpx.Response], dict]:
        answers = await asyncio.gather(*(client.post("/transcribe", content=p.read_bytes()) for p in order))
        return list(answers), (await client.get("/health")).json()

    settings = dict(window=0.5, max_batch=64) if batching else dict(window=0.0, max_batch=1)
    answers, health = serve(loaded, calls, **settings)
    assert [r.status_code for r in answers] == [200] * len(order), [r.text for r in answers]
    for path, r in zip(order, answers):
        assert r.json()["text"] == turns[path], path.name
    sizes = [r.json()["stats"]["batch_size"] for r in answers]
    batches = health["batches"]
    assert batches["items"] == len(order) and health["served"] == len(order) and health["failed"] == 0
    assert sum(int(k) * v for k, v in batches["sizes"].items()) == len(order)
    if batching:
        assert batches["largest"] > 1 and max(sizes) > 1 and batches["batches"] < len(order), batches
    else:
        assert batches["sizes"] == {"1": len(order)} and set(sizes) == {1}


def pcm_wav(declared_bytes: int, body: bytes, rate: int = 16000) -> bytes:
    """A 16-bit mono PCM WAV whose data chunk declares ``declared_bytes`` and holds ``body``."""
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, rate, 2 * rate, 2, 16)
    return (b"RIFF" + struct.pack("<I", 36 + declared_bytes) + b"WAVE" + fmt + b"data"
            + struct.pack("<I", declared_bytes) + body)


async def chunks(data: bytes, size: int = 8192) -> AsyncIterator[bytes]:
    """A body sent in chunks without Content-Length (Transfer-Encoding: chunked)."""
    for i in range(0, len(data), size):
        yield data[i : i + size]


LIMITS = dict(max_body_bytes=256 << 10, max_seconds=5.0, window=0.0, max_hotwords=4, max_hotword_chars=20)
GOOD = official("A")  # 2 s
B = official("B")
NAN = speech(9, 1.0)
NAN[10] = np.nan
BAD_REQUESTS: dict[str, tuple[dict, int, str]] = {  # name → (httpx request arguments, status, detail pattern)
    "empty body": (dict(content=b""), 400, r"^request body: empty \(no bytes\)$"),
    "truncated wav": (dict(content=encode(GOOD)[:-1000]), 400,
                      r"^request body: truncated WAV: its data chunk holds 63000 of the 64000 bytes it declares$"),
    "not audio": (dict(content=b"GET / HTTP/1.1 " * 100), 400, r"^request body: not an audio file soundfile can read"),
    "nan samples": (dict(content=encode(NAN, subtype="FLOAT")), 400, "NaN or Inf samples"),
    "over the body limit": (dict(content=encode(B)), 413, r"^body of 438444 bytes; the limit is 262144 bytes$"),
    "over the body limit, chunked": (dict(content=chunks(encode(B))), 413, r"^body over the limit of 262144 bytes$"),
    "declares an hour": (dict(content=pcm_wav(3600 * 32000, bytes(32000))), 413,
                         r"^request body: 3600\.0 s of audio \(from the header, not decoded\); the limit is 5 s$"),
    "long flac": (dict(content=encode(B[:8 * 16000], fmt="FLAC")), 413,
                  r"8\.0 s of audio \(from the header, not decoded\); the limit is 5 s$"),
    "channel not a number": (dict(content=encode(GOOD), params={"channel": "left"}), 400,
                             r"^channel must be a 0-based channel number, got 'left'$"),
    "channel in other digits": (dict(content=encode(GOOD), params={"channel": "²"}), 400,
                                r"^channel must be a 0-based channel number, got '²'$"),
    "no such channel": (dict(content=encode(GOOD), params={"channel": "1"}), 400,
                        r"^request body: no channel 1 \(0-based\) in a 1-channel file$"),
    "no usable hotword": (dict(content=encode(GOOD), params={"hotwords": "vietcombank, Hồ Chí Minh"}), 400,
                          r"^hotwords: no usable phrase \('vietcombank': the vocabulary cannot spell vietcombank; "
                          r"'Hồ Chí Minh': the vocabulary cannot spell chí\)$"),
    "no usable hotword, form field": (dict(files={"file": ("a.wav", encode(GOOD))}, data={"hotwords": "xyzzy"}),
                                      400, r"^hotwords: no usable phrase \('xyzzy': the vocabulary cannot spell "
                                           r"xyzzy\)$"),
    "too many hotwords": (dict(content=encode(GOOD), params=[("hotwords", "a,b,c"), ("hotwords", "d,e")]), 413,
                          r"^hotwords: 5 phrases; the limit is 4 per request$"),
    "hotword too long": (dict(content=encode(GOOD), params={"hotwords": "an, trăm phố trăm phố trăm phố"}), 400,
                         r"^hotwords: a phrase of 26 characters \('trăm phố trăm phố tr'\.\.\.\); the limit is 20$"),
    "hotword score not a number": (dict(content=encode(GOOD), params={"hotwords": "trăm phố", "hotword_score": "x"}),
                                   400, r"^hotword_score must be a number, got 'x'$"),
    "hotword score not positive": (dict(content=encode(GOOD), params={"hotwords": "trăm phố", "hotword_score": "0"}),
                                   400, r"^hotword score must be a finite number > 0, got 0\.0$"),
    "hotword score without hotwords": (dict(content=encode(GOOD), params={"hotword_score": "2"}), 400,
                                       r"^hotword_score needs hotwords$"),
    "multipart without file": (dict(files={"audio": ("a.wav", encode(GOOD))}), 400,
                               r"^multipart body has no file in field 'file'$"),
    "broken multipart": (dict(content=b"--x\r\nnonsense", headers={"content-type": "multipart/form-data"}), 400,
                         "^bad multipart body: "),
}


@pytest.mark.parametrize("name", list(BAD_REQUESTS))
def test_bad_request_is_answered_and_the_next_good_one_served(loaded, name):
    request, status, detail = BAD_REQUESTS[name]

    async def calls(client: httpx.AsyncClient, _state: Any) -> tuple[httpx.Response, ...]:
        before = await client.post("/transcribe", content=encode(GOOD))
        bad = await client.post("/transcribe", **request)
        after = await client.post("/transcribe", content=encode(GOOD))
        return before, bad, after, await client.get("/health")

    before, bad, after, health = serve(loaded, calls, **LIMITS)
    assert bad.status_code == status, bad.text
    assert bad.headers["content-type"] == "application/json"
    assert list(bad.json()) == ["detail"] and "\n" not in bad.json()["detail"]
    assert re.search(detail, bad.json()["detail"]), bad.json()["detail"]
    assert before.status_code == after.status_code == 200
    assert after.json()["text"] == before.json()["text"] != ""
    assert health.json() | {"batches": None, "memory_trims": None} == {
        "status": "ok", "model": "fixture", "pending": 0, "queued": 0, "served": 2, "failed": 1, "refused": 0,
        "batches": None,
        "memory_trims": None}


def test_multipart_field_file_and_channel_options(loaded):
    """Field ``file`` gives the raw body's transcript; ``channel`` as a query parameter or a form field picks
    one speaker of a stereo call; without it both are averaged, with a warning."""
    a, b = GOOD, B[: len(GOOD)]
    call = encode(np.stack([a, b], 1), subtype="FLOAT")

    async def calls(client: httpx.AsyncClient, _state: Any) -> list[httpx.Response]:
        return [await client.post("/transcribe", content=encode(b, subtype="FLOAT")),
                await client.post("/transcribe", files={"file": ("b.wav", encode(b, subtype="FLOAT"))}),
                await client.post("/transcribe", files={"file": ("call.wav", call)}, data={"channel": "1"}),
                await client.post("/transcribe", params={"channel": "1"}, files={"file": ("call.wav", call)}),
                await client.post("/transcribe", content=call, params={"channel": "0"}),
                await client.post("/transcribe", content=encode(a, subtype="FLOAT")),
                await client.post("/transcribe", files={"file": ("call.wav", call)}),
                await client.post("/transcribe", files={"file": ("call.wav", call)}, data={"channel": "2"})]

    raw_b, form_b, form_ch1, query_ch1, raw_ch0, raw_a, mixed, bad = serve(loaded, calls)
    assert [r.status_code for r in (raw_b, form_b, form_ch1, query_ch1, raw_ch0, raw_a, mixed)] == [200] * 7
    assert form_b.json()["text"] == form_ch1.json()["text"] == query_ch1.json()["text"] == raw_b.json()["text"]
    assert raw_ch0.json()["text"] == raw_a.json()["text"] != raw_b.json()["text"]
    assert raw_b.json()["warnings"] == [] and mixed.json()["text"] not in (raw_a.json()["text"], raw_b.json()["text"])
    assert mixed.json()["warnings"] == ["2 channels averaged into one; pass channel=N (0-based) for one speaker"]
    assert bad.status_code == 400 and bad.json()["detail"] == "call.wav: no channel 2 (0-based) in a 2-channel file"


HOT = "Trăm Phố, Hồ Chí Minh"  # the fixture vocabulary cannot spell "chí"
HOT_REPORT = {"phrases": ["trăm phố"],
              "rejected": [{"phrase": "Hồ Chí Minh", "reason": "the vocabulary cannot spell chí"}]}


def decoded(answer: dict) -> dict:
    """The part of an answer that ``transcribe --jsonl`` also writes."""
    return {k: answer[k] for k in ("text", "confidence", "words")}


def test_hotwords_find_the_phrase_greedy_misses(loaded):
    """The fixture model hears "bốn đã" in A at 0.96-1.12 s with "trăm phố" second best: greedy misses the
    phrase, the request's list finds it. As a query parameter, repeated, or a form field: the same answer,
    whose text, confidence and words are exactly the record ``transcribe --hotwords FILE --jsonl`` writes for
    the file (same code; decoded alone in both); the unspellable phrase is reported. A request's own
    ``hotword_score`` applies to it: a tiny bonus does not find the phrase."""
    path = OFFICIAL / "A.wav"
    data = path.read_bytes()

    async def calls(client: httpx.AsyncClient, _state: Any) -> list[httpx.Response]:
        return [await client.post("/transcribe", content=data),
                await client.post("/transcribe", content=data, params={"hotwords": HOT}),
                await client.post("/transcribe", content=data,
                                  params=[("hotwords", "Trăm Phố"), ("hotwords", "Hồ Chí Minh")]),
                await client.post("/transcribe", files={"file": ("A.wav", data)}, data={"hotwords": HOT}),
                await client.post("/transcribe", content=data, params={"hotwords": HOT, "hotword_score": "0.01"})]

    greedy, query, repeated, form, weak = serve(loaded, calls, window=0.0)
    assert [r.status_code for r in (greedy, query, repeated, form, weak)] == [200] * 5
    tr = Transcriber(loaded.model, loaded.tokenizer)
    graph = build_hotwords([w.strip() for w in HOT.split(",")], loaded.tokenizer).graph
    cli_biased = next(tr.transcribe([str(path)], progress=False, hotwords=graph)).record()
    cli_greedy = next(tr.transcribe([str(path)], progress=False)).record()
    assert "trăm phố" not in greedy.json()["text"] and "trăm phố" in query.json()["text"]
    assert decoded(greedy.json()) == decoded(cli_greedy) and "hotwords" not in greedy.json()
    for r in (query, repeated, form):
        body = r.json()
        assert decoded(body) == decoded(cli_biased), r.request.url
        assert body["hotwords"] == HOT_REPORT
        assert body["warnings"] == ["1 of 2 hotwords ignored (see hotwords.rejected)"]
        check_words(body, 2.0)
    assert "trăm phố" not in weak.json()["text"] and weak.json()["hotwords"] == HOT_REPORT


def test_a_biased_request_leaves_its_batch_neighbours_alone(loaded, turns):
    """Three requests in one batch: A with hotwords, A without, another turn without; then the same three in
    the same order with no list at all. The biased request finds the phrase (the text ``transcribe --hotwords``
    gives); the other two answers are byte for byte those of the unbiased batch: a list neither splits a batch
    nor touches a neighbour's search."""
    a = (OFFICIAL / "A.wav").read_bytes()
    other = next(p for p in turns if p.name == "b2.flac")

    def batch(hotwords: str | None) -> list[dict]:
        return [dict(content=a, params={"hotwords": hotwords} if hotwords else None), dict(content=a),
                dict(content=other.read_bytes())]

    async def calls(client: httpx.AsyncClient, state: Any) -> tuple[list[httpx.Response], list[httpx.Response]]:
        return await post_in_order(client, state, batch(HOT)), await post_in_order(client, state, batch(None))

    biased, plain = serve(loaded, calls, window=0.5)
    assert [r.status_code for r in biased + plain] == [200] * 6
    assert [r.json()["stats"]["batch_size"] for r in biased + plain] == [3] * 6

    def without_stats(r: httpx.Response) -> str:
        return json.dumps({k: v for k, v in r.json().items() if k != "stats"}, ensure_ascii=False)

    assert without_stats(biased[1]) == without_stats(plain[1]) == without_stats(plain[0])
    assert without_stats(biased[2]) == without_stats(plain[2]) and plain[2].json()["text"] == turns[other]
    graph = build_hotwords(["Trăm Phố"], loaded.tokenizer).graph
    tr = Transcriber(loaded.model, loaded.tokenizer)
    expected = next(tr.transcribe([str(OFFICIAL / "A.wav")], progress=False, hotwords=graph)).text
    assert biased[0].json()["text"] == expected != plain[0].json()["text"] and "trăm phố" in expected
    assert biased[0].json()["hotwords"] == HOT_REPORT and "hotwords" not in plain[0].json()


def test_a_server_with_an_lm_fuses_it_into_every_request(loaded, turns, tmp_path):
    """``serve --lm``: three requests in one batch each get exactly the answer ``transcribe --lm`` gives its
    file (the same fused beam search; decoded alone there); A's has the phrase the LM favours, which the
    greedy server does not give."""
    fusion = LMFusion(load_lm(write_fixture_lm(tmp_path / "lm.arpa", MODEL / "vocab.txt")), 0.5, 2.0)
    paths = [OFFICIAL / "A.wav", *(p for p in turns if p.name in ("b2.flac", "c.wav"))]

    async def calls(client: httpx.AsyncClient, state: Any) -> list[httpx.Response]:
        return await post_in_order(client, state, [dict(content=p.read_bytes()) for p in paths])

    answers = serve(loaded, calls, lm=fusion, window=0.5)
    assert [r.json()["stats"]["batch_size"] for r in answers] == [3] * 3
    tr = Transcriber(loaded.model, loaded.tokenizer, options=DecodeOptions(lm=fusion))
    expected = [t.record() for t in tr.transcribe([str(p) for p in paths], progress=False)]
    assert [decoded(r.json()) for r in answers] == [decoded(e) for e in expected]
    assert "trăm phố" in answers[0].json()["text"]
    greedy = next(Transcriber(loaded.model, loaded.tokenizer).transcribe([str(paths[0])], progress=False)).text
    assert "trăm phố" not in greedy


def test_recognizer_takes_a_hotword_list_per_request(loaded):
    """The Python API without HTTP: ``prepare`` with :class:`RequestOptions`, then ``run_batch``."""
    rec = Recognizer(loaded.model, loaded.tokenizer)
    data = (OFFICIAL / "A.wav").read_bytes()
    hot, plain = rec.run_batch([rec.prepare(data, "A.wav", RequestOptions(hotwords=("Trăm Phố",))),
                                rec.prepare(data, "A.wav", RequestOptions())])
    assert "trăm phố" in hot["text"] and "trăm phố" not in plain["text"]
    assert hot["hotwords"] == {"phrases": ["trăm phố"], "rejected": []} and set(plain) == {"text", "confidence",
                                                                                          "words"}
    with pytest.raises(OptionError, match=r"^hotwords: no usable phrase \('xyzzy': "):
        rec.prepare(data, "A.wav", RequestOptions(hotwords=("xyzzy",)))
    with pytest.raises(ValueError, match="hotword score must be a finite number > 0"):
        Recognizer(loaded.model, loaded.tokenizer, hotword_score=0.0)


def test_answer_fields_short_audio_and_health(loaded):
    async def calls(client: httpx.AsyncClient, _state: Any) -> list[httpx.Response]:
        return [await client.get("/health"), await client.post("/transcribe", content=encode(GOOD[:1600])),
                await client.post("/transcribe", content=encode(GOOD, 16000, "FLAC")), await client.get("/health")]

    health0, short, good, health1 = serve(loaded, calls, window=0.01, trim_interval=1e-6)
    assert health0.status_code == 200
    assert health0.json() == {"status": "ok", "model": "fixture", "pending": 0, "queued": 0, "served": 0,
                              "failed": 0, "refused": 0,
                              "batches": {"batches": 0, "items": 0, "largest": 0, "busy_s": 0.0,
                                                       "sizes": {}}, "memory_trims": 0}
    assert short.status_code == 200  # 0.1 s: shorter than the receptive field
    assert short.json() == {"text": "", "confidence": 0.0, "words": [], "duration": 0.1,
                            "warnings": ["shorter than 0.16 s: nothing to decode"]}
    body = good.json()
    assert set(body) == {"text", "confidence", "words", "duration", "warnings", "stats"}
    assert body["duration"] == 2.0 and body["text"]
    check_words(body, 2.0)
    assert set(body["stats"]) == {"batch_size", "queued_ms", "compute_ms"} and body["stats"]["batch_size"] == 1
    assert body["stats"]["queued_ms"] >= 9  # waited for the 10 ms window
    assert health1.json()["served"] == 2 and health1.json()["batches"]["items"] == 1  # the short one skips it
    assert health1.json()["memory_trims"] == 1  # after the batch, with nothing queued


def test_full_server_answers_503_then_serves_again(loaded):
    """``max_pending`` 1: while one request is in the server (its body still arriving), the next is refused
    with 503 and Retry-After; once it is answered, the server takes requests again."""
    data = encode(GOOD)
    release = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield data[:1000]
        await release.wait()
        yield data[1000:]

    async def calls(client: httpx.AsyncClient, _state: Any) -> list[httpx.Response]:
        first = asyncio.create_task(client.post("/transcribe", content=slow_body()))
        for _ in range(200):
            health = (await client.get("/health")).json()
            if health["pending"] == 1:
                break
            await asyncio.sleep(0.01)
        refused = await client.post("/transcribe", content=data)
        release.set()
        return [refused, await first, await client.post("/transcribe", content=data), health,
                (await client.get("/health")).json()]

    refused, first, again, health, after = serve(loaded, calls, max_pending=1, window=0.0)
    assert health["pending"] == 1
    assert (after["served"], after["failed"], after["refused"]) == (2, 0, 1)  # the refused one is counted apart
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert refused.json() == {"detail": "server busy: 1 requests in progress (the limit); retry later"}
    assert first.status_code == again.status_code == 200
    assert first.json()["text"] == again.json()["text"] != ""


def test_draining_server_refuses_new_requests(loaded):
    async def calls(client: httpx.AsyncClient, state: Any) -> list[httpx.Response]:
        ok = await client.post("/transcribe", content=encode(GOOD))
        state.draining = True  # what serve.py's SIGTERM handler sets
        return [ok, await client.post("/transcribe", content=encode(GOOD)), await client.get("/health")]

    ok, refused, health = serve(loaded, calls)
    assert ok.status_code == 200
    assert refused.status_code == 503 and refused.headers["retry-after"] == "1"
    assert refused.json() == {"detail": "the server is shutting down"}
    assert health.status_code == 503 and health.json()["status"] == "draining"


def test_client_hanging_up_mid_body_is_a_failed_request_not_a_crash(loaded, caplog):
    """The ASGI messages uvicorn sends when a caller disconnects halfway through its upload: the request is
    counted as failed (400, which goes nowhere), nothing is logged as an exception, the next caller is served."""
    app = create_app(Recognizer(loaded.model, loaded.tokenizer), ServerSettings(window=0.0))
    data = encode(GOOD)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/transcribe", "raw_path": b"/transcribe", "query_string": b"", "root_path": "",
             "headers": [(b"content-length", str(len(data)).encode())], "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80)}
    messages = [{"type": "http.request", "body": data[:5000], "more_body": True}, {"type": "http.disconnect"}]
    sent: list[dict] = []

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    async def main() -> httpx.Response:
        async with app.router.lifespan_context(app):
            await app(scope, receive, send)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://serve") as client:
                return await client.post("/transcribe", content=data)

    with caplog.at_level("WARNING"):
        after = asyncio.run(main())
    assert sent[0]["status"] == 400
    assert b"the client disconnected after sending 5000 bytes of the body" in sent[1]["body"]
    assert after.status_code == 200 and after.json()["text"]
    assert app.state.serving.failed == 1 and app.state.serving.served == 1
    assert not [r for r in caplog.records if r.exc_info], caplog.text


def test_settings_are_checked():
    ServerSettings(window=0.0, max_batch=1)  # --no-batching
    for bad in (dict(max_batch=0), dict(max_pending=0), dict(window=-1.0), dict(max_seconds=0.0),
                dict(prep_threads=0), dict(max_batch_seconds=0.0), dict(max_body_bytes=0), dict(trim_interval=-1.0),
                dict(max_seconds=float("nan")), dict(max_hotwords=0), dict(max_hotword_chars=0),
                dict(model_threads=-1)):
        (key, value), = bad.items()
        with pytest.raises(ValueError, match=f"^bad server settings: {key}={value} must "):
            ServerSettings(**bad)


@pytest.mark.parametrize("model_threads", [1, 0])
def test_worker_threads_run_torch_with_the_servers_thread_counts(loaded, monkeypatch, model_threads):
    """torch's thread count is kept per calling thread: the batch thread must set --threads itself (0: the
    starting thread's count), the preparation threads one each; a thread that never set it would run its matrix
    products on every core whatever the main thread said."""
    seen: dict[str, set] = {"prepare": set(), "batch": set()}
    prepare, run_batch = Recognizer.prepare, Recognizer.run_batch

    def spy(where: str, fn: Any) -> Any:
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            seen[where].add((worker_torch_threads(), torch.get_num_threads()))
            return fn(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(Recognizer, "prepare", spy("prepare", prepare))
    monkeypatch.setattr(Recognizer, "run_batch", spy("batch", run_batch))

    async def calls(client: httpx.AsyncClient, _state: Any) -> list[int]:
        answers = await asyncio.gather(*(client.post("/transcribe", content=encode(official(n))) for n in "AB"))
        return [r.status_code for r in answers]

    assert worker_torch_threads() is None  # not a server thread
    assert serve(loaded, calls, model_threads=model_threads) == [200, 200]
    want = model_threads or torch.get_num_threads()
    assert seen == {"prepare": {(1, 1)}, "batch": {(want, want)}}
