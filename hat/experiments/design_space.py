"""The paper's design-space ablation (``--experiment multi30k_design_space``): does the search gain from
arbitrary encoder-decoder attention and from heterogeneous layers?

At the reproduction's middle latency constraint, on the same SuperTransformer and predictor and with the same
schedule as :mod:`hat.experiments.search_comparison` (whose evolution seed-1 search is the full space's), the
search is repeated in two smaller spaces: decoder layers attending the last encoder layer only
(``decoder-arbitrary-ende-attn-choice: [-1]``), and uniform layers (one FFN dim and head count per stack:
``hat-evo-search --uniform-layers``). Each winner is trained with every training seed and tested like the other
models, and measured in the same interleaved rounds. The page's rule is :func:`verdicts`.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

from ..config_args import config_file_text, read_config_file
from ..evaluation.comparison import BLEU_MARGIN, SPEEDUP_MARGIN, Point, Verdict, compare
from ..io import PathLike, write_text_atomic
from .multi30k_report import verdict_line
from .pages import discussion, header, save_png

NAME = "multi30k_design_space"
VARIANTS = OrderedDict([
    ("full-space", "the whole space (heterogeneous layers, arbitrary encoder-decoder attention)"),
    ("no-arbitrary-attn", "every decoder layer attends the last encoder layer only"),
    ("uniform-layers", "one FFN dim and one head count per stack"),
])
ROW_KEYS = ("variant", "name", "search_loss", "predicted_latency_ms", "latency_ms", "latency_std_ms", "params", "bleu",
            "bleu_std", "seeds", "per_seed")
"""The keys of a row of ``multi30k_design_space.json`` (``bleu``: mean over the training ``seeds``)."""


def without_arbitrary_attention(space: PathLike, out: Path) -> Path:
    """A copy of the space YAML ``space`` whose decoder layers attend the last encoder layer only."""
    items = read_config_file(space)
    items["decoder-arbitrary-ende-attn-choice"] = [-1]
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, config_file_text(items))
    return out


def verdicts(rows: Sequence[dict]) -> list[Verdict]:
    """The page's rule: the full space's winner against each smaller space's, by the main figure's rule
    (:func:`hat.evaluation.comparison.compare`, the full space in the place of HAT): the smaller space is beaten
    when the full space's winner, not slower, has at least +0.5 mean BLEU, or is at least 1.3x faster with at
    least its mean BLEU."""
    def point(r: dict) -> Point:
        return Point(r["variant"], r["latency_ms"], r["bleu"], r.get("bleu_std") or 0.0)

    full = [point(r) for r in rows if r["variant"] == "full-space"]
    return compare(full, [point(r) for r in rows if r["variant"] != "full-space"])


def _draw(rows: Sequence[dict]):
    def on(axes) -> None:
        for r, color in zip(rows, ("tab:red", "tab:blue", "tab:gray")):
            axes.errorbar([r["latency_ms"]], [r["bleu"]], xerr=[r["latency_std_ms"]], yerr=[r.get("bleu_std") or 0.0],
                          fmt="o", color=color, capsize=3, label=r["variant"])
        axes.set_xlabel("measured latency (ms)")
        axes.set_ylabel("BLEU (test_2016_flickr), mean +- std over seeds")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    return on


def write_results(rows: Sequence[dict], constraint: float, results_dir: PathLike, context: dict) -> None:
    """``<results_dir>/multi30k_design_space.{json,png,md}``: one row per :data:`VARIANTS` entry."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(results_dir / f"{NAME}.json", json.dumps([{k: r[k] for k in ROW_KEYS} for r in rows], indent=2)
                      + "\n")
    save_png(_draw(rows), results_dir / f"{NAME}.png")
    lines = header(results_dir, NAME, "Design-space ablation: arbitrary attention and heterogeneous layers, Multi30k "
                   "En-De", context, sorted({s for r in rows for s in r["seeds"]}))
    lines += [f"The same search (search seed 1) under the middle constraint, {constraint:g} ms predicted, in three "
              "spaces; each winner trained with the reproduction's budget.", "",
              "| space | search loss (bits) | predicted (ms) | measured (ms) | #params | BLEU |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['variant']}: {VARIANTS[r['variant']]} | {r['search_loss']:.4f} | {r['predicted_latency_ms']:.1f} | "
              f"{r['latency_ms']:.1f} +- {r['latency_std_ms']:.1f} | {r['params'] / 1e6:.2f}M | "
              f"{r['bleu']:.2f} +- {r.get('bleu_std') or 0.0:.2f} |" for r in rows]
    full = next(r for r in rows if r["variant"] == "full-space")
    results = verdicts(rows)
    lines += ["", "Latency: median of the interleaved rounds +- their std; BLEU: mean over the training seeds +- sample "
              "std.", "", f"![BLEU vs measured latency per space]({NAME}.png)", "",
              "## Do arbitrary attention and heterogeneous layers give a better model at the same latency?", "",
              f"Rule (the main figure's, the full space's winner in the place of HAT): a smaller space is beaten when "
              f"the full space's winner, not slower than its winner, has at least +{BLEU_MARGIN} mean BLEU, or is at "
              f"least {SPEEDUP_MARGIN}x faster with at least its mean BLEU; beyond the seeds' spread when that BLEU "
              "difference is larger than sqrt(std_full^2 + std_smaller^2).", ""]
    lines += [verdict_line(v, "full-space winner") for v in results]
    beaten = sum(v.beaten for v in results)
    lines += ["", f"**{beaten} of {len(results)} smaller spaces beaten by the full space.**", "",
              "## What the data says", ""]
    lines += [f"- {r['variant']}: search loss {r['search_loss'] - full['search_loss']:+.4f} bits, measured latency "
              f"{r['latency_ms'] / full['latency_ms']:.2f}x and BLEU {r['bleu'] - full['bleu']:+.2f} vs the full space"
              for r in rows if r is not full]
    lines.append("")
    write_text_atomic(results_dir / f"{NAME}.md", "\n".join(lines + discussion(results_dir, NAME)) + "\n")
