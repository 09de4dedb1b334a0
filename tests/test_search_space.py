"""Tests for hat.search_space (pure Python: no torch, no fairseq, no network)."""

import copy
import os
import random
import textwrap
from argparse import Namespace

import pytest

from hat.search_space import (
    FEATURE_NAMES,
    SUBTRANSFORMER_KEYS,
    ConfigError,
    SearchSpace,
    check_choices,
    check_fits,
    check_fits_model,
    check_trained_space,
    config_features,
    config_from_args,
    format_subtransformer_yaml,
    read_subtransformer_yaml,
    trained_space,
    write_subtransformer_yaml,
    yaml_label,
)

# The original's configs/wmt14.en-de/supertransformer/space0.yml settings, with argparse attribute names.
SPACE0_ARGS = dict(
    encoder_embed_choice=[640, 512],
    decoder_embed_choice=[640, 512],
    encoder_layer_num_choice=[6],
    decoder_layer_num_choice=[6, 5, 4, 3, 2, 1],
    encoder_ffn_embed_dim_choice=[3072, 2048, 1024],
    decoder_ffn_embed_dim_choice=[3072, 2048, 1024],
    encoder_self_attention_heads_choice=[8, 4],
    decoder_self_attention_heads_choice=[8, 4],
    decoder_ende_attention_heads_choice=[8, 4],
    decoder_arbitrary_ende_attn_choice=[-1, 1, 2],
    encoder_layers=6,
    decoder_layers=6,
    qkv_dim=512,
    encoder_embed_dim=640,
    decoder_embed_dim=640,
    encoder_ffn_embed_dim=3072,
    decoder_ffn_embed_dim=3072,
)
SPACE0 = SearchSpace(**SPACE0_ARGS)


def make_config(enc_embed, enc_ffn, enc_heads, dec_embed, dec_layers, dec_ffn, dec_self, dec_ende, arbitrary,
                enc_layers=6):
    return {
        "encoder": {
            "encoder_embed_dim": enc_embed,
            "encoder_layer_num": enc_layers,
            "encoder_ffn_embed_dim": enc_ffn,
            "encoder_self_attention_heads": enc_heads,
        },
        "decoder": {
            "decoder_embed_dim": dec_embed,
            "decoder_layer_num": dec_layers,
            "decoder_ffn_embed_dim": dec_ffn,
            "decoder_self_attention_heads": dec_self,
            "decoder_ende_attention_heads": dec_ende,
            "decoder_arbitrary_ende_attn": arbitrary,
        },
    }


# Test vectors of the original sampler (``sample_configs`` of its fairseq/utils.py, seeded with the update count
# as its train.py does), space0 choices.
SAMPLE_VECTORS = {
    0: make_config(512, [1024, 2048, 2048, 1024, 1024, 2048], [4, 4, 4, 8, 8, 8],
                   512, 4, [3072, 2048, 1024, 1024], [4, 8, 4, 8], [8, 8, 4, 4], [1, 1, 2, 2, -1, 2]),
    1: make_config(640, [2048, 2048, 3072, 2048, 2048, 1024], [4, 4, 8, 8, 4, 8],
                   640, 6, [1024, 1024, 2048, 3072, 1024, 1024], [4, 8, 8, 8, 8, 8], [4, 8, 8, 4, 4, 8],
                   [1, 1, 2, -1, 1, -1]),
    12345: make_config(512, [3072, 1024, 3072, 3072, 2048, 1024], [4, 4, 4, 4, 8, 8],
                       640, 4, [2048, 1024, 3072, 2048], [8, 8, 8, 4], [4, 8, 8, 8], [1, 1, -1, 2, 2, 2]),
}


def valid_config():
    return copy.deepcopy(SAMPLE_VECTORS[0])


def space_with(**overrides):
    return SearchSpace(**{**SPACE0_ARGS, **overrides})


# ----------------------------------------------------------------------------------------- sampling


def canonical(config):
    """``config`` with every per-layer list cut to its part's layer count (the original's sampler returns N̂_d
    arbitrary-attention values; only the first N_d are used)."""
    config = copy.deepcopy(config)
    for part in ("encoder", "decoder"):
        n = config[part][f"{part}_layer_num"]
        for key, value in config[part].items():
            if isinstance(value, list):
                config[part][key] = value[:n]
    return config


@pytest.mark.parametrize("seed", sorted(SAMPLE_VECTORS))
def test_sample_reproduces_original_vectors(seed):
    assert SPACE0.sample(seed) == canonical(SAMPLE_VECTORS[seed])


def test_sample_features_for_first_update():
    assert config_features(SPACE0.sample(0)) == [512, 6, 1536, 6, 512, 4, 1792, 6, 6, 2.5]


def test_sample_is_deterministic_and_seed_dependent():
    assert SPACE0.sample(7) == SPACE0.sample(7)
    assert len({repr(SPACE0.sample(seed)) for seed in range(20)}) == 20


def test_sample_leaves_global_rng_alone():
    random.seed(99)
    state = random.getstate()
    SPACE0.sample(3)
    assert random.getstate() == state


@pytest.mark.parametrize("seed", range(50))
def test_sampled_configs_are_canonical(seed):
    """Every per-layer list as long as its part's layer count (a 2-layer decoder had 6 arbitrary values)."""
    config = SPACE0.sample(seed)
    assert SPACE0.validate(config) == config
    enc, dec = config["encoder"], config["decoder"]
    assert len(enc["encoder_ffn_embed_dim"]) == len(enc["encoder_self_attention_heads"]) == enc["encoder_layer_num"]
    for key in ("decoder_ffn_embed_dim", "decoder_self_attention_heads", "decoder_ende_attention_heads",
                "decoder_arbitrary_ende_attn"):
        assert len(dec[key]) == dec["decoder_layer_num"]


def original_sample_configs(space, seed):
    """The original's ``sample_configs`` (its ``fairseq/utils.py``), seeded as its ``train.py`` does."""
    random.seed(seed)
    enc_embed, dec_embed = random.choice(space.encoder_embed_choice), random.choice(space.decoder_embed_choice)
    enc_layers = random.choice(space.encoder_layer_num_choice)
    dec_layers = random.choice(space.decoder_layer_num_choice)
    enc_ffn, enc_heads, dec_ffn, dec_self, dec_ende = [], [], [], [], []
    for _ in range(enc_layers):
        enc_ffn.append(random.choice(space.encoder_ffn_embed_dim_choice))
        enc_heads.append(random.choice(space.encoder_self_attention_heads_choice))
    for _ in range(dec_layers):
        dec_ffn.append(random.choice(space.decoder_ffn_embed_dim_choice))
        dec_self.append(random.choice(space.decoder_self_attention_heads_choice))
        dec_ende.append(random.choice(space.decoder_ende_attention_heads_choice))
    arbitrary = [random.choice(space.decoder_arbitrary_ende_attn_choice) for _ in range(space.decoder_layers)]
    return make_config(enc_embed, enc_ffn, enc_heads, dec_embed, dec_layers, dec_ffn, dec_self, dec_ende, arbitrary,
                       enc_layers=enc_layers)


@pytest.mark.parametrize("layer_nums", [[2], [6, 5, 4, 3, 2, 1]])
def test_canonical_sampling_keeps_the_original_draws_and_features(layer_nums):
    """Only the arbitrary values of layers beyond N_d are dropped: active values and features are the original's."""
    space = space_with(decoder_layer_num_choice=layer_nums)
    state = random.getstate()
    try:
        for seed in range(30):
            config, original = space.sample(seed), original_sample_configs(space, seed)
            assert len(original["decoder"]["decoder_arbitrary_ende_attn"]) == 6
            assert config == canonical(original)
            assert config_features(config) == config_features(original)
    finally:
        random.setstate(state)


# ------------------------------------------------------------------------------ representative configs


def test_largest_and_smallest_for_space0():
    assert SPACE0.largest() == make_config(640, [3072] * 6, [8] * 6, 640, 6, [3072] * 6, [8] * 6, [8] * 6, [1] * 6)
    assert SPACE0.smallest() == make_config(512, [1024] * 6, [4] * 6, 512, 1, [1024] * 6, [4] * 6, [4] * 6, [1] * 6)
    SPACE0.validate(SPACE0.largest())
    SPACE0.validate(SPACE0.smallest())


# ----------------------------------------------------------------------------------------------- genes


def test_gene_layout_for_six_by_six_layers():
    choices = SPACE0.gene_choices()
    assert len(choices) == 40
    assert choices[0] == (640, 512) and choices[1] == (6,)
    assert choices[2:8] == [(3072, 2048, 1024)] * 6 and choices[8:14] == [(8, 4)] * 6
    assert choices[14] == (640, 512) and choices[15] == (6, 5, 4, 3, 2, 1)
    assert choices[16:22] == [(3072, 2048, 1024)] * 6 and choices[22:34] == [(8, 4)] * 12
    assert choices[34:40] == [(-1, 1, 2)] * 6


def test_gene_length_follows_super_layer_counts():
    space = space_with(encoder_layers=4, decoder_layers=3, encoder_layer_num_choice=[4, 2],
                       decoder_layer_num_choice=[3, 1])
    assert len(space.gene_choices()) == 2 + 2 * 4 + 2 + 4 * 3
    assert len(space.config_to_gene(space.largest())) == 24


def test_config_to_gene_pads_inactive_layers_with_layer_zero():
    gene = SPACE0.config_to_gene(SAMPLE_VECTORS[0])
    assert gene == [512, 6, 1024, 2048, 2048, 1024, 1024, 2048, 4, 4, 4, 8, 8, 8,
                    512, 4, 3072, 2048, 1024, 1024, 3072, 3072, 4, 8, 4, 8, 4, 4, 8, 8, 4, 4, 8, 8,
                    1, 1, 2, 2, 1, 1]


@pytest.mark.parametrize("seed", [0, 1, 12345, 42])
def test_gene_round_trip(seed):
    config = SPACE0.sample(seed)
    gene = SPACE0.config_to_gene(config)
    decoded = SPACE0.gene_to_config(gene)
    assert SPACE0.config_to_gene(decoded) == gene
    for part in ("encoder", "decoder"):
        n = config[part][f"{part}_layer_num"]
        for key, value in config[part].items():
            if isinstance(value, list):
                assert len(decoded[part][key]) == 6
                assert decoded[part][key][:n] == value[:n]
            else:
                assert decoded[part][key] == value
    assert SPACE0.validate(decoded) == decoded


def test_gene_to_config_rejects_bad_genes():
    gene = SPACE0.config_to_gene(SPACE0.largest())
    with pytest.raises(ConfigError, match="39 positions, expected 40"):
        SPACE0.gene_to_config(gene[:-1])
    bad = list(gene)
    bad[17] = 4096
    with pytest.raises(ConfigError, match=r"gene\[17\] \(decoder_ffn_embed_dim\[1\]\)=4096"):
        SPACE0.gene_to_config(bad)
    bad[17] = 3072.0
    with pytest.raises(ConfigError, match=r"gene\[17\]"):
        SPACE0.gene_to_config(bad)


def test_random_gene_is_uniform_per_position_and_reproducible():
    genes = [SPACE0.random_gene(random.Random(seed)) for seed in range(300)]
    assert SPACE0.random_gene(random.Random(5)) == genes[5]
    for position, choices in enumerate(SPACE0.gene_choices()):
        assert {gene[position] for gene in genes} == set(choices)
    SPACE0.validate(SPACE0.gene_to_config(genes[0]))


# ------------------------------------------------------------------------------------------ validation


def test_validate_normalises_without_mutating_input():
    config = valid_config()
    config["encoder"]["encoder_ffn_embed_dim"] = tuple(config["encoder"]["encoder_ffn_embed_dim"])
    original = copy.deepcopy(config)
    result = SPACE0.validate(config)
    assert config == original
    assert result == SAMPLE_VECTORS[0]
    assert isinstance(result["encoder"]["encoder_ffn_embed_dim"], list)


def test_validate_accepts_longer_lists_up_to_super_length_but_checks_extra_entries():
    config = valid_config()
    config["decoder"]["decoder_ffn_embed_dim"] += [1024, 2048]
    assert SPACE0.validate(config)["decoder"]["decoder_ffn_embed_dim"] == [3072, 2048, 1024, 1024, 1024, 2048]
    config["decoder"]["decoder_ffn_embed_dim"][5] = 999
    with pytest.raises(ConfigError, match=r"decoder_ffn_embed_dim\[5\]=999 is not in"):
        SPACE0.validate(config)


@pytest.mark.parametrize(
    "part, key, value, expected",
    [
        ("encoder", "encoder_embed_dim", 768, "encoder_embed_dim=768 is not in encoder-embed-choice [640, 512]"),
        ("decoder", "decoder_ffn_embed_dim", [3072, 2048, 4096, 1024],
         "decoder_ffn_embed_dim[2]=4096 is not in decoder-ffn-embed-dim-choice"),
        ("encoder", "encoder_layer_num", 5, "encoder_layer_num=5 is not in encoder-layer-num-choice [6]"),
        ("decoder", "decoder_layer_num", 0, "decoder_layer_num=0 must be a positive integer"),
        ("encoder", "encoder_self_attention_heads", [4, 4, 4, 8, 8],
         "encoder_self_attention_heads has 5 entries, fewer than encoder_layer_num=6"),
        ("decoder", "decoder_arbitrary_ende_attn", [1, 1, 2],
         "decoder_arbitrary_ende_attn has 3 entries, fewer than decoder_layer_num=4"),
        ("decoder", "decoder_ende_attention_heads", [8] * 7,
         "decoder_ende_attention_heads has 7 entries, more than decoder-layers 6"),
        ("decoder", "decoder_self_attention_heads", [4, 8, 3, 8],
         "decoder_self_attention_heads[2]=3 is not in decoder-self-attention-heads-choice [8, 4]"),
        ("decoder", "decoder_arbitrary_ende_attn", [1, 0, 2, 2, -1, 2],
         "decoder_arbitrary_ende_attn[1]=0 is not one of -1, 1, 2"),
        ("encoder", "encoder_embed_dim", "512", "encoder_embed_dim='512' is not an integer"),
        ("encoder", "encoder_embed_dim", True, "encoder_embed_dim=True is not an integer"),
        ("decoder", "decoder_ffn_embed_dim", 3072, "decoder_ffn_embed_dim=3072 is not a non-empty list"),
        ("encoder", "encoder_typo", 1, "config['encoder'] has unknown key(s) ['encoder_typo']"),
    ],
)
def test_validate_rejects_with_key_and_value(part, key, value, expected):
    config = valid_config()
    config[part][key] = value
    with pytest.raises(ConfigError) as error:
        SPACE0.validate(config)
    assert expected in str(error.value)


def test_validate_names_the_yaml_key_with_a_label():
    config = valid_config()
    config["encoder"]["encoder_embed_dim"] = 600
    with pytest.raises(ConfigError, match=r"^encoder-embed-dim-subtransformer=600 is not in encoder-embed-choice "
                                          r"\[640, 512\]$"):
        SPACE0.validate(config, label=yaml_label)
    config = valid_config()
    config["encoder"]["encoder_self_attention_heads"][1] = 2
    with pytest.raises(ConfigError, match=r"^encoder-self-attention-heads-all-subtransformer\[1\]=2 is not in "
                                          r"encoder-self-attention-heads-choice \[8, 4\]$"):
        SPACE0.validate(config, label=yaml_label)


def test_check_choices_checks_only_the_lists_given():
    config = valid_config()
    config["encoder"]["encoder_embed_dim"] = 600  # fits the super dims, in no choice list
    assert check_choices(config, {"decoder-embed-choice": [512]})["encoder"]["encoder_embed_dim"] == 600
    with pytest.raises(ConfigError, match=r"encoder_embed_dim=600 is not in encoder-embed-choice \[640, 512\]"):
        check_choices(config, {"encoder-embed-choice": [640, 512]})


def test_trained_space_is_the_supertransformers_own():
    assert trained_space(Namespace(**SPACE0_ARGS)) == SPACE0
    assert trained_space(Namespace(**SPACE0_ARGS, train_subtransformer=False)) == SPACE0
    # a SubTransformer checkpoint's choice lists are parser defaults, a compact one's are its supernet's: no space
    assert trained_space(Namespace(**SPACE0_ARGS, train_subtransformer=True)) is None
    assert trained_space(Namespace(**SPACE0_ARGS, compact_subtransformer=True)) is None
    assert trained_space(Namespace(**{**SPACE0_ARGS, "decoder_arbitrary_ende_attn_choice": None})) is None


@pytest.mark.parametrize("part, key, value, expected", [
    ("encoder", "encoder_embed_dim", 600,
     "encoder-embed-dim-subtransformer=600 is not in encoder-embed-choice [640, 512]"),
    ("decoder", "decoder_ende_attention_heads", [8, 8, 4, 2],
     "decoder-ende-attention-heads-all-subtransformer[3]=2 is not in decoder-ende-attention-heads-choice [8, 4]"),
])
def test_check_trained_space_rejects_what_fits_but_is_off_space(part, key, value, expected):
    """Embed 600 <= 640 and 2 heads | 512 fit the SuperTransformer (check_fits), but were never trained."""
    config = valid_config()
    config[part][key] = value
    args = Namespace(**SPACE0_ARGS)
    check_fits(config, args)
    with pytest.raises(ConfigError) as error:
        check_trained_space(config, args, "sub.yml")
    message = str(error.value)
    assert message.startswith(f"sub.yml: {expected}") and "--allow-off-space" in message and "\n" not in message
    check_trained_space(config, args, "sub.yml", allow_off_space=True)
    check_trained_space(config, Namespace(**SPACE0_ARGS, train_subtransformer=True), "sub.yml")


def test_validate_rejects_missing_key_and_part():
    config = valid_config()
    del config["decoder"]["decoder_ende_attention_heads"]
    with pytest.raises(ConfigError, match="config\\['decoder'\\] is missing key 'decoder_ende_attention_heads'"):
        SPACE0.validate(config)
    with pytest.raises(ConfigError, match="'encoder'"):
        SPACE0.validate({"decoder": valid_config()["decoder"]})
    with pytest.raises(ConfigError, match="must be a dict"):
        SPACE0.validate([1, 2])


# ------------------------------------------------------------------------------------ the space itself


def test_space_stores_tuples_and_is_hashable():
    assert SPACE0.encoder_embed_choice == (640, 512)
    assert hash(SPACE0) == hash(SearchSpace(**SPACE0_ARGS))


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"decoder_self_attention_heads_choice": [8, 3]},
         "decoder-self-attention-heads-choice[1]=3 does not divide qkv-dim 512"),
        ({"encoder_embed_choice": [768, 512]}, "encoder-embed-choice[0]=768 exceeds encoder-embed-dim 640"),
        ({"decoder_ffn_embed_dim_choice": [4096]}, "decoder-ffn-embed-dim-choice[0]=4096 exceeds decoder-ffn-embed-dim 3072"),
        ({"decoder_layer_num_choice": [7, 6]}, "decoder-layer-num-choice[0]=7 exceeds decoder-layers 6"),
        ({"encoder_layer_num_choice": [0]}, "encoder-layer-num-choice[0]=0 must be a positive integer"),
        ({"decoder_arbitrary_ende_attn_choice": [-1, 0]}, "decoder-arbitrary-ende-attn-choice[1]=0 is not one of"),
        ({"encoder_self_attention_heads_choice": []}, "encoder-self-attention-heads-choice=[] is not a non-empty list"),
        ({"decoder_embed_choice": [640, "512"]}, "decoder-embed-choice[1]='512' is not an integer"),
        ({"qkv_dim": 0}, "qkv-dim=0 must be a positive integer"),
    ],
)
def test_space_constructor_rejects_bad_spaces(overrides, expected):
    with pytest.raises(ConfigError) as error:
        space_with(**overrides)
    assert expected in str(error.value)


def test_head_choice_three_needs_a_compatible_qkv_dim():
    space = space_with(qkv_dim=384, decoder_self_attention_heads_choice=[8, 4, 3])
    config = valid_config()
    config["decoder"]["decoder_self_attention_heads"] = [4, 8, 3, 8]
    assert space.validate(config)["decoder"]["decoder_self_attention_heads"] == [4, 8, 3, 8]
    with pytest.raises(ConfigError, match=r"decoder_self_attention_heads\[2\]=3 is not in"):
        SPACE0.validate(config)


def test_from_args():
    space = SearchSpace.from_args(Namespace(**{**SPACE0_ARGS, "qkv_dim": None, "unrelated": 1}))
    assert space.qkv_dim == 640
    assert space == space_with(qkv_dim=640)
    assert SearchSpace.from_args(Namespace(**SPACE0_ARGS)) == SPACE0
    args = dict(SPACE0_ARGS)
    del args["decoder_layer_num_choice"], args["encoder_layers"]
    with pytest.raises(ConfigError, match="--decoder-layer-num-choice, --encoder-layers"):
        SearchSpace.from_args(Namespace(**args))


# ------------------------------------------------------------------------------- fitting super dims


SUPER_DIMS = Namespace(encoder_layers=6, decoder_layers=6, qkv_dim=None, encoder_embed_dim=640, decoder_embed_dim=640,
                       encoder_ffn_embed_dim=3072, decoder_ffn_embed_dim=3072, encoder_embed_choice=[512, 256, 128])


def test_check_fits_ignores_choice_lists():
    config = make_config(576, [3072, 100, 1, 3072, 3072, 3072], [10, 1, 640, 8, 8, 8], 640, 1, [2048], [5], [64],
                         [2, 2])
    assert check_fits(config, SUPER_DIMS) == config
    assert check_fits_model(config, Namespace(args=SUPER_DIMS)) == config


def seven_decoder_layers(config):
    config["decoder"] = {key: value * 2 if isinstance(value, list) else value for key, value in config["decoder"].items()}
    config["decoder"]["decoder_layer_num"] = 7


@pytest.mark.parametrize(
    "mutate, expected",
    [
        (lambda c: c["decoder"]["decoder_self_attention_heads"].__setitem__(2, 3),
         "decoder_self_attention_heads[2]=3 does not divide qkv-dim 640"),
        (lambda c: c["encoder"].__setitem__("encoder_embed_dim", 768),
         "encoder_embed_dim=768 exceeds encoder-embed-dim 640"),
        (lambda c: c["decoder"]["decoder_ffn_embed_dim"].__setitem__(5, 4096),
         "decoder_ffn_embed_dim[5]=4096 exceeds decoder-ffn-embed-dim 3072"),
        (seven_decoder_layers, "decoder_layer_num=7 exceeds decoder-layers 6"),
        (lambda c: c["encoder"]["encoder_ffn_embed_dim"].append(1024),
         "encoder_ffn_embed_dim has 7 entries, more than encoder-layers 6"),
    ],
)
def test_check_fits_rejects(mutate, expected):
    config = valid_config()
    config["decoder"]["decoder_ffn_embed_dim"] += [1024, 1024]  # extra entries up to the super length are fine
    assert check_fits(config, SUPER_DIMS) == config
    mutate(config)
    with pytest.raises(ConfigError) as error:
        check_fits(config, SUPER_DIMS)
    assert expected in str(error.value)


def test_check_fits_needs_super_dims():
    with pytest.raises(ConfigError, match="missing arguments: --decoder-layers"):
        check_fits(valid_config(), Namespace(**{**vars(SUPER_DIMS), "decoder_layers": None}))
    with pytest.raises(ConfigError, match="qkv-dim=0 must be a positive integer"):
        check_fits(valid_config(), Namespace(**{**vars(SUPER_DIMS), "qkv_dim": 0}))


# ------------------------------------------------------------------------------------------- features


def test_feature_names_match_csv_header():
    header = ("encoder_embed_dim,encoder_layer_num,encoder_ffn_embed_dim_avg,encoder_self_attention_heads_avg,"
              "decoder_embed_dim,decoder_layer_num,decoder_ffn_embed_dim_avg,decoder_self_attention_heads_avg,"
              "decoder_ende_attention_heads_avg,decoder_arbitrary_ende_attn_avg")
    assert FEATURE_NAMES == tuple(header.split(","))


@pytest.mark.parametrize(
    "config, expected",
    [
        # like HAT_wmt14ende_titanxp@57.1ms: one decoder layer; entries beyond N_d must not count
        (make_config(512, [3072] * 6, [8, 8, 8, 8, 8, 4], 512, 1, [3072, 1024, 1024], [8, 4], [8, 4, 4],
                     [1, 2, -1, -1, 2, 2]),
         [512, 6, 3072, 44 / 6, 512, 1, 3072, 8, 8, 2]),
        # like HAT_iwslt14deen_titanxp@137.8ms
        (make_config(512, [1024] * 6, [4] * 6, 512, 4, [2048, 1024, 2048, 1024], [4, 4, 2, 4], [4] * 4,
                     [-1, -1, 1, 1]),
         [512, 6, 1024, 4, 512, 4, 1536, 3.5, 4, 1.5]),
        # like HAT_wmt19ende_titanxp@55.7ms
        (make_config(640, [3072] * 6, [8] * 6, 512, 1, [3072], [8], [8], [1]),
         [640, 6, 3072, 8, 512, 1, 3072, 8, 8, 2]),
        # arbitrary 2 attends three encoder layers; encoder shallower than 6
        (make_config(640, [2048, 1024, 512, 999], [4, 2, 2, 999], 640, 2, [512, 512], [2, 2], [2, 8], [2, 2],
                     enc_layers=3),
         [640, 3, 3584 / 3, 8 / 3, 640, 2, 512, 2, 5, 3]),
    ],
)
def test_config_features(config, expected):
    features = config_features(config)
    assert features == expected
    assert all(type(value) is float for value in features)


def test_config_features_rejects_illegal_arbitrary_value():
    config = valid_config()
    config["decoder"]["decoder_arbitrary_ende_attn"][0] = 3
    with pytest.raises(ConfigError, match=r"decoder_arbitrary_ende_attn\[0\]=3"):
        config_features(config)


# ----------------------------------------------------------------------------------------------- YAML

SEED0_YAML = textwrap.dedent("""\
    encoder-embed-dim-subtransformer: 512
    decoder-embed-dim-subtransformer: 512

    encoder-ffn-embed-dim-all-subtransformer: [1024, 2048, 2048, 1024, 1024, 2048]
    decoder-ffn-embed-dim-all-subtransformer: [3072, 2048, 1024, 1024]

    encoder-layer-num-subtransformer: 6
    decoder-layer-num-subtransformer: 4

    encoder-self-attention-heads-all-subtransformer: [4, 4, 4, 8, 8, 8]
    decoder-self-attention-heads-all-subtransformer: [4, 8, 4, 8]
    decoder-ende-attention-heads-all-subtransformer: [8, 8, 4, 4]

    decoder-arbitrary-ende-attn-all-subtransformer: [1, 1, 2, 2]

    """)


def test_subtransformer_keys():
    assert list(SUBTRANSFORMER_KEYS) == [line.split(":")[0] for line in SEED0_YAML.splitlines() if line]
    assert SUBTRANSFORMER_KEYS["decoder-arbitrary-ende-attn-all-subtransformer"] == (
        "decoder", "decoder_arbitrary_ende_attn")
    assert SUBTRANSFORMER_KEYS["encoder-layer-num-subtransformer"] == ("encoder", "encoder_layer_num")


def test_format_matches_original_layout():
    assert format_subtransformer_yaml(SAMPLE_VECTORS[0]) == SEED0_YAML


def test_write_then_read_round_trip(tmp_path):
    path = tmp_path / "sub.yml"
    path.write_text("old content\n")
    write_subtransformer_yaml(SAMPLE_VECTORS[0], path)
    assert path.read_text() == SEED0_YAML
    assert os.listdir(tmp_path) == ["sub.yml"]
    config = read_subtransformer_yaml(path)
    expected = copy.deepcopy(SAMPLE_VECTORS[0])
    expected["decoder"]["decoder_arbitrary_ende_attn"] = [1, 1, 2, 2]
    assert config == expected
    assert SPACE0.validate(config) == config
    assert config_features(config) == config_features(SAMPLE_VECTORS[0])


def test_write_rejects_invalid_config_and_leaves_no_file(tmp_path):
    config = valid_config()
    config["encoder"]["encoder_layer_num"] = 7
    with pytest.raises(ConfigError, match="fewer than encoder_layer_num=7"):
        write_subtransformer_yaml(config, tmp_path / "sub.yml")
    assert os.listdir(tmp_path) == []


def test_read_original_file_with_comments_and_other_keys(tmp_path):
    path = tmp_path / "train.yml"
    path.write_text(textwrap.dedent("""\
        # a whole training config
        arch: transformersuper_wmt_en_de
        adam-betas: (0.9, 0.98)
        encoder-embed-choice: [640, 512]
        encoder-embed-dim-subtransformer: 640 # comment
        decoder-embed-dim-subtransformer: 512
        encoder-ffn-embed-dim-all-subtransformer: [3072, 3072, 3072, 3072, 3072, 3072]
        decoder-ffn-embed-dim-all-subtransformer: 3072
        encoder-layer-num-subtransformer: 6
        decoder-layer-num-subtransformer: 1
        encoder-self-attention-heads-all-subtransformer: [8, 8, 8, 8, 8, 8]
        decoder-self-attention-heads-all-subtransformer: [8]
        decoder-ende-attention-heads-all-subtransformer: [8]
        decoder-arbitrary-ende-attn-all-subtransformer: [-1]
        """))
    config = read_subtransformer_yaml(path)
    assert config == make_config(640, [3072] * 6, [8] * 6, 512, 1, [3072], [8], [8], [-1])


def write_seed0_with(tmp_path, old, new):
    path = tmp_path / "bad.yml"
    path.write_text(SEED0_YAML.replace(old, new))
    return path


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("decoder-layer-num-subtransformer: 4\n", "", "no value for decoder-layer-num-subtransformer"),
        ("decoder-layer-num-subtransformer: 4", "decoder-layer-num-subtransformer:",
         "no value for decoder-layer-num-subtransformer"),
        ("[3072, 2048, 1024, 1024]", "[3072, x, 1024, 1024]",
         "decoder-ffn-embed-dim-all-subtransformer[1]='x' is not an integer"),
        ("embed-dim-subtransformer: 512\n\n", "embed-dim-subtransformer: big\n\n",
         "decoder-embed-dim-subtransformer='big' is not an integer"),
        ("[1, 1, 2, 2]", "[1, 0, 2, 2]", "decoder-arbitrary-ende-attn-all-subtransformer[1]=0 is not one of"),
        ("[8, 8, 4, 4]", "[8, 8, 4]",
         "decoder-ende-attention-heads-all-subtransformer has 3 entries, fewer than decoder-layer-num-subtransformer=4"),
        ("[1, 1, 2, 2]", "[1, 1, 2, 2", "is not valid YAML"),
    ],
)
def test_read_reports_file_and_key(tmp_path, old, new, expected):
    path = write_seed0_with(tmp_path, old, new)
    with pytest.raises(ConfigError) as error:
        read_subtransformer_yaml(path)
    assert str(path) in str(error.value)
    assert expected in str(error.value)


def test_read_missing_or_empty_file(tmp_path):
    missing = tmp_path / "nope.yml"
    with pytest.raises(ConfigError, match="cannot read SubTransformer config .*nope.yml"):
        read_subtransformer_yaml(missing)
    empty = tmp_path / "empty.yml"
    empty.write_text("# nothing\n")
    with pytest.raises(ConfigError, match="empty.yml does not contain"):
        read_subtransformer_yaml(empty)


# ------------------------------------------------------------------------------------ args and imports


def subtransformer_namespace(config):
    flat = {key.replace("-", "_"): config[part][name] for key, (part, name) in SUBTRANSFORMER_KEYS.items()}
    return Namespace(**flat, unrelated="x")


def test_config_from_args():
    assert config_from_args(subtransformer_namespace(SAMPLE_VECTORS[1])) == SAMPLE_VECTORS[1]
    args = subtransformer_namespace(SAMPLE_VECTORS[1])
    del args.encoder_layer_num_subtransformer
    args.decoder_embed_dim_subtransformer = None
    with pytest.raises(ConfigError, match="--decoder-embed-dim-subtransformer, --encoder-layer-num-subtransformer"):
        config_from_args(args)
    args = subtransformer_namespace(SAMPLE_VECTORS[1])
    args.decoder_ffn_embed_dim_all_subtransformer = [1024, -5]
    with pytest.raises(ConfigError, match=r"--decoder-ffn-embed-dim-all-subtransformer\[1\]=-5"):
        config_from_args(args)
