#!/usr/bin/env python3
"""Trains the demo's "pretrained" checkpoint: a small ChunkFormer (official architecture) on the clean
reading domain of the demo corpus only, from scratch, then writes it in the official folder format.

It plays the role of the paper's released checkpoint in the demo (a model that never heard a phone line).
Resumable: state is saved atomically every few minutes; running the same command again continues from the
saved step (mid-epoch: batches and SpecAugment masks are seeded per (epoch, batch), so none repeats or is
skipped). The budget is a number of optimizer steps (``--max-steps``), so the result does not depend on the
machine's speed; ``--minutes`` optionally caps the training time as well. The committed checkpoint records
the steps and minutes it got.

Under ``torchrun`` it trains data-parallel (PyTorch DDP, gloo on CPU): each optimizer step takes the next
``world_size`` batches of the epoch plan, one per rank, so the plan, the SpecAugment masks and the resume
point do not depend on the number of processes. On a 2-core CPU two 1-thread ranks do 1.24x the audio per
second of one 2-thread process (``bench/bench_cpu_ranks.py``, docs/BENCHMARKS.md): a model this small makes
poor use of a second OpenMP thread.

    python local/train_demo_checkpoint.py --corpus-dir data/demo_corpus --vocab egs/callbot/demo/vocab.txt \
        --work-dir exp/demo_pretrain --out-dir egs/callbot/demo/pretrained --max-steps 2560
    torchrun --nproc_per_node 2 local/train_demo_checkpoint.py --threads 1 ...   # same flags
"""

from __future__ import annotations

import argparse
import csv
import logging
import math
import os
import random
import time
from pathlib import Path

import torch
from tqdm import tqdm

from chunkformer.checkpoint import (
    LoadedModel,
    atomic_save,
    infer_config,
    load_model,
    model_payload,
    safe_load,
    save_official_folder,
)
from chunkformer.ctc_search import greedy_search
from chunkformer.frontend import load_features
from chunkformer.masked_batch import Context
from chunkformer.model import ChunkFormerModel, EncoderConfig, ModelConfig
from chunkformer.model.subsampling import subsampled_len
from chunkformer.scoring import compute_wer
from chunkformer.text import normalize_text
from chunkformer.tokenizer import Tokenizer

log = logging.getLogger("pretrain")


def read_list(tsv: Path) -> list[tuple[Path, str]]:
    with tsv.open(encoding="utf-8") as f:
        return [(tsv.parent / row["wav"], normalize_text(row["txt"])) for row in csv.DictReader(f, delimiter="\t")]


def featurize(items: list[tuple[Path, str]], tok: Tokenizer, desc: str) -> list[tuple[torch.Tensor, torch.Tensor, str]]:
    out = []
    for wav, text in tqdm(items, desc=desc, unit="utt"):
        feats = load_features(wav)
        ids = tok.encode(text)
        if subsampled_len(feats.shape[0]) < 2 * len(ids):  # CTC needs room for repeats; skip and say so
            log.warning("skipping %s: %d frames for %d tokens", wav, feats.shape[0], len(ids))
            continue
        out.append((feats, torch.tensor(ids, dtype=torch.long), text))
    return out


def spec_augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Light SpecAugment for from-scratch training: 2 freq masks ≤ 10 bins, 2 time masks ≤ 20 frames."""
    x = x.clone()
    fill = x.mean()
    for _ in range(2):
        w = int(torch.randint(0, 11, (1,), generator=g))
        f0 = int(torch.randint(0, x.shape[1] - w + 1, (1,), generator=g))
        x[:, f0 : f0 + w] = fill
        w = int(torch.randint(0, min(21, x.shape[0] // 5 + 1), (1,), generator=g))
        t0 = int(torch.randint(0, x.shape[0] - w + 1, (1,), generator=g))
        x[t0 : t0 + w] = fill
    return x


def batches(data: list, max_frames: int, rng: random.Random) -> list[list[int]]:
    """Length-sorted buckets cut into batches of at most ``max_frames`` feature frames, shuffled."""
    order = sorted(range(len(data)), key=lambda i: data[i][0].shape[0] + rng.random())
    out, cur, frames = [], [], 0
    for i in order:
        n = data[i][0].shape[0]
        if cur and frames + n > max_frames:
            out.append(cur)
            cur, frames = [], 0
        cur.append(i)
        frames += n
    if cur:
        out.append(cur)
    rng.shuffle(out)
    return out


@torch.no_grad()
def evaluate(model: ChunkFormerModel, data: list, tok: Tokenizer, ctx: Context) -> float:
    model.eval()
    pairs = []
    for i in range(0, len(data), 32):
        chunk = data[i : i + 32]
        outs = model.ctc_log_probs([d[0] for d in chunk], ctx)
        pairs += [(str(i + j), d[2], tok.decode(greedy_search(o))) for j, (d, o) in enumerate(zip(chunk, outs))]
    model.train()
    return compute_wer(pairs).wer


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus-dir", type=Path, required=True)
    p.add_argument("--vocab", type=Path, required=True)
    p.add_argument("--work-dir", type=Path, default=Path("exp/demo_pretrain"))
    p.add_argument("--out-dir", type=Path, default=Path("egs/callbot/demo/pretrained"))
    p.add_argument("--max-steps", type=int, default=2560, help="optimizer steps in total (across resumes)")
    p.add_argument("--minutes", type=float, default=None, help="optional cap on training minutes (across resumes)")
    p.add_argument("--d-model", type=int, default=144)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=576)
    p.add_argument("--blocks", type=int, default=6)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=400)
    p.add_argument("--max-frames", type=int, default=6000, help="fbank frames (10 ms) per batch")
    p.add_argument("--context", default="128,64,128")
    p.add_argument("--save-every-min", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        torch.distributed.init_process_group("gloo")
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    a.work_dir.mkdir(parents=True, exist_ok=True)
    state_path = a.work_dir / "state.pt"
    ctx = Context.parse(a.context)
    tok = Tokenizer.from_file(a.vocab)
    train = featurize(read_list(a.corpus_dir / "reading/train/list.tsv"), tok, "features (train)")
    val = featurize(read_list(a.corpus_dir / "reading/val/list.tsv"), tok, "features (val)")

    enc = EncoderConfig(output_size=a.d_model, attention_heads=a.heads, linear_units=a.ffn, num_blocks=a.blocks)
    model = ChunkFormerModel(ModelConfig(vocab_size=len(tok), encoder=enc))
    allf = torch.cat([d[0] for d in train]).double()
    model.encoder.global_cmvn.mean.copy_(allf.mean(0).float())
    model.encoder.global_cmvn.istd.copy_((1.0 / allf.std(0).clamp_min(1e-5)).float())
    del allf
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=1e-3)
    # every rank builds the same initial weights from the seed; DDP also broadcasts rank 0's at wrap time
    ddp = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    step, epoch, batch0, elapsed, history = 0, 0, 0, 0.0, []
    if state_path.exists():
        st = safe_load(state_path)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        step, epoch, elapsed, history = st["step"], st["epoch"], st["elapsed"], st["history"]
        batch0 = st.get("batch_in_epoch", 0)
        torch.set_rng_state(st["torch_rng"])
        log.info("resumed from %s: step %d, epoch %d, %.1f min trained", state_path, step, epoch, elapsed / 60)
    if world > 1:  # resumed weights were loaded into every rank's replica alike; make that explicit
        for t in model.state_dict().values():
            torch.distributed.broadcast(t, 0)

    def lr_at(s: int) -> float:
        return a.lr * min((s + 1) / a.warmup, math.sqrt(a.warmup / (s + 1)))

    def save() -> None:
        if rank != 0:
            return
        st = {"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step, "epoch": epoch,
              "batch_in_epoch": batch0, "elapsed": elapsed, "history": history, "torch_rng": torch.get_rng_state()}
        atomic_save(st, state_path)

    g = torch.Generator()
    model.train()
    budget = a.minutes * 60 if a.minutes else math.inf

    def finished() -> bool:
        return step >= a.max_steps or elapsed >= budget

    last_save = time.time()
    while not finished():
        plan = batches(train, a.max_frames, random.Random(a.seed + epoch))
        bar = tqdm(range(batch0, len(plan) - world + 1, world), desc=f"epoch {epoch}", unit="step", leave=False,
                   disable=rank != 0)
        for first in bar:
            t0 = time.time()
            batch0 = first + rank  # this rank's batch; seeds depend on the plan index only, not on world size
            idx = plan[batch0]
            g.manual_seed(a.seed * 1_000_003 + epoch * 10_007 + batch0)
            batch0 = first + world
            feats = [spec_augment(train[i][0], g) for i in idx]
            targets = [train[i][1] for i in idx]
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            logp, lens = ddp(model.chunk_batch(feats, ctx))
            loss = torch.nn.functional.ctc_loss(
                logp.transpose(0, 1), torch.cat(targets), lens, torch.tensor([len(t) for t in targets]),
                blank=0, reduction="sum", zero_infinity=True) / len(idx)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            step += 1
            elapsed += time.time() - t0
            if world > 1:  # one clock for all ranks, so every rank agrees on when to evaluate and stop
                clock = torch.tensor([elapsed, float(time.time() - last_save > a.save_every_min * 60)],
                                     dtype=torch.float64)
                torch.distributed.broadcast(clock, 0)
                elapsed, due = float(clock[0]), bool(clock[1])
            else:
                due = time.time() - last_save > a.save_every_min * 60
            bar.set_postfix(loss=f"{loss.item():.2f}", lr=f"{lr_at(step):.1e}", min=f"{elapsed / 60:.1f}")
            if due or finished():
                if rank == 0:
                    wer = evaluate(model, val, tok, ctx)
                    history.append({"step": step, "minutes": round(elapsed / 60, 2), "val_wer": round(wer, 2),
                                    "world_size": world})
                    log.info("step %d (%.1f min): loss %.3f, reading val WER %.2f%%", step, elapsed / 60,
                             loss.item(), wer)
                    save()
                if world > 1:
                    torch.distributed.barrier()
                last_save = time.time()
            if finished():
                break
        else:
            epoch += 1
            batch0 = 0
    save()
    if world > 1:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
        if rank != 0:
            return
    wer = evaluate(model, val, tok, ctx)
    log.info("done: %d steps, %d epochs, %.1f min, reading val WER %.2f%%", step, epoch, elapsed / 60, wer)
    cfg = infer_config(model.state_dict())
    cfg["demo_pretraining"] = {"data": "demo corpus, reading domain (clean 16 kHz espeak-ng), train split",
                               "steps": step, "minutes": round(elapsed / 60, 1), "reading_val_wer": round(wer, 2),
                               "context": str(ctx), "seed": a.seed,
                               "command": "local/train_demo_checkpoint.py (see README)"}
    loaded = LoadedModel(model.eval(), tok, cfg)
    save_official_folder(loaded, a.out_dir)
    check = load_model(a.out_dir)
    assert torch.equal(check.model.ctc.ctc_lo.weight, model.ctc.ctc_lo.weight)
    atomic_save(model_payload(loaded), a.work_dir / "final.pt")
    log.info("wrote %s", a.out_dir)


if __name__ == "__main__":
    main()
