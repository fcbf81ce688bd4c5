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
exist is skipped; deleting one output (or changing the config) redoes that split only. Stage 0 replaces or removes
only files it wrote itself (listed in its ``.stage0-<split>.done`` marker): a user's own manifests in ``--out-dir``
(e.g. icefall ``*_cuts_train.jsonl.gz`` that a source reads) are never touched, and a name clash stops with an error.
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
from chunkformer.data.sources import Item, SourceError, audio_stamp, read_source, source_stamp
from chunkformer.data.validate import Kept, Limits, Rejection, validate_items
from chunkformer.text import RULES_VERSION, NormalizationReport, TextNormalizer
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


def source_files(cfg: DataConfig) -> dict[Path, str]:
    """Resolved file → the data.yaml source path that reads it (a recordings manifest's supervisions sibling too).
    Stage 0 never writes or removes these."""
    files: dict[Path, str] = {}
    for spec in (s for specs in cfg.splits.values() for s in specs):
        for name, _, _ in source_stamp(spec.path):
            f = Path(name).resolve()
            files[f] = spec.path
            if "recordings" in f.name:
                files[f.with_name(f.name.replace("recordings", "supervisions"))] = spec.path
    return files


def clear_own_outputs(cfg: DataConfig, split: str, out: Path, marker: Path, vocab_digest: str) -> None:
    """Removes what stage 0 wrote for ``split`` before (its marker's list), after checking that nothing it is
    about to write would replace a file it did not write; records the pending outputs first (crash-safe)."""
    old = Stage0Done.read(marker)
    owned = set(old.outputs) if old else set()
    planned = split_outputs(cfg.domains(split), split)
    sources = source_files(cfg)
    for f in (out / name for name in planned):
        if f.resolve() in sources:
            raise SourceError(f"{f}: stage 0 would overwrite this file, which source {sources[f.resolve()]} reads; "
                              "write the manifests elsewhere (--out-dir, run.sh --manifest-dir) or rename the domain")
    for name in planned:
        f = out / name
        if f.exists() and name not in owned:
            raise SourceError(f"{f}: exists and was not written by stage 0 (not in {marker.name}); move it away, "
                              "or write the manifests elsewhere (--out-dir, run.sh --manifest-dir)")
    Stage0Done("", vocab_digest, sorted(owned | set(planned))).write(marker)
    for name in sorted(owned):
        f = out / name
        if f.resolve() in sources:
            log.warning("%s: listed as a stage-0 output but a source reads it now: kept", f)
        else:
            f.unlink(missing_ok=True)


def read_split(cfg: DataConfig, split: str) -> list[Item]:
    """Every item of the split's sources, in data.yaml order (raises ``SourceError``)."""
    items = []
    for spec in cfg.splits[split]:
        got = read_source(spec.path, spec.channel)
        log.info("%s/%s: %d items from %s", split, spec.domain, len(got), spec.path)
        items.extend(got)
    return items


def prepare_split(cfg: DataConfig, split: str, tok: Tokenizer, out: Path, num_jobs: int,
                  items: list[Item] | None = None) -> tuple[int, int, list[str], str]:
    """Reads (unless given its ``items``), validates and writes one split (after :func:`clear_own_outputs`);
    returns (kept, rejected) counts, the names of the files written and the :func:`audio_stamp` of the items."""
    items = read_split(cfg, split) if items is None else items
    domain_of = {spec.path: spec.domain for spec in cfg.splits[split]}
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
    written = []
    for dom, ks in by_dom.items():
        if ks:
            written += write_domain(out, split, dom, ks)
        else:
            log.warning("%s/%s: no valid items (see %s)", split, dom, rejected_path(out, split))
    write_rejected(rejected_path(out, split), rejected)
    write_normalized(normalized_path(out, split), split, report)
    print(summary_table(split, by_dom, rej_dom), flush=True)
    kinds = ", ".join(f"{k} {n}" for k, n in report.counts.most_common())
    print(f"normalized {report.items_changed} of {report.items} transcripts ({kinds or 'no changes'}); "
          f"see {normalized_path(out, split)}", flush=True)
    return (len(kept), len(rejected), [*written, rejected_path(out, split).name, normalized_path(out, split).name],
            audio_stamp(items))


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
        why = "forced" if a.force else "config, vocab or outputs changed"
        items = None  # the split's items once read for the audio stamp, not read again to redo it
        try:
            if not a.force and info and (info.fingerprint, info.vocab) == (want.fingerprint, want.vocab) \
                    and all((a.out_dir / f).exists() for f in info.outputs):
                # markers from before the audio stamp and the rules version existed ("", 0) are trusted as they were
                rules_ok = info.text_rules in (0, RULES_VERSION)
                if rules_ok and info.audio:
                    items = read_split(cfg, split)
                if rules_ok and (items is None or audio_stamp(items) == info.audio):
                    done.append(f"{split}: {info.kept} kept, {info.rejected} rejected")
                    continue
                why = ("the text normaliser's rules changed" if not rules_ok
                       else "audio files its listings point at were replaced, added or removed")
            if info:
                log.info("stage 0: redoing split %s (%s)", split, why)
            clear_own_outputs(cfg, split, a.out_dir, marker, vdigest)
            n_kept, n_rej, written, audio = prepare_split(cfg, split, tok, a.out_dir, a.num_jobs, items)
        except SourceError as e:
            return error(f"{cfg.path}: {split}: {e}")
        Stage0Done(want.fingerprint, vdigest, written, n_kept, n_rej,
                   {d: list(ops) for d, ops in cfg.domain_aug(split).items()}, audio, RULES_VERSION).write(marker)
        redone.append(split)
    if not redone:
        print(f"stage 0: already done ({'; '.join(done)} in {a.out_dir}), nothing to do")
    elif done:
        print(f"stage 0: redid {', '.join(redone)}; unchanged: {'; '.join(done)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
