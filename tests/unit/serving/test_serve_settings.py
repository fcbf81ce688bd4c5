"""``python -m chunkformer.serve``'s command line → ServerSettings: how --threads is split between the batch
workers (auto: two 1-thread workers on 2 threads, the faster setting measured on 2 cores)."""

from __future__ import annotations

import pytest
import torch

from chunkformer.serve import parse_args, settings_from


def settings(*args: str):
    return settings_from(parse_args(["--model", "m", *args]))


@pytest.mark.parametrize(("args", "workers", "threads"), [
    (("--threads", "1"), 1, 1),
    (("--threads", "2"), 2, 1),
    (("--threads", "4"), 2, 2),
    (("--threads", "5"), 2, 2),
    (("--threads", "2", "--batch-workers", "1"), 1, 2),
    (("--threads", "2", "--batch-workers", "3"), 3, 1),  # more workers than threads: one thread each
])
def test_threads_are_split_between_the_batch_workers(args, workers, threads):
    s = settings(*args)
    assert (s.batch_workers, s.model_threads) == (workers, threads)


def test_without_threads_torchs_default_is_split(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    s = settings()
    assert (s.batch_workers, s.model_threads) == (2, 1)


@pytest.mark.parametrize("args", [("--threads", "-1"), ("--batch-workers", "-2")])
def test_negative_counts_are_refused(args):
    with pytest.raises(ValueError, match="must not be negative"):
        settings(*args)
