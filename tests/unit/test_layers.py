"""The layer contracts of pyproject.toml ([tool.importlinter]) hold, and they bite: one import that goes up a layer,
added to a copy of the package, makes ``lint-imports`` fail and name it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from helpers import REPO

ROOT = REPO
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT), "--no-cache", "--no-logo"], cwd=root, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(root)})


def test_a_forbidden_import_breaks_the_layers_contract(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "chunkformer", tmp_path / "chunkformer", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    ok = lint(tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    ctc = tmp_path / "chunkformer" / "model" / "ctc.py"  # the model layer may not read manifests (data layer)
    ctc.write_text(ctc.read_text(encoding="utf-8") + "\nfrom chunkformer.data import manifests  # noqa: E402\n",
                   encoding="utf-8")
    bad = lint(tmp_path)
    assert bad.returncode != 0
    assert "BROKEN" in bad.stdout and "chunkformer.model.ctc -> chunkformer.data.manifests" in bad.stdout, bad.stdout
