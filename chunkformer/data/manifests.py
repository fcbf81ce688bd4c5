"""Stage outputs on disk: file names, lhotse manifests from validated items, rejection lists, done markers.

Layout of the manifest dir (icefall naming, one set of files per domain and split)::

    <domain>_recordings_<split>.jsonl.gz   <domain>_supervisions_<split>.jsonl.gz   <domain>_cuts_<split>.jsonl.gz
    rejected-<split>.tsv                   (id, path, reason) of every rejected item of the split
    normalized-<split>.json                what transcript normalisation changed: counts per kind + examples
    .stage0-<split>.done                   fingerprint of the config + vocab the split was built from, and the
                                           names of the files stage 0 wrote (Stage0Done): the only ones it
                                           ever replaces or removes (a user's own manifests here are left alone)
    features.json                          where stage 1 put its features (FeaturesInfo; FbankDone markers there)
    train_cuts.jsonl.gz  train_plan.json   stage 2: the training cuts and their TrainPlan (CutsDone marker)

Cuts carry ``custom["domain"]``; supervisions hold the normalised transcript (data.yaml ``text:``) with
``custom["source"]`` = the data.yaml source it came from. Cuts and supervisions carry the item's channel (a MonoCut
on channel k of a multi-channel recording); only an explicit ``channel: mix`` gives a MultiCut over every channel,
marked ``custom["channel"] = "mix"``, which the pipeline averages.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lhotse import CutSet, MonoCut, MultiCut, RecordingSet, SupervisionSegment, SupervisionSet
from lhotse.utils import fastcopy

from chunkformer.data.validate import Kept, Rejection
from chunkformer.text import NormalizationReport, nfc
from chunkformer.utils.io import JsonRecord, atomic_write_text, file_digest

log = logging.getLogger("chunkformer.data")
TRAIN_CUTS = "train_cuts.jsonl.gz"
TRAIN_PLAN = "train_plan.json"
FEATURES_INFO = "features.json"


@dataclass
class Stage0Done(JsonRecord):
    """``.stage0-<split>.done``: what the split was built from (config fingerprint, vocab digest), its outputs."""

    fingerprint: str       # "" while the split is being written (outputs then lists what may exist)
    vocab: str
    outputs: list[str] = field(default_factory=list)  # file names stage 0 wrote in the manifest dir
    kept: int = 0
    rejected: int = 0
    aug: dict[str, list[str]] = field(default_factory=dict)  # domain → augmentations named in data.yaml
    # digest of (path, size, mtime) of every audio file the split's listings point at (a TSV or Kaldi listing can
    # stay the same while its audio is replaced); "" in markers written before it existed: not compared
    audio: str = ""
    text_rules: int = 0  # the normaliser's RULES_VERSION; 0 in markers written before it existed: not compared


@dataclass
class FeaturesInfo(JsonRecord):
    """``<manifest dir>/features.json``: where stage 1 wrote its features."""

    fbank_dir: str


@dataclass
class FbankDone(JsonRecord):
    """``<fbank dir>/.fbank-<domain>-<split>.done``: digest of the stage-0 cuts the features were computed from."""

    input: str
    cuts: int


@dataclass
class CutsDone(JsonRecord):
    """``.stage2-cuts.done``: domain → [file name, digest] of the cuts files ``train_cuts.jsonl.gz`` joins."""

    inputs: dict[str, list[str]]


@dataclass
class DomainPlan:
    ops: list[str]         # waveform augmentations, sorted (chunkformer.data.augment.WAVE_OPS)
    specaugment: bool
    cuts: int
    hours: float
    weight: float          # normalized share of audio duration per epoch


@dataclass
class TrainPlan(JsonRecord):
    """``train_plan.json``, written by stage 2 (``local/build_train_cuts.py``), read by the trainer's data module."""

    seed: int
    weights: dict[str, float] | None  # configured domain weights; None: natural proportions
    epoch_duration: float             # seconds of audio per epoch
    domains: dict[str, DomainPlan]
    augment: dict[str, Any]           # chunkformer.data.augment.AugmentConfig fields
    noises: list[str] = field(default_factory=list)
    rirs: list[str] = field(default_factory=list)
    inputs: str = ""                  # plan_inputs() at stage 2 ("": a plan older than the field, origin unknown)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainPlan:
        return cls(**{**data, "domains": {d: DomainPlan(**v) for d, v in data["domains"].items()}})


def plan_inputs(manifest_dir: Path, data_fingerprint: str) -> str:
    """What a train plan is built from: the data.yaml settings stage 2 reads (``DataConfig.plan_fingerprint``) and
    the vocabulary of the stage-0 train manifests (their marker). Stage 2 records it in the plan and the trainer
    recomputes it, so a data.yaml or vocab changed after stage 2 is refused instead of trained on silently."""
    done = Stage0Done.read(marker_path(manifest_dir, "stage0-train"))
    return f"{data_fingerprint}-{done.vocab if done else 'no-stage0'}"


def cuts_path(d: Path, domain: str, split: str) -> Path:
    return Path(d) / f"{domain}_cuts_{split}.jsonl.gz"


def supervisions_path(d: Path, domain: str, split: str) -> Path:
    return Path(d) / f"{domain}_supervisions_{split}.jsonl.gz"


def rejected_path(d: Path, split: str) -> Path:
    return Path(d) / f"rejected-{split}.tsv"


def normalized_path(d: Path, split: str) -> Path:
    return Path(d) / f"normalized-{split}.json"


def marker_path(d: Path, name: str) -> Path:
    return Path(d) / f".{name}.done"


MANIFEST_KINDS = ("recordings", "supervisions", "cuts")


def domain_outputs(domain: str, split: str) -> list[str]:
    """File names of one domain's stage-0 manifests (cuts last: written last)."""
    return [f"{domain}_{kind}_{split}.jsonl.gz" for kind in MANIFEST_KINDS]


def split_outputs(domains: list[str], split: str) -> list[str]:
    """File names stage 0 may write for ``split`` with these domains."""
    names = [n for dom in domains for n in domain_outputs(dom, split)]
    return names + [rejected_path(Path(), split).name, normalized_path(Path(), split).name]


def domains_of(d: Path, split: str) -> list[str]:
    """Domains with a stage-0 cuts manifest for ``split`` (sorted): those stage 0 wrote (its marker), never a
    user's own manifests lying in the same folder; without a marker, every ``*_cuts_<split>.jsonl.gz``."""
    suffix = f"_cuts_{split}.jsonl.gz"
    done = Stage0Done.read(marker_path(d, f"stage0-{split}"))
    names = done.outputs if done is not None else [p.name for p in Path(d).glob(f"*{suffix}")]
    return sorted(n[: -len(suffix)] for n in names if n.endswith(suffix) and (Path(d) / n).is_file())


def features_current(manifest_dir: Path, domain: str, split: str) -> Path | None:
    """The stage-1 cuts (with features) of ``domain``/``split`` when they were computed from the current stage-0
    cuts; None without stage 1, or when they are stale or incomplete (logged: fbank is then computed on the fly)."""
    info = FeaturesInfo.read(Path(manifest_dir) / FEATURES_INFO)
    if info is None or not cuts_path(Path(info.fbank_dir), domain, split).is_file():
        return None
    src, fb = cuts_path(manifest_dir, domain, split), Path(info.fbank_dir)
    done = FbankDone.read(marker_path(fb, f"fbank-{domain}-{split}"))
    if done is not None and done.input == file_digest(src):
        return cuts_path(fb, domain, split)
    log.warning("%s: stage-1 features are stale or incomplete; computing fbank on the fly", src)
    return None


def _audio_place(cut: Any) -> tuple[str, str]:
    """(audio file or command, channel) a cut reads; a file path resolved, so two spellings of one file meet."""
    src = cut.recording.sources[0]
    where = str(Path(src.source).resolve()) if src.type == "file" else str(src.source)
    return where, str(cut.channel)


def shared_audio(train: Iterable[Any], other: Iterable[Any]) -> list[tuple[str, str]]:
    """(train cut id, other cut id) for every cut of ``other`` that plays audio a train cut plays too: the same
    file and channel with overlapping times (the same recordings listed in train and in val/test make their WER
    optimistic and early stopping pick on training data). A copy of a file under another path is not detected."""
    spans: dict[tuple[str, str], list[tuple[float, float, str]]] = {}
    for c in train:
        spans.setdefault(_audio_place(c), []).append((c.start, c.end, c.id))
    pairs = []
    for c in other:
        hit = next((i for s, e, i in spans.get(_audio_place(c), []) if s < c.end and c.start < e), None)
        if hit is not None:
            pairs.append((hit, c.id))
    return pairs


def build_manifests(kept: list[Kept], domain: str) -> tuple[RecordingSet, SupervisionSet, CutSet]:
    """(RecordingSet, SupervisionSet, CutSet) of one domain's valid items."""
    recs: dict[str, object] = {}
    renamed: dict[int, object] = {}  # Recording object → the one written (items of one recording share it)
    sups, cuts = [], []
    for k in kept:
        rec = renamed.get(id(k.recording))
        if rec is None:
            rec = k.recording
            while rec.id in recs:  # two sources may reuse a recording id (e.g. two Kaldi dirs): keep both
                rec = fastcopy(rec, id=rec.id + "+")
            renamed[id(k.recording)] = recs[rec.id] = rec
        mix = isinstance(k.channel, list)
        sup = SupervisionSegment(id=k.item.id, recording_id=rec.id, start=k.start, duration=k.duration,
                                 channel=k.channel, text=nfc(k.item.text or ""), speaker=k.item.speaker,
                                 custom={"source": k.item.source})
        sups.append(sup)
        cls = MultiCut if mix else MonoCut
        custom = {"domain": domain, "channel": "mix"} if mix else {"domain": domain}
        cuts.append(cls(id=k.item.id, start=k.start, duration=k.duration, channel=k.channel, recording=rec,
                        supervisions=[fastcopy(sup, start=0.0)], custom=custom))
    return (RecordingSet.from_recordings(recs.values()), SupervisionSet.from_segments(sups),
            CutSet.from_cuts(cuts))


def write_domain(d: Path, split: str, domain: str, kept: list[Kept]) -> list[str]:
    """Writes the three manifests of one domain and split (cuts last: its presence means complete); their names."""
    recs, sups, cuts = build_manifests(kept, domain)
    d = Path(d)
    names = domain_outputs(domain, split)
    recs.to_file(d / names[0])
    sups.to_file(d / names[1])
    tmp = d / f".tmp_{names[2]}"
    cuts.to_file(tmp)
    tmp.replace(d / names[2])
    return names


def write_rejected(path: Path, rejected: list[Rejection]) -> None:
    """``id<TAB>path<TAB>reason`` with a header; tabs/newlines inside fields become spaces, and bytes that are not
    UTF-8 (a file name or id read with ``surrogateescape``) are written as ``\\xNN`` escapes."""
    def clean(s: str) -> str:
        return " ".join(escape_undecodable(str(s)).split())

    lines = ["id\tpath\treason"] + [f"{clean(r.id)}\t{clean(r.path)}\t{clean(r.tsv_reason())}" for r in rejected]
    atomic_write_text(path, "\n".join(lines) + "\n")


def escape_undecodable(s: str) -> str:
    """``s`` with the surrogates of undecodable bytes (``surrogateescape``) shown as ``\\xNN``, so it can be written
    as UTF-8.

    >>> escape_undecodable(b"caf\\xe9.wav".decode("utf-8", "surrogateescape"))
    'caf\\\\xe9.wav'
    """
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def write_normalized(path: Path, split: str, report: NormalizationReport) -> None:
    """The split's normalisation report as JSON (human-readable: UTF-8, indented)."""
    atomic_write_text(path, json.dumps({"split": split, **report.as_dict()}, ensure_ascii=False, indent=1) + "\n")


def summary_table(split: str, kept: dict[str, list[Kept]], rejected: dict[str, list[Rejection]]) -> str:
    """Human summary of one split: per domain kept/rejected/hours, then rejections per reason."""
    doms = list(dict.fromkeys(list(kept) + list(rejected)))
    rows = [("domain", "kept", "hours", "rejected")]
    for dom in doms:
        ks = kept.get(dom, [])
        rows.append((dom, str(len(ks)), f"{sum(k.duration for k in ks) / 3600:.3f}", str(len(rejected.get(dom, [])))))
    tot_k = sum(len(v) for v in kept.values())
    tot_h = sum(k.duration for v in kept.values() for k in v) / 3600
    rows.append(("total", str(tot_k), f"{tot_h:.3f}", str(sum(len(v) for v in rejected.values()))))
    reasons = Counter(r.reason for v in rejected.values() for r in v)
    rrows = [("rejection reason", "items")] + [(r, str(n)) for r, n in reasons.most_common()]
    return f"split {split}\n" + _fmt(rows) + ("\n" + _fmt(rrows) if reasons else "\nno rejections")


def _fmt(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for n, r in enumerate(rows):
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)
