"""How much recall any acoustic biasing could buy on the demo, at what cost: the bound behind issue 16's hotword
target (recall of the held-out slot values >= 90 % with one global catalogue, WER change <= 0.3 points on the
utterances that contain none of its phrases).

Every way to bias a CTC model towards listed phrases without a language model (a context graph in a beam
search, pyctcdecode's hotwords, NeMo's CTC word spotter) makes the same trade: a phrase replaces what the model
prefers where its acoustic score comes close enough. This script measures that closeness directly, with no
search and no pruning: for every utterance and every catalogue phrase, the **deficit** ``D`` = the smallest,
over every span of frames and every CTC alignment of the phrase in it, of ``sum_t (max_v lp[t, v] -
lp[t, label_t])`` (natural log; :func:`deficits`, a Viterbi over the phrase's CTC states with free start and
end). A spotter with a per-token bonus ``b`` accepts the phrase where ``D / len(phrase) < b``; so, per bonus:

- **recall**: the held-out occurrences (test references) whose phrase the greedy output already has, or whose
  deficit in that utterance is under the bonus (an optimistic count: the spot need not be at the right place);
- **false spots**: (utterance, phrase) pairs, over the utterances whose reference contains no catalogue phrase
  and whose greedy output lacks that phrase, with a deficit under the bonus; each would replace about
  ``len(phrase)`` words, which gives the **WER change** estimate (points of the no-phrase utterances' words).

Sets, catalogue and model as ``bench_decoding_quality.py`` (``val`` chooses, ``test`` + ``test_seen`` report).
Also per syllable count (``--by-length``). About a minute on 2 cores::

    PYTHONPATH=. .venv/bin/python bench/bench_hotword_bound.py --model egs/callbot/demo/finetuned
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
from bench_decoding_quality import Utt, read_sets  # noqa: E402
from callbot_catalogue import DOMAINS, build_catalogue, reference_texts  # noqa: E402

from chunkformer.checkpoint import load_model  # noqa: E402
from chunkformer.decoding.ctc_search import greedy_search  # noqa: E402
from chunkformer.decoding.metrics import phrase_count, phrase_words  # noqa: E402
from chunkformer.decoding.scoring import units  # noqa: E402
from chunkformer.frontend import load_features  # noqa: E402
from chunkformer.model.masked_batch import Context  # noqa: E402

_INF = 1e9
BONUSES = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0)


@dataclass(frozen=True)
class Lattice:
    """The CTC states of P phrases side by side: ``labels`` (P, S) token per state (``y1 b y2 b ... yL``, blank
    padding after the phrase), ``skip`` (P, S) where a state may be entered from two back (the blank between two
    different tokens skipped), ``last`` (P,) each phrase's final state."""

    labels: np.ndarray
    skip: np.ndarray
    last: np.ndarray

    @classmethod
    def of(cls, phrases: Sequence[Sequence[int]], blank: int = 0) -> Lattice:
        states = 2 * max(map(len, phrases)) - 1
        labels = np.full((len(phrases), states), blank, dtype=np.int64)
        skip = np.zeros((len(phrases), states), dtype=bool)
        for i, ids in enumerate(phrases):
            labels[i, 0:2 * len(ids):2] = ids
            skip[i, 2:2 * len(ids):2] = [a != b for a, b in zip(ids[1:], ids[:-1], strict=True)]
        return cls(labels, skip, np.array([2 * len(ids) - 2 for ids in phrases]))


def deficits(log_probs: np.ndarray, lat: Lattice) -> np.ndarray:
    """(P,) the smallest cost of each phrase over every span and alignment of the (T, V) ``log_probs``, the cost
    of a frame being its best log-prob minus the log-prob of the label the alignment puts there."""
    cost = log_probs.max(axis=1, keepdims=True) - log_probs
    rows = np.arange(len(lat.last))
    prev = np.full(lat.labels.shape, _INF)
    best = np.full(len(rows), _INF)
    for t in range(len(cost)):
        came = prev.copy()
        came[:, 1:] = np.minimum(came[:, 1:], prev[:, :-1])
        came[:, 2:] = np.where(lat.skip[:, 2:], np.minimum(came[:, 2:], prev[:, :-2]), came[:, 2:])
        came[:, 0] = 0.0  # a span may start at any frame (staying costs more than restarting: costs are >= 0)
        prev = cost[t][lat.labels] + came
        best = np.minimum(best, prev[rows, lat.last])
    return best


@dataclass(frozen=True)
class Scored:
    """One utterance: reference and greedy words, and the deficit of every catalogue phrase."""

    ref: tuple[str, ...]
    greedy: tuple[str, ...]
    deficit: np.ndarray


def score_sets(model_path: str, sets: dict[str, list[Utt]], phrases: Sequence[str], ctx: Context
               ) -> dict[str, list[Scored]]:
    """Every utterance of ``sets`` scored against ``phrases`` (masked batches of 32)."""
    loaded = load_model(model_path)
    lat = Lattice.of([loaded.tokenizer.encode(p) for p in phrases])
    out: dict[str, list[Scored]] = {}
    with torch.inference_mode():
        for name, utts in sets.items():
            out[name] = []
            for i in range(0, len(utts), 32):
                batch = utts[i:i + 32]
                for u, lp in zip(batch, loaded.model.eval().ctc_log_probs([load_features(u.wav) for u in batch],
                                                                          ctx), strict=True):
                    text = loaded.tokenizer.decode(greedy_search(lp))
                    out[name].append(Scored(units(u.ref), units(text), deficits(lp.float().numpy(), lat)))
    return out


def curve(scored: list[Scored], phrases: Sequence[str], held: frozenset[str], bonuses: Sequence[float],
          lengths: frozenset[int] | None = None) -> list[dict]:
    """Per bonus: recall of the held-out occurrences, false spots and the WER-change estimate (module docstring);
    ``lengths``: only phrases of these syllable counts."""
    words = [phrase_words(p) for p in phrases]
    use = [lengths is None or len(w) in lengths for w in words]
    pos: list[tuple[bool, float]] = []  # (greedy has it, per-token deficit) per held-out occurrence
    neg: list[tuple[float, int]] = []  # (per-token deficit, words) per phrase absent from a no-phrase utterance
    neg_words = 0
    for s in scored:
        counts = [phrase_count(s.ref, w) for w in words]
        if not any(counts):
            neg_words += len(s.ref)
            neg += [(s.deficit[i] / len(w), len(w)) for i, w in enumerate(words)
                    if use[i] and not phrase_count(s.greedy, w)]
        for i, n in enumerate(counts):
            if n and use[i] and phrases[i] in held:
                pos += [(phrase_count(s.greedy, words[i]) >= n, s.deficit[i] / len(words[i]))] * n
    has, pd = np.array([p[0] for p in pos], dtype=bool), np.array([p[1] for p in pos])
    nd, nl = np.array([n[0] for n in neg]), np.array([n[1] for n in neg])
    return [{"bonus": b, "occurrences": len(pos), "recall_pct": round(100 * float(np.mean(has | (pd < b))), 1)
             if len(pos) else None, "false_spots": int((nd < b).sum()),
             "wer_change_points": round(100 * float(nl[nd < b].sum()) / max(neg_words, 1), 2)} for b in bonuses]


def table(rows: dict[str, list[dict]]) -> str:
    """Markdown: one row per bonus, recall / false spots / WER change per group."""
    names = list(rows)
    lines = ["| bonus per token | " + " | ".join(f"{n}: recall %, false spots, WER change" for n in names) + " |",
             "|---|" + "---|" * len(names)]
    for i, b in enumerate(rows[names[0]]):
        lines.append(f"| {b['bonus']:g} | " + " | ".join(
            f"{rows[n][i]['recall_pct']}, {rows[n][i]['false_spots']}, +{rows[n][i]['wer_change_points']:.2f}"
            for n in names) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="egs/callbot/demo/finetuned")
    p.add_argument("--corpus", type=Path, default=Path("data/demo_corpus"))
    p.add_argument("--context", default=str(Context.DEFAULT))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--by-length", action="store_true", help="also the test curve per phrase syllable count")
    p.add_argument("--json", type=Path, help="write the curves here")
    a = p.parse_args(argv)
    C.setup_torch(a.threads)
    cat = build_catalogue(reference_texts(a.corpus))
    scored = score_sets(a.model, read_sets(a.corpus, DOMAINS), cat.phrases, Context.parse(a.context))
    held = frozenset(cat.held_out)
    pooled = {"val": [s for n, v in scored.items() if n.startswith("val/") for s in v],
              "test": [s for n, v in scored.items() if not n.startswith("val/") for s in v]}
    rows = {g: curve(v, cat.phrases, held, BONUSES) for g, v in pooled.items()}
    if a.by_length:
        for n in sorted({len(phrase_words(x)) for x in cat.held_out}):
            rows[f"test, {n} syllable(s)"] = curve(pooled["test"], cat.phrases, held, BONUSES, frozenset({n}))
    ok = [r["bonus"] for r in rows["val"] if r["wer_change_points"] <= 0.3]
    pick = max(ok) if ok else min(BONUSES)
    got = next(r for r in rows["test"] if r["bonus"] == pick)
    print(table(rows))
    print(f"\nlargest bonus within +0.3 points on val: {pick:g} → test recall {got['recall_pct']} %, "
          f"WER change +{got['wer_change_points']:.2f} (estimate)")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"model": a.model, "val_choice": pick, "curves": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
