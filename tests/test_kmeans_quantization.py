"""K-means weight quantization (the paper's quantization table): codebooks computed by hand, sizes, a model."""
import pytest
import torch

from conftest import build_tiny, random_tokens
from hat.errors import ConfigError
from hat.export.kmeans_quantization import kmeans_quantize, kmeans_quantize_model
from hat.subtransformer import extract_subtransformer

VALUES = torch.tensor([[0.0, 0.1, 0.9], [1.0, 0.45, 0.9]])


def test_one_bit_codebook_by_hand():
    """Centroids start at min and max (0, 1); 0, 0.1, 0.45 go to 0 and 0.9, 1.0, 0.9 to 1; the means
    (0.18333, 0.93333) keep those clusters, so the iteration stops there."""
    q = kmeans_quantize(VALUES, bits=1)
    torch.testing.assert_close(q.codebook, torch.tensor([0.55 / 3, 2.8 / 3]))
    assert q.indices.tolist() == [[0, 0, 1], [1, 0, 1]]
    torch.testing.assert_close(q.dequantize(), torch.tensor([[0.55 / 3, 0.55 / 3, 2.8 / 3], [2.8 / 3, 0.55 / 3, 2.8 / 3]]))
    assert q.size_bits() == 2 * 32 + 6 * 1


def test_two_bit_codebook_by_hand_keeps_an_empty_clusters_centroid():
    """Centroids start at 0, 1/3, 2/3, 1 (boundaries 1/6, 1/2, 5/6): {0, 0.1}, {0.45}, {}, {0.9, 1.0, 0.9}; the
    empty third cluster keeps 2/3."""
    q = kmeans_quantize(VALUES, bits=2)
    torch.testing.assert_close(q.codebook, torch.tensor([0.05, 0.45, 2 / 3, 2.8 / 3]))
    assert q.indices.tolist() == [[0, 0, 3], [3, 1, 3]]


def test_as_many_clusters_as_values_is_lossless_and_bits_are_checked():
    weight = torch.tensor([3.0, -1.0, 0.5, 2.0])
    assert torch.equal(kmeans_quantize(weight, bits=2).dequantize(), weight)
    with pytest.raises(ConfigError, match="1 to 16 bits"):
        kmeans_quantize(weight, bits=0)


def test_quantized_model_sizes_and_outputs(space):
    compact = extract_subtransformer(build_tiny(seed=4), space.sample(5)).eval()
    params = {id(p): p for p in compact.parameters()}.values()
    matrices = [p for n, p in compact.named_parameters() if p.dim() >= 2 and "layer_norm" not in n]
    rest = sum(p.numel() for p in params) - sum(p.numel() for p in matrices)
    src, prev = random_tokens(24, 2, 6, seed=1), random_tokens(24, 2, 5, seed=2, pad_tail=False)
    with torch.no_grad():
        reference = compact(src, src.ne(1).sum(1), prev)[0]
    errors = []
    for bits in (8, 4):
        quantized, size = kmeans_quantize_model(compact, bits)
        assert size * 8 == sum(32 * 2 ** bits + bits * m.numel() for m in matrices) + 32 * rest
        for (name, p), q in zip(compact.named_parameters(), quantized.parameters()):
            distinct = len(torch.unique(q))
            assert distinct <= 2 ** bits if p.dim() >= 2 and "layer_norm" not in name else torch.equal(p, q)
        with torch.no_grad():
            errors.append((quantized(src, src.ne(1).sum(1), prev)[0] - reference).abs().max().item())
    assert 0 < errors[0] < errors[1]  # 8 bits closer to float32 than 4 bits
