"""Latency predictors: released files, training on synthetic latency, CLI, splits and errors (CPU, fast)."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import ROOT, SHARED, assert_user_error, requires_shared, run_in_process, task_of
from hat.cli import run_cli
from hat.cli.latency_predictor import main as cli_main
from hat.errors import PredictorError
from hat.latency.dataset import CSV_HEADER, format_row
from hat.latency.fitting import (MLPRecipe, default_lat_norm, evaluate, parse_predictor_args, round_one_digit,
                                 split_indices, train_predictor)
from hat.latency.predictor import ORIGINAL_FEATURE_NORM, RELEASED_LAT_NORMS, HatMLP, HatMLPPredictor, load_predictor
from hat.search_space import SearchSpace, config_features, read_subtransformer_yaml
from hat.zoo import SUBTRANSFORMERS

PREDICTORS = SHARED / "data" / "hat_latency" / "predictors"
HARDWARE = {"raspberrypi": "cpu_raspberrypi", "xeon": "cpu_xeon", "titanxp": "gpu_titanxp"}
ORIGINAL_KEYS = ["first_layer.weight", "first_layer.bias"] + [
    f"layers.{i}.{p}" for i in range(3) for p in ("weight", "bias")] + ["predict.weight", "predict.bias"]


def released_predictor_name(model_name: str) -> str:
    """``wmt14ende_cpu_xeon`` for ``HAT_wmt14ende_xeon@137.9ms_bleu@25.8``."""
    _, task, rest = model_name.split("_", 2)
    return f"{task}_{HARDWARE[rest.split('@')[0]]}"


# The released SubTransformers whose predictor is among the shared files (wmt14ende x 3, iwslt14deen titanxp).
WITH_PREDICTOR = [name for name in SUBTRANSFORMERS
                  if released_predictor_name(name) in {"wmt14ende_cpu_raspberrypi", "wmt14ende_cpu_xeon",
                                                       "wmt14ende_gpu_titanxp", "iwslt14deen_gpu_titanxp"}]


def load_released(predictor: str) -> HatMLPPredictor:
    return load_predictor(PREDICTORS / f"{predictor}.pt", ORIGINAL_FEATURE_NORM, RELEASED_LAT_NORMS[f"{predictor}_all.csv"])


def subtransformer_config(name: str) -> dict:
    return read_subtransformer_yaml(ROOT / "configs" / task_of(name) / "subtransformer" / f"{name}.yml")


@requires_shared
@pytest.mark.parametrize("predictor", sorted({released_predictor_name(n) for n in WITH_PREDICTOR}))
def test_released_predictors_give_the_published_predictions(predictor):
    names = [n for n in WITH_PREDICTOR if released_predictor_name(n) == predictor]
    predicted = load_released(predictor).predict([subtransformer_config(n) for n in names])  # one batched call
    assert [round(float(p), 1) for p in predicted] == [SUBTRANSFORMERS[n].predicted_ms for n in names]


def test_the_shared_predictors_cover_22_released_subtransformers():
    assert len(WITH_PREDICTOR) == 22


@requires_shared
def test_released_predictor_needs_its_norms():
    with pytest.raises(PredictorError, match="feature-norm and lat-norm"):
        load_predictor(PREDICTORS / "wmt14ende_cpu_xeon.pt")


# --- the CSV format ----------------------------------------------------------------------------------

RELEASED_CSVS = sorted((SHARED / "data" / "hat_latency").glob("*_all.csv"))


def test_rows_are_written_as_the_released_csvs_lines():
    """A row of each released ``*_all.csv`` (the original's latency_dataset.py output), read as numbers and written
    again, is the same line: embed dims and layer counts as ints, per-layer averages and latencies as floats,
    the four latency columns in the released order. And the header is the released one."""
    if not RELEASED_CSVS:
        pytest.skip("../shared/data/hat_latency (the released latency datasets) is absent")
    for path in RELEASED_CSVS:
        header, first, *rest = path.read_text().splitlines()
        assert header == CSV_HEADER, path.name
        for line in (first, rest[-1]):
            values = [float(v) for v in line.split(",")]
            assert format_row(values[:10], *values[10:]) == line, path.name


def test_a_row_is_the_hand_written_line_of_its_config():
    """The features of a config and its latencies as the original writes them (``str`` of each number, computed
    here by hand): encoder 640 x 6 layers, decoder 512 x 4 layers (of 6 in the lists); arbitrary attention
    -1 / 1 / 2 counted as 1 / 2 / 3 attended encoder layers."""
    config = {"encoder": {"encoder_embed_dim": 640, "encoder_layer_num": 6,
                          "encoder_ffn_embed_dim": [3072, 2048, 1024, 3072, 2048, 1024],
                          "encoder_self_attention_heads": [8, 4, 4, 8, 8, 4]},
              "decoder": {"decoder_embed_dim": 512, "decoder_layer_num": 4,
                          "decoder_ffn_embed_dim": [1024, 2048, 3072, 2048, 3072, 3072],
                          "decoder_self_attention_heads": [4, 8, 8, 4, 8, 8],
                          "decoder_ende_attention_heads": [8, 8, 4, 8, 4, 4],
                          "decoder_arbitrary_ende_attn": [-1, 1, 2, -1, 2, 2]}}
    # encoder ffn 12288 / 6 = 2048, heads 36 / 6 = 6; decoder ffn 8192 / 4 = 2048, heads 24 / 4 = 6,
    # ende heads 28 / 4 = 7, attended layers (1 + 2 + 3 + 1) / 4 = 1.75
    assert format_row(config_features(config), 5.25, 120.5, 0.125, 1.5) == (
        "640,6,2048.0,6.0,512,4,2048.0,6.0,7.0,1.75,5.25,120.5,0.125,1.5")
    config["encoder"]["encoder_ffn_embed_dim"][0] = 1024  # 10240 / 6, written with Python's 17 digits
    assert format_row(config_features(config), 5, 120, 0, 0).split(",")[2] == "1706.6666666666667"
    assert format_row(config_features(config), 5, 120, 0, 0).split(",")[10:] == ["5.0", "120.0", "0.0", "0.0"]


# --- synthetic data -------------------------------------------------------------------------------

SPACE = SearchSpace(
    encoder_embed_choice=[640, 512], decoder_embed_choice=[640, 512], encoder_layer_num_choice=[6],
    decoder_layer_num_choice=[6, 5, 4, 3, 2, 1], encoder_ffn_embed_dim_choice=[3072, 2048, 1024],
    decoder_ffn_embed_dim_choice=[3072, 2048, 1024], encoder_self_attention_heads_choice=[8, 4],
    decoder_self_attention_heads_choice=[8, 4], decoder_ende_attention_heads_choice=[8, 4],
    decoder_arbitrary_ende_attn_choice=[-1, 1, 2], encoder_layers=6, decoder_layers=6, qkv_dim=512,
    encoder_embed_dim=640, decoder_embed_dim=640, encoder_ffn_embed_dim=3072, decoder_ffn_embed_dim=3072)


def synthetic_latency(config: dict) -> float:
    """A known latency (ms): a sum of per-layer costs computed from the per-layer lists, not the features."""
    enc, dec = config["encoder"], config["decoder"]
    e, d = enc["encoder_embed_dim"], dec["decoder_embed_dim"]
    encoder = sum(0.2 + 4e-6 * e * e + 3e-6 * e * f + 0.05 * h for f, h in
                  zip(enc["encoder_ffn_embed_dim"][:enc["encoder_layer_num"]],
                      enc["encoder_self_attention_heads"][:enc["encoder_layer_num"]]))
    layers = dec["decoder_layer_num"]
    decoder = sum(3 + 6e-5 * d * d + 2e-5 * d * f + 0.3 * hs + 0.2 * hx + 2 * (1 if a == -1 else a + 1)
                  for f, hs, hx, a in zip(dec["decoder_ffn_embed_dim"][:layers], dec["decoder_self_attention_heads"][:layers],
                                          dec["decoder_ende_attention_heads"][:layers],
                                          dec["decoder_arbitrary_ende_attn"][:layers]))
    return 5 + encoder + decoder + 0.01 * d


def synthetic_data(n: int, seed: int = 0, noise: float = 0.0):
    """``(configs, features [n, 10], latency [n])`` of ``n`` sampled configs with the synthetic latency (+ noise %)."""
    configs = [SPACE.sample(seed * 100_000 + i) for i in range(n)]
    latency = np.array([synthetic_latency(c) for c in configs])
    latency *= 1 + noise * np.random.default_rng(seed).standard_normal(n)
    return configs, np.array([config_features(c) for c in configs]), latency


def write_csv(path: Path, features: np.ndarray, latency: np.ndarray) -> Path:
    """A latency CSV in the original format (encoder share 10%)."""
    lines = [CSV_HEADER] + [format_row(f, 0.1 * y, 0.9 * y, 0.01, 0.1) for f, y in zip(features, latency)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def synthetic_csv(tmp_path_factory) -> Path:
    _, features, latency = synthetic_data(300, noise=0.01)
    return write_csv(tmp_path_factory.mktemp("latency") / "synthetic_all.csv", features, latency)


def test_default_model_recovers_a_synthetic_latency_function():
    _, features, latency = synthetic_data(600)
    split = split_indices(len(latency), seed=1, train_samples=200)
    predictor = train_predictor("ridge", features, latency, split, lat_norm=200)
    test_configs, test_features, test_latency = synthetic_data(300, seed=7)
    metrics = evaluate(predictor, test_features, test_latency)
    predicted = predictor.predict_features(test_features)
    assert metrics["rmse"] == pytest.approx(np.sqrt(np.mean((predicted - test_latency) ** 2)), rel=1e-9)
    assert metrics["mape"] == pytest.approx(100 * np.mean(np.abs(predicted / test_latency - 1)), rel=1e-9)
    assert metrics["mape"] < 0.5 and metrics["rmse"] < 0.005 * test_latency.mean()
    np.testing.assert_allclose(predictor.predict(test_configs), predictor.predict_features(test_features))


def test_hat_mlp_training_lowers_the_validation_error():
    _, features, latency = synthetic_data(200)
    split = split_indices(len(latency), seed=1)
    lines = []
    train_predictor("hat-mlp", features, latency, split, lat_norm=100, recipe=MLPRecipe(hidden_dim=32, train_steps=201),
                    seed=1, log=lines.append)
    errors = [float(line.split("valid MSE ")[1].split()[0]) for line in lines]
    assert len(errors) == 3 and errors[-1] < errors[0]


@pytest.mark.parametrize("model", ["ridge", "hat-mlp"])
def test_save_and_load_round_trip(tmp_path, model):
    _, features, latency = synthetic_data(100)
    predictor = train_predictor(model, features, latency, split_indices(100, 2), lat_norm=100,
                                recipe=MLPRecipe(hidden_dim=16, train_steps=5), seed=2)
    predictor.save(tmp_path / "p.pt")
    state = torch.load(tmp_path / "p.pt", weights_only=True)
    if model == "hat-mlp":  # the original's plain state dict
        assert list(state) == ORIGINAL_KEYS and state["first_layer.weight"].shape == (16, 10)
        loaded = load_predictor(tmp_path / "p.pt", ORIGINAL_FEATURE_NORM, 100)
    else:
        assert state["kind"] == "ridge"
        loaded = load_predictor(tmp_path / "p.pt")
    np.testing.assert_array_equal(loaded.predict_features(features), predictor.predict_features(features))


def test_hat_mlp_norms_are_recorded_and_checked(tmp_path):
    predictor = HatMLPPredictor(HatMLP(hidden_dim=8), ORIGINAL_FEATURE_NORM, 300.0)
    predictor.save(tmp_path / "p.pt")
    features = synthetic_data(20)[1]
    loaded = load_predictor(tmp_path / "p.pt")  # the norms come from the sidecar
    np.testing.assert_array_equal(loaded.predict_features(features), predictor.predict_features(features))
    assert load_predictor(tmp_path / "p.pt", ORIGINAL_FEATURE_NORM, 300).lat_norm == 300
    with pytest.raises(PredictorError, match="trained with lat-norm 300, not 200"):
        load_predictor(tmp_path / "p.pt", ORIGINAL_FEATURE_NORM, 200)
    with pytest.raises(PredictorError, match="trained with feature-norm"):
        load_predictor(tmp_path / "p.pt", [1.0] * 10, 300)
    (tmp_path / "p.pt.json").unlink()  # an original file has no sidecar: the norms must be given
    with pytest.raises(PredictorError, match="give its feature-norm and lat-norm"):
        load_predictor(tmp_path / "p.pt")


# --- splits and lat-norm ----------------------------------------------------------------------------

def test_split_sizes_are_floored_and_disjoint():
    split = split_indices(25, seed=3)
    assert (len(split.train), len(split.valid), len(split.test)) == (20, 2, 3)
    assert sorted(np.concatenate(split).tolist()) == list(range(25))


def test_same_seed_same_split_other_seed_other_split():
    a, b, c = split_indices(100, 1), split_indices(100, 1), split_indices(100, 2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a.train, c.train)


def test_train_samples_keeps_the_first_training_rows_of_the_same_split():
    full, few = split_indices(100, 4), split_indices(100, 4, train_samples=30)
    assert few.train.tolist() == full.train[:30].tolist()
    assert np.array_equal(few.valid, full.valid) and np.array_equal(few.test, full.test)
    with pytest.raises(PredictorError, match="between 1 and the 80 training rows"):
        split_indices(100, 4, train_samples=81)


def test_lat_norm_is_the_original_for_released_files_else_one_significant_digit():
    assert [round_one_digit(v) for v in (172.4, 5812.0, 125.0, 0.0347)] == [200, 6000, 100, 0.03]
    assert default_lat_norm("x/wmt14ende_cpu_raspberrypi_all.csv", np.array([1.0]))[0] == 5000
    assert default_lat_norm("x/iwslt14deen_gpu_titanxp_all.csv", np.array([125.0]))[0] == 200
    assert default_lat_norm("x/mine.csv", np.array([120.0, 130.0]))[0] == 100


# --- bad inputs ---------------------------------------------------------------------------------------

def test_bad_features_are_rejected():
    predictor = HatMLPPredictor(HatMLP(), ORIGINAL_FEATURE_NORM, 200)
    with pytest.raises(PredictorError, match=r"shape \[N, 10\], got \[3, 9\]"):
        predictor.predict_features(np.ones((3, 9)))
    with pytest.raises(PredictorError, match="NaN"):
        predictor.predict_features(np.full((1, 10), np.nan))
    with pytest.raises(PredictorError, match="feature-norm has 9 values"):
        HatMLPPredictor(HatMLP(), ORIGINAL_FEATURE_NORM[:9], 200)


def test_a_predictor_with_another_feature_count_is_rejected(tmp_path):
    torch.save(HatMLP(feature_dim=9).state_dict(), tmp_path / "nine.pt")
    with pytest.raises(PredictorError, match="takes 9 features, expected 10"):
        load_predictor(tmp_path / "nine.pt", ORIGINAL_FEATURE_NORM, 200)
    torch.save({"weights": torch.ones(3)}, tmp_path / "other.pt")
    with pytest.raises(PredictorError, match="is not a latency predictor"):
        load_predictor(tmp_path / "other.pt")


def run_main(capsys, *argv: str):
    """``(exit status, stdout, stderr)`` of the CLI run in-process."""
    status = run_cli(cli_main, list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("text, message", [
    ("", "is empty"),
    ("encoder_embed_dim,latency_mean_encoder\n512,3.0\n", "missing column(s) encoder_layer_num"),
    (CSV_HEADER + "\n" + "512,6,1024,4,512,2,1024,4,4,nan,1,2,0,0\n", "line 2: decoder_arbitrary_ende_attn_avg is not a finite"),
    (CSV_HEADER + "\n" + "".join(f"512,6,1024,4,512,{n},1024,4,4,1,1,2,0,0\n" for n in range(1, 6)), "at least 10 rows"),
])
def test_cli_reports_bad_csvs_in_one_line(tmp_path, capsys, text, message):
    (tmp_path / "bad.csv").write_text(text)
    proc = run_in_process(capsys, cli_main, ["--lat-dataset-path", str(tmp_path / "bad.csv"), "--ckpt-path",
                                             str(tmp_path / "p.pt")])
    assert_user_error(proc, message)
    assert proc.stdout == "" and proc.stderr.count("\n") == 1  # nothing else printed
    assert not (tmp_path / "p.pt").exists()


def test_cli_rejects_an_unknown_config_key(tmp_path, capsys):
    config = tmp_path / "lat.yml"
    config.write_text("lat-norm: 200\nhidden-size: 400\n")
    proc = run_in_process(capsys, cli_main, ["--configs", str(config)])
    assert assert_user_error(proc) == f"error: unknown key 'hidden-size' in {config}" and proc.stderr.count("\n") == 1


def test_cli_script_error_has_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "latency_predictor.py"), "--lat-dataset-path",
                             str(tmp_path / "missing.csv")], capture_output=True, text=True, cwd=tmp_path)
    assert assert_user_error(result) == f"error: latency dataset not found: {tmp_path / 'missing.csv'}"


# --- CLI end to end ---------------------------------------------------------------------------------

def test_shipped_config_is_read_and_the_command_line_wins():
    config = str(ROOT / "configs" / "wmt14.en-de" / "latency_predictor" / "cpu_xeon.yml")
    args = parse_predictor_args(["--configs", config, "--lr", "0.001"])
    assert (args.lat_norm, args.feature_norm, args.hidden_dim, args.train_steps, args.bsz, args.lr) == (
        300.0, list(ORIGINAL_FEATURE_NORM), 400, 5000, 128, 0.001)
    assert args.lat_dataset_path == "./latency_dataset/wmt14ende_cpu_xeon_all.csv" and args.model == "ridge"


@pytest.mark.parametrize("model", ["ridge", "hat-mlp"])
def test_cli_json_trains_evaluates_and_saves(tmp_path, capsys, synthetic_csv, model):
    config = tmp_path / "lat.yml"
    config.write_text((ROOT / "configs" / "iwslt14.de-en" / "latency_predictor" / "gpu_titanxp.yml").read_text()
                      .replace("./latency_dataset/iwslt14deen_gpu_titanxp_all.csv", str(synthetic_csv))
                      .replace("lat-norm: 200", "dataset-path: unused")
                      .replace("./latency_dataset/predictors/iwslt14deen_gpu_titanxp.pt", str(tmp_path / "p.pt")))
    status, out, err = run_main(capsys, "--configs", str(config), "--model", model, "--train-steps", "101", "--hidden-dim", "16",
                                "--split-seed", "5", "--train-samples", "200", "--json")
    assert status == 0
    result = json.loads(out)
    assert (result["model"], result["split_seed"], result["train_rows"], result["valid_rows"], result["test_rows"]) == (
        model, 5, 200, 30, 30)
    assert result["lat_norm"] == round_one_digit(result["lat_norm"]) and "lat-norm" in err  # derived and printed
    # the reported errors, computed again with numpy from the saved predictor's predictions of the test rows and
    # their latency (encoder + decoder mean) as the CSV holds it
    test = split_indices(300, 5, 200).test
    table = np.loadtxt(synthetic_csv, delimiter=",", skiprows=1)
    truth = table[test, 10] + table[test, 11]
    predicted = load_predictor(tmp_path / "p.pt", ORIGINAL_FEATURE_NORM, result["lat_norm"]).predict_features(table[test, :10])
    assert result["test_rmse"] == pytest.approx(np.sqrt(np.mean((predicted - truth) ** 2)), rel=1e-9)
    assert result["test_mape"] == pytest.approx(100 * np.mean(np.abs(predicted - truth) / truth), rel=1e-9)
    if model == "ridge":
        assert result["test_mape"] < 3  # 1% noise


def test_a_model_checkpoint_given_as_predictor_is_one_line_without_torchs_advice(tmp_path):
    from argparse import Namespace

    torch.save({"args": Namespace(arch="x"), "model": {}}, tmp_path / "checkpoint.pt")
    with pytest.raises(PredictorError) as info:
        load_predictor(tmp_path / "checkpoint.pt")
    message = str(info.value)
    assert "is not a latency predictor" in message and "\n" not in message and "weights_only" not in message
    (tmp_path / "cut.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(PredictorError, match="is not a readable latency predictor") as info:
        load_predictor(tmp_path / "cut.pt")
    assert "\n" not in str(info.value)


def test_rows_flagged_by_the_probe_are_left_out_unless_kept(tmp_path, capsys):
    """Rows measured while the machine stayed busy (flagged in <csv>.probe.jsonl): 30 % slower here. Left out, the
    predictor fits the quiet rows; kept (--keep-flagged), it is pulled towards the busy ones."""
    from hat.latency.dataset import probe_path

    _, features, latency = synthetic_data(200, seed=3)
    flagged = set(range(0, 200, 4))
    measured = np.array([y * 1.3 if i in flagged else y for i, y in enumerate(latency)])
    csv = write_csv(tmp_path / "lat.csv", features, measured)
    probe_path(csv).write_text("".join(json.dumps({"row": i, "probe_ratio": 1.3 if i in flagged else 1.0, "repeats": 0,
                                                   "flagged": i in flagged}) + "\n" for i in range(200)))
    results = {}
    for name, extra in (("left_out", []), ("kept", ["--keep-flagged"])):
        status, out, err = run_main(capsys, "--lat-dataset-path", str(csv), "--ckpt-path", str(tmp_path / f"{name}.pt"),
                                    "--json", *extra)
        assert status == 0
        results[name] = json.loads(out)
        predicted = load_predictor(tmp_path / f"{name}.pt").predict_features(features)
        results[name]["error_on_quiet_truth"] = float(np.mean(np.abs(predicted / latency - 1)))
    assert results["left_out"]["flagged_rows_left_out"] == 50 and results["kept"]["flagged_rows_left_out"] == 0
    assert results["left_out"]["train_rows"] == int(0.8 * 150) and results["kept"]["train_rows"] == int(0.8 * 200)
    assert results["left_out"]["error_on_quiet_truth"] < 0.01 < results["kept"]["error_on_quiet_truth"]


def test_a_dataset_flagged_mostly_is_kept_whole_with_a_warning(tmp_path, capsys):
    from hat.latency.dataset import probe_path

    _, features, latency = synthetic_data(40, seed=4)
    csv = write_csv(tmp_path / "lat.csv", features, latency)
    probe_path(csv).write_text("".join(json.dumps({"row": i, "probe_ratio": 1.3, "repeats": 4, "flagged": i < 25}) + "\n"
                                       for i in range(40)))
    status, out, err = run_main(capsys, "--lat-dataset-path", str(csv), "--ckpt-path", str(tmp_path / "p.pt"), "--json")
    assert status == 0 and json.loads(out)["train_rows"] == 32 and json.loads(out)["flagged_rows_left_out"] == 0
    assert "busy for most of the dataset" in err
