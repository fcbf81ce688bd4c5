"""Read one data.yaml source into :class:`Item` s (id, audio, transcript), without judging them.

Source kinds, detected from ``path``:

* glob pattern: every match except ``.txt`` is an utterance; id = file stem; the transcript is the sibling
  ``<stem>.txt``. A path is a pattern when it starts with ``glob:`` or when it does not exist and holds ``*``, ``?``
  or ``[``: a file or folder that exists is always taken literally (``calls [2024]/``), also as the leading part
  of a pattern (``calls [2024]/*.wav`` matches the wavs of that folder);
* TSV file (``.tsv``), or a folder holding ``transcripts.tsv`` / ``list.tsv`` / ``data.tsv``: header with
  columns ``wav`` and ``txt`` (optional ``id``, or ``key`` as in the official chunkformer training list
  ``key<TAB>wav<TAB>txt``; default id = wav stem); relative wav paths resolve against the TSV's folder;
* Kaldi data dir (``wav.scp`` + ``text``, optional ``segments``, ``utt2spk``): id = utterance id; a
  ``cmd |`` entry in wav.scp is run as a command (lhotse ``command`` audio source; it must be deterministic,
  e.g. ``sox -D`` without dither); relative paths are tried against the data dir, then the cwd;
* lhotse manifests: a ``*cuts*.jsonl[.gz]`` file, a ``*recordings*`` file (with its sibling
  ``*supervisions*`` file), or a folder holding such files;
* any other folder: its audio files (recursively) with sibling ``.txt`` transcripts.

In the last layout (and in a glob that matches ``.txt`` files) a transcript that no audio file reads (its audio
is missing or in a format not in :data:`AUDIO_EXTS`) is an item rejected for it (no audio).

Channels (``channel`` of the data.yaml source, :class:`chunkformer.data.config.SourceSpec`): an index or ``mix``
given in data.yaml applies to every item; otherwise lhotse supervisions keep their own channel. With
``channels: split`` every channel is an item of its own, named ``<id>_ch<k>`` (k 0-based): a file ``a.wav`` gives
``a_ch0``, ``a_ch1`` with transcripts ``a_ch0.txt``, ``a_ch1.txt``; in a Kaldi dir without ``segments`` the
``text`` ids are ``<recording>_ch<k>``, with ``segments`` their recording ids are (``call1_ch1`` = channel 1 of
wav.scp's ``call1``). A TSV source has one transcript per file and cannot be split.

Problems with single items (missing transcript, undecodable text, malformed TSV row) are recorded on the
item (``text_error``) for stage 0 to reject with a reason; only problems with the source as a whole
(nothing there, no ``wav`` column) raise :class:`SourceError`.
"""

from __future__ import annotations

import glob
import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import soundfile as sf
from lhotse import CutSet, RecordingSet, SupervisionSet, load_manifest
from lhotse.cut.data import DataCut

AUDIO_EXTS = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".sph", ".aiff", ".au")
TSV_NAMES = ("transcripts.tsv", "list.tsv", "data.tsv")
ID_COLUMNS = ("id", "key")  # ours, and the official chunkformer training list's
NON_UTF8 = "non-UTF-8 transcript"
GLOB_PREFIX = "glob:"  # an explicit glob pattern (data.yaml ``path: glob:...``)
SPLIT_RE = re.compile(r"^(.+)_ch(\d+)$")  # ``<id>_ch<k>``: channel k under ``channels: split``
log = logging.getLogger("chunkformer.data")


class SourceError(ValueError):
    """A source that cannot be read at all; the message names the path and the reason."""


@dataclass
class Item:
    """One utterance candidate.

    ``audio`` is a file path, a shell command (``command=True``) or, for lhotse sources, the recording's
    description; ``recording`` is the lhotse Recording when the source provides one. ``text`` is None
    when there is no transcript; ``text_error`` holds the reason the transcript is unusable.
    ``start``/``duration`` select a segment (None = whole recording). ``channel`` is the 0-based channel of
    multi-channel audio, ``"mix"`` for an explicit downmix, or None (stage 0 rejects multi-channel audio then).
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
    channel: int | str | None = None


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


def _header_channels(p: Path) -> int:
    """Channel count from the file header (1 when unreadable: stage 0 then reports the file itself)."""
    try:
        return int(sf.info(str(p)).channels)
    except Exception:  # soundfile raises several types for corrupt files; judged by stage 0
        return 1


def _file_items(paths: list[Path], source: str, split: bool = False) -> list[Item]:
    """One item per file (transcript ``<stem>.txt``), or per channel with ``split`` (``<stem>_ch<k>.txt``)."""
    items = []
    for p in paths:
        if not split:
            text, err = _sibling_text(p)
            items.append(Item(id=p.stem, source=source, audio=str(p), recording_id=str(p), text=text, text_error=err))
            continue
        for ch in range(_header_channels(p)):
            text, err = _sibling_text(p.with_name(f"{p.stem}_ch{ch}{p.suffix}"))
            items.append(Item(id=f"{p.stem}_ch{ch}", source=source, audio=str(p), recording_id=str(p), text=text,
                              text_error=err, channel=ch))
    return items


def _orphan_transcripts(txts: list[Path], items: list[Item], source: str, split: bool) -> list[Item]:
    """Rejected items for the transcripts among ``txts`` that no audio item reads (its audio is missing, or in a
    format not in :data:`AUDIO_EXTS`), so that they are reported instead of dropped silently."""
    used = {Path(it.audio).with_name(f"{it.id}.txt") for it in items}
    split_hint = "; with channels: split, transcripts are <stem>_ch<k>.txt" if split else ""
    why = f"no audio (no audio file of a format read ({', '.join(AUDIO_EXTS)}) beside it{split_hint})"
    return [Item(t.stem, source, str(t), str(t), text_error=why) for t in txts if t not in used]


def glob_pattern(path: str) -> str:
    """The pattern of a glob source: ``glob:`` stripped (the rest is all pattern); otherwise the longest leading
    part that exists is escaped, since an existing path is literal (``/data/calls [2024]/*.wav``).

    >>> glob_pattern("glob:/x/[ab].wav")
    '/x/[ab].wav'
    """
    if path.startswith(GLOB_PREFIX):
        return path[len(GLOB_PREFIX):]
    parts = Path(path).parts
    n = 0
    while n < len(parts) and Path(*parts[: n + 1]).exists():
        n += 1
    if n == 0:
        return path
    rest = parts[n:]
    return str(Path(glob.escape(str(Path(*parts[:n]))), *rest))


def read_glob(pattern: str, split: bool = False) -> list[Item]:
    """Every file matching ``pattern`` (``**`` recurses; see :func:`glob_pattern`) except transcripts."""
    paths = sorted(Path(p) for p in glob.glob(glob_pattern(pattern), recursive=True) if Path(p).is_file())
    txts = [p for p in paths if p.suffix.lower() == ".txt"]
    paths = [p for p in paths if p.suffix.lower() != ".txt"]
    if not paths:
        raise SourceError(f"{pattern}: no files match this pattern")
    items = _file_items(paths, pattern, split)
    return items + _orphan_transcripts(txts, items, pattern, split)


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
        extra = len(fields) - len(cols) if any(f.strip() for f in fields[len(cols):]) else 0
        if not wav:
            item.text_error = f"malformed TSV row (line {lineno}: empty wav field)"
        elif extra:  # a tab inside the transcript: reading the txt column alone would cut it short
            item.text_error = (f"malformed TSV row (line {lineno} has {len(fields)} tab-separated fields, the header "
                               f"{len(cols)}: a tab inside a field?)")
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


def _kaldi_lines(path: Path) -> list[tuple[int, str, bytes]]:
    """(1-based line number, key, rest) of each non-blank line: the key ends at the first space or tab (Kaldi
    splits on either), a UTF-8 BOM before it is dropped, CRLF endings too."""
    out = []
    for lineno, raw in enumerate(path.read_bytes().removeprefix(b"\xef\xbb\xbf").splitlines(), 1):
        parts = raw.strip().split(None, 1)
        if parts:
            out.append((lineno, parts[0].decode("utf-8", "surrogateescape"), parts[1] if len(parts) > 1 else b""))
    return out


def _kaldi_map(path: Path, items_err: dict[str, str], dups: list[Item] | None = None) -> dict[str, str]:
    """``key rest`` per line; undecodable lines are recorded in ``items_err`` under their key. A key seen again
    keeps its first line; the later one becomes a rejected item in ``dups`` (when given)."""
    out: dict[str, str] = {}
    if not path.is_file():
        return out
    for lineno, key, rest_raw in _kaldi_lines(path):
        if key in out:
            if dups is not None:
                dups.append(Item(key, str(path.parent), f"{path}:{lineno}", key,
                                 text_error=f"duplicate id (line {lineno} of {path.name}; its first line is kept)"))
            continue
        text, err = _decode(rest_raw)
        if err:
            items_err[key] = err
        out[key] = text or ""
    return out


Unit = tuple[str, float, float, int | None]  # (recording id in wav.scp, start, end (-1: to the end), channel)


def _kaldi_segments(d: Path, items: list[Item]) -> dict[str, tuple[str, float, float]]:
    """``segments`` as {utt: (recording, start, end)}; malformed lines become rejected items."""
    segs: dict[str, tuple[str, float, float]] = {}
    for lineno, line in enumerate((d / "segments").read_text(encoding="utf-8-sig", errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if parts[0] in segs:
            items.append(Item(parts[0], str(d), f"{d}/segments:{lineno}", parts[0],
                              text_error=f"duplicate id (line {lineno} of segments; its first line is kept)"))
            continue
        try:
            segs[parts[0]] = (parts[1], float(parts[2]), float(parts[3]))
        except (IndexError, ValueError):
            items.append(Item(parts[0], str(d), f"{d}/segments:{lineno}", parts[0],
                              text_error=f"malformed segments line {lineno}: {line.strip()!r}"))
    return segs


def _kaldi_units(segs: dict[str, tuple[str, float, float]], wavs: dict[str, str], text: dict[str, str],
                 split: bool) -> dict[str, Unit]:
    """Utterance → :data:`Unit`. With ``split``, ``<rec>_ch<k>`` (a segment's recording, or without segments a
    ``text`` id) is channel k of wav.scp's ``<rec>``."""
    def channel_of(name: str) -> tuple[str, int | None]:
        m = SPLIT_RE.match(name) if split and name not in wavs else None
        return (m.group(1), int(m.group(2))) if m and m.group(1) in wavs else (name, None)

    units: dict[str, Unit] = {}
    for utt, (rec, start, end) in segs.items():
        base, ch = channel_of(rec)
        units[utt] = (base, start, end, ch)
    if segs or not split:
        return units or {k: (k, 0.0, -1.0, None) for k in wavs}
    for utt in text:
        rec, ch = channel_of(utt)
        if ch is not None:
            units[utt] = (rec, 0.0, -1.0, ch)
    for rec in wavs.keys() - {u[0] for u in units.values()}:
        units[rec] = (rec, 0.0, -1.0, None)  # no <rec>_ch<k> transcript: reported as missing
    return units


def read_kaldi(d: Path, split: bool = False) -> list[Item]:
    """A Kaldi data dir; utterances are the ``segments`` entries, else the ``wav.scp`` entries (per channel with
    ``split``, see the module docstring)."""
    if not (d / "text").is_file():
        raise SourceError(f"{d}: Kaldi data dir without a 'text' file")
    text_err: dict[str, str] = {}
    dups: list[Item] = []  # later lines of a repeated key: rejected after the first one's item
    text = _kaldi_map(d / "text", text_err, dups)
    wavs = _kaldi_map(d / "wav.scp", {}, dups)
    spk = _kaldi_map(d / "utt2spk", {})
    items: list[Item] = []
    segs = _kaldi_segments(d, dups) if (d / "segments").is_file() else {}
    units = _kaldi_units(segs, wavs, text, split)
    if segs and any("remix" in w and w.endswith("|") for w in wavs.values()):
        log.warning("%s: wav.scp runs 'sox ... remix' and segments cut it: every segment decodes the whole call. "
                    "Faster: list the file itself in wav.scp and set 'channel: <0-based index>' in data.yaml", d)
    for utt, (rec, start, end, ch) in units.items():
        entry = wavs.get(rec, "")
        cmd = entry.endswith("|")
        if entry and not cmd and not Path(entry).is_absolute():
            # Kaldi paths are relative to the recipe root (the cwd); also accept paths relative to the data dir
            entry = str((d / entry) if (d / entry).exists() else Path.cwd() / entry)
        item = Item(utt, str(d), entry[:-1].strip() if cmd else entry, rec, text=text.get(utt), command=cmd,
                    start=start, duration=None if end < 0 else end - start, speaker=spk.get(utt), channel=ch)
        if not entry:
            item.text_error = f"no audio (recording {rec!r} not in wav.scp)"
        elif utt in text_err:
            item.text, item.text_error = None, text_err[utt]
        elif utt not in text:
            hint = f" as {utt}_ch<k>" if split and not segs else ""
            item.text_error = f"missing transcript (not in text{hint})"
        items.append(item)
    for utt in text.keys() - units.keys():
        where = "segments" if segs else "wav.scp" + (" as <recording>_ch<k>" if split else "")
        items.append(Item(utt, str(d), "", utt, text=text[utt], text_error=f"no audio (utterance not in {where})"))
    return items + dups


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
    """The item of one supervision; it keeps the supervision's channel (a list of several: none chosen)."""
    desc = rec.sources[0].source if len(rec.sources) == 1 else rec.id
    text = sup.text.strip() if sup.text else None
    ch = sup.channel[0] if isinstance(sup.channel, list) and len(sup.channel) == 1 else sup.channel
    return Item(sup.id, source, str(desc), rec.id, text=text, start=start, duration=sup.duration,
                speaker=sup.speaker, recording=rec, text_error=None if text is not None else "missing transcript",
                channel=ch if isinstance(ch, int) else None)


def _lhotse_files(d: Path) -> list[Path]:
    files = sorted(p for p in d.iterdir() if ".jsonl" in p.name or p.name.endswith(".json"))
    cuts = [p for p in files if "cuts" in p.name]
    return cuts or [p for p in files if "recordings" in p.name]


def read_source(path: str, channel: int | str | None = None) -> list[Item]:
    """Items of one data.yaml source (see the module docstring for the recognised layouts);
    ``Item.source`` is ``path`` itself, so stage 0 can map items back to their data.yaml entry.
    ``channel`` is the source's data.yaml ``channel`` (an index or ``"mix"``: every item's) or ``"split"``."""
    try:
        items = _read(path, channel == "split")
    except OSError as e:  # permissions, broken links, I/O errors: the source as a whole is unusable
        raise SourceError(f"{path}: cannot read source ({e})") from e
    given = channel if channel != "split" else None
    return [replace(it, source=path, channel=it.channel if given is None else given) for it in items]


def is_glob(path: str) -> bool:
    """True for a glob pattern: an explicit ``glob:`` prefix, or ``*``, ``?`` or ``[`` in a path that does not
    exist (an existing file or folder is always literal, whatever its name).

    >>> is_glob("glob:/data/a.wav"), is_glob("/no/such/*.wav"), is_glob("/")
    (True, True, False)
    """
    if path.startswith(GLOB_PREFIX):
        return True
    return any(ch in path for ch in "*?[") and not Path(path).exists()


def _with_transcripts(files: list[Path]) -> list[Path]:
    """``files`` plus the sibling transcripts a glob source reads (``<stem>.txt``, ``<stem>_ch<k>.txt``), which the
    pattern itself rarely matches: an edited transcript must redo stage 0 like an edited audio file. One listing
    per folder, not one per file."""
    stems: dict[Path, set[str]] = {}
    for f in files:
        stems.setdefault(f.parent, set()).add(f.stem)
    found = set(files)
    for folder, names in stems.items():
        for t in folder.glob("*.txt"):
            m = SPLIT_RE.match(t.stem)
            if t.stem in names or (m is not None and m.group(1) in names):
                found.add(t)
    return list(found)


def source_stamp(path: str) -> list[tuple[str, int, int]]:
    """(name, size, mtime) of what a source's listing is read from: the file itself, every file under a folder,
    recursively (a folder of audio files with sibling transcripts is read recursively; for a Kaldi or TSV folder
    this is a superset of what is read, so a change there redoes stage 0 rather than keep stale manifests) or
    every match of a glob. A corpus rewritten in place (e.g. the demo
    corpus regenerated) changes the stamp, so stage 0 redoes the split instead of keeping stale manifests.

    >>> source_stamp("/no/such/file.tsv")
    []
    """
    p = Path(path)
    if is_glob(path):
        files = _with_transcripts([Path(q) for q in glob.glob(glob_pattern(path), recursive=True)])
    elif p.is_dir():
        files = list(p.rglob("*"))
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


def audio_stamp(items: Iterable[Item]) -> str:
    """Digest of (path, size, mtime) of every audio file ``items`` read (file paths and a lhotse recording's file
    sources; shell commands and URLs are not files), sorted and de-duplicated: a listing whose audio was
    replaced in place (same TSV, same wav.scp) gets another stamp. A missing file stamps as missing: stage 0
    reports it itself.

    >>> audio_stamp([]) == audio_stamp([])
    True
    """
    paths: set[str] = set()
    for it in items:
        if it.recording is not None:
            paths.update(s.source for s in it.recording.sources if s.type == "file")
        elif not it.command:
            paths.add(it.audio)
    h = hashlib.sha256()
    for path in sorted(paths):
        try:
            st = Path(path).stat()
            h.update(f"{path}\t{st.st_size}\t{st.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
        except OSError:
            h.update(f"{path}\tmissing\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:16]


def _tsv_items(tsv: Path, split: bool) -> list[Item]:
    if split:
        raise SourceError(f"{tsv}: 'channels: split' needs a transcript per channel (a Kaldi dir or audio files with "
                          "<stem>_ch<k>.txt); a TSV has one per file: give 'channel: <index>' or 'channel: mix'")
    return read_tsv(tsv)


def _read(path: str, split: bool) -> list[Item]:
    if is_glob(path):
        return read_glob(path, split)
    p = Path(path)
    if p.is_file():
        if p.suffix.lower() == ".tsv":
            return _tsv_items(p, split)
        if ".jsonl" in p.name or p.suffix == ".json":
            return read_lhotse([p], path)
        raise SourceError(f"{p}: unsupported source file (expected .tsv or a lhotse .jsonl[.gz] manifest)")
    if not p.is_dir():
        raise SourceError(f"{p}: source not found")
    if (p / "wav.scp").is_file():
        return read_kaldi(p, split)
    for name in TSV_NAMES:
        if (p / name).is_file():
            return _tsv_items(p / name, split)
    lhotse_files = _lhotse_files(p)
    if lhotse_files:
        return read_lhotse(lhotse_files, path)
    files = sorted(q for q in p.rglob("*") if q.is_file())
    audio = [q for q in files if q.suffix.lower() in AUDIO_EXTS]
    if not audio:
        raise SourceError(f"{p}: no wav.scp, {' or '.join(TSV_NAMES)}, lhotse manifests or audio files in this folder")
    items = _file_items(audio, path, split)
    return items + _orphan_transcripts([q for q in files if q.suffix.lower() == ".txt"], items, path, split)
