"""pyctcdecode's hotwords against ours, on the call-bot catalogue of ``bench_decoding_quality.py`` (issue 16).

Issue 16 asks to use a maintained decoder with hotwords where it is faster than ours at equal WER. flashlight-text
has no hotwords; pyctcdecode 0.5.0 has (``decode(..., hotwords=[...], hotword_weight=w)``: a bonus per
character of a partial or whole hotword match, no LM here). Both searches run over the same top-k CTC frames of
the demo model (pyctcdecode gets them as dense (T, V) log-probs, -30 elsewhere; it drops entries below -5
anyway), beam 10, the same global catalogue (every held-out slot value + distractors). Each decoder's strength
is chosen on the val sets exactly as ``bench_decoding_quality.py`` chooses ours (the highest recall whose WER on
utterances with no catalogue phrase changes by at most 0.3 points); then test and test_seen, pooled, give the
recall of the held-out values, that WER change, and the search time (wall, one process, the two alternating).

pyctcdecode pins numpy < 2, so it is not in requirements.txt; install it beside the venv::

    .venv/bin/pip install --target exp/pyctc --no-deps pyctcdecode==0.5.0 pygtrie==2.6.2
    PYTHONPATH=.:exp/pyctc .venv/bin/python bench/bench_hotwords_pyctcdecode.py [--model egs/callbot/demo/finetuned]
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_decoding_quality as Q  # noqa: E402
from bench_lm_decoding import dense  # noqa: E402

from chunkformer.checkpoint import load_model  # noqa: E402
from chunkformer.decoding import CTCDecoder, DecodeOptions, Hypothesis  # noqa: E402
from chunkformer.model.masked_batch import Context  # noqa: E402


def run_pyctc(dec: object, sets: dict[str, Q.EvalSet], phrases: list[str] | None, weight: float, beam: int
              ) -> tuple[Q.Decoded, float]:
    """pyctcdecode's hypotheses of every set and the wall time of its search alone (densifying excluded)."""
    out, spent = [], 0.0
    for es in sets.values():
        for u, f in zip(es.utts, es.frames, strict=True):
            m = dense(f)
            t0 = time.perf_counter()
            text = dec.decode(m, beam_width=beam, hotwords=phrases, hotword_weight=weight)
            spent += time.perf_counter() - t0
            out.append((u, Hypothesis(text, [])))
    return out, spent


def run_ours(dec: CTCDecoder, sets: dict[str, Q.EvalSet], graph: object) -> tuple[Q.Decoded, float]:
    t0 = time.perf_counter()
    out = [x for es in sets.values() for x in es.decode(dec, graph)]
    return out, time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="egs/callbot/demo/finetuned")
    p.add_argument("--corpus", type=Path, default=Path("data/demo_corpus"))
    p.add_argument("--beam", type=int, default=10)
    p.add_argument("--weights", default="0.25,0.5,1,2,5,10", help="pyctcdecode hotword_weight grid, tried on val")
    p.add_argument("--scores", default="0.5,1,1.5,2,2.5,3", help="our per-token hotword score grid, tried on val")
    a = p.parse_args()
    from pyctcdecode import build_ctcdecoder  # noqa: PLC0415 (not in requirements.txt: see the docstring)

    logging.getLogger("pyctcdecode").setLevel(logging.ERROR)
    torch.set_num_threads(2)
    loaded = load_model(a.model)
    tok = loaded.tokenizer
    utts = Q.read_sets(a.corpus, Q.DOMAINS)
    cat = Q.build_catalogue(u.ref for n, us in utts.items() if not n.startswith("val/") for u in us)
    with torch.inference_mode():
        sets = {n: Q.EvalSet(us, Q.ctc_frames(loaded, us, Context.DEFAULT, a.beam)) for n, us in utts.items()}
    val = {n: es for n, es in sets.items() if n.startswith("val/")}
    test = {n: es for n, es in sets.items() if not n.startswith("val/")}
    pyctc = build_ctcdecoder(["" if i == tok.blank_id else t for i, t in enumerate(tok.tokens)])
    ours = CTCDecoder(tok, DecodeOptions(method="beam", beam=a.beam))
    graphs, _ = Q.hotword_graphs(cat, tok, Q.floats(a.scores))
    rows = {}
    # each decoder with the list at strength w, or without it (w None)
    for name, settings, decode in (
            ("pyctcdecode", Q.floats(a.weights),
             lambda s, w: run_pyctc(pyctc, s, None if w is None else cat.phrases, w or 0.0, a.beam)),
            ("ours", list(graphs), lambda s, w: run_ours(ours, s, None if w is None else graphs[w]))):
        plain_val = decode(val, None)[0]
        grid = [{"score": w, "prune_topk": a.beam, **Q.hotword_row(plain_val, decode(val, w)[0], cat)}
                for w in settings]
        best = Q.choose_setting(grid, Q.TARGETS["wer_change_points"])
        plain = decode(test, None)[0]
        biased, seconds = decode(test, best["score"])
        rows[name] = {"val_choice": best["score"], "val_recall": best["recall_list_pct"],
                      "val_change": best["no_phrase_wer_change"], **Q.hotword_row(plain, biased, cat),
                      "search_s": round(seconds, 2)}
        print(name, rows[name], flush=True)
    print("| decoder | strength (val) | recall plain % | recall + list % | no-phrase WER change | search s |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['val_choice']:g} | {r['recall_beam_pct']:.2f} | {r['recall_list_pct']:.2f} | "
              f"{r['no_phrase_wer_change']:+.2f} | {r['search_s']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
