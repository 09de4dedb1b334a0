"""The paper's predicted-vs-measured latency figure (``--experiment predictor_accuracy``): the latency predictor
(``ridge``, this project's default, and ``hat-mlp``, the original's recipe) trained on this CPU's Multi30k latency
dataset and on the original's released datasets, scored on each dataset's held-out test rows.

Rows flagged by the calibration probe are left out as ``latency_predictor.py`` does; the split is
``latency_predictor.py``'s 80/10/10 with ``--split-seed 1``. ``<results-dir>/predictor_accuracy.{md,json,png}``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional, Sequence

from ..io import PathLike, write_text_atomic
from .pages import discussion, header, save_png

NAME = "predictor_accuracy"
MODELS_COMPARED = ("ridge", "hat-mlp")
SPLIT_SEED = 1
ROW_KEYS = ("dataset", "model", "split_seed", "train_rows", "test_rows", "rmse", "mape")
"""A row of ``predictor_accuracy.json`` (RMSE in ms, MAPE in %)."""


def datasets(own_csv: PathLike, released_dir: Optional[PathLike]) -> dict[str, Path]:
    """``{name: CSV}``: this CPU's dataset (``multi30k_ende_this_cpu``) and every CSV of ``released_dir``."""
    found = {"multi30k_ende_this_cpu": Path(own_csv)}
    if released_dir is not None:
        found.update((path.stem, path) for path in sorted(Path(released_dir).glob("*.csv")))
    return found


def accuracy(csv: PathLike, model: str, mlp_steps: int, seed: int = SPLIT_SEED) -> dict:
    """Train ``model`` (``hat-mlp``: for ``mlp_steps`` steps) on the training split of the latency CSV and score it on
    the test split: the :data:`ROW_KEYS` and the test rows' ``measured_ms`` / ``predicted_ms``."""
    from ..latency.dataset import read_latency_csv
    from ..latency.fitting import (MLPRecipe, default_lat_norm, mape, rmse, split_indices, train_predictor,
                                   unflagged_rows)

    data = read_latency_csv(csv)
    kept = unflagged_rows(len(data.latency), str(csv), False, lambda line: None)
    features, latency = data.features[kept], data.latency[kept]
    split = split_indices(len(latency), seed)
    lat_norm, _ = default_lat_norm(csv, latency[split.train])
    predictor = train_predictor(model, features, latency, split, lat_norm=lat_norm, seed=seed,
                                recipe=MLPRecipe(train_steps=mlp_steps))
    predicted, measured = predictor.predict_features(features[split.test]), latency[split.test]
    return {"model": model, "split_seed": seed, "train_rows": len(split.train), "test_rows": len(split.test),
            "rmse": rmse(predicted, measured), "mape": mape(predicted, measured),
            "measured_ms": [float(v) for v in measured], "predicted_ms": [float(v) for v in predicted]}


def _draw(rows: Sequence[dict]):
    names = list(dict.fromkeys(r["dataset"] for r in rows))

    def on(axes) -> None:
        for ax, name in zip(axes, names):
            for r, (marker, color) in zip([r for r in rows if r["dataset"] == name], (("o", "tab:red"), ("x", "tab:blue"))):
                ax.scatter(r["measured_ms"], r["predicted_ms"], s=10, marker=marker, color=color, alpha=0.7,
                           label=f"{r['model']}: RMSE {r['rmse']:.1f} ms")
            values = [v for r in rows if r["dataset"] == name for v in r["measured_ms"] + r["predicted_ms"]]
            ax.plot([min(values), max(values)], [min(values), max(values)], color="lightgray", linewidth=1, zorder=0)
            ax.set_title(name, fontsize=8)
            ax.set_xlabel("measured (ms)", fontsize=8)
            ax.set_ylabel("predicted (ms)", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.legend(fontsize=7)
    return on, len(names)


def write_results(rows: Sequence[dict], results_dir: PathLike, context: dict) -> None:
    """``<results_dir>/predictor_accuracy.{json,png,md}``."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(results_dir / f"{NAME}.json", json.dumps([{k: r[k] for k in ROW_KEYS} for r in rows], indent=2)
                      + "\n")
    draw, panels = _draw(rows)
    save_png(draw, results_dir / f"{NAME}.png", size=(3.2 * panels, 3.4), panels=panels)
    lines = header(results_dir, NAME, "Latency predictor accuracy: predicted vs measured latency", context)
    lines += ["| dataset | model | training rows | test rows | test RMSE (ms) | test MAPE (%) |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['dataset']} | {r['model']} | {r['train_rows']} | {r['test_rows']} | {r['rmse']:.2f} | "
              f"{r['mape']:.2f} |" for r in rows]
    lines += ["", f"Split: `latency_predictor.py`'s 80/10/10 with split seed {SPLIT_SEED}; rows flagged by the "
              "calibration probe left out. `multi30k_ende_this_cpu` is this run's latency dataset; the others are the "
              "original's released datasets.", "", f"![predicted vs measured]({NAME}.png)", "",
              "## What the data says", ""]
    for name in dict.fromkeys(r["dataset"] for r in rows):
        by = {r["model"]: r for r in rows if r["dataset"] == name}
        if set(MODELS_COMPARED) <= set(by):
            ratio = by["ridge"]["rmse"] / by["hat-mlp"]["rmse"]
            lines.append(f"- {name}: ridge's test RMSE is {ratio:.2f}x hat-mlp's ({by['ridge']['mape']:.1f} % vs "
                         f"{by['hat-mlp']['mape']:.1f} % MAPE)")
    lines.append("")
    write_text_atomic(results_dir / f"{NAME}.md", "\n".join(lines + discussion(results_dir, NAME)) + "\n")
