#!/usr/bin/env python3
"""Stage 1: fbank features of the val/test sets (and of train domains without waveform augmentation).

    python local/compute_fbank.py --manifest-dir data/manifests --out-dir data/fbank [--num-jobs 2]

Features are exactly the model front end's (:func:`chunkformer.frontend.fbank`, via
``KaldiFbankExtractor().extract``: audio resampled to 16 kHz, channels averaged, Kaldi snip-edges framing,
so ``T = 1 + (N - 400) // 160``). They are stored losslessly (lhotse ``NumpyFilesWriter``) and attached
to copies of the stage-0 cuts, written as ``<out>/<domain>_cuts_<split>.jsonl.gz``. lhotse's
``compute_and_store_features`` is not used: its manifest check assumes ``ceil(duration / shift)`` frames.
``<manifest-dir>/features.json`` records where the features are, for :func:`chunkformer.data.datamodule.eval_sets`.

Idempotent per (domain, split): a set whose stage-0 cuts are unchanged and whose outputs exist is skipped.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from chunkformer.checkpoint import atomic_write_text
from chunkformer.data.config import WAVE_OPS
from chunkformer.data.manifests import cuts_path, domains_of, file_digest, marker_path, read_marker, write_marker

log = logging.getLogger("stage1")
_WRITER: Any = None


def fbank_units(manifest_dir: Path) -> list[tuple[str, str]]:
    """(split, domain) pairs that get stored features: val/test, and train domains with no waveform ops."""
    units = [(s, d) for s in ("val", "test") for d in domains_of(manifest_dir, s)]
    info = read_marker(marker_path(manifest_dir, "stage0-train")) or {}
    for dom, aug in (info.get("aug") or {}).items():
        if not set(aug) & set(WAVE_OPS) and cuts_path(manifest_dir, dom, "train").exists():
            units.append(("train", dom))
    return units


def _init_worker(storage: str) -> None:
    global _WRITER
    from lhotse.features.io import NumpyFilesWriter

    torch.set_num_threads(1)
    _WRITER = NumpyFilesWriter(storage)


def _extract(cut: Any) -> Any:
    """Computes, stores and attaches the features of one cut (in a worker)."""
    from lhotse.features import Features
    from lhotse.utils import fastcopy

    from chunkformer.data.pipeline import load_mono
    from chunkformer.frontend import KaldiFbankExtractor

    x, rate = load_mono(cut)
    arr = KaldiFbankExtractor().extract(x, rate)
    key = _WRITER.write(cut.id, arr)
    feats = Features(type="chunkformer-fbank", num_frames=int(arr.shape[0]), num_features=int(arr.shape[1]),
                     frame_shift=0.01, sampling_rate=16000, start=cut.start, duration=cut.duration,
                     storage_type=_WRITER.name, storage_path=str(_WRITER.storage_path), storage_key=key,
                     recording_id=cut.recording.id, channels=cut.channel)
    return fastcopy(cut, features=feats)


def compute_set(src: Path, dst: Path, storage: Path, num_jobs: int, desc: str) -> int:
    """Features for every cut of ``src``; writes ``dst`` (atomically, last); returns the number of cuts."""
    from lhotse import CutSet, load_manifest

    cuts = list(load_manifest(src))
    storage.mkdir(parents=True, exist_ok=True)
    if num_jobs > 1 and len(cuts) > 1:
        with ProcessPoolExecutor(num_jobs, initializer=_init_worker, initargs=(str(storage),)) as ex:
            out = list(tqdm(ex.map(_extract, cuts, chunksize=8), total=len(cuts), desc=desc, unit="cut"))
    else:
        _init_worker(str(storage))
        out = [_extract(c) for c in tqdm(cuts, desc=desc, unit="cut")]
    tmp = dst.with_name(".tmp_" + dst.name)
    CutSet.from_cuts(out).to_file(tmp)
    tmp.replace(dst)
    return len(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest-dir", type=Path, default=Path("data/manifests"))
    p.add_argument("--out-dir", type=Path, default=Path("data/fbank"))
    p.add_argument("--num-jobs", type=int, default=2)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(filename)s:%(lineno)d] %(message)s")
    torch.set_num_threads(1)
    if not any(marker_path(a.manifest_dir, f"stage0-{s}").exists() for s in ("train", "val", "test")):
        print(f"error: {a.manifest_dir}: no stage-0 manifests; run local/prepare_manifests.py first", file=sys.stderr)
        return 2
    out = a.out_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(a.manifest_dir / "features.json", json.dumps({"fbank_dir": str(out)}, indent=1) + "\n")
    units = fbank_units(a.manifest_dir)
    skipped, done = [], []
    for split, dom in units:
        src, dst = cuts_path(a.manifest_dir, dom, split), cuts_path(out, dom, split)
        storage = out / f"{dom}_feats_{split}"
        marker = marker_path(out, f"fbank-{dom}-{split}")
        digest = file_digest(src)
        info = read_marker(marker)
        if info and info.get("input") == digest and dst.exists() and storage.is_dir():
            skipped.append(f"{split}/{dom}")
            continue
        marker.unlink(missing_ok=True)
        n = compute_set(src, dst, storage, a.num_jobs, desc=f"stage 1 fbank {split}/{dom}")
        write_marker(marker, {"input": digest, "cuts": n})
        log.info("stage 1: %s/%s: %d cuts -> %s", split, dom, n, dst)
        done.append(f"{split}/{dom}")
    if not done:
        print(f"stage 1: already done ({len(skipped)} feature sets in {out}: {', '.join(skipped) or 'none'}), "
              "nothing to do")
    elif skipped:
        print(f"stage 1: computed {', '.join(done)}; already done: {', '.join(skipped)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
