"""Validation: CTC loss and greedy-CTC WER per validation set, masked-batch decoding with the model context."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from chunkformer.data.datamodule import eval_batches
from chunkformer.decoding.ctc_search import greedy_search
from chunkformer.decoding.scoring import ErrorStats, compute_wer
from chunkformer.model import ChunkFormerModel
from chunkformer.model.masked_batch import Context
from chunkformer.tokenizer import Tokenizer


@dataclass
class ValidResult:
    loss: float
    wer: float                      # pooled over all sets (errors / reference words)
    per_set: dict[str, float] = field(default_factory=dict)


def ctc_loss(model: torch.nn.Module, feats: list[torch.Tensor], targets: list[torch.Tensor], context: Context
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-utterance CTC losses (B,) through the masked-chunk path, the padded log-probs (B, L_max, V) and
    their lengths (B,)."""
    core = getattr(model, "module", model)  # DDP wraps forward; chunk geometry lives on the model itself
    log_probs, lens = model(core.chunk_batch(feats, context))
    tgt_lens = torch.tensor([len(t) for t in targets], device=log_probs.device)
    loss = torch.nn.functional.ctc_loss(
        log_probs.transpose(0, 1).float(), torch.cat(targets).to(log_probs.device), lens, tgt_lens,
        blank=0, reduction="none", zero_infinity=False)
    return loss, log_probs, lens


@torch.no_grad()
def validate(model: ChunkFormerModel, sets: dict, tok: Tokenizer, context: Context, max_duration: float
             ) -> ValidResult:
    was_training = model.training
    model.eval()
    total, total_loss, n_utts = ErrorStats(), 0.0, 0
    per_set = {}
    for name, cuts in sorted(sets.items()):
        results = []
        for b in eval_batches(cuts, tok, max_duration=max_duration):
            loss, log_probs, lens = ctc_loss(model, b.feats, b.targets, context)  # one forward: loss and WER
            total_loss += float(loss[torch.isfinite(loss)].sum())
            n_utts += len(b.feats)
            for cid, ref, lp, n in zip(b.cut_ids, b.texts, log_probs, lens.tolist()):
                results.append((cid, ref, tok.decode(greedy_search(lp[:n]))))
        stats = compute_wer(results)
        per_set[name] = round(stats.wer, 2)
        total = total + stats
    model.train(was_training)
    return ValidResult(total_loss / max(n_utts, 1), round(total.wer, 2), per_set)
