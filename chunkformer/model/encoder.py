"""ChunkFormer encoder (official ``ChunkFormerEncoder``, masked-batch path).

ChunkBatch.xs (N, size, F) → [global_cmvn] → embed (8x subsampling) → (N, c, d) → ×sqrt(d) + rel-pos
→ num_blocks × ChunkFormerEncoderLayer → after_norm → (N, c, d).
Segmented long-form decoding passes per-layer caches: att (num_blocks, l, h, 2·d_k), cnn (num_blocks, d, k//2).

Speed (CPU): the subsampling runs one chunk window at a time and the blocks run over groups of a few chunks
(:attr:`ChunkFormerEncoder.group_elements` bounds a group's largest temporary). The arithmetic per chunk is
unchanged; whole-batch temporaries (a (N, 512, 259, 39) conv activation, (N, h, c, 2c+l+r-1) attention
scores) were page-faulted afresh by every op and dominated the run time; small ones stay in cache and are
reused by the allocator. Peak memory then grows with the batch only through (N, c, d)-sized tensors.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from chunkformer.frontend import NUM_MEL_BINS
from chunkformer.model.cmvn import GlobalCMVN
from chunkformer.model.embedding import RelPositionalEncoding
from chunkformer.model.encoder_layer import ChunkFormerEncoderLayer
from chunkformer.model.masked_batch import ChunkBatch, check_lengths
from chunkformer.model.subsampling import DepthwiseConvSubsampling

# encoder_conf values of the released models that this implementation reproduces; anything else is refused
_REQUIRED = {
    "input_layer": {"dw_striding"},
    "pos_enc_layer_type": {"chunk_rel_pos"},
    "selfattention_layer_type": {"chunk_rel_seflattn"},
    "cnn_module_norm": {"layer_norm"},
    "activation_type": {"swish"},
    "normalize_before": {True},
    "macaron_style": {True},
    "use_cnn_module": {True},
    "dynamic_conv": {True},
    "causal": {False},
}


@dataclass
class EncoderConfig:
    """Architecture hyper-parameters (official ``encoder_conf`` names)."""

    # widths: fbank bins in, model width d, attention heads (d must divide), feed-forward hidden size
    input_dim: int = NUM_MEL_BINS
    output_size: int = 256
    attention_heads: int = 4
    linear_units: int = 2048
    # depth, and the depthwise convolution's kernel in output frames (15 = 1.2 s at 80 ms)
    num_blocks: int = 12
    cnn_module_kernel: int = 15
    # regularisation (off in eval) and the layer norms' epsilon
    dropout_rate: float = 0.1
    positional_dropout_rate: float = 0.1
    attention_dropout_rate: float = 0.1
    norm_eps: float = 1e-5

    @classmethod
    def from_official(cls, encoder_conf: dict, input_dim: int = NUM_MEL_BINS) -> EncoderConfig:
        """Reads an official ``encoder_conf``; refuses settings this implementation does not reproduce."""
        for key, allowed in _REQUIRED.items():
            if key in encoder_conf and encoder_conf[key] not in allowed:
                raise ValueError(
                    f"unsupported encoder_conf.{key}={encoder_conf[key]!r} (supported: {sorted(allowed, key=str)})"
                )
        names = {f.name for f in fields(cls)}
        return cls(input_dim=input_dim, **{k: v for k, v in encoder_conf.items() if k in names and k != "input_dim"})

    def to_official(self) -> dict:
        conf = {k: v for k, v in asdict(self).items() if k != "input_dim"}
        conf.update({k: next(iter(v)) for k, v in _REQUIRED.items()})
        return conf


def dropout_active(module: nn.Module) -> bool:
    """Whether any dropout in ``module`` is in training mode. The packed path applies no dropout at all, so it may
    run only when every dropout is off: a model put in eval mode with its encoder (or one dropout, e.g. for Monte
    Carlo dropout) back in training mode keeps the masked batch and its dropout, as before packing. Dropouts are
    the only modules here whose mode changes the result (int8 modules, created after ``eval()``, stay in
    training mode harmlessly)."""
    return any(m.training for m in module.modules() if isinstance(m, nn.Dropout))


class ChunkFormerEncoder(nn.Module):
    # largest temporary per group of chunks, in elements (4 MiB of float32): measured fastest on CPU
    group_elements: int = 1 << 20

    def __init__(self, cfg: EncoderConfig, cmvn: GlobalCMVN | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.output_size
        self.global_cmvn = cmvn
        self.embed = DepthwiseConvSubsampling(cfg.input_dim, d)
        self.pos_enc = RelPositionalEncoding(d, cfg.positional_dropout_rate)
        self.encoders = nn.ModuleList(
            ChunkFormerEncoderLayer(
                d, cfg.attention_heads, cfg.linear_units, cfg.cnn_module_kernel,
                cfg.dropout_rate, cfg.attention_dropout_rate, cfg.norm_eps,
            )
            for _ in range(cfg.num_blocks)
        )
        self.after_norm = nn.LayerNorm(d, eps=cfg.norm_eps)

    def chunk_group(self, ctx_chunk: int, left: int, right: int) -> int:
        """Chunks per group in the blocks: the attention scores (h, c, 2c+l+r-1) and FFN hidden (c, units) of
        one chunk are the largest temporaries."""
        c = self.cfg
        per_chunk = max(c.attention_heads * ctx_chunk * (2 * ctx_chunk + left + right - 1),
                        ctx_chunk * c.linear_units)
        return max(1, self.group_elements // per_chunk)

    def subsample(self, xs: torch.Tensor) -> torch.Tensor:
        """(N, size, F) windows → (N, c, d), one window at a time (its first conv output alone is C·T/2·F/2)."""
        return torch.cat([self.embed(x) for x in xs.split(1)]) if xs.size(0) > 1 else self.embed(xs)

    @property
    def conv_lorder(self) -> int:
        return self.cfg.cnn_module_kernel // 2

    def init_caches(self, left: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Zero caches for segmented decoding: att (blocks, l, h, 2·d_k), cnn (blocks, d, k//2)."""
        c = self.cfg
        att = torch.zeros(c.num_blocks, left, c.attention_heads, 2 * c.output_size // c.attention_heads,
                          device=device, dtype=dtype)
        cnn = torch.zeros(c.num_blocks, c.output_size, self.conv_lorder, device=device, dtype=dtype)
        return att, cnn

    def forward(
        self,
        batch: ChunkBatch,
        att_cache: torch.Tensor | None = None,
        cnn_cache: torch.Tensor | None = None,
        keep: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(N, size, F) windows → (N, c, d); with caches also returns the caches for the next segment."""
        ctx = batch.context
        xs = batch.xs
        if self.global_cmvn is not None:
            xs = self.global_cmvn(xs)
        xs, pos_emb = self.pos_enc(self.subsample(xs), ctx.left, ctx.right)
        group = self.chunk_group(ctx.chunk, ctx.left, ctx.right)
        new_att, new_cnn = [], []
        for i, layer in enumerate(self.encoders):
            xs, a, c = layer(
                xs, batch.att_mask, batch.conv_mask, pos_emb, ctx.left, ctx.right,
                att_cache[i] if att_cache is not None else None,
                cnn_cache[i] if cnn_cache is not None else None,
                keep,
                group,
            )
            new_att.append(a)
            new_cnn.append(c)
        xs = self.after_norm(xs)
        if att_cache is None:
            return xs, None, None
        return xs, torch.stack(new_att), torch.stack(new_cnn)

    def forward_packed(self, feats: list[torch.Tensor]) -> tuple[torch.Tensor, list[int]]:
        """Inference with full attention (eval mode): utterances (T_b, F) → frames (Σ L_b, d) laid end to end, and
        the L_b. Each utterance is subsampled alone and every block runs once over all frames
        (:meth:`ChunkFormerEncoderLayer.forward_packed`): the masked batch's result when every chunk sees its whole
        utterance, without padding any utterance to a multiple of a chunk or copying attention windows."""
        if dropout_active(self):
            raise RuntimeError("forward_packed is for inference; use forward (the masked batch) in training")
        check_lengths(feats)
        xs = []
        for f in feats:
            x = f.unsqueeze(0)
            xs.append(self.embed(self.global_cmvn(x) if self.global_cmvn is not None else x)[0])
        lens = [x.size(0) for x in xs]
        x = (torch.cat(xs) if len(xs) > 1 else xs[0]) * self.pos_enc.xscale
        pos_emb = self.pos_enc.window(max(lens), 0, 0).to(device=x.device, dtype=x.dtype)
        for layer in self.encoders:
            x = layer.forward_packed(x, lens, pos_emb)
        return self.after_norm(x), lens
