"""Estimating the word n-gram LM that the beam search fuses, with KenLM's own estimator ``lmplz``.

``lmplz`` (modified Kneser-Ney, interpolated, Heafield et al. 2013) is what every KenLM user estimates with;
the PyPI wheels ship only the query side, so ``local/build_kenlm.sh`` compiles ``lmplz`` and ``build_binary``
from the kenlm sdist once into ``.venv/kenlm/bin`` (``local/train_lm.py`` is the stage script).

The LM's words must be exactly the words the decoder hands to the LM (:mod:`~chunkformer.decoding.fusion`:
a ``▁`` token starts a word), so :func:`lm_sentences` passes every transcript through the tokenizer and back:
a transcript is the normalised CTC target of stage 0 (data.yaml ``text:``, vocabulary spelling), and with the
syllable vocabularies every syllable is a word. Scoring compares old-style tone marks on both sides; the LM
keeps the vocabulary's spelling, the one the decoder emits.
"""

from __future__ import annotations

import math
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from chunkformer.decoding.lm import LMError, NgramLM
from chunkformer.tokenizer import Tokenizer, UnspellableError
from chunkformer.utils.io import atomic_write

# lmplz's message when the closed-form Kneser-Ney discounts fail and --discount_fallback takes over
FALLBACK_NOTE = "Substituting fallback discounts"


def lm_sentences(texts: Iterable[str], tokenizer: Tokenizer) -> tuple[list[str], int]:
    """``(lines, skipped)``: each non-empty text as the space-joined words the decoder emits for its tokens;
    texts the vocabulary cannot spell (no decoder output can contain them) are skipped and counted."""
    lines, skipped = [], 0
    for text in texts:
        try:
            line = tokenizer.decode(tokenizer.encode(text))
        except UnspellableError:
            skipped += 1
            continue
        if line:
            lines.append(line)
    return lines, skipped


def estimate_arpa(lines: list[str], order: int, out: str | Path, lmplz: str | Path, memory: str = "10%",
                  tmp_dir: str | Path | None = None) -> str:
    """Runs ``lmplz -o order`` on ``lines`` and writes the ARPA file ``out`` atomically; returns lmplz's log.

    ``--discount_fallback`` is always passed: lmplz uses its fallback discounts only when the closed-form
    estimate fails (small corpora without singletons or doubletons of some order); the log then contains
    :data:`FALLBACK_NOTE`. Raises :class:`LMError` with the end of lmplz's log when it fails.
    """
    if order < 1:
        raise ValueError(f"LM order must be >= 1, got {order}")
    if not lines:
        raise LMError("no LM training text: every transcript was empty or unspellable")
    lmplz = Path(lmplz)
    if not lmplz.is_file():
        raise LMError(f"{lmplz}: lmplz not found (build it with local/build_kenlm.sh)")
    out = Path(out)
    with tempfile.TemporaryDirectory(dir=tmp_dir) as tmp:
        text, arpa = Path(tmp) / "text.txt", Path(tmp) / "lm.arpa"
        text.write_text("\n".join(lines) + "\n", encoding="utf-8")
        cmd = [str(lmplz), "-o", str(order), "-S", memory, "-T", tmp + "/", "--text", str(text), "--arpa",
               str(arpa), "--discount_fallback"]  # last: it takes optional values
        res = _run(cmd, f"lmplz -o {order}")
        if not arpa.is_file():
            raise LMError(f"lmplz -o {order} exited 0 but wrote no ARPA file: {_tail(res.stderr)}")
        atomic_write(out, lambda f: f.write(arpa.read_bytes()))
    return res.stderr


def build_binary(arpa: str | Path, out: str | Path, exe: str | Path) -> None:
    """KenLM's ``build_binary`` (probing hash tables): loads in a fraction of the ARPA parse time, same scores."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        _run([str(exe), str(arpa), str(tmp)], f"build_binary {arpa}")
    except LMError:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)


def _tail(log: str) -> str:
    return "\n".join(log.strip().splitlines()[-5:])


def _run(cmd: list[str], what: str) -> subprocess.CompletedProcess:
    """Runs a KenLM tool; :class:`LMError` with the end of its log when it fails."""
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise LMError(f"{what} failed (exit {res.returncode}): {_tail(res.stderr)}")
    return res


def perplexity(lm: NgramLM, lines: Iterable[str]) -> float:
    """Per-word perplexity of ``lines`` under ``lm``, ``</s>`` counted as a word (as KenLM's ``query``)."""
    total, count = 0.0, 0
    for line in lines:
        state = lm.begin()
        for word in line.split():
            lp, state = lm.score(state, word)
            total += lp
            count += 1
        total += lm.end(state)
        count += 1
    if count == 0:
        raise ValueError("perplexity of no text")
    return math.exp(-total / count)
