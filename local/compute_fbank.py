#!/usr/bin/env python3
"""Stage 1: fbank features of the val/test sets (and of train domains without waveform augmentation).

    python local/compute_fbank.py --manifest-dir data/manifests --out-dir data/fbank [--num-jobs 2]

Features are exactly the model front end's (:func:`chunkformer.frontend.fbank`, via the lhotse extractor
:class:`chunkformer.data.fbank.ChunkFormerFbank`: audio resampled to 16 kHz, its own channel, Kaldi snip-edges
framing, so ``T = 1 + (N - 400) // 160``). They are stored losslessly (lhotse ``NumpyFilesWriter``) and attached
to copies of the stage-0 cuts, written as ``<out>/<domain>_cuts_<split>.jsonl.gz``. lhotse's
``compute_and_store_features`` is not used: its manifest check assumes ``ceil(duration / shift)`` frames.
``<manifest-dir>/features.json`` records where the features are, for :func:`chunkformer.data.datamodule.eval_sets`.

Idempotent per (domain, split): a set whose stage-0 cuts are unchanged and whose outputs (every feature file)
exist is skipped. A cut whose audio cannot be loaded any more (the corpus changed after stage 0) fails its set
with one line naming the cut and the file; the other sets are still computed, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import logging
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch
from lhotse import CutSet, load_manifest
from lhotse.features import Features
from lhotse.features.io import NumpyFilesWriter
from lhotse.utils import fastcopy
from tqdm import tqdm

from chunkformer.audio import MODEL_RATE
from chunkformer.data.augment import WAVE_OPS
from chunkformer.data.fbank import ChunkFormerFbank
from chunkformer.data.manifests import (
    FEATURES_INFO,
    FbankDone,
    FeaturesInfo,
    Stage0Done,
    cuts_path,
    domains_of,
    marker_path,
)
from chunkformer.data.pipeline import load_mono
from chunkformer.frontend import FRAME_SHIFT
from chunkformer.utils.cli import error
from chunkformer.utils.io import file_digest
from chunkformer.utils.logs import setup_logger

log = logging.getLogger("stage1")
_WRITER: Any = None


def fbank_units(manifest_dir: Path) -> list[tuple[str, str]]:
    """(split, domain) pairs that get stored features: val/test, and train domains with no waveform ops."""
    units = [(s, d) for s in ("val", "test") for d in domains_of(manifest_dir, s)]
    done = Stage0Done.read(marker_path(manifest_dir, "stage0-train"))
    for dom, aug in (done.aug if done else {}).items():
        if not set(aug) & set(WAVE_OPS) and cuts_path(manifest_dir, dom, "train").exists():
            units.append(("train", dom))
    return units


def _init_worker(storage: str) -> None:
    global _WRITER
    torch.set_num_threads(1)
    _WRITER = NumpyFilesWriter(storage)


def _extract(cut: Any) -> Any:
    """Computes, stores and attaches the features of one cut (in a worker)."""
    x, rate = load_mono(cut)
    arr = ChunkFormerFbank().extract(x, rate)
    key = _WRITER.write(cut.id, arr)
    feats = Features(type=ChunkFormerFbank.name, num_frames=int(arr.shape[0]), num_features=int(arr.shape[1]),
                     frame_shift=FRAME_SHIFT, sampling_rate=MODEL_RATE, start=cut.start, duration=cut.duration,
                     storage_type=_WRITER.name, storage_path=str(_WRITER.storage_path), storage_key=key,
                     recording_id=cut.recording.id, channels=cut.channel)
    return fastcopy(cut, features=feats)


def compute_set(src: Path, dst: Path, storage: Path, num_jobs: int, desc: str) -> int:
    """Features for every cut of ``src``; writes ``dst`` (atomically, last); returns the number of cuts."""
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


def features_complete(dst: Path) -> bool:
    """True when every cut of the stage-1 cuts ``dst`` has its feature file (one deleted: the set is redone)."""
    try:
        cuts = load_manifest(dst)
    except Exception:  # unreadable or half-written manifest: not complete
        return False
    return all(Path(c.features.storage_path, c.features.storage_key).is_file() for c in cuts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest-dir", type=Path, default=Path("data/manifests"))
    p.add_argument("--out-dir", type=Path, default=Path("data/fbank"))
    p.add_argument("--num-jobs", type=int, default=2)
    a = p.parse_args(argv)
    setup_logger(None)
    torch.set_num_threads(1)
    if not any(marker_path(a.manifest_dir, f"stage0-{s}").exists() for s in ("train", "val", "test")):
        return error(f"{a.manifest_dir}: no stage-0 manifests; run local/prepare_manifests.py first")
    out = a.out_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    FeaturesInfo(str(out)).write(a.manifest_dir / FEATURES_INFO)
    units = fbank_units(a.manifest_dir)
    skipped, done, failed = [], [], []
    for split, dom in units:
        src, dst = cuts_path(a.manifest_dir, dom, split), cuts_path(out, dom, split)
        storage = out / f"{dom}_feats_{split}"
        marker = marker_path(out, f"fbank-{dom}-{split}")
        digest = file_digest(src)
        info = FbankDone.read(marker)
        if info and info.input == digest and dst.exists() and storage.is_dir() and features_complete(dst):
            skipped.append(f"{split}/{dom}")
            continue
        marker.unlink(missing_ok=True)
        try:
            n = compute_set(src, dst, storage, a.num_jobs, desc=f"stage 1 fbank {split}/{dom}")
        except ValueError as e:  # a cut whose audio changed after stage 0 (CutAudioError): the others go on
            failed.append(f"{split}/{dom}: {e}")
            continue
        FbankDone(digest, n).write(marker)
        log.info("stage 1: %s/%s: %d cuts -> %s", split, dom, n, dst)
        done.append(f"{split}/{dom}")
    for f in failed:
        error(f)
    if failed:
        return error(f"stage 1: {len(failed)} of {len(units)} feature sets failed (see above)", code=1)
    if not done:
        print(f"stage 1: already done ({len(skipped)} feature sets in {out}: {', '.join(skipped) or 'none'}), "
              "nothing to do")
    elif skipped:
        print(f"stage 1: computed {', '.join(done)}; already done: {', '.join(skipped)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
