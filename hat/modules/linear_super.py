"""Elastic linear layer: a SubTransformer uses the leading rows/columns of the weight."""
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from .slicing import leading


class LinearSuper(nn.Linear):
    """``nn.Linear`` of super shape ``[out, in]`` whose forward uses ``weight[:out_s, :in_s]``."""

    def __init__(self, super_in_dim: int, super_out_dim: int, bias: bool = True):
        super().__init__(super_in_dim, super_out_dim, bias=bias)
        nn.init.xavier_uniform_(self.weight)
        if bias:
            nn.init.constant_(self.bias, 0.0)
        self.sample_in_dim = super_in_dim
        self.sample_out_dim = super_out_dim

    def set_sample_config(self, sample_in_dim: int, sample_out_dim: int) -> None:
        self.sample_in_dim = sample_in_dim
        self.sample_out_dim = sample_out_dim

    def forward(self, x: Tensor) -> Tensor:
        weight = leading(self.weight, self.sample_out_dim, self.sample_in_dim)
        bias = None if self.bias is None else leading(self.bias, self.sample_out_dim)
        return F.linear(x, weight, bias)

    def sampled_params_numel(self) -> int:
        """Number of parameters of the sampled slice (weight and bias)."""
        n = self.sample_out_dim * self.sample_in_dim
        return n + (self.sample_out_dim if self.bias is not None else 0)
