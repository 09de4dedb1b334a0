#!/usr/bin/env python
"""Latency-predictor accuracy: hat-mlp vs the default model on every latency CSV of a folder.

For each CSV, model, split seed 1-3 and training size (the full 80% split, and its first 400 rows)
trains a predictor and prints its test RMSE (ms) and MAPE (%), then the mean RMSE per dataset, model
and training size. Progress goes to stderr. See benchmarks/README.md for results.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from hat.cli import run_cli, stderr_log  # noqa: E402
from hat.latency.dataset import LatencyData, read_latency_csv  # noqa: E402
from hat.latency.fitting import MLPRecipe, default_lat_norm, evaluate, split_indices, train_predictor  # noqa: E402
from hat.latency.predictor import MODELS  # noqa: E402

SEEDS = (1, 2, 3)
FEW_ROWS = 400


def benchmark_dataset(path: Path, data: LatencyData, recipe: MLPRecipe) -> list[dict]:
    """One row per (model, seed, training size) on one dataset."""
    rows = []
    for model in reversed(MODELS):  # hat-mlp first: it is the reference
        for seed in SEEDS:
            n_train = len(split_indices(len(data.latency), seed).train)
            for train_rows in sorted({n_train, min(FEW_ROWS, n_train)}, reverse=True):
                split = split_indices(len(data.latency), seed, train_rows)
                lat_norm, _ = default_lat_norm(path, data.latency[split.train])
                stderr_log(f"{path.stem}: {model}, seed {seed}, {train_rows} training rows")
                predictor = train_predictor(model, data.features, data.latency, split, lat_norm=lat_norm,
                                            recipe=recipe, seed=seed)
                metrics = evaluate(predictor, data.features[split.test], data.latency[split.test])
                rows.append({"dataset": path.stem, "model": model, "seed": seed, "train_rows": train_rows, **metrics})
    return rows


def format_table(rows: list[dict]) -> str:
    """The per-run table, then the mean RMSE / MAPE over seeds per dataset, model and training size."""
    lines = [f"{'dataset':<34} {'model':<8} {'seed':>4} {'train rows':>10} {'RMSE (ms)':>10} {'MAPE (%)':>9}"]
    lines += [f"{r['dataset']:<34} {r['model']:<8} {r['seed']:>4} {r['train_rows']:>10} {r['rmse']:>10.2f} "
              f"{r['mape']:>9.2f}" for r in rows]
    lines += ["", f"{'dataset':<34} {'model':<8} {'train rows':>10} {'mean RMSE':>10} {'mean MAPE':>10}"]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["model"], r["train_rows"]), []).append(r)
    for (dataset, model, train_rows), group in groups.items():
        lines.append(f"{dataset:<34} {model:<8} {train_rows:>10} {np.mean([r['rmse'] for r in group]):>10.2f} "
                     f"{np.mean([r['mape'] for r in group]):>10.2f}")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data-dir", required=True, type=Path, help="folder of latency CSVs (original format)")
    parser.add_argument("--train-steps", type=int, default=MLPRecipe.train_steps,
                        help="hat-mlp training steps (default: the original's 5000)")
    parser.add_argument("--json", action="store_true", help="print the rows as one JSON list")
    args = parser.parse_args(argv)
    paths = sorted(args.data_dir.glob("*.csv"))
    if not paths:
        raise FileNotFoundError(f"no *.csv files in {args.data_dir}")
    recipe = MLPRecipe(train_steps=args.train_steps)
    rows = [row for path in paths for row in benchmark_dataset(path, read_latency_csv(path), recipe)]
    print(json.dumps(rows) if args.json else format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
