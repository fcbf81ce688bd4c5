"""Stage 3: fine-tune a ChunkFormer checkpoint on call-bot data (CTC, masked-chunk path, early stopping),
or train one from scratch (``--init random``: the demo's pretraining) with the same engine.

    python -m chunkformer.train --data-config conf/data.yaml --model-config conf/model.yaml \
        --resume path/to/paper_final_checkpoint.pt --epochs 20 --lr 5e-5 --warmup 2000 --batch-size 32 \
        --save-dir exp/callbot
    torchrun --nproc_per_node 8 -m chunkformer.train ...      # DDP (NCCL on GPU, gloo on CPU)

    python -m chunkformer.train --init random --model-config egs/callbot/conf/demo_pretrain_phase1.yaml \
        --vocab egs/callbot/demo/vocab.txt --manifest-dir data/pretrain/phase1/manifests \
        --save-dir exp/demo_pretrain/phase1

``--resume`` takes any checkpoint form (official folder, bare state dict, ours); if it is one of our training
checkpoints, training continues from it. Running the same command again continues from the newest valid
checkpoint in ``--save-dir`` (mid-epoch, same data order), so a killed run loses at most the steps since its
last checkpoint. Outputs in the save dir: ``config.yaml`` (merged), ``epoch-N.pt``, ``checkpoint-STEP.pt``,
``best.pt``, ``valid_history.json``, ``train.log``, ``tensorboard/``.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
from pathlib import Path
from typing import Any

import torch

from chunkformer.checkpoint import CheckpointError, load_model
from chunkformer.data.datamodule import LoaderConfig, TrainData, eval_sets
from chunkformer.model.masked_batch import Context
from chunkformer.training import state as ckpt_state
from chunkformer.training.config import TrainConfig
from chunkformer.training.distributed import World, barrier, cpu_threads, setup, smallest, teardown
from chunkformer.training.engine import Trainer
from chunkformer.training.guard import check_same_run, check_same_world, move_aside, record
from chunkformer.training.init import initial_model
from chunkformer.training.validate import ctc_loss
from chunkformer.utils.cli import error, one_line
from chunkformer.utils.logs import setup_logger

log = logging.getLogger("chunkformer.train")
CPU_MAX_DURATION = 200.0  # seconds of audio per batch for --max-duration auto on CPU


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m chunkformer.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-config", help="data.yaml (recorded in the merged config; stages 0-2 read it)")
    p.add_argument("--model-config", help="model.yaml with model/optim/trainer sections")
    p.add_argument("--resume", help="initial checkpoint: official folder, bare .pt, or our checkpoint")
    p.add_argument("--init", choices=["checkpoint", "random"],
                   help="random: train from scratch (model.arch in --model-config, --vocab); default checkpoint")
    p.add_argument("--vocab", help="vocab.txt for a bare state dict, or the output vocabulary of --init random")
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
    p.add_argument("--new-run", action="store_true",
                   help="the save dir holds another run: move it into <save-dir>/previous-<time>/ and start over")
    p.add_argument("--max-steps", type=int, help="stop after N optimizer steps in total (a pretraining budget)")
    p.add_argument("--max-bad-batches", type=int, help="stop after more batches than this had a non-finite loss")
    return p.parse_args(argv)


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
            feats = [torch.randn(1500, core.cfg.encoder.input_dim, device=device) for _ in range(n)]
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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    flags = {k: v for k, v in vars(args).items() if k not in ("model_config", "new_run")}
    if flags.get("max_duration") not in (None, "auto"):
        flags["max_duration"] = float(flags["max_duration"])
    try:
        cfg = TrainConfig.load(args.model_config, flags)
    except (ValueError, FileNotFoundError) as e:
        return error(e)
    t = cfg.trainer
    save_dir = Path(t.save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    world = setup(t.device)
    moved = move_aside(save_dir) if args.new_run and world.main else None
    barrier(world)  # no rank looks for checkpoints before the old run is out of the way
    setup_logger(save_dir / "train.log", world.rank)
    if moved:
        log.info("--new-run: the previous run is in %s", moved)
    for note in cfg.notes:
        log.warning("%s", note)
    try:
        return train(cfg, save_dir, world)
    except (CheckpointError, ValueError, FileNotFoundError) as e:
        log.error("%s", one_line(e))
        return 2
    except KeyboardInterrupt:  # Ctrl-C: checkpoints are written atomically, so the last one is whole
        log.error("interrupted; rerun the same command to continue from the last checkpoint in %s", save_dir)
        return 130
    finally:
        teardown(world)


def train(cfg: TrainConfig, save_dir: Path, world: World) -> int:
    t = cfg.trainer
    found = ckpt_state.newest_valid(save_dir)
    if found is not None:
        start_path, start = found
        check_same_run(save_dir, cfg)
        loaded = load_model(start_path)
        log.info("continuing from %s (epoch %d, step %d)", start_path, start["epoch"], start["step"])
    else:
        loaded = initial_model(cfg)
        start = loaded.checkpoint
    if start is not None and already_done(start, cfg):
        log.info("stage 3: already done (%s: epoch %d of %d, step %d%s), nothing to do", save_dir, start["epoch"],
                 t.epochs, start["step"], ", stopped early" if start.get("early_stop", {}).get("stopped") else "")
        return 0
    if found is not None:  # continuing (not a finished run, which another process count may still report)
        check_same_world(save_dir, start, world.size)
    if world.main:
        record(save_dir, cfg)
    if world.device.type == "cpu":
        torch.set_num_threads(cpu_threads(t.threads, t.num_workers, world.size))
        log.info("CPU run: %d intra-op threads, %d DataLoader workers", torch.get_num_threads(), t.num_workers)
    torch.manual_seed(t.seed)
    random.seed(t.seed)
    max_duration = t.max_duration
    if max_duration == "auto":
        # probed on the unwrapped model on every rank (no backward through DDP), then one size for all ranks
        probed = auto_max_duration(loaded.model.to(world.device), world.device, Context.parse(cfg.model.context))
        max_duration = smallest(probed, world)
    data = TrainData(t.manifest_dir, loaded.tokenizer,
                     LoaderConfig(max_duration=max_duration, batch_size=None if max_duration else t.batch_size,
                                  num_workers=t.num_workers, seed=t.seed), world.rank, world.size, t.data_config)
    val_sets = eval_sets(t.manifest_dir, "val")
    if not val_sets:
        log.warning("no validation sets in %s: early stopping and best.pt are disabled", t.manifest_dir)
    Trainer(cfg, loaded, start, data, val_sets, world, save_dir, max_duration).run()
    return 0


def already_done(ck: dict[str, Any], cfg: TrainConfig) -> bool:
    t = cfg.trainer
    return bool(ck.get("early_stop", {}).get("stopped") or ck["epoch"] >= t.epochs
                or (t.max_steps and ck["step"] >= t.max_steps))


if __name__ == "__main__":
    sys.exit(main())
