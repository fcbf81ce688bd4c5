#!/usr/bin/env python3
"""Stage 2: the training CutSet and its augmentation plan (domain weights, ops, noise and RIR sets).

    python local/build_train_cuts.py --data-config egs/callbot/conf/data.yaml --manifest-dir data/manifests \
        --seed 42 [--bank-dir data/augment]

Writes into the manifest dir ``train_cuts.jsonl.gz`` (every valid train cut, ``custom["domain"]`` set;
with stage-1 features for domains that have no waveform augmentation) and ``train_plan.json`` (normalized
domain weights, epoch duration, per-domain ops, the AugmentConfig, noise and RIR file lists). Noises come
from ``noise_dir`` or are generated (``local/make_noises.py`` logic) under the bank dir; RIRs likewise
(``local/make_rirs.py``). Augmentation itself runs later, on the fly, in the DataLoader workers
(:mod:`chunkformer.data.datamodule`). Each output is redone only when its inputs changed or it is missing.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lhotse import CutSet, load_manifest

from chunkformer.data import banks
from chunkformer.data.augment import WAVE_OPS, AugmentConfig
from chunkformer.data.config import ConfigError, DataConfig, load_data_config
from chunkformer.data.manifests import (
    TRAIN_CUTS,
    TRAIN_PLAN,
    CutsDone,
    DomainPlan,
    Stage0Done,
    TrainPlan,
    cuts_path,
    domains_of,
    features_current,
    marker_path,
    plan_inputs,
    shared_audio,
)
from chunkformer.data.mixing import normalized_weights
from chunkformer.utils.cli import error
from chunkformer.utils.io import atomic_write_text, file_digest
from chunkformer.utils.logs import setup_logger

log = logging.getLogger("stage2")
BABBLE_UTTERANCES = 20


def train_sources(cfg: DataConfig, mdir: Path) -> dict[str, Path]:
    """Domain → cuts file: stage-1 cuts (with features) when the domain has no waveform ops and they are
    current, else the stage-0 cuts."""
    out = {}
    for dom, aug in cfg.domain_aug("train").items():
        src = cuts_path(mdir, dom, "train")
        if not src.is_file():
            raise ConfigError(f"{mdir}: no valid train cuts for domain {dom!r} (see rejected-train.tsv)")
        current = None if set(aug) & set(WAVE_OPS) else features_current(mdir, dom, "train")
        out[dom] = current or src
    stray = set(domains_of(mdir, "train")) - set(out)
    if stray:
        log.warning("ignoring train manifests of domains no longer in %s: %s", cfg.path, sorted(stray))
    return out


def build_cuts(srcs: dict[str, Path], mdir: Path) -> tuple[bool, list[Any]]:
    """(rebuilt?, cuts) of ``train_cuts.jsonl.gz``."""
    out, marker = mdir / TRAIN_CUTS, marker_path(mdir, "stage2-cuts")
    want = CutsDone({d: [p.name, file_digest(p)] for d, p in srcs.items()})
    if out.is_file() and CutsDone.read(marker) == want:
        return False, list(load_manifest(out))
    cuts = [c for p in srcs.values() for c in load_manifest(p)]
    tmp = out.with_name(".tmp_" + out.name)
    CutSet.from_cuts(cuts).to_file(tmp)
    tmp.replace(out)
    want.write(marker)
    return True, cuts


def noise_files(cfg: DataConfig, acfg: Any, bank_dir: Path, cuts: list[Any], seed: int) -> tuple[bool, list[Path]]:
    if cfg.noise_dir is not None:
        return False, banks.list_audio(cfg.noise_dir, "noise")
    kinds = list(acfg.noise_kinds)
    babble_ids = None
    if "babble" in kinds:
        babble_ids = ",".join(banks.cut_audio_key(c) for c in banks.babble_choice(cuts, BABBLE_UTTERANCES, seed))
    out = bank_dir / "noises"
    params = banks.noise_params(kinds, cfg.bank.noises_per_kind, cfg.bank.noise_seconds, seed, babble_ids)
    files = banks.bank_is_current(out, params)
    if files is not None:
        return False, files
    srcs = banks.babble_sources_from(cuts, BABBLE_UTTERANCES, seed) if babble_ids else None
    return True, banks.make_noise_bank(out, kinds, cfg.bank.noises_per_kind, cfg.bank.noise_seconds, seed, srcs,
                                       babble_ids)


def rir_files(cfg: DataConfig, acfg: Any, bank_dir: Path, seed: int) -> tuple[bool, list[Path]]:
    if cfg.rir_dir is not None:
        return False, banks.list_audio(cfg.rir_dir, "RIR")
    out, rng = bank_dir / "rirs", tuple(acfg.rt60_range)
    files = banks.bank_is_current(out, banks.rir_params(cfg.bank.num_rirs, rng, seed))
    if files is not None:
        return False, files
    return True, banks.make_rir_bank(out, cfg.bank.num_rirs, rng, seed)


def check_epoch_hours(cfg: DataConfig, durs: dict[str, list[float]], weights: dict[str, float]) -> None:
    """Refuses an ``epoch_hours`` whose share for some domain is shorter than that domain's longest cut: an epoch
    takes the cuts whose stream start falls in its window, so such a window can hold none, and epochs then come
    out empty (or without the domain). A window as long as the longest cut always holds a start."""
    if cfg.epoch_hours is None:
        return
    need = max(max(durs[d]) / weights[d] for d in durs)  # seconds of epoch giving each domain its longest cut
    if cfg.epoch_hours * 3600 < need:
        step = 10.0 ** (math.floor(math.log10(need / 3600)) - 3)  # 4 significant digits, rounded up: the value
        hours = math.ceil(need / 3600 / step) * step              # printed must pass this check itself
        raise ConfigError(f"{cfg.path}: mixing.epoch_hours {cfg.epoch_hours} is too short: some epochs would hold "
                          f"no cut of a domain (or none at all); use at least {hours:.4g} or null (all the "
                          "training audio)")


def make_plan(cfg: DataConfig, a: argparse.Namespace) -> tuple[TrainPlan, int, list[str]]:
    """The train plan, the number of training cuts, and what was (re)built for it."""
    mdir = a.manifest_dir
    done = Stage0Done.read(marker_path(mdir, "stage0-train"))
    if done is None or done.fingerprint != cfg.fingerprint("train"):
        raise ConfigError(f"{mdir}: train manifests are missing or were built from another data config; "
                          "run stage 0 (local/prepare_manifests.py) first")
    acfg = AugmentConfig.from_dict(cfg.augment)
    rebuilt, cuts = build_cuts(train_sources(cfg, mdir), mdir)
    report_leaks(cfg, mdir, cuts)
    durs: dict[str, list[float]] = {}
    for c in cuts:
        durs.setdefault(c.custom["domain"], []).append(c.duration)
    weights = normalized_weights(durs, cfg.domain_weights())
    check_epoch_hours(cfg, durs, weights)
    bank_dir = a.bank_dir or (Path(cfg.bank.dir) if cfg.bank.dir else mdir.resolve().parent / "augment")
    augs = cfg.domain_aug("train")
    ops = {d: sorted(set(aug) & set(WAVE_OPS)) for d, aug in augs.items()}
    any_op = {op for v in ops.values() for op in v}
    new_noise, noises = noise_files(cfg, acfg, bank_dir, cuts, a.seed) if "add_noise" in any_op else (False, [])
    new_rir, rirs = rir_files(cfg, acfg, bank_dir, a.seed) if "add_reverb" in any_op else (False, [])
    plan = TrainPlan(
        seed=a.seed, weights=cfg.domain_weights(),
        epoch_duration=cfg.epoch_hours * 3600 if cfg.epoch_hours else sum(sum(v) for v in durs.values()),
        domains={d: DomainPlan(ops[d], "specaugment" in augs[d], len(durs[d]), round(sum(durs[d]) / 3600, 4),
                               round(weights[d], 4)) for d in durs},
        augment={k: v for k, v in asdict(acfg).items() if k != "extra"},  # "extra" is not a from_dict key
        noises=[str(f.resolve()) for f in noises], rirs=[str(f.resolve()) for f in rirs],
        inputs=plan_inputs(mdir, cfg.plan_fingerprint()))
    redone = [n for n, f in [("train cuts", rebuilt), ("noises", new_noise), ("RIRs", new_rir)] if f]
    return plan, len(cuts), redone


def report_leaks(cfg: DataConfig, mdir: Path, cuts: list[Any]) -> None:
    """Warns when val/test cuts play audio that train cuts play too (the same recordings in two splits): their WER
    would flatter the model and early stopping would choose on training data. Reported, not refused: the user
    decides which split loses the items."""
    for split in ("val", "test"):
        for dom in domains_of(mdir, split):
            pairs = shared_audio(cuts, load_manifest(cuts_path(mdir, dom, split)))
            if pairs:
                shown = ", ".join(f"{o} = train {t}" for t, o in pairs[:3])
                log.warning("%s/%s: %d cut(s) hold audio that is also in train (%s%s); its WER will be optimistic: "
                            "remove them from one split in %s", split, dom, len(pairs), shown,
                            ", ..." if len(pairs) > 3 else "", cfg.path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-config", type=Path, required=True)
    p.add_argument("--manifest-dir", type=Path, default=Path("data/manifests"))
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--bank-dir", type=Path, default=None,
                   help="generated noises/RIRs (default: data.yaml generated.dir, else <manifest-dir>/../augment)")
    a = p.parse_args(argv)
    setup_logger(None)
    try:
        cfg = load_data_config(a.data_config)
        if not cfg.splits["train"]:
            print(f"stage 2: no train sources in {cfg.path}, nothing to do")
            return 0
        plan, n_cuts, redone = make_plan(cfg, a)
    except (ConfigError, FileNotFoundError, ValueError, TypeError) as e:
        return error(e)
    text, plan_path = plan.to_json(), a.manifest_dir / TRAIN_PLAN
    if (plan_path.read_text(encoding="utf-8") if plan_path.is_file() else None) != text:
        atomic_write_text(plan_path, text)
        redone.append("plan")
    for d, v in plan.domains.items():
        log.info("train %s: %d cuts, %.3f h, weight %.3f, ops %s%s", d, v.cuts, v.hours, v.weight, v.ops,
                 " + specaugment" if v.specaugment else "")
    log.info("epoch = %.3f h of audio; %d noises, %d RIRs", plan.epoch_duration / 3600, len(plan.noises),
             len(plan.rirs))
    if redone:
        print(f"stage 2: wrote {', '.join(redone)} ({a.manifest_dir / TRAIN_CUTS}, {plan_path})")
    else:
        print(f"stage 2: already done ({n_cuts} train cuts, plan in {plan_path}), nothing to do")
    return 0


if __name__ == "__main__":
    sys.exit(main())
