#!/usr/bin/env python3
"""Generates room impulse responses for reverb augmentation (our own generator; no torchaudio needed).

    python local/make_rirs.py --out-dir data/augment/rirs [--num 100] [--rt60 0.05,0.15] [--seed 42]

Each RIR's RT60 is drawn uniformly from ``--rt60`` (seconds); ``rirs.tsv`` lists file, target and measured
RT60 (Schroeder backward integration, :func:`chunkformer.data.augment.measure_rt60`). 16 kHz float wav files.
Stage 2 runs the same code when data.yaml names no ``rir_dir``. Seeded; skipped when already generated.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chunkformer.data import banks
from chunkformer.utils.cli import error


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--num", type=int, default=100)
    p.add_argument("--rt60", default="0.05,0.15", help="lo,hi in seconds")
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args(argv)
    try:
        lo, hi = (float(v) for v in a.rt60.split(","))
        if not 0 < lo <= hi:
            raise ValueError
    except ValueError:
        return error(f"--rt60 must be 'lo,hi' seconds with 0 < lo <= hi, got {a.rt60!r}")
    if banks.bank_is_current(a.out_dir, banks.rir_params(a.num, (lo, hi), a.seed)) is not None:
        print(f"make_rirs: already done ({a.out_dir}), nothing to do")
        return 0
    files = banks.make_rir_bank(a.out_dir, a.num, (lo, hi), a.seed)
    print(f"make_rirs: wrote {len(files)} RIRs to {a.out_dir} (see {a.out_dir / 'rirs.tsv'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
