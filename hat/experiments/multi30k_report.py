"""The results of the Multi30k reproduction: ``multi30k_en_de.{md,json,png}`` in a results folder."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from ..evaluation.comparison import BLEU_MARGIN, SPEEDUP_MARGIN, Verdict
from ..io import PathLike, write_text_atomic
from .pages import discussion, header, save_png

NAME = "multi30k_en_de"
ROW_KEYS = ("family", "name", "latency_ms", "latency_std_ms", "bleu", "bleu_std", "seeds", "sacrebleu",
            "sacrebleu_std", "params", "flops", "predicted_latency_ms", "train_wall_s")
"""The keys of a row of ``multi30k_en_de.json`` (``bleu``, ``sacrebleu``, ``train_wall_s``: means over the seeds)."""


def json_rows(rows: Sequence[dict]) -> list[dict]:
    return [{key: row.get(key) for key in ROW_KEYS} for row in rows]


def draw(rows: Sequence[dict], context: dict):
    """BLEU (mean, error bar: std over seeds) vs measured latency of the HAT models and of the baselines."""
    def on(axes) -> None:
        for family, marker, color in (("baseline", "o", "tab:gray"), ("hat", "*", "tab:red")):
            points = sorted((r["latency_ms"], r["bleu"], r["bleu_std"]) for r in rows if r["family"] == family)
            latency, bleu, std = zip(*points)
            axes.errorbar(latency, bleu, yerr=std, marker=marker, color=color, capsize=3,
                          markersize=12 if marker == "*" else 7,
                          label="HAT (searched for this CPU)" if family == "hat" else "Transformer baselines")
        axes.set_xlabel(f"measured latency on {context['latency_machine']} ({context['threads']} thread(s)), ms")
        axes.set_ylabel("BLEU (test_2016_flickr), mean +- std over seeds")
        axes.grid(alpha=0.3)
        axes.legend()
    return on


def verdict_line(v: Verdict, models: str = "HAT model") -> str:
    """One baseline's verdict, with both criteria and their seeds' spread (``models``: what the compared models
    are called)."""
    by_bleu = (f"best {models} not slower: none" if v.best_not_slower is None else
               f"best {models} not slower: {v.best_not_slower}, {v.bleu_gain:+.2f} BLEU (seeds' spread "
               f"{v.gain_spread:.2f})")
    by_speed = (f"fastest {models} as good: none" if v.fastest_as_good is None else
                f"fastest {models} as good: {v.fastest_as_good}, {v.speedup:.2f}x faster, BLEU {v.bleu_excess:+.2f} "
                f"(spread {v.excess_spread:.2f})")
    beyond = {None: "", True: ", beyond the seeds' spread", False: ", **within the seeds' spread**"}[v.beyond_spread]
    return f"- {v.baseline}: {by_bleu}; {by_speed} -> **{'beaten' if v.beaten else 'not beaten'}**{beyond}"


def markdown(rows: Sequence[dict], verdicts: Sequence[Verdict], context: dict, results_dir: PathLike) -> str:
    """The results page: provenance, the table, the plot, the verdict per baseline, what the data says and the
    hand-written discussion."""
    seeds = sorted({s for r in rows for s in r["seeds"]})
    lines = header(results_dir, NAME, "HAT vs Transformer baselines on Multi30k En-De, measured on a CPU", context,
                   seeds)
    lines += ["| family | model | latency (ms) | predicted (ms) | #params | FLOPs | BLEU | SacreBLEU | seeds | "
              "training (s) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        predicted = f"{r['predicted_latency_ms']:.1f}" if r.get("predicted_latency_ms") else "-"
        lines.append(f"| {r['family']} | {r['name']} | {r['latency_ms']:.1f} +- {r['latency_std_ms']:.1f} | {predicted} | "
                     f"{r['params'] / 1e6:.2f}M | {r['flops'] / 1e6:.0f}M | {r['bleu']:.2f} +- {r['bleu_std']:.2f} | "
                     f"{r['sacrebleu']:.2f} +- {r['sacrebleu_std']:.2f} | {len(r['seeds'])} | {r['train_wall_s']:.0f} |")
    lines += ["", "Latency: median of the interleaved rounds +- their std; BLEU, SacreBLEU and training time: mean over "
              "the seeds (+- sample std).", "", f"![BLEU vs measured latency]({NAME}.png)", "",
              "## Are the baselines beaten?", "",
              f"Rule: a baseline is beaten when the best HAT model not slower than it has at least +{BLEU_MARGIN} mean "
              f"BLEU, or the fastest HAT model with at least its mean BLEU is at least {SPEEDUP_MARGIN}x faster. A "
              "margin is beyond the seeds' spread when the BLEU difference it rests on is larger than "
              "sqrt(std_hat^2 + std_baseline^2).", ""]
    lines += [verdict_line(v) for v in verdicts]
    beaten = sum(v.beaten for v in verdicts)
    lines += ["", f"**{beaten} of {len(verdicts)} baselines beaten by HAT.**", "", "## What the data says", ""]
    for r in rows:
        if r["family"] == "hat":
            lines.append(f"- {r['name']}: measured {r['latency_ms']:.1f} ms vs predicted {r['predicted_latency_ms']:.1f} ms "
                         f"({100 * (r['latency_ms'] / r['predicted_latency_ms'] - 1):+.1f} %); inherited validation loss in "
                         f"the supernet {r['search_loss']:.3f} bits"
                         + ("" if r.get("source_gain_bits") is None else
                            f", {r['source_gain_bits']:+.3f} bits with other sentences' sources"))
    curves = context["supernet_losses"]
    if curves.get("largest_loss") and curves.get("smallest_loss"):
        largest, smallest = curves["largest_loss"], curves["smallest_loss"]
        lines.append(f"- supernet ({context['supernet_wall_s']:.0f} s of training): validation loss (bits) of the "
                     f"largest SubTransformer {' -> '.join(f'{v:.3f}' for v in largest)}; of the smallest "
                     f"{' -> '.join(f'{v:.3f}' for v in smallest)}")
    lines.append("")
    return "\n".join(lines + discussion(results_dir, NAME)) + "\n"


def write_results(rows: Sequence[dict], verdicts: Sequence[Verdict], results_dir: PathLike, context: dict) -> None:
    """``<results_dir>/multi30k_en_de.json`` (the rows), ``.png`` (BLEU vs measured latency) and ``.md`` (the
    page); ``context``: ``latency_machine`` (the CPU that measured the latencies), ``threads``, ``commit``,
    ``command``, ``provenance``, ``supernet_losses``, ``supernet_wall_s``."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(results_dir / f"{NAME}.json", json.dumps(json_rows(rows), indent=2) + "\n")
    save_png(draw(rows, context), results_dir / f"{NAME}.png")
    write_text_atomic(results_dir / f"{NAME}.md", markdown(rows, verdicts, context, results_dir))
