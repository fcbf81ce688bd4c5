#!/usr/bin/env python3
"""Synthetic Vietnamese call-bot corpus for the demo: espeak-ng speech from a call-bot sentence generator in
three domains, written as official decode lists (``<out>/<domain>/<split>/list.tsv``: ``wav<TAB>txt``, wav
paths relative to the list) so it goes through stage 0 like real data.

- reading: clean 16 kHz, slow speech (130–160 words/min);
- conversation: fast speech (170–210), fillers ("à", "ờ", "ừm", "dạ"), pauses, mild room echo and noise;
- telephony: 8 kHz phone line: echo (RT60 50–150 ms), line noise at SNR 5–15 dB, 300–3400 Hz, G.711 μ-law.

Voices ``vi``, ``vi-vn-x-central``, ``vi-vn-x-south``, pitch 30–70. Sentences never cross splits. Everything
is seeded per utterance, so the same arguments give the same texts and the same audio bytes.

    python local/make_demo_corpus.py --out-dir data/demo_corpus --seed 42 \
        --num-train reading=2600,telephony=440,conversation=110 --num-val 60 --num-test 150
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import subprocess
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).parent))
from vi_callbot_text import NUM_TEMPLATES, TEXT_VERSION, Sentence, distinct_sentences  # noqa: E402

from chunkformer.audio import resample  # noqa: E402
from chunkformer.data.augment import add_noise, apply_rir, make_noise, make_rir, telephone_channel  # noqa: E402

DOMAINS = ("reading", "conversation", "telephony")
SPLITS = ("test", "val", "train")  # test first: its sentences are reserved before the others draw
VOICES = ("vi", "vi-vn-x-central", "vi-vn-x-south")
DEFAULT_COUNTS = {"train": "reading=2600,telephony=440,conversation=110", "val": "60", "test": "150"}
SPEED = {"reading": (130, 160), "conversation": (170, 210), "telephony": (140, 200)}


def espeak(text: str, voice: str, speed: int, pitch: int, gap: int) -> tuple[np.ndarray, int]:
    out = subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-g", str(gap), "--stdout",
                          text], capture_output=True, check=True).stdout
    x, rate = sf.read(io.BytesIO(out), dtype="float32")
    return x, rate


def render(job: tuple[str, str, int, str, int]) -> tuple[str, float]:
    """Synthesizes one utterance into its wav file; returns (relative path, seconds)."""
    domain, split, idx, text, seed = job
    rng = np.random.default_rng([seed, DOMAINS.index(domain), SPLITS.index(split), idx])
    lo, hi = SPEED[domain]
    voice = VOICES[int(rng.integers(len(VOICES)))]
    x, rate = espeak(text, voice, int(rng.integers(lo, hi + 1)), int(rng.integers(30, 71)),
                     int(rng.integers(0, 4)) if domain == "conversation" else 0)
    x = resample(x, rate, 16000)
    rate = 16000
    lead, trail = rng.uniform(0.05, 0.4, size=2)
    x = np.concatenate([np.zeros(int(lead * rate)), x, np.zeros(int(trail * rate))]).astype(np.float32)
    if domain == "conversation":
        if rng.random() < 0.6:
            x = apply_rir(x, make_rir(float(rng.uniform(0.05, 0.1)), rate, rng))
        x = add_noise(x, make_noise(str(rng.choice(["white", "pink"])), len(x), rate, rng), float(rng.uniform(20, 30)))
    elif domain == "telephony":
        x = apply_rir(x, make_rir(float(rng.uniform(0.05, 0.15)), rate, rng))
        kind = str(rng.choice(["white", "pink", "hum"]))
        x = add_noise(x, make_noise(kind, len(x), rate, rng), float(rng.uniform(5, 15)))
        x, rate = telephone_channel(x / max(1.0, float(np.abs(x).max())), rate, "mulaw", rng)
    x = x / max(1e-6, float(np.abs(x).max())) * float(rng.uniform(0.3, 0.9))
    rel = f"wavs/{domain}-{split}-{idx:05d}.wav"
    sf.write(OUT / domain / split / rel, x, rate, subtype="PCM_16")
    return rel, len(x) / rate


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
    """The sentences of every (domain, split), test first. A held-out base sentence (without fillers) is reserved
    across all domains, so no train sentence of any domain repeats a val/test one, even with other fillers."""
    lists: dict[tuple[str, str], list[Sentence]] = {}
    used: set[str] = set()
    for split in SPLITS:
        for d_i, domain in enumerate(DOMAINS):
            style = "conversation" if domain == "conversation" else "reading"
            sents = distinct_sentences(counts[split][domain], seed * 1000 + SPLITS.index(split) * 10 + d_i, style,
                                       exclude=used)
            if split != "train":
                used.update(s.base for s in sents)
            lists[(domain, split)] = sents
    return lists


def templates_missing_from_train(lists: dict[tuple[str, str], list[Sentence]]) -> dict[str, list[int]]:
    """Templates (by index) with no train sentence, per domain that has train sentences at all."""
    out = {}
    for (domain, split), sents in lists.items():
        missing = sorted(set(range(NUM_TEMPLATES)) - {s.template for s in sents})
        if split == "train" and sents and missing:
            out[domain] = missing
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--num-train", default=DEFAULT_COUNTS["train"])
    p.add_argument("--num-val", default=DEFAULT_COUNTS["val"])
    p.add_argument("--num-test", default=DEFAULT_COUNTS["test"])
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--jobs", type=int, default=2)
    a = p.parse_args()
    counts = {"train": parse_counts(a.num_train), "val": parse_counts(a.num_val), "test": parse_counts(a.num_test)}
    key = hashlib.sha256(json.dumps([counts, a.seed, TEXT_VERSION], sort_keys=True).encode()).hexdigest()[:16]
    done = a.out_dir / ".done"
    if done.is_file() and done.read_text().strip() == key:
        print(f"demo corpus: already done ({a.out_dir}, same arguments), nothing to do", file=sys.stderr)
        return
    t0 = time.time()
    lists = draw_texts(counts, a.seed)
    jobs = []
    for (domain, split), sents in lists.items():
        (a.out_dir / domain / split / "wavs").mkdir(parents=True, exist_ok=True)
        jobs += [(domain, split, i, s.text, a.seed) for i, s in enumerate(sents)]
    for domain, missing in templates_missing_from_train(lists).items():
        print(f"demo corpus: warning: {domain} train has no sentence of template(s) {missing} "
              f"(raise --num-train {domain}=N to at least {NUM_TEMPLATES})", file=sys.stderr)
    seconds: dict[str, float] = dict.fromkeys(DOMAINS, 0.0)
    rels: dict[tuple[str, str], list[str]] = {k: [] for k in lists}
    with Pool(a.jobs, initializer=_init, initargs=(a.out_dir,)) as pool:
        for job, (rel, dur) in zip(jobs, tqdm(pool.imap(render, jobs, chunksize=8), total=len(jobs),
                                             desc="synthesize", unit="utt")):
            rels[(job[0], job[1])].append(rel)
            seconds[job[0]] += dur
    for (domain, split), sents in lists.items():
        lines = ["wav\ttxt"] + [f"{r}\t{s.text}" for r, s in zip(rels[(domain, split)], sents)]
        (a.out_dir / domain / split / "list.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    wall = time.time() - t0
    total = sum(seconds.values())
    print("demo corpus: " + ", ".join(f"{d} {s / 3600:.2f} h" for d, s in seconds.items())
          + f"; {len(jobs)} utterances in {wall:.0f} s ({total / max(wall, 1e-9):.0f}x real time)", file=sys.stderr)
    done.write_text(key + "\n")


if __name__ == "__main__":
    main()
