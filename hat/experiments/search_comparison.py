"""The paper's evolutionary-vs-random-search figure (``--experiment multi30k_search_vs_random``).

At the reproduction's middle latency constraint, on the same SuperTransformer and predictor: the evolutionary
search and random search (every generation's new candidates drawn uniformly among the feasible
SubTransformers: ``hat-evo-search --search-method random``) with several search seeds each, the same schedule.
The best-so-far validation loss is read from each search's ``history.jsonl`` against the number of loss
evaluations; the curves' mean and std over seeds are plotted, and each method's winner (its best seed's) is
trained with every training seed and tested like the other models
(:func:`hat.experiments.multi30k._search_vs_random`). The page's rule is :func:`verdict`.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..io import PathLike, write_text_atomic
from .pages import discussion, header, save_png

NAME = "multi30k_search_vs_random"
METHODS = ("evolution", "random")


def best_so_far(history: PathLike, method: str, seed: int) -> list[dict]:
    """The rows of one search: ``{"method", "seed", "evaluations", "best_loss"}`` wherever the best loss so far
    changed or a generation ended (the verified candidates of ``history.jsonl`` are not loss evaluations)."""
    records = [json.loads(line) for line in Path(history).read_text().splitlines() if line.strip()]
    evaluations = [r for r in records if not r.get("verified")]
    rows, best = [], float("inf")
    for count, (record, following) in enumerate(zip(evaluations, evaluations[1:] + [None]), start=1):
        improved = record["loss"] < best
        best = min(best, record["loss"])
        if improved or following is None or following["generation"] != record["generation"]:
            rows.append({"method": method, "seed": seed, "evaluations": count, "best_loss": best})
    return rows


def curve(rows: Sequence[dict], grid: np.ndarray) -> np.ndarray:
    """One search's best loss so far at each evaluation count of ``grid`` (a step function of its rows)."""
    counts = np.array([r["evaluations"] for r in rows])
    losses = np.array([r["best_loss"] for r in rows])
    return losses[np.searchsorted(counts, grid, side="right") - 1]


def mean_curves(rows: Sequence[dict]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``{method: (evaluation counts, mean, std over seeds)}`` up to the evaluations every seed of the method
    reached."""
    out = {}
    for method in dict.fromkeys(r["method"] for r in rows):
        runs = [[r for r in rows if r["method"] == method and r["seed"] == s]
                for s in dict.fromkeys(r["seed"] for r in rows if r["method"] == method)]
        first = max(run[0]["evaluations"] for run in runs)
        grid = np.arange(first, min(run[-1]["evaluations"] for run in runs) + 1)
        curves = np.stack([curve(run, grid) for run in runs])
        out[method] = (grid, curves.mean(axis=0), curves.std(axis=0, ddof=1 if len(runs) > 1 else 0))
    return out


def verdict(rows: Sequence[dict]) -> dict:
    """The page's rule: at the most evaluations that every search of both methods reached, the mean (and sample
    std over seeds) of each method's best loss so far; evolution reaches a lower loss than random search "yes"
    when random's mean minus evolution's exceeds the seeds' spread ``sqrt(std_evolution**2 + std_random**2)``,
    "partly" when it is lower within that spread, "no" otherwise."""
    runs: dict[tuple[str, int], list[dict]] = {}
    for r in rows:
        runs.setdefault((r["method"], r["seed"]), []).append(r)
    evaluations = min(run[-1]["evaluations"] for run in runs.values())
    out: dict = {"evaluations": evaluations}
    for method in METHODS:
        losses = [float(curve(run, np.array([evaluations]))[0]) for (m, _), run in runs.items() if m == method]
        out[method] = {"mean": float(np.mean(losses)), "std": float(np.std(losses, ddof=1 if len(losses) > 1 else 0))}
    out["gain"] = out["random"]["mean"] - out["evolution"]["mean"]
    out["spread"] = math.hypot(out["evolution"]["std"], out["random"]["std"])
    out["verdict"] = "yes" if out["gain"] > out["spread"] else "partly" if out["gain"] > 0 else "no"
    return out


def _draw(rows: Sequence[dict], constraint: float):
    def on(axes) -> None:
        for (method, (grid, mean, std)), color in zip(mean_curves(rows).items(), ("tab:red", "tab:gray")):
            axes.plot(grid, mean, color=color, label=f"{method} (mean over seeds)")
            axes.fill_between(grid, mean - std, mean + std, color=color, alpha=0.2)
        axes.set_xlabel("loss evaluations")
        axes.set_ylabel(f"best validation loss so far (bits), <= {constraint:g} ms")
        axes.grid(alpha=0.3)
        axes.legend()
    return on


WINNER_KEYS = ("family", "seed", "loss", "predicted_latency_ms", "params", "bleu", "bleu_std", "seeds", "per_seed")
"""The keys of a winner in ``multi30k_search_vs_random.json`` (``seed``: the search seed that found it; ``bleu``:
mean over the training ``seeds``)."""


def write_results(rows: Sequence[dict], winners: Mapping[str, dict], constraint: float, results_dir: PathLike,
                  context: dict) -> None:
    """``<results_dir>/multi30k_search_vs_random.{json,png,md}``: ``rows`` (:func:`best_so_far` of every search)
    and ``winners`` (``{method: its best seed's winner, trained and tested}``, :data:`WINNER_KEYS`)."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    winners = {method: {key: winner.get(key) for key in WINNER_KEYS} for method, winner in winners.items()}
    write_text_atomic(results_dir / f"{NAME}.json", json.dumps(
        {"constraint_ms": constraint, "curves": list(rows), "winners": winners}, indent=2) + "\n")
    save_png(_draw(rows, constraint), results_dir / f"{NAME}.png")
    seeds = sorted({r["seed"] for r in rows})
    training_seeds = sorted({s for w in winners.values() for s in w["seeds"]})
    lines = header(results_dir, NAME, "Evolutionary vs random search, Multi30k En-De", context, training_seeds)
    lines += [f"Both searches under the middle latency constraint, {constraint:g} ms (predicted), search seeds "
              f"{', '.join(map(str, seeds))}, the same schedule and SuperTransformer.", "",
              "| method | final best loss per seed (bits) | mean +- std | evaluations per seed | winner trained: "
              "BLEU, mean +- std over training seeds (search seed, predicted latency) |", "|---|---|---|---|---|"]
    for method in METHODS:
        runs = {s: [r for r in rows if r["method"] == method and r["seed"] == s] for s in seeds}
        finals = [run[-1]["best_loss"] for run in runs.values() if run]
        if not finals:
            continue
        winner = winners[method]
        spread = np.std(finals, ddof=1 if len(finals) > 1 else 0)
        counts = ", ".join(str(run[-1]["evaluations"]) for run in runs.values())
        lines.append(f"| {method} | {', '.join(f'{v:.4f}' for v in finals)} | {np.mean(finals):.4f} +- {spread:.4f} | "
                     f"{counts} | {winner['bleu']:.2f} +- {winner['bleu_std']:.2f} (seed {winner['seed']}, "
                     f"{winner['predicted_latency_ms']:.1f} ms) |")
    lines += ["", f"![best loss vs evaluations]({NAME}.png)", ""]
    if set(METHODS) <= {r["method"] for r in rows}:
        result = verdict(rows)
        evolution, random = result["evolution"], result["random"]
        lines += ["## Does evolution reach a lower loss than random search?", "",
                  "Rule: at the most evaluations every search of both methods reached, evolution reaches a lower "
                  "loss when random search's mean best loss minus evolution's is larger than the seeds' spread, "
                  "sqrt(std_evolution^2 + std_random^2): **yes**; lower within the spread: **partly**; otherwise "
                  "**no**.", "",
                  f"- after {result['evaluations']} evaluations: evolution {evolution['mean']:.4f} +- "
                  f"{evolution['std']:.4f}, random {random['mean']:.4f} +- {random['std']:.4f} bits; random - "
                  f"evolution {result['gain']:+.4f} bits, spread {result['spread']:.4f} -> **{result['verdict']}**",
                  "", "## What the data says", ""]
        (grid_e, mean_e, _), (grid_r, mean_r, _) = (mean_curves(rows)[m] for m in METHODS)
        reached = grid_e[np.nonzero(mean_e <= mean_r[-1])[0]]
        lines.append(f"- mean best loss after the last evaluation every seed of the method reached: evolution "
                     f"{mean_e[-1]:.4f} ({grid_e[-1]} evaluations), random {mean_r[-1]:.4f} bits ({grid_r[-1]})")
        lines.append(f"- evolution reaches random search's final mean ({grid_r[-1]} evaluations) after "
                     + (f"{reached[0]} evaluations" if len(reached) else "more evaluations than it ran"))
        gap = winners["evolution"]["bleu"] - winners["random"]["bleu"]
        lines.append(f"- the winners trained from scratch: evolution's - random's {gap:+.2f} BLEU (seeds' spread "
                     f"{math.hypot(winners['evolution']['bleu_std'], winners['random']['bleu_std']):.2f})")
    lines.append("")
    write_text_atomic(results_dir / f"{NAME}.md", "\n".join(lines + discussion(results_dir, NAME)) + "\n")
