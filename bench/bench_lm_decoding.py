"""Beam search with and without the domain n-gram LM on the demo's test sets: WER and speed (issue 16).

What ``./run.sh --stage 5 --lm auto`` does, for one model, with the time of each step measured:

1. the LM: ``--lm auto`` builds KenLM (``local/build_kenlm.sh``, cached) and estimates the LM from the train
   supervisions of ``--manifest-dir`` (``local/train_lm.py`` into ``<out-dir>/lm``, cached); or ``--lm FILE``;
2. the LM weight and word bonus: :func:`chunkformer.decode.tune_lm` on the **val** sets (pooled WER over the
   ``--lm-grid``), exactly as stage 5; test is never looked at;
3. ``--reps`` rounds over every **test** set (utterances in ``eval_batches`` order, masked batches of
   ``--max-duration`` s): the acoustic model (stage-1 fbank read from disk → encoder → CTC log-softmax → top-k,
   what :class:`chunkformer.decoding.CTCDecoder` keeps), then the plain beam search and the beam search fused
   with the LM over the same frames. Speed = test audio seconds / wall seconds, median over the rounds,
   ``torch.set_num_threads(--threads)``; end to end = model + search;
4. the n-best oracle: the WER of the best of the plain beam's ``--beam`` hypotheses of each utterance, the
   floor of any rescoring of them (an LM's included).

The fused search runs in flashlight-text's C++ decoder (``LMFusion.search="auto"``, what stage 5 uses for a
whole-word vocabulary; :mod:`chunkformer.decoding.flashlight_search`); ``--python-lm`` also runs ours
(``search="ours"``, tuned on val alike) over the same frames: WER and speed side by side.

``--test-grid``: a diagnostic that looks at **test** (never used for a choice): the fused search's test WER per
set at every grid point, and for each set the best of them, which bounds what any tuning of weight and bonus
(pooled val, one set's val, or test itself) could give that set.

``--handwritten``: also the 30 call-bot sentences written by hand for ``tests/test_handwritten_callbot.py`` (no
generator, corpus or LM text has them), spoken by held-out espeak-ng voices, clean and over the simulated phone
line exactly as that test makes them: WER of the plain beam and of the fused search(es), with the weights chosen
on val.

``--pyctcdecode``: the same comparison for pyctcdecode 0.5.0's beam search with the same KenLM file (its
``alpha``/``beta`` are our weight/bonus, natural log; tuned on val over the same grid; beam width ``--beam``, its
own pruning defaults), fed the same top-k frames as dense (T, V) log-probs with -30 elsewhere (it discards
tokens below -5 anyway). pyctcdecode pins numpy < 2, so it is not in requirements.txt; install it beside the
venv: ``.venv/bin/pip install --target exp/pyctc --no-deps pyctcdecode==0.5.0 pygtrie==2.6.2`` and add
``exp/pyctc`` to PYTHONPATH.

Prints a markdown table (WER per test set: beam, beam+LM, relative change; speed) and writes
``<out-dir>/results-<model name>.json``. From the repository root::

    PYTHONPATH=. .venv/bin/python bench/bench_lm_decoding.py --model egs/callbot/demo/finetuned --out-dir exp/bench_lm

The CPU must be otherwise idle for the speed figures to mean anything (docs/BENCHMARKS.md says under what load
the published ones were taken).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

sys.path.insert(0, str(C.REPO))
from chunkformer.audio import resample  # noqa: E402
from chunkformer.checkpoint import LoadedModel, load_model  # noqa: E402
from chunkformer.data.datamodule import eval_sets  # noqa: E402
from chunkformer.decode import set_frames, tune_lm  # noqa: E402
from chunkformer.decoding import ArpaLM, CTCDecoder, DecodeOptions, FrameTopK, LMFusion, NgramLM, load_lm  # noqa: E402
from chunkformer.decoding.ctc_search import prefix_beam_search  # noqa: E402
from chunkformer.decoding.scoring import compute_wer  # noqa: E402
from chunkformer.decoding.tuning import DEFAULT_GRID, FusionChoice, parse_grid, tune_fusion  # noqa: E402
from chunkformer.frontend import fbank  # noqa: E402
from chunkformer.model.masked_batch import Context  # noqa: E402

Item = tuple[str, str, FrameTopK]  # (cut id, reference, top-k frames)


def make_lm(a: argparse.Namespace) -> Path:
    """``--lm FILE`` as given; ``auto``: KenLM built (cached) and the LM estimated (cached) as run.sh does."""
    if a.lm != "auto":
        return Path(a.lm)
    bin_dir = subprocess.run([str(C.REPO / "local" / "build_kenlm.sh")], check=True, capture_output=True,
                             text=True).stdout.strip().splitlines()[-1]
    out = a.out_dir / "lm"
    subprocess.run([sys.executable, str(C.REPO / "local" / "train_lm.py"), "--manifest-dir", str(a.manifest_dir),
                    "--vocab", str(a.vocab or Path(a.model) / "vocab.txt"), "--out-dir", str(out),
                    "--kenlm-bin", bin_dir], check=True)
    return out / "lm.bin"


def acoustic(model: LoadedModel, sets: dict, ctx: Context, k: int, max_duration: float
             ) -> tuple[dict[str, list[Item]], float]:
    """Top-k CTC frames of every utterance of ``sets`` (:func:`chunkformer.decode.set_frames`) and the wall time
    of computing them."""
    t0 = time.perf_counter()
    out = set_frames(model, sets, ctx, k, max_duration)
    return out, time.perf_counter() - t0


def search(dec: CTCDecoder, frames: dict[str, list[Item]]) -> tuple[dict[str, list[tuple[str, str, str]]], float]:
    """Hypotheses of every set by ``dec`` and the wall time of the search alone."""
    t0 = time.perf_counter()
    out = {name: [(cid, ref, dec.decode(f).text) for cid, ref, f in items] for name, items in frames.items()}
    return out, time.perf_counter() - t0


def dense(f: FrameTopK) -> np.ndarray:
    """Top-k frames as the dense (T, V) log-probs pyctcdecode reads, -30 outside the top k (it drops < -5)."""
    m = np.full((len(f), f.vocab), -30.0, dtype=np.float32)
    np.put_along_axis(m, f.ids.numpy(), f.values.float().numpy(), axis=1)
    return m


class PyCTC:
    """pyctcdecode's beam search with KenLM, behind the ``decode(frames) -> text`` shape of our decoder."""

    def __init__(self, tokens: list[str], lm_path: Path, beam: int) -> None:
        import logging

        from pyctcdecode import build_ctcdecoder

        logging.getLogger("pyctcdecode").setLevel(logging.ERROR)
        arpa = lm_path if lm_path.suffix == ".arpa" else lm_path.with_suffix(".arpa")  # unigrams: from the ARPA
        labels = ["" if i == 0 else t for i, t in enumerate(tokens)]  # "" is its blank
        self.dec = build_ctcdecoder(labels, kenlm_model_path=str(lm_path), unigrams=sorted(
            w for (w, *rest) in ArpaLM(arpa).prob if not rest and not w.startswith("<")))
        self.beam = beam

    def run(self, frames: dict[str, list[Item]], weight: float, bonus: float
            ) -> tuple[dict[str, list[tuple[str, str, str]]], float]:
        """Hypotheses of every set and the wall time of pyctcdecode's search alone (densifying excluded)."""
        self.dec.reset_params(alpha=weight, beta=bonus)
        out, spent = {}, 0.0
        for name, items in frames.items():
            out[name] = []
            for cid, ref, f in items:
                m = dense(f)
                t0 = time.perf_counter()
                out[name].append((cid, ref, self.dec.decode(m, beam_width=self.beam)))
                spent += time.perf_counter() - t0
        return out, spent


def pyctc_tune(pyctc: PyCTC, frames: dict[str, list[Item]], grid: list[tuple[float, float]]) -> FusionChoice:
    """pyctcdecode's alpha/beta chosen on the val frames exactly as ours (pooled WER, same grid)."""
    def wer(w: float, b: float) -> float:
        hyps = pyctc.run(frames, w, b)[0]
        return compute_wer([(f"{n}/{c}", r, h) for n, hs in hyps.items() for c, r, h in hs]).wer

    return tune_fusion(grid, wer)


def nbest_oracle(frames: dict[str, list[Item]], beam: int, tok: object) -> dict[str, float]:
    """WER of the best of the plain beam's ``beam`` hypotheses per utterance (against the reference): the
    floor of any rescoring of that n-best, an LM's included: what the search offers the LM to choose from."""
    out = {}
    for name, items in frames.items():
        best = [min(((cid, ref, tok.decode(p)) for p, _ in prefix_beam_search(f, beam) or [([], 0.0)]),
                    key=lambda r: compute_wer([r]).errors) for cid, ref, f in items]
        out[name] = round(compute_wer(best).wer, 2)
    return out


def test_grid(plain: CTCDecoder, lm: NgramLM, grid: list[tuple[float, float]], frames: dict[str, list[Item]]
              ) -> dict[str, dict[str, float]]:
    """{"weight,bonus": {test set: WER %}} of the fused search at every grid point (``--test-grid``)."""
    return {f"{w:g},{b:g}": {n: round(compute_wer(h).wer, 2) for n, h in
                             search(plain.with_options(lm=LMFusion(lm, w, b)), frames)[0].items()}
            for w, b in grid}


def handwritten(model: LoadedModel, ctx: Context, decoders: dict[str, CTCDecoder]) -> dict[str, dict[str, float]]:
    """{clean, phone: {decoder name: WER %}} on the hand-written sentences of tests/test_handwritten_callbot.py."""
    sys.path[:0] = [str(C.REPO / "tests"), str(C.REPO / "local")]
    import test_handwritten_callbot as hw  # noqa: PLC0415 (the sentences live with their test, nowhere else)
    from make_demo_corpus import phone_copies  # noqa: PLC0415
    from tts import speak_heldout  # noqa: PLC0415

    clean = [speak_heldout(i, s) for i, s in enumerate(hw.SENTENCES)]
    phone = phone_copies(clean)
    out = {}
    for cond, waves in (("clean", clean), ("phone", phone)):
        feats = [fbank(resample(np.asarray(x, dtype=np.float32), r, 16000), 16000) for x, r in waves]
        with torch.inference_mode():
            lps = model.model.eval().ctc_log_probs(feats, ctx)
        out[cond] = {name: round(compute_wer([(str(i), ref, dec.decode(lp).text) for i, (ref, lp) in
                                              enumerate(zip(hw.SENTENCES, lps))]).wer, 2)
                     for name, dec in decoders.items()}
        print(f"hand-written, {cond}: " + ", ".join(f"{k} {v:.2f}" for k, v in out[cond].items()), flush=True)
    return out


def table(res: dict) -> str:
    """The markdown tables of one result record."""
    sets = list(res["wer"]["beam"])
    lines = ["| WER % | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets)]
    lines += [f"| {m} | " + " | ".join(f"{res['wer'][m][s]:.2f}" for s in sets) + " |" for m in ("beam", "beam+lm")]
    lines.append("| relative change | " + " | ".join(
        f"{100 * (res['wer']['beam+lm'][s] / res['wer']['beam'][s] - 1):+.1f} %" for s in sets) + " |")
    lines.append("| n-best oracle of beam | " + " | ".join(f"{res['nbest_oracle'][s]:.2f}" for s in sets) + " |")
    if "beam+lm python" in res["wer"]:
        pl = res["python_lm"]
        lines.append(f"| beam+LM, our Python search ({pl['weight']:g}/{pl['bonus']:g}) | " + " | ".join(
            f"{res['wer']['beam+lm python'][s]:.2f}" for s in sets) + " |")
    if "pyctcdecode" in res["wer"]:
        pc = res["pyctcdecode"]
        lines.append(f"| pyctcdecode+LM ({pc['weight']:g}/{pc['bonus']:g}) | " + " | ".join(
            f"{res['wer']['pyctcdecode'][s]:.2f}" for s in sets) + " |")
    sp = res["speed"]
    speed = (f"Speed on {res['test_audio_s']:.0f} s of test audio, {res['machine']['threads']} threads, median of "
             f"{res['reps']} (× real time): model {sp['model']:.1f}; search: beam {sp['beam_search']:.0f}, beam+LM "
             f"{sp['lm_search']:.0f}; end to end: beam {sp['beam_end_to_end']:.1f}, **beam+LM "
             f"{sp['lm_end_to_end']:.1f}** ({res.get('lm_engine', 'ours')}).")
    if "python_lm_search" in sp:
        speed += (f" Our Python LM search {sp['python_lm_search']:.0f}, end to end "
                  f"{sp['python_lm_end_to_end']:.1f}.")
    if "pyctcdecode_search" in sp:
        speed += f" pyctcdecode+LM search {sp['pyctcdecode_search']:.0f}."
    lines += ["", speed]
    if "test_grid" in res:
        best = {s: min(res["test_grid"].items(), key=lambda kv: kv[1][s]) for s in sets}
        lines.append("Best grid point per test set (diagnostic, chosen on test): " + ", ".join(
            f"{s} {g} → {w[s]:.2f} ({100 * (w[s] / res['wer']['beam'][s] - 1):+.1f} %)" for s, (g, w) in best.items()))
    for cond, wers in res.get("handwritten", {}).items():
        lines.append(f"Hand-written sentences, {cond}, WER %: " + ", ".join(f"{k} {v:.2f}" for k, v in wers.items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="egs/callbot/demo/finetuned")
    p.add_argument("--vocab", type=Path, default=None, help="for --lm auto (default: the model's vocab.txt)")
    p.add_argument("--manifest-dir", type=Path, default=Path("data/manifests"))
    p.add_argument("--out-dir", type=Path, default=Path("exp/bench_lm"))
    p.add_argument("--lm", default="auto", help="auto (build and estimate, cached) or an LM file")
    p.add_argument("--lm-grid", default=DEFAULT_GRID)
    p.add_argument("--beam", type=int, default=10)
    p.add_argument("--context", default=str(Context.DEFAULT))
    p.add_argument("--max-duration", type=float, default=300.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--pyctcdecode", action="store_true", help="also pyctcdecode's beam search with the same LM")
    p.add_argument("--python-lm", action="store_true", help="also our Python LM search (search=ours)")
    p.add_argument("--test-grid", action="store_true", help="also the test WER at every grid point (diagnostic)")
    p.add_argument("--handwritten", action="store_true", help="also the 30 hand-written sentences, clean and phone")
    a = p.parse_args(argv)
    C.setup_torch(a.threads)
    lm_path = make_lm(a)
    model, ctx, lm = load_model(a.model), Context.parse(a.context), load_lm(lm_path)
    t0 = time.perf_counter()
    grid, val = parse_grid(a.lm_grid), eval_sets(a.manifest_dir, "val")
    choice = tune_lm(model, val, ctx, a.beam, a.max_duration, lm, grid)
    tune_s = time.perf_counter() - t0
    print(f"LM {lm_path}: weight {choice.weight:g}, word bonus {choice.bonus:g} (val WER {choice.error:.2f} %, "
          f"tuned in {tune_s:.0f} s)", flush=True)
    py_choice = tune_lm(model, val, ctx, a.beam, a.max_duration, lm, grid, search="ours") if a.python_lm else None
    if py_choice is not None:
        print(f"ours (python): weight {py_choice.weight:g}, word bonus {py_choice.bonus:g} (val WER "
              f"{py_choice.error:.2f} %)", flush=True)
    pyctc = PyCTC(model.tokenizer.tokens, lm_path, a.beam) if a.pyctcdecode else None
    if pyctc is not None:
        pc_choice = pyctc_tune(pyctc, acoustic(model, val, ctx, a.beam, a.max_duration)[0], grid)
        print(f"pyctcdecode: alpha {pc_choice.weight:g}, beta {pc_choice.bonus:g} (val WER {pc_choice.error:.2f} %)",
              flush=True)
    plain = CTCDecoder(model.tokenizer, DecodeOptions(method="beam", beam=a.beam))
    fused = plain.with_options(lm=LMFusion(lm, choice.weight, choice.bonus))
    engine = fused.lm_search_name
    ours = plain.with_options(lm=LMFusion(lm, py_choice.weight, py_choice.bonus, "ours")) \
        if py_choice is not None else None
    tests = eval_sets(a.manifest_dir, "test")
    audio = sum(c.duration for cuts in tests.values() for c in cuts)
    times: dict[str, list[float]] = {"model": [], "beam_search": [], "lm_search": [], "pyctcdecode_search": [],
                                     "python_lm_search": []}
    for r in range(a.reps):
        frames, t_model = acoustic(model, tests, ctx, plain.opts.topk(), a.max_duration)
        hyps = {"beam": search(plain, frames), "beam+lm": search(fused, frames)}
        if ours is not None:
            hyps["beam+lm python"] = search(ours, frames)
            times["python_lm_search"].append(hyps["beam+lm python"][1])
        if pyctc is not None:
            hyps["pyctcdecode"] = pyctc.run(frames, pc_choice.weight, pc_choice.bonus)
            times["pyctcdecode_search"].append(hyps["pyctcdecode"][1])
        for key, t in (("model", t_model), ("beam_search", hyps["beam"][1]), ("lm_search", hyps["beam+lm"][1])):
            times[key].append(t)
        print(f"round {r + 1}/{a.reps}: model {t_model:.1f} s, beam {hyps['beam'][1]:.1f} s, beam+LM "
              f"{hyps['beam+lm'][1]:.1f} s for {audio:.0f} s of audio", flush=True)
    oracle = nbest_oracle(frames, a.beam, model.tokenizer)
    med = {k: statistics.median(v) for k, v in times.items() if v}
    res = {"model": a.model, "lm": str(lm_path), "lm_engine": engine, "lm_weight": choice.weight,
           "word_bonus": choice.bonus,
           "val_wer_at_choice": choice.error, "val_grid": choice.to_dict()["grid"], "tune_seconds": round(tune_s, 1),
           "beam": a.beam, "reps": a.reps, "test_audio_s": round(audio, 1), "machine": C.machine(),
           "load_average": [round(x, 2) for x in os.getloadavg()],
           "wer": {m: {s: round(compute_wer(h).wer, 2) for s, h in hyps[m][0].items()} for m in hyps},
           "nbest_oracle": oracle,
           "seconds": {k: [round(t, 2) for t in v] for k, v in times.items()},
           "speed": {"model": audio / med["model"], "beam_search": audio / med["beam_search"],
                     "lm_search": audio / med["lm_search"],
                     "beam_end_to_end": audio / (med["model"] + med["beam_search"]),
                     "lm_end_to_end": audio / (med["model"] + med["lm_search"])}}
    if a.test_grid:
        res["test_grid"] = test_grid(plain, lm, grid, frames)
    if a.handwritten:
        res["handwritten"] = handwritten(model, ctx, {"beam": plain, "beam+lm": fused} | (
            {"beam+lm python": ours} if ours is not None else {}))
    if ours is not None:
        res["speed"]["python_lm_search"] = audio / med["python_lm_search"]
        res["speed"]["python_lm_end_to_end"] = audio / (med["model"] + med["python_lm_search"])
        res["python_lm"] = py_choice.to_dict()
    if pyctc is not None:
        res["speed"]["pyctcdecode_search"] = audio / med["pyctcdecode_search"]
        res["pyctcdecode"] = pc_choice.to_dict()
    a.out_dir.mkdir(parents=True, exist_ok=True)
    out = a.out_dir / f"results-{Path(a.model).name}.json"
    out.write_text(json.dumps(res, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(res))
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
