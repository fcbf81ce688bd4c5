"""One ChunkFormer block: pre-LN macaron conformer (official ``ChunkFormerEncoderLayer``).

x (N, c, d) → x + ½·FFN_mac(LN(x)) → x + MHSA(LN(x)) → x + Conv(LN(x)) → x + ½·FFN(LN(x)) → LN_final.
Sub-module names (``feed_forward_macaron``, ``norm_ff_macaron``, ``self_attn``, ``norm_mha``, ``conv_module``,
``norm_conv``, ``feed_forward``, ``norm_ff``, ``norm_final``) are the official state-dict names.
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
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        x = x + 0.5 * self.dropout(self.feed_forward_macaron(self.norm_ff_macaron(x)))
        y, att_cache = self.self_attn(self.norm_mha(x), att_mask, pos_emb, left, right, att_cache, keep)
        x = x + self.dropout(y)
        y, cnn_cache = self.conv_module(self.norm_conv(x), conv_mask, cnn_cache, keep)
        x = x + self.dropout(y)
        x = x + 0.5 * self.dropout(self.feed_forward(self.norm_ff(x)))
        return self.norm_final(x), att_cache, cnn_cache
