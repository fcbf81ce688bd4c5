#!/usr/bin/env python3
"""On a small CPU box: one training process with N threads, or N one-thread processes (DDP ranks)?

Times forward + backward of our ChunkFormer (masked chunk batch + CTC loss) on a batch of mixed 2-15 s
utterances in two set-ups that use the same N cores:

* ``threads``: one process, ``torch.set_num_threads(N)``;
* ``ranks``: N processes at one thread each, running the same steps at the same time (what
  ``torchrun --nproc_per_node N`` does, without the gradient all-reduce, which costs ~17 MB per step for the
  demo model and is left out here).

Reported: audio-seconds per wall-second for the whole box (medians over ``--reps`` steps), and the ratio.
The demo model (d=144, 6 blocks, vocab 6640) is the default; ``--d-model 512 --blocks 17 --ffn 2048 --heads 8``
is the large config.

    .venv/bin/python bench/bench_cpu_ranks.py --procs 2 --reps 8
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import time

import torch

from chunkformer.model import ChunkFormerModel, EncoderConfig, ModelConfig
from chunkformer.model.masked_batch import Context


def _batch(seconds: float, seed: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    feats, targets, total = [], [], 0.0
    while total < seconds:
        s = float(torch.empty(1).uniform_(2.0, 15.0, generator=g))
        feats.append(torch.randn(int(s * 100), 80, generator=g))
        targets.append(torch.randint(2, 6000, (max(1, int(s * 3)),), generator=g))
        total += s
    return feats, targets


def _steps(a: argparse.Namespace, threads: int, seed: int, start: mp.Event | None = None) -> list[float]:
    """Times ``a.reps`` training steps (after one warm-up step) in this process."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    enc = EncoderConfig(output_size=a.d_model, attention_heads=a.heads, linear_units=a.ffn, num_blocks=a.blocks)
    model = ChunkFormerModel(ModelConfig(vocab_size=a.vocab, encoder=enc)).train()
    feats, targets = _batch(a.batch_seconds, seed)
    ctx = Context.parse(a.context)
    flat, tlens = torch.cat(targets), torch.tensor([len(t) for t in targets])

    def step() -> None:
        model.zero_grad(set_to_none=True)
        logp, lens = model(model.chunk_batch(feats, ctx))
        torch.nn.functional.ctc_loss(logp.transpose(0, 1), flat, lens, tlens, zero_infinity=True).backward()

    step()
    if start is not None:
        start.wait()
    times = []
    for _ in range(a.reps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return times


def _rank(a: argparse.Namespace, seed: int, start: mp.Event, out: mp.Queue) -> None:
    out.put(_steps(a, 1, seed, start))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--procs", type=int, default=2, help="cores to use: threads of one process, or processes")
    p.add_argument("--reps", type=int, default=8)
    p.add_argument("--batch-seconds", type=float, default=60.0, help="audio per step and per process")
    p.add_argument("--d-model", type=int, default=144)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=576)
    p.add_argument("--blocks", type=int, default=6)
    p.add_argument("--vocab", type=int, default=6640)
    p.add_argument("--context", default="128,64,128")
    a = p.parse_args()
    feats, _ = _batch(a.batch_seconds, 0)
    audio = sum(f.shape[0] for f in feats) / 100

    one = _steps(a, a.procs, 0)
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_rank, args=(a, 0, start, out)) for _ in range(a.procs)]
    for pr in procs:
        pr.start()
    time.sleep(1.0)
    start.set()
    per_rank = [out.get() for _ in procs]
    for pr in procs:
        pr.join()
    # the box's throughput in ranks mode: every rank does one batch per step; a step lasts as long as the slowest
    step_wall = [max(ts) for ts in zip(*per_rank)]
    threads_rate = audio / statistics.median(one)
    ranks_rate = a.procs * audio / statistics.median(step_wall)
    result = {"procs": a.procs, "batch_audio_s": round(audio, 1), "reps": a.reps,
              "model": {"d": a.d_model, "heads": a.heads, "ffn": a.ffn, "blocks": a.blocks, "vocab": a.vocab},
              "threads_step_s": [round(t, 3) for t in one], "ranks_step_s": [round(t, 3) for t in step_wall],
              "threads_audio_s_per_s": round(threads_rate, 1), "ranks_audio_s_per_s": round(ranks_rate, 1),
              "ranks_over_threads": round(ranks_rate / threads_rate, 2)}
    print(f"1 process x {a.procs} threads: {threads_rate:.1f} audio-s/s (median step {statistics.median(one):.2f} s)")
    print(f"{a.procs} processes x 1 thread: {ranks_rate:.1f} audio-s/s (median step "
          f"{statistics.median(step_wall):.2f} s, {a.procs} batches)  ratio {ranks_rate / threads_rate:.2f}x")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
