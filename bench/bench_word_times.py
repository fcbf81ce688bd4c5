"""Word times against known truth: espeak-ng words synthesised one by one, joined with known gaps.

Each test utterance is a held-out call-bot sentence (``local/vi_callbot_heldout.py`` test patterns) whose words
are synthesised **separately** (a held-out espeak-ng speaker per utterance), trimmed to their audible extent
(first/last 5 ms window within 40 dB of the word's loudest), and concatenated with gaps drawn from
{0, 50, ..., 300} ms (zero included, so blank runs alone cannot give the boundaries), 0.3 s of silence at both
ends, dithered, 16 kHz. The truth is each word's audible start and end.

Measured (``--model``, greedy CTC + :class:`chunkformer.decoding.CTCDecoder` times):

- ``recognised``: words of the hypothesis that match the reference (kaldialign alignment): share whose start
  **and** end are within ``--tolerance`` (0.16 s) of the truth; mean signed errors (bias) and median |error|.
- ``forced``: the reference itself aligned to the frames (``CTCDecoder.finish``): the same figures for every
  word, independent of recognition errors.
- for both, ``oracle_shift_s``: the constant added to every time that would fit best, and the share it would give
  (fitted on the measured words themselves: an upper bound of what a calibration could do, a diagnosis only).

    python bench/bench_word_times.py --model egs/callbot/demo/finetuned --out-dir exp/word_times [--num 100]

Audio is cached in ``--out-dir`` (same ``--num``/``--seed``: not synthesised again); results in
``<out-dir>/results-<model name>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "local")]  # this checkout's chunkformer, not an installed one
from tts import HELDOUT_VARIANTS, dither, espeak, random_speaker  # noqa: E402
from vi_callbot_heldout import TEST_PATTERNS  # noqa: E402
from vi_callbot_text import distinct_sentences  # noqa: E402

from chunkformer.audio import resample  # noqa: E402
from chunkformer.checkpoint import LoadedModel, load_model  # noqa: E402
from chunkformer.decoding import CTCDecoder, DecodeOptions, Word  # noqa: E402
from chunkformer.frontend import load_features  # noqa: E402
from chunkformer.model.masked_batch import Context  # noqa: E402

RATE = 16000
GAPS = np.arange(0, 0.301, 0.05)


def audible(x: np.ndarray, rate: int, floor_db: float = 40.0) -> tuple[int, int]:
    """First and one-past-last sample of the 5 ms windows within ``floor_db`` of the loudest window."""
    win = max(1, rate // 200)
    n = len(x) // win
    rms = np.sqrt((x[: n * win].reshape(n, win) ** 2).mean(axis=1) + 1e-12)
    on = np.nonzero(rms >= rms.max() * 10 ** (-floor_db / 20))[0]
    return int(on[0]) * win, int(on[-1] + 1) * win


def synthesize(text: str, idx: int, seed: int, out: Path) -> list[dict]:
    """Writes ``out`` (16 kHz wav); returns [{"word", "start", "end"}] (seconds)."""
    rng = np.random.default_rng([seed, idx])
    voice, _, pitch = random_speaker(rng, HELDOUT_VARIANTS)
    speed = int(rng.integers(130, 161))
    pieces, truth, t = [np.zeros(int(0.3 * RATE), np.float32)], [], 0.3
    for i, word in enumerate(text.split()):
        x, rate = espeak(word, voice, speed, pitch)
        x = resample(x, rate, RATE)
        a, b = audible(x, RATE)
        if i:
            gap = float(rng.choice(GAPS))
            pieces.append(np.zeros(int(round(gap * RATE)), np.float32))
            t += int(round(gap * RATE)) / RATE
        pieces.append(x[a:b])
        truth.append({"word": word, "start": t, "end": t + (b - a) / RATE})
        t += (b - a) / RATE
    pieces.append(np.zeros(int(0.3 * RATE), np.float32))
    y = np.concatenate(pieces)
    sf.write(out, dither(y / max(1e-6, float(np.abs(y).max())) * 0.7, rng), RATE, subtype="PCM_16")
    return truth


def build_set(out_dir: Path, num: int, seed: int) -> list[dict]:
    """The cached test set: [{"path", "text", "words": truth}]."""
    manifest = out_dir / f"set-{num}-{seed}.jsonl"
    if manifest.is_file():
        return [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()]
    (out_dir / "wavs").mkdir(parents=True, exist_ok=True)
    items = []
    for i, s in enumerate(distinct_sentences(num, seed, TEST_PATTERNS, "reading", "any")):
        path = out_dir / "wavs" / f"words-{seed}-{i:04d}.wav"
        items.append({"path": str(path), "text": s.text, "words": synthesize(s.text, i, seed, path)})
    manifest.write_text("".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items), encoding="utf-8")
    return items


def matched(ref: list[dict], hyp: list[Word]) -> list[tuple[dict, Word]]:
    """(truth, hypothesis word) pairs of correctly recognised words (edit-distance alignment)."""
    import kaldialign

    pairs, i, j = [], 0, 0
    for r, h in kaldialign.align([w["word"] for w in ref], [w.word for w in hyp], "*"):
        if r != "*" and h != "*" and r == h:
            pairs.append((ref[i], hyp[j]))
        i += r != "*"
        j += h != "*"
    return pairs


def summary(pairs: list[tuple[dict, Word]], tol: float) -> dict:
    """Shares within ``tol``, signed biases and median |errors|; and, as a diagnosis of what a constant
    correction could do, the best constant added to every time (in 0.02 s steps over ±0.4 s; fitted on these
    very words, so an upper bound) and the share it would give."""
    if not pairs:
        return {"words": 0}
    ds = [h.start - r["start"] for r, h in pairs]
    de = [h.end - r["end"] for r, h in pairs]
    shift = max((k / 50 for k in range(-20, 21)), key=lambda c: (within(ds, de, tol, c), -abs(c)))
    return {"words": len(pairs), "within_tol_pct": within(ds, de, tol),
            "start_within_pct": round(100 * sum(abs(a) <= tol for a in ds) / len(ds), 2),
            "end_within_pct": round(100 * sum(abs(b) <= tol for b in de) / len(de), 2),
            "start_bias_s": round(statistics.mean(ds), 3), "end_bias_s": round(statistics.mean(de), 3),
            "start_median_abs_s": round(statistics.median(map(abs, ds)), 3),
            "end_median_abs_s": round(statistics.median(map(abs, de)), 3),
            "oracle_shift_s": shift, "within_tol_pct_at_oracle_shift": within(ds, de, tol, shift)}


def within(ds: list[float], de: list[float], tol: float, shift: float = 0.0) -> float:
    """Percentage of words whose start and end errors, plus ``shift``, are both within ``tol``."""
    ok = sum(abs(a + shift) <= tol and abs(b + shift) <= tol for a, b in zip(ds, de, strict=True))
    return round(100 * ok / len(ds), 2)


def measure(loaded: LoadedModel, items: list[dict], ctx: Context, tol: float = 0.16) -> dict:
    """The figures of one model on a built set (greedy hypotheses, and the references forced-aligned)."""
    dec = CTCDecoder(loaded.tokenizer, DecodeOptions(method="greedy"))
    rec: list[tuple[dict, Word]] = []
    forced: list[tuple[dict, Word]] = []
    for it in items:
        lp = loaded.model.ctc_log_probs([load_features(it["path"])], ctx)[0]
        rec += matched(it["words"], dec.decode(lp).words)
        hyp = dec.finish(lp, loaded.tokenizer.encode(it["text"]))
        forced += list(zip(it["words"], hyp.words, strict=True))
    return {"utterances": len(items), "tolerance_s": tol, "reference_words": len(forced),
            "recognised": summary(rec, tol), "forced": summary(forced, tol)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--out-dir", type=Path, default=Path("exp/word_times"))
    p.add_argument("--num", type=int, default=100)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--tolerance", type=float, default=0.16)
    p.add_argument("--context", default=str(Context.DEFAULT))
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    items = build_set(a.out_dir, a.num, a.seed)
    res = {"model": a.model, **measure(load_model(a.model), items, Context.parse(a.context), a.tolerance)}
    print(json.dumps(res, indent=1))
    name = Path(a.model).name.replace(".pt", "")
    (a.out_dir / f"results-{name}.json").write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
