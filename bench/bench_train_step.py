"""Training-step speed, ours vs the official chunkformer 1.2.2: forward + CTC loss + backward on one batch of
mixed-length utterances (2–15 s, like call-bot turns).

Official: its training path — the inner ``ASRModel.forward`` in train mode (CTC only, ``ctc_weight`` 1), whose
encoder draws (chunk, left, right) from ``dynamic_*_sizes`` (set to the single choice 64/128/128 here) and runs
``forward_encoder`` on the zero-padded batch (every utterance padded to the longest). Ours: ``model(batch)``
on the masked chunk batch (no padding beyond each utterance's last chunk) + ``F.ctc_loss`` with the same
reduction (sum / batch size). Same weights, features, targets, context; both in train mode (dropout on);
``torch.set_num_threads(--threads)``; alternating in one process; gradients zeroed before each step; no optimizer
step.

The two training paths differ by design (the official one pads zeros where the depthwise conv would see the
next chunk; ours matches the official *inference* path), so instead of output parity the benchmark checks
that our training path equals our inference path (eval mode, max |Δ| of log-probs) and that gradients are
finite. ``--untrimmed`` also times ours on the context as given (``make_chunk_batch`` without the
``effective_context`` trimming that ``chunk_batch`` applies), a diagnostic: same log-probs, different cost.

Run from the repository root with the official venv's python (``docs/BENCHMARKS.md`` has the figures):
    nice -n 5 .venv-official/bin/python bench/bench_train_step.py --size small --reps 5 --threads 1 --untrimmed
    nice -n 5 .venv-official/bin/python bench/bench_train_step.py --size large --reps 3 --threads 1 --untrimmed
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402  (must import before our package: see _common.import_both)

TOL = 1e-4
TOKENS_PER_SECOND = 3.0  # Vietnamese syllable rate, roughly


def draw_lengths(n: int, lo: float, hi: float, dist: str, seed: int) -> list[float]:
    """``n`` durations in [lo, hi] s: log-uniform (short turns more frequent) or uniform, seeded."""
    import random

    rng = random.Random(seed)
    if dist == "uniform":
        return [round(rng.uniform(lo, hi), 2) for _ in range(n)]
    return [round(math.exp(rng.uniform(math.log(lo), math.log(hi))), 2) for _ in range(n)]


def run(size: str, lengths: list[float], reps: int, context: str, seed: int, threads: int = 2,
        untrimmed: bool = False) -> dict:
    C.import_both()
    import torch

    from chunkformer.model.masked_batch import Context, make_chunk_batch
    from chunkformer.model.subsampling import subsampled_len

    C.setup_torch(threads)
    ctx = Context.parse(context)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        folder = C.make_model_folder(tmp, size, seed)
        official = C.load_official(folder)
        ours = C.load_ours(folder)
        print(f"[{size}] models built and loaded in {time.perf_counter() - t0:.1f} s", flush=True)
    enc = official.encoder
    enc.dynamic_chunk_sizes, enc.dynamic_left_context_sizes = [ctx.chunk], [ctx.left]
    enc.dynamic_right_context_sizes = [ctx.right]

    feats = [C.random_feats(s, seed + i) for i, s in enumerate(lengths)]
    g = torch.Generator().manual_seed(seed)
    targets = [torch.randint(2, C.VOCAB, (max(1, int(s * TOKENS_PER_SECOND)),), generator=g) for s in lengths]
    feat_lens = torch.tensor([f.size(0) for f in feats])
    padded = torch.nn.utils.rnn.pad_sequence(feats, batch_first=True)
    off_batch = {"feats": padded, "feats_lengths": feat_lens,
                 "target": torch.nn.utils.rnn.pad_sequence(targets, batch_first=True, padding_value=-1),
                 "target_lengths": torch.tensor([len(t) for t in targets])}
    flat_targets = torch.cat(targets)
    target_lens = off_batch["target_lengths"]

    def step_official() -> float:
        official.zero_grad(set_to_none=True)
        loss = official(off_batch, torch.device("cpu"))["loss"]
        loss.backward()
        return float(loss)

    def ours_step(batch) -> float:
        ours.zero_grad(set_to_none=True)
        logp, lens = ours(batch)
        loss = torch.nn.functional.ctc_loss(logp.transpose(0, 1), flat_targets, lens, target_lens, blank=0,
                                            reduction="sum", zero_infinity=True) / len(feats)
        loss.backward()
        return float(loss)

    def step_ours() -> float:  # the library's training path: chunk_batch trims the context (effective_context)
        return ours_step(ours.chunk_batch(feats, ctx))

    def step_ours_untrimmed() -> float:  # diagnostic: the same masked batch with the context as given
        return ours_step(make_chunk_batch(feats, ctx, ours.encoder.conv_lorder))

    # checks (eval mode: no dropout): our training path == our inference path; gradients finite
    ours.eval()
    with torch.no_grad():
        logp, lens = ours(ours.chunk_batch(feats, ctx))
    ref = ours.ctc_log_probs(feats, ctx)
    train_vs_infer = max(float((logp[b, : int(n)] - r).abs().max()) for b, (n, r) in enumerate(zip(lens, ref)))
    if train_vs_infer > TOL:
        raise SystemExit(f"bench_train_step: our training path differs from inference by {train_vs_infer:.2e}")
    trimmed_batch = ours.chunk_batch(feats, ctx)
    untrimmed_batch = make_chunk_batch(feats, ctx, ours.encoder.conv_lorder)
    # encoder output frames computed per forward: real ones, official padded batch, ours (trimmed / untrimmed)
    frames = {"real": int(trimmed_batch.out_lens.sum()),
              "official_padded": len(feats) * int(trimmed_batch.out_lens.max()),
              "ours": trimmed_batch.xs.size(0) * trimmed_batch.context.chunk,
              "ours_context": str(trimmed_batch.context),
              "ours_untrimmed": untrimmed_batch.xs.size(0) * ctx.chunk}
    untrimmed_vs_trimmed = None
    if untrimmed:
        with torch.no_grad():
            logp_u, _ = ours(untrimmed_batch)
        untrimmed_vs_trimmed = max(float((logp_u[b, : int(n)] - logp[b, : int(n)]).abs().max())
                                   for b, n in enumerate(lens))
        del logp_u
        if untrimmed_vs_trimmed > TOL:
            raise SystemExit(f"bench_train_step: untrimmed context differs from trimmed by {untrimmed_vs_trimmed:.2e}")
    del logp, ref, trimmed_batch, untrimmed_batch
    ours.train()
    official.train()
    t0 = time.perf_counter()
    loss_off = step_official()
    t_off0 = time.perf_counter() - t0
    t0 = time.perf_counter()
    loss_our = step_ours()
    t_our0 = time.perf_counter() - t0
    finite = all(p.grad is None or bool(torch.isfinite(p.grad).all()) for p in ours.parameters())
    n_grads = sum(p.grad is not None for p in ours.parameters())
    if not finite or not n_grads:
        raise SystemExit("bench_train_step: our gradients are missing or not finite")
    print(f"[{size}] ours train path vs inference path: max|Δ| {train_vs_infer:.2e}; first steps: official "
          f"{t_off0:.2f} s (loss {loss_off:.1f}), ours {t_our0:.2f} s (loss {loss_our:.1f})", flush=True)

    fns = {"official": step_official, "ours": step_ours}
    if untrimmed:
        step_ours_untrimmed()  # its first (warm-up) step
        fns["ours-untrimmed"] = step_ours_untrimmed
    timing = C.alternate(fns, reps, warmup=0)
    audio_s = sum(lengths)
    med_off, med_our = timing.median("official"), timing.median("ours")
    out_frames = sum(subsampled_len(int(n)) for n in feat_lens)
    result = {
        "benchmark": "train_step", "size": size, "dims(d,heads,ffn,blocks)": C.SIZES[size], "vocab": C.VOCAB,
        "lengths_s": lengths, "audio_seconds": round(audio_s, 2), "context": str(ctx), "reps": reps,
        "padding_waste_official": round(1 - out_frames / (len(lengths) * subsampled_len(int(feat_lens.max()))), 3),
        "encoder_frames": frames,
        "ours_train_vs_infer_max_abs_diff": train_vs_infer,
        "ours_untrimmed_vs_trimmed_max_abs_diff": untrimmed_vs_trimmed,
        "timing": timing.summary(),
        "official_audio_s_per_s": round(audio_s / med_off, 2), "ours_audio_s_per_s": round(audio_s / med_our, 2),
        "speedup": round(med_off / med_our, 3), "machine": C.machine(),
    }
    print(f"[{size}] official {audio_s / med_off:.1f} audio-s/s (median {med_off:.2f} s), ours "
          f"{audio_s / med_our:.1f} audio-s/s (median {med_our:.2f} s): ours/official = {med_off / med_our:.2f}x",
          flush=True)
    if untrimmed:
        med_u = timing.median("ours-untrimmed")
        result["ours_untrimmed_audio_s_per_s"] = round(audio_s / med_u, 2)
        result["speedup_untrimmed"] = round(med_off / med_u, 3)
        print(f"[{size}] ours with the untrimmed context {audio_s / med_u:.1f} audio-s/s (median {med_u:.2f} s): "
              f"{med_off / med_u:.2f}x official (diagnostic)", flush=True)
    print(f"[{size}] encoder frames: {frames}", flush=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(C.SIZES), default="small")
    ap.add_argument("--utts", type=int, default=16, help="utterances in the batch (default: %(default)s)")
    ap.add_argument("--min-s", type=float, default=2.0)
    ap.add_argument("--max-s", type=float, default=15.0)
    ap.add_argument("--dist", choices=["loguniform", "uniform"], default="loguniform",
                    help="length distribution (default: %(default)s)")
    ap.add_argument("--reps", type=int, default=3, help="timed rounds per side after the first (warm-up) step")
    ap.add_argument("--context", default="128,64,128", help="left,chunk,right (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads, both sides (default: %(default)s)")
    ap.add_argument("--untrimmed", action="store_true",
                    help="also time ours on the untrimmed context (make_chunk_batch without effective_context)")
    ap.add_argument("--json", type=Path, help="also write the result as JSON here")
    a = ap.parse_args()
    if a.reps < 1 or a.utts < 1 or not 0.5 <= a.min_s <= a.max_s:
        raise SystemExit("need --reps ≥ 1, --utts ≥ 1 and 0.5 ≤ --min-s ≤ --max-s")
    lengths = draw_lengths(a.utts, a.min_s, a.max_s, a.dist, a.seed)
    result = run(a.size, lengths, a.reps, a.context, a.seed, a.threads, a.untrimmed)
    result["dist"] = a.dist
    print(json.dumps(result))
    if a.json:
        C.write_json(a.json, result)


if __name__ == "__main__":
    main()
