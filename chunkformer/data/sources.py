"""Read one data.yaml source into :class:`Item` s (id, audio, transcript), without judging them.

Source kinds, detected from ``path``:

* glob pattern (``*``, ``?``, ``[``): every match except ``.txt`` is an utterance; id = file stem; the
  transcript is the sibling ``<stem>.txt``;
* TSV file (``.tsv``), or a folder holding ``transcripts.tsv`` / ``list.tsv`` / ``data.tsv``: header with
  columns ``wav`` and ``txt`` (optional ``id``, or ``key`` as in the official chunkformer training list
  ``key<TAB>wav<TAB>txt``; default id = wav stem); relative wav paths resolve against the TSV's folder;
* Kaldi data dir (``wav.scp`` + ``text``, optional ``segments``, ``utt2spk``): id = utterance id; a
  ``cmd |`` entry in wav.scp is run as a command (lhotse ``command`` audio source; it must be deterministic,
  e.g. ``sox -D`` without dither); relative paths are tried against the data dir, then the cwd;
* lhotse manifests: a ``*cuts*.jsonl[.gz]`` file, a ``*recordings*`` file (with its sibling
  ``*supervisions*`` file), or a folder holding such files;
* any other folder: its audio files (recursively) with sibling ``.txt`` transcripts.

Problems with single items (missing transcript, undecodable text, malformed TSV row) are recorded on the
item (``text_error``) for stage 0 to reject with a reason; only problems with the source as a whole
(nothing there, no ``wav`` column) raise :class:`SourceError`.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lhotse import CutSet, RecordingSet, SupervisionSet, load_manifest
from lhotse.cut.data import DataCut

AUDIO_EXTS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".sph", ".aiff", ".au")
TSV_NAMES = ("transcripts.tsv", "list.tsv", "data.tsv")
ID_COLUMNS = ("id", "key")  # ours, and the official chunkformer training list's
NON_UTF8 = "non-UTF-8 transcript"


class SourceError(ValueError):
    """A source that cannot be read at all; the message names the path and the reason."""


@dataclass
class Item:
    """One utterance candidate.

    ``audio`` is a file path, a shell command (``command=True``) or, for lhotse sources, the recording's
    description; ``recording`` is the lhotse Recording when the source provides one. ``text`` is None
    when there is no transcript; ``text_error`` holds the reason the transcript is unusable.
    ``start``/``duration`` select a segment (None = whole recording).
    """

    id: str
    source: str
    audio: str
    recording_id: str
    text: str | None = None
    text_error: str | None = None
    start: float = 0.0
    duration: float | None = None
    speaker: str | None = None
    command: bool = False
    recording: Any = None


def _decode(raw: bytes) -> tuple[str | None, str | None]:
    """(text, error): strict UTF-8, a BOM and surrounding whitespace stripped."""
    try:
        return raw.decode("utf-8").lstrip("\ufeff").strip(), None
    except UnicodeDecodeError as e:
        return None, f"{NON_UTF8} (invalid byte at offset {e.start})"


def _sibling_text(audio: Path) -> tuple[str | None, str | None]:
    txt = audio.with_suffix(".txt")
    if not txt.is_file():
        return None, f"missing transcript ({txt.name} not found)"
    return _decode(txt.read_bytes())


def _file_items(paths: list[Path], source: str) -> list[Item]:
    items = []
    for p in paths:
        text, err = _sibling_text(p)
        items.append(Item(id=p.stem, source=source, audio=str(p), recording_id=str(p), text=text, text_error=err))
    return items


def read_glob(pattern: str) -> list[Item]:
    """Every file matching ``pattern`` (``**`` recurses) except transcripts."""
    paths = sorted(Path(p) for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
    paths = [p for p in paths if p.suffix.lower() != ".txt"]
    if not paths:
        raise SourceError(f"{pattern}: no files match this pattern")
    return _file_items(paths, pattern)


def read_tsv(tsv: Path) -> list[Item]:
    """TSV with header ``wav<TAB>txt`` [``<TAB>id``]; each line decoded on its own so that one bad line
    becomes one rejection."""
    lines = tsv.read_bytes().splitlines()
    if not lines:
        raise SourceError(f"{tsv}: empty TSV (expected a header with columns wav and txt)")
    header, _ = _decode(lines[0])
    if header is None:
        raise SourceError(f"{tsv}: header is not UTF-8")
    cols = [c.strip().lower() for c in header.split("\t")]
    if "wav" not in cols:
        raise SourceError(f"{tsv}: no 'wav' column in header {cols} (expected columns wav and txt)")
    iw, it = cols.index("wav"), cols.index("txt") if "txt" in cols else None
    iid = next((cols.index(c) for c in ID_COLUMNS if c in cols), None)
    items = []
    for lineno, raw in enumerate(lines[1:], 2):
        if not raw.strip():
            continue
        fields = raw.split(b"\t")
        wav_raw = fields[iw] if iw < len(fields) else b""
        wav = wav_raw.decode("utf-8", "surrogateescape").strip()
        rid = fields[iid].decode("utf-8", "surrogateescape").strip() if iid is not None and iid < len(fields) else ""
        audio = Path(wav) if Path(wav).is_absolute() else tsv.parent / wav
        item = Item(id=rid or (audio.stem if wav else f"{tsv.name}:{lineno}"), source=str(tsv), audio=str(audio),
                    recording_id=str(audio))
        if not wav:
            item.text_error = f"malformed TSV row (line {lineno}: empty wav field)"
        elif it is None:
            item.text_error = "missing transcript (TSV has no txt column)"
        elif it >= len(fields):
            item.text_error = f"missing transcript (line {lineno} has {len(fields)} columns)"
        else:
            item.text, item.text_error = _decode(fields[it])
        items.append(item)
    if not items:
        raise SourceError(f"{tsv}: no rows after the header")
    return items


def _kaldi_map(path: Path, items_err: dict[str, str]) -> dict[str, str]:
    """``key rest`` per line; undecodable lines are recorded in ``items_err`` under their key."""
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    for raw in path.read_bytes().splitlines():
        if not raw.strip():
            continue
        key_raw, _, rest_raw = raw.strip().partition(b" ")
        key = key_raw.decode("utf-8", "surrogateescape")
        text, err = _decode(rest_raw)
        if err:
            items_err[key] = err
        out[key] = text or ""
    return out


def read_kaldi(d: Path) -> list[Item]:
    """A Kaldi data dir; utterances are the ``segments`` entries, else the ``wav.scp`` entries."""
    if not (d / "text").is_file():
        raise SourceError(f"{d}: Kaldi data dir without a 'text' file")
    text_err: dict[str, str] = {}
    text = _kaldi_map(d / "text", text_err)
    wavs = _kaldi_map(d / "wav.scp", {})
    spk = _kaldi_map(d / "utt2spk", {})
    segs: dict[str, tuple[str, float, float]] = {}
    items: list[Item] = []
    if (d / "segments").is_file():
        for lineno, line in enumerate((d / "segments").read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            try:
                segs[parts[0]] = (parts[1], float(parts[2]), float(parts[3]))
            except (IndexError, ValueError):
                items.append(Item(parts[0], str(d), f"{d}/segments:{lineno}", parts[0],
                                  text_error=f"malformed segments line {lineno}: {line.strip()!r}"))
    units = segs if segs else {k: (k, 0.0, -1.0) for k in wavs}
    for utt, (rec, start, end) in units.items():
        entry = wavs.get(rec, "")
        cmd = entry.endswith("|")
        if entry and not cmd and not Path(entry).is_absolute():
            # Kaldi paths are relative to the recipe root (the cwd); also accept paths relative to the data dir
            entry = str((d / entry) if (d / entry).exists() else Path.cwd() / entry)
        item = Item(utt, str(d), entry[:-1].strip() if cmd else entry, rec, text=text.get(utt), command=cmd,
                    start=start, duration=None if end < 0 else end - start, speaker=spk.get(utt))
        if not entry:
            item.text_error = f"no audio (recording {rec!r} not in wav.scp)"
        elif utt in text_err:
            item.text, item.text_error = None, text_err[utt]
        elif utt not in text:
            item.text_error = "missing transcript (not in text)"
        items.append(item)
    for utt in text.keys() - units.keys():
        where = "segments" if segs else "wav.scp"
        items.append(Item(utt, str(d), "", utt, text=text[utt], text_error=f"no audio (utterance not in {where})"))
    return items


def read_lhotse(paths: list[Path], source: str) -> list[Item]:
    """Items from lhotse cut manifests, or recordings + supervisions manifests."""
    items: list[Item] = []
    for p in paths:
        m = load_manifest(p)
        if isinstance(m, CutSet):
            for cut in m:
                if not isinstance(cut, DataCut) or cut.recording is None:
                    items.append(Item(cut.id, source, str(p), cut.id,
                                      text_error=f"unsupported cut type {type(cut).__name__} (no single recording)"))
                    continue
                items.extend(_sup_item(s, cut.recording, source, cut.start + s.start) for s in cut.supervisions)
        elif isinstance(m, RecordingSet):
            sup_path = p.with_name(p.name.replace("recordings", "supervisions"))
            if sup_path == p or not sup_path.is_file():
                raise SourceError(f"{p}: recordings manifest without a sibling supervisions manifest ({sup_path.name})")
            sups = load_manifest(sup_path)
            if not isinstance(sups, SupervisionSet):
                raise SourceError(f"{sup_path}: not a supervisions manifest")
            for s in sups:
                rec = m[s.recording_id] if s.recording_id in m else None  # noqa: SIM401 - a RecordingSet has no get
                if rec is None:
                    items.append(Item(s.id, source, str(sup_path), s.recording_id,
                                      text_error=f"no audio (recording {s.recording_id!r} not in {p.name})"))
                else:
                    items.append(_sup_item(s, rec, source, s.start))
        elif not isinstance(m, SupervisionSet):
            raise SourceError(f"{p}: unsupported lhotse manifest type {type(m).__name__}")
    return items


def _sup_item(sup: Any, rec: Any, source: str, start: float) -> Item:
    desc = rec.sources[0].source if len(rec.sources) == 1 else rec.id
    text = sup.text.strip() if sup.text else None
    return Item(sup.id, source, str(desc), rec.id, text=text, start=start, duration=sup.duration,
                speaker=sup.speaker, recording=rec, text_error=None if text is not None else "missing transcript")


def _lhotse_files(d: Path) -> list[Path]:
    files = sorted(p for p in d.iterdir() if ".jsonl" in p.name or p.name.endswith(".json"))
    cuts = [p for p in files if "cuts" in p.name]
    return cuts or [p for p in files if "recordings" in p.name]


def read_source(path: str) -> list[Item]:
    """Items of one data.yaml source (see the module docstring for the recognised layouts);
    ``Item.source`` is ``path`` itself, so stage 0 can map items back to their data.yaml entry."""
    try:
        items = _read(path)
    except OSError as e:  # permissions, broken links, I/O errors: the source as a whole is unusable
        raise SourceError(f"{path}: cannot read source ({e})") from e
    for it in items:
        it.source = path
    return items


def is_glob(path: str) -> bool:
    """A source path with ``*``, ``?`` or ``[`` is a glob pattern, not a file or folder name."""
    return any(ch in path for ch in "*?[")


def source_stamp(path: str) -> list[tuple[str, int, int]]:
    """(name, size, mtime) of what a source's listing is read from: the file itself, a folder's top-level files
    (wav.scp, text, transcripts.tsv, ...) or every match of a glob. A corpus rewritten in place (e.g. the demo
    corpus regenerated) changes the stamp, so stage 0 redoes the split instead of keeping stale manifests.

    >>> source_stamp("/no/such/file.tsv")
    []
    """
    p = Path(path)
    if is_glob(path):
        files = [Path(q) for q in glob.glob(path, recursive=True)]
    elif p.is_dir():
        files = list(p.iterdir())
    else:
        files = [p]
    stamps = []
    for f in sorted(files):
        try:
            st = f.stat()
        except OSError:
            continue  # a missing source is reported by stage 0 itself, with its name
        if not f.is_dir():
            stamps.append((str(f), st.st_size, st.st_mtime_ns))
    return stamps


def _read(path: str) -> list[Item]:
    if is_glob(path):
        return read_glob(path)
    p = Path(path)
    if p.is_file():
        if p.suffix.lower() == ".tsv":
            return read_tsv(p)
        if ".jsonl" in p.name or p.suffix == ".json":
            return read_lhotse([p], path)
        raise SourceError(f"{p}: unsupported source file (expected .tsv or a lhotse .jsonl[.gz] manifest)")
    if not p.is_dir():
        raise SourceError(f"{p}: source not found")
    if (p / "wav.scp").is_file():
        return read_kaldi(p)
    for name in TSV_NAMES:
        if (p / name).is_file():
            return read_tsv(p / name)
    lhotse_files = _lhotse_files(p)
    if lhotse_files:
        return read_lhotse(lhotse_files, path)
    audio = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in AUDIO_EXTS)
    if not audio:
        raise SourceError(f"{p}: no wav.scp, {' or '.join(TSV_NAMES)}, lhotse manifests or audio files in this folder")
    return _file_items(audio, path)
