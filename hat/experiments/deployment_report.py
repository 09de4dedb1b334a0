"""The results of the deployment experiment: ``multi30k_deployment.{md,json,png}`` in a results folder."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from ..io import PathLike, write_text_atomic
from .pages import discussion, header, machines, save_png

NAME = "multi30k_deployment"
ROW_KEYS = ("name", "family", "backend", "latency_ms", "bleu", "size_bytes")
"""The keys of a row of ``multi30k_deployment.json`` (plus ``latency_std_ms``, ``ratio_to_torch``,
``identical_to_torch``, ``predicted_latency_ms``)."""
EXTRA_KEYS = ("latency_std_ms", "ratio_to_torch", "identical_to_torch", "predicted_latency_ms")
SPEED_GOAL = 0.5
"""Goal: int8 on ONNX Runtime at most this fraction of PyTorch eager's latency for the searched SubTransformers."""
BLEU_GOAL = 0.5
"""Goal: int8 BLEU within this of float32 BLEU."""
STYLE = {"torch": ("o", "tab:gray"), "onnxruntime": ("s", "tab:blue"), "onnxruntime-int8": ("^", "tab:green")}


def goals(rows: Sequence[dict]) -> list[dict]:
    """Per searched SubTransformer: its int8 / torch latency ratio and its int8 - fp32 BLEU, and whether both
    goals are met."""
    out = []
    for name in dict.fromkeys(r["name"] for r in rows if r["family"] == "hat"):
        by = {r["backend"]: r for r in rows if r["name"] == name}
        ratio = by["onnxruntime-int8"]["ratio_to_torch"]
        drop = by["onnxruntime-int8"]["bleu"] - by["onnxruntime"]["bleu"]
        out.append({"name": name, "int8_ratio": ratio, "int8_bleu_change": drop,
                    "met": ratio <= SPEED_GOAL and abs(drop) <= BLEU_GOAL})
    return out


def draw(rows: Sequence[dict], context: dict):
    """BLEU vs measured latency, one marker per backend, a line joining each model's three points."""
    def on(axes) -> None:
        for name in dict.fromkeys(r["name"] for r in rows):
            points = [r for r in rows if r["name"] == name]
            color = "tab:red" if points[0]["family"] == "hat" else "lightgray"
            axes.plot([r["latency_ms"] for r in points], [r["bleu"] for r in points], color=color, linewidth=1,
                      zorder=1)
        for backend, (marker, color) in STYLE.items():
            points = [r for r in rows if r["backend"] == backend]
            axes.scatter([r["latency_ms"] for r in points], [r["bleu"] for r in points], marker=marker, color=color,
                         label=backend, zorder=2)
        axes.set_xscale("log")
        axes.set_xlabel(f"measured latency on {machines(context['provenance'])} ({context['threads']} thread(s)), ms "
                        "(log scale)")
        axes.set_ylabel("BLEU (test_2016_flickr)")
        axes.grid(alpha=0.3)
        axes.legend(title="HAT models joined in red, baselines in gray", fontsize=8, title_fontsize=8)
    return on


def markdown(rows: Sequence[dict], context: dict, results_dir: PathLike) -> str:
    lines = header(results_dir, NAME, "The searched SubTransformers deployed on ONNX Runtime (float32, int8), "
                   "Multi30k En-De, CPU", context)
    lines += ["| family | model | backend | latency (ms) | / torch | BLEU | identical to torch | size (MB) |",
              "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['family']} | {r['name']} | {r['backend']} | {r['latency_ms']:.1f} +- {r['latency_std_ms']:.1f} | "
                     f"{r['ratio_to_torch']:.2f} | {r['bleu']:.2f} | {r['identical_to_torch']:.1%} | "
                     f"{r['size_bytes'] / 1e6:.1f} |")
    lines += ["", "![BLEU vs measured latency per backend](multi30k_deployment.png)", "", "## Goals", "",
              f"For the searched SubTransformers: ONNX Runtime int8 at most {SPEED_GOAL}x PyTorch eager's latency, "
              f"with int8 BLEU within {BLEU_GOAL} of float32 BLEU.", ""]
    checked = goals(rows)
    for g in checked:
        lines.append(f"- {g['name']}: int8 {g['int8_ratio']:.2f}x torch, BLEU {g['int8_bleu_change']:+.2f} vs float32 -> "
                     f"**{'met' if g['met'] else 'not met'}**")
    lines += ["", f"**{sum(g['met'] for g in checked)} of {len(checked)} searched SubTransformers meet both goals.**", ""]
    lines += quantization_lines(context.get("quantization") or [])
    lines += engine_search_lines(context.get("engine_search") or [])
    fp32 = [r for r in rows if r["backend"] == "onnxruntime"]
    lines += ["## What the data says", "",
              f"- ONNX Runtime float32 gives PyTorch's hypotheses on {min(r['identical_to_torch'] for r in fp32):.1%} "
              f"to {max(r['identical_to_torch'] for r in fp32):.1%} of the test sentences, model by model "
              "(fairseq's beam search drives both).", ""]
    return "\n".join(lines + discussion(results_dir, NAME)) + "\n"


def quantization_lines(rows: Sequence[dict]) -> list[str]:
    """The paper's quantization table at this scale: size and BLEU per quantization method."""
    if not rows:
        return []
    lines = ["## Quantization (the paper's table)", "",
             "Size as stored: float32 weights; ONNX Runtime int8 graphs (encoder + decoder step, each holding the "
             "embedding); K-means: a float32 codebook and `bits` per entry for every matrix, float32 biases and "
             "LayerNorms. K-means BLEU is PyTorch's with the de-quantized weights.", "",
             "| family | model | method | size (MB) | / float32 | BLEU |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['family']} | {r['name']} | {r['method']} | {r['size_bytes'] / 1e6:.1f} | {r['size_ratio']:.2f} | "
              f"{r['bleu']:.2f} |" for r in rows]
    return lines + [""]


def engine_search_lines(cross: Sequence[dict]) -> list[str]:
    """The search for the int8 engine: per constraint (a PyTorch-searched model's int8 latency as the int8 predictor
    predicts it), both winners on both engines and their BLEU."""
    if not cross:
        return []
    lines = ["## Searching for the engine you deploy on", "",
             "A latency dataset and predictor measured on ONNX Runtime int8, and the search on the same SuperTransformer "
             "under each PyTorch-searched SubTransformer's int8 latency as that predictor predicts it (so the PyTorch "
             "winner is itself a candidate). Both winners of a constraint are trained with the same budget and "
             "measured on both engines in the same interleaved rounds.", "",
             "| int8 constraint (ms) | winner searched for | SubTransformer | torch (ms) | int8 (ms) | BLEU |",
             "|---|---|---|---|---|---|"]
    for c in cross:
        for who, label in (("torch_winner", "PyTorch eager"), ("engine_winner", "ONNX Runtime int8")):
            lines.append(f"| {c['constraint_ms']:.1f} | {label} | {c[who]} | {c[f'{who}_torch_ms']:.1f} | "
                         f"{c[f'{who}_onnxruntime-int8_ms']:.1f} | {c[f'{who}_bleu']:.2f} |")
    lines.append("")
    for c in cross:
        same = "the same SubTransformer" if c["same_subtransformer"] else "a different SubTransformer"
        lines.append(f"- {c['constraint_ms']:.1f} ms: the int8 search chose {same}; on int8 it measures "
                     f"{c['engine_winner_onnxruntime-int8_ms']:.1f} ms vs {c['torch_winner_onnxruntime-int8_ms']:.1f} ms, "
                     f"BLEU {c['engine_winner_bleu'] - c['torch_winner_bleu']:+.2f} vs the PyTorch winner")
    return lines + [""]


def write_deployment_results(rows: Sequence[dict], results_dir: PathLike, context: dict) -> None:
    """``<results_dir>/multi30k_deployment.json`` (the rows), ``.png`` and ``.md``, the quantization table in
    ``multi30k_deployment_quantization.json`` and the search for the int8 engine in
    ``multi30k_deployment_engine_search.json``; ``context``: ``threads``, ``commit``, ``command``, ``provenance``,
    ``quantization`` (:func:`hat.experiments.deployment.run_quantization`), ``engine_search``
    (:func:`hat.experiments.deployment.cross_rows`)."""
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(results_dir / "multi30k_deployment.json", json.dumps(
        [{k: r[k] for k in ROW_KEYS + EXTRA_KEYS} for r in rows], indent=2) + "\n")
    for key in ("quantization", "engine_search"):
        if context.get(key):
            write_text_atomic(results_dir / f"multi30k_deployment_{key}.json", json.dumps(context[key], indent=2) + "\n")
    save_png(draw(rows, context), results_dir / f"{NAME}.png")
    write_text_atomic(results_dir / f"{NAME}.md", markdown(rows, context, results_dir))
