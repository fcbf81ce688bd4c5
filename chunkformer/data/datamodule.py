"""The trainer's and decoder's view of the data: mixed, augmented training batches and eval sets.

* :class:`TrainData` reads what stage 2 wrote (``train_cuts.jsonl.gz`` + ``train_plan.json``). Each epoch
  it draws the domain mix (:mod:`chunkformer.data.mixing`, shares of audio duration), shuffles, and feeds
  lhotse's ``DynamicBucketingSampler`` (rank-aware); DataLoader workers run :mod:`chunkformer.data.pipeline`.
  Batches are a function of (seed, epoch, world_size, rank) only: augmentation is seeded per cut, so the
  worker count does not change them; ``skip_batches`` fast-forwards the sampler without loading audio.
* :func:`eval_sets` / :func:`eval_batches`: val/test cuts per domain, stage-1 features when present (and
  built from the current stage-0 manifest), else fbank on the fly; no augmentation; fixed order.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from lhotse import CutSet, load_manifest
from lhotse.dataset import DynamicBucketingSampler
from lhotse.utils import fastcopy

from chunkformer.data.augment import AugmentConfig
from chunkformer.data.config import load_data_config
from chunkformer.data.manifests import (
    TRAIN_CUTS,
    TRAIN_PLAN,
    TrainPlan,
    cuts_path,
    domains_of,
    features_current,
    plan_inputs,
)
from chunkformer.data.mixing import epoch_picks, normalized_weights, shares
from chunkformer.data.pipeline import AugPlan, Batch, CutBatches, cut_domain, load_wave_16k, worker_init
from chunkformer.frontend import FRAME_SHIFT
from chunkformer.tokenizer import Tokenizer

__all__ = ["Batch", "LoaderConfig", "TrainData", "eval_batches", "eval_sets"]
log = logging.getLogger("chunkformer.data")


@dataclass
class LoaderConfig:
    max_duration: float | None = 200.0   # seconds of audio per batch (DynamicBucketingSampler); None → batch_size
    batch_size: int | None = None        # utterances per batch when max_duration is None
    num_buckets: int = 10
    num_workers: int = 2
    seed: int = 42


def load_plan(manifest_dir: Path, data_config: str | Path | None = None) -> TrainPlan:
    """The stage-2 plan; with ``data_config``, only when it was built from that data.yaml (as it is now) and the
    current stage-0 vocabulary: a data.yaml edited after stage 2 would otherwise train on the old mix silently."""
    path = Path(manifest_dir) / TRAIN_PLAN
    if not path.is_file() or not (Path(manifest_dir) / TRAIN_CUTS).is_file():
        raise FileNotFoundError(f"{manifest_dir}: no training cuts/plan ({TRAIN_CUTS}, {TRAIN_PLAN}); "
                                "run stage 2 (local/build_train_cuts.py) first")
    try:
        plan = TrainPlan.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, TypeError, KeyError) as e:
        raise ValueError(f"{path}: not a stage-2 train plan ({e}); rerun stage 2") from None
    if data_config is not None:
        cfg = load_data_config(data_config)
        if plan.inputs != plan_inputs(Path(manifest_dir), cfg.plan_fingerprint()):
            raise ValueError(f"{path} was not built from {cfg.path} as it is now (or from other stage-0 "
                             "manifests); rerun stages 0-2 (run.sh --stage 0 --stop-stage 2: unchanged work is "
                             "skipped)")
    return plan


def aug_plan(plan: TrainPlan) -> AugPlan:
    """The worker-side augmentation plan: config object, ops per domain, noise and RIR arrays."""
    return AugPlan(
        cfg=AugmentConfig.from_dict(plan.augment),
        ops={d: frozenset(v.ops) for d, v in plan.domains.items()},
        specaug={d: v.specaugment for d, v in plan.domains.items()},
        noises=[load_wave_16k(p) for p in plan.noises],
        rirs=[load_wave_16k(p) for p in plan.rirs],
    )


class _Skip(torch.utils.data.Sampler):
    """Iterates a lhotse sampler after dropping its first ``skip`` batches (metadata only). Not lhotse's
    ``state_dict()``: behind a DataLoader with workers the sampler runs ``prefetch_factor·workers`` batches ahead
    of the trainer, so its state at a checkpoint resumes that many batches late (measured: 4 with 2 workers), and
    ``load_state_dict`` replays the sampler anyway."""

    def __init__(self, sampler: Any, skip: int) -> None:
        self.sampler, self.skip = sampler, skip

    def __iter__(self) -> Iterator[Any]:
        it = iter(self.sampler)  # a lhotse sampler is its own iterator: calling iter() again would restart it
        n = 0
        while (batch := next(it, None)) is not None:
            if n >= self.skip:
                yield batch
            n += 1


class TrainData:
    """Epoch-wise training batches; see the module docstring."""

    def __init__(self, manifest_dir: str | Path, tokenizer: Tokenizer, loader: LoaderConfig,
                 rank: int = 0, world_size: int = 1, data_config: str | Path | None = None) -> None:
        if loader.max_duration is None and not loader.batch_size:
            raise ValueError("LoaderConfig: set max_duration (seconds) or batch_size (utterances)")
        self.dir = Path(manifest_dir)
        self.plan = load_plan(self.dir, data_config)
        self.tokenizer, self.loader, self.rank, self.world_size = tokenizer, loader, rank, world_size
        self.pools: dict[str, list[Any]] = {}
        for cut in load_manifest(self.dir / TRAIN_CUTS):
            self.pools.setdefault(cut_domain(cut), []).append(cut)
        self.durations = {d: [c.duration for c in cuts] for d, cuts in self.pools.items()}
        self.weights = normalized_weights(self.durations, self.plan.weights)
        self.epoch_duration = float(self.plan.epoch_duration)
        self._aug: AugPlan | None = None
        self._bucket_note = False

    def epoch_cuts(self, epoch: int) -> list[Any]:
        """The cuts of ``epoch`` in sampling order; repeats of a cut get ids ``<id>_r<k>``."""
        out = []
        for p in epoch_picks(self.durations, self.weights, self.epoch_duration, self.loader.seed, epoch):
            cut = self.pools[p.domain][p.index]
            out.append(fastcopy(cut, id=f"{cut.id}_r{p.repeat}") if p.repeat else cut)
        return out

    def realized_shares(self, epoch: int) -> dict[str, float]:
        """Domain → share of audio duration drawn for ``epoch`` (before speed perturbation, whose
        factors are symmetric around 1 and independent of the domain)."""
        return shares(epoch_picks(self.durations, self.weights, self.epoch_duration, self.loader.seed, epoch),
                      self.durations)

    def sampler(self, epoch: int) -> DynamicBucketingSampler:
        cuts = self.epoch_cuts(epoch)
        with warnings.catch_warnings():  # lhotse warns that an eager CutSet is in memory: it is small (metadata)
            warnings.simplefilter("ignore")
            s = DynamicBucketingSampler(
                CutSet.from_cuts(cuts), max_duration=self.loader.max_duration,
                max_cuts=None if self.loader.max_duration is not None else self.loader.batch_size,
                num_buckets=self.num_buckets(len(cuts)), shuffle=True, drop_last=False, seed=self.loader.seed,
                world_size=self.world_size, rank=self.rank)
        s.set_epoch(epoch)
        return s

    def num_buckets(self, n_cuts: int) -> int:
        """The configured bucket count, fewer for a tiny epoch: lhotse's bucket estimate fails (an
        AssertionError) with fewer cuts than buckets; two cuts per bucket at least keep the buckets meaningful.
        Never below 2: lhotse asserts ``num_buckets > 1`` too (an epoch of 2-3 cuts gets 2 buckets, which works)."""
        n = max(2, min(self.loader.num_buckets, n_cuts // 2))
        if n < self.loader.num_buckets and not self._bucket_note:
            log.warning("only %d cuts per epoch: %d length buckets instead of %d", n_cuts, n, self.loader.num_buckets)
            self._bucket_note = True
        return n

    def num_batches(self, epoch: int) -> int:
        return sum(1 for _ in self.sampler(epoch))

    def batches(self, epoch: int, skip_batches: int = 0) -> Iterator[Batch]:
        """Batches of ``epoch`` for this rank, starting after ``skip_batches`` (resume mid-epoch)."""
        if self._aug is None:
            self._aug = aug_plan(self.plan)
        planned = self.realized_shares(epoch)
        log.info("epoch %d: domain shares of audio duration %s (configured %s)", epoch, _fmt(planned),
                 _fmt(self.weights))
        dataset = CutBatches(self.tokenizer, self._aug, self.loader.seed, epoch)
        n = self.loader.num_workers
        dl = torch.utils.data.DataLoader(dataset, sampler=_Skip(self.sampler(epoch), skip_batches), batch_size=None,
                                         num_workers=n, worker_init_fn=worker_init if n else None,
                                         prefetch_factor=2 if n else None, persistent_workers=False,
                                         # own generator: creating the iterator must not consume the global
                                         # torch RNG (dropout), or a resumed run would diverge
                                         generator=torch.Generator().manual_seed(self.loader.seed * 1000 + epoch))
        seen: dict[str, float] = {}
        for batch in dl:
            for dom, f in zip(batch.domains, batch.feats):
                seen[dom] = seen.get(dom, 0.0) + f.shape[0] * FRAME_SHIFT
            yield batch
        total = sum(seen.values()) or 1.0
        log.info("epoch %d (rank %d): delivered shares after augmentation %s", epoch, self.rank,
                 _fmt({d: v / total for d, v in sorted(seen.items())}))


def _fmt(d: dict[str, float]) -> str:
    return "{" + ", ".join(f"{k}: {v:.3f}" for k, v in d.items()) + "}"


def eval_sets(manifest_dir: str | Path, split: str) -> dict[str, Any]:
    """{domain: CutSet} of ``split`` ("val"/"test"); stage-1 cuts with features when they are current. A cuts file
    without a cut (written by hand or by another tool) is left out with a warning naming it: it has nothing to
    score, and the trainer or decoder would fail on it after all the other work."""
    d = Path(manifest_dir)
    sets = {}
    for dom in domains_of(d, split):
        path = features_current(d, dom, split) or cuts_path(d, dom, split)
        cuts = load_manifest(path)
        if len(cuts) == 0:
            log.warning("%s: no cuts: the %s set %s is left out (rerun stage 0 if it should have some)", path, split,
                        dom)
            continue
        sets[dom] = cuts
    return sets


def eval_batches(cuts: Any, tokenizer: Tokenizer, max_duration: float = 200.0,
                 num_workers: int = 0) -> Iterator[Batch]:
    """Unaugmented batches of ``cuts``, longest first (ties by id), at most ``max_duration`` seconds each
    (a longer cut gets a batch of its own)."""
    ordered = sorted(cuts, key=lambda c: (-c.duration, c.id))
    groups: list[list[Any]] = []
    total = 0.0
    for c in ordered:
        if not groups or total + c.duration > max_duration:
            groups.append([])
            total = 0.0
        groups[-1].append(c)
        total += c.duration
    dataset = CutBatches(tokenizer)
    if num_workers <= 0:
        for g in groups:
            yield dataset[CutSet.from_cuts(g)]
        return
    dl = torch.utils.data.DataLoader(dataset, sampler=[CutSet.from_cuts(g) for g in groups], batch_size=None,
                                     num_workers=num_workers, worker_init_fn=worker_init)
    yield from dl
