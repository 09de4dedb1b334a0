"""Beyond HAT (``--experiment multi30k_supernet_training``): a SuperTransformer trained with the sandwich rule and
in-place distillation against HAT's uniform sampling, at the same wall-clock budget.

The uniform SuperTransformer is the reproduction's. The sandwich one (``hat-train --sandwich-random N
--inplace-distill W``) trains on the same space and data until it has used the uniform one's training time
(fairseq's ``--stop-time-hours``; a sandwich update costs N + 2 forward/backward passes, so it gets fewer updates).
Under each, the SubTransformers of :mod:`hat.experiments.weight_sharing`'s inherited-vs-scratch experiment are
tested with their inherited weights (their from-scratch BLEU is that experiment's), and the search is run again on
the sandwich SuperTransformer with the same constraints and predictor; its winners are trained from scratch too.
The stages are :func:`hat.experiments.multi30k._supernet_training`'s; this module holds the training step, the
summary and the page.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Optional, Sequence

from ..io import PathLike, write_text_atomic
from . import steps
from .pages import discussion, header, save_png
from .weight_sharing import kendall_tau

NAME = "multi30k_supernet_training"
SUPERNETS = ("uniform", "sandwich")
GOAL_GAP = 0.5
"""The goal: the sandwich-searched SubTransformers' inherited BLEU at most this far below their from-scratch BLEU."""
ROW_KEYS = ("supernet", "name", "family", "searched", "ranked", "inherited_bleu", "scratch_bleu", "scratch_bleu_std",
            "gap", "latency_ms", "latency_std_ms")


def train_sandwich(data: PathLike, space: PathLike, save_dir: Path, budget_s: Optional[float], max_updates: int,
                   sandwich_random: int, inplace_distill: float) -> dict:
    """Train the SuperTransformer of ``space`` with the sandwich rule (``sandwich_random`` random SubTransformers
    besides the largest and the smallest) and in-place distillation (weight ``inplace_distill``) for ``budget_s``
    seconds of training time (None: no limit), at most ``max_updates`` updates, into ``save_dir`` (resumed, with
    its time so far, from its last checkpoint); its checkpoint, updates and training time."""
    save_dir.mkdir(parents=True, exist_ok=True)  # fairseq's --log-file needs the folder
    return steps.train_supertransformer(data, space, save_dir, max_updates, [
        "--sandwich-random", sandwich_random, "--inplace-distill", inplace_distill, "--no-progress-bar",
        "--log-format", "simple", "--log-file", save_dir / "train.log"], budget_s=budget_s)


def row(supernet: str, name: str, model: Mapping, inherited_bleu: float, latency: Mapping, searched: bool,
        ranked: bool) -> dict:
    """One SubTransformer under one SuperTransformer (``model``: trained from scratch and tested over seeds)."""
    return {"supernet": supernet, "name": name, "family": model["family"], "searched": searched, "ranked": ranked,
            "inherited_bleu": inherited_bleu, "scratch_bleu": model["bleu"], "scratch_bleu_std": model["bleu_std"],
            "gap": model["bleu"] - inherited_bleu, "latency_ms": latency["latency_ms"],
            "latency_std_ms": latency["latency_std_ms"]}


def summary(rows: Sequence[dict]) -> dict:
    """Per SuperTransformer: Kendall's tau of the inherited vs from-scratch rankings over the ranked SubTransformers
    (the same for both), the gaps' range there, and the largest gap of its searched SubTransformers; and whether
    the goal is met (the sandwich's searched gaps <= :data:`GOAL_GAP`, its tau >= uniform's)."""
    out: dict = {}
    for supernet in SUPERNETS:
        ranked = [r for r in rows if r["supernet"] == supernet and r["ranked"]]
        searched = [r for r in rows if r["supernet"] == supernet and r["searched"]]
        out[supernet] = {
            "kendall_tau": kendall_tau([r["inherited_bleu"] for r in ranked], [r["scratch_bleu"] for r in ranked]),
            "ranked": len(ranked), "gap_min": min(r["gap"] for r in ranked), "gap_max": max(r["gap"] for r in ranked),
            "searched_gap_max": max(r["gap"] for r in searched) if searched else None}
    uniform, sandwich = out["uniform"], out["sandwich"]
    gap_met = sandwich["searched_gap_max"] is not None and sandwich["searched_gap_max"] <= GOAL_GAP
    tau_met = None not in (uniform["kendall_tau"], sandwich["kendall_tau"]) and \
        sandwich["kendall_tau"] >= uniform["kendall_tau"]
    out["goal"] = {"gap_met": gap_met, "tau_met": tau_met, "met": gap_met and tau_met}
    return out


def _tau(value: Optional[float]) -> str:
    return "undefined (a ranking ties every model)" if value is None else f"{value:.2f}"


def _draw(rows: Sequence[dict], curves: Mapping[str, dict]):
    colors = {"uniform": "tab:gray", "sandwich": "tab:red"}

    def on(axes) -> None:
        left, right = axes
        for supernet, color in colors.items():
            for key, style in (("largest_loss", "-"), ("smallest_loss", "--")):
                values = curves[supernet].get(key, [])
                left.plot(range(1, len(values) + 1), values, style, color=color, marker=".",
                          label=f"{supernet}: {key.split('_')[0]}")
            points = [r for r in rows if r["supernet"] == supernet]
            right.errorbar([r["inherited_bleu"] for r in points], [r["scratch_bleu"] for r in points],
                           yerr=[r["scratch_bleu_std"] for r in points], fmt="o", color=color, capsize=3,
                           label=supernet)
            right.scatter([r["inherited_bleu"] for r in points if r["searched"]],
                          [r["scratch_bleu"] for r in points if r["searched"]], marker="*", s=160, color=color,
                          zorder=3)
        left.set_xlabel("validation (end of epoch)")
        left.set_ylabel("validation loss (bits)")
        left.set_title("SuperTransformer training", fontsize=9)
        left.legend(fontsize=7)
        low = min(min(r["inherited_bleu"], r["scratch_bleu"]) for r in rows)
        high = max(max(r["inherited_bleu"], r["scratch_bleu"]) for r in rows)
        right.plot([low, high], [low, high], color="lightgray", linewidth=1, zorder=0)
        right.set_xlabel("BLEU with inherited weights")
        right.set_ylabel("BLEU from scratch (mean +- std)")
        right.set_title("SubTransformers (stars: searched on that SuperTransformer)", fontsize=9)
        right.legend(fontsize=7)
        for a in axes:
            a.grid(alpha=0.3)
    return on


def write_results(rows: Sequence[dict], supernets: Mapping[str, dict], curves: Mapping[str, dict],
                  results_dir: PathLike, context: dict) -> dict:
    """``<results_dir>/multi30k_supernet_training.{json,png,md}``; returns :func:`summary`. ``supernets``: per
    SuperTransformer its sampling, ``updates`` and ``training_s``; ``curves``: its validation losses
    (:func:`hat.experiments.stages.validation_curves`)."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    result = summary(rows)
    write_text_atomic(results_dir / f"{NAME}.json", json.dumps([{k: r[k] for k in ROW_KEYS} for r in rows], indent=2)
                      + "\n")
    save_png(_draw(rows, curves), results_dir / f"{NAME}.png", size=(11, 4.2), panels=2)
    seeds = context.get("seeds", [])
    lines = header(results_dir, NAME, "Sandwich rule and in-place distillation vs HAT's uniform sampling, Multi30k "
                   "En-De", context, seeds)
    lines += ["| SuperTransformer | sampling per update | updates | training time (s) | final validation loss, "
              "largest / smallest (bits) |", "|---|---|---|---|---|"]
    for supernet, info in supernets.items():
        final = [curves[supernet].get(key, [float("nan")])[-1] for key in ("largest_loss", "smallest_loss")]
        lines.append(f"| {supernet} | {info['sampling']} | {info['updates']} | {info['training_s']:.0f} | "
                     f"{final[0]:.3f} / {final[1]:.3f} |")
    lines += ["", "The sandwich SuperTransformer trains until it has used the uniform one's training time (fairseq's, "
              "summed over resumed sittings) or made as many updates, whichever comes first.", "",
              "| model | latency (ms) | from scratch BLEU | inherited, uniform | gap | inherited, sandwich | gap |",
              "|---|---|---|---|---|---|---|"]
    by = {(r["supernet"], r["name"]): r for r in rows}
    names = list(dict.fromkeys(r["name"] for r in sorted(rows, key=lambda r: r["latency_ms"])))
    for name in names:
        cells = []
        for supernet in SUPERNETS:
            r = by.get((supernet, name))
            mark = " *" if r and r["searched"] else ""
            cells += ["-", "-"] if r is None else [f"{r['inherited_bleu']:.2f}{mark}", f"{r['gap']:+.2f}"]
        first = by.get(("uniform", name)) or by[("sandwich", name)]
        lines.append(f"| {name} | {first['latency_ms']:.1f} +- {first['latency_std_ms']:.1f} | "
                     f"{first['scratch_bleu']:.2f} +- {first['scratch_bleu_std']:.2f} | {' | '.join(cells)} |")
    lines += ["", "\\* searched on that SuperTransformer (same constraints, same predictor). Gap: from scratch - "
              "inherited. From scratch: the reproduction's budget, mean +- sample std over the seeds. Latency: median "
              "of interleaved rounds.", "", f"![training and inherited BLEU]({NAME}.png)", "", "## What the data says",
              ""]
    for supernet in SUPERNETS:
        s = result[supernet]
        searched = "none" if s["searched_gap_max"] is None else f"{s['searched_gap_max']:+.2f}"
        lines.append(f"- {supernet}: Kendall's tau {_tau(s['kendall_tau'])} over the {s['ranked']} SubTransformers of "
                     f"the inherited-vs-scratch experiment; gap {s['gap_min']:+.2f} to {s['gap_max']:+.2f} BLEU; "
                     f"largest gap of its searched SubTransformers {searched}")
    goal = result["goal"]
    lines += [f"- Goal (the sandwich-searched SubTransformers' inherited BLEU within {GOAL_GAP} of from scratch, and "
              f"tau at least uniform's): {'met' if goal['met'] else 'not met'} (gap: "
              f"{'met' if goal['gap_met'] else 'missed'}; tau: {'met' if goal['tau_met'] else 'missed'})", ""]
    write_text_atomic(results_dir / f"{NAME}.md", "\n".join(lines + discussion(results_dir, NAME)) + "\n")
    return result
