"""``data.yaml``: which corpora feed which split and domain, with what weight and augmentation.

The shape users write (relative paths resolve against the yaml file's folder)::

    train:
      - path: /data/telephony/*.wav        # glob, Kaldi dir, TSV, folder with transcripts.tsv, lhotse manifests
        domain: telephony
        weight: 0.8                        # share of audio duration per epoch (normalized over domains)
        aug: [specaugment, speed_perturb, add_noise, add_reverb]
        channel: 1                         # multi-channel audio: 0-based channel (as lhotse counts), or
                                           # `channel: mix` (average), or `channels: split` (one item per channel)
    val:  [{path: /data/val/list.tsv, domain: telephony, aug: none}]
    test: [...]
    validation: {max_duration: 30.0, ...}  # stage-0 checks, see ValidationConfig
    mixing: {epoch_hours: null}            # audio per epoch; null = the whole training set's duration
    noise_dir: null                        # folder of noise recordings; null = generated noises
    rir_dir: null                          # folder of RIR wav files; null = generated RIRs
    generated: {...}                       # sizes of the generated noise/RIR sets, see BankConfig
    augment: {...}                         # chunkformer.data.augment.AugmentConfig fields
    text: {numbers: true, ...}             # transcript normalisation, see chunkformer.text.TextNormConfig

Several sources may share a domain: their audio is pooled, their weights add up, and they must name
the same augmentations (the plan is per domain).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from chunkformer.audio import SILENCE_DBFS
from chunkformer.data.augment import WAVE_OPS, AugmentConfig
from chunkformer.data.sources import GLOB_PREFIX, source_stamp
from chunkformer.text.normalize import TextNormConfig

SPLITS = ("train", "val", "test")
FEATURE_OPS = ("specaugment",)
AUG_NAMES = FEATURE_OPS + WAVE_OPS
_DOMAIN_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class ConfigError(ValueError):
    """A data.yaml problem; the message names the file and the offending key."""


@dataclass(frozen=True)
class SourceSpec:
    """One corpus entry of a split. ``path`` is absolute (a glob pattern stays a pattern, a ``glob:`` prefix stays).

    ``channel``: which channel of multi-channel audio the items are: a 0-based index (as lhotse counts),
    ``"mix"`` (explicit downmix), ``"split"`` (one item per channel, see :mod:`chunkformer.data.sources`) or None
    (mono audio expected: stage 0 rejects a multi-channel recording, never averaging two speakers silently).
    """

    path: str
    domain: str
    weight: float | None = None
    aug: tuple[str, ...] = ()
    channel: int | str | None = None


@dataclass
class ValidationConfig:
    """Stage-0 limits. Durations in seconds; ``silence_dbfs`` is the peak level below which audio is
    treated as digital silence; ``ctc_at_max_speed`` checks CTC feasibility for train items with
    ``speed_perturb`` at the fastest speed factor too (a 1.1x copy has 9 % fewer frames)."""

    max_duration: float = 30.0
    min_duration: float = 0.05
    silence_dbfs: float = SILENCE_DBFS
    ctc_at_max_speed: bool = True


@dataclass
class BankConfig:
    """Sizes of the generated augmentation sets (used when ``noise_dir`` / ``rir_dir`` are not given);
    which noise kinds and RT60 range come from ``augment`` (``noise_kinds``, ``rt60_range``)."""

    dir: str | None = None              # default: <manifest_dir>/../augment
    noises_per_kind: int = 4
    noise_seconds: float = 20.0
    num_rirs: int = 100


@dataclass
class DataConfig:
    """The parsed ``data.yaml``."""

    path: Path
    splits: dict[str, list[SourceSpec]]
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    epoch_hours: float | None = None
    noise_dir: Path | None = None
    rir_dir: Path | None = None
    bank: BankConfig = field(default_factory=BankConfig)
    augment: dict[str, Any] = field(default_factory=dict)
    text: TextNormConfig = field(default_factory=TextNormConfig)

    def domains(self, split: str) -> list[str]:
        """Domains of ``split`` in first-appearance order."""
        return list(dict.fromkeys(s.domain for s in self.splits.get(split, [])))

    def domain_weights(self) -> dict[str, float] | None:
        """Normalized train weights per domain (sum 1), or None when no source gives a weight."""
        train = self.splits.get("train", [])
        if all(s.weight is None for s in train):
            return None
        total: dict[str, float] = {}
        for s in train:
            total[s.domain] = total.get(s.domain, 0.0) + float(s.weight or 0.0)
        norm = sum(total.values())
        return {d: w / norm for d, w in total.items()}

    def domain_aug(self, split: str) -> dict[str, tuple[str, ...]]:
        """Augmentations per domain of ``split`` (checked equal across a domain's sources at load)."""
        return {s.domain: s.aug for s in self.splits.get(split, [])}

    def max_speed(self) -> float:
        """Fastest speed-perturbation factor of the augmentation config (1.0 when none)."""
        factors = self.augment.get("speed_factors", AugmentConfig.speed_factors)
        return max([1.0, *map(float, factors)])

    def fingerprint(self, split: str) -> str:
        """Hash of everything stage 0 depends on for ``split`` (sources, validation limits, normalisation)."""
        sources = self.splits.get(split, [])
        # a source without a channel hashes as before channels existed (mono corpora keep their stage-0 output)
        specs = [{k: v for k, v in asdict(s).items() if k != "channel" or v is not None} for s in sources]
        payload = {"sources": specs, "validation": asdict(self.validation),
                   "text": asdict(self.text),
                   "speed": self.augment.get("speed_factors"), "stamps": [source_stamp(s.path) for s in sources]}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def plan_fingerprint(self) -> str:
        """Hash of everything stage 2's plan takes from data.yaml (the train sources with their stage-0 settings,
        weights, augmentation, epoch size, noise/RIR settings): recorded in ``train_plan.json`` so the trainer can
        tell a data.yaml edited after stage 2 from the one the plan was built from."""
        payload = {"train": self.fingerprint("train"), "weights": self.domain_weights(),
                   "aug": self.domain_aug("train"), "epoch_hours": self.epoch_hours, "noise_dir": self.noise_dir,
                   "rir_dir": self.rir_dir, "bank": asdict(self.bank), "augment": self.augment}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _resolve(base: Path, p: str) -> str:
    """``p`` made absolute against ``base``; an explicit ``glob:`` prefix is kept in front.

    >>> _resolve(Path("/cfg"), "glob:calls/*.wav")
    'glob:/cfg/calls/*.wav'
    """
    prefix = GLOB_PREFIX if p.startswith(GLOB_PREFIX) else ""
    p = str(Path(p[len(prefix):]).expanduser())
    return prefix + (p if Path(p).is_absolute() else str(base / p))


def _parse_channel(entry: dict[str, Any], where: str) -> int | str | None:
    """``channel: <int>|mix`` or ``channels: split`` of one source entry (at most one of them)."""
    if "channel" in entry and "channels" in entry:
        raise ConfigError(f"{where}: give 'channel' or 'channels', not both")
    if "channels" in entry:
        if entry["channels"] != "split":
            raise ConfigError(f"{where}: 'channels' takes only 'split' (one item per channel), "
                              f"got {entry['channels']!r}")
        return "split"
    value = entry.get("channel")
    if value is None or value == "mix":
        return value
    if value == "split":
        return "split"
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}: 'channel' must be a 0-based channel index (0 = first channel, as lhotse "
                          f"counts) or 'mix', got {value!r}")
    return value


def _parse_aug(value: Any, where: str) -> tuple[str, ...]:
    if value is None or value == "none" or value == []:
        return ()
    if value == "all":
        return AUG_NAMES[:-1]  # every augmentation except the optional telephony channel
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(a, str) for a in items):
        raise ConfigError(f"{where}: aug must be 'none', 'all' or a list of names from {list(AUG_NAMES)}")
    bad = [a for a in items if a not in AUG_NAMES]
    if bad:
        raise ConfigError(f"{where}: unknown augmentation(s) {bad}; choose from {list(AUG_NAMES)}")
    return tuple(dict.fromkeys(items))


def _parse_source(entry: Any, base: Path, where: str, split: str) -> SourceSpec:
    if isinstance(entry, str):
        entry = {"path": entry}
    if not isinstance(entry, dict) or "path" not in entry:
        raise ConfigError(f"{where}: each source needs at least 'path' (and 'domain')")
    unknown = set(entry) - {"path", "domain", "weight", "aug", "channel", "channels"}
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; "
                          "allowed: path, domain, weight, aug, channel, channels")
    domain = str(entry.get("domain") or "")
    if not _DOMAIN_RE.match(domain):
        raise ConfigError(f"{where}: 'domain' must be a name like telephony (letters, digits, _ . -), got {domain!r}")
    weight = entry.get("weight")
    if weight is not None:
        if split != "train":
            raise ConfigError(f"{where}: 'weight' only applies to train sources")
        if not isinstance(weight, int | float) or not weight > 0:
            raise ConfigError(f"{where}: 'weight' must be a positive number, got {weight!r}")
    aug = _parse_aug(entry.get("aug"), where)
    if split != "train" and aug:
        raise ConfigError(f"{where}: {split} sets are never augmented; use 'aug: none'")
    return SourceSpec(_resolve(base, str(entry["path"])), domain, None if weight is None else float(weight), aug,
                      _parse_channel(entry, where))


def _dataclass_from(cls: type, d: Any, where: str) -> Any:
    if d is None:
        return cls()
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected a mapping")
    names = {f.name for f in fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(names)}")
    conv = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
    return cls(**conv)


def _check_sources(path: Path, split: str, specs: list[SourceSpec]) -> None:
    """One augmentation plan per domain, and each corpus once per split: a list named twice would put the same
    utterance ids in two places, and stage 0 would keep only one of them."""
    augs: dict[str, tuple[str, ...]] = {}
    domains: dict[str, str] = {}
    for s in specs:
        if augs.setdefault(s.domain, s.aug) != s.aug:
            raise ConfigError(f"{path}: {split} sources of domain {s.domain!r} name different 'aug' lists "
                              f"({list(augs[s.domain])} vs {list(s.aug)}); the augmentation plan is per domain")
        key = os.path.normpath(s.path)
        if key in domains:
            raise ConfigError(f"{path}: {split} names {key} twice (domains {domains[key]!r} and {s.domain!r}); "
                              "list each corpus once per split (a copy needs other utterance ids)")
        domains[key] = s.domain


def load_data_config(path: str | Path) -> DataConfig:
    """Parses and checks ``data.yaml``; raises :class:`ConfigError` naming the file and key on bad input."""
    path = Path(path).resolve()
    if not path.is_file():
        raise ConfigError(f"{path}: data config not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from e
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with train/val/test lists")
    allowed = set(SPLITS) | {"validation", "mixing", "noise_dir", "rir_dir", "generated", "augment", "text"}
    unknown = set(raw) - allowed
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    base = path.parent
    splits: dict[str, list[SourceSpec]] = {}
    for split in SPLITS:
        entries = raw.get(split) or []
        if not isinstance(entries, list):
            raise ConfigError(f"{path}: '{split}' must be a list of sources")
        splits[split] = [_parse_source(e, base, f"{path}: {split}[{i}]", split) for i, e in enumerate(entries)]
    if not splits["train"] and not splits["val"] and not splits["test"]:
        raise ConfigError(f"{path}: no sources in train, val or test")
    train = splits["train"]
    if any(s.weight is None for s in train) and any(s.weight is not None for s in train):
        raise ConfigError(f"{path}: give 'weight' for every train source or for none (natural proportions)")
    for split, specs in splits.items():
        _check_sources(path, split, specs)
    mixing = raw.get("mixing") or {}
    if not isinstance(mixing, dict) or set(mixing) - {"epoch_hours"}:
        raise ConfigError(f"{path}: 'mixing' allows only 'epoch_hours'")
    epoch_hours = mixing.get("epoch_hours")
    if epoch_hours is not None and not (isinstance(epoch_hours, int | float) and epoch_hours > 0):
        raise ConfigError(f"{path}: mixing.epoch_hours must be a positive number or null")
    augment = raw.get("augment") or {}
    if not isinstance(augment, dict):
        raise ConfigError(f"{path}: 'augment' must be a mapping of AugmentConfig fields")
    bank = _dataclass_from(BankConfig, raw.get("generated"), f"{path}: generated")
    try:
        text = TextNormConfig.from_mapping(raw.get("text"))
    except (TypeError, ValueError) as e:  # TypeError: a mistyped value reaching the dataclass
        raise ConfigError(f"{path}: {e}") from e
    if bank.dir is not None:
        bank.dir = _resolve(base, bank.dir)
    return DataConfig(
        path=path,
        splits=splits,
        validation=_dataclass_from(ValidationConfig, raw.get("validation"), f"{path}: validation"),
        epoch_hours=None if epoch_hours is None else float(epoch_hours),
        noise_dir=Path(_resolve(base, raw["noise_dir"])) if raw.get("noise_dir") else None,
        rir_dir=Path(_resolve(base, raw["rir_dir"])) if raw.get("rir_dir") else None,
        bank=bank,
        augment=dict(augment),
        text=text,
    )
