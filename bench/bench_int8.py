"""int8 inference (``chunkformer.model.quantize.quantize_int8``) against our float32 model: speed, log-prob
agreement and greedy WER.

**Speed and agreement.** For each model of ``--models`` (``large``/``small``/``tiny``: random weights of that
config, see ``_common.SIZES``; or a model folder such as ``egs/callbot/demo/pretrained``) the float32 model and
an int8 copy (``copy.deepcopy`` + ``quantize_int8``) decode the same masked batch of mixed-length utterances
(``ChunkFormerModel.ctc_log_probs``: encoder + CTC log-softmax; audio I/O and fbank are left out, identical
work). For every thread count of ``--threads`` (``torch.set_num_threads``, both sides alike) the two alternate for
``--reps`` timed rounds after one untimed warm-up each (``_common.alternate``); reported: median wall time, audio
seconds per wall second, and the ratio fp32 / int8. Agreement, from the first call of each: max and mean |Δ| of the
log-probs over all frames and vocabulary entries, the share of frames with the same argmax, and the share of
utterances whose greedy token sequence is identical.

The batch: the fbank of real turns (``--audio``: wav files; by default the first ``--per-domain`` test turns
of each domain of the demo corpus in ``--corpus``, 3–8 s), else random features (``--batch`` COUNTxSECONDS).
The random-weight models get random CMVN statistics around the fbank's range, non-trivial LayerNorms and a
sharpened CTC head (as in ``_common.make_model_folder``), so their argmax has some margin.

**WER** (``--wer MODEL``): greedy WER of float32 and int8 on the demo's test sets (``--corpus``:
``<domain>/test/list.tsv`` and ``telephony/test_seen``, ``general/test``), decoded by ``Transcriber`` (what
``python -m chunkformer.transcribe [--int8]`` prints), references normalised by ``normalize_text``.

Run from the repository root on an otherwise idle machine (docs/BENCHMARKS.md has the figures; ``--corpus``
defaults to ``data/demo_corpus``, made by ``./run.sh``)::

    PYTHONPATH=. .venv/bin/python bench/bench_int8.py --models large,egs/callbot/demo/pretrained --threads 2,1
    PYTHONPATH=. .venv/bin/python bench/bench_int8.py --models none --wer egs/callbot/demo/finetuned
"""

from __future__ import annotations

import argparse
import copy
import csv
import functools
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

sys.path.insert(0, str(C.REPO))
from chunkformer.checkpoint import load_model  # noqa: E402
from chunkformer.decoding.ctc_search import greedy_search  # noqa: E402
from chunkformer.decoding.scoring import compute_wer  # noqa: E402
from chunkformer.frontend import load_features  # noqa: E402
from chunkformer.model.asr_model import ChunkFormerModel, ModelConfig  # noqa: E402
from chunkformer.model.encoder import EncoderConfig  # noqa: E402
from chunkformer.model.masked_batch import Context  # noqa: E402
from chunkformer.model.quantize import BACKENDS, cpu_flags, default_backend, has_vnni, quantize_int8  # noqa: E402
from chunkformer.text import normalize_text  # noqa: E402
from chunkformer.transcribe import Transcriber  # noqa: E402

CORPUS = C.REPO / "data" / "demo_corpus"  # what ./run.sh makes (stage -1)
WER_SETS = {"telephony": "telephony/test", "conversation": "conversation/test", "reading": "reading/test",
            "telephony_seen": "telephony/test_seen", "general": "general/test"}


def random_model(size: str, seed: int = 7) -> ChunkFormerModel:
    """Our model with the config ``size`` and seeded random weights (see the module docstring)."""
    d, h, u, n = C.SIZES[size]
    torch.manual_seed(seed)
    model = ChunkFormerModel(ModelConfig(vocab_size=C.VOCAB, encoder=EncoderConfig(
        output_size=d, attention_heads=h, linear_units=u, num_blocks=n)))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        cmvn = model.encoder.global_cmvn
        cmvn.mean.copy_(torch.linspace(11.0, 8.0, 80) + 0.5 * torch.rand(80, generator=g))
        cmvn.istd.copy_(1.0 / (2.0 + 0.5 * torch.rand(80, generator=g)))
        for name, prm in model.named_parameters():
            if prm.dim() == 1 and "norm" in name:
                prm.add_(0.05 * torch.randn(prm.shape, generator=g))
        model.ctc.ctc_lo.weight.mul_(4.0)
    return model.eval()


def build(spec: str) -> tuple[ChunkFormerModel, str]:
    if spec in C.SIZES:
        d, h, u, n = C.SIZES[spec]
        return random_model(spec), f"{spec} (random weights, d={d}, {h} heads, FFN {u}, {n} blocks, vocab {C.VOCAB})"
    loaded = load_model(spec)
    e = loaded.model.encoder.cfg
    return loaded.model.eval(), (f"{spec} (d={e.output_size}, {e.attention_heads} heads, FFN {e.linear_units}, "
                                 f"{e.num_blocks} blocks, vocab {loaded.model.cfg.vocab_size})")


def batch_features(a: argparse.Namespace) -> tuple[list[torch.Tensor], str]:
    paths = [Path(p) for p in a.audio] if a.audio else []
    if not paths and a.corpus.is_dir():
        for domain in ("telephony", "conversation", "reading"):
            paths += sorted((a.corpus / domain / "test" / "wavs").glob("*.wav"))[: a.per_domain]
    if paths:
        feats = [load_features(p) for p in paths]
        return feats, f"{len(feats)} real turns ({paths[0].parent} …)"
    secs = []
    for part in a.batch.split(","):
        count, _, s = part.partition("x")
        secs += [float(s)] * int(count)
    return [C.random_feats(s, 11 + i) for i, s in enumerate(secs)], f"random features {a.batch}"


def agreement(ref: list[torch.Tensor], got: list[torch.Tensor]) -> dict[str, float]:
    diffs = [(a - b).abs() for a, b in zip(ref, got, strict=True)]
    frames = sum(a.size(0) for a in ref)
    same = sum(int((a.argmax(-1) == b.argmax(-1)).sum()) for a, b in zip(ref, got))
    same_utt = sum(greedy_search(a) == greedy_search(b) for a, b in zip(ref, got))
    return {"max_abs_diff": float(max(d.max() for d in diffs)),
            "mean_abs_diff": float(sum(d.sum() for d in diffs) / sum(d.numel() for d in diffs)),
            "argmax_agree_pct": 100.0 * same / frames, "greedy_identical_utts": f"{same_utt}/{len(ref)}"}


def speed(spec: str, feats: list[torch.Tensor], threads: list[int], reps: int, ctx: Context,
          backends: list[str]) -> dict:
    """fp32 against an int8 copy per backend, alternating, per thread count; the first backend's figures are
    also under the plain ``int8``/``speedup`` keys."""
    fp32, desc = build(spec)
    sides = {"fp32": fp32, **{f"int8-{b}": quantize_int8(copy.deepcopy(fp32), backend=b) for b in backends}}
    audio_s = sum(f.size(0) for f in feats) / C.FRAMES_PER_SECOND
    out: dict = {"model": desc, "audio_s": round(audio_s, 1), "utterances": len(feats), "backends": backends,
                 "by_threads": {}}
    print(f"[{spec}] {desc}; batch {len(feats)} utterances, {audio_s:.1f} s", flush=True)
    runs = {name: functools.partial(m.ctc_log_probs, feats, ctx) for name, m in sides.items()}
    for n in threads:
        torch.set_num_threads(n)
        if "agreement" not in out:
            ref = runs["fp32"]()
            out["agreements"] = {b: agreement(ref, runs[f"int8-{b}"]()) for b in backends}
            out["agreement"] = out["agreements"][backends[0]]
            print(f"[{spec}] agreement: {out['agreements']}", flush=True)
        t = C.alternate(runs, reps, warmup=1)
        f = t.median("fp32")
        row: dict = {"timing": t.summary(), "fp32_audio_s_per_s": round(audio_s / f, 2)}
        for i, b in enumerate(backends):
            q = t.median(f"int8-{b}")
            row[f"int8_{b}_audio_s_per_s"], row[f"speedup_{b}"] = round(audio_s / q, 2), round(f / q, 3)
            if i == 0:
                row["int8_audio_s_per_s"], row["speedup"] = row[f"int8_{b}_audio_s_per_s"], row[f"speedup_{b}"]
            print(f"[{spec}] {n} thread(s): fp32 {audio_s / f:.1f} audio-s/s (median {f:.3f} s), int8 {b} "
                  f"{audio_s / q:.1f} audio-s/s (median {q:.3f} s): int8/fp32 = {f / q:.2f}x", flush=True)
        out["by_threads"][n] = row
    return out


def read_list(tsv: Path) -> list[tuple[str, str]]:
    with tsv.open(encoding="utf-8") as f:
        return [(str(tsv.parent / r["wav"]), r["txt"]) for r in csv.DictReader(f, delimiter="\t")]


def wer(spec: str, corpus: Path, ctx: Context, threads: int, backend: str) -> dict:
    torch.set_num_threads(threads)
    loaded = load_model(spec)
    models = {"fp32": loaded.model.eval(), "int8": quantize_int8(copy.deepcopy(loaded.model), backend=backend)}
    out: dict = {"backend": backend}
    for name, rel in WER_SETS.items():
        tsv = corpus / rel / "list.tsv"
        if not tsv.is_file():
            print(f"[wer] {tsv} missing: skipped", flush=True)
            continue
        rows = read_list(tsv)
        row: dict = {"utterances": len(rows)}
        hyps: dict[str, list[str]] = {}
        for kind, model in models.items():
            t0 = time.perf_counter()
            texts = [t.text for t in Transcriber(model, loaded.tokenizer, ctx).transcribe([p for p, _ in rows],
                                                                                        progress=False)]
            hyps[kind] = texts
            row[kind] = round(compute_wer([(str(i), normalize_text(ref), hyp) for i, ((_, ref), hyp)
                                           in enumerate(zip(rows, texts, strict=True))]).wer, 2)
            row[f"{kind}_s"] = round(time.perf_counter() - t0, 1)
        row["delta"] = round(row["int8"] - row["fp32"], 2)
        row["identical_transcripts"] = f"{sum(a == b for a, b in zip(hyps['fp32'], hyps['int8']))}/{len(rows)}"
        out[name] = row
        print(f"[wer] {name}: {row}", flush=True)
    return out


def add_speed_args(ap: argparse.ArgumentParser, sides: str) -> None:
    """The options of the speed comparison (models, threads, rounds, the batch): shared with bench_onnx_int8.py,
    so that both benchmarks time the same batch."""
    ap.add_argument("--models", default="large,egs/callbot/demo/pretrained",
                    help="comma-separated: a size of _common.SIZES (random weights) or a model folder; 'none'")
    ap.add_argument("--threads", default="2,1", help=f"thread counts, each measured for {sides}")
    ap.add_argument("--reps", type=int, default=5, help="timed rounds per side and thread count")
    ap.add_argument("--corpus", type=Path, default=CORPUS, help="demo corpus (default: %(default)s)")
    ap.add_argument("--per-domain", type=int, default=8, help="turns per demo test domain in the batch")
    ap.add_argument("--audio", nargs="*", help="wav files for the batch instead of the demo corpus turns")
    ap.add_argument("--batch", default="2x2,2x3,2x4,2x5,2x6,1x8,1x10,1x15",
                    help="random features when no audio is found: COUNTxSECONDS,…")
    ap.add_argument("--context", default="128,64,128")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_speed_args(ap, "both sides")
    ap.add_argument("--wer", help="model folder: greedy WER fp32 vs int8 on the demo corpus test sets")
    ap.add_argument("--wer-threads", type=int, default=2)
    ap.add_argument("--backends", default=default_backend(),
                    help=f"int8 kernel libraries, comma-separated, each timed against fp32 in the same rounds "
                         f"(of {','.join(BACKENDS)}; default this CPU's, %(default)s); the first one for --wer")
    ap.add_argument("--json", type=Path, help="also write the results as JSON here")
    a = ap.parse_args()
    ctx = Context.parse(a.context)
    C.setup_torch(int(a.threads.split(",")[0]))
    result: dict = {"benchmark": "int8", "vnni": has_vnni(), "amx_int8": "amx_int8" in cpu_flags(),
                    "context": str(ctx), "reps": a.reps}
    backends = [b for b in a.backends.split(",") if b]
    if not backends or set(backends) - set(BACKENDS):
        ap.error(f"--backends: choose from {','.join(BACKENDS)}")
    models = [m for m in a.models.split(",") if m and m != "none"]
    if models:
        feats, what = batch_features(a)
        result["batch"] = what
        result["speed"] = [speed(m, feats, [int(n) for n in a.threads.split(",")], a.reps, ctx, backends)
                           for m in models]
    if a.wer:
        result["wer"] = {"model": a.wer, "threads": a.wer_threads,
                         "sets": wer(a.wer, a.corpus, ctx, a.wer_threads, backends[0])}
    result["engine"] = torch.backends.quantized.engine
    result["machine"] = C.machine()
    print(json.dumps(result))
    if a.json:
        C.write_json(a.json, result)


if __name__ == "__main__":
    main()
