"""K-means weight quantization, as the paper's quantization table (Deep Compression's weight sharing).

Each weight matrix (linear layers, attention projections, embeddings) is replaced by ``2**bits`` shared values:
1-D K-means over its entries, centroids initialised linearly between the matrix's minimum and maximum (Deep
Compression's linear initialisation, which keeps the rare large weights), then Lloyd iterations until no entry
changes cluster. The model is evaluated with the de-quantized weights (every entry replaced by its centroid);
its size is counted as stored: a float32 codebook plus ``bits`` per entry for every quantized matrix, and
float32 for the rest (biases, LayerNorms).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor

from ..errors import ConfigError

MAX_ITERATIONS = 100


@dataclass(frozen=True)
class Quantized:
    """A matrix as K-means stores it: ``codebook [2**bits]`` and each entry's centroid index (shape of the matrix)."""

    codebook: Tensor
    indices: Tensor
    bits: int

    def dequantize(self) -> Tensor:
        return self.codebook[self.indices]

    def size_bits(self) -> int:
        return 32 * self.codebook.numel() + self.bits * self.indices.numel()


def kmeans_quantize(weight: Tensor, bits: int, max_iterations: int = MAX_ITERATIONS) -> Quantized:
    """1-D K-means of ``weight``'s entries into ``2**bits`` clusters (linear initialisation, Lloyd iterations; an
    empty cluster keeps its centroid). Deterministic."""
    if not 1 <= bits <= 16:
        raise ConfigError(f"K-means quantization needs 1 to 16 bits, got {bits}")
    values = weight.detach().reshape(-1).double()
    codebook = torch.linspace(float(values.min()), float(values.max()), 2 ** bits, dtype=torch.float64)
    indices = None
    for _ in range(max_iterations):
        new = _nearest(values, codebook)
        if indices is not None and torch.equal(new, indices):
            break
        indices = new
        sums = torch.zeros_like(codebook).index_add_(0, indices, values)
        counts = torch.bincount(indices, minlength=codebook.numel())
        codebook = torch.where(counts > 0, sums / counts.clamp(min=1), codebook)
    return Quantized(codebook.float(), indices.reshape(weight.shape), bits)


def _nearest(values: Tensor, codebook: Tensor) -> Tensor:
    """Index of the nearest centroid of each value (ties to the lower centroid); codebook ascending."""
    boundaries = (codebook[1:] + codebook[:-1]) / 2
    return torch.bucketize(values, boundaries, right=False)


def is_quantized_weight(name: str, tensor: Tensor) -> bool:
    """Matrices are quantized (linear and attention weights, embeddings); biases and LayerNorms stay float32."""
    return tensor.dim() >= 2 and "layer_norm" not in name


def kmeans_quantize_model(model: torch.nn.Module, bits: int) -> tuple[torch.nn.Module, int]:
    """A copy of ``model`` with every matrix K-means quantized to ``bits`` and de-quantized, and the model's size
    in bytes as stored quantized (tied parameters counted once)."""
    quantized = copy.deepcopy(model)
    size_bits, seen = 0, {}
    with torch.no_grad():
        for name, parameter in quantized.named_parameters(remove_duplicate=False):
            if id(parameter) in seen:
                continue
            seen[id(parameter)] = True
            if is_quantized_weight(name, parameter):
                q = kmeans_quantize(parameter, bits)
                parameter.copy_(q.dequantize())
                size_bits += q.size_bits()
            else:
                size_bits += 32 * parameter.numel()
    return quantized, size_bits // 8
