"""#Params and FLOPs of all 44 released SubTransformers against the published integers."""
import json
import subprocess
import sys
from functools import lru_cache

import pytest

from conftest import ROOT, assert_user_error, build_tiny, run_in_process, task_of
from hat.training import get_parser, CONFIG_FLAGS
from hat.config_args import parse_config_args
from hat.profiling import build_for_profiling, dummy_sentence_length, profile_flops, sampled_params_numel
from hat.search_space import read_subtransformer_yaml
from hat.zoo import SUBTRANSFORMERS

CONFIGS = ROOT / "configs"


@lru_cache(maxsize=None)
def supertransformer_for(task: str):
    """The task's SuperTransformer (common.yml dims), built once per task on a dummy vocabulary."""
    common = CONFIGS / task / "subtransformer" / "common.yml"
    args = parse_config_args(get_parser(), ["--sub-configs", str(common)], CONFIG_FLAGS)
    return args, build_for_profiling(args)


def test_all_44_released_configs_exist():
    found = sorted(p.stem for p in CONFIGS.glob("*/subtransformer/HAT_*.yml"))
    assert found == sorted(SUBTRANSFORMERS)


@pytest.mark.parametrize("name", sorted(SUBTRANSFORMERS))
def test_params_and_flops_match_published(name):
    args, model = supertransformer_for(task_of(name))
    config = read_subtransformer_yaml(CONFIGS / task_of(name) / "subtransformer" / f"{name}.yml")
    record = SUBTRANSFORMERS[name]
    assert sampled_params_numel(model, config) == record.params
    assert profile_flops(model, config, dummy_sentence_length(args.arch))["flops"] == record.flops


def test_flops_do_not_depend_on_vocabulary_and_params_exclude_embeddings():
    small, large = build_tiny(vocab_size=16), build_tiny(vocab_size=40)
    config = small.sample_config
    a, b = profile_flops(small, config, 10), profile_flops(large, config, 10)
    assert a["flops"] == b["flops"]
    assert a["total_flops"] < b["total_flops"]  # the output layer is what grows
    assert sampled_params_numel(small, config) == sampled_params_numel(large, config)


def test_params_closed_form_on_tiny_model(space):
    """The closed form of the original's ``TransformerSuperModel.get_sampled_params_numel``, computed independently
    of the modules' own counters."""
    model = build_tiny()
    q = 32
    for seed in range(5):
        c = space.sample(seed)
        e, d = c["encoder"], c["decoder"]
        ee, ed = e["encoder_embed_dim"], d["decoder_embed_dim"]
        total = 0
        for i in range(e["encoder_layer_num"]):
            f = e["encoder_ffn_embed_dim"][i]
            total += 4 * q * ee + 3 * q + ee + 2 * ee + 2 * ee * f + f + ee + 2 * ee
        for i in range(d["decoder_layer_num"]):
            f = d["decoder_ffn_embed_dim"][i]
            total += 4 * q * ed + 3 * q + ed + 2 * ed
            total += q * ed + 2 * q * ee + 3 * q + q * ed + ed + 2 * ed
            total += 2 * ed * f + f + ed + 2 * ed
        assert sampled_params_numel(model, c) == total


@pytest.fixture
def run_train(capsys, monkeypatch):
    """``train.py ARGS`` in process from the project root (the script itself is run by
    :func:`test_cli_profile_json_without_data`)."""
    from hat.cli import train

    monkeypatch.chdir(ROOT)
    return lambda *args: run_in_process(capsys, train.main, args)


def test_cli_profile_json_without_data():
    name = "HAT_iwslt14deen_titanxp@45.6ms_bleu@33.4"
    proc = subprocess.run([sys.executable, "train.py", f"--configs=configs/iwslt14.de-en/subtransformer/{name}.yml",
                           "--sub-configs=configs/iwslt14.de-en/subtransformer/common.yml", "--profile-flops",
                           "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (result["params"], result["flops"]) == SUBTRANSFORMERS[name][:2]
    assert result["dummy_sentence_length"] == 23


def test_cli_rejects_out_of_space_config(run_train, tmp_path):
    bad = tmp_path / "bad.yml"
    text = (CONFIGS / "wmt14.en-de/subtransformer/HAT_wmt14ende_xeon@137.9ms_bleu@25.8.yml").read_text()
    bad.write_text(text.replace("encoder-embed-dim-subtransformer: 512", "encoder-embed-dim-subtransformer: 700"))
    proc = run_train(f"--configs={bad}", "--sub-configs=configs/wmt14.en-de/subtransformer/common.yml", "--profile-flops")
    assert_user_error(proc, "700", "encoder")


def test_cli_names_unknown_key_and_file(run_train, tmp_path):
    bad = tmp_path / "typo.yml"
    bad.write_text("encoder-embed-dim-subtransformr: 512\n")
    proc = run_train(f"--configs={bad}", "--sub-configs=configs/wmt14.en-de/subtransformer/common.yml", "--profile-flops")
    assert_user_error(proc, "encoder-embed-dim-subtransformr", str(bad))


def test_cli_missing_config_file(run_train):
    proc = run_train("--configs=nowhere.yml", "--profile-flops")
    assert_user_error(proc, "nowhere.yml")


SPACE_YML = """\
arch: transformersuper
data: {data}
encoder-embed-dim: 96
decoder-embed-dim: 96
encoder-ffn-embed-dim: 192
decoder-ffn-embed-dim: 192
encoder-layers: 2
decoder-layers: 2
encoder-attention-heads: 4
decoder-attention-heads: 4
qkv-dim: 96
encoder-embed-choice: [96, 64]
decoder-embed-choice: [96, 64]
encoder-layer-num-choice: [2]
decoder-layer-num-choice: [2, 1]
encoder-ffn-embed-dim-choice: [192, 96]
decoder-ffn-embed-dim-choice: [192, 96]
encoder-self-attention-heads-choice: [4, 2]
decoder-self-attention-heads-choice: [4, 2]
decoder-ende-attention-heads-choice: [4, 2]
decoder-arbitrary-ende-attn-choice: [-1, 1]
"""

SUB_YML = """\
encoder-embed-dim-subtransformer: {embed}
decoder-embed-dim-subtransformer: 96
encoder-ffn-embed-dim-all-subtransformer: [192, 96]
decoder-ffn-embed-dim-all-subtransformer: [192, 96]
encoder-layer-num-subtransformer: 2
decoder-layer-num-subtransformer: 2
encoder-self-attention-heads-all-subtransformer: [4, {heads}]
decoder-self-attention-heads-all-subtransformer: [4, 4]
decoder-ende-attention-heads-all-subtransformer: [4, 2]
decoder-arbitrary-ende-attn-all-subtransformer: [-1, 1]
"""


@pytest.mark.parametrize("embed, heads, expected", [
    (80, 2, "encoder-embed-dim-subtransformer=80 is not in encoder-embed-choice [96, 64]"),
    (96, 3,
     "encoder-self-attention-heads-all-subtransformer[1]=3 is not in encoder-self-attention-heads-choice [4, 2]"),
])
def test_cli_rejects_a_config_off_the_space_of_its_config_files(run_train, tmp_path, embed, heads, expected):
    """Embed 80 <= 96 and 3 heads | qkv-dim 96 fit the SuperTransformer, but are outside the *-choice lists the files
    set; --allow-off-space profiles them anyway."""
    space, sub = tmp_path / "space.yml", tmp_path / "sub.yml"
    space.write_text(SPACE_YML.format(data=tmp_path))
    sub.write_text(SUB_YML.format(embed=embed, heads=heads))
    proc = run_train(f"--configs={space}", f"--sub-configs={sub}", "--profile-flops")
    assert_user_error(proc, expected, str(space), "--allow-off-space")
    allowed = run_train(f"--configs={space}", f"--sub-configs={sub}", "--profile-flops", "--json", "--allow-off-space")
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    assert json.loads(allowed.stdout.strip().splitlines()[-1])["config"]["encoder"]["encoder_embed_dim"] == embed


def test_cli_checks_a_space_in_the_choice_lists_of_the_files_only(run_train, tmp_path):
    """A SubTransformer in the files' space profiles; without *-choice keys (the original's sub.yml + common.yml) the
    parser defaults are no space: 80 is in none of [512, 256, 128] and only has to fit."""
    space, sub = tmp_path / "space.yml", tmp_path / "sub.yml"
    space.write_text(SPACE_YML.format(data=tmp_path))
    sub.write_text(SUB_YML.format(embed=64, heads=2))
    assert run_train(f"--configs={space}", f"--sub-configs={sub}", "--profile-flops").returncode == 0
    no_space = tmp_path / "common.yml"
    no_space.write_text("".join(line + "\n" for line in SPACE_YML.format(data=tmp_path).splitlines()
                                if "-choice" not in line))
    sub.write_text(SUB_YML.format(embed=80, heads=3))
    proc = run_train(f"--configs={sub}", f"--sub-configs={no_space}", "--profile-flops")
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_cli_yaml_syntax_error_is_one_line_naming_file_line_and_key(run_train, tmp_path):
    """A list with its bracket missing was read as a string, then rejected with ~165 lines of usage, no file named."""
    bad = tmp_path / "space.yml"
    text = SPACE_YML.format(data=tmp_path)
    bad.write_text(text.replace("encoder-embed-choice: [96, 64]", "encoder-embed-choice: [96, 64"))
    proc = run_train(f"--configs={bad}")
    assert_user_error(proc, f"{bad}, line 12: encoder-embed-choice:", "[96, 64")
    assert "usage:" not in proc.stderr


@pytest.mark.parametrize("line, expected", [
    ("encoder-embed-choice: [96, 64", "line 2: encoder-embed-choice: the '[' is never closed in '[96, 64'"),
    ("encoder-embed-choice: [96, 64 # comment", "line 2: encoder-embed-choice: the '[' is never closed"),
    ("encoder-embed-choice: 96, 64]", "line 2: encoder-embed-choice: unbalanced [ ]"),
    ("adam-betas: '(0.9, 0.98)", "line 2: adam-betas: the quote ' is never closed"),
    (": 5", "line 2: not a 'key: value' line"),
])
def test_config_file_syntax_errors_name_file_line_and_key(tmp_path, line, expected):
    from hat.config_args import read_config_file
    from hat.errors import ConfigError

    path = tmp_path / "x.yml"
    path.write_text(f"arch: transformersuper\n{line}\nlr: 0.1\n")
    with pytest.raises(ConfigError) as error:
        read_config_file(str(path))
    assert str(error.value).startswith(f"{path}, {expected}")


def test_every_shipped_config_passes_the_syntax_check():
    from hat.config_args import read_config_file

    for path in sorted(CONFIGS.rglob("*.yml")):
        read_config_file(str(path))
