#!/usr/bin/env python3
"""The domain word n-gram LM of ``beam+lm`` decoding (``run.sh --lm auto``): KenLM's lmplz on the training text.

    python local/train_lm.py --manifest-dir data/manifests --vocab egs/callbot/demo/pretrained/vocab.txt \
        --out-dir exp/callbot/lm [--kenlm-bin .venv/kenlm/bin] [--orders 3,4] [--domains telephony,conversation] \
        [--text more.txt ...] [--classes catalogue.tsv [--class-copies 10]]

Text: the transcripts of the data config's train sets, i.e. the lhotse supervisions stage 0 wrote
(``<domain>_supervisions_train.jsonl.gz``: normalised by data.yaml ``text:``, in the vocabulary's spelling),
one sentence per supervision, as the words the decoder emits (:func:`chunkformer.decoding.lm_build.lm_sentences`;
syllables are words); plus the sentences of every ``--text`` file (one per line, normalised here: the fine-tune's
transcripts are a few thousand sentences of a few patterns, and more text of the language helps on sentences they
do not contain; docs/DECODING.md). ``--classes`` (``class<TAB>phrase`` lines: the call-bot's catalogue of names,
streets, products…) makes the LM a class LM in its text: every transcript holding a catalogue phrase is written
``--class-copies`` more times with that phrase replaced by other members of its class
(:mod:`chunkformer.decoding.lm_classes`), so the members no training call said get the slot's probability too.
Each order of ``--orders`` is estimated by lmplz (modified Kneser-Ney,
``--discount_fallback``); the order with the lowest perplexity on the val transcripts (pooled; their sentence
patterns are held out from training, and the test sets are never read) becomes ``lm.arpa``, and ``lm.bin``
(KenLM binary, by build_binary: what decoding loads).

Writes into --out-dir: ``lm-o<N>.arpa`` per order, ``lm.arpa``, ``lm.bin``, ``lm.json`` (the chosen order, the
perplexities, sentence and word counts) and ``.lm.done``, keyed by the inputs (digests of the supervisions, the
``--text`` files and the vocab, the orders, the lmplz binary): a rerun with the same inputs does nothing. ``lmplz`` and
``build_binary`` come from ``local/build_kenlm.sh`` (``--kenlm-bin``, default where it installs them).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path

from lhotse import load_manifest

from chunkformer.data.manifests import domains_of, marker_path, supervisions_path
from chunkformer.decoding.hotwords import phrase_normalizer
from chunkformer.decoding.lm import ArpaLM, LMError
from chunkformer.decoding.lm_build import FALLBACK_NOTE, build_binary, estimate_arpa, lm_sentences, perplexity
from chunkformer.decoding.lm_classes import expand_classes, read_class_file
from chunkformer.tokenizer import Tokenizer
from chunkformer.utils.cli import error
from chunkformer.utils.io import JsonRecord, atomic_write, atomic_write_text, file_digest
from chunkformer.utils.logs import setup_logger

log = logging.getLogger("train_lm")
REPO = Path(__file__).resolve().parents[1]
LM_VERSION = 1  # bumped when the text preparation or the choice of order changes (invalidates .lm.done)


@dataclass
class LMDone(JsonRecord):
    """``<out>/.lm.done``: what the LM was estimated from."""

    inputs: dict[str, str]  # file name → digest (supervisions, vocab, lmplz)
    orders: list[int]
    version: int = LM_VERSION
    outputs: list[str] = field(default_factory=list)


def read_texts(mdir: Path, split: str, domains: list[str] | None = None) -> dict[str, list[str]]:
    """{domain: transcripts} of ``split`` (every domain stage 0 wrote, or ``domains``)."""
    have = domains_of(mdir, split)
    missing = sorted(set(domains or []) - set(have))
    if missing:
        raise ValueError(f"{mdir}: no {split} supervisions for domain(s) {missing}; {split} domains: {have}")
    return {d: [s.text or "" for s in load_manifest(supervisions_path(mdir, d, split))] for d in domains or have}


def choose_order(arpas: dict[int, Path], val_lines: list[str]) -> tuple[int, dict[int, float]]:
    """The order whose LM has the lowest val perplexity (the smaller order on a tie; the first order when there
    is no val text) and every order's perplexity."""
    if not val_lines:
        log.warning("no val transcripts: keeping order %d without comparing", min(arpas))
        return min(arpas), {}
    ppl = {n: perplexity(ArpaLM(path), val_lines) for n, path in arpas.items()}
    return min(ppl, key=lambda n: (ppl[n], n)), ppl


@dataclass
class ExtraText:
    """A ``--text`` file's normalised sentences and how many non-blank lines it had."""

    texts: list[str]
    lines: int


def read_text_file(path: Path, tok: Tokenizer) -> ExtraText:
    """A ``--text`` file: one sentence per line, normalised like hotword phrases (the project's normaliser with
    the vocabulary's spelling: numbers in words, lower case, no punctuation); blank lines ignored. ValueError
    (naming the file) for a file that is not UTF-8 or holds no sentence."""
    try:
        raw = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    norm = phrase_normalizer(tok)
    texts = [t for t in (norm(line).text for line in raw if line.strip()) if t]
    if not texts:
        raise ValueError(f"{path}: no sentence (one per line)")
    return ExtraText(texts, sum(1 for line in raw if line.strip()))


@dataclass
class ClassCatalogue:
    """A ``--classes`` file's members, normalised and in the LM's words, and the members left out."""

    path: str
    classes: dict[str, list[str]]
    unspellable: dict[str, list[str]]


def read_catalogue(path: Path, tok: Tokenizer) -> ClassCatalogue:
    """A ``--classes`` file, every phrase normalised like a hotword phrase and spelt as the decoder's words; a
    phrase the vocabulary cannot spell is set aside (reported). ValueError (naming the file) for a bad line or
    no spellable member at all."""
    norm = phrase_normalizer(tok)
    classes: dict[str, list[str]] = {}
    bad: dict[str, list[str]] = {}
    for cls, phrases in read_class_file(path).items():
        for p in phrases:
            got, _ = lm_sentences([norm(p).text], tok)
            if got:
                classes.setdefault(cls, []).append(got[0])
            else:
                bad.setdefault(cls, []).append(p)
    if not classes:
        raise ValueError(f"{path}: the vocabulary cannot spell any phrase")
    return ClassCatalogue(str(path), classes, bad)


def expand(lines: list[str], cat: ClassCatalogue, copies: int) -> tuple[list[str], dict]:
    """The transcripts' class expansion (:func:`expand_classes`, seed 0) and its lm.json record."""
    exp = expand_classes(lines, cat.classes, copies)
    for cls, phrases in cat.unspellable.items():
        log.warning("%s: class %s: %d phrase(s) the vocabulary cannot spell left out: %s", cat.path, cls,
                    len(phrases), ", ".join(phrases[:5]) + (" ..." if len(phrases) > 5 else ""))
    log.info("%s: %d of %d transcripts hold a catalogue phrase; %d class-expanded sentences added", cat.path,
             exp.matched_sentences, len(lines), len(exp.lines))
    return exp.lines, {"file": cat.path, "copies": copies, "transcripts_matched": exp.matched_sentences,
                       "sentences_added": len(exp.lines),
                       "classes": {c: {"members": len(ms), "in_transcripts": exp.occurrences.get(c, 0),
                                       "unspellable": len(cat.unspellable.get(c, []))}
                                   for c, ms in cat.classes.items()}}


def build(a: argparse.Namespace, tok: Tokenizer, orders: list[int], train: dict[str, list[str]],
          val: dict[str, list[str]], extra: dict[str, ExtraText] | None = None,
          catalogue: ClassCatalogue | None = None) -> dict:
    """Estimates every order, keeps the best on val as lm.arpa + lm.bin; returns the lm.json record."""
    lines, skipped = lm_sentences([t for texts in train.values() for t in texts], tok)
    classes = None
    if catalogue is not None:
        added, classes = expand(lines, catalogue, a.class_copies)
        lines += added
    more: dict[str, dict] = {}
    for path, ex in (extra or {}).items():
        got, unspellable = lm_sentences(ex.texts, tok)
        lines += got
        more[path] = {"lines": ex.lines, "sentences": len(got), "words": sum(len(x.split()) for x in got),
                      "skipped_unspellable": unspellable + ex.lines - len(ex.texts)}
        log.info("%s: %d of %d lines kept (%d the vocabulary cannot spell or empty after normalising)", path,
                 len(got), ex.lines, more[path]["skipped_unspellable"])
    val_lines, _ = lm_sentences([t for texts in val.values() for t in texts], tok)
    if skipped:
        log.warning("%d train transcript(s) the vocabulary cannot spell were left out of the LM", skipped)
    arpas = {}
    for n in orders:
        arpas[n] = a.out_dir / f"lm-o{n}.arpa"
        report = estimate_arpa(lines, n, arpas[n], a.kenlm_bin / "lmplz", tmp_dir=a.out_dir)
        if FALLBACK_NOTE in report:
            log.warning("lmplz -o %d used its fallback discounts (little text): %s", n,
                        "; ".join(x for x in report.splitlines() if FALLBACK_NOTE in x))
    order, ppl = choose_order(arpas, val_lines)
    atomic_write(a.out_dir / "lm.arpa", lambda f: f.write(arpas[order].read_bytes()))
    build_binary(a.out_dir / "lm.arpa", a.out_dir / "lm.bin", a.kenlm_bin / "build_binary")
    return {"order": order, "val_perplexity": {str(n): round(p, 2) for n, p in ppl.items()},
            "train": {"domains": sorted(train), "sentences": len(lines), "words": sum(len(x.split()) for x in lines),
                      "skipped_unspellable": skipped, "text_files": more, "classes": classes},
            "val": {"domains": sorted(val), "sentences": len(val_lines)}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest-dir", type=Path, default=Path("data/manifests"))
    p.add_argument("--vocab", type=Path, required=True, help="the decoding model's vocab.txt (LM words = its words)")
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--kenlm-bin", type=Path, default=REPO / ".venv" / "kenlm" / "bin",
                   help="folder with lmplz and build_binary (local/build_kenlm.sh)")
    p.add_argument("--orders", default="3,4", help="n-gram orders to estimate; the best on val is kept")
    p.add_argument("--domains", default="", help="train domains to use (comma-separated; default: all)")
    p.add_argument("--text", type=Path, action="append", default=[], metavar="FILE",
                   help="more training text, one sentence per line, normalised here (repeatable; e.g. the "
                        "pretraining's text: local/make_general_corpus.py --text-out)")
    p.add_argument("--classes", type=Path, metavar="FILE",
                   help="the call-bot's catalogue, 'class<TAB>phrase' per line (names, streets, products...): "
                        "transcripts holding a phrase are repeated with the other members of its class")
    p.add_argument("--class-copies", type=int, default=10, metavar="N",
                   help="class-expanded copies of each transcript holding a catalogue phrase (default 10, the "
                        "demo's best val WER of 1, 3, 10)")
    a = p.parse_args(argv)
    setup_logger(None)
    try:
        for f in a.text:
            if not f.is_file():
                raise ValueError(f"--text {f}: no such file (one sentence per line)")
        if a.classes is not None and not a.classes.is_file():
            raise ValueError(f"--classes {a.classes}: no such file ('class<TAB>phrase' per line)")
        if a.class_copies < 1:
            raise ValueError(f"--class-copies must be >= 1, not {a.class_copies}")
        orders = sorted({int(x) for x in a.orders.split(",") if x.strip()})
        if not orders or min(orders) < 1 or max(orders) > 6:
            raise ValueError(f"--orders must be n-gram orders in 1..6 (KenLM's maximum), not {a.orders!r}")
        for exe in ("lmplz", "build_binary"):
            if not (a.kenlm_bin / exe).is_file():
                raise ValueError(f"{a.kenlm_bin / exe} not found: build KenLM with local/build_kenlm.sh "
                                 "(or pass --kenlm-bin DIR)")
        tok = Tokenizer.from_file(a.vocab)
        domains = [d.strip() for d in a.domains.split(",") if d.strip()] or None
        train = read_texts(a.manifest_dir, "train", domains)
        if not train:
            raise ValueError(f"{a.manifest_dir}: no train supervisions (run stage 0 first)")
        val = read_texts(a.manifest_dir, "val")
        inputs = {p.name: file_digest(p) for p in [*(supervisions_path(a.manifest_dir, d, s) for s, texts in
                                                     (("train", train), ("val", val)) for d in texts),
                                                   a.vocab, a.kenlm_bin / "lmplz"]}
        inputs |= {f"text:{p.resolve()}": file_digest(p) for p in a.text}
        if a.classes is not None:
            inputs[f"classes:{a.classes.resolve()}"] = f"{file_digest(a.classes)} x{a.class_copies}"
    except (ValueError, FileNotFoundError) as e:
        return error(e)
    want = LMDone(inputs, orders, outputs=["lm.arpa", "lm.bin", "lm.json"])
    marker = marker_path(a.out_dir, "lm")
    if LMDone.read(marker) == want and all((a.out_dir / n).is_file() for n in want.outputs):
        print(f"train_lm: already done ({a.out_dir / 'lm.bin'}: same transcripts, vocab, orders and lmplz)")
        return 0
    a.out_dir.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    try:
        extra = {str(p): read_text_file(p, tok) for p in a.text}
        catalogue = read_catalogue(a.classes, tok) if a.classes is not None else None
        info = build(a, tok, orders, train, val, extra, catalogue)
    except (LMError, ValueError, OSError) as e:
        return error(e)
    atomic_write_text(a.out_dir / "lm.json", json.dumps(info, indent=1, ensure_ascii=False) + "\n")
    want.write(marker)
    print(f"train_lm: order {info['order']} (val perplexity {info['val_perplexity']}), "
          f"{info['train']['sentences']} sentences, {info['train']['words']} words -> {a.out_dir / 'lm.bin'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
