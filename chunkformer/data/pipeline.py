"""Per-cut processing in DataLoader workers: load → 16 kHz → waveform augmentation → fbank → SpecAugment.

Randomness is per cut: ``numpy.random.default_rng((seed, epoch, hash(cut id)))``. A cut's augmentation
therefore depends only on (seed, epoch, cut id) — not on which worker loads it, nor on the batch it lands
in — so the same seed gives the same batches for any worker count, and every epoch differs.

Features are :func:`chunkformer.frontend.fbank` (the model front end; no CMVN, which is in the model).
Stage-1 features are used when a cut has them and no waveform augmentation applies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from chunkformer.audio import MODEL_RATE, SILENCE_DBFS, AudioError, is_silent, read_audio, resample
from chunkformer.data.augment import AugmentConfig, augment_waveform, spec_augment
from chunkformer.data.mixing import stable_hash
from chunkformer.frontend import fbank, num_frames
from chunkformer.text import normalize_text
from chunkformer.tokenizer import Tokenizer
from chunkformer.utils.cli import first_line


@dataclass
class Batch:
    """One mini-batch for the trainer (see :mod:`chunkformer.data.datamodule`)."""

    feats: list[torch.Tensor]    # (T_i, 80) float32 fbank, not normalized
    targets: list[torch.Tensor]  # (U_i,) int64 token ids
    cut_ids: list[str]
    domains: list[str]
    texts: list[str]             # normalized reference text
    duration: float              # seconds of audio after speed perturbation
    params: list[dict[str, Any]] = field(default_factory=list)  # augmentation actually applied, per cut


@dataclass
class AugPlan:
    """What stage 2 decided: the augmentation config, per-domain waveform ops and SpecAugment switch,
    and the noise / RIR sets (16 kHz float32 arrays)."""

    cfg: AugmentConfig
    ops: dict[str, frozenset[str]]
    specaug: dict[str, bool]
    noises: list[np.ndarray]
    rirs: list[np.ndarray]


def cut_rng(seed: int, epoch: int, cut_id: str) -> np.random.Generator:
    """The cut's own generator; any int seed/epoch (negative too) maps to a distinct stream."""
    return np.random.default_rng([seed % 2**63, epoch % 2**63, stable_hash(cut_id)])


class CutAudioError(ValueError):
    """A stage-0 cut whose audio cannot be loaded any more (the corpus changed after stage 0), in one line."""


def _load_audio(cut: Any) -> np.ndarray:
    """``cut.load_audio()``, or :class:`CutAudioError` naming the cut, its audio and the reason."""
    try:
        return np.asarray(cut.load_audio(), dtype=np.float32)
    except Exception as e:  # lhotse raises many types, with multi-line messages, for a missing or changed file
        src = cut.recording.sources[0]
        gone = src.type == "file" and not Path(src.source).is_file()
        why = "file not found" if gone else first_line(e)[:200]
        raise CutAudioError(f"cut {cut.id}: cannot load {src.source} ({why}); the corpus changed after stage 0: "
                            "rerun local/prepare_manifests.py --force") from None


def load_mono(cut: Any) -> tuple[np.ndarray, int]:
    """The samples of the cut's own channel (lhotse ``cut.load_audio``: a MonoCut on channel k of a stereo call
    reads that channel only, seeking to the cut in a file source), float32 at the recording's own rate.

    Several channels are averaged only for a cut stage 0 marked as an explicit ``channel: mix``; any other
    multi-channel cut is an error (two speakers are never averaged silently: rerun stage 0 with ``channel:``).
    Audio that cannot be loaded any more is a :class:`CutAudioError`.
    """
    x = _load_audio(cut)
    if x.ndim == 2 and x.shape[0] > 1:
        if (cut.custom or {}).get("channel") != "mix":
            raise ValueError(f"cut {cut.id}: {x.shape[0]} channels and none chosen; rerun stage 0 "
                             "(local/prepare_manifests.py --force) with channel: <index> or channel: mix in data.yaml")
        return x.mean(axis=0), int(cut.recording.sampling_rate)
    return x.reshape(-1), int(cut.recording.sampling_rate)


def cut_text(cut: Any) -> str:
    """Normalized transcript of the cut (supervisions joined in time order)."""
    sups = sorted(cut.supervisions, key=lambda s: s.start)
    return normalize_text(" ".join(s.text or "" for s in sups))


def cut_domain(cut: Any) -> str:
    return str((cut.custom or {}).get("domain", "unknown"))


def stored_features(cut: Any) -> torch.Tensor | None:
    """Stage-1 features of ``cut`` when present and consistent with its audio length, else None."""
    if not getattr(cut, "has_features", False):
        return None
    try:
        arr = cut.features.load()
    except (OSError, ValueError, KeyError):
        return None
    expected = num_frames(int(round(cut.duration * MODEL_RATE)))
    if abs(arr.shape[0] - expected) > 1:  # stale storage: recompute rather than train on wrong frames
        return None
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def check_audible(x: np.ndarray, path: str | Path) -> np.ndarray:
    """``x`` of a noise or RIR file, or :class:`AudioError` naming ``path`` when it is digital silence (stage 0's
    limit, :data:`~chunkformer.audio.SILENCE_DBFS`): silent noise adds nothing at any SNR, and a silent
    impulse response turns the speech into silence under an unchanged transcript."""
    if is_silent(x):
        raise AudioError(f"{path}: digital silence (peak at or below {SILENCE_DBFS:g} dBFS, DC removed); "
                         "useless as noise or impulse response")
    return x


def load_wave_16k(path: str | Path) -> np.ndarray:
    """A noise or RIR file as mono float32 at 16 kHz (several channels are averaged: not speech); digital silence
    is an :class:`AudioError` naming the file (:func:`check_audible`)."""
    return check_audible(read_audio(path, rate=MODEL_RATE)[0], path)


def process_cut(cut: Any, plan: AugPlan | None, rng: np.random.Generator | None
                ) -> tuple[torch.Tensor, float, dict[str, Any]]:
    """(feats (T, 80), seconds of audio fed to the front end, applied augmentation params)."""
    dom = cut_domain(cut)
    ops = plan.ops.get(dom, frozenset()) if plan is not None else frozenset()
    params: dict[str, Any] = {}
    feats = stored_features(cut) if not ops else None
    if feats is not None:
        seconds = cut.duration
    else:
        x, rate = load_mono(cut)
        x = resample(x, rate, MODEL_RATE)
        rate = MODEL_RATE
        if ops:
            x, rate, params = augment_waveform(x, rate, plan.cfg, rng, plan.noises, plan.rirs, set(ops))
            if rate != MODEL_RATE:  # the telephony channel returns 8 kHz
                x = resample(np.asarray(x, dtype=np.float32), rate, MODEL_RATE)
                rate = MODEL_RATE
        seconds = len(x) / rate
        feats = fbank(np.asarray(x, dtype=np.float32), rate)
    if plan is not None and plan.specaug.get(dom, False):
        feats = spec_augment(feats, plan.cfg, rng)
        params["specaugment"] = True
    return feats, seconds, params


class CutBatches(torch.utils.data.Dataset):
    """Map-style dataset over lhotse sampler batches (a CutSet in, a :class:`Batch` out)."""

    def __init__(self, tokenizer: Tokenizer, plan: AugPlan | None = None, seed: int = 0, epoch: int = 0) -> None:
        self.tokenizer = tokenizer
        self.plan = plan
        self.seed = seed
        self.epoch = epoch

    def __getitem__(self, cuts: Any) -> Batch:
        b = Batch([], [], [], [], [], 0.0, [])
        for cut in cuts:
            rng = cut_rng(self.seed, self.epoch, cut.id) if self.plan is not None else None
            feats, seconds, params = process_cut(cut, self.plan, rng)
            text = cut_text(cut)
            b.feats.append(feats)
            b.targets.append(torch.tensor(self.tokenizer.encode(text), dtype=torch.int64))
            b.cut_ids.append(cut.id)
            b.domains.append(cut_domain(cut))
            b.texts.append(text)
            b.params.append(params)
            b.duration += seconds
        return b


def worker_init(_: int) -> None:
    """One torch thread per DataLoader worker (parallelism comes from the workers)."""
    torch.set_num_threads(1)
