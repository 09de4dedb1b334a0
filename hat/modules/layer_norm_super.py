"""Elastic LayerNorm: normalises over the first ``E`` features with the first ``E`` affine weights."""
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .slicing import leading


class LayerNormSuper(nn.LayerNorm):
    def __init__(self, super_embed_dim: int):
        super().__init__(super_embed_dim)
        self.sample_embed_dim = super_embed_dim

    def set_sample_config(self, sample_embed_dim: int) -> None:
        self.sample_embed_dim = sample_embed_dim

    def forward(self, x: Tensor) -> Tensor:
        e = self.sample_embed_dim
        return F.layer_norm(x, (e,), leading(self.weight, e), leading(self.bias, e), self.eps)

    def sampled_params_numel(self) -> int:
        return 2 * self.sample_embed_dim
