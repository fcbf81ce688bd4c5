"""Keeping a long-running server's memory flat under glibc's malloc.

Why: torch allocates CPU tensors with the C allocator. A server decodes batches of changing sizes on several
threads (HTTP, audio preparation, the batch worker), and glibc's malloc then keeps freed pages: one arena per
thread that allocated under contention (up to 8 per core), each holding on to the pages of the largest batch it
has seen, and its free-list holes. Measured over a 10-minute paced soak of the demo server (docs/BENCHMARKS.md,
"Soak"): RSS +12.5 % after warm-up by default, +5.2 % with 2 arenas, in steps when a new largest batch came;
+0.4 % (the largest sample of the last minute: +2.4 % over the first) with the idle trim below.

Two remedies, both glibc-only (elsewhere they do nothing; :func:`limit_arenas` logs it):

- :class:`IdleTrimmer` hands freed pages back to the system (``malloc_trim(0)``, every arena) when the server is
  idle, at most once per ``interval`` seconds, so that a busy server never pays for it (the server's default);
- :func:`limit_arenas` caps the number of arenas (``mallopt(M_ARENA_MAX, n)``, what the ``MALLOC_ARENA_MAX``
  environment variable does); call it before the threads start. Off by default (``serve --malloc-arenas``):
  the threads then wait for each other's arena locks.

Example::

    limit_arenas(2)           # optional: fewer arenas, less memory held, more lock waits between threads
    trim = IdleTrimmer(interval=1.0)
    ...                       # after each batch, on the batch thread:
    trim.maybe(idle=no_other_request_in_the_server)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import time

log = logging.getLogger("chunkformer.serving")

M_ARENA_MAX = -8  # glibc's malloc.h
DEFAULT_ARENAS = 0  # glibc's own (8 per core): with 2, one saturation run gave 147 audio s/s against 171 without


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        lib = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return lib if lib is not None and hasattr(lib, "mallopt") and hasattr(lib, "malloc_trim") else None


_LIBC = _libc()


def limit_arenas(n: int) -> bool:
    """Caps glibc malloc at ``n`` arenas; False (and a log line) where the C library is not glibc."""
    if n < 1:
        raise ValueError(f"arena count must be at least 1, got {n}")
    if _LIBC is None or _LIBC.mallopt(M_ARENA_MAX, n) != 1:
        log.info("malloc arenas not limited: the C library is not glibc")
        return False
    return True


class IdleTrimmer:
    """Calls ``malloc_trim(0)`` when asked while idle, at most once per ``interval`` seconds (0: never)."""

    def __init__(self, interval: float = 1.0) -> None:
        if interval < 0:
            raise ValueError(f"trim interval must not be negative, got {interval}")
        self.interval = interval
        self.trims = 0
        self._last = time.monotonic()

    @property
    def enabled(self) -> bool:
        return self.interval > 0 and _LIBC is not None

    def maybe(self, idle: bool) -> bool:
        """Trims if ``idle`` and the interval has passed since the last trim; True when it trimmed."""
        now = time.monotonic()
        if not (idle and self.enabled and now - self._last >= self.interval):
            return False
        assert _LIBC is not None
        _LIBC.malloc_trim(0)
        self._last = time.monotonic()
        self.trims += 1
        return True
