"""Load test of ``python -m chunkformer.serve``: N simulated callers replaying call turns over HTTP, with and
without dynamic batching.

Each caller is one coroutine with at most one request in flight (so N bounds the concurrency), replaying audio
turns in turn (callers start at different turns). **saturation**: the next turn as soon as the answer arrives;
**paced**: ``--pause`` seconds (2 s) between a caller's turns, like a call bot waiting for the customer
(``--pause-jitter J``: random start and pauses of ``pause``·U(1 − J, 1 + J), so callers do not stay in lockstep).
For each server (``batching``, then ``--no-batching``), mode and N in ``--callers``, callers run for ``--seconds``
and the requests still in flight are awaited (``--rounds R``: all of it R times, the servers' order reversed
every other round, and the batching / no-batching throughput ratio per round and its median). Reported per run:
throughput in audio-seconds per wall-second, latency p50/p95/p99 (seconds from sending to the answer),
requests, errors (by status or exception), and the server's mean batch size over the run (from ``/health``).
``--hotwords FILE`` (one phrase per line, ``#``
comments: e.g. the demo catalogue of ``local/callbot_catalogue.py``): a ``--hotword-share`` of the requests
(seeded per caller) carry the whole list as a multipart form field, as a call-bot would send its catalogue;
those requests are decoded by the hotword beam search, the others stay greedy. **soak** (``--soak SECONDS``): one
batching server under saturation (or paced: ``--soak-pause``) from the first N of ``--callers``; the server's RSS
(psutil) every ``--sample`` seconds, and its growth (also from ``--soak-warmup`` seconds on).

Each server is a fresh process on 127.0.0.1 (a free port, ``--threads`` torch threads), stopped with SIGTERM (its
exit code is reported). Turns: the ``*.wav`` files of ``--audio DIR``, else 1.5–5 s slices of the fixture
utterances ``tests/fixtures/official/{A,B}.wav``. Run from the repository root (it is CPU-bound: on the shared
2-core machine use ``nice`` and small arguments; docs/BENCHMARKS.md has figures when measured)::

    nice -n 19 .venv/bin/python bench/bench_server.py --callers 1,4 --seconds 20               # a quick check
    .venv/bin/python bench/bench_server.py --model egs/callbot/demo/pretrained --callers 1,8,32,64 --seconds 60
    .venv/bin/python bench/bench_server.py --soak 1800 --callers 32 --json soak.json
    .venv/bin/python bench/bench_server.py --soak 600 --soak-pause 2 --callers 32 --json soak.json   # paced
    .venv/bin/python bench/bench_server.py --model egs/callbot/demo/finetuned --audio /tmp/turns --callers 32 \
        --hotwords exp/catalogue.txt --hotword-share 0.5                 # half the turns with the catalogue
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import numpy as np
import psutil
import soundfile as sf

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _common as C  # noqa: E402

REPO = C.REPO
FIXTURES = REPO / "tests" / "fixtures" / "official"


@dataclass
class Turn:
    name: str
    data: bytes  # the file's bytes, sent as the request body
    seconds: float


@dataclass
class RunResult:
    """One (server, mode, callers) run."""

    server: str
    mode: str
    callers: int
    wall_s: float
    audio_s: float
    requests: int
    ok: int
    errors: dict[str, int]
    latency_s: dict[str, float]  # p50, p95, p99, max
    throughput: float  # audio seconds per wall second (answered turns only)
    mean_batch: float  # the server's mean batch size over the run
    server_cpu_ms: float  # the server process's CPU time (user + system) per request
    client_cpu_ms: float  # this load generator's CPU time per request (it shares the machine's cores)
    latencies: list[float] = field(default_factory=list, repr=False)


def load_turns(audio_dir: Path | None) -> list[Turn]:
    """The turns callers replay: ``audio_dir/*.wav``, else slices of the fixture utterances A and B."""
    if audio_dir is not None:
        paths = sorted(audio_dir.glob("*.wav"))
        if not paths:
            raise SystemExit(f"bench_server: no .wav files in {audio_dir}")
        return [Turn(p.name, p.read_bytes(), sf.info(str(p)).duration) for p in paths]
    turns = []
    for name in ("A", "B"):
        x, rate = sf.read(FIXTURES / f"{name}.wav", dtype="float32")
        start, k = 0, 0
        for seconds in (1.5, 3.0, 2.0, 5.0, 2.5, 4.0) * 2:
            end = start + int(seconds * rate)
            if end > len(x):
                break
            turns.append(Turn(f"{name}{k}", wav_bytes(x[start:end], rate), seconds))
            start, k = end, k + 1
        if k == 0:
            turns.append(Turn(name, wav_bytes(x, rate), len(x) / rate))
    return turns


def wav_bytes(x: np.ndarray, rate: int) -> bytes:
    """float32 samples (frames,) → 16-bit PCM WAV bytes."""
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


class Server:
    """A ``python -m chunkformer.serve`` process on 127.0.0.1 (started in ``__enter__``, SIGTERM in ``__exit__``)."""

    def __init__(self, model: Path, threads: int, batching: bool, extra: list[str], log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [sys.executable, "-m", "chunkformer.serve", "--model", str(model), "--port", str(self.port),
                     "--threads", str(threads), *([] if batching else ["--no-batching"]), *extra]
        self.log = log
        self.exit_code: int | None = None

    def __enter__(self) -> Server:
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(self.args, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)),
                                         stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"bench_server: the server exited ({self.proc.returncode}):\n{self.log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"bench_server: the server did not start:\n{self.log.read_text()}")
            time.sleep(0.3)
        self.ps = psutil.Process(self.proc.pid)
        return self

    def rss_mb(self) -> float:
        return self.ps.memory_info().rss / 2**20

    def cpu_s(self) -> float:
        """The server process's CPU seconds so far (user + system, all its threads)."""
        t = self.ps.cpu_times()
        return t.user + t.system

    def health(self) -> dict:
        return httpx.get(f"{self.url}/health", timeout=30).json()

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.exit_code = self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.exit_code = self.proc.wait()
        else:
            self.exit_code = self.proc.returncode


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Hotwords:
    """What a share of the requests carries: the phrases, joined as the server's ``hotwords`` field."""

    field: str
    share: float

    @classmethod
    def read(cls, path: Path, share: float) -> Hotwords:
        lines = (ln.strip() for ln in path.read_text(encoding="utf-8").splitlines())
        phrases = [ln for ln in lines if ln and not ln.startswith("#")]
        if not phrases:
            raise SystemExit(f"{path}: no phrase")
        return cls(",".join(phrases), share)


async def send(client: httpx.AsyncClient, url: str, turn: Turn, hotwords: str | None) -> httpx.Response:
    """One turn: the raw body, or with a hotword list the multipart form (a catalogue is too long for a URL)."""
    if hotwords is None:
        return await client.post(f"{url}/transcribe", content=turn.data)
    return await client.post(f"{url}/transcribe", files={"file": (turn.name, turn.data)}, data={"hotwords": hotwords})


async def caller(client: httpx.AsyncClient, url: str, turns: list[Turn], first: int, deadline: float,
                 pause: float, out: list[tuple[float, float, str]], jitter: float = 0.0, seed: int = 0,
                 hotwords: Hotwords | None = None) -> None:
    """Replays ``turns`` from index ``first`` until ``deadline`` (monotonic seconds), one request at a time,
    sleeping ``pause`` seconds between turns; appends (latency s, audio s, outcome) per request to ``out``.
    ``jitter`` > 0: the caller starts after U(0, pause) seconds and each pause is ``pause``·U(1 − jitter,
    1 + jitter) (seeded), so that callers do not arrive in lockstep. ``hotwords``: that share of the requests
    carries the list (drawn from the caller's own seeded stream)."""
    rng = random.Random(seed)
    pick = random.Random(seed + 1_000_003)
    if pause > 0 and jitter > 0:
        await asyncio.sleep(rng.uniform(0.0, pause))
    i = first
    while time.monotonic() < deadline:
        turn = turns[i % len(turns)]
        i += 1
        t0 = time.monotonic()
        biased = hotwords is not None and pick.random() < hotwords.share
        try:
            r = await send(client, url, turn, hotwords.field if biased else None)
            outcome = "ok" if r.status_code == 200 else str(r.status_code)
        except httpx.HTTPError as e:
            outcome = type(e).__name__
        out.append((time.monotonic() - t0, turn.seconds, outcome))
        if pause > 0:
            wait = pause * rng.uniform(1.0 - jitter, 1.0 + jitter) if jitter > 0 else pause
            if time.monotonic() + wait >= deadline:
                return  # the next turn would start after the end of the run
            await asyncio.sleep(wait)


async def load(url: str, turns: list[Turn], callers: int, seconds: float, pause: float, jitter: float = 0.0,
               hotwords: Hotwords | None = None) -> tuple[list[tuple[float, float, str]], float]:
    """``callers`` callers for ``seconds`` → (per-request records, wall seconds until the last answer)."""
    out: list[tuple[float, float, str]] = []
    limits = httpx.Limits(max_connections=callers, max_keepalive_connections=callers)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        t0 = time.monotonic()
        deadline = t0 + seconds
        step = max(1, len(turns) // max(1, callers))
        await asyncio.gather(*(caller(client, url, turns, k * step, deadline, pause, out, jitter, k, hotwords)
                               for k in range(callers)))
        return out, time.monotonic() - t0


def percentile(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) if xs else float("nan")


def measure(server: Server, name: str, mode: str, callers: int, turns: list[Turn], seconds: float,
            pause: float, jitter: float = 0.0, hotwords: Hotwords | None = None) -> RunResult:
    """One run against a started server; the server's batch counters before and after give the mean batch."""
    before = server.health()["batches"]
    cpu0, own0 = server.cpu_s(), time.process_time()
    records, wall = asyncio.run(load(server.url, turns, callers, seconds, pause if mode == "paced" else 0.0, jitter,
                                     hotwords))
    server_cpu, client_cpu = server.cpu_s() - cpu0, time.process_time() - own0
    after = server.health()["batches"]
    ok = [(lat, sec) for lat, sec, outcome in records if outcome == "ok"]
    errors: dict[str, int] = {}
    for _, _, outcome in records:
        if outcome != "ok":
            errors[outcome] = errors.get(outcome, 0) + 1
    lats = [lat for lat, _ in ok]
    audio = sum(sec for _, sec in ok)
    batches = after["batches"] - before["batches"]
    per = max(1, len(records))
    return RunResult(name, mode, callers, round(wall, 2), round(audio, 1), len(records), len(ok), errors,
                     {f"p{q}": round(percentile(lats, q), 3) for q in (50, 95, 99)}
                     | {"max": round(max(lats), 3) if lats else float("nan")},
                     round(audio / wall, 2), round((after["items"] - before["items"]) / batches, 2) if batches else 0.0,
                     round(1e3 * server_cpu / per, 2), round(1e3 * client_cpu / per, 2), lats)


def print_row(r: RunResult) -> None:
    lat = r.latency_s
    err = ", ".join(f"{k}: {v}" for k, v in r.errors.items()) or "0"
    print(f"| {r.server} | {r.mode} | {r.callers} | {r.throughput:.2f} | {lat['p50']:.3f} | {lat['p95']:.3f} | "
          f"{lat['p99']:.3f} | {r.ok}/{r.requests} | {err} | {r.mean_batch:.2f} | {r.server_cpu_ms:.1f} | "
          f"{r.client_cpu_ms:.1f} |", flush=True)


def soak(server: Server, callers: int, turns: list[Turn], seconds: float, sample: float, pause: float = 0.0,
         warmup: float = 60.0) -> dict:
    """``callers`` callers (saturation, or paced with ``pause`` > 0) for ``seconds`` while sampling the server's
    RSS every ``sample`` seconds → RSS summary (MiB); the growth is also given from the first sample at or after
    ``warmup`` seconds (allocator pools and caches fill in the first minute) to the end."""
    samples: list[tuple[float, float]] = [(0.0, server.rss_mb())]

    async def sampler(stop: asyncio.Event) -> None:
        t0 = time.monotonic()
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), sample)
            except asyncio.TimeoutError:
                samples.append((time.monotonic() - t0, server.rss_mb()))
                print(f"  soak {samples[-1][0]:7.0f} s  RSS {samples[-1][1]:8.1f} MiB", flush=True)

    async def main() -> tuple[list, float]:
        stop = asyncio.Event()
        task = asyncio.create_task(sampler(stop))
        try:
            return await load(server.url, turns, callers, seconds, pause)
        finally:
            stop.set()
            await task

    records, wall = asyncio.run(main())
    samples.append((wall, server.rss_mb()))
    t, rss = np.array([s[0] for s in samples]), np.array([s[1] for s in samples])
    half = rss[len(rss) // 2 :]  # the second half: after warm-up growth (allocator pools, caches)
    slope = float(np.polyfit(t[len(rss) // 2 :], half, 1)[0]) * 60 if len(half) > 1 else float("nan")
    after = int(np.argmax(t >= warmup)) if (t >= warmup).any() else 0
    lats = [r[0] for r in records if r[2] == "ok"]
    return {"callers": callers, "pause_s": pause, "seconds": round(wall, 1), "requests": len(records),
            "errors": sum(1 for r in records if r[2] != "ok"),
            "throughput": round(sum(r[1] for r in records if r[2] == "ok") / wall, 2),
            "latency_s": {f"p{q}": round(percentile(lats, q), 3) for q in (50, 95, 99)},
            "rss_start_mb": round(float(rss[0]), 1), "rss_end_mb": round(float(rss[-1]), 1),
            "rss_max_mb": round(float(rss.max()), 1), "growth_mb": round(float(rss[-1] - rss[0]), 1),
            "warmup_s": round(float(t[after]), 1), "rss_after_warmup_mb": round(float(rss[after]), 1),
            "growth_after_warmup_pct": round(100.0 * float(rss[-1] - rss[after]) / float(rss[after]), 2),
            "second_half_slope_mb_per_min": round(slope, 3),
            "peak_growth_after_warmup_pct": round(peak_growth(t, rss, float(t[after])), 2),
            "samples": [(round(a, 1), round(b, 1)) for a, b in samples]}


def peak_growth(t: np.ndarray, rss: np.ndarray, start: float, window: float = 60.0) -> float:
    """Growth (%) of the largest RSS sample of the last ``window`` seconds over the largest of the ``window``
    seconds from ``start``: a server that hands freed memory back (``--trim-interval``) swings with its batches,
    so two single samples say more about the moment than about a trend."""
    first = rss[(t >= start) & (t < start + window)]
    last = rss[t > t[-1] - window]
    if not len(first) or not len(last):
        return float("nan")
    return 100.0 * float(last.max() - first.max()) / float(first.max())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=FIXTURES / "model", help="model folder (default: the fixture)")
    ap.add_argument("--audio", type=Path, help="folder of .wav turns (default: slices of the fixture utterances)")
    ap.add_argument("--callers", default="1,8,32,64", help="numbers of concurrent callers (default: %(default)s)")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each run (default: %(default)s)")
    ap.add_argument("--modes", default="saturation,paced", help="saturation and/or paced")
    ap.add_argument("--pause", type=float, default=2.0, help="paced mode: seconds between a caller's turns")
    ap.add_argument("--pause-jitter", type=float, default=0.0,
                    help="paced mode: random start in [0, pause] and pauses of pause·U(1-J, 1+J) (default 0: "
                         "every caller starts at once and waits exactly --pause)")
    ap.add_argument("--servers", default="batching,no-batching", help="batching and/or no-batching")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat every run this many times, the servers' order reversed every other round, and "
                         "print the batching / no-batching throughput ratio per round and its median (the "
                         "machine's speed drifts by 10-20 %% between runs minutes apart)")
    ap.add_argument("--threads", type=int, default=2, help="the server's torch threads (default: %(default)s)")
    ap.add_argument("--server-args", default="", help="more serve flags, e.g. '--batch-window-ms 50 --int8'")
    ap.add_argument("--soak", type=float, default=0.0, help="instead: a soak of this many seconds (RSS growth)")
    ap.add_argument("--sample", type=float, default=10.0, help="soak: seconds between RSS samples")
    ap.add_argument("--soak-pause", type=float, default=0.0,
                    help="soak: seconds between a caller's turns (0: saturation; e.g. 2 for a paced, moderate load)")
    ap.add_argument("--soak-warmup", type=float, default=60.0,
                    help="soak: RSS growth is also reported from this many seconds on (default: %(default)s)")
    ap.add_argument("--hotwords", type=Path, help="phrase list (one per line) that --hotword-share of the requests "
                                                  "carry (multipart field 'hotwords')")
    ap.add_argument("--hotword-share", type=float, default=1.0, help="share of requests with the list (default 1)")
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    callers = [int(n) for n in a.callers.split(",")]
    turns = load_turns(a.audio)
    extra = a.server_args.split()
    if not 0.0 <= a.hotword_share <= 1.0:
        raise SystemExit("--hotword-share must be in [0, 1]")
    a.hotword_list = Hotwords.read(a.hotwords, a.hotword_share) if a.hotwords else None
    out: dict = {"machine": C.machine(), "args": {k: str(v) for k, v in vars(a).items()},
                 "turns": {"count": len(turns), "audio_s": round(sum(t.seconds for t in turns), 1)}}
    log_dir = Path(os.environ.get("TMPDIR", "/tmp"))
    print(f"{len(turns)} turns, {out['turns']['audio_s']} s of audio; model {a.model}", flush=True)
    if a.soak > 0:
        with Server(a.model, a.threads, True, extra, log_dir / "bench_server_soak.log") as server:
            asyncio.run(load(server.url, turns, 1, 0.1, 0.0))  # warm-up: first allocations
            out["soak"] = soak(server, callers[0], turns, a.soak, a.sample, a.soak_pause, a.soak_warmup)
        out["soak"]["server_exit_code"] = server.exit_code
        print(json.dumps({k: v for k, v in out["soak"].items() if k != "samples"}), flush=True)
    else:
        out["runs"], out["server_exit_codes"] = run_matrix(a, callers, turns, extra, log_dir)
        out["batching_gain"] = [{"mode": m, "callers": n, **r} for (m, n), r in batching_gain(out["runs"]).items()]
    if a.json:
        C.write_json(a.json, out)
    return 0


def run_matrix(a: argparse.Namespace, callers: list[int], turns: list[Turn], extra: list[str], log_dir: Path
               ) -> tuple[list[dict], dict[str, list[int | None]]]:
    """Every (server, mode, N) run, printed as a markdown table row as it ends."""
    print("| server | mode | callers | audio s / s | p50 s | p95 s | p99 s | answered | errors | mean batch | "
          "server CPU ms / request | client CPU ms / request |\n|---|---|---|---|---|---|---|---|---|---|---|---|",
          flush=True)
    runs: list[dict] = []
    codes: dict[str, list[int | None]] = {}  # per server, one exit code per round
    names = a.servers.split(",")
    for rnd in range(a.rounds):
        for name in names if rnd % 2 == 0 else names[::-1]:
            log_file = log_dir / f"bench_server_{name}.log"
            with Server(a.model, a.threads, name == "batching", extra, log_file) as server:
                asyncio.run(load(server.url, turns, 1, 0.1, 0.0))  # warm-up
                for mode in a.modes.split(","):
                    for n in callers:
                        r = measure(server, name, mode, n, turns, a.seconds, a.pause, a.pause_jitter,
                                    a.hotword_list)
                        print_row(r)
                        runs.append({**{k: v for k, v in asdict(r).items() if k != "latencies"}, "round": rnd})
            codes.setdefault(name, []).append(server.exit_code)
    print(f"server exit codes after SIGTERM: {codes}", flush=True)
    for (mode, n), r in batching_gain(runs).items():
        print(f"{mode}, {n} callers: batching / no-batching throughput per round "
              f"{', '.join(f'{x:.2f}' for x in r['per_round'])}; median {r['median']:.2f}", flush=True)
    return runs, codes


def batching_gain(runs: list[dict]) -> dict[tuple[str, int], dict]:
    """Per (mode, callers): the batching server's throughput over the batching-off one's in each round, and the
    median of those ratios (rounds with both servers only).

    >>> rows = [{"server": s, "mode": "saturation", "callers": 32, "throughput": t, "round": r}
    ...         for r, (b, n) in enumerate([(250, 130), (200, 125), (240, 120)])
    ...         for s, t in (("batching", b), ("no-batching", n))]
    >>> batching_gain(rows)[("saturation", 32)]["median"]
    1.923
    """
    by: dict[tuple[str, int, int], dict[str, float]] = {}
    for r in runs:
        by.setdefault((r["mode"], r["callers"], r.get("round", 0)), {})[r["server"]] = r["throughput"]
    out: dict[tuple[str, int], dict] = {}
    for (mode, n, _), t in sorted(by.items()):
        if {"batching", "no-batching"} <= t.keys() and t["no-batching"] > 0:
            out.setdefault((mode, n), {"per_round": []})["per_round"].append(t["batching"] / t["no-batching"])
    for r in out.values():
        r["median"] = round(float(np.median(r["per_round"])), 3)
    return out


if __name__ == "__main__":
    sys.exit(main())
