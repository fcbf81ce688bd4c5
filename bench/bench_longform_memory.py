"""Long-form memory, ours vs the official chunkformer 1.2.2: peak RSS when decoding 1, 10, 30, 60 min of audio.

Every measurement runs in a fresh subprocess that imports only the package it measures, loads the model folder
(built once by the parent with the official ``init_speech_model``, see ``_common.py``), makes the (T, 80)
features, then resets the kernel's peak-RSS counter (``/proc/self/clear_refs`` 5) and decodes. Reported per run:
``peak_mb`` = the process's lifetime peak RSS (imports, weights, features and decoding: the larger of VmHWM
just before the reset and VmHWM after decoding; not ``getrusage`` ru_maxrss, which Linux carries over from the
parent across fork+exec, so it would report the parent's RSS when that is larger), ``decode_peak_mb`` = peak
RSS during decoding (VmHWM after the reset) and ``decode_extra_mb`` = that minus the RSS just before decoding
(the decoder's own working memory), plus wall time.

Modes (all greedy CTC ids, as a transcriber needs; outputs are compared across modes by the parent):
- ``official-endless``: the official ``ChunkFormerModel.endless_decode`` itself (``from_pretrained`` on the
  folder, attention decoder dropped, ``char_dict`` unset so it returns ids), its feature loader replaced by the
  prepared features; ``total_batch_duration`` chosen so that its segments hold ``--segment-frames`` frames.
- ``ours-segmented-offla``: our ``long_segments`` (cached segments, ids kept per segment, as
  ``chunkformer-transcribe`` does) with the official look-ahead — the same segments as ``official-endless``.
- ``ours-segmented``: the same with our exact look-ahead (segments equal the one-shot result).
- ``ours-logprobs``: ``ctc_log_probs_long`` (segmented, but keeps the full (L, V) log-probs).
- ``official-oneshot`` / ``ours-oneshot``: one masked batch over the whole input (official
  ``forward_parallel_chunk`` + CTC, like ``batch_decode``; ours ``ctc_log_probs``). The official one-shot needs
  ~2·N·C·(T/2)·(F/2)·4 bytes for its first conv alone (≈ 30 GB for 60 min with C = 512), so it runs only up
  to ``--official-oneshot-max-min``.

Run from the repository root with the official venv's python (``docs/BENCHMARKS.md`` has the figures):
    nice -n 5 .venv-official/bin/python bench/bench_longform_memory.py --size small --minutes 1,10,30,60 --threads 1
    nice -n 5 .venv-official/bin/python bench/bench_longform_memory.py --size large --minutes 10,60 \\
        --modes ours-segmented --threads 1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _common as C  # noqa: E402

MODES = ("official-endless", "ours-segmented-offla", "ours-segmented", "ours-logprobs", "official-oneshot",
         "ours-oneshot")
DEFAULT_MODES = ("official-endless", "ours-segmented-offla", "ours-segmented", "official-oneshot", "ours-oneshot")


def official_budget(segment_frames: int, chunk: int) -> float:
    """A ``total_batch_duration`` (s) for which the official endless_decode keeps ``segment_frames`` per segment."""
    tbd = (segment_frames * 16 + 8) * 0.01
    max_frames = int(tbd // 0.01) // 2
    if chunk * (max_frames // chunk // 8) != segment_frames:
        raise SystemExit(f"--segment-frames {segment_frames} is not reachable by the official budget arithmetic "
                         f"(use a multiple of the chunk size {chunk})")
    return tbd


def child(spec: dict) -> dict:
    """One measurement (runs in a fresh process)."""
    mode, folder, minutes, seed = spec["mode"], spec["folder"], spec["minutes"], spec["seed"]
    left, chunk, right = spec["context"]
    rss = {"start_mb": C.rss_mb()}
    if mode.startswith("official"):
        import warnings

        warnings.filterwarnings("ignore")
        import torch

        from chunkformer import ChunkFormerModel  # the official package (this process never imports ours)

        C.setup_torch(spec.get("threads", 2))
        rss["imports_mb"] = C.rss_mb()
        hf = ChunkFormerModel.from_pretrained(folder)
        hf.model.decoder = None  # CTC only, like ours
        hf.char_dict = None  # endless_decode then returns the greedy ids
        model = hf.model
    else:
        sys.path.insert(0, str(C.REPO))
        import torch

        from chunkformer.checkpoint import load_model
        from chunkformer.model.masked_batch import Context

        C.setup_torch(spec.get("threads", 2))
        rss["imports_mb"] = C.rss_mb()
        model = load_model(folder).model.eval()
        ctx = Context(left, chunk, right)
    rss["model_mb"] = C.rss_mb()
    feats = C.random_feats(minutes * 60.0, seed)
    rss["feats_mb"] = C.rss_mb()
    before = C.rss_mb()
    load_peak = C.peak_rss_mb()  # this process's own peak so far (VmHWM is per address space, reset by exec)
    C.reset_peak_rss()
    t0 = time.perf_counter()
    with torch.no_grad():
        if mode == "official-endless":
            hf._load_audio_and_extract_features = lambda _path: (feats, feats.size(0))
            ids = hf.endless_decode("<features>", chunk_size=chunk, left_context_size=left,
                                    right_context_size=right, total_batch_duration=spec["official_tbd"])
            ids = ids.reshape(-1).tolist()
        elif mode == "official-oneshot":
            xs, lens, n_chunks, _, _, _ = model.encoder.forward_parallel_chunk(
                xs=[feats], xs_origin_lens=torch.tensor([feats.size(0)]), chunk_size=chunk,
                left_context_size=left, right_context_size=right)
            ids = model.ctc.log_softmax(xs).argmax(-1).reshape(-1)[: int(lens[0])].tolist()
        elif mode in ("ours-segmented", "ours-segmented-offla"):
            ids = []
            for lp in model.long_segments(feats, ctx, spec["segment_frames"], mode.endswith("offla")):
                ids += lp.argmax(-1).tolist()
        elif mode == "ours-logprobs":
            ids = model.ctc_log_probs_long(feats, ctx, spec["segment_frames"]).argmax(-1).tolist()
        elif mode == "ours-oneshot":
            ids = model.ctc_log_probs([feats], ctx)[0].argmax(-1).tolist()
        else:
            raise SystemExit(f"unknown mode {mode}")
    seconds = time.perf_counter() - t0
    decode_peak = C.peak_rss_mb()
    return {
        **spec, "seconds": round(seconds, 2), "rss": {k: round(v, 1) for k, v in rss.items()},
        "peak_mb": round(max(load_peak, decode_peak), 1), "load_peak_mb": round(load_peak, 1),
        "decode_peak_mb": round(decode_peak, 1), "decode_extra_mb": round(decode_peak - before, 1),
        "ids": ids,
    }


def measure(spec: dict) -> dict:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)],
                          capture_output=True, text=True, cwd=str(HERE.parent.parent))
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        return {**spec, "error": f"exit {proc.returncode}: {' | '.join(tail)}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def agreement(a: list[int], b: list[int]) -> float | None:
    if len(a) != len(b):
        return None
    return sum(x == y for x, y in zip(a, b)) / max(1, len(a))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(C.SIZES), default="small")
    ap.add_argument("--minutes", default="1,10,30,60", help="input lengths in minutes (default: %(default)s)")
    ap.add_argument("--modes", default=",".join(DEFAULT_MODES), help=f"comma list of {', '.join(MODES)}")
    ap.add_argument("--segment-frames", type=int, default=7488,
                    help="encoder frames kept per segment (default %(default)s = 599 s, chunkformer-transcribe's "
                         "default --segment-seconds 600; official total_batch_duration 1198.16)")
    ap.add_argument("--official-oneshot-max-min", type=float, default=10.0,
                    help="skip official-oneshot above this many minutes (its memory need, see above)")
    ap.add_argument("--context", default="128,64,128")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default: %(default)s)")
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        result = child(json.loads(a.child))
        print(json.dumps(result))
        return

    modes = [m for m in a.modes.split(",") if m]
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise SystemExit(f"--modes: unknown {bad}; choose from {MODES}")
    minutes = [float(m) for m in a.minutes.split(",")]
    context = [int(x) for x in a.context.split(",")]
    tbd = official_budget(a.segment_frames, context[1])
    C.import_both()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = str(C.make_model_folder(tmp, a.size, a.seed))
        for m in minutes:
            runs = {}
            for mode in modes:
                if mode == "official-oneshot" and m > a.official_oneshot_max_min:
                    print(f"[{a.size}] {m:g} min {mode}: skipped (> --official-oneshot-max-min)", flush=True)
                    continue
                spec = {"mode": mode, "folder": folder, "minutes": m, "seed": a.seed, "context": context,
                        "segment_frames": a.segment_frames, "official_tbd": tbd, "size": a.size,
                        "threads": a.threads}
                r = measure(spec)
                runs[mode] = r
                if "error" in r:
                    print(f"[{a.size}] {m:g} min {mode}: FAILED {r['error']}", flush=True)
                    continue
                print(f"[{a.size}] {m:g} min {mode}: peak {r['peak_mb']:.0f} MB, decoding peak "
                      f"{r['decode_peak_mb']:.0f} MB (+{r['decode_extra_mb']:.0f} MB over the loaded state), "
                      f"{r['seconds']:.1f} s", flush=True)
            ids = {k: v.pop("ids") for k, v in runs.items() if "ids" in v}
            checks = {}
            for x, y in (("official-endless", "ours-segmented-offla"), ("official-oneshot", "ours-oneshot"),
                         ("ours-oneshot", "ours-segmented"), ("official-endless", "ours-segmented"),
                         ("ours-segmented", "ours-logprobs")):
                if x in ids and y in ids:
                    checks[f"{x} vs {y}"] = agreement(ids[x], ids[y])
            if checks:
                print(f"[{a.size}] {m:g} min argmax agreement: "
                      + ", ".join(f"{k} {v if v is None else round(v, 5)}" for k, v in checks.items()), flush=True)
            results.append({"minutes": m, "runs": runs, "argmax_agreement": checks})
    out = {"benchmark": "longform_memory", "size": a.size, "dims(d,heads,ffn,blocks)": C.SIZES[a.size],
           "vocab": C.VOCAB, "segment_frames": a.segment_frames, "official_total_batch_duration": tbd,
           "context": a.context, "threads": a.threads, "results": results, "machine": C.machine()}
    print(json.dumps(out))
    if a.json:
        C.write_json(a.json, out)


if __name__ == "__main__":
    main()
