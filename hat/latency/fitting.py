"""Fitting latency predictors: splits, metrics, the training loops, and the ``latency_predictor.py`` tool.

The models and their files are :mod:`hat.latency.predictor`. :func:`parse_predictor_args` and
:func:`run_predictor_training` are what ``latency_predictor.py`` runs: the original's flags and YAML
configs (``configs/<task>/latency_predictor/<hardware>.yml``), plus ``--model``, ``--split-seed`` and
``--train-samples``.
"""
from __future__ import annotations

import argparse
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Optional

import numpy as np
import torch

from ..config_args import config_items_to_argv, read_config_file
from ..errors import ConfigError, LatencyDataError, PredictorError
from ..search_space import FEATURE_NAMES
from .dataset import LatencyData, flagged_rows, probe_path, read_latency_csv, read_recorded_settings
from .predictor import (MODELS, ORIGINAL_FEATURE_NORM, RELEASED_LAT_NORMS, HatMLP, HatMLPPredictor, LatencyPredictor,
                        RidgePredictor, ridge_terms)
from .threads import cpu_threads

Log = Callable[[str], None]

RIDGE_PENALTIES = tuple(10.0 ** k for k in range(-4, 4))
MIN_ROWS = 10  # the smallest dataset whose 80/10/10 split leaves a row in every part


@dataclass(frozen=True)
class MLPRecipe:
    """The original's training settings (the defaults of its ``latency_predictor.py`` and configs)."""

    hidden_dim: int = 400
    hidden_layer_num: int = 3
    train_steps: int = 5000
    bsz: int = 128
    lr: float = 1e-5


class Split(NamedTuple):
    """Row indices of the train / valid / test parts."""

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray


def split_indices(n: int, seed: int, train_samples: Optional[int] = None) -> Split:
    """The random 80/10/10 split (floor sizes, as the original) of ``n`` rows, seeded by ``seed``.

    The rows are shuffled with ``random.Random(seed)``; train = the first int(0.8n), valid = the next
    int(0.1n), test = the rest. ``train_samples`` keeps only the first rows of the training part.
    """
    if n < MIN_ROWS:
        raise PredictorError(f"a latency dataset needs at least {MIN_ROWS} rows to split 80/10/10, got {n}")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    n_train, n_valid = int(0.8 * n), int(0.1 * n)
    train = order[:n_train]
    if train_samples is not None:
        if not 1 <= train_samples <= n_train:
            raise PredictorError(f"--train-samples {train_samples} is not between 1 and the {n_train} training rows")
        train = train[:train_samples]
    return Split(np.array(train), np.array(order[n_train:n_train + n_valid]), np.array(order[n_train + n_valid:]))


def rmse(predicted: np.ndarray, target: np.ndarray) -> float:
    """Root mean squared error (ms)."""
    return float(np.sqrt(np.mean((np.asarray(predicted) - target) ** 2)))


def mape(predicted: np.ndarray, target: np.ndarray) -> float:
    """Mean absolute percentage error (%); the original's MAPD times 100."""
    return float(100.0 * np.mean(np.abs(np.asarray(predicted) - target) / target))


def round_one_digit(value: float) -> float:
    """``value`` rounded to one significant digit (e.g. 172.4 -> 200, 5812 -> 6000)."""
    if value <= 0 or not math.isfinite(value):
        raise PredictorError(f"cannot derive lat-norm from a mean training latency of {value}")
    return float(round(value, -int(math.floor(math.log10(value)))))


def default_lat_norm(dataset: str | Path, train_latency: np.ndarray) -> tuple[float, str]:
    """``(lat-norm, where it comes from)``: the original's for a released file, else from the data."""
    name = Path(dataset).name
    if name in RELEASED_LAT_NORMS:
        return RELEASED_LAT_NORMS[name], f"the original's for {name}"
    return round_one_digit(float(np.mean(train_latency))), "mean training latency, one significant digit"


def fit_ridge(features: np.ndarray, latency: np.ndarray, penalty: float) -> RidgePredictor:
    """Ridge regression of ``latency`` on the standardised terms (intercept not penalised)."""
    terms = ridge_terms(features)
    mean = terms.mean(axis=0)
    scale = terms.std(axis=0)
    scale[scale == 0] = 1.0  # a constant term: centring makes it zero, the intercept absorbs it
    z = (terms - mean) / scale
    bias = float(latency.mean())
    weights = np.linalg.solve(z.T @ z + penalty * np.eye(z.shape[1]), z.T @ (latency - bias))
    return RidgePredictor(mean, scale, weights, bias)


def train_ridge(train: tuple[np.ndarray, np.ndarray], valid: tuple[np.ndarray, np.ndarray], log: Log) -> RidgePredictor:
    """Fit on ``train`` for every penalty of :data:`RIDGE_PENALTIES`; keep the best on ``valid``."""
    best: Optional[tuple[float, RidgePredictor]] = None
    for penalty in RIDGE_PENALTIES:
        predictor = fit_ridge(*train, penalty)
        error = rmse(predictor.predict_features(valid[0]), valid[1])
        log(f"| ridge penalty {penalty:g} | valid RMSE {error:.3f} ms")
        if best is None or error < best[0]:
            best = (error, predictor)
    return best[1]


def train_hat_mlp(train: tuple[np.ndarray, np.ndarray], valid: tuple[np.ndarray, np.ndarray], *,
                  feature_norm: Sequence[float], lat_norm: float, recipe: MLPRecipe, seed: int,
                  log: Log) -> HatMLPPredictor:
    """The original training loop, seeded: ``recipe.bsz`` distinct random rows per step, MSE, Adam.

    Every 100 steps (step 0 included) logs the validation MSE (normalised) and RMSE (ms).
    """
    torch.manual_seed(seed)
    rng = random.Random(seed)
    predictor = HatMLPPredictor(HatMLP(len(FEATURE_NAMES), recipe.hidden_dim, recipe.hidden_layer_num),
                                feature_norm, lat_norm)
    net = predictor.net.train()
    x, y = predictor.normalise(train[0]), torch.tensor(train[1] / lat_norm, dtype=torch.float32)
    valid_x, valid_y = predictor.normalise(valid[0]), torch.tensor(valid[1] / lat_norm, dtype=torch.float32)
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe.lr)
    batch = min(recipe.bsz, len(y))
    with cpu_threads(1):  # small batches gain nothing from more threads, and a busy CPU loses a lot
        for step in range(recipe.train_steps):
            rows = torch.tensor(rng.sample(range(len(y)), batch))
            loss = torch.nn.functional.mse_loss(net(x[rows])[:, 0], y[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % 100 == 0:
                with torch.no_grad():
                    valid_mse = torch.nn.functional.mse_loss(net(valid_x)[:, 0], valid_y).item()
                log(f"| step {step} | valid MSE {valid_mse:.6f} | valid RMSE {math.sqrt(valid_mse) * lat_norm:.3f} ms")
    net.eval()
    return predictor


def train_predictor(model: str, features: np.ndarray, latency: np.ndarray, split: Split, *,
                    feature_norm: Sequence[float] = ORIGINAL_FEATURE_NORM, lat_norm: float,
                    recipe: MLPRecipe = MLPRecipe(), seed: int = 1, log: Log = lambda line: None) -> LatencyPredictor:
    """Train a ``model`` (one of :data:`MODELS`) on ``split.train``, validating on ``split.valid``."""
    train, valid = (features[split.train], latency[split.train]), (features[split.valid], latency[split.valid])
    if model == "ridge":
        return train_ridge(train, valid, log)
    if model == "hat-mlp":
        return train_hat_mlp(train, valid, feature_norm=feature_norm, lat_norm=lat_norm, recipe=recipe, seed=seed, log=log)
    raise PredictorError(f"unknown predictor model {model!r}; choose from {', '.join(MODELS)}")


def evaluate(predictor: LatencyPredictor, features: np.ndarray, latency: np.ndarray) -> dict[str, float]:
    """``{'rmse': ms, 'mape': %}`` of the predictor on these rows."""
    predicted = predictor.predict_features(features)
    return {"rmse": rmse(predicted, latency), "mape": mape(predicted, latency)}


DESCRIPTION = "``latency_predictor.py``: train a latency predictor on a latency CSV, report test RMSE / MAPE, save it."
"""The tool's ``--help`` description."""


def get_predictor_parser() -> argparse.ArgumentParser:
    """The original's flags (and defaults) plus this project's."""
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--configs", metavar="YML", help="original HAT latency-predictor YAML")
    parser.add_argument("--lat-dataset-path", default="./latency_dataset/lat.tmp", help="latency CSV")
    parser.add_argument("--dataset-path", help="unused (accepted for the original's configs)")
    parser.add_argument("--feature-norm", type=float, nargs="+", default=list(ORIGINAL_FEATURE_NORM),
                        help="divisors of the 10 features (hat-mlp)")
    parser.add_argument("--lat-norm", type=float, default=None,
                        help="latency divisor (hat-mlp); default: the original's for a released CSV, "
                             "else the mean training latency rounded to one significant digit")
    parser.add_argument("--feature-dim", type=int, default=len(FEATURE_NAMES), help="number of features (10)")
    parser.add_argument("--hidden-dim", type=int, default=MLPRecipe.hidden_dim, help="hat-mlp hidden size")
    parser.add_argument("--hidden-layer-num", type=int, default=MLPRecipe.hidden_layer_num, help="hat-mlp hidden layers")
    parser.add_argument("--ckpt-path", default="latency_dataset/ckpts/tmp.pt", help="where to save the predictor")
    parser.add_argument("--train-steps", type=int, default=MLPRecipe.train_steps, help="hat-mlp training steps")
    parser.add_argument("--bsz", type=int, default=MLPRecipe.bsz, help="hat-mlp batch size")
    parser.add_argument("--lr", type=float, default=MLPRecipe.lr, help="hat-mlp Adam learning rate")
    parser.add_argument("--model", choices=MODELS, default=MODELS[0],
                        help=f"predictor (default {MODELS[0]}; hat-mlp is the original recipe)")
    parser.add_argument("--split-seed", type=int, default=1, help="seed of the random 80/10/10 split")
    parser.add_argument("--train-samples", type=int, default=None, metavar="N", help="use only the first N training rows")
    parser.add_argument("--drop-duplicates", action="store_true",
                        help="train on the first of repeated rows instead of refusing a dataset that has them")
    parser.add_argument("--keep-flagged", action="store_true",
                        help="also train on the rows the calibration probe flagged (measured while the machine stayed "
                             "busy, recorded in <csv>.probe.jsonl); by default they are left out")
    parser.add_argument("--json", action="store_true", help="print the final metrics as one JSON object")
    return parser


def config_file_words(parser: argparse.ArgumentParser, path: str) -> list[str]:
    """Command-line words for the items of a YAML config; a key no flag knows is a ConfigError."""
    words: list[str] = []
    for key, value in read_config_file(path).items():
        positional, item_words = config_items_to_argv({key: value})
        if positional or parser.parse_known_args(item_words)[1]:
            raise ConfigError(f"unknown key '{key}' in {path}")
        words += item_words
    return words


def parse_predictor_args(argv: Sequence[str]) -> argparse.Namespace:
    """``latency_predictor.py``'s arguments: ``argv`` on top of the ``--configs`` file (the command line wins)."""
    parser = get_predictor_parser()
    args = parser.parse_args(argv)
    if args.configs:
        args = parser.parse_args(config_file_words(parser, args.configs) + list(argv))
    if args.feature_dim != len(FEATURE_NAMES):
        raise PredictorError(f"feature-dim {args.feature_dim} is not supported: the features are the "
                             f"{len(FEATURE_NAMES)} of {', '.join(FEATURE_NAMES)}")
    return args


def duplicate_rows(features: np.ndarray) -> list[tuple[int, int]]:
    """``(row, earlier row)`` for every row whose 10 features repeat an earlier row's (0-based)."""
    first: dict[tuple, int] = {}
    repeats = []
    for row, key in enumerate(map(tuple, features.tolist())):
        if key in first:
            repeats.append((row, first[key]))
        else:
            first[key] = row
    return repeats


def without_duplicates(data: LatencyData, path: str, drop: bool, log: Log, lines: Optional[np.ndarray] = None) -> LatencyData:
    """Refuse a dataset of this project (one with a settings sidecar: every row a distinct sampled config)
    whose rows repeat, e.g. written by two runs at once, unless ``drop`` (keep the first of each); a foreign
    CSV (the original's released ones hold a few repeats) only gets a warning. ``lines``: each row's row number in
    the file (0-based, without the header) when rows were left out before."""
    repeats = duplicate_rows(data.features)
    if not repeats:
        return data
    at = (lambda row: row + 2) if lines is None else (lambda row: int(lines[row]) + 2)
    where = ", ".join(f"{at(row)} (= {at(earlier)})" for row, earlier in repeats[:8]) + (" ..." if len(repeats) > 8 else "")
    if drop:
        keep = np.setdiff1d(np.arange(len(data.latency)), [row for row, _ in repeats])
        log(f"| dropped {len(repeats)} repeated rows of {path} (lines {where}), kept the first of each")
        return LatencyData(data.features[keep], data.latency[keep])
    if read_recorded_settings(path) is None:
        log(f"| warning: {path} repeats the features of earlier rows on lines {where}")
        return data
    raise LatencyDataError(f"{path} has {len(repeats)} rows repeating an earlier row's config (lines {where}; two "
                           "runs writing it at once?); remeasure it, or pass --drop-duplicates to keep the first of each")


def unflagged_rows(rows: int, path: str, keep: bool, log: Log) -> np.ndarray:
    """The row numbers (0-based) to train on: those the calibration probe did not flag
    (:func:`hat.latency.dataset.flagged_rows`), unless ``keep``. A flagged row was measured while the machine
    stayed busy, so its latency is the machine's state, not the SubTransformer's. When most rows are flagged (or
    too few would be left to split), all are kept, with a warning: the machine was busy throughout."""
    flagged = [row for row in flagged_rows(path) if row < rows]
    left = rows - len(flagged)
    if flagged and keep:
        log(f"| training on all rows, {len(flagged)} of them flagged by the calibration probe (--keep-flagged)")
    elif flagged and (left < MIN_ROWS or left < rows / 2):
        log(f"| warning: the calibration probe flagged {len(flagged)} of {rows} rows ({probe_path(path)}): the machine "
            "was busy for most of the dataset; training on all rows. Remeasure it on a quiet machine")
        keep = True
    elif flagged:
        log(f"| left out {len(flagged)} of {rows} rows flagged by the calibration probe (measured while the machine "
            f"stayed busy: {probe_path(path)}); --keep-flagged keeps them")
    return np.arange(rows) if keep else np.setdiff1d(np.arange(rows), flagged)


def run_predictor_training(args: argparse.Namespace, log: Log) -> dict:
    """Train and save the predictor described by ``args``; return the final metrics (what ``--json`` prints)."""
    data = read_latency_csv(args.lat_dataset_path)
    kept = unflagged_rows(len(data.latency), args.lat_dataset_path, args.keep_flagged, log)
    left_out = len(data.latency) - len(kept)
    data = without_duplicates(LatencyData(data.features[kept], data.latency[kept]), args.lat_dataset_path,
                              args.drop_duplicates, log, kept)
    split = split_indices(len(data.latency), args.split_seed, args.train_samples)
    log(f"| {args.lat_dataset_path}: {len(split.train)} train / {len(split.valid)} valid / {len(split.test)} test rows "
        f"(split seed {args.split_seed})")
    lat_norm = args.lat_norm
    if lat_norm is None:
        lat_norm, source = default_lat_norm(args.lat_dataset_path, data.latency[split.train])
        log(f"| lat-norm {lat_norm:g} ({source})")
    recipe = MLPRecipe(args.hidden_dim, args.hidden_layer_num, args.train_steps, args.bsz, args.lr)
    predictor = train_predictor(args.model, data.features, data.latency, split, feature_norm=args.feature_norm,
                                lat_norm=lat_norm, recipe=recipe, seed=args.split_seed, log=log)
    metrics = {part: evaluate(predictor, data.features[rows], data.latency[rows])
               for part, rows in (("valid", split.valid), ("test", split.test))}
    predictor.measured_with = read_recorded_settings(args.lat_dataset_path)
    predictor.save(args.ckpt_path)
    return {"model": args.model, "lat_dataset_path": args.lat_dataset_path, "split_seed": args.split_seed,
            "train_rows": len(split.train), "valid_rows": len(split.valid), "test_rows": len(split.test),
            "flagged_rows_left_out": left_out,
            "lat_norm": lat_norm, "valid_rmse": metrics["valid"]["rmse"], "valid_mape": metrics["valid"]["mape"],
            "test_rmse": metrics["test"]["rmse"], "test_mape": metrics["test"]["mape"], "ckpt_path": args.ckpt_path}
