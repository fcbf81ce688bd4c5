"""Word times against known truth: espeak-ng words synthesised one by one, joined with known gaps.

Each utterance is a held-out call-bot sentence (``local/vi_callbot_heldout.py``: the **test** patterns, spoken by
a held-out espeak-ng speaker, or with ``--patterns val`` the validation patterns, spoken by training speakers as
the corpus's val split is) whose words are synthesised **separately**, trimmed to their audible extent
(first/last 5 ms window within 40 dB of the word's loudest), and concatenated with gaps drawn from
{0, 50, ..., 300} ms (zero included, so blank runs alone cannot give the boundaries), 0.3 s of silence at both
ends, dithered, 16 kHz. The truth is each word's audible start and end. ``--channel phone`` passes each
utterance through the telephony domain's channel (``local/make_demo_corpus.py``: echo, line noise at SNR
5-15 dB, 8 kHz G.711), the truth unchanged: the call-bot's own audio conditions.

Measured (``--model``), for the word times of :class:`chunkformer.decoding.CTCDecoder`:

- ``audio``: boundaries from the fbank (``decode(fbank=...)``, what ``transcribe`` and the server do;
  :mod:`chunkformer.decoding.word_times`); ``spikes``: from the CTC spikes alone (no fbank given);
- per method, ``recognised`` (greedy) and ``beam`` (beam 10): words of the hypothesis that match the reference
  (kaldialign alignment): share whose start **and** end are within ``--tolerance`` (0.16 s) of the truth,
  shares for start and end alone, mean signed errors (bias), median |error|; ``recognised_by_neighbours``:
  the same split by the worst alignment error beside the word (right, substitution, deletion, insertion);
  ``forced``: the reference itself aligned to the frames (``CTCDecoder.finish``), every word, independent of
  recognition errors; for each, ``oracle_shift_s``: the constant added to every time that would fit best and
  the share it would give (fitted on the measured words themselves: a diagnosis, not a method);
- ``speed``: median over utterances of the model's seconds per audio second (one utterance per call,
  ``--threads``) and of the word boundaries' (decode with fbank minus without), and their ratio.

``--delay-frames K`` delays the log-probs by K output frames (80 ms each) before decoding: a model whose spikes
come K·80 ms later, to check that the boundaries do not depend on where this checkpoint puts its spikes.
``--grid`` varies each constant of :class:`chunkformer.decoding.word_times.WordTimeOptions` in turn around its
default (greedy and forced shares): how the defaults were chosen, on ``--patterns val`` only.

    python bench/bench_word_times.py --model egs/callbot/demo/finetuned [--patterns val] [--channel phone]
        [--delay-frames K] [--grid] [--num 100]

Audio is cached in ``--out-dir`` (same patterns/``--num``/``--seed``: not synthesised again); results in
``<out-dir>/results-<model name>-<patterns>[-phone][-delay<K>][-grid].json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "local")]  # this checkout's chunkformer, not an installed one
from make_demo_corpus import phone_line  # noqa: E402
from tts import HELDOUT_VARIANTS, TRAIN_VARIANTS, dither, espeak, random_speaker  # noqa: E402
from vi_callbot_heldout import TEST_PATTERNS, VAL_PATTERNS  # noqa: E402
from vi_callbot_text import distinct_sentences  # noqa: E402

from chunkformer.audio import resample  # noqa: E402
from chunkformer.checkpoint import LoadedModel, load_model  # noqa: E402
from chunkformer.decoding import CTCDecoder, DecodeOptions, Word  # noqa: E402
from chunkformer.decoding.word_times import WordTimeOptions  # noqa: E402
from chunkformer.frontend import FRAMES_PER_SECOND, load_features  # noqa: E402
from chunkformer.model.masked_batch import Context  # noqa: E402

RATE = 16000
GAPS = np.arange(0, 0.301, 0.05)
PATTERNS = {"test": (TEST_PATTERNS, HELDOUT_VARIANTS), "val": (VAL_PATTERNS, TRAIN_VARIANTS)}
# --grid: each constant's values tried (the others at their defaults)
GRID = {"threshold": [0.3, 0.5], "softness": [0.1, 0.5], "onset_bonus": [0.0, 3.0], "pause_in_word": [3.0, 30.0],
        "unclaimed_speech": [0.0, 0.8], "anchor_slack": [0.06, 0.15], "anchor_cost": [100.0, 500.0],
        "last_slack": [0.15, 1.0], "min_word": [0.05, 0.12], "shift_margin": [1.0],
        # the noisy-line score (docs/DECODING.md): run with --channel phone
        "noisy_below": [10.0, 16.0], "noisy_threshold": [0.2, 0.3], "noise_floor": [2.0, 10.0], "snr_cap": [5.0, 20.0]}


def audible(x: np.ndarray, rate: int, floor_db: float = 40.0) -> tuple[int, int]:
    """First and one-past-last sample of the 5 ms windows within ``floor_db`` of the loudest window."""
    win = max(1, rate // 200)
    n = len(x) // win
    rms = np.sqrt((x[: n * win].reshape(n, win) ** 2).mean(axis=1) + 1e-12)
    on = np.nonzero(rms >= rms.max() * 10 ** (-floor_db / 20))[0]
    return int(on[0]) * win, int(on[-1] + 1) * win


def synthesize(text: str, idx: int, seed: int, out: Path, variants: tuple[str, ...] = HELDOUT_VARIANTS
               ) -> list[dict]:
    """Writes ``out`` (16 kHz wav); returns [{"word", "start", "end"}] (seconds)."""
    rng = np.random.default_rng([seed, idx])
    voice, _, pitch = random_speaker(rng, variants)
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


def build_set(out_dir: Path, num: int, seed: int, patterns: str = "test") -> list[dict]:
    """The cached set: [{"path", "text", "words": truth}] (``patterns``: "test" or "val")."""
    tag = "" if patterns == "test" else f"{patterns}-"
    manifest = out_dir / f"set-{tag}{num}-{seed}.jsonl"
    if manifest.is_file():
        return [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()]
    (out_dir / "wavs").mkdir(parents=True, exist_ok=True)
    pats, variants = PATTERNS[patterns]
    items = []
    for i, s in enumerate(distinct_sentences(num, seed, pats, "reading", "any")):
        path = out_dir / "wavs" / f"words-{tag}{seed}-{i:04d}.wav"
        items.append({"path": str(path), "text": s.text, "words": synthesize(s.text, i, seed, path, variants)})
    manifest.write_text("".join(json.dumps(it, ensure_ascii=False) + "\n" for it in items), encoding="utf-8")
    return items


def over_the_phone(items: list[dict], seed: int) -> list[dict]:
    """The items with their audio passed through the telephony channel (8 kHz wavs beside the clean ones,
    cached; the same seed gives the same bytes)."""
    out = []
    for i, it in enumerate(items):
        path = Path(it["path"]).with_name(Path(it["path"]).stem + "-phone.wav")
        if not path.is_file():
            x, rate = sf.read(it["path"], dtype="float32")
            y, line_rate = phone_line(x, rate, np.random.default_rng([seed, i, 1]))
            sf.write(path, y, line_rate, subtype="PCM_16")
        out.append({**it, "path": str(path)})
    return out


NEIGHBOURS = ("right", "substitution", "deletion", "insertion")  # the worst error next to a recognised word


def matched(ref: list[dict], hyp: list[Word]) -> list[tuple[dict, Word, str]]:
    """(truth, hypothesis word, neighbours) of correctly recognised words (edit-distance alignment);
    ``neighbours``: the worst alignment error beside the word (deletion > insertion > substitution > right)."""
    import kaldialign

    ali = kaldialign.align([w["word"] for w in ref], [w.word for w in hyp], "*")
    out, i, j = [], 0, 0
    for n, (r, h) in enumerate(ali):
        if r != "*" and h != "*" and r == h:
            side = [ali[x] for x in (n - 1, n + 1) if 0 <= x < len(ali)]
            kind = ("deletion" if any(b == "*" for _, b in side) else "insertion" if any(a == "*" for a, _ in side)
                    else "substitution" if any(a != b for a, b in side) else "right")
            out.append((ref[i], hyp[j], kind))
        i += r != "*"
        j += h != "*"
    return out


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


@dataclass
class Utt:
    """One utterance: truth, fbank, CTC log-probs, reference token ids, the model's wall time."""

    item: dict
    feats: torch.Tensor
    log_probs: torch.Tensor
    ref_ids: list[int]
    model_seconds: float

    @property
    def seconds(self) -> float:
        return len(self.feats) / FRAMES_PER_SECOND


def posteriors(loaded: LoadedModel, items: list[dict], ctx: Context, delay: int = 0) -> list[Utt]:
    """Every item through the model, one at a time (timed); ``delay``: log-probs shifted later by that many
    output frames (the utterance's surest blank frame repeated in front, the tail dropped)."""
    out = []
    for it in items:
        feats = load_features(it["path"])
        t0 = time.perf_counter()
        lp = loaded.model.ctc_log_probs([feats], ctx)[0]
        spent = time.perf_counter() - t0
        if delay:
            blank = lp[int(lp[:, loaded.tokenizer.blank_id].argmax())]
            lp = torch.cat([blank.expand(delay, -1), lp[:-delay]])
        out.append(Utt(it, feats, lp, loaded.tokenizer.encode(it["text"]), spent))
    return out


def evaluate(utts: list[Utt], dec: CTCDecoder, audio: bool, tol: float, beam: CTCDecoder | None = None) -> dict:
    """``recognised`` (``dec``'s hypotheses; also split by their neighbours), ``forced`` (references) and,
    with ``beam``, its hypotheses' summaries; word times from the fbank when ``audio``."""
    rec: list[tuple[dict, Word, str]] = []
    forced: list[tuple[dict, Word]] = []
    beamed: list[tuple[dict, Word, str]] = []
    for u in utts:
        fb = u.feats if audio else None
        truth = u.item["words"]
        rec += matched(truth, dec.decode(u.log_probs, fbank=fb).words)
        forced += list(zip(truth, dec.finish(u.log_probs, u.ref_ids, fbank=fb).words, strict=True))
        if beam is not None:
            beamed += matched(truth, beam.decode(u.log_probs, fbank=fb).words)
    out = {"recognised": summary([(r, h) for r, h, _ in rec], tol), "forced": summary(forced, tol),
           "recognised_by_neighbours": {k: summary([(r, h) for r, h, n in rec if n == k], tol)
                                        for k in NEIGHBOURS}}
    if beam is not None:
        out["beam"] = summary([(r, h) for r, h, _ in beamed], tol)
    return out


def speed(utts: list[Utt], dec: CTCDecoder) -> dict:
    """Medians over utterances: the model's and the word boundaries' seconds per audio second, their ratio."""
    rows = []
    for u in utts:
        t0 = time.perf_counter()
        dec.decode(u.log_probs)
        t1 = time.perf_counter()
        dec.decode(u.log_probs, fbank=u.feats)
        t2 = time.perf_counter()
        rows.append((u.model_seconds / u.seconds, max(0.0, (t2 - t1) - (t1 - t0)) / u.seconds))
    return {"model_rtf": round(statistics.median(r[0] for r in rows), 4),
            "word_times_rtf": round(statistics.median(r[1] for r in rows), 4),
            "word_times_over_model": round(statistics.median(r[1] / r[0] for r in rows), 3)}


def measure(loaded: LoadedModel, items: list[dict], ctx: Context, tol: float = 0.16, delay: int = 0) -> dict:
    """The figures of one model on a built set: both methods, greedy, beam and forced; the speed."""
    utts = posteriors(loaded, items, ctx, delay)
    dec = CTCDecoder(loaded.tokenizer, DecodeOptions(method="greedy"))
    beam = CTCDecoder(loaded.tokenizer, DecodeOptions(method="beam", beam=10))
    return {"utterances": len(items), "tolerance_s": tol, "reference_words": sum(len(u.ref_ids) for u in utts),
            "delay_frames": delay, "audio": evaluate(utts, dec, True, tol, beam),
            "spikes": evaluate(utts, dec, False, tol, beam), "speed": speed(utts, dec)}


def grid(loaded: LoadedModel, items: list[dict], ctx: Context, tol: float = 0.16, delay: int = 0) -> list[dict]:
    """Greedy and forced shares with each :data:`GRID` constant varied in turn (the defaults first)."""
    utts = posteriors(loaded, items, ctx, delay)
    base = DecodeOptions(method="greedy")
    points = [("default", None)] + [(name, v) for name, values in GRID.items() for v in values]
    rows = []
    for name, value in points:
        opts = base if value is None else replace(base, word_times=replace(WordTimeOptions(), **{name: value}))
        r = evaluate(utts, CTCDecoder(loaded.tokenizer, opts), True, tol)
        rows.append({"constant": name, "value": value, "recognised_pct": r["recognised"]["within_tol_pct"],
                     "forced_pct": r["forced"]["within_tol_pct"]})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--out-dir", type=Path, default=Path("exp/word_times"))
    p.add_argument("--patterns", choices=sorted(PATTERNS), default="test")
    p.add_argument("--channel", choices=["clean", "phone"], default="clean")
    p.add_argument("--num", type=int, default=100)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--tolerance", type=float, default=0.16)
    p.add_argument("--delay-frames", type=int, default=0)
    p.add_argument("--grid", action="store_true", help="vary each word-time constant in turn (greedy, forced)")
    p.add_argument("--context", default=str(Context.DEFAULT))
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    if a.delay_frames < 0:
        p.error(f"--delay-frames must be >= 0, got {a.delay_frames}")
    torch.set_num_threads(a.threads)
    items = build_set(a.out_dir, a.num, a.seed, a.patterns)
    if a.channel == "phone":
        items = over_the_phone(items, a.seed)
    loaded, ctx = load_model(a.model), Context.parse(a.context)
    name = f"{Path(a.model).name.replace('.pt', '')}-{a.patterns}" + ("-phone" if a.channel == "phone" else "")
    if a.grid:
        res: dict = {"model": a.model, "patterns": a.patterns, "channel": a.channel, "delay_frames": a.delay_frames,
                     "grid": grid(loaded, items, ctx, a.tolerance, a.delay_frames)}
    else:
        res = {"model": a.model, "patterns": a.patterns, "channel": a.channel,
               **measure(loaded, items, ctx, a.tolerance, a.delay_frames)}
        print(json.dumps(res, indent=1))
    name += (f"-delay{a.delay_frames}" if a.delay_frames else "") + ("-grid" if a.grid else "")
    (a.out_dir / f"results-{name}.json").write_text(json.dumps(res, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
