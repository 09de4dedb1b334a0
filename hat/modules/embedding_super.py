"""Elastic token embedding, shared or not between encoder and decoder.

One matrix ``[V, Ê]`` can serve the encoder, the decoder and the output projection, each part
using its own sampled width ``weight[:, :E_part]`` (the original's ``EmbeddingSuper`` in
``fairseq/modules/embedding_super.py``).
"""
from typing import Dict

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .slicing import leading


class EmbeddingSuper(nn.Embedding):
    def __init__(self, num_embeddings: int, super_embed_dim: int, padding_idx: int):
        super().__init__(num_embeddings, super_embed_dim, padding_idx=padding_idx)
        nn.init.normal_(self.weight, mean=0.0, std=super_embed_dim ** -0.5)
        nn.init.constant_(self.weight[padding_idx], 0.0)
        self.super_embed_dim = super_embed_dim
        self.sample_embed_dim: Dict[str, int] = {"encoder": super_embed_dim, "decoder": super_embed_dim}

    def set_sample_config(self, sample_embed_dim: int, part: str) -> None:
        self.sample_embed_dim[part] = sample_embed_dim

    def sampled_weight(self, part: str) -> Tensor:
        return leading(self.weight, self.num_embeddings, self.sample_embed_dim[part])

    def forward(self, tokens: Tensor, part: str = "encoder") -> Tensor:
        return F.embedding(tokens, self.sampled_weight(part), self.padding_idx)
