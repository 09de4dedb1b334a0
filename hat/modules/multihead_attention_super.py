"""Elastic multi-head attention with a fixed Q/K/V width ``qkv_dim`` (the original's ``MultiheadAttentionSuper`` in
``fairseq/modules/multihead_attention_super.py``).

The sampled embed dims select the leading input columns of the Q/K/V projections and the leading
output rows of ``out_proj``; the sampled head count only regroups the ``qkv_dim`` channels.
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from fairseq.incremental_decoding_utils import with_incremental_state
from torch import Tensor

from ..errors import ConfigError
from .linear_super import LinearSuper
from .slicing import leading

IncrementalState = Dict[str, Dict[str, Optional[Tensor]]]


def check_heads(qkv_dim: int, heads: int) -> None:
    if heads <= 0 or qkv_dim % heads != 0:
        raise ConfigError(f"attention heads {heads} do not divide qkv_dim {qkv_dim}")


@with_incremental_state
class MultiheadAttentionSuper(nn.Module):
    """Attention over time-major inputs ``[T, B, C]``.

    Parameters are the original's: one stacked ``in_proj_weight [3q, Ê]`` when query and key/value
    have the same super dim, else ``k_proj_weight``, ``v_proj_weight``, ``q_proj_weight``; then
    ``in_proj_bias [3q]`` and ``out_proj``.
    """

    def __init__(self, super_embed_dim: int, num_heads: int, qkv_dim: int, kdim: Optional[int] = None,
                 dropout: float = 0.0, self_attention: bool = False):
        super().__init__()
        check_heads(qkv_dim, num_heads)
        self.super_q_embed_dim = super_embed_dim
        self.super_kv_embed_dim = kdim if kdim is not None else super_embed_dim
        self.qkv_dim = qkv_dim
        self.dropout = dropout
        self.self_attention = self_attention
        self.stacked_proj = self.super_kv_embed_dim == super_embed_dim
        if self.stacked_proj:
            self.in_proj_weight = nn.Parameter(torch.empty(3 * qkv_dim, super_embed_dim))
        else:
            self.k_proj_weight = nn.Parameter(torch.empty(qkv_dim, self.super_kv_embed_dim))
            self.v_proj_weight = nn.Parameter(torch.empty(qkv_dim, self.super_kv_embed_dim))
            self.q_proj_weight = nn.Parameter(torch.empty(qkv_dim, super_embed_dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * qkv_dim))
        self.out_proj = LinearSuper(qkv_dim, super_embed_dim)
        for name in ("in_proj_weight", "k_proj_weight", "v_proj_weight", "q_proj_weight"):
            if hasattr(self, name):
                nn.init.xavier_uniform_(getattr(self, name))
        self.set_sample_config(super_embed_dim, self.super_kv_embed_dim, num_heads)

    def set_sample_config(self, sample_q_embed_dim: int, sample_kv_embed_dim: int, sample_attention_heads: int) -> None:
        check_heads(self.qkv_dim, sample_attention_heads)
        self.sample_q_embed_dim = sample_q_embed_dim
        self.sample_kv_embed_dim = sample_kv_embed_dim
        self.num_heads = sample_attention_heads
        self.head_dim = self.qkv_dim // sample_attention_heads
        self.scaling = self.head_dim ** -0.5
        self.out_proj.set_sample_config(self.qkv_dim, sample_q_embed_dim)

    def sampled_params_numel(self) -> int:
        """Q/K/V projection parameters of the sample (``out_proj`` counts itself)."""
        q = self.qkv_dim
        return q * self.sample_q_embed_dim + 2 * q * self.sample_kv_embed_dim + 3 * q

    def projection_weights(self) -> Tuple[Tensor, Tensor, Tensor]:
        """Sampled ``(W_q, W_k, W_v)``, each ``[q, E_in]``."""
        eq, ekv, q = self.sample_q_embed_dim, self.sample_kv_embed_dim, self.qkv_dim
        if self.stacked_proj:
            w = self.in_proj_weight
            return w[:q, :eq], w[q:2 * q, :ekv], w[2 * q:, :ekv]
        return self.q_proj_weight[:, :eq], self.k_proj_weight[:, :ekv], self.v_proj_weight[:, :ekv]

    def _project_kv(self, key: Tensor) -> Tuple[Tensor, Tensor]:
        """Sampled key and value projections of ``key`` ``[S, B, E_kv]``: two ``[S, B, q]``."""
        q_dim, ekv, bias = self.qkv_dim, self.sample_kv_embed_dim, self.in_proj_bias
        if self.stacked_proj:
            k, v = F.linear(key, self.in_proj_weight[q_dim:, :ekv], bias[q_dim:]).chunk(2, dim=-1)
            return k, v
        _, wk, wv = self.projection_weights()
        return F.linear(key, wk, bias[q_dim:2 * q_dim]), F.linear(key, wv, bias[2 * q_dim:])

    def _project(self, query: Tensor, key: Optional[Tensor]) -> Tuple[Tensor, Optional[Tensor], Optional[Tensor]]:
        q_dim = self.qkv_dim
        if self.stacked_proj and self.self_attention and self.sample_q_embed_dim == self.sample_kv_embed_dim:
            w = leading(self.in_proj_weight, 3 * q_dim, self.sample_q_embed_dim)
            return F.linear(query, w, self.in_proj_bias).chunk(3, dim=-1)
        q = F.linear(query, self.projection_weights()[0], self.in_proj_bias[:q_dim])
        if key is None:
            return q, None, None
        return (q, *self._project_kv(key))

    def _split_heads(self, x: Tensor, bsz: int) -> Tensor:
        """``[T, B, q]`` -> ``[B * heads, T, head_dim]``."""
        return x.contiguous().view(-1, bsz * self.num_heads, self.head_dim).transpose(0, 1)

    def static_keys_values(self, key: Tensor) -> Tuple[Tensor, Tensor]:
        """The keys and values an encoder-decoder attention caches for ``key`` ``[S, B, E_kv]`` at the first
        decoding step, in the cache's layout ``[B, heads, S, head_dim]`` (for exported decoder graphs)."""
        bsz = key.size(1)
        return tuple(self._split_heads(t, bsz).view(bsz, self.num_heads, -1, self.head_dim)
                     for t in self._project_kv(key))

    def has_static_kv_cache(self, incremental_state: Optional[IncrementalState]) -> bool:
        """True once an encoder-decoder attention has cached its keys/values for this decode."""
        state = self.get_incremental_state(incremental_state, "attn_state") if incremental_state is not None else None
        return state is not None and state.get("prev_key") is not None

    def forward(self, query: Tensor, key: Optional[Tensor], key_padding_mask: Optional[Tensor] = None,
                incremental_state: Optional[IncrementalState] = None, need_weights: bool = False,
                static_kv: bool = False, attn_mask: Optional[Tensor] = None) -> Tuple[Tensor, Optional[Tensor]]:
        """Attend ``query [T, B, E_q]`` to ``key`` (= value) ``[S, B, E_kv]``.

        Returns the output ``[T, B, E_q]`` and, if ``need_weights``, the weights averaged over heads ``[B, T, S]``.
        """
        tgt_len, bsz, _ = query.size()
        saved = self.get_incremental_state(incremental_state, "attn_state") if incremental_state is not None else None
        if saved is not None and static_kv and saved.get("prev_key") is not None:
            key = None  # keys/values of the encoder states were computed at the first step
        if self.self_attention:
            key = query
        q, k, v = self._project(query, key)
        q = q * self.scaling

        q = self._split_heads(q, bsz)
        if k is not None:
            k, v = self._split_heads(k, bsz), self._split_heads(v, bsz)

        if incremental_state is not None:
            saved = saved or {}
            shape = (bsz * self.num_heads, -1, self.head_dim)
            if saved.get("prev_key") is not None:
                prev_k = saved["prev_key"].view(shape)
                prev_v = saved["prev_value"].view(shape)
                if static_kv:
                    k, v = prev_k, prev_v
                else:
                    k, v = torch.cat([prev_k, k], dim=1), torch.cat([prev_v, v], dim=1)
                if static_kv:
                    key_padding_mask = saved.get("prev_key_padding_mask")
            saved["prev_key"] = k.view(bsz, self.num_heads, -1, self.head_dim)
            saved["prev_value"] = v.view(bsz, self.num_heads, -1, self.head_dim)
            saved["prev_key_padding_mask"] = key_padding_mask if static_kv else None
            self.set_incremental_state(incremental_state, "attn_state", saved)

        src_len = k.size(1)
        if not need_weights and not torch.jit.is_tracing():
            attn = self._fused_attention(q, k, v, bsz, tgt_len, src_len, key_padding_mask, attn_mask)
            return self.out_proj(attn), None
        attn_weights = torch.bmm(q, k.transpose(1, 2))
        if attn_mask is not None:
            attn_weights = attn_weights + attn_mask.unsqueeze(0)
        if key_padding_mask is not None:
            attn_weights = attn_weights.view(bsz, self.num_heads, tgt_len, src_len)
            attn_weights = attn_weights.masked_fill(key_padding_mask.unsqueeze(1).unsqueeze(2).to(torch.bool), float("-inf"))
            attn_weights = attn_weights.view(bsz * self.num_heads, tgt_len, src_len)
        attn_probs = F.softmax(attn_weights, dim=-1, dtype=torch.float32).type_as(attn_weights)
        attn_probs_dropped = F.dropout(attn_probs, p=self.dropout, training=self.training)
        attn = torch.bmm(attn_probs_dropped, v)
        attn = attn.transpose(0, 1).contiguous().view(tgt_len, bsz, self.qkv_dim)
        attn = self.out_proj(attn)
        weights = attn_probs.view(bsz, self.num_heads, tgt_len, src_len).mean(dim=1) if need_weights else None
        return attn, weights

    def _fused_attention(self, q: Tensor, k: Tensor, v: Tensor, bsz: int, tgt_len: int, src_len: int,
                         key_padding_mask: Optional[Tensor], attn_mask: Optional[Tensor]) -> Tensor:
        """The same attention through PyTorch's fused kernel (``q`` is already scaled): ``[T, B, q]``."""
        mask = None
        if attn_mask is not None:
            mask = attn_mask.view(1, 1, tgt_len, src_len)
        if key_padding_mask is not None:
            padding = torch.zeros(bsz, 1, 1, src_len, dtype=q.dtype, device=q.device)
            padding = padding.masked_fill(key_padding_mask.view(bsz, 1, 1, src_len).to(torch.bool), float("-inf"))
            mask = padding if mask is None else mask + padding
        shape = (bsz, self.num_heads, -1, self.head_dim)
        attn = F.scaled_dot_product_attention(q.view(shape), k.view(shape), v.view(shape), attn_mask=mask,
                                              dropout_p=self.dropout if self.training else 0.0, scale=1.0)
        return attn.permute(2, 0, 1, 3).reshape(tgt_len, bsz, self.qkv_dim)

    def set_beam_size(self, beam_size: int) -> None:
        """Called by fairseq's beam search (through the decoder): the beams of a sentence are consecutive."""
        self.beam_size = beam_size

    def _within_beams(self, new_order: Tensor, cached_batch: int) -> bool:
        """True if ``new_order`` only permutes the beams of each sentence (encoder keys are equal across them)."""
        beam = getattr(self, "beam_size", 1)
        n = new_order.numel()
        if beam <= 1 or n != cached_batch or n % beam:
            return False
        groups = torch.arange(n, device=new_order.device) // beam
        return torch.equal(torch.div(new_order, beam, rounding_mode="floor"), groups)

    def reorder_incremental_state(self, incremental_state: IncrementalState, new_order: Tensor) -> None:
        """Reorder the cached keys/values along the batch (beam) axis.

        Encoder-decoder keys/values are identical for all beams of a sentence, so a reorder among them is
        skipped (as fairseq's own attention does); a shrinking batch (finished sentences) is applied.
        """
        saved = self.get_incremental_state(incremental_state, "attn_state")
        if saved is None:
            return
        if not self.self_attention and saved.get("prev_key") is not None and \
                self._within_beams(new_order, saved["prev_key"].size(0)):
            return
        for name, value in list(saved.items()):
            if value is not None:
                saved[name] = value.index_select(0, new_order)
        self.set_incremental_state(incremental_state, "attn_state", saved)
