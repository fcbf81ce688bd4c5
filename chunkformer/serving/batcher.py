"""Dynamic batching for an asyncio server: requests that arrive close together run as one batch.

A batch closes when its oldest request has waited ``window`` seconds, when the queued work reaches the
``max_cost`` budget (e.g. fbank frames) or ``max_items`` requests, or at once while the server drains. Up to
``workers`` batches run at once, each on its own worker thread (default one; a model used for inference only is
read, never written, so the threads can share it); while they run, the next batch fills, so under load the
window is never waited for: the queue is taken as soon as a worker is free.

- **Order and no starvation**: strictly first in, first out. A request that does not fit the budget heads the
  next batch; one larger than the whole budget runs alone.
- **Back-pressure**: at most ``max_queue`` requests wait; :meth:`DynamicBatcher.submit` raises
  :class:`QueueFull` beyond that (a server answers 503), and :class:`Closed` once :meth:`close` was called.
- **Results** go back to each request's own future. ``run`` returns one result or one exception per item; if
  it raises for a whole batch, each item is retried alone, so one bad request cannot fail its neighbours.
  A request whose caller went away (cancelled future) is dropped before its batch runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
log = logging.getLogger("chunkformer.serving")


class QueueFull(RuntimeError):
    """The queue holds ``max_queue`` requests already: try again later."""


class Closed(RuntimeError):
    """The batcher is closing (server shutting down) and takes no new request."""


@dataclass
class Batched(Generic[R]):
    """One request's result and how it was served."""

    result: R
    batch_size: int
    queued_s: float  # from submit to the start of its batch
    compute_s: float  # the batch's run time


@dataclass
class _Job(Generic[T]):
    item: T
    cost: int
    future: asyncio.Future
    arrived: float


@dataclass
class BatcherStats:
    """Batches run so far, kept as one histogram (batch size → number of batches) and the busy time; the
    totals are derived from it, so they cannot disagree."""

    sizes: dict[int, int] = field(default_factory=dict)
    busy_s: float = 0.0

    @property
    def batches(self) -> int:
        return sum(self.sizes.values())

    @property
    def items(self) -> int:
        return sum(size * n for size, n in self.sizes.items())

    @property
    def largest(self) -> int:
        return max(self.sizes, default=0)

    def add(self, size: int, seconds: float) -> None:
        self.busy_s += seconds
        self.sizes[size] = self.sizes.get(size, 0) + 1

    def to_dict(self) -> dict:
        """What ``GET /health`` reports (JSON keys are strings)."""
        return {"batches": self.batches, "items": self.items, "largest": self.largest,
                "busy_s": self.busy_s, "sizes": {str(k): v for k, v in sorted(self.sizes.items())}}


class DynamicBatcher(Generic[T, R]):
    """Collects submitted items into batches for ``run`` (called on one worker thread; ``thread_init`` runs
    first on that thread, e.g. to set its torch threads); see the module doc."""

    def __init__(self, run: Callable[[list[T]], Sequence[R | Exception]], *, window: float = 0.03,
                 max_cost: int = 12000, max_items: int = 64, max_queue: int = 256,
                 executor: Executor | None = None, thread_init: Callable[[], None] | None = None,
                 workers: int = 1) -> None:
        if window < 0 or max_cost < 1 or max_items < 1 or max_queue < 1 or workers < 1:
            raise ValueError(f"bad batcher limits: window={window} max_cost={max_cost} max_items={max_items} "
                             f"max_queue={max_queue} workers={workers}")
        if executor is not None and thread_init is not None:
            raise ValueError("thread_init is for the batcher's own worker thread: initialise your executor's")
        self._run = run
        self.window, self.max_cost, self.max_items, self.max_queue = window, max_cost, max_items, max_queue
        self.workers = workers
        self._executor = executor or ThreadPoolExecutor(workers, thread_name_prefix="batch", initializer=thread_init)
        self._own_executor = executor is None
        self._queue: deque[_Job[T]] = deque()
        self._cost = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()
        self._free: asyncio.Semaphore | None = None
        self.stats = BatcherStats()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        """Starts the batching loop on the running event loop."""
        if self._task is None:
            self._free = asyncio.Semaphore(self.workers)
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="dynamic-batcher")

    async def submit(self, item: T, cost: int = 1) -> Batched[R]:
        """Queues ``item`` (``cost`` units of the budget) and waits for its result; raises what ``run`` returned
        for it, :class:`QueueFull` or :class:`Closed`."""
        if self._closing:
            raise Closed("the server is shutting down")
        if len(self._queue) >= self.max_queue:
            raise QueueFull(f"{len(self._queue)} requests are waiting (the limit)")
        loop = asyncio.get_running_loop()
        job = _Job(item, max(1, cost), loop.create_future(), time.monotonic())
        self._queue.append(job)
        self._cost += job.cost
        self._wake.set()
        return await job.future

    async def close(self) -> None:
        """Takes no new request, runs every queued one (without waiting for the window), then stops."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        if self._own_executor:
            self._executor.shutdown(wait=True)

    def _full(self) -> bool:
        return self._cost >= self.max_cost or len(self._queue) >= self.max_items

    async def _loop(self) -> None:
        assert self._free is not None
        while True:
            if not self._queue:
                if self._closing:
                    if self._running:
                        await asyncio.gather(*self._running)
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._free.acquire()  # a worker for the next batch: while all are busy, the queue fills
            first = self._queue[0]
            while not self._full() and not self._closing:
                remaining = first.arrived + self.window - time.monotonic()
                if remaining <= 0:
                    break
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), remaining)
                except asyncio.TimeoutError:
                    break
            batch = self._take()
            if not batch:
                self._free.release()
                continue
            task = asyncio.get_running_loop().create_task(self._execute(batch))
            self._running.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._running.discard(task)
        assert self._free is not None
        self._free.release()

    def _take(self) -> list[_Job[T]]:
        """The next batch, first in first out, within the budget; drops requests whose caller went away."""
        batch: list[_Job[T]] = []
        cost = 0
        while self._queue and len(batch) < self.max_items:
            job = self._queue[0]
            if job.future.done():  # cancelled: the client disconnected
                self._queue.popleft()
                self._cost -= job.cost
                continue
            if batch and cost + job.cost > self.max_cost:
                break
            self._queue.popleft()
            self._cost -= job.cost
            batch.append(job)
            cost += job.cost
        return batch

    async def _execute(self, batch: list[_Job[T]]) -> None:
        loop = asyncio.get_running_loop()
        start = time.monotonic()
        try:
            results = list(await loop.run_in_executor(self._executor, self._run, [j.item for j in batch]))
            if len(results) != len(batch):
                raise RuntimeError(f"batch function returned {len(results)} results for {len(batch)} items")
        except Exception as e:
            if len(batch) == 1:
                results = [e]
            else:
                log.warning("batch of %d failed (%s): retrying each request alone", len(batch), e)
                results = [await self._alone(loop, j) for j in batch]
        seconds = time.monotonic() - start
        self.stats.add(len(batch), seconds)
        for job, res in zip(batch, results):
            if job.future.done():
                continue
            if isinstance(res, Exception):
                job.future.set_exception(res)
            else:
                job.future.set_result(Batched(res, len(batch), start - job.arrived, seconds))

    async def _alone(self, loop: asyncio.AbstractEventLoop, job: _Job[T]) -> R | Exception:
        try:
            return (await loop.run_in_executor(self._executor, self._run, [job.item]))[0]
        except Exception as e:
            return e
