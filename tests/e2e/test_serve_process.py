"""``python -m chunkformer.serve`` as a real process on 127.0.0.1: SIGTERM while requests are in flight (some
still sending their bodies, some waiting in the batcher) lets every one of them finish with its own transcript,
refuses new ones (503, or the port is already closed), and the process exits 0."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from chunkformer.checkpoint import load_model
from chunkformer.transcribe import Transcriber

from conftest import OFFICIAL
from helpers import REPO, speech

pytestmark = pytest.mark.slow  # end-to-end: deselect with -m 'not slow'

MODEL = OFFICIAL / "model"
WINDOW_S = 2.0  # long enough that requests sit in the batcher when SIGTERM arrives


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen, str, Path]]:
    """The server process (fixture model, one thread, a 2 s batch window), its base URL and its log file."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = dict(os.environ, PYTHONPATH=str(REPO))  # this worktree's package, whatever the venv has installed
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "chunkformer.serve", "--model", str(MODEL), "--port", str(port),
                                 "--threads", "1", "--batch-window-ms", str(WINDOW_S * 1000)],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start:\n" + log.read_text()
            time.sleep(0.2)
        yield proc, url, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigterm_finishes_requests_in_flight_and_exits_0(server, tmp_path):
    proc, url, log = server
    b, _ = sf.read(OFFICIAL / "B.wav", dtype="float32")
    audio = [b[:32000], b[32000:80000], b[80000:140000], b[140000:], speech(1, 2.0), speech(2, 3.0)]
    paths = []
    for i, x in enumerate(audio):
        paths.append(tmp_path / f"turn{i}.wav")
        sf.write(paths[-1], np.asarray(x), 16000, subtype="PCM_16")
    loaded = load_model(MODEL)
    expected = [t.text for t in Transcriber(loaded.model, loaded.tokenizer).transcribe(list(map(str, paths)),
                                                                                      progress=False)]
    assert len(set(expected)) == len(paths)
    gate = threading.Event()  # the last three requests send half their body, then wait for it

    def post(i: int) -> httpx.Response:
        data = paths[i].read_bytes()

        def body() -> Iterator[bytes]:
            yield data[: len(data) // 2]
            gate.wait(60)
            yield data[len(data) // 2 :]

        with httpx.Client(timeout=120) as client:
            return client.post(f"{url}/transcribe", content=data if i < 3 else body())

    with ThreadPoolExecutor(len(paths)) as pool:
        futures = [pool.submit(post, i) for i in range(len(paths))]
        health = wait_for(url, lambda h: h["pending"] == 6 and h["queued"] == 3)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        during = [new_request(url, paths[0]) for _ in range(3)]
        gate.set()
        answers = [f.result() for f in futures]
    assert proc.wait(timeout=60) == 0, log.read_text()
    assert health["served"] == 0 and health["batches"]["items"] == 0  # all six were in flight at SIGTERM
    assert [r.status_code for r in answers] == [200] * 6, [r.text for r in answers]
    assert [r.json()["text"] for r in answers] == expected
    sizes = [r.json()["stats"]["batch_size"] for r in answers]
    assert sizes[0] == sizes[1] == sizes[2] >= 3, sizes  # the queued three ran together (with the rest or not)
    print("batch sizes", sizes, "new requests during the drain:", during)
    assert set(during) <= {"503 the server is shutting down", "refused"}, during
    assert new_request(url, paths[0]) == "refused"
    text = log.read_text()
    assert "Shutting down" in text and "Finished server process" in text and "Traceback" not in text, text


def wait_for(url: str, ready: callable, timeout: float = 60.0) -> dict:
    """Polls /health until ``ready(health)``; returns that health."""
    deadline = time.monotonic() + timeout
    while True:
        health = httpx.get(f"{url}/health", timeout=10).json()
        if ready(health):
            return health
        assert time.monotonic() < deadline, health
        time.sleep(0.05)


def new_request(url: str, path: Path) -> str:
    """A new connection's request: its status and detail, or "refused" when the port is closed."""
    try:
        r = httpx.post(f"{url}/transcribe", content=path.read_bytes(), timeout=30)
    except httpx.ConnectError:
        return "refused"
    return f"{r.status_code} {r.json().get('detail', r.text)}"


def run_serve(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "chunkformer.serve", "--model", str(MODEL), *args], cwd=REPO,
                          env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True, timeout=120)


def test_bad_limits_and_a_busy_port_are_one_line_errors():
    for args, message in ((["--max-batch", "0"], "must be positive"), (["--max-hotwords", "0"], "must be positive"),
                          (["--hotword-score", "-1"], "hotword score must be a finite number > 0, got -1"),
                          (["--lm", "lm.arpa"], "--lm lm.arpa needs --lm-weight W (and --lm-bonus B)"),
                          (["--lm-bonus", "1"], "--lm-weight/--lm-bonus need --lm FILE"),
                          (["--lm", "no.arpa", "--lm-weight", "1"], "no.arpa: language model file not found")):
        bad = run_serve(args)
        assert bad.returncode == 2 and bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1, bad.stderr
        assert message in bad.stderr, bad.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = run_serve(["--port", str(port)])
    assert taken.returncode == 1, taken.stderr
    assert "address already in use" in taken.stderr
    assert taken.stderr.rstrip().endswith(f"error: could not serve on 127.0.0.1:{port} (see the log above)")
