"""``latency_dataset.py``: measure sampled SubTransformers into a latency CSV (reference 5.1-5.3).

Row ``i`` of a dataset is SubTransformer ``space.sample(sample_seed(--seed, i))`` of the latency search
space (the ``*-choice`` keys), so a rerun after an interruption resumes at the first missing row and
measures the same sequence as an uninterrupted run. The measurement settings are kept in a sidecar
``<csv>.json``; resuming with other settings is refused.
"""
import dataclasses
import json
import sys
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np
from fairseq import options
from tqdm import tqdm

from ..config_args import add_config_flags, parse_config_args
from ..io import changed_settings, write_text_atomic
from ..latency.dataset import append_row, format_row, open_for_append
from ..latency.predictor import load_predictor, mape, rmse
from ..latency.measure import (add_latency_args, build_for_latency, describe, measure_latency, settings_from_args,
                               vocab_size_from_args)
from ..search_space import ConfigError, SearchSpace, config_features

CONFIG_FLAGS = ("--configs",)
SEED_STRIDE = 1_000_000  # rows per --seed value: different seeds give disjoint sample seeds
VALIDATION_ROW0 = SEED_STRIDE // 2  # --validate samples rows from here: configs no dataset of < 500000 rows holds


def sample_seed(seed: int, row: int) -> int:
    """The :meth:`SearchSpace.sample` seed of dataset row ``row`` under ``--seed seed``."""
    return seed * SEED_STRIDE + row


def settings_path(csv_path: Path) -> Path:
    """The sidecar JSON of a latency CSV: ``<csv>.json``."""
    return csv_path.with_name(csv_path.name + ".json")


def check_or_write_settings(csv_path: Path, settings: Dict[str, object], resuming: bool) -> None:
    """Record ``settings`` next to ``csv_path``; when ``resuming`` they must equal the recorded ones."""
    path = settings_path(csv_path)
    settings = json.loads(json.dumps(settings))  # tuples -> lists, as read back
    if not resuming:
        write_text_atomic(path, json.dumps(settings, indent=2, sort_keys=True) + "\n")
        return
    if not path.is_file():
        raise ConfigError(f"{csv_path} already has rows but no settings file {path}; refusing to append "
                          "(use a new --lat-dataset-path)")
    recorded = json.loads(path.read_text())
    changed = changed_settings(recorded, settings)
    if changed:
        raise ConfigError(f"{csv_path} was measured with other settings ({'; '.join(changed)}); refusing to "
                          f"append (rerun with the recorded settings of {path}, or use a new --lat-dataset-path)")


def dataset_settings(args, space: SearchSpace) -> Dict[str, object]:
    """Everything a dataset's rows depend on: measurement settings, search space, sampling seed."""
    info = describe(settings_from_args(args), vocab_size_from_args(args))
    return {**info, "search_space": dataclasses.asdict(space), "seed": args.seed, "seed_stride": SEED_STRIDE}


def get_parser():
    parser = options.get_training_parser()
    add_config_flags(parser, CONFIG_FLAGS)
    add_latency_args(parser)
    group = parser.add_argument_group("latency dataset")
    group.add_argument("--lat-dataset-path", default="./latency_dataset/lat.tmp", help="CSV to write (appended to)")
    group.add_argument("--lat-dataset-size", type=int, default=200, help="number of SubTransformers (rows)")
    check = parser.add_argument_group("predictor validation")
    check.add_argument("--validate", type=int, metavar="K", default=None,
                       help="measure K fresh random SubTransformers here and report a predictor's error (writes no dataset)")
    check.add_argument("--predictor", metavar="PATH", help="latency predictor file for --validate")
    check.add_argument("--feature-norm", type=float, nargs="+", help="feature-norm of an original HAT predictor file")
    check.add_argument("--lat-norm", type=float, help="lat-norm of an original HAT predictor file")
    check.add_argument("--json", action="store_true", help="print the --validate result as one JSON object")
    return parser


def validate_predictor(args, space: SearchSpace, settings) -> Dict[str, object]:
    """Measure ``--validate`` fresh configs on this machine and compare them with ``--predictor``."""
    if args.validate < 1 or not args.predictor:
        raise ConfigError("--validate K needs K >= 1 and --predictor PATH")
    predictor = load_predictor(args.predictor, args.feature_norm, args.lat_norm)
    model = build_for_latency(args, vocab_size_from_args(args))
    configs = [space.sample(sample_seed(args.seed, VALIDATION_ROW0 + i)) for i in range(args.validate)]
    predicted = predictor.predict(configs)
    measured = []
    for config, guess in zip(tqdm(configs, desc="validate", unit="config", file=sys.stderr), predicted):
        measured.append(measure_latency(model, config, settings).latency_ms)
        print(f"| measured {measured[-1]:.1f} ms, predicted {guess:.1f} ms", file=sys.stderr)
    measured_arr = np.asarray(measured)
    return {"configs": args.validate, "rmse_ms": rmse(predicted, measured_arr), "mape": mape(predicted, measured_arr),
            "bias_percent": float(np.mean((predicted - measured_arr) / measured_arr) * 100),
            "measured_ms": measured, "predicted_ms": predicted.tolist()}


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_config_args(get_parser(), sys.argv[1:] if argv is None else argv, CONFIG_FLAGS)
    if args.lat_dataset_size < 1:
        raise ConfigError(f"--lat-dataset-size={args.lat_dataset_size} must be a positive integer")
    settings = settings_from_args(args)
    space = SearchSpace.from_args(args)
    if args.validate is not None:
        result = validate_predictor(args, space, settings)
        print(json.dumps(result) if args.json else
              f"| {result['configs']} fresh SubTransformers: RMSE {result['rmse_ms']:.2f} ms, MAPE {result['mape']:.2f}%, "
              f"mean error {result['bias_percent']:+.2f}% (predicted vs measured)")
        return 0
    csv_path = Path(args.lat_dataset_path)
    recorded = dataset_settings(args, space)
    done = open_for_append(csv_path)
    check_or_write_settings(csv_path, recorded, resuming=done > 0)
    if done >= args.lat_dataset_size:
        print(f"| {csv_path} already has {done} rows (--lat-dataset-size {args.lat_dataset_size})")
        return 0
    print(f"| Measuring {args.lat_dataset_size - done} SubTransformers into {csv_path} (resuming at row {done}) on "
          f"{recorded['device']} ({recorded['device_name']}, {recorded['threads']} CPU thread(s))", file=sys.stderr)
    model = build_for_latency(args, recorded["vocab_size"])
    rows = tqdm(range(done, args.lat_dataset_size), initial=done, total=args.lat_dataset_size, desc="configs",
                unit="config", file=sys.stderr)
    on_sample = None if args.latsilent else (lambda side, ms: rows.write(f"| {side} one run: {ms} ms"))
    for row in rows:
        config = space.sample(sample_seed(args.seed, row))
        result = measure_latency(model, config, settings, on_sample)
        append_row(csv_path, format_row(config_features(config), result.encoder_ms, result.decoder_ms,
                                        result.encoder_std_ms, result.decoder_std_ms))
    return 0
