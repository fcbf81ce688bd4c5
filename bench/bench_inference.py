"""Inference speed, ours vs the official chunkformer 1.2.2: masked-batch CTC log-probs of one mixed batch.

Both sides get the same weights (built by the official ``init_speech_model``, see ``_common.py``), the same
fbank features and ``torch.set_num_threads(--threads)``; they run alternately in one process. Official: what
its ``batch_decode`` runs — ``encoder.forward_parallel_chunk`` (one masked batch) + ``ctc.log_softmax``, split
per utterance. Ours: ``ChunkFormerModel.ctc_log_probs``. Audio I/O and fbank are left out (identical work).
The first call of each side is the parity check (max |Δ| of log-probs, greedy argmax agreement) and the
warm-up; then ``--reps`` timed rounds. Reported: median wall time, audio-seconds per wall-second, ratio.

Run with the official venv's python (it imports both packages), from the repository root
(``docs/BENCHMARKS.md`` has the figures; on a CPU shared with other jobs use ``--threads 1``, see there):
    nice -n 5 .venv-official/bin/python bench/bench_inference.py --size small --reps 5 --threads 1
    nice -n 5 .venv-official/bin/python bench/bench_inference.py --size large --reps 3 --threads 1
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402  (must import before our package: see _common.import_both)

TOL = 1e-4


def parse_batch(spec: str) -> list[float]:
    """``"10x60,1x600"`` → ten 60 s and one 600 s utterance."""
    out: list[float] = []
    for part in spec.split(","):
        count, _, secs = part.partition("x")
        if not secs:
            raise SystemExit(f"--batch: expected COUNTxSECONDS items like 10x60, got {part!r}")
        out += [float(secs)] * int(count)
    return out


def run(size: str, batch: list[float], reps: int, context: str, seed: int, threads: int = 2) -> dict:
    C.import_both()
    import torch

    from chunkformer.model.masked_batch import Context

    C.setup_torch(threads)
    ctx = Context.parse(context)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        folder = C.make_model_folder(tmp, size, seed)
        official = C.load_official(folder)
        ours = C.load_ours(folder)
        print(f"[{size}] models built and loaded in {time.perf_counter() - t0:.1f} s", flush=True)
    feats = [C.random_feats(s, seed + i) for i, s in enumerate(batch)]
    audio_s = sum(batch)

    def run_official() -> list[torch.Tensor]:
        return C.official_ctc_log_probs(official, feats, ctx.left, ctx.chunk, ctx.right)

    def run_ours() -> list[torch.Tensor]:
        return ours.ctc_log_probs(feats, ctx)

    t0 = time.perf_counter()
    ref = run_official()
    t_off0 = time.perf_counter() - t0
    t0 = time.perf_counter()
    got = run_ours()
    t_our0 = time.perf_counter() - t0
    parity = C.compare(got, ref)
    print(f"[{size}] parity: max|Δ| {parity['max_abs_diff']:.2e}, argmax agreement {parity['argmax_agree']:.6f} "
          f"(first calls: official {t_off0:.2f} s, ours {t_our0:.2f} s)", flush=True)
    del ref, got
    if parity["max_abs_diff"] > TOL:
        raise SystemExit(f"bench_inference: outputs differ by {parity['max_abs_diff']:.2e} > {TOL}")
    timing = C.alternate({"official": run_official, "ours": run_ours}, reps, warmup=0)
    med_off, med_our = timing.median("official"), timing.median("ours")
    result = {
        "benchmark": "inference", "size": size, "dims(d,heads,ffn,blocks)": C.SIZES[size], "vocab": C.VOCAB,
        "batch_seconds": batch, "audio_seconds": audio_s, "context": str(ctx), "reps": reps,
        "parity": parity, "timing": timing.summary(),
        "official_audio_s_per_s": round(audio_s / med_off, 2), "ours_audio_s_per_s": round(audio_s / med_our, 2),
        "speedup": round(med_off / med_our, 3), "machine": C.machine(),
    }
    print(f"[{size}] official {audio_s / med_off:.1f} audio-s/s (median {med_off:.2f} s), ours "
          f"{audio_s / med_our:.1f} audio-s/s (median {med_our:.2f} s): ours/official = {med_off / med_our:.2f}x",
          flush=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(C.SIZES), default="small")
    ap.add_argument("--batch", default="10x60,1x600", help="COUNTxSECONDS,… (default: %(default)s)")
    ap.add_argument("--reps", type=int, default=3, help="timed rounds per side after the parity/warm-up call")
    ap.add_argument("--context", default="128,64,128", help="left,chunk,right (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads, both sides (default: %(default)s)")
    ap.add_argument("--json", type=Path, help="also write the result as JSON here")
    a = ap.parse_args()
    if a.reps < 1:
        raise SystemExit("--reps must be at least 1")
    result = run(a.size, parse_batch(a.batch), a.reps, a.context, a.seed, a.threads)
    print(json.dumps(result))
    if a.json:
        C.write_json(a.json, result)


if __name__ == "__main__":
    main()
