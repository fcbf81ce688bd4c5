"""One log format for every entry point (icefall's ``setup_logger`` idea): time, level, rank, message; to
stderr and, for rank 0, to a file.

>>> setup_logger(None, rank=0)  # stderr only
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s [rank %(rank)s] %(name)s: %(message)s"


def setup_logger(log_file: str | Path | None, rank: int = 0, level: int = logging.INFO) -> None:
    """Configures the root logger once per process; ``log_file`` (appended) is written by rank 0 only."""
    root = logging.getLogger()
    root.setLevel(level)
    for h in list(root.handlers):
        if getattr(h, "_chunkformer", False):
            root.removeHandler(h)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None and rank == 0:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    fmt = logging.Formatter(FORMAT)
    for h in handlers:
        h.setFormatter(fmt)
        h.addFilter(_RankFilter(rank))
        h._chunkformer = True  # type: ignore[attr-defined]
        root.addHandler(h)


class _RankFilter(logging.Filter):
    def __init__(self, rank: int) -> None:
        super().__init__()
        self.rank = rank

    def filter(self, record: logging.LogRecord) -> bool:
        record.rank = self.rank
        return True
