"""bench/bench_server.py's hotword mode: the list file it reads, and a request it sends is decoded with the list
by the real in-process server (fixture model), exactly as a form field of a call-bot would be."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from chunkformer.checkpoint import load_model

from conftest import OFFICIAL
from helpers import serve

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import bench_server as B  # noqa: E402


def test_the_list_file_skips_comments_and_blank_lines(tmp_path: Path) -> None:
    f = tmp_path / "catalogue.txt"
    f.write_text("# held-out\nTrăm Phố\n\n  Hồ Chí Minh  \n# end\n", encoding="utf-8")
    assert B.Hotwords.read(f, 0.5) == B.Hotwords("Trăm Phố,Hồ Chí Minh", 0.5)
    f.write_text("# nothing\n\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="no phrase"):
        B.Hotwords.read(f, 1.0)


def test_a_biased_turn_is_decoded_with_the_list_and_a_plain_one_is_not() -> None:
    """The fixture model hears "trăm phố" in A only with the list (tests/unit/serving/test_serving_app.py)."""
    data = (OFFICIAL / "A.wav").read_bytes()
    turn = B.Turn("A.wav", data, 5.0)

    async def calls(client: httpx.AsyncClient, _state: Any) -> list[httpx.Response]:
        return [await B.send(client, "", turn, None), await B.send(client, "", turn, "Trăm Phố,Hồ Chí Minh")]

    plain, biased = serve(load_model(OFFICIAL / "model"), calls, window=0.0)
    assert plain.status_code == biased.status_code == 200
    assert "hotwords" not in plain.json() and "trăm phố" not in plain.json()["text"]
    assert biased.json()["hotwords"]["phrases"] == ["trăm phố"]  # the fixture vocabulary cannot spell "chí"
    assert "trăm phố" in biased.json()["text"]


def test_batching_gain_is_the_median_of_per_round_ratios() -> None:
    """``--rounds``: each round's batching / no-batching throughput, and their median; a round or a (mode, callers)
    that lacks one of the servers gives no ratio."""
    rows = [{"server": s, "mode": "saturation", "callers": 32, "throughput": t, "round": r}
            for r, (b, n) in enumerate([(250.0, 130.0), (200.0, 125.0), (240.0, 120.0)])
            for s, t in (("batching", b), ("no-batching", n))]
    rows.append({"server": "batching", "mode": "paced", "callers": 8, "throughput": 20.0, "round": 0})
    gain = B.batching_gain(rows)
    assert list(gain) == [("saturation", 32)]
    assert gain[("saturation", 32)]["per_round"] == [250 / 130, 200 / 125, 240 / 120]
    assert gain[("saturation", 32)]["median"] == round(250 / 130, 3)


@pytest.mark.slow  # a server process (fixture model) and two seconds of load
def test_a_run_reports_each_sides_cpu_time_per_request(tmp_path: Path) -> None:
    """A real run against ``python -m chunkformer.serve``: every request answered, and the server's and the load
    generator's CPU time per request are measured (both positive: the server decoded, the client sent)."""
    turns = B.load_turns(None)
    with B.Server(OFFICIAL / "model", 1, True, [], tmp_path / "server.log") as server:
        r = B.measure(server, "batching", "saturation", 2, turns, 2.0, 0.0)
    assert server.exit_code == 0
    assert r.requests > 0 and r.ok == r.requests and not r.errors
    assert r.server_cpu_ms > 0 and r.client_cpu_ms > 0
    # the fixture turns (1.5-5 s of speech) take the model more than a millisecond each, on any CPU
    assert r.server_cpu_ms > 1.0
