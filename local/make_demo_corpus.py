#!/usr/bin/env python3
"""Synthetic Vietnamese call-bot corpus for the demo: espeak-ng speech of call-bot sentences in three domains,
written as official decode lists (``<out>/<domain>/<split>/list.tsv``: ``wav<TAB>txt``, wav paths relative to
the list) so it goes through stage 0 like real data.

- reading: clean 16 kHz, slow speech (130–160 words/min);
- conversation: fast speech (170–210), fillers ("à", "ờ", "ừm", "dạ"), pauses, mild room echo and noise;
- telephony: 8 kHz phone line: echo (RT60 50–150 ms), line noise at SNR 5–15 dB, 300–3400 Hz, G.711 μ-law.

Splits, so that results are judged on Vietnamese the models never heard, not on memorised templates:

- ``train``: training patterns (``vi_callbot_text.py``) with training slot values only;
- ``val``: validation patterns (``vi_callbot_heldout.py``), any slot values;
- ``test``: test patterns (``vi_callbot_heldout.py``, disjoint from val), any slot values: UNSEEN PATTERNS;
- ``test_seen``: training patterns with held-out slot values only: seen patterns, unseen names/places/numbers.

Speakers: voices ``vi``, ``vi-vn-x-central``, ``vi-vn-x-south`` × espeak-ng variants (``local/tts.py``);
train and val use its TRAIN_VARIANTS, test and test_seen its HELDOUT_VARIANTS; pitch 30–70. No base sentence
(without fillers) crosses splits or repeats within a held-out split across domains. Everything is seeded per
utterance, so the same arguments give the same texts and the same audio bytes.

    python local/make_demo_corpus.py --out-dir data/demo_corpus --seed 42 \
        --num-train reading=1200,telephony=2000,conversation=500 --num-val 60 --num-test 150 --num-test-seen 150
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).parent))
from tts import HELDOUT_VARIANTS, TRAIN_VARIANTS, dither, espeak, random_speaker  # noqa: E402
from vi_callbot_heldout import TEST_PATTERNS, VAL_PATTERNS  # noqa: E402
from vi_callbot_text import TEXT_VERSION, TRAIN_PATTERNS, Pattern, Sentence, distinct_sentences  # noqa: E402

from chunkformer.audio import resample  # noqa: E402
from chunkformer.data.augment import add_noise, apply_rir, make_noise, make_rir, telephone_channel  # noqa: E402

DOMAINS = ("reading", "conversation", "telephony")
# Held-out splits first: their sentences are reserved before train draws.
SPLITS = ("test", "val", "test_seen", "train")
# Which patterns each split uses, and which side of the held-out slot values.
SPLIT_SOURCES: dict[str, tuple[Sequence[Pattern], str]] = {
    "test": (TEST_PATTERNS, "any"), "val": (VAL_PATTERNS, "any"),
    "test_seen": (TRAIN_PATTERNS, "heldout"), "train": (TRAIN_PATTERNS, "train"),
}
HELDOUT_SPEAKER_SPLITS = frozenset({"test", "test_seen"})
# Training counts follow the fine-tune's mix (telephony first): with 440 telephony sentences the fine-tuned model
# plateaued at ~51 % telephony val WER, too few for a model to learn the channel on unseen patterns.
DEFAULT_COUNTS = {"train": "reading=1200,telephony=2000,conversation=500", "val": "60", "test": "150",
                  "test_seen": "150"}
SPEED = {"reading": (130, 160), "conversation": (170, 210), "telephony": (140, 200)}


def speaker_variants(split: str) -> tuple[str, ...]:
    """espeak-ng variants a split is spoken with: test sets hear only speakers no training audio has."""
    return HELDOUT_VARIANTS if split in HELDOUT_SPEAKER_SPLITS else TRAIN_VARIANTS


def phone_line(x: np.ndarray, rate: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """The telephony domain's channel: echo (RT60 50-150 ms), line noise at SNR 5-15 dB, then the 8 kHz
    300-3400 Hz G.711 mu-law line; returns (8 kHz audio, 8000)."""
    x = apply_rir(x, make_rir(float(rng.uniform(0.05, 0.15)), rate, rng))
    kind = str(rng.choice(["white", "pink", "hum"]))
    x = add_noise(x, make_noise(kind, len(x), rate, rng), float(rng.uniform(5, 15)))
    return telephone_channel(x / max(1.0, float(np.abs(x).max())), rate, "mulaw", rng)


def phone_copies(waves: Sequence[tuple[np.ndarray, int]], seed: int = 7) -> list[tuple[np.ndarray, int]]:
    """Sentence ``i`` of a hand-written test set over :func:`phone_line`, seeded by ``[seed, i]``: each sentence
    gets its own echo, noise and SNR, the same on every run (tests and benches of hand-written sentences)."""
    return [phone_line(x, r, np.random.default_rng([seed, i])) for i, (x, r) in enumerate(waves)]


def render(job: tuple[str, str, int, str, int]) -> tuple[str, float]:
    """Synthesizes one utterance into its wav file; returns (relative path, seconds)."""
    domain, split, idx, text, seed = job
    rng = np.random.default_rng([seed, DOMAINS.index(domain), SPLITS.index(split), idx])
    x, rate = speak(domain, split, text, rng)
    rel = f"wavs/{domain}-{split}-{idx:05d}.wav"
    sf.write(OUT / domain / split / rel, dither(x, rng), rate, subtype="PCM_16")
    return rel, len(x) / rate


def speak(domain: str, split: str, text: str, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """``text`` as ``domain`` sounds in ``split`` (its speakers, rate, lead silence and channel), peak-normalised
    to a random level, before dither: (float32 samples, rate; 8 kHz for telephony, else 16 kHz)."""
    voice, _, pitch = random_speaker(rng, speaker_variants(split))  # the domain sets the rate, not the speaker
    lo, hi = SPEED[domain]
    x, rate = espeak(text, voice, int(rng.integers(lo, hi + 1)), pitch,
                     int(rng.integers(0, 4)) if domain == "conversation" else 0)
    x = resample(x, rate, 16000)
    rate = 16000
    # training lead silence from 0: a call-bot turn cut by a VAD may start on its first syllable. A model that only
    # heard 50-400 ms of lead silence loses first words there (measured with the general pretrained checkpoint on
    # the 30 hand-written sentences of tests/test_handwritten_callbot.py: 33.1 % WER from sample 0, 28.1 % after
    # 200 ms). Held-out sets keep 50-400 ms, as the pretraining corpus, so their numbers stay comparable.
    lead, trail = rng.uniform((0.0 if split == "train" else 0.05, 0.05), 0.4)
    x = np.concatenate([np.zeros(int(lead * rate)), x, np.zeros(int(trail * rate))]).astype(np.float32)
    if domain == "conversation":
        if rng.random() < 0.6:
            x = apply_rir(x, make_rir(float(rng.uniform(0.05, 0.1)), rate, rng))
        x = add_noise(x, make_noise(str(rng.choice(["white", "pink"])), len(x), rate, rng), float(rng.uniform(20, 30)))
    elif domain == "telephony":
        x, rate = phone_line(x, rate, rng)
    return x / max(1e-6, float(np.abs(x).max())) * float(rng.uniform(0.3, 0.9)), rate


OUT = Path(".")


def _init(out: Path) -> None:
    global OUT
    OUT = out


def parse_counts(spec: str) -> dict[str, int]:
    """``reading=2600,telephony=440`` or a single number for every domain."""
    if "=" not in spec:
        return dict.fromkeys(DOMAINS, int(spec))
    counts = dict.fromkeys(DOMAINS, 0)
    for part in spec.split(","):
        name, _, n = part.partition("=")
        if name not in DOMAINS:
            raise SystemExit(f"unknown domain {name!r} in {spec!r}; domains: {', '.join(DOMAINS)}")
        counts[name] = int(n)
    return counts


def draw_texts(counts: dict[str, dict[str, int]], seed: int) -> dict[tuple[str, str], list[Sentence]]:
    """The sentences of every (domain, split), held-out splits first. A held-out base sentence (without fillers)
    is reserved across all domains, so no train sentence of any domain repeats a val/test one, even with other
    fillers. A split missing from ``counts`` gets no sentences."""
    lists: dict[tuple[str, str], list[Sentence]] = {}
    used: set[str] = set()
    for split in SPLITS:
        patterns, part = SPLIT_SOURCES[split]
        for d_i, domain in enumerate(DOMAINS):
            style = "conversation" if domain == "conversation" else "reading"
            sents = distinct_sentences(counts.get(split, {}).get(domain, 0),
                                       seed * 1000 + SPLITS.index(split) * 10 + d_i, patterns, style, part,
                                       exclude=used)
            if split != "train":
                used.update(s.base for s in sents)
            lists[(domain, split)] = sents
    return lists


def patterns_missing_from_train(lists: dict[tuple[str, str], list[Sentence]]) -> dict[str, list[str]]:
    """Training patterns (ids) with no train sentence, per domain that has train sentences at all. Patterns are
    drawn in rounds, so a domain with at least ``len(TRAIN_PATTERNS)`` train sentences misses none."""
    out = {}
    for (domain, split), sents in lists.items():
        missing = sorted({p.id for p in TRAIN_PATTERNS} - {s.pattern for s in sents})
        if split == "train" and sents and missing:
            out[domain] = missing
    return out


def corpus_key(counts: dict[str, dict[str, int]], seed: int) -> str:
    """What the corpus depends on: a different key rebuilds it (``.done`` holds the key of the last build)."""
    spec = [counts, seed, TEXT_VERSION, TRAIN_VARIANTS, HELDOUT_VARIANTS]
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


def synthesize(lists: dict[tuple[str, str], list[Sentence]], out_dir: Path, seed: int,
               jobs: int) -> dict[tuple[str, str], float]:
    """Renders every sentence and writes the lists; returns seconds of audio per (domain, split)."""
    work = []
    for (domain, split), sents in lists.items():
        (out_dir / domain / split / "wavs").mkdir(parents=True, exist_ok=True)
        work += [(domain, split, i, s.text, seed) for i, s in enumerate(sents)]
    seconds = dict.fromkeys(lists, 0.0)
    rels: dict[tuple[str, str], list[str]] = {k: [] for k in lists}
    with Pool(jobs, initializer=_init, initargs=(out_dir,)) as pool:
        for job, (rel, dur) in zip(work, tqdm(pool.imap(render, work, chunksize=8), total=len(work),
                                              desc="synthesize", unit="utt")):
            rels[(job[0], job[1])].append(rel)
            seconds[(job[0], job[1])] += dur
    for (domain, split), sents in lists.items():
        lines = ["wav\ttxt"] + [f"{r}\t{s.text}" for r, s in zip(rels[(domain, split)], sents)]
        (out_dir / domain / split / "list.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--num-train", default=DEFAULT_COUNTS["train"])
    p.add_argument("--num-val", default=DEFAULT_COUNTS["val"])
    p.add_argument("--num-test", default=DEFAULT_COUNTS["test"])
    p.add_argument("--num-test-seen", default=None, help="default: the same as --num-test")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--jobs", type=int, default=2)
    a = p.parse_args()
    counts = {"train": parse_counts(a.num_train), "val": parse_counts(a.num_val), "test": parse_counts(a.num_test),
              "test_seen": parse_counts(a.num_test if a.num_test_seen is None else a.num_test_seen)}
    key = corpus_key(counts, a.seed)
    done = a.out_dir / ".done"
    if done.is_file() and done.read_text().strip() == key:
        print(f"demo corpus: already done ({a.out_dir}, same arguments), nothing to do", file=sys.stderr)
        return
    t0 = time.time()
    lists = draw_texts(counts, a.seed)
    for domain, missing in patterns_missing_from_train(lists).items():
        print(f"demo corpus: note: {domain} train has no sentence of {len(missing)} of the {len(TRAIN_PATTERNS)} "
              f"training patterns (--num-train {domain}={len(TRAIN_PATTERNS)} or more covers all)", file=sys.stderr)
    seconds = synthesize(lists, a.out_dir, a.seed, a.jobs)
    wall = time.time() - t0
    for domain in DOMAINS:
        print(f"demo corpus: {domain}: " + ", ".join(f"{split} {len(lists[(domain, split)])} utt "
                                                       f"{seconds[(domain, split)] / 3600:.2f} h" for split in SPLITS),
              file=sys.stderr)
    total = sum(seconds.values())
    print(f"demo corpus: {total / 3600:.2f} h, {sum(map(len, lists.values()))} utterances in {wall:.0f} s "
          f"({total / max(wall, 1e-9):.0f}x real time)", file=sys.stderr)
    done.write_text(key + "\n")


if __name__ == "__main__":
    main()
