#!/usr/bin/env python3
"""General Vietnamese speech for pretraining the demo checkpoint from scratch: espeak-ng reading real prose from
Debian packages (LibreOffice help pages, man pages, gettext catalogs; see ``local/general_text.py``) plus
generated vocabulary-coverage material (training split only), written as official decode lists
``<out>/{train,val,test}/list.tsv`` (``wav<TAB>txt``, wav paths relative to the list) + 16 kHz PCM16 wavs.

- train: every kept sentence of the training documents (val/test sentences removed) + everyday sentences,
  spoken-number phrases and syllable sequences until every vocab syllable occurs ``--min-count`` times;
  voices x TRAIN_VARIANTS (``local/tts.py``);
- val: ``--num-val`` sentences of validation documents that no training document contains; TRAIN_VARIANTS;
- test: the committed ``egs/callbot/demo/general_test.tsv`` (test documents only), HELDOUT_VARIANTS.

Seeded per utterance: the same arguments give the same bytes; a ``.done`` marker makes a rerun a no-op (a real
rerun first deletes the split's old wavs: do not rerun into a folder a running stage 0/1 is reading).
Defaults make ~30 k training utterances, ~28 h (all ~18 k extracted sentences ~18 h, K=10 coverage ~6 h, everyday
and number material ~4 h) in ~5 min on 2 cores; ``--natural-hours`` caps the extracted part.

    python local/make_general_corpus.py --out-dir data/general_corpus               # everything (~5 min)
    python local/make_general_corpus.py --out-dir data/general_test --test-only     # the committed test set only
    python local/make_general_corpus.py --out-dir /tmp/g --write-test-set 300       # (re)pick the committed file
    python local/make_general_corpus.py --out-dir /tmp/g --text-out data/lm_text/general.txt  # text only, for an LM
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import time
from collections import Counter
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).parent))
import general_text as gt  # noqa: E402
from tts import HELDOUT_VARIANTS, TRAIN_VARIANTS, dither, espeak, random_speaker  # noqa: E402
from vi_callbot_text import HELD_VALUES  # noqa: E402

from chunkformer.audio import resample  # noqa: E402
from chunkformer.utils.io import atomic_write_text  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPLITS = ("train", "val", "test")
RATE = 16000


def render(job: tuple[str, int, str, int, Path]) -> tuple[str, float, str]:
    """Synthesizes one utterance into ``<split dir>/wavs/``; returns (relative path, seconds, voice)."""
    split, idx, text, seed, split_dir = job
    rng = np.random.default_rng([seed, SPLITS.index(split), idx, gt.stable_hash(text) % 2**32])
    voice, speed, pitch = random_speaker(rng, HELDOUT_VARIANTS if split == "test" else TRAIN_VARIANTS)
    x, rate = espeak(text, voice, speed, pitch)
    x = resample(x, rate, RATE)
    lead, trail = rng.uniform(0.05, 0.4, size=2)
    x = np.concatenate([np.zeros(int(lead * RATE)), x, np.zeros(int(trail * RATE))])
    x = (x / max(1e-6, float(np.abs(x).max())) * float(rng.uniform(0.3, 0.9))).astype(np.float32)
    rel = f"wavs/{split}-{idx:06d}.wav"
    sf.write(split_dir / rel, dither(x, rng), RATE, subtype="PCM_16")
    return rel, len(x) / RATE, f"{voice} s{speed} p{pitch}"


# Sub-lists for the pretraining curriculum (local/pretrain_demo.sh), by the origin of a line: the help pages alone
# (phase 1); the random coverage sequences apart from the rest, so phase 2 can give them a share of their own;
# the extracted prose and the generated everyday sentences and numbers (phase 3); the daily-life sentences
# (phase 4; kept out of the earlier lists, which stay as they were). The demo's fine-tune replays a little prose.
_SPECIAL = (gt.COVERAGE_ORIGIN, gt.DAILY_ORIGIN)
SUBLISTS = {"help": lambda o: o.startswith("help:"), "natural": lambda o: o not in _SPECIAL,
            "coverage": lambda o: o == gt.COVERAGE_ORIGIN, "prose": lambda o: not o.startswith("generated:"),
            "everyday": lambda o: o.startswith("generated:") and o not in _SPECIAL,
            "daily": lambda o: o == gt.DAILY_ORIGIN}


def synthesize(lists: dict[str, list[tuple[str, str]]], out: Path, seed: int, jobs: int) -> dict[str, float]:
    """Writes wavs + ``list.tsv`` (and ``sources.tsv``: origin and speaker of each line) per split; returns
    seconds of audio per split."""
    work = []
    for split, rows in lists.items():
        if (out / split / "wavs").is_dir():  # a previous run's wavs: fewer lines now would leave strays
            shutil.rmtree(out / split / "wavs")
        (out / split / "wavs").mkdir(parents=True, exist_ok=True)
        work += [(split, i, txt, seed, out / split) for i, (_, txt) in enumerate(rows)]
    results = []
    with Pool(jobs) as pool:
        results = list(tqdm(pool.imap(render, work, chunksize=16), total=len(work), desc="synthesize", unit="utt"))
    seconds = dict.fromkeys(lists, 0.0)
    lines: dict[str, list[str]] = {s: ["wav\ttxt"] for s in lists}
    sources: dict[str, list[str]] = {s: ["wav\tsource\tspeaker"] for s in lists}
    for (split, i, txt, _, _), (rel, dur, speaker) in zip(work, results):
        seconds[split] += dur
        lines[split].append(f"{rel}\t{txt}")
        sources[split].append(f"{rel}\t{lists[split][i][0]}\t{speaker}")
    for split in lists:
        (out / split / "list.tsv").write_text("\n".join(lines[split]) + "\n", encoding="utf-8")
        (out / split / "sources.tsv").write_text("\n".join(sources[split]) + "\n", encoding="utf-8")
        origins = [lists[split][i][0] for (sp, i, *_) in work if sp == split]
        for name, keep in SUBLISTS.items():
            rows = [ln for ln, o in zip(lines[split][1:], origins) if keep(o)]
            (out / split / f"list-{name}.tsv").write_text("\n".join(["wav\ttxt", *rows]) + "\n", encoding="utf-8")
    return seconds


def build_text(a: argparse.Namespace, committed: list[tuple[str, str]]) -> tuple[dict, dict, list]:
    """Extracts (downloading the packages when needed), splits and completes the texts; returns
    ({split: [(origin, text)]}, report, test pool)."""
    vocab = gt.load_vocab(a.vocab)
    docs, versions = gt.all_documents(a.cache_dir)
    drops = gt.DropReport()
    doc_sents = {d.doc_id: gt.document_sentences(d, vocab, drops) for d in docs}
    lists, info, pool = gt.assemble(doc_sents, committed, vocab, num_val=a.num_val, seed=a.seed,
                                    num_everyday=a.num_everyday, num_numbers=a.num_numbers, min_count=a.min_count,
                                    natural_hours=a.natural_hours, num_daily=a.num_daily,
                                    banned_phrases=heldout_callbot_phrases())
    test_docs = {d for d, _ in committed}
    report = {"packages": versions,
              "documents": dict(Counter(f"{d.source}/{gt.split_of(d.doc_id, test_docs)}" for d in docs)),
              "dropped": drops.as_dict(), **info}
    return lists, report, pool


def heldout_callbot_phrases() -> list[str]:
    """The call-bot corpus's held-out slot values of two or more syllables: no pretraining sentence may contain
    one (single syllables are ordinary words: "an", "minh")."""
    return sorted({v for values in HELD_VALUES.values() for v in values if " " in v})


def by_source(rows: list[tuple[str, str]]) -> dict[str, int]:
    """Sentences per origin: help / man / catalog / generated:<kind>."""
    return dict(Counter(o if o.startswith("generated:") else o.split(":")[0] for o, _ in rows).most_common())


def write_lm_text(path: Path, train: list[tuple[str, str]]) -> None:
    """The training sentences an n-gram LM can learn from, one per line (atomically): every origin but the
    random syllable sequences of the coverage material, which are no language."""
    lines = [t for o, t in train if o != gt.COVERAGE_ORIGIN]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(f"{t}\n" for t in lines))
    print(f"general corpus: wrote {len(lines)} training sentences to {path} "
          f"({len(train) - len(lines)} coverage sequences left out)", file=sys.stderr)


def write_test_set(path: Path, pool: list[tuple[str, str]], n: int, seed: int) -> None:
    """Picks the committed general test set from the test documents' sentences."""
    rows = gt.pick_test_set(pool, n, seed)
    path.write_text("doc\ttxt\n" + "".join(f"{d}\t{t}\n" for d, t in rows), encoding="utf-8")
    print(f"general corpus: wrote {len(rows)} test sentences to {path} ({by_source(rows)})", file=sys.stderr)


def check_test_set(rows: list[tuple[str, str]], vocab_path: Path) -> None:
    """Warns about committed test sentences the vocab cannot spell (the vocab changed after they were picked)."""
    vocab = gt.load_vocab(vocab_path)
    bad = [t for _, t in rows if not all(w in vocab for w in t.split())]
    if bad:
        print(f"general corpus: warning: {len(bad)} test sentence(s) have syllables outside {vocab_path}, "
              f"e.g. {bad[0]!r}: re-pick with --write-test-set", file=sys.stderr)


def run_key(a: argparse.Namespace) -> str:
    """Everything the output depends on: arguments, text version, the committed test set, the vocab."""
    parts = [a.test_only, a.num_val, a.num_everyday, a.num_numbers, a.min_count, a.natural_hours, a.seed,
             gt.TEXT_VERSION,
             hashlib.sha256(a.test_tsv.read_bytes()).hexdigest()]
    if not a.test_only:
        parts.append(hashlib.sha256(a.vocab.read_bytes()).hexdigest())
    if a.num_daily:  # appended only when asked, so a corpus made before the option keeps its key
        parts.append(["daily", a.num_daily])
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--cache-dir", type=Path, default=ROOT / "data/general_src",
                   help="downloaded and unpacked Debian packages (kept between runs)")
    p.add_argument("--vocab", type=Path, default=ROOT / "egs/callbot/demo/vocab.txt")
    p.add_argument("--test-tsv", type=Path, default=ROOT / "egs/callbot/demo/general_test.tsv")
    p.add_argument("--test-only", action="store_true", help="synthesize only the committed test set (no download)")
    p.add_argument("--num-val", type=int, default=300)
    p.add_argument("--num-everyday", type=int, default=3000, help="generated everyday sentences (train only)")
    p.add_argument("--num-numbers", type=int, default=1500, help="generated spoken-number phrases (train only)")
    p.add_argument("--num-daily", type=int, default=0,
                   help="generated daily-life sentences (train only, local/daily_text.py; pretraining phase 4)")
    p.add_argument("--min-count", type=int, default=10, help="K: every vocab syllable occurs >= K times in train")
    p.add_argument("--natural-hours", type=float, default=0.0,
                   help="cap on the extracted training text, in estimated hours of audio (default 0: all of it, "
                        "~18 h); generated material comes on top")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--write-test-set", type=int, metavar="N",
                   help="pick N sentences of the test documents into --test-tsv and stop (no synthesis)")
    p.add_argument("--text-out", type=Path, metavar="FILE",
                   help="write the training split's sentences without the coverage sequences (the text of the "
                        "pretraining, for an n-gram LM: local/train_lm.py --text) to FILE and stop (no synthesis)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    t0 = time.time()
    if a.write_test_set:
        committed = gt.read_test_tsv(a.test_tsv) if a.test_tsv.is_file() else []
        _, _, pool = build_text(a, committed)
        write_test_set(a.test_tsv, pool, a.write_test_set, a.seed)
        return 0
    if a.text_out:  # keyed like the corpus: the same arguments, text version, test set and vocab give the same text
        key, key_file = run_key(a), a.text_out.with_name(a.text_out.name + ".key")
        if a.text_out.is_file() and key_file.is_file() and key_file.read_text().strip() == key:
            print(f"general corpus: {a.text_out} already written (same arguments), nothing to do", file=sys.stderr)
            return 0
        write_lm_text(a.text_out, build_text(a, gt.read_test_tsv(a.test_tsv))[0]["train"])
        atomic_write_text(key_file, key + "\n")
        return 0
    key = run_key(a)
    done = a.out_dir / ".done"
    if done.is_file() and done.read_text().strip() == key:
        print(f"general corpus: already done ({a.out_dir}, same arguments), nothing to do", file=sys.stderr)
        return 0
    committed = gt.read_test_tsv(a.test_tsv)
    check_test_set(committed, a.vocab)
    if a.test_only:
        lists, report = {"test": committed}, {}
    else:
        lists, report, _ = build_text(a, committed)
    a.out_dir.mkdir(parents=True, exist_ok=True)
    seconds = synthesize(lists, a.out_dir, a.seed, a.jobs)
    wall = time.time() - t0
    report.update({
        "text_version": gt.TEXT_VERSION, "test_only": a.test_only,
        "sentences": {s: len(r) for s, r in lists.items()},
        "by_source": {s: by_source(r) for s, r in lists.items()},
        "hours": {s: round(v / 3600, 3) for s, v in seconds.items()},
        "voices": {"train_val": list(TRAIN_VARIANTS), "test": list(HELDOUT_VARIANTS)},
        "wall_seconds": round(wall, 1),
    })
    (a.out_dir / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print_summary(report)
    done.write_text(key + "\n")
    return 0


def print_summary(r: dict) -> None:
    """The report's headline figures on stderr."""
    err = sys.stderr
    for s, n in r["sentences"].items():
        print(f"general corpus: {s}: {n} sentences, {r['hours'][s]:.2f} h ({r['by_source'][s]})", file=err)
    if "dropped" in r:
        print(f"general corpus: dropped sentences by reason: {r['dropped']['counts']}", file=err)
        for reason, ex in r["dropped"]["examples"].items():
            print(f"  {reason}: {ex[:2]}", file=err)
        c = r["coverage"]
        print(f"general corpus: every vocab syllable occurs >= {c['min_count']} times in train (K={c['k']}, "
              f"{c['sequences']} coverage sequences)", file=err)
        if r["daily"]["asked"]:
            print(f"general corpus: daily-life sentences: {r['daily']}", file=err)
    print(f"general corpus: {sum(r['hours'].values()):.2f} h in {r['wall_seconds']:.0f} s", file=err)


if __name__ == "__main__":
    sys.exit(main())
