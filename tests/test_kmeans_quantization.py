"""K-means weight quantization (the paper's quantization table): codebooks computed by hand, sizes, a model
against an independent numpy K-means, and the quantized checkpoint the pipeline tests BLEU on."""
import copy
import random
import shutil

import numpy as np
import pytest
import sacrebleu
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
        expected = numpy_quantized_copy(compact, bits)
        for (name, p), q, e in zip(compact.named_parameters(), quantized.parameters(), expected.parameters()):
            if not is_matrix(name, p):
                assert torch.equal(p, q)
                continue
            assert len(torch.unique(q)) <= 2 ** bits < len(torch.unique(p))
            torch.testing.assert_close(q, e, rtol=0, atol=1e-6)  # each matrix is the numpy K-means of its entries
            # Lloyd iterations from the linear grid only lower the squared error: at most that of rounding every
            # entry to the nearest of 2**bits values evenly spaced between the matrix's minimum and maximum
            w = p.detach().double().numpy().ravel()
            grid = np.linspace(w.min(), w.max(), 2 ** bits)
            grid_sse = (np.abs(w[:, None] - grid[None, :]).min(1) ** 2).sum()
            assert 0 < ((q.detach().double().numpy().ravel() - w) ** 2).sum() <= grid_sse * (1 + 1e-6)
        with torch.no_grad():
            error = (quantized(src, src.ne(1).sum(1), prev)[0] - reference).abs().max().item()
            expected_error = (expected(src, src.ne(1).sum(1), prev)[0] - reference).abs().max().item()
        # the output moves as far as the numpy-quantized model's does: no less, no more
        assert expected_error > 0 and error == pytest.approx(expected_error, rel=1e-3, abs=1e-6)
        errors.append(error)
    assert errors[0] < errors[1]  # 8 bits closer to float32 than 4 bits


def is_matrix(name: str, p: torch.Tensor) -> bool:
    return p.dim() >= 2 and "layer_norm" not in name


def numpy_kmeans(values: np.ndarray, bits: int) -> np.ndarray:
    """The de-quantized ``values``, K-means written independently with numpy: 2**bits centroids evenly spaced
    between the minimum and the maximum; each entry to its nearest centroid (argmin of the distance), each
    centroid to the mean of its entries (an empty one stays), until no entry changes centroid."""
    v = values.astype(np.float64).ravel()
    centroids = np.linspace(v.min(), v.max(), 2 ** bits)
    assignment = None
    for _ in range(100):
        new = np.abs(v[:, None] - centroids[None, :]).argmin(1)
        if assignment is not None and np.array_equal(new, assignment):
            break
        assignment = new
        counts = np.bincount(assignment, minlength=centroids.size)
        sums = np.bincount(assignment, weights=v, minlength=centroids.size)
        centroids = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
    return centroids[assignment].reshape(values.shape).astype(np.float32)


def numpy_quantized_copy(model: torch.nn.Module, bits: int) -> torch.nn.Module:
    expected = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in expected.named_parameters():
            if is_matrix(name, p):
                p.copy_(torch.from_numpy(numpy_kmeans(p.numpy(), bits)))
    return expected


# --- the pipeline's step on a trained SuperTransformer: the checkpoint it scores ---------------------------------

@pytest.fixture(scope="module")
def sub_yml(trained_supernet, tmp_path_factory):
    from hat.search_space import active_config, write_subtransformer_yaml

    space = trained_supernet["space"]
    path = tmp_path_factory.mktemp("kmeans_sub") / "sub.yml"
    write_subtransformer_yaml(active_config(space.gene_to_config(space.random_gene(random.Random(4)))), path)
    return path


def test_the_scored_checkpoint_holds_8_bit_kmeans_weights_and_keeps_the_float_translations(trained_supernet, sub_yml,
                                                                                           tmp_path):
    """``steps.test_kmeans`` (the reproduction's quantization table): the checkpoint it writes, and whose test-set
    generation it scores, holds each matrix as the numpy K-means of the float SubTransformer's (at most 256
    values), the rest unchanged; its BLEU is that generation's, and its translations are the float model's."""
    from hat.evaluation.bleu import read_generation, split_compounds
    from hat.evaluation.testing import output_path, test_bleu
    from hat.experiments.steps import test_kmeans
    from hat.checkpoint import load_trusted
    from hat.loading import load_supertransformer
    from hat.search_space import read_subtransformer_yaml
    from hat.subtransformer import extract_subtransformer

    data = trained_supernet["data"]
    floats = tmp_path / "float" / "checkpoint_best.pt"
    floats.parent.mkdir()
    shutil.copy(trained_supernet["ckpt"], floats)
    out = tmp_path / "deploy" / "kmeans8.pt"
    result = test_kmeans(data, floats, sub_yml, 8, out)

    compact = extract_subtransformer(load_supertransformer(floats, data), read_subtransformer_yaml(sub_yml))
    stored = load_trusted(out)["model"]
    float_state = compact.state_dict()
    assert stored.keys() == float_state.keys()
    quantized_matrices = 0
    for name, p in float_state.items():
        if not is_matrix(name, p):
            assert torch.equal(stored[name], p), name
            continue
        assert len(torch.unique(stored[name])) <= 256 < len(torch.unique(p)), name
        torch.testing.assert_close(stored[name], torch.from_numpy(numpy_kmeans(p.numpy(), 8)), rtol=0, atol=1e-6)
        quantized_matrices += 1
    assert quantized_matrices >= 6

    # the reported BLEU is the score of that checkpoint's generation (tokenized BLEU, compounds split)
    hypotheses, references = read_generation(output_path(out, sub_yml, "test"))
    assert len(hypotheses) == 40
    assert result["bits"] == 8 and result["bleu"] == pytest.approx(sacrebleu.corpus_bleu(
        [split_compounds(h) for h in hypotheses], [[split_compounds(r) for r in references]],
        tokenize="none", smooth_method="none", force=True).score)

    # 8 bits keep the float32 model's translations. This model (30 updates) scores BLEU 0 both ways, so the
    # comparison is made on the generations: the same hypotheses but for near ties (here 40 of 40; 33 at 6 bits),
    # each with nearly the same score (log-probability; here within 0.004, 0.026 at 6 bits, 0.09 at 4 bits)
    reference = test_bleu(floats, sub_yml, data)
    assert abs(result["bleu"] - reference["score"]) <= 1.0
    ours, theirs = scored_hypotheses(output_path(out, sub_yml, "test")), scored_hypotheses(reference["output"])
    assert ours.keys() == theirs.keys() and len(ours) == 40
    assert sum(ours[i][1] == theirs[i][1] for i in ours) >= 38
    assert max(abs(ours[i][0] - theirs[i][0]) for i in ours) < 0.01


def scored_hypotheses(path) -> dict:
    """``{sentence id: (score, hypothesis)}`` of a generate output's ``H-`` lines."""
    lines = [line.rstrip("\n").split("\t") for line in open(path, encoding="utf-8") if line.startswith("H-")]
    return {fields[0]: (float(fields[1]), fields[2] if len(fields) > 2 else "") for fields in lines}
