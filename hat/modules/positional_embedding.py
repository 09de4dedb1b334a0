"""Sinusoidal positions computed at the super dim and sliced to the sampled dim (as the original's
``TransformerEncoder.forward`` / ``TransformerDecoder.extract_features`` in ``fairseq/models/transformer_super.py``
slice fairseq's ``SinusoidalPositionalEmbedding``).

The slice of a ``Ê``-dim table is *not* a native ``E``-dim sinusoid; reproducing it is what lets
SubTransformers reuse SuperTransformer weights. The table is not saved; ``_float_tensor`` is the
original's (saved) dummy buffer, kept so that state-dict keys match the original's.
"""
import math

import torch
import torch.nn as nn
from fairseq import utils
from torch import Tensor


def sinusoid_table(num_positions: int, embed_dim: int, padding_idx: int) -> Tensor:
    """fairseq's sinusoid table: all sines then all cosines, padding row zero."""
    half = embed_dim // 2
    freq = torch.exp(torch.arange(half, dtype=torch.float) * -(math.log(10000) / (half - 1)))
    angles = torch.arange(num_positions, dtype=torch.float).unsqueeze(1) * freq.unsqueeze(0)
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if embed_dim % 2 == 1:
        table = torch.cat([table, torch.zeros(num_positions, 1)], dim=1)
    table[padding_idx, :] = 0
    return table


class SinusoidalPositionalEmbeddingSuper(nn.Module):
    def __init__(self, super_embed_dim: int, padding_idx: int, init_size: int):
        super().__init__()
        self.super_embed_dim = super_embed_dim
        self.padding_idx = padding_idx
        self.sample_embed_dim = super_embed_dim
        self.register_buffer("_float_tensor", torch.FloatTensor(1))
        self.register_buffer("weights", sinusoid_table(init_size, super_embed_dim, padding_idx), persistent=False)

    def set_sample_config(self, sample_embed_dim: int) -> None:
        self.sample_embed_dim = sample_embed_dim

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.pop(prefix + "weights", None)  # very old checkpoints saved the table
        state_dict.setdefault(prefix + "_float_tensor", self._float_tensor)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, tokens: Tensor, incremental: bool = False) -> Tensor:
        """Positions of ``tokens`` ``[B, T]``; only the last one in incremental mode."""
        bsz, seq_len = tokens.shape
        max_pos = self.padding_idx + 1 + seq_len
        if max_pos > self.weights.size(0):
            self.weights = sinusoid_table(max_pos, self.super_embed_dim, self.padding_idx).to(self.weights)
        table = self.weights[:, : self.sample_embed_dim]
        if incremental:
            return self.at_step(seq_len - 1, bsz)
        positions = utils.make_positions(tokens, self.padding_idx)
        return table.index_select(0, positions.view(-1)).view(bsz, seq_len, -1).detach()


    def at_step(self, step, bsz: int) -> Tensor:
        """``[bsz, 1, E]``: the position of decoding step ``step`` (0 for the first token; an int, or a traced size
        in an exported decoder-step graph)."""
        return self.weights[self.padding_idx + 1 + step, : self.sample_embed_dim].expand(bsz, 1, -1)
