"""bench/_common.py: ``write_json`` (every benchmark's ``--json``) creates the folder the documented commands
name (``exp/int8/...``, ``exp/serve_bench/...``), which a fresh clone does not have."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from helpers import REPO

sys.path.insert(0, str(REPO / "bench"))
import _common as C  # noqa: E402


def test_write_json_creates_missing_folders(tmp_path: Path) -> None:
    target = tmp_path / "exp" / "serve_bench" / "costs.json"
    assert C.write_json(target, {"turns": 4, "ms": [1.5]}) == target
    text = target.read_text()
    assert text.endswith("\n")
    assert json.loads(text) == {"turns": 4, "ms": [1.5]}


def test_write_json_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    target.write_text("old")
    C.write_json(str(target), [1, 2])
    assert json.loads(target.read_text()) == [1, 2]
