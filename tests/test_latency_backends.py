"""Latency on ONNX Runtime (``--lat-backend``): the timed engine computes the SubTransformer, the protocol is the
torch backend's, and the backend is part of a dataset's recorded settings (no timing asserted)."""
import importlib.util
import json
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, assert_user_error, build_tiny, random_tokens
from hat.latency.collection import settings_path
from hat.latency.measure import LatencyError, MeasureSettings, describe, measure_latency, prepare_model
from hat.runtime.onnxruntime_model import OnnxRuntimeSubTransformer
from hat.subtransformer import extract_subtransformer
from test_latency_measure import RELEASED, run_dataset, tiny_yml  # noqa: F401  (fixture)

needs_onnxruntime = pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None,
                                       reason="onnxruntime is not installed (pip install -e .[deploy])")


def test_a_missing_onnxruntime_is_one_line():
    """onnxruntime made unimportable in a fresh process: the backend flag fails with one line naming the extra."""
    script = ("import runpy, sys; sys.modules['onnxruntime'] = None; "
              f"sys.argv = ['train.py', *{RELEASED!r}, '--latcpu', '--latiter=1', '--lat-threads=1', "
              "'--lat-vocab-size=64', '--lat-backend', 'onnxruntime']; runpy.run_path('train.py', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert_user_error(proc, "onnxruntime", ".[deploy]")


@needs_onnxruntime
@pytest.mark.parametrize("backend", ["onnxruntime", "onnxruntime-int8"])
def test_the_timed_engine_computes_the_subtransformer(space, backend):
    model, config = build_tiny(seed=2), space.sample(4)
    settings = MeasureSettings(latiter=2, length=3, threads=1, backend=backend)
    timed = prepare_model(model, config, settings)
    assert isinstance(timed, OnnxRuntimeSubTransformer) and timed.int8 == backend.endswith("int8")
    assert prepare_model(model, config, settings) is timed  # rounds and re-measurements reuse the export
    src, prev = random_tokens(24, 2, 6, seed=1), random_tokens(24, 2, 5, seed=2, pad_tail=False)
    with torch.no_grad():
        expected = extract_subtransformer(model, config).eval()(src, src.ne(1).sum(1), prev)[0]
        actual = timed(src, src.ne(1).sum(1), prev)[0]
    tolerance = 0.1 * expected.abs().max().item() if timed.int8 else 1e-5
    torch.testing.assert_close(actual, expected, rtol=0, atol=tolerance)


@needs_onnxruntime
def test_onnxruntime_latency_follows_the_protocol(space, monkeypatch):
    """Same call sequence as the torch backend: warm-ups, ``latiter`` encoder calls, ``latiter`` x L steps."""
    model, config = build_tiny(vocab_size=20), space.sample(1)
    settings = MeasureSettings(latiter=3, beam=2, length=4, threads=1, backend="onnxruntime")
    timed = prepare_model(model, config, settings)
    calls = {"encoder": 0, "step": []}
    encoder_run, step_run = timed.encoder.session.run, timed.decoder.session.run

    def count_encoder(*args):
        calls["encoder"] += 1
        return encoder_run(*args)

    def record_step(outputs, feed):
        calls["step"].append((feed["prev_token"].shape[0], feed["self_key_0"].shape[2]))
        return step_run(outputs, feed)

    monkeypatch.setattr(timed.encoder, "session", type("S", (), {"run": staticmethod(count_encoder)}))
    monkeypatch.setattr(timed.decoder, "session", type("S", (), {"run": staticmethod(record_step)}))
    result = measure_latency(model, config, settings)
    assert len(result.encoder_samples) == len(result.decoder_samples) == 3
    assert calls["encoder"] == 5 + 3  # warm-ups, then timed
    warmup, timed_steps = calls["step"][:5 * 4], calls["step"][5 * 4:]
    assert all(batch == 2 for batch, _ in calls["step"])  # the beam copies
    assert [past for _, past in timed_steps] == [0, 1, 2, 3] * 3  # each iteration starts from an empty cache
    assert [past for _, past in warmup] == [0, 1, 2, 3] * 5


@needs_onnxruntime
def test_backend_is_recorded_and_checked():
    info = describe(MeasureSettings(threads=1, backend="onnxruntime-int8"), 16)
    assert info["backend"] == "onnxruntime-int8" and info["precision"] == "int8" and info["threads"] == 1
    assert "onnxruntime_version" in info
    assert "backend" not in describe(MeasureSettings(threads=1), 16)  # torch datasets recorded before still resume
    with pytest.raises(LatencyError, match="not one of"):
        MeasureSettings(backend="tensorrt")
    with pytest.raises(LatencyError, match="on the CPU"):
        MeasureSettings(backend="onnxruntime", original_mode=True)


@needs_onnxruntime
def test_dataset_resumed_with_another_backend_is_refused(tiny_yml, tmp_path, capsys):  # noqa: F811
    csv = tmp_path / "lat.csv"
    assert run_dataset(tiny_yml, csv, 1, "--lat-backend=onnxruntime") == 0
    assert json.loads(settings_path(csv).read_text())["backend"] == "onnxruntime"
    capsys.readouterr()
    status = run_dataset(tiny_yml, csv, 2)
    assert_user_error(subprocess.CompletedProcess([], status, "", capsys.readouterr().err), "backend", "refusing")
    assert len(csv.read_text().splitlines()) == 2


def test_search_verification_measures_on_the_predictors_backend():
    from argparse import Namespace

    from hat.latency.measure import device_name
    from hat.search.runner import verification_plan

    predictor = Namespace(measured_with={"device": "cpu", "device_name": device_name("cpu"), "threads": 1, "latiter": 2,
                               "beam": 1, "dummy_sentence_length": 3, "vocab_size": 16, "original_mode": False,
                               "backend": "onnxruntime-int8"})  # all verification reads of a predictor
    args = Namespace(cpu=False, no_verify_on_device=False, verify_on_device=None, ckpt_path="p.pt", verify_rounds=1)
    k, settings, why = verification_plan(args, predictor)
    assert why == "on" and k > 0
    assert settings.backend == "onnxruntime-int8" and settings.device == "cpu" and settings.threads == 1
