"""The one training loop, for fine-tuning and from-scratch training alike (WeNet's executor shape).

:class:`Trainer` owns the model, optimizer, schedule and bookkeeping; :meth:`Trainer.run` calls
:meth:`train_one_epoch` until the epochs, the step budget (``trainer.max_steps``) or early stopping end the
run. Inside an epoch each batch goes through :meth:`_loss` (CTC through the masked-chunk path; non-finite
losses skipped on every rank together) and, every ``grad_accum`` batches, :meth:`_optimizer_step`; the
checkpoint policy (:meth:`_after_step`) validates every ``valid_interval`` steps and writes
``checkpoint-STEP.pt`` every ``save_every_n``. An epoch ends with a validation (reused when the last step just
had one) and ``epoch-N.pt``.

Exact resume: batches are a function of (seed, epoch, rank) and the sampler position; dropout draws from each
rank's own torch RNG, and every rank's RNG state is gathered into each checkpoint, so a killed and resumed
run (one process or many) ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from chunkformer.checkpoint import LoadedModel
from chunkformer.data.datamodule import Batch, TrainData
from chunkformer.model.ctc import ctc_min_frames
from chunkformer.model.masked_batch import Context
from chunkformer.model.subsampling import subsampled_len
from chunkformer.training import state as ckpt_state
from chunkformer.training.config import TrainConfig
from chunkformer.training.distributed import World, all_agree, from_main, gather_to_main
from chunkformer.training.progress import EarlyStop, Progress
from chunkformer.training.schedule import OptimSpec, lr_factor
from chunkformer.training.validate import ctc_loss, validate
from chunkformer.utils.io import atomic_write_text

log = logging.getLogger("chunkformer.train")


def draw_context(cfg: TrainConfig, seed: int, epoch: int, index: int) -> Context:
    """The model context, or one drawn from ``model.dynamic_context`` (seeded by position: resumable)."""
    if not cfg.model.dynamic_context:
        return Context.parse(cfg.model.context)
    r = random.Random(seed * 1_000_003 + epoch * 10_007 + index)
    return Context.parse(r.choice(cfg.model.dynamic_context))


def total_steps(cfg: TrainConfig, steps_per_epoch: int) -> int:
    """Optimizer steps the schedule spans: the epochs, or the step budget when that is smaller."""
    n = steps_per_epoch * cfg.trainer.epochs
    return min(n, cfg.trainer.max_steps) if cfg.trainer.max_steps else n


def ctc_infeasible(batch: Batch) -> list[str]:
    """Cuts of ``batch`` whose (augmented) features give fewer output frames than their transcript needs (CTC)."""
    return [c for c, f, t in zip(batch.cut_ids, batch.feats, batch.targets)
            if subsampled_len(f.shape[0]) < ctc_min_frames(t.tolist())]


class Trainer:
    """See the module docstring. ``start`` is a training checkpoint to continue from, or None."""

    def __init__(self, cfg: TrainConfig, loaded: LoadedModel, start: dict[str, Any] | None, data: TrainData,
                 val_sets: dict[str, Any], world: World, save_dir: Path, max_duration: float | None) -> None:
        t, o = cfg.trainer, cfg.optim
        self.cfg, self.loaded, self.data, self.val_sets = cfg, loaded, data, val_sets
        self.world, self.save_dir, self.max_duration = world, save_dir, max_duration
        self.core = loaded.model.to(world.device).train()
        self.model: torch.nn.Module = self.core
        if world.size > 1:
            self.model = torch.nn.parallel.DistributedDataParallel(
                self.core, device_ids=[world.device.index] if world.device.type == "cuda" else None)
        self.context = Context.parse(cfg.model.context)
        self.steps_per_epoch = max(1, data.num_batches(0) // t.grad_accum)
        self.opt = torch.optim.AdamW(self.core.parameters(), lr=o.lr, weight_decay=o.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lr_factor(OptimSpec(
            o.warmup_steps, total_steps(cfg, self.steps_per_epoch), o.decay, o.min_lr_ratio)))
        total = total_steps(cfg, self.steps_per_epoch)
        if o.warmup_steps >= total:
            log.warning("warm-up (%d steps) is longer than the whole run (%d optimizer steps: %d per epoch x %d "
                        "epochs): the peak lr %g is never reached; lower optim.warmup_steps", o.warmup_steps, total,
                        self.steps_per_epoch, t.epochs, o.lr)
        self.use_amp = world.device.type == "cuda" and t.dtype != "fp32"
        self.amp_dtype = torch.bfloat16 if t.dtype == "bf16" else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp and t.dtype == "fp16")
        self.progress = Progress()
        self.early = EarlyStop(t.patience, t.min_delta)
        if start is not None:
            self._restore(start)
        self.writer = SummaryWriter(str(save_dir / "tensorboard")) if world.main else None

    # ----- state -----
    def _restore(self, ck: dict[str, Any]) -> None:
        self.opt.load_state_dict(ck["optimizer"])
        self.sched.load_state_dict(ck["scheduler"])
        if ck.get("scaler"):
            self.scaler.load_state_dict(ck["scaler"])
        self.progress = Progress.from_checkpoint(ck)
        self.early = EarlyStop(self.early.patience, self.early.min_delta, **{
            k: ck["early_stop"][k] for k in ("best_wer", "best_epoch", "bad_count", "stopped")})
        ranks = ck.get("rng_ranks") or []
        if len(ranks) == self.world.size:
            ckpt_state.set_rng_state(ranks[self.world.rank])
        else:  # an older checkpoint, or another world size: rank 0's state everywhere (not bit-exact)
            if self.world.size > 1 or ranks:
                log.warning("resuming %d rank(s) from a checkpoint with %d saved RNG state(s): dropout will not "
                            "repeat the uninterrupted run exactly", self.world.size, len(ranks) or 1)
            ckpt_state.set_rng_state(ck["rng"])

    def payload(self, valid_wer: float | None) -> dict[str, Any]:
        p, rngs = self.progress, gather_to_main(ckpt_state.rng_state(), self.world)
        return {"model": self.core.state_dict(), "config": self.loaded.config,
                "vocab": list(self.loaded.tokenizer.tokens), "extra_state": self.loaded.extra_state,
                "optimizer": self.opt.state_dict(), "scheduler": self.sched.state_dict(),
                "scaler": self.scaler.state_dict(), "rng": rngs[0], "rng_ranks": rngs, "epoch": p.epoch,
                "batch_in_epoch": p.batch_in_epoch, "step": p.step, "elapsed": p.elapsed,
                "last_valid_step": p.last_valid_step, "early_stop": self.early.state(), "history": p.history,
                "bad_batches": p.bad_batches, "valid_wer": valid_wer, "train_config": self.cfg.to_dict()}

    def save(self, name: str, valid_wer: float | None) -> None:
        """Every rank takes part (the RNG states are gathered); rank 0 writes."""
        payload = self.payload(valid_wer)
        if self.world.main:
            ckpt_state.save(payload, self.save_dir, name, self.cfg.trainer.keep_last_k)

    def finished(self) -> bool:
        t, p = self.cfg.trainer, self.progress
        return p.epoch >= t.epochs or self.early.stopped or bool(t.max_steps and p.step >= t.max_steps)

    # ----- the loop -----
    def run(self) -> None:
        while not self.finished():
            self.train_one_epoch()
        if self.writer:
            self.writer.close()
        p, t = self.progress, self.cfg.trainer
        if self.early.stopped:
            log.info("early stop at epoch %d (patience %d, best epoch %s, best WER %s%%)", p.epoch + 1, t.patience,
                     self.early.best_epoch, self.early.best_wer)
        log.info("training finished at epoch %d, step %d (%.1f min); best validation WER %s%%", p.epoch, p.step,
                 p.elapsed / 60, self.early.best_wer)

    def train_one_epoch(self) -> None:
        p, t = self.progress, self.cfg.trainer
        n_batches = self.data.num_batches(p.epoch)
        bar = tqdm(self.data.batches(p.epoch, skip_batches=p.batch_in_epoch), total=n_batches,
                   initial=p.batch_in_epoch, disable=not self.world.main, desc=f"epoch {p.epoch + 1}/{t.epochs}",
                   unit="batch", file=sys.stderr)
        self.opt.zero_grad(set_to_none=True)  # nothing of a previous epoch's partial accumulation carries over
        accum, audio, wall = 0, 0.0, time.time()
        for batch in bar:
            t0 = time.time()
            p.batch_in_epoch += 1
            final_micro = (accum + 1) % t.grad_accum == 0
            loss = self._backward(batch, final_micro)
            p.elapsed += time.time() - t0
            if loss is None:
                continue
            accum += 1
            audio += batch.duration
            if not final_micro:
                continue
            t0 = time.time()
            self._optimizer_step(loss, audio * self.world.size / max(time.time() - wall, 1e-9), bar)
            p.elapsed += time.time() - t0
            self._after_step(p.batch_in_epoch / max(1, n_batches))
            if self.early.stopped or (t.max_steps and p.step >= t.max_steps):
                return
        log.info("epoch %d done: shares %s", p.epoch + 1, self.data.realized_shares(p.epoch))
        p.epoch += 1
        p.batch_in_epoch = 0
        wer = self._validate_once("epoch", float(p.epoch))
        self.save(f"epoch-{p.epoch}.pt", wer)

    def _backward(self, batch: Batch, final_micro: bool) -> float | None:
        """Forward + backward of one batch; None when the loss is not finite on some rank (skipped by all)."""
        p, t = self.progress, self.cfg.trainer
        ctx = draw_context(self.cfg, t.seed, p.epoch, p.batch_in_epoch)
        with torch.autocast(self.world.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
            losses, _, _ = ctc_loss(self.model, batch.feats, batch.targets, ctx)
        loss = losses.sum() / len(batch.feats)
        if not all_agree(bool(torch.isfinite(loss)), self.world):
            self._skip(batch, losses)
            return None
        # DDP all-reduces gradients at every backward unless told not to: only the last micro-batch syncs
        sync = nullcontext() if final_micro or self.world.size == 1 else self.model.no_sync()
        with sync:
            self.scaler.scale(loss / t.grad_accum).backward()
        return float(loss.item())

    def _skip(self, batch: Batch, losses: torch.Tensor) -> None:
        p, t = self.progress, self.cfg.trainer
        bad = [c for c, v in zip(batch.cut_ids, losses) if not torch.isfinite(v)] or batch.cut_ids
        p.bad_batches.append(bad)
        if self.writer:
            self.writer.add_scalar("train/skipped_batches", len(p.bad_batches), p.step)
        short = ctc_infeasible(batch)
        why = f"; too short for their transcript (CTC): {' '.join(short)}" if short else ""
        log.warning("non-finite loss: batch skipped (%d so far, limit %d); cuts: %s%s", len(p.bad_batches),
                    t.max_bad_batches, " ".join(bad), why)
        if len(p.bad_batches) > t.max_bad_batches:
            cuts = " ".join(c for b in p.bad_batches for c in b)
            raise ValueError(f"stopping: {len(p.bad_batches)} batches with a non-finite loss (more than "
                             f"trainer.max_bad_batches={t.max_bad_batches}); offending cuts: {cuts}. "
                             "Check their audio and transcripts, or lower the lr")

    def _optimizer_step(self, loss: float, speed: float, bar: Any) -> None:
        self.scaler.unscale_(self.opt)
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.core.parameters(), self.cfg.optim.grad_clip))
        self.scaler.step(self.opt)
        self.scaler.update()
        self.opt.zero_grad(set_to_none=True)
        self.sched.step()
        self.progress.step += 1
        if self.writer:
            lr, step = self.sched.get_last_lr()[0], self.progress.step
            bar.set_postfix(loss=f"{loss:.3f}", lr=f"{lr:.2e}")
            for name, value in (("loss", loss), ("lr", lr), ("grad_norm", grad_norm),
                                ("audio_seconds_per_second", speed)):
                self.writer.add_scalar(f"train/{name}", value, step)

    def _after_step(self, epoch_fraction: float) -> None:
        """The checkpoint policy: interval validation, step checkpoints, the last step of a budget or a stop."""
        p, t = self.progress, self.cfg.trainer
        budget_done = bool(t.max_steps and p.step >= t.max_steps)
        wer = None
        if (t.valid_interval and p.step % t.valid_interval == 0) or budget_done:
            wer = self._validate_once("interval", p.epoch + epoch_fraction)
        if (t.save_every_n and p.step % t.save_every_n == 0) or self.early.stopped or budget_done:
            self.save(f"checkpoint-{p.step}.pt", wer)  # a stop is recorded, so a rerun says "already done"

    # ----- validation -----
    def _validate_once(self, tag: str, epoch: float) -> float | None:
        """Validates on rank 0 and hands the result to every rank, so all ranks make the same early-stopping
        decision; a validation already run at this step is reused, not repeated (nor counted twice)."""
        p = self.progress
        if not self.val_sets:
            return None
        if p.last_valid_step == p.step and p.history:
            return p.history[-1]["wer_all"]
        entry = from_main(self._validate_main(tag, epoch) if self.world.main else None, self.world)
        p.history.append(entry)
        p.last_valid_step = p.step
        improved = self.early.update(entry["wer_all"], p.epoch)
        if self.world.main:
            atomic_write_text(self.save_dir / "valid_history.json", json.dumps(p.history, indent=1))
        if improved:
            self.save("best.pt", entry["wer_all"])
        return entry["wer_all"]

    def _validate_main(self, tag: str, epoch: float) -> dict[str, Any]:
        p = self.progress
        res = validate(self.core, self.val_sets, self.loaded.tokenizer, self.context, self.max_duration or 200.0)
        log.info("validation (%s) epoch %d step %d (%.1f min): loss %.3f, WER %.2f%% %s", tag, p.epoch, p.step,
                 p.elapsed / 60, res.loss, res.wer, res.per_set)
        if self.writer:
            self.writer.add_scalar("valid/loss", res.loss, p.step)
            self.writer.add_scalar("valid/wer", res.wer, p.step)
            for name, w in res.per_set.items():
                self.writer.add_scalar(f"valid/wer_{name}", w, p.step)
        return {"epoch": epoch, "step": p.step, "minutes": round(p.elapsed / 60, 2), "loss": round(res.loss, 4),
                "wer_all": res.wer, "wer": res.per_set}
