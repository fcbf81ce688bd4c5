"""Stage 5: decode every val/test set with several models and write icefall-shaped results + RESULTS.md.

    python -m chunkformer.decode --exp-dir exp/callbot --manifest-dir data/manifests \
        --model pretrained=egs/callbot/demo/pretrained --model best=exp/callbot/best.pt \
        --model avg5=exp/callbot/avg5.pt [--methods greedy,beam] [--beam 10] [--context L,C,R]
        [--hotwords FILE [--hotword-score S] --methods greedy,beam,beam+hotwords]
        [--lm LM --methods greedy,beam,beam+lm [--lm-weight W --lm-bonus B]]

For each method (``greedy_search``, ``prefix_beam_search``, ``prefix_beam_search_lm``,
``prefix_beam_search_hotwords``) and model tag, under
``<exp>/<method>/``:
``recogs-<set>-<tag>.txt``, ``errs-<set>-<tag>.txt`` (WER), ``errs-cer-<set>-<tag>.txt`` (CER) and
``wer-summary-<set>-<tag>.txt``. Then ``<exp>/RESULTS.md``: WER per test set (columns) for every model
(rows), per method, with the exact command and the configs used. Decoding is deterministic, so rerunning
gives the same numbers. Masked-batch chunked inference with the model's context.

``beam+hotwords`` is the beam search biased towards the phrases of ``--hotwords FILE`` (the format of
``chunkformer.transcribe --hotwords``; one list for every utterance, docs/DECODING.md), beside the plain
``beam`` rows: its rows in RESULTS.md are ``<tag>+hotwords`` in the prefix_beam_search table, and a table of
the listed phrases' recall (occurrences in the references found in the hypotheses) and of the WER of the
utterances holding no listed phrase, plain beam against biased, says what the list fixed and what it cost.

``beam+lm`` is the beam search fused with the word n-gram LM ``--lm`` (ARPA or KenLM binary; ``run.sh --lm
auto`` estimates one from the training transcripts, ``local/train_lm.py``). Without ``--lm-weight``, each
model's LM weight and word bonus are chosen on the ``--lm-tune-split`` sets (default val: the pooled WER of
all of them, over the ``--lm-grid``; :func:`chunkformer.decoding.tuning.tune_fusion`) before the splits are
decoded. Its rows in RESULTS.md are ``<tag>+LM`` in the prefix_beam_search table; the LM file, its digest
and every model's chosen values and grid are written to ``<exp>/lm_fusion.json`` and summarised in RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import yaml
from tqdm import tqdm

from chunkformer.checkpoint import CheckpointError, LoadedModel, load_model
from chunkformer.data.datamodule import eval_batches, eval_sets
from chunkformer.data.manifests import domains_of
from chunkformer.data.pipeline import CutAudioError
from chunkformer.decoding import CTCDecoder, DecodeOptions, LMError, LMFusion, NgramLM, load_lm
from chunkformer.decoding.context_graph import ContextGraph
from chunkformer.decoding.ctc_search import FrameTopK, greedy_search
from chunkformer.decoding.fusion import add_lm_search_argument
from chunkformer.decoding.hotwords import DEFAULT_SCORE, load_hotword_graph
from chunkformer.decoding.metrics import ListEffect, list_effect
from chunkformer.decoding.scoring import Result, compute_wer, write_error_stats, write_recogs, write_wer_summary
from chunkformer.decoding.tuning import (
    DEFAULT_GRID,
    DEFAULT_HOTWORD_GRID,
    MAX_WER_CHANGE,
    FusionChoice,
    HotwordChoice,
    choose_hotword_score,
    parse_grid,
    parse_scores,
    tune_fusion,
)
from chunkformer.model.masked_batch import Context
from chunkformer.plot import plot_valid_wer
from chunkformer.utils.cli import error
from chunkformer.utils.io import atomic_write_text, file_digest
from chunkformer.utils.logs import setup_logger

log = logging.getLogger("chunkformer.decode")
METHODS = {"greedy": "greedy_search", "beam": "prefix_beam_search", "beam+lm": "prefix_beam_search_lm",
           "beam+hotwords": "prefix_beam_search_hotwords"}
ROW_SUFFIX = {"beam+lm": "+LM", "beam+hotwords": "+hotwords"}  # rows of the prefix_beam_search table
LM_FUSION_JSON = "lm_fusion.json"
HOTWORDS_JSON = "hotwords.json"  # the list and each model's score (chosen on val: every score's recall and cost)


@dataclass
class SetResult:
    wer: float
    cer: float
    utts: int
    ref_words: int


def beam_decoders(loaded: LoadedModel, methods: list[str], beam: int, hotwords: ContextGraph | None = None,
                  lm: LMFusion | None = None) -> dict[str, CTCDecoder]:
    """The beam-search decoders of ``methods``: ``beam`` (plain), ``beam+lm`` (fused with ``lm``) and
    ``beam+hotwords`` (biased by ``hotwords``)."""
    opts = DecodeOptions(method="beam", beam=beam)
    out = {}
    if "beam" in methods:
        out["beam"] = CTCDecoder(loaded.tokenizer, opts)
    if "beam+lm" in methods:
        if lm is None:
            raise ValueError("method beam+lm needs an LM")
        out["beam+lm"] = CTCDecoder(loaded.tokenizer, replace(opts, lm=lm))
    if "beam+hotwords" in methods:
        if hotwords is None:
            raise ValueError("method beam+hotwords needs a hotword list")
        out["beam+hotwords"] = CTCDecoder(loaded.tokenizer, replace(opts, hotwords=hotwords))
    return out


def decode_set(loaded: LoadedModel, cuts, context: Context, methods: list[str], beam: int,
               max_duration: float, hotwords: ContextGraph | None = None,
               lm: LMFusion | None = None) -> dict[str, list[Result]]:
    """Hypotheses for one eval CutSet: {method: [(id, ref, hyp)]}; ``hotwords`` bias ``beam+hotwords``, ``lm``
    is fused in ``beam+lm``."""
    tok = loaded.tokenizer
    out: dict[str, list[Result]] = {m: [] for m in methods}
    beams = beam_decoders(loaded, methods, beam, hotwords, lm)
    for batch in eval_batches(cuts, tok, max_duration=max_duration):
        for cid, ref, lp in zip(batch.cut_ids, batch.texts, loaded.model.ctc_log_probs(batch.feats, context)):
            if "greedy" in methods:
                out["greedy"].append((cid, ref, tok.decode(greedy_search(lp))))
            for method, dec in beams.items():
                out[method].append((cid, ref, dec.decode(lp).text))
    return out


def set_frames(loaded: LoadedModel, sets: dict, context: Context, k: int, max_duration: float
               ) -> dict[str, list[tuple[str, str, FrameTopK]]]:
    """{set name: [(cut id, reference, top-k CTC frames)]} of ``sets`` ({name: CutSet}): what a beam search
    reads, so that many searches over the same sets run the acoustic model once."""
    return {name: [(cid, ref, FrameTopK.from_log_probs(lp, k))
                   for batch in eval_batches(cuts, loaded.tokenizer, max_duration=max_duration)
                   for cid, ref, lp in zip(batch.cut_ids, batch.texts,
                                           loaded.model.ctc_log_probs(batch.feats, context))]
            for name, cuts in sorted(sets.items())}


def pooled_frames(loaded: LoadedModel, sets: dict, context: Context, k: int, max_duration: float
                  ) -> list[tuple[str, str, FrameTopK]]:
    """:func:`set_frames` of ``sets`` pooled, utterances named ``<set>/<cut id>``: what a tuning grid decodes."""
    return [(f"{name}/{cid}", ref, f) for name, its in set_frames(loaded, sets, context, k, max_duration).items()
            for cid, ref, f in its]


def tune_lm(loaded: LoadedModel, sets: dict, context: Context, beam: int, max_duration: float, lm: NgramLM,
            grid: list[tuple[float, float]], search: str = "auto") -> FusionChoice:
    """This model's LM weight and word bonus: the grid point with the lowest WER of beam+lm over all ``sets``
    pooled ({name: CutSet}, the val sets), decoded by ``search`` (``LMFusion.search``). The acoustic
    model runs once per utterance; each grid point reruns only the search on the kept top-k frames."""
    plain = CTCDecoder(loaded.tokenizer, DecodeOptions(method="beam", beam=beam))
    items = pooled_frames(loaded, sets, context, plain.opts.topk(), max_duration)

    def wer(weight: float, bonus: float) -> float:
        fused = plain.with_options(lm=LMFusion(lm, weight, bonus, search))
        return compute_wer([(uid, ref, fused.decode(f).text) for uid, ref, f in items]).wer

    return tune_fusion(grid, wer)


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


def table_rows(table: dict[str, dict[str, dict[str, SetResult]]], tags: list[str]
               ) -> dict[str, list[tuple[str, dict[str, SetResult]]]]:
    """table[method][tag][set] → {heading: [(row label, {set: result})]}: one table per search; ``beam+lm`` and
    ``beam+hotwords`` rows join the prefix_beam_search table as ``<tag>+LM`` and ``<tag>+hotwords``, each under its
    model's plain row."""
    order = [None, *ROW_SUFFIX]
    grouped: dict[str, list[tuple[int, int, str, dict[str, SetResult]]]] = {}
    for method, rows in table.items():
        suffix = ROW_SUFFIX.get(method)
        heading = METHODS["beam" if suffix else method]
        for i, tag in enumerate(tags):
            grouped.setdefault(heading, []).append((i, order.index(method if suffix else None), tag + (suffix or ""),
                                                    rows[tag]))
    return {h: [(label, r) for _, _, label, r in sorted(rows, key=lambda x: x[:2])] for h, rows in grouped.items()}


def results_markdown(table: dict[str, dict[str, dict[str, SetResult]]], tags: list[str], split: str,
                     command: str, configs: dict[str, str], context: Context, notes: str = "") -> str:
    """table[method][tag][set] → RESULTS.md text; ``notes`` (markdown) goes before the command."""
    sets = sorted({s for m in table.values() for t in m.values() for s in t})
    lines = ["# Results", "", f"WER (%) over syllables on the **{split}** sets, after normalization; CER (%) in "
             "parentheses. Masked-batch chunked decoding, context "
             f"[{context.left}, {context.chunk}, {context.right}] (left, chunk, right; 80 ms frames).", "",
             SCORING_NOTE, ""]
    for heading, rows in table_rows(table, tags).items():
        lines += [f"## {heading}", "", "| model | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets)]
        for label, row in rows:
            cells = [f"{row[s].wer:.2f} ({row[s].cer:.2f})" if s in row else "–" for s in sets]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    any_rows = next(iter(table.values()))
    lines += ["Test sets: " + ", ".join(
        f"{s} ({next(iter(any_rows.values()))[s].utts} utterances, {next(iter(any_rows.values()))[s].ref_words} words)"
        for s in sets), ""]
    if notes:
        lines += [notes.rstrip(), ""]
    lines += ["## Command", "", "```", command, "```", ""]
    for name, text in configs.items():
        lines += [f"## {name}", "", "```yaml", text.rstrip(), "```", ""]
    return "\n".join(lines)


def lm_notes(info: dict) -> str:
    """The RESULTS.md section on LM fusion, from the ``lm_fusion.json`` record."""
    how = (f"chosen per model on the **{info['tuned_on']}** sets (lowest pooled WER over the grid "
           f"`{info['grid']}`, weights : bonuses)" if info["tuned_on"] else "given on the command line")
    lines = ["## LM fusion (`+LM` rows)", "",
             f"Beam search (beam {info['beam']}) fused with the word n-gram LM `{info['lm']}` (sha256 "
             f"{info['lm_digest']}): score = log P_ctc + weight · ln P_lm + bonus · words. Weight and word bonus "
             f"{how}; the grid and its WERs are in `{LM_FUSION_JSON}`.", "", *lm_sources(Path(info["lm"])),
             "| model | search | LM weight | word bonus | " + (f"{info['tuned_on']} WER at that point |"
                                                              if info["tuned_on"] else "|"),
             "|---|---|---|---|" + ("---|" if info["tuned_on"] else "")]
    for tag, m in info["models"].items():
        cell = f" {m['error']:.2f} |" if info["tuned_on"] else ""
        lines.append(f"| {tag} | {m['search']} | {m['weight']:g} | {m['bonus']:g} |{cell}")
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "– (no listed phrase)" if x is None else f"{x} %"


def hotword_notes(a: argparse.Namespace, choices: dict[str, HotwordChoice | None],
                  effects: dict[str, dict[str, ListEffect]], graphs: dict[str, ContextGraph | None]) -> str:
    """The RESULTS.md section on the hotword list (``+hotwords`` rows): the list and each model's score, and per
    model and set the recall of its phrases and the WER where none occurs, plain beam → biased."""
    sets = sorted({s for e in effects.values() for s in e})
    phrases = len(next(g for g in graphs.values() if g is not None).texts)  # the usable ones
    if a.hotword_score is not None:
        how = f"{a.hotword_score:g} per token unless a line gives its own"
    else:
        how = (f"score per token chosen per model on the **{a.lm_tune_split}** sets from `{a.hotword_grid}`: the "
               f"highest recall of the listed phrases whose WER change on the utterances holding none is at most "
               f"{a.hotword_max_wer_change:g} points (grid in `{HOTWORDS_JSON}`; " + "; ".join(
                   f"{tag} {c.score:g}: recall {_pct(c.grid[c.score][0])}, {c.grid[c.score][1]:+.2f} points"
                   for tag, c in choices.items() if c is not None) + ")")

    def pair(x: float | None, y: float | None) -> str:
        return "–" if x is None or y is None else f"{x:.2f} → {y:.2f}"

    lines = ["## Hotwords (`+hotwords` rows)", "",
             f"Beam search (beam {a.beam}) biased by one list for every utterance, `{a.hotwords}` (sha256 "
             f"{file_digest(Path(a.hotwords))}, {phrases} usable phrase{'s' if phrases != 1 else ''}; "
             f"docs/DECODING.md), {how}. A listed phrase in a reference is recalled when the hypothesis holds it as "
             "often (whole words, scoring normalisation).", "",
             "Recall of the listed phrases (%), beam → beam+hotwords (occurrences in the references):", "",
             "| model | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets)]
    for tag, row in effects.items():
        lines.append(f"| {tag} | " + " | ".join(
            f"{pair(row[s].recall_plain, row[s].recall_biased)} ({row[s].occurrences})" if s in row else "–"
            for s in sets) + " |")
    lines += ["", "WER (%) of the utterances whose reference holds no listed phrase, beam → beam+hotwords "
              "(utterances): what the list costs where it has nothing to find.", "",
              "| model | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets)]
    for tag, row in effects.items():
        lines.append(f"| {tag} | " + " | ".join(
            f"{pair(row[s].no_phrase_wer_plain, row[s].no_phrase_wer_biased)} ({row[s].no_phrase_utts})"
            if s in row else "–" for s in sets) + " |")
    return "\n".join(lines)


def lm_sources(lm: Path) -> list[str]:
    """What the LM was estimated from, when ``local/train_lm.py``'s ``lm.json`` lies beside it (a paragraph and a
    blank line; nothing otherwise): above all whether it knows a catalogue, i.e. test-time knowledge."""
    try:
        train = json.loads((lm.parent / "lm.json").read_text(encoding="utf-8"))["train"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    parts = [f"the train transcripts of {', '.join(train.get('domains', []))}"]
    parts += [f"`{f}` ({t['sentences']} sentences)" for f, t in (train.get("text_files") or {}).items()]
    cls = train.get("classes")
    if cls:
        parts.append(f"the catalogue `{cls['file']}` as classes ({len(cls['classes'])} classes, "
                     f"{sum(c['members'] for c in cls['classes'].values())} phrases: {cls['transcripts_matched']} "
                     f"transcripts holding one repeated {cls['copies']} times with other members)")
    return [f"The LM was estimated (`lm.json`) from {train.get('sentences', '?')} sentences: " + "; ".join(parts)
            + ".", ""]


def training_context(exp_dir: Path) -> str:
    """The fine-tune's chunk context (``model.context`` in ``<exp_dir>/config.yaml``), else the paper's."""
    cfg = exp_dir / "config.yaml"
    if cfg.is_file():
        ctx = (yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}).get("model", {}).get("context")
        if ctx:
            return ",".join(str(int(v)) for v in ctx)
    return str(Context.DEFAULT)


def names(text: str) -> list[str]:
    """A comma-separated option (``--splits``, ``--methods``) as its non-empty, stripped items."""
    return [s.strip() for s in text.split(",") if s.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m chunkformer.decode", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--manifest-dir", type=Path, default=Path("data/manifests"))
    p.add_argument("--model", action="append", required=True, metavar="TAG=PATH",
                   help="a model to decode, repeatable; rows of RESULTS.md in this order")
    p.add_argument("--splits", type=names, default="val,test", help="comma-separated eval splits to decode")
    p.add_argument("--results-split", default=None,
                   help="the split tabulated in RESULTS.md (default: test when --splits has it, else the first)")
    p.add_argument("--methods", type=names, default="greedy,beam", help=f"comma-separated, of {', '.join(METHODS)}")
    p.add_argument("--beam", type=int, default=10)
    p.add_argument("--hotwords", metavar="FILE", help="phrases that bias the beam search (one per line, optionally "
                   "<TAB>per-token score)")
    p.add_argument("--hotword-score", type=float, default=None,
                   help="bonus per hotword token, natural log; default: chosen per model on the --lm-tune-split sets "
                        "(the highest recall of the listed phrases whose WER change on the utterances holding none "
                        "is at most --hotword-max-wer-change)")
    p.add_argument("--hotword-grid", default=DEFAULT_HOTWORD_GRID,
                   help="the scores tried when --hotword-score is not given (default %(default)s)")
    p.add_argument("--hotword-max-wer-change", type=float, default=MAX_WER_CHANGE,
                   help="WER points the list may add on utterances holding no listed phrase (default %(default)s)")
    p.add_argument("--lm", type=Path, metavar="FILE", help="word n-gram LM (ARPA or KenLM binary) for beam+lm")
    p.add_argument("--lm-weight", type=float, default=None,
                   help="LM weight of beam+lm (natural-log LM score × weight); default: tuned on --lm-tune-split")
    p.add_argument("--lm-bonus", type=float, default=None,
                   help="word insertion bonus of beam+lm, with --lm-weight (default 0); default: tuned")
    add_lm_search_argument(p)
    p.add_argument("--lm-tune-split", default="val", help="the split whose sets (pooled) choose the LM weight "
                   "and bonus of each model when --lm-weight is not given, and the hotword score without "
                   "--hotword-score")
    p.add_argument("--lm-grid", default=DEFAULT_GRID, help="the tuning grid, 'W1,W2,...:B1,B2,...' "
                   f"(weights : word bonuses; default {DEFAULT_GRID})")
    p.add_argument("--context", default=None,
                   help="left,chunk,right; default: model.context of <exp-dir>/config.yaml (the fine-tune's), "
                        f"else {Context.DEFAULT}")
    p.add_argument("--max-duration", type=float, default=300.0)
    p.add_argument("--config", action="append", default=[], metavar="NAME=PATH",
                   help="config files to quote in RESULTS.md (e.g. data=..., model=...)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return p.parse_args(argv)


def check_args(a: argparse.Namespace, methods: list[str]) -> str | None:
    """The first inconsistency between the options, as a one-line message; None when they fit together."""
    bad = [m for m in methods if m not in METHODS]
    if bad:
        return f"unknown method(s) {bad}; choose from {sorted(METHODS)}"
    if a.hotword_score is not None and a.hotwords is None:
        return "--hotword-score needs --hotwords FILE"
    if a.hotwords is not None and "beam+hotwords" not in methods:
        return "--hotwords biases the beam+hotwords method: add beam+hotwords to --methods"
    if "beam+hotwords" in methods and a.hotwords is None:
        return "method beam+hotwords needs --hotwords FILE (one phrase per line)"
    if "beam+hotwords" in methods and "beam" not in methods:
        return "beam+hotwords is reported against the plain beam search: add beam to --methods"
    if a.hotwords is not None and a.hotword_score is None:
        try:
            parse_scores(a.hotword_grid)
        except ValueError as e:
            return str(e)
        if not a.hotword_max_wer_change >= 0:
            return f"--hotword-max-wer-change must be >= 0 WER points, not {a.hotword_max_wer_change}"
    if "beam+lm" in methods and a.lm is None:
        return "method beam+lm needs --lm FILE (an ARPA or KenLM binary LM)"
    if a.lm is not None and "beam+lm" not in methods:
        return "--lm is fused in the beam+lm method: add beam+lm to --methods"
    if (a.lm_weight is not None or a.lm_bonus is not None) and a.lm is None:
        return "--lm-weight/--lm-bonus need --lm FILE"
    if a.lm_bonus is not None and a.lm_weight is None:
        return "--lm-bonus needs --lm-weight (without both, they are tuned on the --lm-tune-split sets)"
    return check_splits(a)


def check_splits(a: argparse.Namespace) -> str | None:
    """Settles ``--results-split``: one of ``--splits``, or RESULTS.md would silently not be written."""
    if a.results_split is None:
        a.results_split = "test" if "test" in a.splits or not a.splits else a.splits[0]
    if a.results_split not in a.splits:
        return (f"--results-split {a.results_split} is not among --splits {','.join(a.splits)}: RESULTS.md would be "
                "empty")
    return None


def check_cuts(a: argparse.Namespace) -> None:
    """ValueError when no split of ``--splits`` has cuts: a run that decodes nothing (a typo in --splits, stage 0
    not run) must not end as if RESULTS.md had been written."""
    if not any(domains_of(a.manifest_dir, s) for s in a.splits):
        raise ValueError(f"no {'/'.join(a.splits)} cuts in {a.manifest_dir} (no <domain>_cuts_<split>.jsonl.gz): "
                         "run stage 0 first, or check --manifest-dir and --splits")


def choose_fusions(a: argparse.Namespace, loaded: list[tuple[str, LoadedModel]], lm: NgramLM, ctx: Context
                   ) -> tuple[dict[str, LMFusion], dict]:
    """Each model's LMFusion (given, or tuned on the --lm-tune-split sets) and the ``lm_fusion.json`` record,
    with the search that runs it per model (``--lm-search``; "auto": flashlight or ours)."""
    info = {"lm": str(a.lm), "lm_digest": file_digest(a.lm), "beam": a.beam, "models": {},
            "tuned_on": None if a.lm_weight is not None else a.lm_tune_split,
            "grid": None if a.lm_weight is not None else a.lm_grid}
    fusions = {}
    if a.lm_weight is not None:
        for tag, _ in loaded:
            fusions[tag] = LMFusion(lm, a.lm_weight, a.lm_bonus or 0.0, a.lm_search)
            info["models"][tag] = {"weight": a.lm_weight, "bonus": a.lm_bonus or 0.0}
    else:
        fusions = tune_fusions(a, loaded, lm, ctx, info)
    for tag, model in loaded:
        info["models"][tag]["search"] = beam_decoders(model, ["beam+lm"], a.beam, lm=fusions[tag])[
            "beam+lm"].lm_search_name
    return fusions, info


def choose_hotwords(a: argparse.Namespace, loaded: list[tuple[str, LoadedModel]], ctx: Context
                    ) -> tuple[dict[str, ContextGraph], dict[str, HotwordChoice | None]]:
    """Each model's hotword graph: ``--hotword-score`` if given, else the score chosen on the --lm-tune-split sets
    (:func:`tune_hotwords`); the choices (None for a given score)."""
    if a.hotword_score is not None:
        graph = {tag: load_hotword_graph(a.hotwords, m.tokenizer, a.hotword_score, log.warning) for tag, m in loaded}
        return graph, {tag: None for tag, _ in loaded}
    # the list's problems reported once, before any decoding
    load_hotword_graph(a.hotwords, loaded[0][1].tokenizer, DEFAULT_SCORE, log.warning)
    sets = eval_sets(a.manifest_dir, a.lm_tune_split)
    if not sets:
        raise ValueError(f"no {a.lm_tune_split} sets in {a.manifest_dir} to choose the hotword score on; give "
                         "--hotword-score")
    graphs, choices = {}, {}
    for tag, model in loaded:
        model.model.to(a.device)
        choices[tag] = choice = tune_hotwords(model, sets, ctx, a.beam, a.max_duration, a.hotwords,
                                              parse_scores(a.hotword_grid), a.hotword_max_wer_change)
        model.model.cpu()
        log.info("beam+hotwords %s: score %g per token (%s recall %%, WER change: %s)", tag, choice.score,
                 a.lm_tune_split, ", ".join(f"{s:g}: {r}/{c:+.2f}" for s, (r, c) in choice.grid.items()))
        graphs[tag] = load_hotword_graph(a.hotwords, model.tokenizer, choice.score)
    return graphs, choices


def tune_hotwords(loaded: LoadedModel, sets: dict, context: Context, beam: int, max_duration: float,
                  hotwords: str | Path, scores: list[float], max_change: float) -> HotwordChoice:
    """This model's hotword score on ``sets`` (pooled; :func:`choose_hotword_score`): the beam search biased at
    each score against the plain one, over the same top-k frames (the acoustic model runs once)."""
    plain = CTCDecoder(loaded.tokenizer, DecodeOptions(method="beam", beam=beam))
    items = pooled_frames(loaded, sets, context, plain.opts.topk(), max_duration)
    base = [(uid, ref, plain.decode(f).text) for uid, ref, f in items]

    def evaluate(score: float) -> tuple[float | None, float]:
        graph = load_hotword_graph(hotwords, loaded.tokenizer, score)
        biased = plain.with_options(hotwords=graph)
        e = list_effect(base, [(uid, ref, biased.decode(f).text) for uid, ref, f in items], graph.texts)
        change = 0.0 if e.no_phrase_wer_plain is None else e.no_phrase_wer_biased - e.no_phrase_wer_plain
        return e.recall_biased, round(change, 2)

    return choose_hotword_score(scores, evaluate, max_change)


def tune_fusions(a: argparse.Namespace, loaded: list[tuple[str, LoadedModel]], lm: NgramLM, ctx: Context,
                 info: dict) -> dict[str, LMFusion]:
    """Each model's LMFusion tuned on the --lm-tune-split sets, its choice and grid recorded in ``info``."""
    fusions = {}
    grid = parse_grid(a.lm_grid)
    sets = eval_sets(a.manifest_dir, a.lm_tune_split)
    if not sets:
        raise ValueError(f"no {a.lm_tune_split} sets in {a.manifest_dir} to tune the LM weight on; "
                         "give --lm-weight (and --lm-bonus)")
    for tag, model in loaded:
        model.model.to(a.device)
        choice = tune_lm(model, sets, ctx, a.beam, a.max_duration, lm, grid, search=a.lm_search)
        model.model.cpu()
        log.info("beam+lm %s: LM weight %g, word bonus %g (%s WER %.2f%%; grid weight/bonus: WER %s)", tag,
                 choice.weight, choice.bonus, a.lm_tune_split, choice.error,
                 ", ".join(f"{w:g}/{b:g}: {e:.2f}" for (w, b), e in choice.grid.items()))
        fusions[tag] = LMFusion(lm, choice.weight, choice.bonus, a.lm_search)
        info["models"][tag] = choice.to_dict()
    return fusions


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    setup_logger(a.exp_dir / "log" / "decode.log")
    methods = a.methods
    problem = check_args(a, methods)
    if problem:
        return error(problem)
    try:
        models = [(tag, path) for tag, _, path in (m.partition("=") for m in a.model)]
        if any(not t or not q for t, q in models):
            raise ValueError("--model takes TAG=PATH")
        ctx = Context.parse(a.context or training_context(a.exp_dir))
        parse_grid(a.lm_grid)
        loaded = [(tag, load_model(path)) for tag, path in models]
        graphs, hot_info = choose_hotwords(a, loaded, ctx) if a.hotwords else ({t: None for t, _ in loaded}, {})
        ngram = load_lm(a.lm) if a.lm is not None else None
        fusions, lm_info = choose_fusions(a, loaded, ngram, ctx) if ngram is not None else ({}, None)
        check_cuts(a)
    except (CheckpointError, LMError, ValueError, FileNotFoundError) as e:
        return error(e)
    if lm_info is not None:
        atomic_write_text(a.exp_dir / LM_FUSION_JSON, json.dumps(lm_info, indent=1, ensure_ascii=False) + "\n")
    if a.hotwords:
        record = {"hotwords": a.hotwords, "digest": file_digest(Path(a.hotwords)), "beam": a.beam,
                  "tuned_on": None if a.hotword_score is not None else a.lm_tune_split,
                  "max_wer_change": a.hotword_max_wer_change,
                  "models": {t: {"score": a.hotword_score} if c is None else c.to_dict() for t, c in hot_info.items()}}
        atomic_write_text(a.exp_dir / HOTWORDS_JSON, json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    try:
        table, effects = decode_splits(a, methods, loaded, ctx, graphs, fusions)
    except CutAudioError as e:  # neither stage-1 features nor audio: nothing to decode that cut from
        return error(e)
    if not any(table[m][t] for m in table for t in table[m]):
        return error(f"no {a.results_split} sets in {a.manifest_dir}: RESULTS.md not written (the other splits' "
                     f"results are under {a.exp_dir})", code=1)
    notes = [lm_notes(lm_info) if lm_info else "", hotword_notes(a, hot_info, effects, graphs) if a.hotwords else ""]
    write_results(a, argv, table, [t for t, _ in loaded], ctx, "\n\n".join(n for n in notes if n))
    return 0


def decode_splits(a: argparse.Namespace, methods: list[str], loaded: list[tuple[str, LoadedModel]], ctx: Context,
                  graphs: dict[str, ContextGraph | None], fusions: dict[str, LMFusion]
                  ) -> tuple[dict[str, dict[str, dict[str, SetResult]]], dict[str, dict[str, ListEffect]]]:
    """Decodes and scores every set of ``--splits`` with every model: table[method][tag][set] of the results split,
    and with ``beam+hotwords`` the list's effect there, effects[tag][set] (:func:`list_effect`)."""
    table: dict[str, dict[str, dict[str, SetResult]]] = {m: {t: {} for t, _ in loaded} for m in methods}
    effects: dict[str, dict[str, ListEffect]] = {t: {} for t, _ in loaded}
    for split in a.splits:
        sets = eval_sets(a.manifest_dir, split)
        if not sets:
            log.warning("no %s sets in %s", split, a.manifest_dir)
        for tag, model in loaded:
            model.model.to(a.device)
            for set_name, cuts in tqdm(sorted(sets.items()), desc=f"decode {split} {tag}", unit="set"):
                hyps = decode_set(model, cuts, ctx, methods, a.beam, a.max_duration, graphs[tag], fusions.get(tag))
                for method, results in hyps.items():
                    r = write_set(a.exp_dir, method, f"{split}_{set_name}", tag, results)
                    log.info("%s %s %s_%s: WER %.2f%% CER %.2f%%", METHODS[method], tag, split, set_name, r.wer, r.cer)
                    if split == a.results_split:
                        table[method][tag][set_name] = r
                if split == a.results_split and "beam+hotwords" in hyps:
                    effects[tag][set_name] = list_effect(hyps["beam"], hyps["beam+hotwords"], graphs[tag].texts)
            model.model.cpu()
    return table, effects


def write_results(a: argparse.Namespace, argv: list[str] | None, table: dict[str, dict[str, dict[str, SetResult]]],
                  tags: list[str], ctx: Context, notes: str = "") -> None:
    """``<exp>/RESULTS.md`` (with the validation curve when the fine-tune left one), its tables printed."""
    command = "python -m chunkformer.decode " + " ".join(shlex.quote(x) for x in (argv or sys.argv[1:]))
    configs = {}
    for item in a.config:
        name, _, path = item.partition("=")
        if Path(path).is_file():
            configs[f"{name} config ({path})"] = Path(path).read_text(encoding="utf-8")
    md = results_markdown(table, tags, a.results_split, command, configs, ctx, notes)
    history = a.exp_dir / "valid_history.json"
    if history.is_file():  # the fine-tune's validation curve, per domain
        png = plot_valid_wer(json.loads(history.read_text(encoding="utf-8")), a.exp_dir / "valid_wer.png")
        md = md.replace("## Command", f"Validation WER per epoch: ![validation WER]({png.name})\n\n## Command", 1)
    atomic_write_text(a.exp_dir / "RESULTS.md", md)
    print(md.split("## Command")[0])


if __name__ == "__main__":
    sys.exit(main())
