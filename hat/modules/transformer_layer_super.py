"""SuperTransformer encoder and decoder layers (post-LN by default), as the original's ``TransformerEncoderLayer``
and ``TransformerDecoderLayer`` in ``fairseq/models/transformer_super.py``."""
from typing import Callable, Optional, Tuple

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .layer_norm_super import LayerNormSuper
from .linear_super import LinearSuper
from .multihead_attention_super import IncrementalState, MultiheadAttentionSuper


class _SublayerMixin:
    """Residual + dropout + LayerNorm placement shared by encoder and decoder layers."""

    normalize_before: bool

    def _pre(self, norm: nn.Module, x: Tensor) -> Tensor:
        return norm(x) if self.normalize_before else x

    def _post(self, norm: nn.Module, x: Tensor, residual: Tensor, p: float) -> Tensor:
        x = residual + F.dropout(x, p=p, training=self.training)
        return x if self.normalize_before else norm(x)

    def _ffn(self, x: Tensor) -> Tensor:
        residual = x
        x = self._pre(self.final_layer_norm, x)
        x = self.activation_fn(self.fc1(x))
        x = F.dropout(x, p=self.activation_dropout, training=self.training)
        x = self.fc2(x)
        return self._post(self.final_layer_norm, x, residual, self.dropout)

    def _set_ffn_sample(self, embed_dim: int, ffn_dim: int) -> None:
        self.fc1.set_sample_config(embed_dim, ffn_dim)
        self.fc2.set_sample_config(ffn_dim, embed_dim)
        self.final_layer_norm.set_sample_config(embed_dim)


class TransformerEncoderLayerSuper(_SublayerMixin, nn.Module):
    def __init__(self, embed_dim: int, ffn_dim: int, qkv_dim: int, heads: int, attention_dropout: float,
                 activation_fn: Callable[[Tensor], Tensor], normalize_before: bool):
        super().__init__()
        self.self_attn = MultiheadAttentionSuper(embed_dim, heads, qkv_dim, dropout=attention_dropout, self_attention=True)
        self.self_attn_layer_norm = LayerNormSuper(embed_dim)
        self.fc1 = LinearSuper(embed_dim, ffn_dim)
        self.fc2 = LinearSuper(ffn_dim, embed_dim)
        self.final_layer_norm = LayerNormSuper(embed_dim)
        self.activation_fn = activation_fn
        self.normalize_before = normalize_before
        self.dropout = self.activation_dropout = self.self_attn_dropout = 0.0

    def set_sample_config(self, embed_dim: int, ffn_dim: int, heads: int, dropout: float,
                          activation_dropout: float, self_attn_dropout: float) -> None:
        """``self_attn_dropout`` is the unscaled ``--dropout``: the original's encoder quirk (its
        ``TransformerEncoderLayer.forward`` drops the self-attention output with ``self.dropout``)."""
        self.self_attn.set_sample_config(embed_dim, embed_dim, heads)
        self.self_attn_layer_norm.set_sample_config(embed_dim)
        self._set_ffn_sample(embed_dim, ffn_dim)
        self.dropout, self.activation_dropout, self.self_attn_dropout = dropout, activation_dropout, self_attn_dropout

    def forward(self, x: Tensor, padding_mask: Optional[Tensor]) -> Tensor:
        residual = x
        x = self._pre(self.self_attn_layer_norm, x)
        x, _ = self.self_attn(x, x, key_padding_mask=padding_mask)
        x = self._post(self.self_attn_layer_norm, x, residual, self.self_attn_dropout)
        return self._ffn(x)


class TransformerDecoderLayerSuper(_SublayerMixin, nn.Module):
    def __init__(self, embed_dim: int, encoder_embed_dim: int, ffn_dim: int, qkv_dim: int, self_heads: int,
                 ende_heads: int, attention_dropout: float, activation_fn: Callable[[Tensor], Tensor],
                 normalize_before: bool):
        super().__init__()
        self.self_attn = MultiheadAttentionSuper(embed_dim, self_heads, qkv_dim, dropout=attention_dropout, self_attention=True)
        self.self_attn_layer_norm = LayerNormSuper(embed_dim)
        self.encoder_attn = MultiheadAttentionSuper(embed_dim, ende_heads, qkv_dim, kdim=encoder_embed_dim,
                                                    dropout=attention_dropout)
        self.encoder_attn_layer_norm = LayerNormSuper(embed_dim)
        self.fc1 = LinearSuper(embed_dim, ffn_dim)
        self.fc2 = LinearSuper(ffn_dim, embed_dim)
        self.final_layer_norm = LayerNormSuper(embed_dim)
        self.activation_fn = activation_fn
        self.normalize_before = normalize_before
        self.dropout = self.activation_dropout = 0.0

    def set_sample_config(self, embed_dim: int, encoder_embed_dim: int, ffn_dim: int, self_heads: int,
                          ende_heads: int, dropout: float, activation_dropout: float) -> None:
        self.self_attn.set_sample_config(embed_dim, embed_dim, self_heads)
        self.self_attn_layer_norm.set_sample_config(embed_dim)
        self.encoder_attn.set_sample_config(embed_dim, encoder_embed_dim, ende_heads)
        self.encoder_attn_layer_norm.set_sample_config(embed_dim)
        self._set_ffn_sample(embed_dim, ffn_dim)
        self.dropout, self.activation_dropout = dropout, activation_dropout

    def forward(self, x: Tensor, encoder_states: Optional[Tensor], encoder_padding_mask: Optional[Tensor],
                incremental_state: Optional[IncrementalState], self_attn_mask: Optional[Tensor],
                need_attn: bool) -> Tuple[Tensor, Optional[Tensor]]:
        residual = x
        x = self._pre(self.self_attn_layer_norm, x)
        x, _ = self.self_attn(x, x, incremental_state=incremental_state, attn_mask=self_attn_mask)
        x = self._post(self.self_attn_layer_norm, x, residual, self.dropout)

        residual = x
        x = self._pre(self.encoder_attn_layer_norm, x)
        x, attn = self.encoder_attn(x, encoder_states, key_padding_mask=encoder_padding_mask,
                                    incremental_state=incremental_state, static_kv=True, need_weights=need_attn)
        x = self._post(self.encoder_attn_layer_norm, x, residual, self.dropout)
        return self._ffn(x), attn
