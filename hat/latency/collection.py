"""Latency datasets measured here: what ``latency_dataset.py`` runs, as the original's ``latency_dataset.py``.

Row ``i`` of a dataset is SubTransformer ``space.sample(sample_seed(--seed, i))`` of the latency search
space (the ``*-choice`` keys), so a rerun after an interruption resumes at the first missing row and
measures the same sequence as an uninterrupted run. The measurement settings are kept in a sidecar
``<csv>.json``; resuming with other settings is refused. ``--validate K`` measures K fresh configs instead
and compares them with a predictor (:func:`run_predictor_validation`).
"""
import dataclasses
import json
import sys
from argparse import Namespace
from pathlib import Path
from typing import Any, Dict, Sequence

import numpy as np
from fairseq import options
from tqdm import tqdm

from ..config_args import add_config_flags, parse_config_args
from ..errors import ConfigError
from ..io import check_recorded_settings, write_text_atomic
from ..locks import exclusive_output
from ..search_space import SearchSpace, config_features
from .dataset import (append_row, format_row, open_for_append, probe_path, read_latency_csv, read_recorded_settings,
                      read_settings_file, settings_path)
from .fitting import Log, mape, rmse
from .measure import (add_latency_args, build_for_latency, describe, measure_latency, probe_for, settings_from_args,
                      vocab_note, vocab_size_from_args)
from .predictor import load_predictor

CONFIG_FLAGS = ("--configs",)
SEED_STRIDE = 1_000_000  # rows per --seed value: different seeds give disjoint sample seeds
VALIDATION_ROW0 = SEED_STRIDE // 2  # --validate samples rows from here: configs no dataset of < 500000 rows holds


def sample_seed(seed: int, row: int) -> int:
    """The :meth:`SearchSpace.sample` seed of dataset row ``row`` under ``--seed seed``."""
    return seed * SEED_STRIDE + row


def check_or_write_settings(csv_path: Path, settings: Dict[str, object], resuming: bool) -> None:
    """Record ``settings`` next to ``csv_path``; when ``resuming`` they must equal the recorded ones."""
    path = settings_path(csv_path)
    settings = json.loads(json.dumps(settings))  # tuples -> lists, as read back
    if not resuming:
        write_text_atomic(path, json.dumps(settings, indent=2, sort_keys=True) + "\n")
        return
    recorded = read_settings_file(csv_path)
    if recorded is None:
        raise ConfigError(f"{csv_path} already has rows but no settings file {path}; refusing to append "
                          "(use a new --lat-dataset-path)")
    check_recorded_settings(recorded, settings, lambda changes: (
        f"{csv_path} was measured with other settings ({changes}); refusing to append "
        f"(rerun with the recorded settings of {path}, or use a new --lat-dataset-path)"))


def dataset_settings(args: Namespace, space: SearchSpace) -> Dict[str, object]:
    """Everything a dataset's rows depend on: measurement settings, search space, sampling seed."""
    info = describe(settings_from_args(args), vocab_size_from_args(args))
    return {**info, "search_space": dataclasses.asdict(space), "seed": args.seed, "seed_stride": SEED_STRIDE}


def get_latency_dataset_parser():
    """``latency_dataset.py``'s parser: fairseq's training flags (model, data), ``--configs``, latency flags."""
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


def parse_latency_dataset_args(argv: Sequence[str]) -> Namespace:
    """``latency_dataset.py``'s arguments, ``--configs`` applied (the command line wins)."""
    args = parse_config_args(get_latency_dataset_parser(), argv, CONFIG_FLAGS)
    if args.lat_dataset_size < 1:
        raise ConfigError(f"--lat-dataset-size={args.lat_dataset_size} must be a positive integer")
    return args


def run_latency_dataset(args: Namespace, log: Log) -> Dict[str, Any]:
    """Measure rows into ``--lat-dataset-path`` until it holds ``--lat-dataset-size`` of them (resuming a
    partial file, with a tqdm progress bar on stderr); return ``{"csv", "rows", "min_ms", "max_ms",
    "mean_ms", "measured_now", "probe"}``: the whole CSV's row count and total latency (ms), the rows this
    call measured (0 when it was already complete) and the calibration probe's counts.

    Each row is the original's measurement, taken under the calibration probe on a CPU
    (:mod:`hat.latency.probe`; ``--no-lat-probe`` turns it off): re-measured while the machine is busy,
    flagged if it never became quiet. The probe's record of every row goes to ``<csv>.probe.jsonl``,
    beside the CSV, which keeps the original's format. The CSV is locked against a second run."""
    settings = settings_from_args(args)
    space = SearchSpace.from_args(args)
    csv_path = Path(args.lat_dataset_path)
    with exclusive_output(csv_path, "latency dataset"):
        recorded_vocab = (read_recorded_settings(csv_path) or {}).get("vocab_size")
        note = vocab_note(args, recorded_vocab)
        if note:
            log(note)
        recorded = {**dataset_settings(args, space), "vocab_size": vocab_size_from_args(args, recorded_vocab)}
        done = open_for_append(csv_path)
        check_or_write_settings(csv_path, recorded, resuming=done > 0)
        if done == 0:
            probe_path(csv_path).unlink(missing_ok=True)  # of an earlier dataset of that name
        probe = probe_for(args, settings)
        if done < args.lat_dataset_size:
            log(f"| Measuring {args.lat_dataset_size - done} SubTransformers into {csv_path} (resuming at row {done}) "
                f"on {recorded['device']} ({recorded['device_name']}, {recorded['threads']} CPU thread(s))")
            model = build_for_latency(args, recorded["vocab_size"])
            rows = tqdm(range(done, args.lat_dataset_size), initial=done, total=args.lat_dataset_size, desc="configs",
                        unit="config", file=sys.stderr)
            on_sample = None if args.latsilent else (lambda side, ms: rows.write(f"| {side} one run: {ms} ms"))
            for row in rows:
                config = space.sample(sample_seed(args.seed, row))
                probed = probe.measure(lambda: measure_latency(model, config, settings, on_sample))
                result = probed.result
                append_row(csv_path, format_row(config_features(config), result.encoder_ms, result.decoder_ms,
                                                result.encoder_std_ms, result.decoder_std_ms))
                append_row(probe_path(csv_path), json.dumps({"row": row, "probe_ratio": round(probed.probe_ratio, 4),
                                                             "repeats": probed.repeats, "flagged": probed.flagged}))
            log(probe.summary_line())
        latency = read_latency_csv(csv_path).latency
    return {"csv": str(csv_path), "rows": int(len(latency)), "min_ms": float(latency.min()),
            "max_ms": float(latency.max()), "mean_ms": float(latency.mean()),
            "measured_now": max(0, args.lat_dataset_size - done), "probe": probe.report()}


def run_predictor_validation(args: Namespace, log: Log) -> Dict[str, Any]:
    """``--validate K``: measure K fresh configs on this machine and compare them with ``--predictor``; return
    ``{"configs", "rmse_ms", "mape", "bias_percent", "measured_ms", "predicted_ms"}`` (writes no dataset)."""
    settings = settings_from_args(args)
    space = SearchSpace.from_args(args)
    if args.validate is None or args.validate < 1 or not args.predictor:
        raise ConfigError("--validate K needs K >= 1 and --predictor PATH")
    predictor = load_predictor(args.predictor, args.feature_norm, args.lat_norm)
    recorded_vocab = (predictor.measured_with or {}).get("vocab_size")
    note = vocab_note(args, recorded_vocab)
    if note:
        log(note)
    model = build_for_latency(args, vocab_size_from_args(args, recorded_vocab))
    configs = [space.sample(sample_seed(args.seed, VALIDATION_ROW0 + i)) for i in range(args.validate)]
    predicted = predictor.predict(configs)
    measured = []
    for config, guess in zip(tqdm(configs, desc="validate", unit="config", file=sys.stderr), predicted):
        measured.append(measure_latency(model, config, settings).latency_ms)
        log(f"| measured {measured[-1]:.1f} ms, predicted {guess:.1f} ms")
    measured_arr = np.asarray(measured)
    return {"configs": args.validate, "rmse_ms": rmse(predicted, measured_arr), "mape": mape(predicted, measured_arr),
            "bias_percent": float(np.mean((predicted - measured_arr) / measured_arr) * 100),
            "measured_ms": measured, "predicted_ms": predicted.tolist()}
