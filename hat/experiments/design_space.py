"""The paper's design-space ablation (``--experiment multi30k_design_space``): does the search gain from
arbitrary encoder-decoder attention and from heterogeneous layers?

At the reproduction's middle latency constraint, on the same SuperTransformer and predictor and with the same
schedule as :mod:`hat.experiments.search_comparison` (whose evolution seed-1 search is the full space's), the
search is repeated in two smaller spaces: decoder layers attending the last encoder layer only
(``decoder-arbitrary-ende-attn-choice: [-1]``), and uniform layers (one FFN dim and head count per stack:
``hat-evo-search --uniform-layers``). Each winner is trained and tested like the other models, and measured in
the same interleaved rounds.
"""
from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

from ..config_args import config_file_text, read_config_file
from ..io import PathLike, write_text_atomic
from .pages import discussion, header, save_png

NAME = "multi30k_design_space"
VARIANTS = OrderedDict([
    ("full-space", "the whole space (heterogeneous layers, arbitrary encoder-decoder attention)"),
    ("no-arbitrary-attn", "every decoder layer attends the last encoder layer only"),
    ("uniform-layers", "one FFN dim and one head count per stack"),
])
ROW_KEYS = ("variant", "name", "search_loss", "predicted_latency_ms", "latency_ms", "latency_std_ms", "params", "bleu",
            "seeds")


def without_arbitrary_attention(space: PathLike, out: Path) -> Path:
    """A copy of the space YAML ``space`` whose decoder layers attend the last encoder layer only."""
    items = read_config_file(space)
    items["decoder-arbitrary-ende-attn-choice"] = [-1]
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, config_file_text(items))
    return out


def _draw(rows: Sequence[dict]):
    def on(axes) -> None:
        for r, color in zip(rows, ("tab:red", "tab:blue", "tab:gray")):
            axes.errorbar([r["latency_ms"]], [r["bleu"]], xerr=[r["latency_std_ms"]], fmt="o", color=color, capsize=3,
                          label=r["variant"])
        axes.set_xlabel("measured latency (ms)")
        axes.set_ylabel("BLEU (test_2016_flickr)")
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
              f"{r['latency_ms']:.1f} +- {r['latency_std_ms']:.1f} | {r['params'] / 1e6:.2f}M | {r['bleu']:.2f} |"
              for r in rows]
    full = next(r for r in rows if r["variant"] == "full-space")
    lines += ["", f"![BLEU vs measured latency per space]({NAME}.png)", "", "## What the data says", ""]
    lines += [f"- {r['variant']}: search loss {r['search_loss'] - full['search_loss']:+.4f} bits and BLEU "
              f"{r['bleu'] - full['bleu']:+.2f} vs the full space" for r in rows if r is not full]
    lines.append("")
    write_text_atomic(results_dir / f"{NAME}.md", "\n".join(lines + discussion(results_dir, NAME)) + "\n")
