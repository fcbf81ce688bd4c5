"""Decoding quality on the demo's held-out test sets (issue 16, "Done means"): hotwords with one global
catalogue, word confidence against errors, word times. One command, rerunnable for any model:

    nice -n 15 .venv/bin/python bench/bench_decoding_quality.py --model egs/callbot/demo/finetuned \
        [--corpus data/demo_corpus] [--out-dir exp/decoding_quality] [--beam 10] [--scores 0.5,1,...] \
        [--lm LM --lm-weight W --lm-bonus B [--list-lm CLASS_LM]]

Sets: ``val``, ``test`` (unseen sentence patterns) and ``test_seen`` (training patterns, held-out slot values
only) of telephony, conversation and reading, read from the corpus lists (``<domain>/<split>/list.tsv``, what
stage 0 reads: the manifests have no reading/conversation ``test_seen``); features by
:func:`chunkformer.frontend.load_features`, masked-batch chunked inference with ``--context``.

1. **Hotwords**: the catalogue of ``local/callbot_catalogue.py`` (held-out slot values + at least as many
   distractors absent from every test reference), one list for every utterance. The per-token score and the
   tokens expanded per frame are the setting of the ``--scores`` × ``--prune-topk`` grid with the highest
   held-out recall on the **val** sets among those whose WER change on the val utterances containing no
   listed phrase is <= ``--max-wer-change`` (if none: the smallest change). Then on test, with that setting:
   recall of the held-out values (:mod:`chunkformer.decoding.metrics`) with the list and with the plain beam,
   and WER on the utterances whose reference contains none of the catalogue's phrases; recall per slot, and
   how many misses the search could have reached (every token of the phrase in some frame's top-k).
   ``--lm``: both searches fused with this n-gram LM (our search, fixed weight and bonus, e.g. stage 5's choice in
   ``lm_fusion.json``). ``--list-lm``: the search "with the list" uses this LM instead, one that knows the
   catalogue (``local/train_lm.py --classes``: a class LM), so the list acts through the LM and the graph; score 0
   in ``--scores`` is the class LM alone, no graph.
2. **Confidence**: greedy and plain-beam (the chosen top-k) test output; each hypothesis word is correct or
   wrong by the WER alignment; ROC AUC of the word confidence (Mann–Whitney); utterance confidence against
   utterance WER (Pearson and Spearman: negative is good).
3. **Word times**: ``bench/bench_word_times.py``'s measurement (espeak-ng words synthesised one by one, joined
   with gaps of 0–300 ms; audio cached in ``<out-dir>/word_times``): times from the audio (what transcribe and
   the server give) and from the CTC spikes alone, greedy, beam and forced alignment.

Writes ``<out-dir>/<model name>.json`` and ``.md`` (the markdown is also printed), every test hypothesis
(``hyps-<model name>.jsonl``: greedy, beam, beam + list) and the catalogue ``<out-dir>/catalogue.txt`` (usable
as ``transcribe --hotwords``). About 10 minutes on 2 shared cores.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "local"), str(REPO / "bench")]  # this checkout's code
import bench_word_times  # noqa: E402
from callbot_catalogue import DOMAINS, LEXICAL_SLOTS, Catalogue, build_catalogue, read_list  # noqa: E402
from vi_callbot_text import HELD_VALUES  # noqa: E402

from chunkformer.checkpoint import LoadedModel, load_model  # noqa: E402
from chunkformer.decoding import (  # noqa: E402
    CTCDecoder,
    DecodeOptions,
    FrameTopK,
    Hypothesis,
    LMFusion,
    build_hotwords,
    load_lm,
)
from chunkformer.decoding.context_graph import ContextGraph  # noqa: E402
from chunkformer.decoding.metrics import list_effect, phrase_recall, roc_auc, spearman, word_labels  # noqa: E402
from chunkformer.decoding.scoring import ErrorStats, align, compute_wer, units  # noqa: E402
from chunkformer.decoding.tuning import best_within_limit  # noqa: E402
from chunkformer.frontend import load_features  # noqa: E402
from chunkformer.model.masked_batch import Context  # noqa: E402
from chunkformer.tokenizer import Tokenizer  # noqa: E402
from chunkformer.utils.cli import error  # noqa: E402
from chunkformer.utils.io import atomic_write_text  # noqa: E402

SPLITS = ("val", "test", "test_seen")
TEST_SPLITS = ("test", "test_seen")
TARGETS = {"recall_pct": 90.0, "wer_change_points": 0.3, "word_times_pct": 90.0, "auc": 0.8}


@dataclass(frozen=True)
class Utt:
    id: str  # <domain>/<split>/<wav stem>
    ref: str
    wav: str


Decoded = list[tuple[Utt, Hypothesis]]


@dataclass
class EvalSet:
    """One split × domain: its utterances and their CTC top-k frames (computed once, decoded many times)."""

    utts: list[Utt]
    frames: list[FrameTopK]

    def decode(self, dec: CTCDecoder, graph: ContextGraph | None = None) -> Decoded:
        return [(u, dec.decode(f, hotwords=graph)) for u, f in zip(self.utts, self.frames, strict=True)]


def read_sets(corpus: Path, domains: Sequence[str]) -> dict[str, list[Utt]]:
    """``{"<split>/<domain>": utterances}`` for every split and domain."""
    out = {}
    for split in SPLITS:
        for dom in domains:
            rows = read_list(corpus / dom / split / "list.tsv")
            out[f"{split}/{dom}"] = [Utt(f"{dom}/{split}/{Path(w).stem}", t, w) for w, t in rows]
    return out


def ctc_frames(loaded: LoadedModel, utts: list[Utt], ctx: Context, k: int, batch: int = 32) -> list[FrameTopK]:
    """Top-``k`` CTC log-probs of every utterance (masked batches of ``batch`` utterances)."""
    out: list[FrameTopK] = []
    for i in range(0, len(utts), batch):
        feats = [load_features(u.wav) for u in utts[i:i + batch]]
        out += [FrameTopK.from_log_probs(lp, k) for lp in loaded.model.ctc_log_probs(feats, ctx)]
    return out


def triples(decoded: Decoded) -> list[tuple[str, str, str]]:
    return [(u.id, u.ref, h.text) for u, h in decoded]


def joined(runs: dict[str, Decoded], names: Sequence[str]) -> Decoded:
    return [x for n in names for x in runs[n]]


def groups(names: Sequence[str]) -> dict[str, list[str]]:
    """Each test set alone, then pooled: per split, and all."""
    out = {n: [n] for n in names}
    for split in TEST_SPLITS:
        out[f"{split}/all"] = [n for n in names if n.startswith(split + "/")]
    out["all"] = list(names)
    return out


# ------------------------------------------------------------------------------------------------ hotwords
def wer_of(decoded: Decoded) -> float | None:
    return round(compute_wer(triples(decoded)).wer, 2) if decoded else None


def hotword_row(plain: Decoded, biased: Decoded, cat: Catalogue) -> dict:
    """Recall of the held-out values (plain beam, with the list) and WER on the utterances whose reference has
    none of the catalogue's phrases (plain, with the list, change in points): :func:`list_effect`."""
    e = list_effect(triples(plain), triples(biased), cat.phrases, recalled=cat.held_out)
    w_plain, w_list = e.no_phrase_wer_plain, e.no_phrase_wer_biased
    return {"utts": len(plain), "held_out_occurrences": e.occurrences,
            "recall_beam_pct": e.recall_plain, "recall_list_pct": e.recall_biased,
            "no_phrase_utts": e.no_phrase_utts, "no_phrase_wer_beam": w_plain, "no_phrase_wer_list": w_list,
            "no_phrase_wer_change": None if w_plain is None else round(w_list - w_plain, 2),
            "wer_beam": wer_of(plain), "wer_list": wer_of(biased)}


def choose_setting(grid: list[dict], max_change: float) -> dict:
    """The grid row chosen by stage 5's rule (:func:`chunkformer.decoding.tuning.best_within_limit`, keys
    ``(score, prune_topk)``): the highest recall among those whose no-phrase WER change is <= ``max_change`` (ties:
    smaller change, then smaller score and top-k); if none qualifies, the smallest change (ties: higher recall)."""
    rows = {(r["score"], r["prune_topk"]): r for r in grid}
    return rows[best_within_limit({k: (r["recall_list_pct"], r["no_phrase_wer_change"]) for k, r in rows.items()},
                                  max_change)]


def hotword_graphs(cat: Catalogue, tok: Tokenizer, scores: Sequence[float]
                   ) -> tuple[dict[float, ContextGraph | None], list]:
    """One context graph per score (score 0: none, the list only in a class LM); the phrases the vocabulary
    cannot spell (rejected)."""
    graphs: dict[float, ContextGraph | None] = {}
    rejected: list = []
    for s in scores:
        if s == 0:
            graphs[s] = None
            continue
        hot = build_hotwords(cat.phrases, tok, score=s)
        if hot.graph is None:
            raise ValueError("no catalogue phrase is spellable by the model's vocabulary")
        graphs[s], rejected = hot.graph, hot.rejected
    return graphs, rejected


def tune(val: dict[str, EvalSet], beams: dict[int, CTCDecoder], list_beams: dict[int, CTCDecoder], cat: Catalogue,
         graphs: dict[float, ContextGraph | None], log: Callable[[str], None]) -> list[dict]:
    """The val grid (top-k × score): one :func:`hotword_row` of the val sets pooled per setting (plain: ``beams``,
    with the list: ``list_beams`` and the graph)."""
    grid = []
    for k, beam in beams.items():
        plain = [x for es in val.values() for x in es.decode(beam)]
        for score, graph in graphs.items():
            biased = [x for es in val.values() for x in es.decode(list_beams[k], graph)]
            grid.append({"prune_topk": k, "score": score, **hotword_row(plain, biased, cat)})
            log(f"val top-{k} score {score}: recall {grid[-1]['recall_list_pct']} %, no-phrase WER change "
                f"{grid[-1]['no_phrase_wer_change']:+.2f}")
    return grid


def missed_reachable(sets: dict[str, EvalSet], biased: Decoded, cat: Catalogue, tok: Tokenizer, k: int) -> dict:
    """Held-out occurrences missed with the list, and how many of them had every token of the phrase among
    the top-``k`` entries of some frame of the utterance (the search could reach them; the others the model
    never ranked that high)."""
    frames = {u.id: f for es in sets.values() for u, f in zip(es.utts, es.frames, strict=True)}
    missed = phrase_recall(triples(biased), cat.held_out).missed
    reach = sum(set(tok.encode(p)) <= set(frames[uid].ids[:, :k].flatten().tolist()) for uid, p in missed)
    return {"missed": len(missed), "tokens_in_topk": reach}


def recall_by_slot(plain: Decoded, biased: Decoded) -> dict[str, dict]:
    """Held-out recall per lexical slot (names, streets…), plain beam and with the list."""
    out = {}
    for slot in LEXICAL_SLOTS:
        r_plain, r_list = phrase_recall(triples(plain), HELD_VALUES[slot]), phrase_recall(triples(biased),
                                                                                         HELD_VALUES[slot])
        if r_plain.in_ref:
            out[slot] = {"occurrences": r_plain.in_ref, "recall_beam_pct": r_plain.recall,
                         "recall_list_pct": r_list.recall}
    return out


# ---------------------------------------------------------------------------------------------- confidence
def confidence_row(decoded: Decoded) -> dict:
    """Word-confidence AUC (correct vs wrong words) and utterance confidence vs utterance WER correlations."""
    pos, neg, conf, wer = [], [], [], []
    for u, h in decoded:
        for w, ok in zip(h.words, word_labels(u.ref, [w.word for w in h.words]), strict=True):
            (pos if ok else neg).append(w.conf)
        st = ErrorStats.from_alignment(align(units(u.ref), units(h.text)))
        conf.append(h.confidence)
        wer.append(st.errors / st.ref_words)
    return {"words": len(pos) + len(neg), "wrong_words": len(neg), "auc": round(roc_auc(pos, neg), 4),
            "utt_pearson": round(statistics.correlation(conf, wer), 4), "utt_spearman": round(spearman(conf, wer), 4)}


# ------------------------------------------------------------------------------------------------- report
def status(ok: bool) -> str:
    return "met" if ok else "**missed**"


def fmt(v: object) -> str:
    return "–" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)


def hotword_markdown(r: dict) -> list[str]:
    h = r["hotwords"]
    cat = h["catalogue"]
    lines = [f"### Hotwords: one global catalogue of {cat['phrases']} phrases ({cat['held_out']} held-out slot values"
             f" + {cat['distractors']} distractors absent from every test reference; {len(cat['rejected'])} "
             f"unspellable); beam {r['beam']}, top-{h['prune_topk']} tokens per frame, per-token score {h['score']} "
             f"(both chosen on val from {h['grid']['prune_topk']} × {h['grid']['score']})",
             *([] if r.get("lm") is None else [
                 "", f"Both searches fused with an n-gram LM (weight {r['lm']['weight']}, bonus "
                 f"{r['lm']['bonus']}, our search): plain `{r['lm']['lm']}`, with the list "
                 f"`{r['lm']['list_lm']}` (score 0: that LM alone)."]),
             "", "| set | utts | held-out occurrences | recall plain beam % | recall + list % | utts without a listed "
             "phrase | their WER plain beam | + list | change (points) | WER all utts plain / + list |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in h["test"].items():
        b = "**" if "all" in name else ""
        lines.append(f"| {b}{name}{b} | {row['utts']} | {row['held_out_occurrences']} | {fmt(row['recall_beam_pct'])} "
                     f"| {b}{fmt(row['recall_list_pct'])}{b} | {row['no_phrase_utts']} | "
                     f"{fmt(row['no_phrase_wer_beam'])} | {fmt(row['no_phrase_wer_list'])} | "
                     f"{b}{fmt(row['no_phrase_wer_change'])}{b} | {fmt(row['wer_beam'])} / {fmt(row['wer_list'])} |")
    every = h["test"]["all"]
    lines += ["", f"Targets (all test sets pooled): recall ≥ {TARGETS['recall_pct']:.0f} % with the list: "
              f"{status(every['recall_list_pct'] >= TARGETS['recall_pct'])} ({every['recall_list_pct']:.2f} %, plain "
              f"beam {every['recall_beam_pct']:.2f} %); WER change ≤ {TARGETS['wer_change_points']} points on the "
              f"utterances without a listed phrase: "
              f"{status(abs(every['no_phrase_wer_change']) <= TARGETS['wer_change_points'])} "
              f"({every['no_phrase_wer_change']:+.2f}).", "",
              "Val grid (val sets pooled; recall %, no-phrase WER change): " + "; ".join(
                  f"top-{g['prune_topk']} score {g['score']}: {fmt(g['recall_list_pct'])}, "
                  f"{g['no_phrase_wer_change']:+.2f}" for g in h["val_grid"])
              + f" (plain beam recall {fmt(h['val_grid'][0]['recall_beam_pct'])} %).", "",
              "Recall by slot, all test sets (plain beam → + list, occurrences): " + "; ".join(
                  f"{s} {v['recall_beam_pct']:.0f} → {v['recall_list_pct']:.0f} % ({v['occurrences']})"
                  for s, v in h["by_slot"].items()) + ".", "",
              f"Missed with the list: {h['missed']['missed']} occurrences, of which {h['missed']['tokens_in_topk']} "
              f"had every token of the phrase in the top-{h['prune_topk']} entries of some frame of the utterance.", ""]
    return lines


def confidence_markdown(r: dict) -> list[str]:
    lines = ["### Word confidence against errors (all test sets)", "",
             "| decoder | set | words | wrong words | word AUC | utterance conf vs WER: Pearson | Spearman |",
             "|---|---|---|---|---|---|---|"]
    for dec, rows in r["confidence"].items():
        for name, row in rows.items():
            if not name.endswith("all"):
                continue  # per-set rows: in the JSON
            b = "**" if name == "all" else ""
            lines.append(f"| {dec} | {name} | {row['words']} | {row['wrong_words']} | {b}{row['auc']:.3f}{b} | "
                         f"{row['utt_pearson']:.3f} | {row['utt_spearman']:.3f} |")
    auc = min(rows["all"]["auc"] for rows in r["confidence"].values())
    lines += ["", f"Target AUC ≥ {TARGETS['auc']}: {status(auc >= TARGETS['auc'])} (lowest decoder: {auc:.3f}).", ""]
    return lines


def word_times_markdown(r: dict) -> list[str]:
    w = r["word_times"]
    lines = [f"### Word times ({w['utterances']} utterances of espeak-ng words synthesised one by one, gaps 0–300 ms; "
             f"tolerance {w['tolerance_s']} s)", "",
             "| times from | words | count | start and end within tolerance % | start within % | end within % "
             "| start bias s | end bias s | best constant shift s → within % |", "|---" * 9 + "|"]
    kinds = (("recognised", "recognised, greedy"), ("beam", "recognised, beam"), ("forced", "all, reference aligned"))
    for method, label in (("audio", "audio (fbank)"), ("spikes", "CTC spikes")):
        for kind, words in kinds:
            s = w[method][kind]
            lines.append(f"| {label} | {words} | {s['words']} | **{s['within_tol_pct']:.2f}** | "
                         f"{s['start_within_pct']:.2f} | {s['end_within_pct']:.2f} | {s['start_bias_s']:+.3f} | "
                         f"{s['end_bias_s']:+.3f} | {s['oracle_shift_s']:+.2f} → "
                         f"{s['within_tol_pct_at_oracle_shift']:.2f} |")
    got = w["audio"]["recognised"]["within_tol_pct"]
    sp = w["speed"]
    lines += ["", f"Target ≥ {TARGETS['word_times_pct']:.0f} % of recognised words (greedy, times from the audio): "
              f"{status(got >= TARGETS['word_times_pct'])} ({got:.2f} %). Word boundaries cost "
              f"{sp['word_times_rtf']:.4f} s per audio second, {sp['word_times_over_model']:.2f}× the model's time "
              "(medians over utterances).", ""]
    return lines


def markdown(r: dict) -> str:
    lines = [f"## Decoding quality: `{r['model']}`", "", "```bash", r["command"], "```", ""]
    lines += hotword_markdown(r) + confidence_markdown(r)
    if "word_times" in r:
        lines += word_times_markdown(r)
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="egs/callbot/demo/finetuned", help="model folder or checkpoint")
    p.add_argument("--corpus", type=Path, default=Path("data/demo_corpus"), help="the demo corpus (stage -1)")
    p.add_argument("--out-dir", type=Path, default=Path("exp/decoding_quality"))
    p.add_argument("--domains", default=",".join(DOMAINS))
    p.add_argument("--beam", type=int, default=10)
    p.add_argument("--prune-topk", default="10,50", help="grid of tokens expanded per frame, tried on val")
    p.add_argument("--scores", default="0.5,1,1.5,2,2.5,3,4", help="grid of hotword scores (per token), tried on val")
    p.add_argument("--max-wer-change", type=float, default=TARGETS["wer_change_points"])
    p.add_argument("--lm", type=Path, help="fuse both searches with this n-gram LM (our search)")
    p.add_argument("--list-lm", type=Path, help="the LM of the search with the list (a class LM of the catalogue: "
                                                "train_lm.py --classes); default --lm")
    p.add_argument("--lm-weight", type=float, default=0.5, help="LM weight (stage 5's choice: lm_fusion.json)")
    p.add_argument("--lm-bonus", type=float, default=2.0, help="LM word bonus")
    p.add_argument("--context", default=str(Context.DEFAULT))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--word-times-num", type=int, default=100, help="word-time utterances (0: skip word times)")
    p.add_argument("--word-times-seed", type=int, default=7)
    a = p.parse_args(argv)
    if a.list_lm is not None and a.lm is None:
        p.error("--list-lm needs --lm (the LM of the search without the list)")
    return a


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def hotwords_section(sets: dict[str, EvalSet], beams: dict[int, CTCDecoder], list_beams: dict[int, CTCDecoder],
                     cat: Catalogue, tok: Tokenizer, a: argparse.Namespace
                     ) -> tuple[dict, dict[str, Decoded], dict[str, Decoded]]:
    """Setting chosen on val, then test rows per set and pooled; also the test hypotheses (plain, biased)."""
    graphs, rejected = hotword_graphs(cat, tok, floats(a.scores))
    grid = tune({n: es for n, es in sets.items() if n.startswith("val/")}, beams, list_beams, cat, graphs, log)
    best = choose_setting(grid, a.max_wer_change)
    k, graph = best["prune_topk"], graphs[best["score"]]
    tests = [n for n in sets if not n.startswith("val/")]
    plain = {n: sets[n].decode(beams[k]) for n in tests}
    biased = {n: sets[n].decode(list_beams[k], graph) for n in tests}
    rows = {g: hotword_row(joined(plain, ns), joined(biased, ns), cat) for g, ns in groups(tests).items()}
    section = {"catalogue": {"phrases": len(cat.phrases), "held_out": len(cat.held_out),
                             "distractors": len(cat.distractors), "rejected": rejected},
               "grid": {"prune_topk": list(beams), "score": list(graphs)}, "val_grid": grid,
               "prune_topk": best["prune_topk"], "score": best["score"], "test": rows,
               "by_slot": recall_by_slot(joined(plain, tests), joined(biased, tests)),
               "missed": missed_reachable(sets, joined(biased, tests), cat, tok, best["prune_topk"])}
    return section, plain, biased


def fusion(lm: Path | None, a: argparse.Namespace) -> LMFusion | None:
    """Our search fused with ``lm`` at the fixed ``--lm-weight``/``--lm-bonus`` (the hotword graph needs ours)."""
    return None if lm is None else LMFusion(load_lm(lm), a.lm_weight, a.lm_bonus, search="ours")


def floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def write_hypotheses(path: Path, runs: dict[str, dict[str, Decoded]]) -> None:
    """One JSON line per test utterance: id, reference and each decoder's text (to look at the misses)."""
    first = next(iter(runs.values()))
    lines = []
    for name in first:
        for i, (u, _) in enumerate(first[name]):
            lines.append(json.dumps({"id": u.id, "ref": u.ref, **{d: rs[name][i][1].text for d, rs in runs.items()}},
                                    ensure_ascii=False))
    atomic_write_text(path, "\n".join(lines) + "\n")


def run(a: argparse.Namespace, argv: list[str] | None) -> dict:
    torch.set_num_threads(a.threads)
    utts = read_sets(a.corpus, [d.strip() for d in a.domains.split(",") if d.strip()])
    cat = build_catalogue(u.ref for n, us in utts.items() if not n.startswith("val/") for u in us)
    a.out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(a.out_dir / "catalogue.txt", cat.to_text())
    loaded = load_model(a.model)
    tok, ctx = loaded.tokenizer, Context.parse(a.context)
    prunes = [int(k) for k in floats(a.prune_topk)]
    log(f"CTC posteriors of {sum(map(len, utts.values()))} utterances")
    sets = {n: EvalSet(us, ctc_frames(loaded, us, ctx, max(a.beam, *prunes))) for n, us in utts.items()}
    def decoders(lm: LMFusion | None) -> dict[int, CTCDecoder]:
        return {k: CTCDecoder(tok, DecodeOptions(method="beam", beam=a.beam, prune_topk=k, lm=lm)) for k in prunes}

    beams = decoders(fusion(a.lm, a))  # each LM file loaded once, shared by the top-k settings
    list_beams = decoders(fusion(a.list_lm, a)) if a.list_lm is not None else beams
    hot, plain, biased = hotwords_section(sets, beams, list_beams, cat, tok, a)
    command = " ".join(shlex.quote(x) for x in (sys.argv[1:] if argv is None else argv))
    report = {"model": a.model, "command": "nice -n 15 .venv/bin/python bench/bench_decoding_quality.py " + command,
              "beam": a.beam, "context": str(ctx), "targets": TARGETS, "hotwords": hot,
              "lm": None if a.lm is None else {"lm": str(a.lm), "list_lm": str(a.list_lm or a.lm),
                                               "weight": a.lm_weight, "bonus": a.lm_bonus}}
    greedy = CTCDecoder(tok, DecodeOptions(method="greedy"))
    beam_name = "beam+LM" if a.lm is not None else "beam"  # the confidence rows name the decoder they measure
    runs = {"greedy": {n: es.decode(greedy) for n, es in sets.items() if n in plain}, beam_name: plain}
    write_hypotheses(a.out_dir / f"hyps-{model_name(a.model)}.jsonl", {**runs, "beam+list": biased})
    report["confidence"] = {d: {g: confidence_row(joined(rs, ns)) for g, ns in groups(list(plain)).items()}
                            for d, rs in runs.items()}
    if a.word_times_num > 0:
        log("word times")
        items = bench_word_times.build_set(a.out_dir / "word_times", a.word_times_num, a.word_times_seed)
        report["word_times"] = bench_word_times.measure(loaded, items, ctx)
    return report


def write_report(out_dir: Path, name: str, report: dict, md: str) -> None:
    """``<out_dir>/<name>.json`` and ``.md``; the markdown is also printed."""
    atomic_write_text(out_dir / f"{name}.json", json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    atomic_write_text(out_dir / f"{name}.md", md + "\n")
    print(md)


def model_name(model: str) -> str:
    return Path(model).name.replace(".pt", "")


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    try:
        report = run(a, argv)
    except (FileNotFoundError, ValueError) as e:
        return error(e)
    write_report(a.out_dir, model_name(a.model), report, markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
