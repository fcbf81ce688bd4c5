"""Shared fixtures: the official golden files (tests/fixtures/official) and tiny models.

Layout: ``unit/`` mirrors the package (plus ``unit/local/`` for the recipe scripts); ``e2e/`` holds the
runs of whole stages, ``run.sh``, torchrun and kill -9, every file marked ``slow``; the two files at the top
check the shipped demo models on synthesised speech, also ``slow``. Shared builders (corpora, speech,
stage-script loading) live in ``helpers.py``. ``./test.sh -m "not slow"``: about 50 s on 2 cores.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"
OFFICIAL = FIXTURES / "official"
# Test files import shared builders from tests/helpers.py (never from each other) and the fixture generators.
sys.path[:0] = [str(TESTS), str(FIXTURES)]


@pytest.fixture(scope="session")
def golden() -> dict:
    return dict(np.load(OFFICIAL / "golden.npz"))


@pytest.fixture(scope="session")
def golden_meta() -> dict:
    return json.loads((OFFICIAL / "golden.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def official_model_dir() -> Path:
    return OFFICIAL / "model"


@pytest.fixture(scope="session")
def long_wave(golden_meta: dict) -> np.ndarray:
    """The 200 s utterance L, regenerated and checked against the sha256 the official run recorded."""
    from synth_audio import make_wave, pcm_sha256

    seed, seconds = golden_meta["audio"]["L"]["seed"], golden_meta["audio"]["L"]["seconds"]
    x = make_wave(seed, seconds)
    assert pcm_sha256(x) == golden_meta["audio"]["L"]["pcm_sha256"], "synthetic audio generator changed"
    return x
