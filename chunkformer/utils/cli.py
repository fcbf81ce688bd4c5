"""What every command-line entry point shares: one way to report a usage or input error."""

from __future__ import annotations

import sys

USAGE_ERROR = 2  # exit status of a command refused before doing anything (argparse uses 2 as well)


def error(message: object, code: int = USAGE_ERROR) -> int:
    """Prints ``error: <message>`` to stderr and returns the exit status: ``return error(e)`` in a ``main``."""
    print(f"error: {one_line(message) if isinstance(message, BaseException) else message}", file=sys.stderr)
    return code


def first_line(e: BaseException) -> str:
    r"""The first non-blank line of an exception's message, stripped, or its type when the message is empty.

    >>> first_line(ValueError("\n  bad header\n  at byte 12")), first_line(EOFError())
    ('bad header', 'EOFError')
    """
    lines = [line for line in str(e).splitlines() if line.strip()]
    return lines[0].strip() if lines else type(e).__name__


def one_line(e: BaseException) -> str:
    r"""The reason of ``e``. An exception re-raised from a DataLoader worker carries torch's "Caught X in
    DataLoader worker process N." and the worker's whole traceback: its reason is the traceback's last line,
    without the exception's type.

    >>> one_line(ValueError("Caught ValueError in DataLoader worker process 0.\nOriginal Traceback (most recent "
    ...                     "call last):\n  File ...\nmod.CutAudioError: cut a: cannot load a.wav (file not found)"))
    'cut a: cannot load a.wav (file not found)'
    """
    text = str(e).strip()
    if "\nOriginal Traceback" not in text:
        return text
    last = text.splitlines()[-1]
    _, sep, reason = last.partition(": ")
    return reason if sep else last
