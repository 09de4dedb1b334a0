"""A sliced SubTransformer against independent computations (fairseq's transformer, the compact model)."""
import pytest
import torch
from fairseq.sequence_generator import SequenceGenerator

from conftest import build_tiny, random_tokens
from hat.search_space import ConfigError
from hat.export.fairseq_transformer import to_fairseq_transformer
from hat.subtransformer import extract_subtransformer


def uniform_config(e_e, e_d, n_e, n_d, ffn, enc_heads, dec_heads, arbitrary=-1):
    return {
        "encoder": {"encoder_embed_dim": e_e, "encoder_layer_num": n_e, "encoder_ffn_embed_dim": [ffn] * 3,
                    "encoder_self_attention_heads": [enc_heads] * 3},
        "decoder": {"decoder_embed_dim": e_d, "decoder_layer_num": n_d, "decoder_ffn_embed_dim": [ffn] * 3,
                    "decoder_self_attention_heads": [dec_heads] * 3, "decoder_ende_attention_heads": [dec_heads] * 3,
                    "decoder_arbitrary_ende_attn": [arbitrary] * 3},
    }


@pytest.mark.parametrize("overrides,config", [
    # super dims equal the sample: embed 32 = qkv, FFN sliced 64 -> 48, 2 of 3 layers on both sides
    ({}, uniform_config(32, 32, 2, 2, 48, 2, 4)),
    # super embed 48 sliced to 32 (= qkv): positions and every matrix sliced; shared embeddings
    ({"encoder_embed_dim": 48, "decoder_embed_dim": 48, "encoder_embed_choice": [48, 32],
      "decoder_embed_choice": [48, 32], "share_all_embeddings": True}, uniform_config(32, 32, 3, 1, 32, 4, 2)),
    # pre-LayerNorm (the Multi30k configs): final LayerNorms of both sides, sliced to E
    ({"encoder_embed_dim": 48, "decoder_embed_dim": 48, "encoder_embed_choice": [48, 32],
      "decoder_embed_choice": [48, 32], "encoder_normalize_before": True, "decoder_normalize_before": True},
     uniform_config(32, 32, 2, 3, 48, 2, 2)),
])
def test_sliced_subtransformer_matches_fairseq_transformer(overrides, config):
    model = build_tiny(seed=1, **overrides)
    model.set_sample_config(config)
    ref, _ = to_fairseq_transformer(model, config)
    src = random_tokens(24, 3, 9, seed=2)
    src_lengths = src.ne(1).sum(1)
    prev = random_tokens(24, 3, 7, seed=3, pad_tail=False)
    with torch.no_grad():
        ours = model(src, src_lengths, prev)[0]
        theirs = ref(src, src_lengths, prev)[0]
    assert ours.shape == theirs.shape == (3, 7, 24)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)


def random_configs(space, n, seed):
    return [space.sample(seed + i) for i in range(n)]


@pytest.mark.parametrize("shared,pre_norm", [(False, False), (True, False), (True, True)])
def test_compact_model_matches_supernet(space, shared, pre_norm):
    model = build_tiny(seed=3, share_all_embeddings=shared, encoder_normalize_before=pre_norm,
                       decoder_normalize_before=pre_norm)
    src = random_tokens(24, 3, 8, seed=4)
    prev = random_tokens(24, 3, 6, seed=5, pad_tail=False)
    configs = random_configs(space, 6, seed=10)
    # Make sure the sample covers what matters: arbitrary attention, shallow layers, E_e != E_d.
    configs[0]["decoder"]["decoder_arbitrary_ende_attn"] = [2, 1, 2]
    configs[0]["encoder"]["encoder_layer_num"] = 2
    configs[0]["encoder"]["encoder_embed_dim"], configs[0]["decoder"]["decoder_embed_dim"] = 32, 24
    for config in configs:
        model.set_sample_config(config)
        with torch.no_grad():
            expected = model(src, src.ne(1).sum(1), prev)[0]
        compact = extract_subtransformer(model, config)
        n_compact = sum(p.numel() for p in compact.parameters())
        assert n_compact < sum(p.numel() for p in model.parameters())
        assert len(compact.encoder.layers) == config["encoder"]["encoder_layer_num"]
        assert len(compact.decoder.layers) == config["decoder"]["decoder_layer_num"]
        # physical copies: no storage shared with the supernet
        super_ptrs = {p.data_ptr() for p in model.parameters()}
        assert not any(p.data_ptr() in super_ptrs for p in compact.parameters())
        with torch.no_grad():
            got = compact(src, src.ne(1).sum(1), prev)[0]
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


def incremental_logits(model, src, prev):
    """Decode ``prev`` one token at a time with fairseq's incremental state."""
    encoder_out = model.encoder(src, src.ne(1).sum(1))
    state = {}
    steps = [model.decoder(prev[:, : t + 1], encoder_out, incremental_state=state)[0] for t in range(prev.size(1))]
    return torch.cat(steps, dim=1)


def test_incremental_decoding_matches_full_sequence(space):
    model = build_tiny(seed=4)
    src = random_tokens(24, 2, 7, seed=6)
    prev = random_tokens(24, 2, 5, seed=7, pad_tail=False)
    for config in random_configs(space, 5, seed=20):
        config["decoder"]["decoder_arbitrary_ende_attn"] = [1, 2, -1]
        for m in (model, extract_subtransformer(model, config)):
            m.set_sample_config(config)
            with torch.no_grad():
                full = m(src, src.ne(1).sum(1), prev)[0]
                inc = incremental_logits(m, src, prev)
            torch.testing.assert_close(inc, full, rtol=0, atol=1e-5)


def test_beam_search_is_identical_for_supernet_and_compact(space):
    model = build_tiny(seed=5)
    config = space.sample(3)
    config["decoder"]["decoder_arbitrary_ende_attn"] = [2] * 3
    model.set_sample_config(config)
    compact = extract_subtransformer(model, config)
    src = random_tokens(24, 3, 6, seed=8)
    sample = {"net_input": {"src_tokens": src, "src_lengths": src.ne(1).sum(1)}}
    outs = []
    for m in (model, compact):
        gen = SequenceGenerator([m], m.decoder.dictionary, beam_size=4, max_len_b=10)
        outs.append(gen.generate([m], sample))
    for hyps_a, hyps_b in zip(*outs):
        assert len(hyps_a) == 4
        for a, b in zip(hyps_a, hyps_b):
            assert torch.equal(a["tokens"], b["tokens"])
            assert abs(float(a["score"]) - float(b["score"])) < 1e-5


def test_beam_search_matches_fairseq_transformer():
    """Beam search with the encoder-decoder caches left unreordered among beams (fairseq calls
    ``set_beam_size`` on the model) gives fairseq's own hypotheses, finished sentences included."""
    model = build_tiny(seed=11, share_all_embeddings=True)
    config = uniform_config(32, 32, 3, 2, 48, 4, 2)
    model.set_sample_config(config)
    ref, _ = to_fairseq_transformer(model, config)
    src = random_tokens(24, 5, 7, seed=12)
    sample = {"net_input": {"src_tokens": src, "src_lengths": src.ne(1).sum(1)}}
    outs = [SequenceGenerator([m], m.decoder.dictionary, beam_size=4, max_len_b=12).generate([m], sample)
            for m in (model, ref)]
    assert all(layer.encoder_attn.beam_size == 4 for layer in model.decoder.layers)
    lengths = {len(h[0]["tokens"]) for h in outs[0]}
    assert len(lengths) > 1  # sentences finish at different steps: the batch shrinks during the search
    for hyps_a, hyps_b in zip(*outs):
        for a, b in zip(hyps_a, hyps_b):
            assert torch.equal(a["tokens"], b["tokens"])
            assert abs(float(a["score"]) - float(b["score"])) < 1e-5


def test_skipped_layers_are_identity_and_unused(space):
    """Weights of layers beyond the sampled depth cannot change the output."""
    model = build_tiny(seed=6)
    config = space.smallest()
    model.set_sample_config(config)
    src = random_tokens(24, 2, 6, seed=9)
    prev = random_tokens(24, 2, 4, seed=10, pad_tail=False)
    with torch.no_grad():
        before = model(src, src.ne(1).sum(1), prev)[0]
        model.decoder.layers[2].fc1.weight.add_(1.0)
        model.encoder.layers[2].fc1.weight.add_(1.0)
        after = model(src, src.ne(1).sum(1), prev)[0]
        model.decoder.layers[0].fc1.weight.add_(1.0)
        changed = model(src, src.ne(1).sum(1), prev)[0]
    assert torch.equal(before, after)
    assert not torch.allclose(before, changed)


def test_training_dropout_follows_the_original_rule():
    model = build_tiny(seed=7, dropout=0.3)
    config = uniform_config(24, 32, 3, 3, 32, 2, 2)
    model.set_sample_config(config)
    assert model.encoder.dropout == pytest.approx(0.3 * 24 / 32)
    assert model.decoder.dropout == pytest.approx(0.3)
    layer = model.encoder.layers[0]
    assert layer.dropout == pytest.approx(0.3 * 24 / 32)
    assert layer.self_attn_dropout == pytest.approx(0.3)  # the original's unscaled encoder quirk


def test_set_sample_config_rejects_configs_that_do_not_fit():
    model = build_tiny()
    bad = uniform_config(40, 32, 2, 2, 48, 2, 2)
    with pytest.raises(ConfigError, match="encoder_embed_dim"):
        model.set_sample_config(bad)
    bad = uniform_config(32, 32, 2, 2, 48, 3, 2)
    with pytest.raises(ConfigError, match="qkv"):
        model.set_sample_config(bad)
    bad = uniform_config(32, 32, 4, 2, 48, 2, 2)
    with pytest.raises(ConfigError, match="encoder_layer_num"):
        model.set_sample_config(bad)


def test_fairseq_export_rejects_what_it_cannot_express():
    model = build_tiny()
    with pytest.raises(ConfigError, match="arbitrary"):
        to_fairseq_transformer(model, uniform_config(32, 32, 2, 2, 48, 2, 4, arbitrary=1))
    with pytest.raises(ConfigError, match="qkv_dim"):
        to_fairseq_transformer(model, uniform_config(24, 32, 2, 2, 48, 2, 4))
