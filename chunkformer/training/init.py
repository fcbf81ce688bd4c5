"""Where a training run's weights come from: a checkpoint (fine-tuning) or a random init (pretraining).

A random init builds the official architecture from ``model.arch`` (official ``encoder_conf`` keys) over the
vocabulary of ``--vocab``, seeded, with the global CMVN estimated from the training cuts' unaugmented features;
the result is a :class:`~chunkformer.checkpoint.LoadedModel` like any loaded checkpoint, so the trainer, the
checkpoints it writes and ``chunkformer.export`` treat both alike.

>>> cfg = {"output_size": 64, "attention_heads": 2, "linear_units": 128, "num_blocks": 2}
>>> m = random_model(cfg, Tokenizer(["<blank>", "▁a", "▁b"]), (torch.zeros(80), torch.ones(80)), seed=1)
>>> m.config["output_dim"], m.config["encoder_conf"]["num_blocks"], m.kind
(3, 2, 'random')
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from lhotse import load_manifest

from chunkformer.checkpoint import LoadedModel, infer_config, load_model
from chunkformer.data.manifests import TRAIN_CUTS
from chunkformer.data.pipeline import process_cut
from chunkformer.model import ChunkFormerModel, EncoderConfig, ModelConfig
from chunkformer.tokenizer import Tokenizer
from chunkformer.training.config import TrainConfig

log = logging.getLogger("chunkformer.train")


def feature_stats(cuts: Iterable[Any], limit: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Global CMVN (mean, inverse std) of the fbank frames of the first ``limit`` cuts by id, in float64
    (a sum of millions of frames loses digits in float32)."""
    chosen = sorted(cuts, key=lambda c: c.id)[:limit]
    if not chosen:
        raise ValueError("no training cuts to estimate the global CMVN from; run stages 0-2 first")
    total: torch.Tensor | float = 0.0  # per feature dimension once the first cut is read (the data's width)
    squares: torch.Tensor | float = 0.0
    frames = 0
    for cut in chosen:
        feats = process_cut(cut, None, None)[0].double()
        total = total + feats.sum(0)
        squares = squares + (feats * feats).sum(0)
        frames += feats.shape[0]
    mean = total / frames
    std = (squares / frames - mean * mean).clamp_min(1e-10).sqrt()
    return mean.float(), (1.0 / std.clamp_min(1e-5)).float()


def random_model(arch: dict[str, Any], tok: Tokenizer, cmvn: tuple[torch.Tensor, torch.Tensor], seed: int
                 ) -> LoadedModel:
    """The official architecture ``arch`` with fresh weights (seeded: every DDP rank builds the same model)."""
    try:
        enc = EncoderConfig.from_official(dict(arch))
    except (TypeError, ValueError) as e:
        raise ValueError(f"model.arch: {e}") from None
    torch.manual_seed(seed)
    model = ChunkFormerModel(ModelConfig(vocab_size=len(tok), encoder=enc))
    model.encoder.global_cmvn.mean.copy_(cmvn[0])
    model.encoder.global_cmvn.istd.copy_(cmvn[1])
    cfg = infer_config(model.state_dict(), enc.input_dim)
    cfg["encoder_conf"].update(enc.to_official())  # dropout rates etc. are not in the weights
    return LoadedModel(model, tok, cfg, source="random", kind="random")


def initial_model(cfg: TrainConfig) -> LoadedModel:
    """The model a new run starts from: ``--resume`` (any checkpoint form) or a random init."""
    t = cfg.trainer
    if cfg.model.init == "random":
        if not t.vocab:
            raise ValueError("--init random needs --vocab (the vocab.txt the new model will output)")
        tok = Tokenizer.from_file(t.vocab)
        path = Path(t.manifest_dir) / TRAIN_CUTS
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no training cuts; run stages 0-2 first")
        cuts = list(load_manifest(path))
        stats = feature_stats(cuts, cfg.model.cmvn_cuts)
        loaded = random_model(cfg.model.arch or {}, tok, stats, t.seed)
        n = sum(p.numel() for p in loaded.model.parameters())
        log.info("random init: %s, %.2f M parameters, %d tokens, CMVN from %d cuts", cfg.model.arch, n / 1e6,
                 len(tok), min(cfg.model.cmvn_cuts, len(cuts)))
        return loaded
    if t.resume_checkpoint is None:
        raise ValueError("nothing to start from: pass --resume CHECKPOINT (or keep checkpoints in --save-dir), "
                         "or --init random with model.arch for training from scratch")
    loaded = load_model(t.resume_checkpoint, vocab=t.vocab)
    log.info("initialized from %s (%s)%s", t.resume_checkpoint, loaded.kind,
             "; continuing its training state" if loaded.checkpoint else "")
    return loaded
