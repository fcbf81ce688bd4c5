"""One ChunkFormer block: pre-LN macaron conformer (official ``ChunkFormerEncoderLayer``).

x (N, c, d) → x + ½·FFN_mac(LN(x)) → x + MHSA(LN(x)) → x + Conv(LN(x)) → x + ½·FFN(LN(x)) → LN_final.
Sub-module names (``feed_forward_macaron``, ``norm_ff_macaron``, ``self_attn``, ``norm_mha``, ``conv_module``,
``norm_conv``, ``feed_forward``, ``norm_ff``, ``norm_final``) are the official state-dict names.

The block runs over groups of ``group`` chunks in three passes, because attention and the depthwise conv
read neighbouring chunks: (1) macaron FFN, q and k/v of each group; (2) attention of each group (windows of
the full k/v sequence), conv GLU; (3) depthwise conv of each group (windows of the full GLU sequence), FFN,
final norm. Per chunk the arithmetic is the same as over the whole batch; the groups only keep temporaries
small (see :mod:`chunkformer.model.attention`).
"""

from __future__ import annotations

import torch
from torch import nn

from chunkformer.model.attention import ChunkRelPositionAttention
from chunkformer.model.convolution import ChunkConvolutionModule
from chunkformer.model.feed_forward import PositionwiseFeedForward


class ChunkFormerEncoderLayer(nn.Module):
    def __init__(
        self,
        d_model: int,
        heads: int,
        linear_units: int,
        kernel_size: int,
        dropout_rate: float,
        attention_dropout_rate: float,
        norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        act = nn.SiLU()
        self.self_attn = ChunkRelPositionAttention(heads, d_model, attention_dropout_rate)
        self.feed_forward = PositionwiseFeedForward(d_model, linear_units, dropout_rate, act)
        self.feed_forward_macaron = PositionwiseFeedForward(d_model, linear_units, dropout_rate, act)
        self.conv_module = ChunkConvolutionModule(d_model, kernel_size, act, norm_eps)
        self.norm_ff = nn.LayerNorm(d_model, eps=norm_eps)
        self.norm_mha = nn.LayerNorm(d_model, eps=norm_eps)
        self.norm_ff_macaron = nn.LayerNorm(d_model, eps=norm_eps)
        self.norm_conv = nn.LayerNorm(d_model, eps=norm_eps)
        self.norm_final = nn.LayerNorm(d_model, eps=norm_eps)
        self.dropout = nn.Dropout(dropout_rate)

    def forward(
        self,
        x: torch.Tensor,
        att_mask: torch.Tensor,
        conv_mask: torch.Tensor,
        pos_emb: torch.Tensor,
        left: int,
        right: int,
        att_cache: torch.Tensor | None = None,
        cnn_cache: torch.Tensor | None = None,
        keep: int = 0,
        group: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """x (N, c, d) → (N, c, d) and the next segment's caches; ``group`` chunks per pass (0: all at once)."""
        n, c, _ = x.shape
        n_groups = -(-n // group) if group > 0 else 1
        bounds = [n * i // n_groups for i in range(n_groups + 1)]  # balanced: no straggler group of one chunk
        spans = list(zip(bounds[:-1], bounds[1:]))
        att, conv = self.self_attn, self.conv_module
        width = left + c + right

        qkv = att.fused_qkv()
        xs, qs, kvs = [], [], []
        for a, b in spans:
            y = x[a:b]
            y = y + 0.5 * self.dropout(self.feed_forward_macaron(self.norm_ff_macaron(y)))
            q, kv = att.project(self.norm_mha(y), qkv)
            xs.append(y)
            qs.append(q)
            kvs.append(kv)
        kv_seq, att_cache = att.kv_sequence(_cat(kvs), left, right, att_cache, keep)
        del kvs

        p_t = att.pos_proj(pos_emb)
        ys, glus = [], []
        for (a, b), y, q in zip(spans, xs, qs):
            y = y + self.dropout(att.attend(q, kv_seq, a, att_mask[a:b], p_t, width))
            glus.append(conv.glu(self.norm_conv(y)))
            ys.append(y)
        del xs, qs, kv_seq
        conv_seq, cnn_cache = conv.sequence(_cat(glus), cnn_cache, keep)
        del glus

        out = []
        for (a, b), y in zip(spans, ys):
            y = y + self.dropout(conv.finish(conv_seq, a, conv_mask[a:b], c))
            y = y + 0.5 * self.dropout(self.feed_forward(self.norm_ff(y)))
            out.append(self.norm_final(y))
        return _cat(out), att_cache, cnn_cache

    def forward_packed(self, x: torch.Tensor, lens: list[int], pos_emb: torch.Tensor) -> torch.Tensor:
        """Inference over whole utterances laid end to end: x (T, d) with T = Σ ``lens``, ``pos_emb`` the
        (1, 2·max(lens) - 1, d) window of the longest → (T, d). The same block as :meth:`forward` with full
        attention (each utterance one chunk, no context), without its padding: feed-forward, projections and the
        conv's pointwise products run once over every frame; attention and the depthwise conv per utterance."""
        att, conv = self.self_attn, self.conv_module
        x = x + 0.5 * self.feed_forward_macaron(self.norm_ff_macaron(x))
        q, kv = att.project(self.norm_mha(x).unsqueeze(0), att.fused_qkv())
        x = x + att.attend_packed(q[0], kv, lens, att.pos_proj(pos_emb))
        x = x + conv.finish_packed(conv.glu(self.norm_conv(x).unsqueeze(0)), lens)
        x = x + 0.5 * self.feed_forward(self.norm_ff(x))
        return self.norm_final(x)


def _cat(parts: list[torch.Tensor]) -> torch.Tensor:
    return parts[0] if len(parts) == 1 else torch.cat(parts, 0)
