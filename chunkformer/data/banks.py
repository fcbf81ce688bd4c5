"""Noise and room-impulse-response sets for on-the-fly augmentation, written as wav files.

Generated sets (when data.yaml names no ``noise_dir`` / ``rir_dir``) use :mod:`chunkformer.data.augment`:
noises of the kinds white, pink, babble (summed utterances of the training set) and mains hum; RIRs with
RT60 drawn uniformly from a range, each one's measured RT60 listed in ``rirs.tsv``. Every set is seeded
and carries a ``.done`` marker holding its parameters, so it is regenerated only when they change or a
file is missing. User folders are read as they are (every audio file, recursively; unreadable and digitally silent files
are reported and skipped, never silently).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from tqdm import tqdm

from chunkformer.audio import MODEL_RATE, AudioError, read_audio, resample
from chunkformer.data.augment import make_noise, make_rir, measure_rt60
from chunkformer.data.pipeline import check_audible, load_mono
from chunkformer.data.sources import AUDIO_EXTS
from chunkformer.utils.io import JsonRecord

log = logging.getLogger("chunkformer.data")
BANK_RATE = MODEL_RATE


def _fingerprint(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class BankDone(JsonRecord):
    """``<bank>/.done``: the parameters a generated set was made with and its files."""

    fingerprint: str
    params: dict[str, Any]
    files: list[str]


def bank_is_current(out_dir: Path, params: dict[str, Any]) -> list[Path] | None:
    """The bank's files when its marker matches ``params`` and every file exists, else None."""
    done = BankDone.read(Path(out_dir) / ".done")
    if done is None or done.fingerprint != _fingerprint(params):
        return None
    files = [Path(out_dir) / f for f in done.files]
    return files if files and all(f.is_file() for f in files) else None


def _finish(out_dir: Path, params: dict[str, Any], files: list[Path]) -> list[Path]:
    BankDone(_fingerprint(params), params, [f.name for f in files]).write(Path(out_dir) / ".done")
    return files


def noise_params(kinds: list[str], per_kind: int, seconds: float, seed: int, babble_key: str | None) -> dict:
    """Everything a generated noise set depends on (``babble_key`` names the babble source utterances)."""
    return {"kinds": list(kinds), "per_kind": per_kind, "seconds": seconds, "seed": seed, "rate": BANK_RATE,
            "babble": babble_key if "babble" in kinds else None}


def rir_params(num: int, rt60_range: tuple[float, float], seed: int) -> dict:
    return {"num": num, "rt60_range": [float(rt60_range[0]), float(rt60_range[1])], "seed": seed, "rate": BANK_RATE}


def make_noise_bank(out_dir: Path, kinds: list[str], per_kind: int, seconds: float, seed: int,
                    babble_sources: list[np.ndarray] | None = None, babble_key: str | None = None) -> list[Path]:
    """Writes ``per_kind`` noises of ``seconds`` for each kind as 16 kHz wav files; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = noise_params(kinds, per_kind, seconds, seed, babble_key or _digest(babble_sources))
    files = []
    n = int(round(seconds * BANK_RATE))
    for kind in kinds:
        if kind == "babble" and not babble_sources:
            raise ValueError("babble noise needs training utterances (babble_sources)")
        for k in tqdm(range(per_kind), desc=f"noise {kind}", unit="file", leave=False):
            rng = np.random.default_rng([seed % 2**63, k, sum(map(ord, kind))])
            x = np.asarray(make_noise(kind, n, BANK_RATE, rng, babble_sources=babble_sources), dtype=np.float32)
            peak = float(np.abs(x).max()) or 1.0
            path = out_dir / f"{kind}_{k:03d}.wav"
            sf.write(str(path), 0.5 * x / peak, BANK_RATE, subtype="PCM_16")
            files.append(path)
    return _finish(out_dir, params, files)


def make_rir_bank(out_dir: Path, num: int, rt60_range: tuple[float, float], seed: int) -> list[Path]:
    """Writes ``num`` RIRs (RT60 ~ U(range)) as 16 kHz float wav files plus ``rirs.tsv``
    (file, target RT60, measured RT60 in seconds); returns the wav paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    params = rir_params(num, rt60_range, seed)
    lo, hi = params["rt60_range"]
    rng = np.random.default_rng([seed % 2**63, 0x717])
    rows, files = ["file\trt60_target\trt60_measured"], []
    for k in tqdm(range(num), desc="RIRs", unit="rir", leave=False):
        rt60 = float(rng.uniform(lo, hi))
        rir = np.asarray(make_rir(rt60, BANK_RATE, rng), dtype=np.float32)
        path = out_dir / f"rir_{k:04d}.wav"
        sf.write(str(path), rir, BANK_RATE, subtype="FLOAT")
        rows.append(f"{path.name}\t{rt60:.4f}\t{measure_rt60(rir, BANK_RATE):.4f}")
        files.append(path)
    (out_dir / "rirs.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return _finish(out_dir, params, files)


def list_audio(folder: Path, what: str) -> list[Path]:
    """Readable, non-silent audio files under a user folder; the others are logged with the reason."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: {what} folder not found")
    good = []
    for p in sorted(q for q in folder.rglob("*") if q.suffix.lower() in AUDIO_EXTS):
        try:
            check_audible(read_audio(p, rate=None)[0], p)
            good.append(p)
        except AudioError as e:
            log.warning("skipping %s file: %s", what, e)
    if not good:
        raise FileNotFoundError(f"{folder}: no usable audio files for the {what} set (unreadable or silent)")
    return good


def babble_choice(cuts: list[Any], num: int, seed: int) -> list[Any]:
    """The ``num`` training cuts (seeded choice, in manifest order) whose speech makes the babble noise."""
    if not cuts:
        return []
    idx = np.random.default_rng([seed % 2**63, 0xBAB]).choice(len(cuts), size=min(num, len(cuts)), replace=False)
    return [cuts[i] for i in sorted(int(j) for j in idx)]


def cut_audio_key(cut: Any) -> str:
    """A cut's id plus its audio file's size and mtime: a corpus regenerated in place under the same ids (the demo
    corpus after a generator change) gives new keys, so a babble bank made from the old audio is not reused."""
    try:
        st = Path(cut.recording.sources[0].source).stat()
        return f"{cut.id}:{st.st_size}:{st.st_mtime_ns}"
    except (AttributeError, IndexError, OSError, TypeError):  # command or in-memory source: no file to stat
        return f"{cut.id}:{cut.duration:.3f}"


def babble_sources_from(cuts: list[Any], num: int, seed: int) -> list[np.ndarray]:
    """:func:`babble_choice` loaded as 16 kHz mono arrays, the raw material of babble."""
    out = []
    for cut in babble_choice(cuts, num, seed):
        x, rate = load_mono(cut)
        out.append(resample(x, rate, BANK_RATE))
    return out


def _digest(arrays: list[np.ndarray] | None) -> str | None:
    if not arrays:
        return None
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype=np.float32).tobytes())
    return h.hexdigest()[:16]
