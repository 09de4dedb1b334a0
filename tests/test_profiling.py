"""#Params and FLOPs of all 44 released SubTransformers against the published integers."""
import json
import subprocess
import sys
from functools import lru_cache

import pytest

from conftest import ROOT, build_tiny
from hat.training import get_parser, CONFIG_FLAGS
from hat.config_args import parse_config_args
from hat.profiling import build_for_profiling, dummy_sentence_length, profile_flops, sampled_params_numel
from hat.search_space import read_subtransformer_yaml
from hat.zoo import SUBTRANSFORMERS, task_of

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
    """Reference 4.1 closed form, computed independently of the modules' own counters."""
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


def run_train(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "train.py", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_cli_profile_json_without_data():
    name = "HAT_iwslt14deen_titanxp@45.6ms_bleu@33.4"
    proc = run_train(f"--configs=configs/iwslt14.de-en/subtransformer/{name}.yml",
                     "--sub-configs=configs/iwslt14.de-en/subtransformer/common.yml", "--profile-flops", "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (result["params"], result["flops"]) == SUBTRANSFORMERS[name][:2]
    assert result["dummy_sentence_length"] == 23


def test_cli_rejects_out_of_space_config(tmp_path):
    bad = tmp_path / "bad.yml"
    text = (CONFIGS / "wmt14.en-de/subtransformer/HAT_wmt14ende_xeon@137.9ms_bleu@25.8.yml").read_text()
    bad.write_text(text.replace("encoder-embed-dim-subtransformer: 512", "encoder-embed-dim-subtransformer: 700"))
    proc = run_train(f"--configs={bad}", "--sub-configs=configs/wmt14.en-de/subtransformer/common.yml", "--profile-flops")
    assert proc.returncode == 2
    assert "700" in proc.stderr and "encoder" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_names_unknown_key_and_file(tmp_path):
    bad = tmp_path / "typo.yml"
    bad.write_text("encoder-embed-dim-subtransformr: 512\n")
    proc = run_train(f"--configs={bad}", "--sub-configs=configs/wmt14.en-de/subtransformer/common.yml", "--profile-flops")
    assert proc.returncode == 2
    assert "encoder-embed-dim-subtransformr" in proc.stderr and str(bad) in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_missing_config_file():
    proc = run_train("--configs=nowhere.yml", "--profile-flops")
    assert proc.returncode == 2 and "nowhere.yml" in proc.stderr and "Traceback" not in proc.stderr
