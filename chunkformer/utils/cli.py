"""What every command-line entry point shares: one way to report a usage or input error."""

from __future__ import annotations

import sys

USAGE_ERROR = 2  # exit status of a command refused before doing anything (argparse uses 2 as well)


def error(message: object, code: int = USAGE_ERROR) -> int:
    """Prints ``error: <message>`` to stderr and returns the exit status: ``return error(e)`` in a ``main``."""
    print(f"error: {message}", file=sys.stderr)
    return code
