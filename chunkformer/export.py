"""Export any checkpoint to the official release folder format.

    python -m chunkformer.export --checkpoint exp/avg5.pt --output-dir exp/export

Writes ``config.yaml``, ``pytorch_model.bin`` (encoder + CTC + carried attention-decoder weights),
``vocab.txt`` and ``global_cmvn``; the official ``chunkformer`` package loads the folder with
``ChunkFormerModel.from_pretrained`` and prints the same transcripts as ``chunkformer.transcribe``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chunkformer.checkpoint import CheckpointError, load_model, save_official_folder
from chunkformer.utils.cli import error


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m chunkformer.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="any checkpoint form load_model accepts")
    p.add_argument("--output-dir", type=Path, required=True)
    p.add_argument("--vocab", help="vocab.txt for a bare state dict")
    a = p.parse_args(argv)
    try:
        loaded = load_model(a.checkpoint, vocab=a.vocab)
    except CheckpointError as e:
        return error(e)
    try:
        out = save_official_folder(loaded, a.output_dir)
    except OSError as e:  # a file where the folder should be, a read-only place
        return error(f"{a.output_dir}: cannot write the model folder there ({e.strerror}: {e.filename})")
    print(f"wrote {out}: config.yaml, pytorch_model.bin, vocab.txt, global_cmvn")
    return 0


if __name__ == "__main__":
    sys.exit(main())
