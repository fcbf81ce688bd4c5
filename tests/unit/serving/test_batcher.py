"""The dynamic batcher (chunkformer.serving.batcher) with a plain batch function: first in first out within the
cost budget and the item limit, the window, results to their own callers, a failing batch retried item by item,
back-pressure (QueueFull), closing (Closed, queued work still done) and callers that went away."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chunkformer.serving.batcher import Batched, Closed, DynamicBatcher, QueueFull


class Recorder:
    """A batch function: ``item * 10`` per item (an exception for items listed in ``bad``; the whole batch
    raises when it holds one of ``poison`` and others); records every batch it was given."""

    def __init__(self, bad: tuple[int, ...] = (), poison: tuple[int, ...] = (), gate: threading.Event | None = None
                 ) -> None:
        self.batches: list[list[int]] = []
        self.bad, self.poison, self.gate = bad, poison, gate
        self.called = threading.Event()

    async def running(self) -> None:
        """Returns once a batch is running (held at the gate)."""
        while not self.called.is_set():
            await asyncio.sleep(0.01)

    def __call__(self, items: list[int]) -> list[int | Exception]:
        self.called.set()
        if self.gate is not None:
            self.gate.wait(10)
        self.batches.append(list(items))
        if len(items) > 1 and any(i in self.poison for i in items):
            raise RuntimeError("the whole batch failed")
        return [ValueError(f"bad item {i}") if i in self.bad or i in self.poison else i * 10 for i in items]


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(main())


async def submit_all(b: DynamicBatcher, items: list[tuple[int, int]]) -> list[Batched | BaseException]:
    """Submits (item, cost) pairs in order, all before the batcher takes any; then closes it (no window wait)."""
    tasks = [asyncio.create_task(b.submit(i, c)) for i, c in items]
    await asyncio.sleep(0)
    await b.close()
    return await asyncio.gather(*tasks, return_exceptions=True)


def test_fifo_within_the_cost_budget_and_item_limit():
    rec = Recorder()

    async def main() -> list:
        b = DynamicBatcher(rec, window=10.0, max_cost=10, max_items=3)
        b.start()
        return await submit_all(b, [(1, 4), (2, 4), (3, 4), (4, 25), (5, 1), (6, 1), (7, 1), (8, 1)])

    out = run(main)
    # 1+2 fit 10, 3 does not; 4 is over the whole budget and runs alone; then three items (the item limit)
    assert rec.batches == [[1, 2], [3], [4], [5, 6, 7], [8]]
    assert [r.result for r in out] == [10, 20, 30, 40, 50, 60, 70, 80]
    assert [r.batch_size for r in out] == [2, 2, 1, 1, 3, 3, 3, 1]


def test_window_gathers_requests_then_runs():
    rec = Recorder()

    async def main() -> tuple[list[Batched], float]:
        b = DynamicBatcher(rec, window=0.3, max_cost=100, max_items=10)
        b.start()
        t0 = time.monotonic()
        first = asyncio.create_task(b.submit(1))
        await asyncio.sleep(0.1)
        rest = [asyncio.create_task(b.submit(i)) for i in (2, 3)]
        out = [await first] + [await t for t in rest]
        elapsed = time.monotonic() - t0
        await b.close()
        return out, elapsed

    out, elapsed = run(main)
    assert rec.batches == [[1, 2, 3]]
    assert elapsed >= 0.29 and out[0].queued_s >= 0.29 and out[1].queued_s < out[0].queued_s
    assert [r.batch_size for r in out] == [3, 3, 3]


def test_one_bad_item_does_not_fail_its_neighbours():
    rec = Recorder(bad=(2,), poison=(5,))

    async def main() -> tuple[list, Any]:
        b = DynamicBatcher(rec, window=10.0, max_cost=100, max_items=3)
        b.start()
        return await submit_all(b, [(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1)]), b.stats

    out, stats = run(main)
    assert isinstance(out[1], ValueError) and str(out[1]) == "bad item 2"  # an exception for one item only
    assert [r.result for r in (out[0], out[2])] == [10, 30] and out[0].batch_size == 3
    # the batch [4, 5, 6] raised as a whole: retried one by one, only 5 fails
    assert rec.batches == [[1, 2, 3], [4, 5, 6], [4], [5], [6]]
    assert isinstance(out[4], ValueError) and [out[3].result, out[5].result] == [40, 60]
    assert stats.batches == 2 and stats.items == 6 and stats.sizes == {3: 2} and stats.largest == 3
    assert stats.to_dict()["sizes"] == {"3": 2} and stats.to_dict()["items"] == 6


def test_wrong_number_of_results_is_an_error_for_each_item():
    async def main() -> list:
        b = DynamicBatcher(lambda items: [0], window=10.0, max_items=2)
        b.start()
        return await submit_all(b, [(1, 1), (2, 1)])

    out = run(main)
    # the batch of 2 got 1 result: retried alone, where one result is right
    assert [r.result for r in out] == [0, 0] and [r.batch_size for r in out] == [2, 2]


def test_queue_full_and_closed():
    gate = threading.Event()
    rec = Recorder(gate=gate)

    async def main() -> list[Batched]:
        b = DynamicBatcher(rec, window=0.0, max_items=1, max_queue=2)
        b.start()
        running = asyncio.create_task(b.submit(1))
        await rec.running()  # taken by the worker, which waits on the gate
        queued = [asyncio.create_task(b.submit(i)) for i in (2, 3)]
        await asyncio.sleep(0.05)
        assert b.queued == 2
        with pytest.raises(QueueFull, match="2 requests are waiting"):
            await b.submit(4)
        gate.set()
        closing = asyncio.create_task(b.close())
        await asyncio.sleep(0)
        with pytest.raises(Closed):
            await b.submit(5)
        await closing
        return [await running] + [await t for t in queued]

    out = run(main)
    assert [r.result for r in out] == [10, 20, 30]  # queued before close: still done
    assert rec.batches == [[1], [2], [3]]


def test_a_caller_that_went_away_is_dropped_before_its_batch_runs():
    gate = threading.Event()
    rec = Recorder(gate=gate)

    async def main() -> list:
        b = DynamicBatcher(rec, window=0.0, max_items=4)
        b.start()
        first = asyncio.create_task(b.submit(1))
        await rec.running()
        others = {i: asyncio.create_task(b.submit(i)) for i in (2, 3, 4)}
        await asyncio.sleep(0.05)
        others[3].cancel()
        gate.set()
        await b.close()
        return [await first, await others[2], await others[4]]

    out = run(main)
    assert rec.batches == [[1], [2, 4]] and [r.result for r in out] == [10, 20, 40]


def test_bad_limits():
    for bad in (dict(window=-1.0), dict(max_cost=0), dict(max_items=0), dict(max_queue=0), dict(workers=0)):
        with pytest.raises(ValueError, match="bad batcher limits"):
            DynamicBatcher(lambda items: items, **bad)


def test_thread_init_runs_on_the_batch_thread_before_any_batch():
    names: list[str] = []

    async def main() -> list[int]:
        b = DynamicBatcher(Recorder(), window=0.0, thread_init=lambda: names.append(threading.current_thread().name))
        b.start()
        out = [(await b.submit(3)).result, (await b.submit(4)).result]
        await b.close()
        return out

    assert run(main) == [30, 40]
    assert len(names) == 1 and names[0].startswith("batch")  # once, on the worker thread
    with pytest.raises(ValueError, match="thread_init is for the batcher's own worker thread"):
        DynamicBatcher(lambda items: items, executor=ThreadPoolExecutor(1), thread_init=lambda: None)


def test_two_workers_run_two_batches_at_once_and_close_waits_for_both():
    """``workers=2``: while one batch is held, the next runs on the second worker thread (with one worker this
    barrier would time out); each caller still gets its own result, and close() returns only after both batches."""
    both = threading.Barrier(2, timeout=10)
    threads: set[str] = set()

    def run_batch(items: list[int]) -> list[int]:
        threads.add(threading.current_thread().name)
        both.wait()  # both batches must be running at the same time to pass
        return [i * 10 for i in items]

    async def main() -> list:
        b = DynamicBatcher(run_batch, window=0.0, max_items=2, workers=2)
        b.start()
        tasks = [asyncio.create_task(b.submit(i)) for i in (1, 2, 3, 4)]
        await asyncio.sleep(0)
        await b.close()
        assert all(t.done() for t in tasks)
        return [await t for t in tasks]

    out = run(main)
    assert [r.result for r in out] == [10, 20, 30, 40] and [r.batch_size for r in out] == [2, 2, 2, 2]
    assert len(threads) == 2 and not both.broken


def test_one_worker_runs_one_batch_at_a_time():
    active, peak = [0], [0]
    lock = threading.Lock()

    def run_batch(items: list[int]) -> list[int]:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1
        return items

    async def main() -> None:
        b = DynamicBatcher(run_batch, window=0.0, max_items=1)
        b.start()
        await asyncio.gather(*(b.submit(i) for i in range(6)))
        await b.close()

    run(main)
    assert peak[0] == 1
