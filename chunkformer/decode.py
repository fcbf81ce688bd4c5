"""Stage 5: decode every val/test set with several models and write icefall-shaped results + RESULTS.md.

    python -m chunkformer.decode --exp-dir exp/callbot --manifest-dir data/manifests \
        --model pretrained=egs/callbot/demo/pretrained --model best=exp/callbot/best.pt \
        --model avg5=exp/callbot/avg5.pt [--methods greedy,beam] [--beam 10] [--context L,C,R]
        [--hotwords FILE [--hotword-score S]]

For each method (``greedy_search``, ``prefix_beam_search``) and model tag, under ``<exp>/<method>/``:
``recogs-<set>-<tag>.txt``, ``errs-<set>-<tag>.txt`` (WER), ``errs-cer-<set>-<tag>.txt`` (CER) and
``wer-summary-<set>-<tag>.txt``. Then ``<exp>/RESULTS.md``: WER per test set (columns) for every model
(rows), per method, with the exact command and the configs used. Decoding is deterministic, so rerunning
gives the same numbers. Masked-batch chunked inference with the model's context. ``--hotwords FILE`` (the
format of ``chunkformer.transcribe --hotwords``) biases the beam search of every set towards those phrases
(docs/DECODING.md); greedy results are unchanged.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml
from tqdm import tqdm

from chunkformer.checkpoint import CheckpointError, LoadedModel, load_model
from chunkformer.data.datamodule import eval_batches, eval_sets
from chunkformer.decoding import CTCDecoder, DecodeOptions
from chunkformer.decoding.context_graph import ContextGraph
from chunkformer.decoding.ctc_search import greedy_search, prefix_beam_search
from chunkformer.decoding.hotwords import DEFAULT_SCORE, load_hotword_graph
from chunkformer.decoding.scoring import Result, write_error_stats, write_recogs, write_wer_summary
from chunkformer.model.masked_batch import Context
from chunkformer.plot import plot_valid_wer
from chunkformer.utils.cli import error
from chunkformer.utils.io import atomic_write_text
from chunkformer.utils.logs import setup_logger

log = logging.getLogger("chunkformer.decode")
METHODS = {"greedy": "greedy_search", "beam": "prefix_beam_search"}


@dataclass
class SetResult:
    wer: float
    cer: float
    utts: int
    ref_words: int


def decode_set(loaded: LoadedModel, cuts, context: Context, methods: list[str], beam: int,
               max_duration: float, hotwords: ContextGraph | None = None) -> dict[str, list[Result]]:
    """Hypotheses for one eval CutSet: {method: [(id, ref, hyp)]}; ``hotwords`` bias the beam search."""
    tok = loaded.tokenizer
    out: dict[str, list[Result]] = {m: [] for m in methods}
    biased = CTCDecoder(tok, DecodeOptions(method="beam", beam=beam, hotwords=hotwords)) if hotwords else None
    for batch in eval_batches(cuts, tok, max_duration=max_duration):
        for cid, ref, lp in zip(batch.cut_ids, batch.texts, loaded.model.ctc_log_probs(batch.feats, context)):
            if "greedy" in methods:
                out["greedy"].append((cid, ref, tok.decode(greedy_search(lp))))
            if "beam" in methods and biased is not None:
                out["beam"].append((cid, ref, biased.decode(lp).text))
            elif "beam" in methods:
                best = prefix_beam_search(lp, beam=beam)[0][0]
                out["beam"].append((cid, ref, tok.decode(best)))
    return out


def write_set(exp: Path, method: str, set_name: str, tag: str, results: list[Result]) -> SetResult:
    d = exp / METHODS[method]
    d.mkdir(parents=True, exist_ok=True)
    key = f"{set_name}-{tag}"
    write_recogs(d / f"recogs-{key}.txt", results)
    wer = write_error_stats(d / f"errs-{key}.txt", f"{set_name}-{tag}", results)
    cer = write_error_stats(d / f"errs-cer-{key}.txt", f"{set_name}-{tag}", results, unit="char")
    write_wer_summary(d / f"wer-summary-{key}.txt", {f"{METHODS[method]}_{tag}": wer})
    return SetResult(wer, cer, len(results), sum(len(r.split()) for _, r, _ in results))


# What RESULTS.md says about scoring (chunkformer.decoding.scoring / chunkformer.text.scoring_text).
SCORING_NOTE = ("Scoring normalisation, same for references and hypotheses (`chunkformer.text.scoring_text`): "
                "NFC; tags like [noise] <unk> (laugh) removed; digits, amounts, times, dates and percentages in "
                "Vietnamese words; spell-out table (OTP → ô tê pê); lower case; punctuation removed; tone marks in "
                "the old style (hoà = hòa, thuỷ = thủy), so the two spellings never count as an error.")


def results_markdown(table: dict[str, dict[str, dict[str, SetResult]]], tags: list[str], split: str,
                     command: str, configs: dict[str, str], context: Context) -> str:
    """table[method][tag][set] → RESULTS.md text."""
    sets = sorted({s for m in table.values() for t in m.values() for s in t})
    lines = ["# Results", "", f"WER (%) over syllables on the **{split}** sets, after normalization; CER (%) in "
             "parentheses. Masked-batch chunked decoding, context "
             f"[{context.left}, {context.chunk}, {context.right}] (left, chunk, right; 80 ms frames).", "",
             SCORING_NOTE, ""]
    for method, rows in table.items():
        lines += [f"## {METHODS[method]}", "", "| model | " + " | ".join(sets) + " |",
                  "|---|" + "---|" * len(sets)]
        for tag in tags:
            cells = [f"{rows[tag][s].wer:.2f} ({rows[tag][s].cer:.2f})" if s in rows[tag] else "–" for s in sets]
            lines.append(f"| {tag} | " + " | ".join(cells) + " |")
        lines.append("")
    any_rows = next(iter(table.values()))
    lines += ["Test sets: " + ", ".join(
        f"{s} ({next(iter(any_rows.values()))[s].utts} utterances, {next(iter(any_rows.values()))[s].ref_words} words)"
        for s in sets), ""]
    lines += ["## Command", "", "```", command, "```", ""]
    for name, text in configs.items():
        lines += [f"## {name}", "", "```yaml", text.rstrip(), "```", ""]
    return "\n".join(lines)


def training_context(exp_dir: Path) -> str:
    """The fine-tune's chunk context (``model.context`` in ``<exp_dir>/config.yaml``), else the paper's."""
    cfg = exp_dir / "config.yaml"
    if cfg.is_file():
        ctx = (yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}).get("model", {}).get("context")
        if ctx:
            return ",".join(str(int(v)) for v in ctx)
    return str(Context.DEFAULT)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m chunkformer.decode", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--manifest-dir", type=Path, default=Path("data/manifests"))
    p.add_argument("--model", action="append", required=True, metavar="TAG=PATH",
                   help="a model to decode, repeatable; rows of RESULTS.md in this order")
    p.add_argument("--splits", default="val,test", help="comma-separated eval splits to decode")
    p.add_argument("--results-split", default="test", help="the split tabulated in RESULTS.md")
    p.add_argument("--methods", default="greedy,beam")
    p.add_argument("--beam", type=int, default=10)
    p.add_argument("--hotwords", metavar="FILE", help="phrases that bias the beam search (one per line, optionally "
                   "<TAB>per-token score)")
    p.add_argument("--hotword-score", type=float, default=None,
                   help=f"bonus per hotword token, natural log (default {DEFAULT_SCORE})")
    p.add_argument("--context", default=None,
                   help="left,chunk,right; default: model.context of <exp-dir>/config.yaml (the fine-tune's), "
                        f"else {Context.DEFAULT}")
    p.add_argument("--max-duration", type=float, default=300.0)
    p.add_argument("--config", action="append", default=[], metavar="NAME=PATH",
                   help="config files to quote in RESULTS.md (e.g. data=..., model=...)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = p.parse_args(argv)
    setup_logger(a.exp_dir / "log" / "decode.log")
    methods = [m.strip() for m in a.methods.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if bad:
        return error(f"unknown method(s) {bad}; choose from {sorted(METHODS)}")
    if a.hotword_score is not None and a.hotwords is None:
        return error("--hotword-score needs --hotwords FILE")
    if a.hotwords is not None and "beam" not in methods:
        return error("--hotwords biases the beam search: add beam to --methods")
    try:
        models = [(tag, path) for tag, _, path in (m.partition("=") for m in a.model)]
        if any(not t or not q for t, q in models):
            raise ValueError("--model takes TAG=PATH")
        ctx = Context.parse(a.context or training_context(a.exp_dir))
        loaded = [(tag, load_model(path)) for tag, path in models]
        graphs = {tag: load_hotword_graph(a.hotwords, lm.tokenizer, a.hotword_score, log.warning) if a.hotwords
                  else None for tag, lm in loaded}
    except (CheckpointError, ValueError, FileNotFoundError) as e:
        return error(e)
    table: dict[str, dict[str, dict[str, SetResult]]] = {m: {t: {} for t, _ in loaded} for m in methods}
    for split in [s.strip() for s in a.splits.split(",") if s.strip()]:
        sets = eval_sets(a.manifest_dir, split)
        if not sets:
            log.warning("no %s sets in %s", split, a.manifest_dir)
        for tag, lm in loaded:
            lm.model.to(a.device)
            for set_name, cuts in tqdm(sorted(sets.items()), desc=f"decode {split} {tag}", unit="set"):
                hyps = decode_set(lm, cuts, ctx, methods, a.beam, a.max_duration, graphs[tag])
                for method, results in hyps.items():
                    r = write_set(a.exp_dir, method, f"{split}_{set_name}", tag, results)
                    log.info("%s %s %s_%s: WER %.2f%% CER %.2f%%", METHODS[method], tag, split, set_name, r.wer, r.cer)
                    if split == a.results_split:
                        table[method][tag][set_name] = r
            lm.model.cpu()
    if any(table[m][t] for m in table for t in table[m]):
        write_results(a, argv, table, [t for t, _ in loaded], ctx)
    return 0


def write_results(a: argparse.Namespace, argv: list[str] | None, table: dict[str, dict[str, dict[str, SetResult]]],
                  tags: list[str], ctx: Context) -> None:
    """``<exp>/RESULTS.md`` (with the validation curve when the fine-tune left one), its tables printed."""
    command = "python -m chunkformer.decode " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:]))
    configs = {}
    for item in a.config:
        name, _, path = item.partition("=")
        if Path(path).is_file():
            configs[f"{name} config ({path})"] = Path(path).read_text(encoding="utf-8")
    md = results_markdown(table, tags, a.results_split, command, configs, ctx)
    history = a.exp_dir / "valid_history.json"
    if history.is_file():  # the fine-tune's validation curve, per domain
        png = plot_valid_wer(json.loads(history.read_text(encoding="utf-8")), a.exp_dir / "valid_wer.png")
        md = md.replace("## Command", f"Validation WER per epoch: ![validation WER]({png.name})\n\n## Command", 1)
    atomic_write_text(a.exp_dir / "RESULTS.md", md)
    print(md.split("## Command")[0])


if __name__ == "__main__":
    sys.exit(main())
