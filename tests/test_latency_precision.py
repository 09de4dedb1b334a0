"""The timed model's precision, as the original's: ``train.py --latgpu`` times float16 when the config says
``fp16: True`` (its Trainer halves the model), ``latency_dataset.py`` and ``--latcpu`` always float32. On a CPU:
the settings are chosen from the parsed arguments, and the model is cast to them."""
from types import SimpleNamespace

import pytest
import torch

from conftest import build_tiny, tiny_args
from hat.latency.collection import parse_latency_dataset_args
from hat.latency.measure import (LatencyError, MeasureSettings, prepare_model, settings_from_args,
                                subtransformer_settings)
from hat.search_space import SearchSpace
from hat.training import parse_train_args

WMT = "configs/wmt14.en-de"
IWSLT = "configs/iwslt14.de-en/subtransformer"
SUBTRANSFORMER = {True: [f"--configs={WMT}/subtransformer/HAT_wmt14ende_raspberrypi@3.5s_bleu@25.8.yml",
                         f"--sub-configs={WMT}/subtransformer/common.yml"],  # fp16: True
                  False: [f"--configs={IWSLT}/HAT_iwslt14deen_titanxp@45.6ms_bleu@33.4.yml",
                          f"--sub-configs={IWSLT}/common.yml"]}  # fp16: False


@pytest.mark.parametrize("device, fp16, dtype", [("--latgpu", True, torch.float16), ("--latgpu", False, torch.float32),
                                                  ("--latcpu", True, torch.float32)])
def test_train_py_times_float16_on_the_gpu_when_the_config_says_fp16(device, fp16, dtype):
    args = parse_train_args([*SUBTRANSFORMER[fp16], device])
    assert bool(args.fp16) is fp16
    assert subtransformer_settings(args).dtype == dtype


def test_latency_datasets_are_timed_in_float32_whatever_the_config():
    args = parse_latency_dataset_args([f"--configs={WMT}/latency_dataset/gpu_titanxp.yml", "--fp16"])
    assert args.latgpu and args.fp16
    assert settings_from_args(args).dtype == torch.float32


def test_float16_is_for_the_gpu_only():
    assert MeasureSettings(device="cuda", half=True).dtype == torch.float16
    with pytest.raises(LatencyError, match="float16 timing needs the GPU"):
        MeasureSettings(device="cpu", half=True)


@pytest.mark.parametrize("original_mode", [False, True])
@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_the_timed_model_is_cast_to_the_settings_dtype(original_mode, dtype):
    model = build_tiny().half()  # whatever it was built in
    config = SearchSpace.from_args(tiny_args()).largest()
    # the settings' fields prepare_model reads, on this CPU (CUDA is what the real settings ask for)
    settings = SimpleNamespace(backend="torch", original_mode=original_mode, device="cpu", dtype=dtype)
    timed = prepare_model(model, config, settings)
    assert {p.dtype for p in timed.parameters()} == {dtype}
    assert timed.training is original_mode
