#!/usr/bin/env python3
"""Stage 0: validated lhotse manifests per domain and split from the corpora listed in data.yaml.

    python local/prepare_manifests.py --data-config egs/callbot/conf/data.yaml \
        --vocab path/to/model_or_vocab.txt --out-dir data/manifests [--num-jobs 2] [--force]

Every item is validated (see :mod:`chunkformer.data.validate`): kept items go to
``<out>/<domain>_{recordings,supervisions,cuts}_<split>.jsonl.gz``, rejected ones to
``<out>/rejected-<split>.tsv`` (id, path, reason), and a summary table is printed per split. Transcripts are
normalised first (data.yaml ``text:``, :class:`chunkformer.text.TextNormalizer` with the vocabulary's tone-mark
spelling); what changed is counted in ``<out>/normalized-<split>.json`` (counts per kind + examples).
Idempotent per split: a split whose sources, limits and vocabulary are unchanged and whose outputs all
exist is skipped; deleting one output (or changing the config) redoes that split only.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from chunkformer.data.config import SPLITS, ConfigError, DataConfig, load_data_config
from chunkformer.data.manifests import (
    Stage0Done,
    marker_path,
    normalized_path,
    rejected_path,
    split_outputs,
    summary_table,
    write_domain,
    write_normalized,
    write_rejected,
)
from chunkformer.data.sources import SourceError, read_source
from chunkformer.data.validate import Kept, Limits, Rejection, validate_items
from chunkformer.text import NormalizationReport, TextNormalizer
from chunkformer.tokenizer import WORD_START, Tokenizer
from chunkformer.utils.cli import error
from chunkformer.utils.io import file_digest
from chunkformer.utils.logs import setup_logger

log = logging.getLogger("stage0")


def vocab_file(path: Path) -> Path:
    """``vocab.txt`` itself, or the one inside a model folder."""
    return path / "vocab.txt" if path.is_dir() else path


def split_limits(cfg: DataConfig, split: str) -> dict[str, Limits]:
    """Limits per source; train sources with speed perturbation are checked at the fastest factor."""
    v = cfg.validation
    fastest = cfg.max_speed() if v.ctc_at_max_speed else 1.0
    return {s.path: Limits(v.max_duration, v.min_duration, v.silence_dbfs,
                           fastest if split == "train" and "speed_perturb" in s.aug else 1.0)
            for s in cfg.splits[split]}


def prepare_split(cfg: DataConfig, split: str, tok: Tokenizer, out: Path, num_jobs: int) -> tuple[int, int]:
    """Reads, validates and writes one split; returns (kept, rejected) counts."""
    for p in split_outputs(out, split):
        p.unlink()
    items, domain_of = [], {}
    for spec in cfg.splits[split]:
        got = read_source(spec.path)
        log.info("%s/%s: %d items from %s", split, spec.domain, len(got), spec.path)
        domain_of[spec.path] = spec.domain
        items.extend(got)
    words = {t[len(WORD_START):] for t in tok.tokens if t.startswith(WORD_START) and len(t) > len(WORD_START)}
    report = NormalizationReport()
    kept, rejected = validate_items(items, tok, split_limits(cfg, split), num_jobs, desc=f"stage 0 {split}",
                                    normalizer=TextNormalizer(cfg.text, vocab=words), report=report)
    by_dom: dict[str, list[Kept]] = {d: [] for d in cfg.domains(split)}
    rej_dom: dict[str, list[Rejection]] = {d: [] for d in cfg.domains(split)}
    for k in kept:
        by_dom[domain_of[k.item.source]].append(k)
    for r in rejected:
        rej_dom[domain_of[r.source]].append(r)
    for dom, ks in by_dom.items():
        if ks:
            write_domain(out, split, dom, ks)
        else:
            log.warning("%s/%s: no valid items (see %s)", split, dom, rejected_path(out, split))
    write_rejected(rejected_path(out, split), rejected)
    write_normalized(normalized_path(out, split), split, report)
    print(summary_table(split, by_dom, rej_dom), flush=True)
    kinds = ", ".join(f"{k} {n}" for k, n in report.counts.most_common())
    print(f"normalized {report.items_changed} of {report.items} transcripts ({kinds or 'no changes'}); "
          f"see {normalized_path(out, split)}", flush=True)
    return len(kept), len(rejected)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-config", type=Path, required=True)
    p.add_argument("--vocab", type=Path, required=True, help="vocab.txt or a model folder containing it")
    p.add_argument("--out-dir", type=Path, default=Path("data/manifests"))
    p.add_argument("--num-jobs", type=int, default=2, help="processes decoding audio")
    p.add_argument("--force", action="store_true", help="redo every split")
    a = p.parse_args(argv)
    setup_logger(None)
    try:
        cfg = load_data_config(a.data_config)
        vocab = vocab_file(a.vocab)
        tok = Tokenizer.from_file(vocab)
    except (ConfigError, FileNotFoundError, ValueError) as e:
        return error(e)
    a.out_dir.mkdir(parents=True, exist_ok=True)
    vdigest = file_digest(vocab)
    done, redone = [], []
    for split in SPLITS:
        if not cfg.splits[split]:
            continue
        marker = marker_path(a.out_dir, f"stage0-{split}")
        want = Stage0Done(cfg.fingerprint(split), vdigest)
        info = Stage0Done.read(marker)
        if not a.force and info and (info.fingerprint, info.vocab) == (want.fingerprint, want.vocab) \
                and all((a.out_dir / f).exists() for f in info.outputs):
            done.append(f"{split}: {info.kept} kept, {info.rejected} rejected")
            continue
        if info:
            why = "forced" if a.force else "config, vocab or outputs changed"
            log.info("stage 0: redoing split %s (%s)", split, why)
        marker.unlink(missing_ok=True)
        try:
            n_kept, n_rej = prepare_split(cfg, split, tok, a.out_dir, a.num_jobs)
        except SourceError as e:
            return error(f"{cfg.path}: {split}: {e}")
        Stage0Done(want.fingerprint, vdigest, [q.name for q in split_outputs(a.out_dir, split)], n_kept, n_rej,
                   {d: list(ops) for d, ops in cfg.domain_aug(split).items()}).write(marker)
        redone.append(split)
    if not redone:
        print(f"stage 0: already done ({'; '.join(done)} in {a.out_dir}), nothing to do")
    elif done:
        print(f"stage 0: redid {', '.join(redone)}; unchanged: {'; '.join(done)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
