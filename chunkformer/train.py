"""Stage 3: fine-tune a ChunkFormer checkpoint on call-bot data (CTC, masked-chunk path, early stopping).

    python -m chunkformer.train --data-config conf/data.yaml --model-config conf/model.yaml \
        --resume path/to/paper_final_checkpoint.pt --epochs 20 --lr 5e-5 --warmup 2000 --batch-size 32 \
        --save-dir exp/callbot
    torchrun --nproc_per_node 8 -m chunkformer.train ...      # DDP (NCCL on GPU, gloo on CPU)

``--resume`` takes any checkpoint form (official folder, bare state dict, ours); if it is one of our training
checkpoints, training continues from it. Running the same command again continues from the newest valid
checkpoint in ``--save-dir`` (mid-epoch, same data order), so a killed run loses at most the steps since its
last checkpoint. Outputs in the save dir: ``config.yaml`` (merged), ``epoch-N.pt``, ``checkpoint-STEP.pt``,
``best.pt``, ``valid_history.json``, ``train.log``, ``tensorboard/``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from tqdm import tqdm

from chunkformer.checkpoint import CheckpointError, atomic_write_text, load_model
from chunkformer.masked_batch import Context
from chunkformer.training import state as ckpt_state
from chunkformer.training.config import TrainConfig
from chunkformer.training.schedule import OptimSpec, lr_factor
from chunkformer.training.validate import ctc_loss, validate

log = logging.getLogger("chunkformer.train")
CPU_MAX_DURATION = 200.0  # seconds of audio per batch for --max-duration auto on CPU


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m chunkformer.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-config", help="data.yaml (recorded in the merged config; stages 0-2 read it)")
    p.add_argument("--model-config", help="model.yaml with model/optim/trainer sections")
    p.add_argument("--resume", help="initial checkpoint: official folder, bare .pt, or our checkpoint")
    p.add_argument("--vocab", help="vocab.txt for a bare state dict")
    p.add_argument("--manifest-dir", help="stage 0-2 output (default data/manifests)")
    p.add_argument("--save-dir")
    p.add_argument("--epochs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--warmup", type=int, help="linear warm-up steps")
    p.add_argument("--batch-size", type=int, help="utterances per batch (when --max-duration is not set)")
    p.add_argument("--max-duration", help="seconds of audio per batch, or 'auto'")
    p.add_argument("--seed", type=int)
    p.add_argument("--patience", type=int, help="validations without WER improvement before stopping")
    p.add_argument("--min-delta", type=float, help="WER improvement (absolute %%) that counts")
    p.add_argument("--num-workers", type=int)
    p.add_argument("--device")
    p.add_argument("--threads", type=int, help="CPU threads per process (default: cores left beside the workers)")
    p.add_argument("--dtype", choices=["fp32", "bf16", "fp16"])
    p.add_argument("--grad-accum", type=int)
    p.add_argument("--valid-interval", type=int, help="also validate every N optimizer steps")
    p.add_argument("--save-every-n", type=int, help="write checkpoint-STEP.pt every N optimizer steps")
    p.add_argument("--keep-last-k", type=int)
    p.add_argument("--max-bad-batches", type=int, help="stop after more batches than this had a non-finite loss")
    return p.parse_args(argv)


def setup_distributed(device: str) -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and world > 1:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return rank, world, torch.device(device)


def setup_logging(save_dir: Path, rank: int) -> None:
    fmt = logging.Formatter("%(asctime)s %(levelname)s [rank %(rank)s] %(message)s")
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if rank == 0:
        handlers.append(logging.FileHandler(save_dir / "train.log", encoding="utf-8"))
    for h in handlers:
        h.setFormatter(fmt)
        h.addFilter(lambda r: setattr(r, "rank", rank) or True)
        root.addHandler(h)


def cpu_threads(requested: int | None, num_workers: int, world: int) -> int:
    """Intra-op threads for a CPU run. OpenMP threads that share a core with DataLoader workers or another rank
    stall at every parallel region (measured here: a 2-thread step took 18x longer while another process
    used one of the 2 cores), so by default each process gets the cores left beside its workers; an explicit
    OMP_NUM_THREADS is respected."""
    if requested:
        return requested
    if "OMP_NUM_THREADS" in os.environ:
        return torch.get_num_threads()
    return max(1, (os.cpu_count() or 1) // world - num_workers)


def auto_max_duration(model: torch.nn.Module, device: torch.device, context: Context) -> float:
    """Largest batch (seconds of 15 s utterances) whose forward+backward fits in GPU memory, ×0.9 for headroom
    (aim: ~95 % utilization); on CPU a fixed default (memory is not the limit there)."""
    if device.type != "cuda":
        log.info("--max-duration auto on CPU: %.0f s per batch", CPU_MAX_DURATION)
        return CPU_MAX_DURATION
    core = getattr(model, "module", model)
    fits = 0.0
    seconds = 60.0
    while seconds <= 7200:
        n = int(seconds // 15)
        try:
            feats = [torch.randn(1500, 80, device=device) for _ in range(n)]
            targets = [torch.randint(1, core.cfg.vocab_size, (40,), device=device) for _ in range(n)]
            loss, _, _ = ctc_loss(model, feats, targets, context)
            loss.sum().backward()
            fits = seconds
            seconds *= 1.5
        except torch.cuda.OutOfMemoryError:
            break
        finally:
            model.zero_grad(set_to_none=True)
            torch.cuda.empty_cache()
    choice = max(30.0, 0.9 * fits)
    log.info("--max-duration auto: largest batch that fit %.0f s; using %.0f s", fits, choice)
    return choice


def draw_context(cfg: TrainConfig, seed: int, epoch: int, index: int) -> Context:
    """The model context, or one drawn from ``model.dynamic_context`` (seeded by position: resumable)."""
    if not cfg.model.dynamic_context:
        return Context.parse(cfg.model.context)
    r = random.Random(seed * 1_000_003 + epoch * 10_007 + index)
    return Context.parse(r.choice(cfg.model.dynamic_context))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    flags = {k: v for k, v in vars(args).items() if k != "model_config"}
    if flags.get("max_duration") not in (None, "auto"):
        flags["max_duration"] = float(flags["max_duration"])
    try:
        cfg = TrainConfig.load(args.model_config, flags)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    t = cfg.trainer
    save_dir = Path(t.save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    rank, world, device = setup_distributed(t.device)
    setup_logging(save_dir, rank)
    try:
        return train(cfg, save_dir, rank, world, device)
    except (CheckpointError, ValueError, FileNotFoundError) as e:
        log.error("%s", e)
        return 2
    finally:
        if world > 1:
            dist.destroy_process_group()


def train(cfg: TrainConfig, save_dir: Path, rank: int, world: int, device: torch.device) -> int:
    from chunkformer.data.datamodule import LoaderConfig, TrainData, eval_sets

    t, o = cfg.trainer, cfg.optim
    found = ckpt_state.newest_valid(save_dir)
    if found is None and t.resume_checkpoint is None:
        raise ValueError("nothing to start from: pass --resume CHECKPOINT (or keep checkpoints in --save-dir)")
    if found is not None:
        start_path, start = found
        loaded = load_model(start_path)
        log.info("continuing from %s (epoch %d, step %d)", start_path, start["epoch"], start["step"])
    else:
        loaded = load_model(t.resume_checkpoint, vocab=t.vocab)
        start = loaded.checkpoint
        log.info("initialized from %s (%s)%s", t.resume_checkpoint, loaded.kind,
                 "; continuing its training state" if start else "")
    if start is not None and start.get("early_stop", {}).get("stopped") or (
            start is not None and start["epoch"] >= t.epochs):
        log.info("stage 3: already done (%s: epoch %d of %d%s), nothing to do", save_dir, start["epoch"], t.epochs,
                 ", stopped early" if start.get("early_stop", {}).get("stopped") else "")
        return 0
    if rank == 0:
        atomic_write_text(save_dir / "config.yaml", cfg.to_yaml())
    if device.type == "cpu":
        torch.set_num_threads(cpu_threads(t.threads, t.num_workers, world))
        log.info("CPU run: %d intra-op threads, %d DataLoader workers", torch.get_num_threads(), t.num_workers)
    torch.manual_seed(t.seed)
    random.seed(t.seed)
    model = loaded.model.to(device).train()
    core = model
    if world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                          else None)
    context = Context.parse(cfg.model.context)
    max_duration = t.max_duration
    if max_duration == "auto":
        max_duration = auto_max_duration(model, device, context)
    data = TrainData(t.manifest_dir, loaded.tokenizer,
                     LoaderConfig(max_duration=max_duration, batch_size=None if max_duration else t.batch_size,
                                  num_workers=t.num_workers, seed=t.seed), rank, world)
    val_sets = eval_sets(t.manifest_dir, "val")
    if not val_sets:
        log.warning("no validation sets in %s: early stopping and best.pt are disabled", t.manifest_dir)
    steps_per_epoch = max(1, data.num_batches(0) // t.grad_accum)
    opt = torch.optim.AdamW(core.parameters(), lr=o.lr, weight_decay=o.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_factor(OptimSpec(
        o.warmup_steps, steps_per_epoch * t.epochs, o.decay, o.min_lr_ratio)))
    use_amp = device.type == "cuda" and t.dtype != "fp32"
    amp_dtype = torch.bfloat16 if t.dtype == "bf16" else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and t.dtype == "fp16")
    step, epoch, batch0, history = 0, 0, 0, []
    early = {"best_wer": None, "best_epoch": None, "bad_count": 0, "stopped": False}
    bad_batches: list[list[str]] = []
    if start is not None:
        opt.load_state_dict(start["optimizer"])
        sched.load_state_dict(start["scheduler"])
        if start.get("scaler"):
            scaler.load_state_dict(start["scaler"])
        step, epoch, batch0 = start["step"], start["epoch"], start["batch_in_epoch"]
        history, early, bad_batches = start["history"], start["early_stop"], start.get("bad_batches", [])
        ckpt_state.set_rng_state(start["rng"])
    writer = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(save_dir / "tensorboard"))

    def payload(valid_wer: float | None) -> dict[str, Any]:
        return {"model": core.state_dict(), "config": loaded.config, "vocab": list(loaded.tokenizer.tokens),
                "extra_state": loaded.extra_state, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "scaler": scaler.state_dict(), "rng": ckpt_state.rng_state(), "epoch": epoch,
                "batch_in_epoch": batch_in_epoch, "step": step, "early_stop": dict(early), "history": history,
                "bad_batches": bad_batches, "valid_wer": valid_wer, "train_config": cfg.to_dict()}

    def run_validation(tag: str) -> float | None:
        if not val_sets:
            return None
        res = validate(core, val_sets, loaded.tokenizer, context, max_duration or 200.0)
        history.append({"epoch": epoch + (0 if tag == "epoch" else batch_in_epoch / max(1, n_batches)),
                        "step": step, "loss": round(res.loss, 4), "wer_all": res.wer, "wer": res.per_set})
        log.info("validation (%s) epoch %d step %d: loss %.3f, WER %.2f%% %s", tag, epoch, step, res.loss, res.wer,
                 res.per_set)
        if writer:
            writer.add_scalar("valid/loss", res.loss, step)
            writer.add_scalar("valid/wer", res.wer, step)
            for name, w in res.per_set.items():
                writer.add_scalar(f"valid/wer_{name}", w, step)
        improved = early["best_wer"] is None or res.wer < early["best_wer"] - t.min_delta
        if improved:
            early.update(best_wer=res.wer, best_epoch=epoch, bad_count=0)
        else:
            early["bad_count"] += 1
            early["stopped"] = early["bad_count"] >= t.patience
        if rank == 0:
            atomic_write_text(save_dir / "valid_history.json", json.dumps(history, indent=1))
            if improved:
                ckpt_state.save(payload(res.wer), save_dir, "best.pt", t.keep_last_k)
        return res.wer

    batch_in_epoch, n_batches = batch0, 0
    while epoch < t.epochs and not early["stopped"]:
        n_batches = data.num_batches(epoch)
        bar = tqdm(data.batches(epoch, skip_batches=batch0), total=n_batches, initial=batch0, disable=rank != 0,
                   desc=f"epoch {epoch + 1}/{t.epochs}", unit="batch", file=sys.stderr)
        t_audio, t_wall, accum = 0.0, time.time(), 0
        for batch_in_epoch, batch in enumerate(bar, start=batch0 + 1):
            ctx = draw_context(cfg, t.seed, epoch, batch_in_epoch)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                losses, _, _ = ctc_loss(model, batch.feats, batch.targets, ctx)
            loss = losses.sum() / len(batch.feats)
            finite = torch.tensor(float(torch.isfinite(loss)), device=device)
            if world > 1:
                dist.all_reduce(finite, op=dist.ReduceOp.MIN)  # every rank skips together, or DDP would hang
            if finite.item() < 1:
                bad = [c for c, v in zip(batch.cut_ids, losses) if not torch.isfinite(v)] or batch.cut_ids
                bad_batches.append(bad)
                if writer:
                    writer.add_scalar("train/skipped_batches", len(bad_batches), step)
                log.warning("non-finite loss: batch skipped (%d so far, limit %d); cuts: %s", len(bad_batches),
                            t.max_bad_batches, " ".join(bad))
                if len(bad_batches) > t.max_bad_batches:
                    cuts = " ".join(c for b in bad_batches for c in b)
                    raise ValueError(f"stopping: {len(bad_batches)} batches with a non-finite loss (more than "
                                     f"trainer.max_bad_batches={t.max_bad_batches}); offending cuts: {cuts}. "
                                     "Check their audio and transcripts, or lower the lr")
                continue
            scaler.scale(loss / t.grad_accum).backward()
            accum += 1
            t_audio += batch.duration
            if accum % t.grad_accum:
                continue
            scaler.unscale_(opt)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(core.parameters(), o.grad_clip))
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)
            sched.step()
            step += 1
            if rank == 0:
                speed = t_audio * world / max(time.time() - t_wall, 1e-9)
                bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{sched.get_last_lr()[0]:.2e}")
                writer.add_scalar("train/loss", loss.item(), step)
                writer.add_scalar("train/lr", sched.get_last_lr()[0], step)
                writer.add_scalar("train/grad_norm", grad_norm, step)
                writer.add_scalar("train/audio_seconds_per_second", speed, step)
            wer = run_validation("interval") if t.valid_interval and step % t.valid_interval == 0 else None
            if t.save_every_n and step % t.save_every_n == 0 and rank == 0:
                ckpt_state.save(payload(wer), save_dir, f"checkpoint-{step}.pt", t.keep_last_k)
            if early["stopped"]:
                if rank == 0:  # record the stop, so a rerun of the command says "already done"
                    ckpt_state.save(payload(wer), save_dir, f"checkpoint-{step}.pt", t.keep_last_k)
                break
        if early["stopped"]:
            log.info("early stopping: no WER improvement by %.2f for %d validations; best %.2f%% (epoch %s)",
                     t.min_delta, t.patience, early["best_wer"], early["best_epoch"])
            break
        log.info("epoch %d done: shares %s", epoch + 1, data.realized_shares(epoch))
        epoch += 1
        batch0 = batch_in_epoch = 0
        wer = run_validation("epoch")
        if rank == 0:
            ckpt_state.save(payload(wer), save_dir, f"epoch-{epoch}.pt", t.keep_last_k)
    if writer:
        writer.close()
    log.info("training finished at epoch %d, step %d; best validation WER %s%%", epoch, step, early["best_wer"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
