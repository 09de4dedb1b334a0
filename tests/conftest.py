"""Shared fixtures: tiny SuperTransformers built on a synthetic dictionary (CPU, no data)."""
import sys
from argparse import Namespace
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))

import hat  # noqa: E402,F401  (registers the fairseq plugin)
from hat.models.transformer_super import TransformerSuperModel  # noqa: E402
from hat.profiling import dummy_dictionary  # noqa: E402
from hat.search_space import SearchSpace  # noqa: E402

requires_shared = pytest.mark.skipif(not (SHARED / "data").is_dir(), reason="../shared/data is absent")


def tiny_args(**overrides) -> Namespace:
    """A small SuperTransformer: super dims 32/64, 3+3 layers, qkv 32, and a matching search space."""
    args = Namespace(
        arch="transformersuper_iwslt_de_en", encoder_embed_dim=32, decoder_embed_dim=32,
        encoder_ffn_embed_dim=64, decoder_ffn_embed_dim=64, encoder_layers=3, decoder_layers=3,
        encoder_attention_heads=4, decoder_attention_heads=4, qkv_dim=32, dropout=0.1, attention_dropout=0.1,
        share_all_embeddings=False, share_decoder_input_output_embed=False, no_token_positional_embeddings=False,
        encoder_embed_choice=[32, 24], decoder_embed_choice=[32, 24], encoder_layer_num_choice=[3, 2],
        decoder_layer_num_choice=[3, 2, 1], encoder_ffn_embed_dim_choice=[64, 48, 32],
        decoder_ffn_embed_dim_choice=[64, 48, 32], encoder_self_attention_heads_choice=[4, 2],
        decoder_self_attention_heads_choice=[4, 2], decoder_ende_attention_heads_choice=[4, 2],
        decoder_arbitrary_ende_attn_choice=[-1, 1, 2],
    )
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def build_tiny(seed: int = 0, vocab_size: int = 24, **overrides) -> TransformerSuperModel:
    torch.manual_seed(seed)
    vocab = dummy_dictionary(vocab_size)
    model = TransformerSuperModel.build(tiny_args(**overrides), vocab, vocab)
    # Non-trivial biases and norms, so that slicing mistakes cannot hide behind zeros and ones.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or "layer_norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def random_tokens(vocab_size: int, batch: int, length: int, seed: int, pad_tail: bool = True) -> torch.Tensor:
    """Random tokens ``[batch, length]`` ending in EOS; with ``pad_tail`` the first row is left-padded by 2."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(4, vocab_size, (batch, length), generator=g)
    tokens[:, -1] = 2
    if pad_tail and batch > 1:
        tokens[0, :2] = 1
    return tokens


@pytest.fixture
def space() -> SearchSpace:
    return SearchSpace.from_args(tiny_args())
