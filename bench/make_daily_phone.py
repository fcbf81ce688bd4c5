"""An extra train domain for a data-mix experiment: everyday and daily-life sentences over the phone line.

The demo's fine-tune hears the phone line only on call-bot patterns (telephony, conversation). This writes a
corpus list ``<out-dir>/list.tsv`` (``wav<TAB>txt``, stage 0's TSV format) of ``--num`` sentences drawn (seeded)
from the pretraining's everyday and daily-life generators (``local/general_text.py``, with the pretraining's
arguments: no call-bot pattern, no held-out slot value), spoken by training voices (``local/tts.py``) and passed
through the telephony domain's channel (``make_demo_corpus.speak``, ``phone_line``: echo, line noise at 5-15 dB, 8 kHz
G.711). Add it to a copy of ``egs/callbot/conf/demo_data.yaml`` as a train source (e.g. ``domain:
daily_phone``, ``weight: 0.3``, ``aug: [specaugment, speed_perturb]``) and run stages 0-5 in a scratch clone.
docs/BENCHMARKS.md ("Experiment: everyday sentences over the phone line") has what it gave (two seeds)::

    PYTHONPATH=. .venv/bin/python bench/make_daily_phone.py --out-dir data/daily_phone/train --num 3000

About a minute on 2 cores for 3 000 sentences (2.9 h of audio). Same arguments, same bytes.
"""

from __future__ import annotations

import argparse
import sys
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "local"))
import general_text as gt  # noqa: E402
import make_general_corpus as mgc  # noqa: E402
from make_demo_corpus import speak  # noqa: E402
from tts import dither  # noqa: E402

ORIGINS = ("generated:daily", "generated:everyday")
PRETRAINING_ARGS = ["--num-everyday", "15000", "--num-numbers", "5000", "--num-daily", "10000"]  # pretrain_demo.sh


def render(job: tuple[Path, int, str, int]) -> tuple[str, float]:
    """Sentence ``i`` spoken as a telephony training turn (``make_demo_corpus.speak``: training voices, the
    domain's rates, its phone line) into ``out/wavs/``; (relative path, seconds)."""
    out, i, text, seed = job
    rng = np.random.default_rng([seed, i])
    x, rate = speak("telephony", "train", text, rng)
    rel = f"wavs/daily_phone-{i:05d}.wav"
    sf.write(out / rel, dither(x, rng), rate, subtype="PCM_16")
    return rel, len(x) / rate


def sentences(num: int, seed: int) -> list[str]:
    """``num`` distinct sentences of the pretraining's everyday and daily-life material, drawn with ``seed``."""
    a = mgc.parse_args(["--out-dir", "unused", *PRETRAINING_ARGS])
    train = mgc.build_text(a, gt.read_test_tsv(a.test_tsv))[0]["train"]
    pool = sorted({t for o, t in train if o in ORIGINS})
    if num > len(pool):
        raise SystemExit(f"make_daily_phone: only {len(pool)} everyday/daily-life sentences, asked for {num}")
    return [pool[i] for i in np.random.default_rng(seed).choice(len(pool), size=num, replace=False)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--num", type=int, default=3000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--jobs", type=int, default=2)
    a = p.parse_args(argv)
    texts = sentences(a.num, a.seed)
    (a.out_dir / "wavs").mkdir(parents=True, exist_ok=True)
    with Pool(a.jobs) as pool:
        rows = pool.map(render, [(a.out_dir, i, t, a.seed) for i, t in enumerate(texts)], chunksize=20)
    lines = "".join(f"{rel}\t{t}\n" for (rel, _), t in zip(rows, texts, strict=True))
    (a.out_dir / "list.tsv").write_text("wav\ttxt\n" + lines, encoding="utf-8")
    print(f"make_daily_phone: {len(rows)} utterances, {sum(s for _, s in rows) / 3600:.2f} h in {a.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
