"""Every chunkformer module imports on its own, as the first chunkformer import of a process (no cycles)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import chunkformer

from helpers import REPO

ROOT = REPO

_SCRIPT = """
import importlib, sys
failed = []
for name in sys.argv[1:]:
    for mod in [m for m in sys.modules if m == "chunkformer" or m.startswith("chunkformer.")]:
        del sys.modules[mod]
    try:
        importlib.import_module(name)
    except Exception as e:
        failed.append(f"{name}: {type(e).__name__}: {e}")
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_first() -> None:
    names = [m.name for m in pkgutil.walk_packages(chunkformer.__path__, "chunkformer.")]
    assert "chunkformer.model.masked_batch" in names and len(names) > 20
    r = subprocess.run([sys.executable, "-c", _SCRIPT, *names], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
