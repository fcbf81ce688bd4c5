"""Files every stage writes: atomic replacement, content digests, and typed JSON records (stage markers, plans).

Standard library only, so the data layer reads and writes its stage files without importing torch or the model.

>>> from dataclasses import dataclass
>>> @dataclass
... class Done(JsonRecord):
...     input: str
...     cuts: int
>>> Done.from_json(Done("ab12", 3).to_json())
Done(input='ab12', cuts=3)
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any, TypeVar

R = TypeVar("R", bound="JsonRecord")


def numbered_lines(path: str | Path, what: str = "file") -> Iterator[tuple[int, str]]:
    """(1-based line number, line) of a UTF-8 text file's non-blank lines; FileNotFoundError naming ``what``,
    ValueError naming the file when it is not UTF-8 text.

    The reader of the project's line files (``vocab.txt``, Kaldi ``text``), so that errors point at
    ``path:line``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {what} not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: {what} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            yield lineno, line


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> None:
    """``write(f)`` to a temp file in the same folder, fsync, then rename: a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        Path(tmp).chmod(0o666 & ~umask)  # mkstemp creates 0600; outputs are shared like any other file
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def file_digest(path: str | Path) -> str:
    """Short sha256 of a file's bytes (staleness checks between stages)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


class JsonRecord:
    """Mixin for a dataclass of JSON values: ``to_json``/``from_json`` (sorted keys, one space indent) and
    ``write``/``read`` (atomic; ``read`` gives None for a missing, unreadable or differently shaped file, which
    every stage treats as "not done")."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True, default=list) + "\n"  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[R], data: dict[str, Any]) -> R:
        return cls(**data)

    @classmethod
    def from_json(cls: type[R], text: str) -> R:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"{cls.__name__}: expected a JSON object")
        return cls.from_dict(data)

    def write(self, path: str | Path) -> None:
        atomic_write_text(path, self.to_json())

    @classmethod
    def read(cls: type[R], path: str | Path) -> R | None:
        try:
            return cls.from_json(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None
