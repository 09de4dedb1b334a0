"""The pages of :mod:`hat.experiments.weight_sharing`: ``multi30k_inherited_vs_scratch.{md,json,png}`` and
``multi30k_finetune.{md,json,png}``."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from ..io import PathLike, write_text_atomic
from .pages import discussion, header, save_png
from .weight_sharing import kendall_tau

INHERITED = "multi30k_inherited_vs_scratch"
FINETUNE = "multi30k_finetune"
INHERITED_KEYS = ("name", "family", "inherited_bleu", "scratch_bleu", "scratch_bleu_std", "gap", "seeds", "latency_ms",
                  "latency_std_ms", "params")
PAPER_GAP = (0.9, 2.0)
"""The paper's gap between from-scratch and inherited BLEU (its table of inherited vs from-scratch BLEU)."""


def ranking_summary(rows: Sequence[dict]) -> dict:
    """Kendall's tau between the inherited and the from-scratch BLEU rankings, and the gaps' range."""
    gaps = [r["gap"] for r in rows]
    return {"kendall_tau": kendall_tau([r["inherited_bleu"] for r in rows], [r["scratch_bleu"] for r in rows]),
            "gap_min": min(gaps), "gap_max": max(gaps), "models": len(rows)}


def _draw_inherited(rows: Sequence[dict]):
    def on(axes) -> None:
        for family, marker, color in (("hat", "*", "tab:red"), ("corner", "s", "tab:blue"), ("baseline", "o", "tab:gray")):
            points = [r for r in rows if r["family"] == family]
            if points:
                axes.errorbar([r["inherited_bleu"] for r in points], [r["scratch_bleu"] for r in points],
                              yerr=[r["scratch_bleu_std"] for r in points], fmt=marker, color=color, capsize=3,
                              label=family)
        for r in rows:
            axes.annotate(r["name"], (r["inherited_bleu"], r["scratch_bleu"]), fontsize=7, xytext=(4, -8),
                          textcoords="offset points")
        low = min(min(r["inherited_bleu"], r["scratch_bleu"]) for r in rows)
        high = max(max(r["inherited_bleu"], r["scratch_bleu"]) for r in rows)
        axes.plot([low, high], [low, high], color="lightgray", linewidth=1, zorder=0, label="equal BLEU")
        axes.set_xlabel("BLEU with inherited weights (no retraining)")
        axes.set_ylabel("BLEU trained from scratch (mean +- std over seeds)")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    return on


def write_inherited_results(rows: Sequence[dict], results_dir: PathLike, context: dict) -> dict:
    """``<results_dir>/multi30k_inherited_vs_scratch.{json,png,md}``; returns :func:`ranking_summary`."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    summary = ranking_summary(rows)
    write_text_atomic(results_dir / f"{INHERITED}.json",
                      json.dumps([{k: r[k] for k in INHERITED_KEYS} for r in rows], indent=2) + "\n")
    save_png(_draw_inherited(rows), results_dir / f"{INHERITED}.png")
    seeds = sorted({s for r in rows for s in r["seeds"]})
    lines = header(results_dir, INHERITED, "Inherited vs from-scratch BLEU of SubTransformers, Multi30k En-De",
                   context, seeds)
    lines += ["| family | model | latency (ms) | #params | inherited BLEU | from scratch BLEU | gap |",
              "|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: r["latency_ms"]):
        lines.append(f"| {r['family']} | {r['name']} | {r['latency_ms']:.1f} +- {r['latency_std_ms']:.1f} | "
                     f"{r['params'] / 1e6:.2f}M | {r['inherited_bleu']:.2f} | {r['scratch_bleu']:.2f} +- "
                     f"{r['scratch_bleu_std']:.2f} | {r['gap']:+.2f} |")
    spread = max(r["scratch_bleu_std"] for r in rows)
    tau = ("undefined (one of the rankings ties every model)" if summary["kendall_tau"] is None
           else f"**{summary['kendall_tau']:.2f}**")
    lines += ["", "Inherited: the SuperTransformer's weights, no retraining (one evaluation). From scratch: trained with "
              "the reproduction's budget, mean +- sample std over the seeds. Gap: from scratch - inherited. Latency: "
              "median of interleaved rounds.", "", f"![inherited vs from scratch]({INHERITED}.png)", "",
              "## What the data says", "",
              f"- Kendall's tau between the two rankings over {summary['models']} SubTransformers: "
              f"{tau} (1: the SuperTransformer ranks them exactly as training from scratch "
              "does).",
              f"- Gap from scratch - inherited: {summary['gap_min']:+.2f} to {summary['gap_max']:+.2f} BLEU (the paper: "
              f"{PAPER_GAP[0]} to {PAPER_GAP[1]}); the largest std over seeds of a from-scratch BLEU is {spread:.2f}.", ""]
    write_text_atomic(results_dir / f"{INHERITED}.md", "\n".join(lines + discussion(results_dir, INHERITED)) + "\n")
    return summary


def _draw_finetune(rows: Sequence[dict]):
    def on(axes) -> None:
        positions = range(len(rows))
        axes.bar([p - 0.2 for p in positions], [r["scratch_bleu"] for r in rows], width=0.4,
                 yerr=[r["scratch_bleu_std"] for r in rows], capsize=3, color="tab:gray",
                 label=f"from scratch ({rows[0]['scratch_updates']} updates)")
        axes.bar([p + 0.2 for p in positions], [r["finetune_bleu"] for r in rows], width=0.4,
                 yerr=[r["finetune_bleu_std"] for r in rows], capsize=3, color="tab:red",
                 label=f"inherited + fine-tuned ({rows[0]['finetune_updates']} updates)")
        axes.set_xticks(list(positions), [r["name"] for r in rows], fontsize=8)
        axes.set_ylabel("BLEU (test_2016_flickr), mean +- std over seeds")
        axes.grid(alpha=0.3, axis="y")
        axes.legend(fontsize=8)
    return on


def write_finetune_results(rows: Sequence[dict], results_dir: PathLike, context: dict) -> None:
    """``<results_dir>/multi30k_finetune.{json,png,md}``."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(results_dir / f"{FINETUNE}.json", json.dumps(list(rows), indent=2) + "\n")
    save_png(_draw_finetune(rows), results_dir / f"{FINETUNE}.png")
    lines = header(results_dir, FINETUNE, "Fine-tuning inherited weights vs training from scratch, Multi30k En-De",
                   context,
                   sorted({s for r in rows for s in r["seeds"]}))
    lines += ["| model | from scratch BLEU | updates | wall (s) | fine-tuned BLEU | updates | wall (s) | "
              "fine-tuned - scratch |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['scratch_bleu']:.2f} +- {r['scratch_bleu_std']:.2f} | {r['scratch_updates']} | "
                     f"{r['scratch_wall_s']:.0f} | {r['finetune_bleu']:.2f} +- {r['finetune_bleu_std']:.2f} | "
                     f"{r['finetune_updates']} | {r['finetune_wall_s']:.0f} | {r['gap']:+.2f} |")
    lines += ["", "Fine-tuned: the SuperTransformer's weights of the SubTransformer trained further with a fresh optimizer "
              "and learning-rate schedule (the from-scratch training's settings) for a quarter of the from-scratch "
              "updates. BLEU and wall time: mean (+- sample std) over the seeds.", "",
              f"![fine-tuned vs from scratch]({FINETUNE}.png)", "", "## What the data says", ""]
    for r in rows:
        spread = (r["scratch_bleu_std"] ** 2 + r["finetune_bleu_std"] ** 2) ** 0.5
        verdict = "within" if abs(r["gap"]) <= spread else ("above" if r["gap"] > 0 else "below")
        lines.append(f"- {r['name']}: fine-tuned {r['gap']:+.2f} BLEU vs from scratch ({verdict} the seeds' spread "
                     f"{spread:.2f}) in {r['finetune_wall_s'] / r['scratch_wall_s']:.0%} of its training time")
    lines.append("")
    write_text_atomic(results_dir / f"{FINETUNE}.md", "\n".join(lines + discussion(results_dir, FINETUNE)) + "\n")
