"""Stage-0 checks: every item is kept or rejected with a reason; one bad file never stops the run.

Transcript checks (no audio needed): missing, non-UTF-8, an unknown Latin word or empty after the transcript
normaliser (:class:`chunkformer.text.TextNormalizer`, when one is given; the kept item carries the normalised
text), empty after :func:`chunkformer.text.normalize_text`, not spellable by the model vocabulary.
Audio checks, first from the header (file header or lhotse Recording metadata, nothing decoded): a truncated WAV
(fewer bytes than its header declares), longer than the maximum, multi-channel audio with no channel chosen
(never averaged silently: data.yaml ``channel``), a channel the file does not have. Then each remaining
recording is decoded once, in worker processes, and the item's channel (or the explicit ``mix`` downmix) is
checked: unreadable/corrupt, segment outside the audio, zero or near-zero duration, NaN/Inf samples, digital
silence, longer than the maximum, shorter than the encoder's receptive field, and too short for CTC: the
encoder's output frames (:func:`chunkformer.model.subsampling.subsampled_len`) must cover the tokens plus one
blank between each pair of equal adjacent tokens (:func:`chunkformer.model.ctc.ctc_min_frames`). Duplicate ids
(within a split) keep the first; an id, recording id or file name with bytes that are not UTF-8 is rejected.
"""

from __future__ import annotations

import io
import math
import subprocess
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import soundfile as sf
from lhotse import AudioSource, Recording
from tqdm import tqdm

from chunkformer.audio import (
    MODEL_RATE,
    SILENCE_DBFS,
    TruncatedAudio,
    check_complete,
    dc_free_peak,
    is_silent,
    wav_file_chunk,
)
from chunkformer.data.sources import SPLIT_RE, Item
from chunkformer.frontend import num_frames
from chunkformer.model.ctc import ctc_min_frames
from chunkformer.model.subsampling import RECEPTIVE_FIELD, subsampled_len
from chunkformer.text import NormalizationReport, NormalizeError, TextNormalizer, normalize_text
from chunkformer.tokenizer import Tokenizer
from chunkformer.utils.cli import first_line

SEGMENT_TOLERANCE = 0.025  # seconds a segment may overhang the audio end (header rounding), as lhotse allows


@dataclass(frozen=True)
class Limits:
    """Audio limits of :class:`chunkformer.data.config.ValidationConfig`, plus the CTC speed factor."""

    max_duration: float = 30.0
    min_duration: float = 0.05
    silence_dbfs: float = SILENCE_DBFS
    speed: float = 1.0  # fastest speed perturbation applied to this split (CTC feasibility at that speed)


@dataclass
class Rejection:
    """One rejected item: ``reason`` is a short category (the summary's rows), ``detail`` the specifics."""

    id: str
    path: str
    reason: str
    detail: str = ""
    source: str = ""

    def tsv_reason(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


@dataclass
class Kept:
    """A valid item with its lhotse Recording, start and duration (s, on the sample grid) and channel: one 0-based
    index, or every channel of the recording for an explicit ``mix``."""

    item: Item
    recording: object
    start: float
    duration: float
    channel: int | list[int] = 0


@dataclass(frozen=True)
class Header:
    """What stage 0 knows of a recording before decoding it."""

    rate: int
    frames: int
    channels: int


NO_CHANNEL = "multi-channel audio without a channel"


def out_frames(num_samples: int, rate: int, speed: float = 1.0) -> int:
    """Encoder output frames for ``num_samples`` at ``rate`` after speed perturbation by ``speed``."""
    n16 = math.ceil(num_samples * MODEL_RATE / rate / speed)
    return int(subsampled_len(num_frames(n16)))


def normalize_item(item: Item, normalizer: TextNormalizer,
                   report: NormalizationReport | None = None) -> tuple[Item, Rejection | None]:
    """The item with its transcript normalised (the supervision text stage 0 writes), or why it cannot be.

    Items without a usable transcript pass unchanged: :func:`check_text` reports them.
    """
    if item.text is None or item.text_error:
        return item, None
    try:
        res = normalizer(item.text)
    except NormalizeError as e:
        if report is not None:
            report.reject(e)
        return item, Rejection(item.id, item.audio, e.kind, f"{e.word!r} in {item.text[:120]!r}; {e.advice}",
                               item.source)
    if report is not None:
        report.add(item.id, item.text, res)
    if not res.text:
        return item, Rejection(item.id, item.audio, "empty transcript", f"{item.text!r} after normalization",
                               item.source)
    return replace(item, text=res.text), None


def check_text(item: Item, tokenizer: Tokenizer) -> tuple[list[int] | None, Rejection | None]:
    """Token ids of the item's normalized transcript, or the reason it is unusable."""
    def rej(reason: str, detail: str = "") -> tuple[None, Rejection]:
        return None, Rejection(item.id, item.audio, reason, detail, item.source)

    err = item.text_error
    if err:
        head, _, tail = err.partition(" (")
        return rej(head, tail.rstrip(")"))
    if item.text is None:
        return rej("missing transcript")
    norm = normalize_text(item.text)
    if not norm:
        return rej("empty transcript", f"{item.text!r}" if item.text else "")
    bad = tokenizer.unspellable(norm)
    if bad:
        shown = " ".join(dict.fromkeys(bad))
        return rej("unspellable transcript", f"vocab cannot spell {shown[:200]!r}")
    return tokenizer.encode(norm), None


def _decode_audio(item: Item) -> tuple[np.ndarray, int, object]:
    """(samples (C, N) float32, rate, lhotse Recording) of the item's whole recording."""
    if item.recording is not None:
        rec = item.recording
        return np.asarray(rec.load_audio(), dtype=np.float32).reshape(rec.num_channels, -1), rec.sampling_rate, rec
    if item.command:
        proc = subprocess.run(item.audio, shell=True, capture_output=True, timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(f"command exited with {proc.returncode}: {proc.stderr.decode(errors='replace')[-200:]}")
        data, rate = sf.read(io.BytesIO(proc.stdout), dtype="float32", always_2d=True)
        src = AudioSource(type="command", channels=list(range(data.shape[1])), source=item.audio)
    else:
        data, rate = sf.read(item.audio, dtype="float32", always_2d=True)
        src = AudioSource(type="file", channels=list(range(data.shape[1])), source=item.audio)
    n = data.shape[0]
    # file sources group by path (recording_id == audio); the lhotse id is then the utterance id, without the
    # channel suffix of ``channels: split`` (a_ch0 and a_ch1 are two channels of recording a)
    m = SPLIT_RE.match(item.id)
    split_id = m and m.group(1) == Path(item.audio).stem and int(m.group(2)) == item.channel
    rid = (m.group(1) if split_id else item.id) if item.recording_id == item.audio else item.recording_id
    rec = Recording(id=rid, sources=[src], sampling_rate=int(rate), num_samples=n, duration=n / rate)
    return np.ascontiguousarray(data.T), int(rate), rec


def read_header(item: Item) -> Header | None:
    """The recording's header (soundfile.info, or the lhotse Recording's metadata); None for a command, whose
    audio exists only once it has run. Raises what soundfile raises for a missing or corrupt file, and
    :class:`chunkformer.audio.TruncatedAudio` for a WAV file holding less audio than its header declares."""
    if item.recording is not None:
        rec = item.recording
        return Header(int(rec.sampling_rate), int(rec.num_samples), int(rec.num_channels))
    if item.command:
        return None
    info = sf.info(item.audio)
    check_complete(wav_file_chunk(item.audio), item.audio)  # soundfile would read a cut-short WAV as a short one
    return Header(int(info.samplerate), int(info.frames), int(info.channels))


def check_channel(item: Item, channels: int) -> tuple[str, str] | None:
    """(reason, detail) when ``item`` names no usable channel of a ``channels``-channel recording."""
    ch = item.channel
    if ch is None and channels > 1:
        return NO_CHANNEL, (f"{channels} channels and none chosen (two speakers are never averaged silently); "
                            "set channel: <0-based index>, channels: split or channel: mix for its source in data.yaml")
    if isinstance(ch, int) and ch >= channels:
        return "no such channel", f"channel {ch} (0-based) of a {channels}-channel recording"
    return None


def check_header(item: Item, head: Header, limits: Limits) -> tuple[str, str] | None:
    """(reason, detail) of what the header alone shows: a missing channel, or too long (nothing decoded)."""
    bad = check_channel(item, head.channels)
    if bad:
        return bad
    dur = item.duration if item.duration is not None else head.frames / head.rate - item.start
    if dur > limits.max_duration:
        return "too long", f"{dur:.2f} s > max_duration {limits.max_duration} s (from the header, not decoded)"
    return None


def select_channel(audio: np.ndarray, channel: int | str | None) -> np.ndarray:
    """(1, N) samples of the item's channel from (C, N); ``"mix"`` averages every channel (explicit downmix)."""
    if channel == "mix":
        return audio.mean(axis=0, keepdims=True)
    return audio[(channel or 0) : (channel or 0) + 1]


def check_audio(x: np.ndarray, rate: int, need: int, limits: Limits) -> tuple[str, str] | None:
    """(reason, detail) when the samples ``x`` (C, N) of one item are unusable for ``need`` CTC frames."""
    n = x.shape[-1]
    dur = n / rate
    if dur < limits.min_duration:
        return "zero or near-zero duration", f"{dur:.3f} s < {limits.min_duration} s"
    if not np.isfinite(x).all():
        return "NaN/Inf samples", f"{int((~np.isfinite(x)).sum())} non-finite samples"
    if is_silent(x, limits.silence_dbfs):
        peak = dc_free_peak(x)  # a constant (DC) signal is silence too
        level = "-inf" if peak == 0.0 else f"{20.0 * math.log10(peak):.1f}"
        return "digital silence", f"peak {level} dBFS <= {limits.silence_dbfs} dBFS (DC removed)"
    if dur > limits.max_duration:
        return "too long", f"{dur:.2f} s > max_duration {limits.max_duration} s"
    t = num_frames(math.ceil(n * MODEL_RATE / rate))
    if t < RECEPTIVE_FIELD:
        return "shorter than receptive field", f"{t} fbank frames < {RECEPTIVE_FIELD}"
    have = out_frames(n, rate, limits.speed)
    if have < need:
        at = f" at speed {limits.speed:g}" if limits.speed != 1.0 else ""
        return "too short for transcript (CTC)", f"{have} output frames{at} < {need} needed for its tokens"
    return None


def _check_group(task: tuple[list[tuple[Item, int]], Limits]) -> list[tuple[Kept | None, Rejection | None]]:
    """Checks the items of one recording: from its header first, then decodes it once (only when some item
    passed) and checks each item's span and channel (runs in a worker process)."""
    group, limits = task
    first = group[0][0]
    try:
        head = read_header(first)
    except Exception as e:  # soundfile/lhotse raise many types for corrupt or missing files
        return [(None, _unreadable(it, e)) for it, _ in group]
    out: list[tuple[Kept | None, Rejection | None]] = []
    for it, _ in group:
        bad = check_header(it, head, limits) if head is not None else None
        out.append((None, Rejection(it.id, it.audio, *bad, it.source)) if bad else (None, None))
    todo = [n for n, (_, r) in enumerate(out) if r is None]
    if not todo:
        return out
    try:
        audio, rate, rec = _decode_audio(first)
    except Exception as e:
        return [(None, _unreadable(it, e)) if n in todo else out[n] for n, (it, _) in enumerate(group)]
    for n in todo:
        out[n] = _check_item(*group[n], audio, rate, rec, limits)
    return out


def is_utf8(s: str) -> bool:
    """False for a string holding undecodable bytes (``surrogateescape``): no manifest can store it."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def non_utf8(item: Item) -> str:
    """Why the item's id, recording id or file name cannot be written to a manifest (bytes that are not UTF-8,
    e.g. a Latin-1 file name), or ""."""
    if not is_utf8(item.audio) and not item.command and item.recording is None:
        return "its file name holds bytes that are not UTF-8 (nor can soundfile open it); rename the file"
    for what, name in (("id", item.id), ("recording id", item.recording_id)):
        if not is_utf8(name):
            return f"its {what} holds bytes that are not UTF-8"
    return ""


def _unreadable(it: Item, e: Exception) -> Rejection:
    plain_file = not it.command and it.recording is None
    what = "missing audio file" if plain_file and not Path(it.audio).is_file() else "unreadable audio"
    msg = first_line(e)[:200]
    if isinstance(e, TruncatedAudio):
        what, msg = "truncated audio", str(e).removeprefix(f"{it.audio}: ")
    return Rejection(it.id, it.audio, what, msg, it.source)


def _check_item(it: Item, need: int, audio: np.ndarray, rate: int, rec: object, limits: Limits
                ) -> tuple[Kept | None, Rejection | None]:
    """One item of a decoded recording ``audio`` (C, N): its span, channel and samples."""
    total = audio.shape[1]
    bad = check_channel(it, audio.shape[0])  # commands have no header: their channels are known only now
    if bad:
        return None, Rejection(it.id, it.audio, *bad, it.source)
    s = int(round(it.start * rate))
    e = total if it.duration is None else s + int(round(it.duration * rate))
    if it.duration is not None and (s < 0 or e > total + SEGMENT_TOLERANCE * rate or it.duration < 0):
        span = f"{it.start:.2f}-{it.start + it.duration:.2f} s of {total / rate:.2f} s"
        return None, Rejection(it.id, it.audio, "segment outside audio", span, it.source)
    e = min(e, total)
    bad = check_audio(select_channel(audio, it.channel)[:, s:e], rate, need, limits)
    if bad:
        return None, Rejection(it.id, it.audio, *bad, it.source)
    mix = it.channel == "mix" and audio.shape[0] > 1
    channel = list(range(audio.shape[0])) if mix else it.channel if isinstance(it.channel, int) else 0
    return Kept(it, rec, s / rate, (e - s) / rate, channel), None


def validate_items(items: Iterable[Item], tokenizer: Tokenizer, limits: Limits | dict[str, Limits],
                   num_jobs: int = 1, desc: str = "validate", normalizer: TextNormalizer | None = None,
                   report: NormalizationReport | None = None) -> tuple[list[Kept], list[Rejection]]:
    """Splits ``items`` into kept and rejected (first-seen order kept); every item ends in one list.

    ``limits`` may differ per source (a dict keyed by ``Item.source``), e.g. the CTC speed factor.
    With a ``normalizer`` every transcript is normalised first (changes counted in ``report``).
    """
    rejected: list[Rejection] = []
    seen: dict[str, str] = {}
    groups: dict[tuple[str, str], list[tuple[Item, int]]] = {}
    for it in items:
        if it.id in seen:
            rejected.append(Rejection(it.id, it.audio, "duplicate id", f"first seen in {seen[it.id]}", it.source))
            continue
        seen[it.id] = it.audio or it.source
        bad = non_utf8(it)
        if bad:
            rejected.append(Rejection(it.id, it.audio, "non-UTF-8 name", bad, it.source))
            continue
        if normalizer is not None:
            it, rej = normalize_item(it, normalizer, report)
            if rej is not None:
                rejected.append(rej)
                continue
        ids, rej = check_text(it, tokenizer)
        if rej is not None:
            rejected.append(rej)
            continue
        groups.setdefault((it.source, it.recording_id), []).append((it, ctc_min_frames(ids or [])))
    tasks = [(g, limits if isinstance(limits, Limits) else limits[src]) for (src, _), g in groups.items()]
    kept: list[Kept] = []
    bar = tqdm(total=sum(len(g) for g, _ in tasks), desc=desc, unit="utt", leave=False)
    if num_jobs > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(num_jobs) as ex:
            results = ex.map(_check_group, tasks, chunksize=max(1, min(64, len(tasks) // (4 * num_jobs))))
            _collect(results, kept, rejected, bar)
    else:
        _collect(map(_check_group, tasks), kept, rejected, bar)
    bar.close()
    return kept, rejected


def _collect(results: Iterable[list[tuple[Kept | None, Rejection | None]]], kept: list[Kept],
             rejected: list[Rejection], bar: tqdm) -> None:
    for res in results:
        for k, r in res:
            if k is not None:
                kept.append(k)
            elif r is not None:
                rejected.append(r)
        bar.update(len(res))
