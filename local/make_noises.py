#!/usr/bin/env python3
"""Generates a noise set for additive-noise augmentation: 16 kHz wav files of white, pink, babble and hum.

    python local/make_noises.py --out-dir data/augment/noises [--kinds white,pink,babble,hum] [--per-kind 4] \
        [--seconds 20] [--seed 42] [--babble-from data/manifests/train_cuts.jsonl.gz]

Babble is a sum of training utterances (``--babble-from``: any lhotse cuts manifest). Stage 2 runs the same
code when data.yaml names no ``noise_dir``. Seeded; skipped when the set exists with the same parameters.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lhotse import load_manifest

from chunkformer.data import banks
from chunkformer.utils.cli import error
from chunkformer.utils.io import file_digest
from chunkformer.utils.logs import setup_logger


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--kinds", default="white,pink,babble,hum")
    p.add_argument("--per-kind", type=int, default=4)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--babble-from", type=Path, default=None, help="lhotse cuts manifest of speech (for babble)")
    a = p.parse_args(argv)
    setup_logger(None)
    kinds = [k.strip() for k in a.kinds.split(",") if k.strip()]
    cuts, key = [], None
    if "babble" in kinds:
        if a.babble_from is None or not a.babble_from.is_file():
            return error("babble noise needs --babble-from CUTS_MANIFEST (speech to sum)")
        cuts = list(load_manifest(a.babble_from))
        key = f"{a.babble_from.resolve()}:{file_digest(a.babble_from)}"
    params = banks.noise_params(kinds, a.per_kind, a.seconds, a.seed, key)
    if banks.bank_is_current(a.out_dir, params) is not None:
        print(f"make_noises: already done ({a.out_dir}), nothing to do")
        return 0
    try:
        srcs = banks.babble_sources_from(cuts, 20, a.seed) if cuts else None
        files = banks.make_noise_bank(a.out_dir, kinds, a.per_kind, a.seconds, a.seed, srcs, key)
    except ValueError as e:
        return error(e)
    print(f"make_noises: wrote {len(files)} noise files to {a.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
