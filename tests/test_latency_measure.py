"""Latency measurement (procedure, statistics, modes) and the latency_dataset / train.py CLIs (no timing asserted)."""
import json
import os
import subprocess
import sys
from argparse import Namespace

import numpy as np
import pytest
import torch

from conftest import ROOT, SHARED, assert_user_error, build_tiny, run_in_process, tiny_args
from hat.cli import run_cli
from hat.cli import latency_dataset
from hat.latency import collection
from hat.latency.collection import sample_seed, settings_path
from hat.latency.dataset import CSV_HEADER
from hat.latency.measure import (DEFAULT_VOCAB_SIZE, WARMUP, LatencyError, MeasureSettings, measure_latency,
                                 settings_from_args, trimmed_mean_std, vocab_size_from_args)
from hat.models.transformer_super import TransformerDecoderSuper, TransformerEncoderSuper
from hat.search_space import SearchSpace

no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without CUDA")


# --- statistics ---------------------------------------------------------------------------------------------

def test_trimming_drops_ten_percent_each_side():
    samples = [float(v) for v in np.random.default_rng(0).permutation(np.arange(1, 21))]  # 1..20, shuffled
    kept = np.arange(3, 19)  # int(0.1 * 20) = 2 dropped at each end
    mean, std = trimmed_mean_std(samples)
    assert mean == pytest.approx(10.5)
    assert std == pytest.approx(np.sqrt((16 ** 2 - 1) / 12))  # population std of 16 consecutive integers
    assert (mean, std) == pytest.approx((kept.mean(), kept.std()))


@pytest.mark.parametrize("samples, expected", [
    ([4.0], (4.0, 0.0)),  # latiter 1: the one sample (the original printed NaN)
    ([3.0, 1.0], (2.0, 1.0)),  # latiter < 10: nothing dropped
    ([9.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], (5.0, np.sqrt(60 / 9))),
    ([100.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, -50.0], (4.5, np.sqrt(5.25))),  # 10: one dropped each side
])
def test_trimming_small_latiter(samples, expected):
    assert trimmed_mean_std(samples) == pytest.approx(expected)


def test_trimming_needs_samples_and_settings_are_checked():
    with pytest.raises(LatencyError):
        trimmed_mean_std([])
    with pytest.raises(LatencyError, match="latiter"):
        MeasureSettings(latiter=0)
    with pytest.raises(LatencyError, match="device"):
        MeasureSettings(device="tpu")


# --- the measurement procedure ------------------------------------------------------------------------------

@pytest.fixture
def recorded_calls():
    """Every encoder/decoder forward during the test: module, mode, grad context, threads, inputs, incremental
    state (the object itself, kept alive so that identities stay distinct), output size."""
    calls = []

    def hook(module, inputs, kwargs, output):
        if isinstance(module, (TransformerEncoderSuper, TransformerDecoderSuper)):
            state = kwargs.get("incremental_state")
            encoder_out = kwargs.get("encoder_out")
            calls.append(Namespace(
                module=module, side="encoder" if isinstance(module, TransformerEncoderSuper) else "decoder",
                training=module.training, grad=torch.is_grad_enabled(),
                inference=torch.is_inference_mode_enabled(), threads=torch.get_num_threads(),
                tokens=inputs[0].tolist(), state=state,
                beam_batch=None if encoder_out is None else encoder_out["encoder_out"][0].size(1),
                output_dim=output[0].size(-1) if isinstance(output, tuple) else None))

    handle = torch.nn.modules.module.register_module_forward_hook(hook, with_kwargs=True)
    yield calls
    handle.remove()


def test_runs_the_original_procedure(recorded_calls, space):
    latiter, beam, length = 3, 2, 4
    model, config = build_tiny(vocab_size=20), space.sample(1)
    result = measure_latency(model, config, MeasureSettings(latiter=latiter, beam=beam, length=length, threads=1))
    assert len(result.encoder_samples) == len(result.decoder_samples) == latiter
    assert result.latency_ms == result.encoder_ms + result.decoder_ms

    encoder = [c for c in recorded_calls if c.side == "encoder"]
    assert len(encoder) == WARMUP + latiter
    assert all(c.tokens == [[2, 7, 7, 7]] for c in encoder)

    decoder = [c for c in recorded_calls if c.side == "decoder"]
    assert len(decoder) == WARMUP + latiter * length
    full, steps = decoder[:WARMUP], decoder[WARMUP:]
    assert all(c.state is None and c.tokens == [[7, 7, 7, 2]] * beam for c in full)
    # each timed iteration: a fresh incremental state, then call k feeds the first k + 1 tokens
    assert [len(c.tokens[0]) for c in steps] == list(range(1, length + 1)) * latiter
    assert all(c.tokens[0] == [7, 7, 7, 2][:len(c.tokens[0])] and len(c.tokens) == beam for c in steps)
    states = [[c.state for c in steps[i:i + length]] for i in range(0, len(steps), length)]
    assert all(s is not None and s is iteration[0] for iteration in states for s in iteration)
    assert len({id(iteration[0]) for iteration in states}) == latiter
    assert all(c.beam_batch == beam and c.output_dim == 20 for c in decoder)  # expanded encoder out; logits
    assert all(c.threads == 1 for c in recorded_calls)


def test_default_mode_times_the_compact_model_for_inference(recorded_calls, space):
    model, config = build_tiny().train(), space.sample(2)
    measure_latency(model, config, MeasureSettings(latiter=1, length=3))
    assert recorded_calls and all(not c.training and not c.grad and c.inference for c in recorded_calls)
    encoders = {c.module for c in recorded_calls if c.side == "encoder"}
    assert len(encoders) == 1 and model.encoder not in encoders  # a compact copy, not the SuperTransformer
    assert len(encoders.pop().layers) == config["encoder"]["encoder_layer_num"]
    assert model.training  # the SuperTransformer is left as it was


def test_original_mode_times_the_supertransformer_in_train_mode_with_autograd(recorded_calls, space):
    model, config = build_tiny().eval(), space.sample(2)
    measure_latency(model, config, MeasureSettings(latiter=1, length=3, original_mode=True))
    assert recorded_calls and all(c.training and c.grad and not c.inference for c in recorded_calls)
    assert {c.module for c in recorded_calls} == {model.encoder, model.decoder}
    assert model.sample_config == space.validate(config)


def test_thread_count_is_restored():
    before = torch.get_num_threads()
    measure_latency(build_tiny(), build_tiny().sample_config, MeasureSettings(latiter=1, length=2, threads=1))
    assert torch.get_num_threads() == before


@no_cuda
def test_cuda_unavailable_is_a_clear_error():
    with pytest.raises(LatencyError, match="CUDA"):
        measure_latency(build_tiny(), build_tiny().sample_config, MeasureSettings(device="cuda", latiter=1))


def test_vocab_size_flag_data_folder_and_default(tmp_path):
    (tmp_path / "dict.en.txt").write_text("".join(f"w{i} 1\n" for i in range(10)))
    (tmp_path / "dict.de.txt").write_text("".join(f"w{i} 1\n" for i in range(20)))
    assert vocab_size_from_args(Namespace(data=str(tmp_path), target_lang="en")) == 14  # 4 special symbols
    assert vocab_size_from_args(Namespace(data=str(tmp_path), target_lang=None)) == 24  # first: dict.de.txt
    assert vocab_size_from_args(Namespace(data=str(tmp_path), lat_vocab_size=99, target_lang="en")) == 99
    assert vocab_size_from_args(Namespace(data=str(tmp_path / "absent"))) == DEFAULT_VOCAB_SIZE


def test_exactly_one_device_flag():
    base = dict(latiter=1, beam=5, lat_threads=None, lat_original_mode=False, arch="transformersuper_wmt_en_de",
                dummy_sentence_length=None)
    for cpu, gpu in ((True, True), (False, False)):
        with pytest.raises(LatencyError, match="--latcpu"):
            settings_from_args(Namespace(latcpu=cpu, latgpu=gpu, **base))
    assert settings_from_args(Namespace(latcpu=True, latgpu=False, **base)).length == 30


# --- latency_dataset.py -------------------------------------------------------------------------------------

SPACE_KEYS = [name for name in vars(tiny_args()) if name.endswith("_choice")] + [
    "encoder_embed_dim", "decoder_embed_dim", "encoder_ffn_embed_dim", "decoder_ffn_embed_dim", "encoder_layers",
    "decoder_layers", "encoder_attention_heads", "decoder_attention_heads", "qkv_dim"]


@pytest.fixture
def tiny_yml(tmp_path):
    """A latency-dataset YAML in the original's layout for the tiny search space of conftest."""
    args = tiny_args()
    lines = ["latcpu: True", "latiter: 1", "latsilent: True", f"arch: {args.arch}", "data: data/absent"]
    lines += [f"{key.replace('_', '-')}: {getattr(args, key)}" for key in SPACE_KEYS]
    path = tmp_path / "tiny.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


def dataset_argv(yml, csv, size, *extra, probe=False):
    """latency_dataset.py's arguments; without the calibration probe unless ``probe`` (its re-measurements
    of a busy machine would make test times depend on the load)."""
    argv = [f"--configs={yml}", f"--lat-dataset-path={csv}", f"--lat-dataset-size={size}",
            "--lat-vocab-size=16", "--dummy-sentence-length=3", "--lat-threads=1", *extra]
    return argv + (["--lat-probe-retries=0"] if probe else ["--no-lat-probe"])


def run_dataset(yml, csv, size, *extra, probe=False):
    """latency_dataset.py in process: its exit code."""
    return run_cli(latency_dataset.main, dataset_argv(yml, csv, size, *extra, probe=probe))


def run_dataset_proc(capsys, yml, csv, size, *extra):
    """latency_dataset.py in process (no probe): a CompletedProcess with its exit code, stdout and stderr."""
    return run_in_process(capsys, latency_dataset.main, dataset_argv(yml, csv, size, *extra))


def csv_lines(path):
    return path.read_text().splitlines()


def test_all_original_latency_dataset_configs_parse():
    from hat.config_args import parse_config_args
    paths = sorted((ROOT / "configs").glob("*/latency_dataset/*.yml"))
    original = [p for p in paths if not p.parts[-3].startswith("multi30k")]
    assert len(original) == 8 and len(paths) == 9  # the 8 original ones and Multi30k's for this CPU
    for path in paths:
        args = parse_config_args(collection.get_latency_dataset_parser(), [f"--configs={path}"], collection.CONFIG_FLAGS)
        assert settings_from_args(args).device == ("cuda" if "gpu" in path.name else "cpu")
        assert args.latsilent and args.lat_dataset_size == (2000 if path in original else 400)
        assert SearchSpace.from_args(args).decoder_layer_num_choice == (6, 5, 4, 3, 2, 1)


def original_feature_cells(config) -> list[str]:
    """The 10 feature cells of a config as the original's latency_dataset.py writes them, computed here by hand:
    embed dims and layer counts as ints; the per-layer fields averaged (numpy) over the active layers and written
    as floats (``str``); arbitrary attention -1 / 1 / 2 counted as 1 / 2 / 3 attended encoder layers."""
    enc, dec = config["encoder"], config["decoder"]
    n, m = enc["encoder_layer_num"], dec["decoder_layer_num"]
    attended = [{-1: 1, 1: 2, 2: 3}[a] for a in dec["decoder_arbitrary_ende_attn"][:m]]
    averages = [enc["encoder_ffn_embed_dim"][:n], enc["encoder_self_attention_heads"][:n],
                dec["decoder_ffn_embed_dim"][:m], dec["decoder_self_attention_heads"][:m],
                dec["decoder_ende_attention_heads"][:m], attended]
    mean = [str(float(np.mean(values))) for values in averages]
    return [str(enc["encoder_embed_dim"]), str(n), *mean[:2], str(dec["decoder_embed_dim"]), str(m), *mean[2:]]


def test_dataset_rows_are_in_the_original_format(tiny_yml, tmp_path):
    csv = tmp_path / "lat.csv"
    assert run_dataset(tiny_yml, csv, 3) == 0
    lines = csv_lines(csv)
    assert lines[0] == CSV_HEADER and len(lines) == 4
    released = SHARED / "data" / "hat_latency" / "wmt14ende_cpu_xeon_all.csv"
    if released.is_file():  # the header of the original's released datasets
        assert lines[0] == released.read_text().splitlines()[0]
    space = SearchSpace.from_args(tiny_args())
    for row, line in enumerate(lines[1:]):
        cells = line.split(",")
        assert cells[:10] == original_feature_cells(space.sample(sample_seed(1, row)))
        assert len(cells) == 14 and all(float(v) >= 0 and ("." in v or "e" in v) for v in cells[10:])  # floats
    settings = json.loads(settings_path(csv).read_text())
    assert settings["threads"] == 1 and settings["latiter"] == 1 and settings["vocab_size"] == 16
    assert settings["dummy_sentence_length"] == 3 and settings["original_mode"] is False


@pytest.fixture
def measured_configs(monkeypatch):
    """Every SubTransformer config that latency_dataset.py measures during the test, in order (a wrapper of the
    measuring function: without the calibration probe, one call per row)."""
    configs = []
    real = collection.measure_latency

    def counting(model, config, *args, **kwargs):
        configs.append(config)
        return real(model, config, *args, **kwargs)

    monkeypatch.setattr(collection, "measure_latency", counting)
    return configs


def test_killed_and_resumed_run_equals_an_uninterrupted_one(tiny_yml, tmp_path, measured_configs):
    space = SearchSpace.from_args(tiny_args())
    rows = [space.sample(sample_seed(1, row)) for row in range(5)]  # the dataset's configs, in order

    def measured_rows():
        return [rows.index(c) if c in rows else c for c in measured_configs]

    resumed, straight = tmp_path / "resumed.csv", tmp_path / "straight.csv"
    assert run_dataset(tiny_yml, resumed, 3) == 0
    assert measured_rows() == [0, 1, 2]
    text = resumed.read_text()
    cut = text[: len(text) - len(csv_lines(resumed)[-1]) // 2 - 1]  # killed inside row 3
    kept = cut[: cut.rfind("\n") + 1]  # the header and rows 1-2, whole
    assert len(kept.splitlines()) == 3 and len(cut) > len(kept)
    resumed.write_text(cut)
    measured_configs.clear()
    assert run_dataset(tiny_yml, resumed, 5) == 0
    assert measured_rows() == [2, 3, 4]  # only the missing rows were measured (row 3 again: it was cut)
    after = resumed.read_text()
    assert after.startswith(kept) and after.endswith("\n")  # the rows measured before the kill kept byte for byte
    assert run_dataset(tiny_yml, straight, 5) == 0
    features = [[line.split(",")[:10] for line in csv_lines(path)] for path in (resumed, straight)]
    assert len(features[0]) == 6 and features[0] == features[1]
    measured_configs.clear()
    assert run_dataset(tiny_yml, resumed, 5) == 0  # complete: nothing to do
    assert measured_configs == [] and resumed.read_text() == after


def test_resume_with_other_settings_is_refused(tiny_yml, tmp_path, capsys):
    csv = tmp_path / "lat.csv"
    assert run_dataset(tiny_yml, csv, 1) == 0
    capsys.readouterr()
    assert_user_error(run_dataset_proc(capsys, tiny_yml, csv, 2, "--latiter=2"), "latiter: 1 -> 2", "refusing", str(csv))
    assert len(csv_lines(csv)) == 2
    settings_path(csv).unlink()
    assert_user_error(run_dataset_proc(capsys, tiny_yml, csv, 2), "no settings file", str(settings_path(csv)))
    assert len(csv_lines(csv)) == 2


# --- train.py --latcpu / --latgpu ---------------------------------------------------------------------------

IWSLT = "configs/iwslt14.de-en/subtransformer"
RELEASED = [f"--configs={IWSLT}/HAT_iwslt14deen_titanxp@45.6ms_bleu@33.4.yml", f"--sub-configs={IWSLT}/common.yml"]


def test_train_latcpu_json_end_to_end():
    proc = subprocess.run([sys.executable, "train.py", *RELEASED, "--latcpu", "--latiter=2", "--lat-threads=1",
                           "--lat-vocab-size=512", "--lat-rounds=4", "--lat-probe-retries=0", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["latency_ms"] == pytest.approx(result["encoder_ms"] + result["decoder_ms"])
    # 4 interleaved rounds under the probe; reported by the (lower) median round
    assert result["rounds"] == 4 and len(result["samples_ms"]) == 4 and result["probe"]["measurements"] == 4
    kept = sorted(v for v, f in zip(result["samples_ms"], result["round_flagged"]) if not f) or sorted(result["samples_ms"])
    assert result["latency_ms"] == pytest.approx(kept[(len(kept) - 1) // 2])
    assert {k: result[k] for k in ("device", "threads", "latiter", "beam", "dummy_sentence_length", "vocab_size",
                                   "original_mode")} == {
        "device": "cpu", "threads": 1, "latiter": 2, "beam": 5, "dummy_sentence_length": 23, "vocab_size": 512,
        "original_mode": False}
    assert result["encoder_std_ms"] >= 0 and result["decoder_std_ms"] >= 0
    assert result["config"]["decoder"]["decoder_layer_num"] == 1


@no_cuda
def test_train_latgpu_without_cuda_exits_2(capsys):
    from hat.cli.train import main
    proc = run_in_process(capsys, main, [*RELEASED, "--latgpu", "--latiter=1"])
    assert assert_user_error(proc, "CUDA", "--latcpu").startswith("error: ")


def test_validate_measures_fresh_configs_and_compares_with_the_predictor(tiny_yml, tmp_path, capsys, space):
    from hat.latency.collection import VALIDATION_ROW0
    from hat.latency.dataset import read_latency_csv
    from hat.latency.fitting import fit_ridge
    from hat.latency.predictor import load_predictor

    csv = tmp_path / "lat.csv"
    assert run_dataset(tiny_yml, csv, 12) == 0
    data = read_latency_csv(csv)
    fit_ridge(data.features, data.latency, penalty=1.0).save(tmp_path / "ridge.pt")
    capsys.readouterr()
    assert run_dataset(tiny_yml, tmp_path / "unused.csv", 1, "--validate=3", f"--predictor={tmp_path / 'ridge.pt'}",
                       "--json") == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["configs"] == 3 and len(result["measured_ms"]) == 3
    fresh = [space.sample(sample_seed(1, VALIDATION_ROW0 + i)) for i in range(3)]
    expected = load_predictor(tmp_path / "ridge.pt").predict(fresh)
    np.testing.assert_allclose(result["predicted_ms"], expected, rtol=1e-9)
    errors = np.asarray(result["predicted_ms"]) - np.asarray(result["measured_ms"])
    assert result["rmse_ms"] == pytest.approx(float(np.sqrt(np.mean(errors ** 2))))
    assert not (tmp_path / "unused.csv").exists()  # validation writes no dataset


def test_validate_needs_a_predictor(tiny_yml, tmp_path, capsys):
    assert_user_error(run_dataset_proc(capsys, tiny_yml, tmp_path / "x.csv", 1, "--validate=2"), "--predictor")
    assert not (tmp_path / "x.csv").exists()


# --- trustworthy and exclusive datasets, recorded settings, vocabulary -------------------------------------

def test_dataset_rows_have_a_probe_record_and_a_report(tiny_yml, tmp_path, capsys):
    csv = tmp_path / "lat.csv"
    assert run_dataset(tiny_yml, csv, 3, probe=True) == 0
    records = [json.loads(line) for line in collection.probe_path(csv).read_text().splitlines()]
    assert [r["row"] for r in records] == [0, 1, 2]
    assert all(r["probe_ratio"] > 0 and r["repeats"] >= 0 and isinstance(r["flagged"], bool) for r in records)
    assert "| calibration probe: 3 measurements" in capsys.readouterr().err
    assert csv_lines(csv)[0] == CSV_HEADER and len(csv_lines(csv)) == 4  # the CSV keeps the original format


def test_a_second_run_on_the_same_dataset_is_refused_while_the_first_holds_it(tiny_yml, tmp_path, capsys):
    from hat.locks import exclusive_output

    csv = tmp_path / "lat.csv"
    with exclusive_output(csv, "latency dataset"):  # what a running latency_dataset.py holds
        proc = run_dataset_proc(capsys, tiny_yml, csv, 2)
    assert_user_error(proc, f"the latency dataset {csv} is in use by another run (pid {os.getpid()})")
    assert not csv.exists()  # nothing written
    assert run_dataset(tiny_yml, csv, 2) == 0 and len(csv_lines(csv)) == 3  # released: the rerun works


def test_two_concurrent_dataset_processes_write_each_row_once(tiny_yml, tmp_path):
    csv = tmp_path / "lat.csv"
    cmd = [sys.executable, "latency_dataset.py", f"--configs={tiny_yml}", f"--lat-dataset-path={csv}",
           "--lat-dataset-size=30", "--lat-vocab-size=16", "--dummy-sentence-length=3", "--lat-threads=1", "--no-lat-probe"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    for proc, (out, err) in zip(procs, results):  # the loser is refused in one line (or found the CSV complete)
        if proc.returncode != 0:
            assert_user_error(subprocess.CompletedProcess(cmd, proc.returncode, out, err), "is in use by another run")
    space = SearchSpace.from_args(tiny_args())
    rows = csv_lines(csv)[1:]
    assert len(rows) == 30  # each row once, in the dataset's order
    for row, line in enumerate(rows):
        assert line.split(",")[:10] == original_feature_cells(space.sample(sample_seed(1, row)))


def test_predictor_records_the_dataset_settings_and_refuses_repeated_rows(tiny_yml, tmp_path, capsys):
    from hat.cli import latency_predictor
    from hat.latency.predictor import load_predictor

    csv = tmp_path / "lat.csv"
    assert run_dataset(tiny_yml, csv, 12) == 0
    assert run_cli(latency_predictor.main, ["--lat-dataset-path", str(csv), "--ckpt-path", str(tmp_path / "p.pt")]) == 0
    recorded = load_predictor(tmp_path / "p.pt").measured_with
    assert recorded["vocab_size"] == 16 and recorded["threads"] == 1 and recorded["latiter"] == 1
    assert "search_space" not in recorded

    lines = csv_lines(csv)
    csv.write_text("\n".join(lines[:3] + [lines[1], lines[2]] + lines[3:]) + "\n")  # rows 0 and 1 written twice
    capsys.readouterr()
    proc = run_in_process(capsys, latency_predictor.main, ["--lat-dataset-path", str(csv), "--ckpt-path",
                                                           str(tmp_path / "q.pt")])
    assert_user_error(proc, "2 rows repeating an earlier row's config (lines 4 (= 2), 5 (= 3);")
    assert proc.stderr.count("\n") == 1
    assert not (tmp_path / "q.pt").exists()
    assert run_cli(latency_predictor.main, ["--lat-dataset-path", str(csv), "--ckpt-path", str(tmp_path / "q.pt"),
                                            "--drop-duplicates", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["train_rows"] + 2 < 14


def test_vocabulary_is_said_when_not_from_the_data_and_taken_from_recorded_settings(tmp_path):
    from hat.latency.measure import resolve_vocab_size, vocab_note

    absent = Namespace(data=str(tmp_path / "absent"), target_lang=None)
    assert resolve_vocab_size(absent, recorded=7976) == (7976, "the recorded settings (no dictionary in the data folder)")
    assert "7976-word output vocabulary" in vocab_note(absent, 7976)
    assert f"{DEFAULT_VOCAB_SIZE}-word" in vocab_note(absent) and "--lat-vocab-size" in vocab_note(absent)
    (tmp_path / "dict.de.txt").write_text("".join(f"w{i} 1\n" for i in range(20)))
    assert vocab_note(Namespace(data=str(tmp_path), target_lang="de"), 7976) is None  # the data wins, silently


def test_validate_without_data_uses_the_predictors_vocabulary(tiny_yml, tmp_path, capsys):
    from hat.cli import latency_predictor

    csv = tmp_path / "lat.csv"
    assert run_dataset(tiny_yml, csv, 12) == 0
    assert run_cli(latency_predictor.main, ["--lat-dataset-path", str(csv), "--ckpt-path", str(tmp_path / "p.pt")]) == 0
    capsys.readouterr()
    argv = [f"--configs={tiny_yml}", "--dummy-sentence-length=3", "--lat-threads=1", "--validate=1",
            f"--predictor={tmp_path / 'p.pt'}", "--no-lat-probe"]
    assert run_cli(latency_dataset.main, argv) == 0
    out, err = capsys.readouterr()
    assert "16-word output vocabulary (the recorded settings" in out + err
