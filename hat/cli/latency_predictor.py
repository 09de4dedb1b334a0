"""``latency_predictor.py``: train a latency predictor on a latency CSV, report test RMSE / MAPE, save it.

Reads the original's latency-predictor YAML (``--configs``, reference 1.7); command-line flags
override it. ``--lat-norm`` left unset means the original's value for a released CSV, else the mean
training latency rounded to one significant digit.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Optional

from ..config_args import config_items_to_argv, read_config_file
from ..latency.dataset import read_latency_csv
from ..latency.predictor import (MODELS, ORIGINAL_FEATURE_NORM, Log, MLPRecipe, PredictorError, default_lat_norm,
                                 evaluate, split_indices, stderr_log, train_predictor)
from ..search_space import FEATURE_NAMES, ConfigError


def get_parser() -> argparse.ArgumentParser:
    """The original's flags (and defaults) plus this project's."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
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


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv`` on top of the ``--configs`` file (the command line wins)."""
    parser = get_parser()
    args = parser.parse_args(argv)
    if args.configs:
        args = parser.parse_args(config_file_words(parser, args.configs) + list(argv))
    if args.feature_dim != len(FEATURE_NAMES):
        raise PredictorError(f"feature-dim {args.feature_dim} is not supported: the features are the "
                             f"{len(FEATURE_NAMES)} of {', '.join(FEATURE_NAMES)}")
    return args


def run(args: argparse.Namespace, log: Log) -> dict:
    """Train and save the predictor described by ``args``; return the final metrics."""
    data = read_latency_csv(args.lat_dataset_path)
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
    predictor.save(args.ckpt_path)
    return {"model": args.model, "lat_dataset_path": args.lat_dataset_path, "split_seed": args.split_seed,
            "train_rows": len(split.train), "valid_rows": len(split.valid), "test_rows": len(split.test),
            "lat_norm": lat_norm, "valid_rmse": metrics["valid"]["rmse"], "valid_mape": metrics["valid"]["mape"],
            "test_rmse": metrics["test"]["rmse"], "test_mape": metrics["test"]["mape"], "ckpt_path": args.ckpt_path}


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    result = run(args, stderr_log if args.json else print)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"| test RMSE {result['test_rmse']:.3f} ms | test MAPE {result['test_mape']:.2f}% "
              f"({result['test_rows']} rows)")
        print(f"| saved {args.model} predictor to {args.ckpt_path}")
    return 0
