#!/usr/bin/env python3
"""The plan's command line from the repository root: ``python train.py ...`` is ``python -m chunkformer.train ...``
(same flags; see ``python train.py --help``)."""

import sys

from chunkformer.train import main

if __name__ == "__main__":
    sys.exit(main())
