"""Shared fixtures: the official golden files (tests/fixtures/official) and tiny models."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"
OFFICIAL = FIXTURES / "official"
sys.path.insert(0, str(FIXTURES))


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
