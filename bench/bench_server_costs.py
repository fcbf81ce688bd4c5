"""Where a served request's time goes, in one process without HTTP: what batching can and cannot share.

The server does three things per request (:mod:`chunkformer.serving.recognizer`): **prepare** (decode the audio,
resample to 16 kHz, fbank; on the prep threads), the **model** (one ``ctc_log_probs`` over the batch, packed end
to end for call turns; the only step batching shares; ``--masked`` also times the masked batch it replaced) and
the **answer** (CTC search, word times from the fbank, the JSON dict; per request). This script times each on
the same turns, one after the other, the model at batch sizes 1 and ``--batches``, with the server's thread
settings, and prints what batching gains when the steps run in turn, ``(P + A + M1) / (P + A + MB)`` per turn,
beside the model's own gain ``M1 / MB``. The server overlaps preparation (its own threads) with the model, and
HTTP and the load generator share the cores, so its ratio differs; this says how much there is to gain. Medians
of ``--reps`` rounds (alternating, ``_common.alternate``)::

    .venv/bin/python bench/bench_server_costs.py --model egs/callbot/demo/finetuned --audio /tmp/turns
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _common as C  # noqa: E402
from bench_server import load_turns  # noqa: E402

from chunkformer.checkpoint import load_model  # noqa: E402
from chunkformer.model.quantize import quantize_int8  # noqa: E402
from chunkformer.serving.recognizer import Recognizer, RequestOptions  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=C.REPO / "egs/callbot/demo/finetuned")
    ap.add_argument("--audio", type=Path, help="folder of .wav turns (default: slices of the fixture utterances)")
    ap.add_argument("--turns", type=int, default=32, help="turns timed (the first N, sorted by name)")
    ap.add_argument("--batches", default="8,16,32", help="batch sizes besides 1")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--masked", action="store_true",
                    help="also time the masked batch at every size (what packed inference replaced)")
    ap.add_argument("--int8", action="store_true", help="the model quantised as `serve --int8` does")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    C.setup_torch(a.threads)
    loaded = load_model(a.model)
    rec = Recognizer(quantize_int8(loaded.model) if a.int8 else loaded.model, loaded.tokenizer)
    rec.warm_up()
    turns = load_turns(a.audio)[: a.turns]
    utts = [rec.prepare(t.data, t.name, RequestOptions()) for t in turns]
    n, audio = len(utts), sum(u.seconds for u in utts)
    with torch.inference_mode():
        lps = [rec.model.ctc_log_probs([u.feats], rec.ctx)[0] for u in utts]

        def model(b: int) -> None:
            for i in range(0, n, b):
                rec.model.ctc_log_probs([u.feats for u in utts[i:i + b]], rec.ctx)

        def masked(b: int) -> None:  # the masked batch, which ctc_log_probs used for every batch until 2026-12-07
            for i in range(0, n, b):
                rec.model.masked_log_probs([u.feats for u in utts[i:i + b]], rec.ctx)

        sizes = [1] + [int(b) for b in a.batches.split(",")]
        fns = {"prepare": lambda: [rec.prepare(t.data, t.name, RequestOptions()) for t in turns],
               "answer": lambda: [rec.answer(u, lp) for u, lp in zip(utts, lps)],
               "search only": lambda: [rec.decoder.decode(lp) for lp in lps],
               **{f"model, batch {b}": (lambda b=b: model(b)) for b in sizes},
               **({f"model (masked batch), batch {b}": (lambda b=b: masked(b)) for b in sizes} if a.masked else {})}
        timing = C.alternate(fns, a.reps, log=lambda _: None)
    ms = {k: 1000 * timing.median(k) / n for k in fns}
    print(f"{n} turns, {audio:.1f} s of audio ({audio / n:.2f} s per turn), {a.threads} threads"
          f"{', int8' if a.int8 else ''}; ms per turn "
          f"(median of {a.reps}):")
    print("| step | ms per turn | audio s / s |\n|---|---|---|")
    for k, v in ms.items():
        print(f"| {k} | {v:.2f} | {audio / n / v * 1000:.0f} |")
    fixed = ms["prepare"] + ms["answer"]
    one = ms["model, batch 1"]
    bounds = {b: {"with_prepare_and_answer": (fixed + one) / (fixed + ms[f"model, batch {b}"]),
                  "model_only": one / ms[f"model, batch {b}"]} for b in sizes[1:]}
    for b, r in bounds.items():
        print(f"batch {b}: steps in turn {r['with_prepare_and_answer']:.2f}x the throughput of batch 1 "
              f"(the model alone: {r['model_only']:.2f}x)")
        if a.masked:
            r["masked_model_only"] = one / ms[f"model (masked batch), batch {b}"]
            print(f"batch {b}: the masked batch alone {r['masked_model_only']:.2f}x")
    if a.json:
        C.write_json(a.json, {"machine": C.machine(), "int8": a.int8, "turns": n, "audio_s": audio, "ms_per_turn": ms,
                              "bounds": bounds, "timing": timing.summary()})


if __name__ == "__main__":
    main()
