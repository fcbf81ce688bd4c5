"""Memory hand-back of the server (chunkformer.serving.memory), on the real C library (CI runs on glibc)."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from chunkformer.serving.memory import IdleTrimmer, limit_arenas

GLIBC = platform.libc_ver()[0] == "glibc"

# Allocates ~190 MiB in 64 KiB blocks (below glibc's mmap threshold: they come from the heap), keeps the last
# one so that free() cannot give the heap's top back by itself, frees the rest: RSS stays up until a trim.
_PROBE = """
import psutil, sys
from chunkformer.serving.memory import IdleTrimmer
rss = lambda: psutil.Process().memory_info().rss / 2**20
blocks = [bytearray(b"x" * 65536) for _ in range(3000)]
keep = blocks[-1]
del blocks[:-1]
held = rss()
t = IdleTrimmer(interval=1e-9)
assert t.maybe(idle=True)
print(held, rss())
"""


@pytest.mark.skipif(not GLIBC, reason="glibc malloc only")
def test_an_idle_trim_gives_freed_heap_pages_back_to_the_system() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True)
    held, after = map(float, out.stdout.split())
    assert held - after > 150, (held, after)  # MiB


@pytest.mark.skipif(not GLIBC, reason="glibc malloc only")
def test_the_trimmer_runs_only_when_idle_and_not_more_often_than_its_interval() -> None:
    t = IdleTrimmer(interval=3600.0)
    assert not t.maybe(idle=True)  # the interval counts from creation
    t._last -= 3600.0
    assert not t.maybe(idle=False) and t.trims == 0
    assert t.maybe(idle=True) and t.trims == 1
    assert not t.maybe(idle=True) and t.trims == 1  # too soon
    assert not IdleTrimmer(interval=0).maybe(idle=True)  # 0: never
    with pytest.raises(ValueError):
        IdleTrimmer(interval=-1)


@pytest.mark.skipif(not GLIBC, reason="glibc malloc only")
def test_limit_arenas_is_accepted_by_glibc_and_rejects_zero() -> None:
    assert limit_arenas(8)  # glibc's own default on this size of machine: harmless for the test process
    with pytest.raises(ValueError):
        limit_arenas(0)
