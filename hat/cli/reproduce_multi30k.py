"""``bash scripts/reproduce_multi30k.sh``: the paper's central claim at small scale, HAT vs baseline Transformers.

On Multi30k En-De and this CPU: train the SuperTransformer, measure a latency dataset and train the
predictor, search under three latency constraints spread over the measured range (one run), train
each searched SubTransformer from scratch, and train baseline Transformers of uniform per-layer
dimensions (fairseq's ``transformer``, built as a SubTransformer of a SuperTransformer of its own size,
which computes exactly what fairseq's model computes) with the same budget. Then measure every model's
latency with the same procedure and settings (interleaved rounds), test BLEU / SacreBLEU on the test
set, count #params / FLOPs, and write ``<results-dir>/multi30k_en_de.{md,json,png}``.

Every stage is cached in ``<workdir>/stages/`` (see :mod:`hat.pipeline`).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from ..config_args import read_config_file
from ..evaluation.comparison import BLEU_MARGIN, SPEEDUP_MARGIN, Point, compare
from ..io import atomic_write, write_text_atomic
from ..pipeline import (ROOT, Pipeline, call, languages, latency_constraints, test_subtransformer,
                        validation_curves)
from ..search_space import write_subtransformer_yaml

TASK = ROOT / "configs" / "multi30k.en-de"
BASELINES = ("256,512,4,6,6", "256,512,4,6,3", "192,384,4,6,2", "128,256,4,6,1")
"""Baseline Transformers: embed dim, FFN dim, heads, encoder layers, decoder layers (uniform per layer)."""


def baseline_spec(text: str) -> tuple[str, tuple[int, ...]]:
    """``'256,512,4,6,3'`` -> ``('transformer-256-6-3', (256, 512, 4, 6, 3))``."""
    try:
        dims = tuple(int(v) for v in text.split(","))
    except ValueError:
        dims = ()
    if len(dims) != 5:
        raise argparse.ArgumentTypeError(f"baseline {text!r} is not EMBED,FFN,HEADS,ENCODER_LAYERS,DECODER_LAYERS")
    return f"transformer-{dims[0]}-{dims[3]}-{dims[4]}", dims


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workdir", default="runs/reproduce_multi30k")
    parser.add_argument("--results-dir", default=str(ROOT / "docs" / "results"))
    parser.add_argument("--raw-dir", default=str(ROOT.parent / "shared" / "data" / "multi30k"),
                        help="raw Multi30k files (downloaded when absent)")
    parser.add_argument("--data", help="an already binarised corpus instead of Multi30k (tests)")
    parser.add_argument("--space", default=str(TASK / "supertransformer" / "space0.yml"))
    parser.add_argument("--common", default=str(TASK / "subtransformer" / "common.yml"))
    parser.add_argument("--supernet-updates", type=int, default=3000)
    parser.add_argument("--train-updates", type=int, default=1200, help="budget of every HAT / baseline model")
    parser.add_argument("--latency-rows", type=int, default=300)
    parser.add_argument("--latiter", type=int, default=10)
    parser.add_argument("--lat-threads", type=int, default=1)
    parser.add_argument("--lat-rounds", type=int, default=5, help="interleaved latency rounds of the final models")
    parser.add_argument("--quantiles", type=float, nargs=3, default=(0.25, 0.5, 0.75),
                        help="latency constraints: these quantiles of the measured latencies")
    parser.add_argument("--evo-iter", type=int, default=30)
    parser.add_argument("--population-size", type=int, default=125)
    parser.add_argument("--parent-size", type=int, default=25)
    parser.add_argument("--mutation-size", type=int, default=50)
    parser.add_argument("--crossover-size", type=int, default=50)
    parser.add_argument("--valid-cnt-max", type=int, default=8)
    parser.add_argument("--baselines", nargs="+", type=baseline_spec, default=[baseline_spec(b) for b in BASELINES],
                        metavar="E,F,H,Le,Ld", help="baseline Transformers (default: %(default)s)")
    return parser


def yaml_text(items: dict) -> str:
    """``key: value`` lines as configargparse reads them back."""
    return "".join(f"{k}: [{', '.join(map(str, v))}]\n" if isinstance(v, list) else f"{k}: {v}\n" for k, v in items.items())


def baseline_files(name: str, dims: tuple, common: str, folder: Path) -> tuple[Path, Path]:
    """The SubTransformer YAML of a uniform baseline and its own ``common.yml`` (super dims = its dims, qkv = embed)."""
    embed, ffn, heads, encoder_layers, decoder_layers = dims
    items = OrderedDict((k, v) for k, v in read_config_file(common).items() if not k.endswith("-choice"))
    items.update({"encoder-embed-dim": embed, "decoder-embed-dim": embed, "encoder-ffn-embed-dim": ffn,
                  "decoder-ffn-embed-dim": ffn, "encoder-layers": encoder_layers, "decoder-layers": decoder_layers,
                  "encoder-attention-heads": heads, "decoder-attention-heads": heads, "qkv-dim": embed})
    common_path, sub_path = folder / f"{name}.common.yml", folder / f"{name}.yml"
    write_text_atomic(common_path, yaml_text(items))
    config = {"encoder": {"encoder_embed_dim": embed, "encoder_layer_num": encoder_layers,
                          "encoder_ffn_embed_dim": [ffn] * encoder_layers,
                          "encoder_self_attention_heads": [heads] * encoder_layers},
              "decoder": {"decoder_embed_dim": embed, "decoder_layer_num": decoder_layers,
                          "decoder_ffn_embed_dim": [ffn] * decoder_layers,
                          "decoder_self_attention_heads": [heads] * decoder_layers,
                          "decoder_ende_attention_heads": [heads] * decoder_layers,
                          "decoder_arbitrary_ende_attn": [-1] * decoder_layers}}
    write_subtransformer_yaml(config, sub_path)
    return sub_path, common_path


def measure_all(models: dict, data: Path, args) -> dict:
    """Latency of every model, ``--lat-rounds`` interleaved rounds on this CPU, same settings for all."""
    from ..training import parse_train_args
    from ..latency.measure import build_for_latency, measure_latency, settings_from_args, vocab_size_from_args
    from ..search_space import check_fits, config_from_args

    prepared = {}
    for name, model in models.items():
        margs = parse_train_args([str(data), f"--configs={model['yml']}", f"--sub-configs={model['common']}",
                                  "--latcpu", "--lat-threads", str(args.lat_threads), "--latiter", str(max(args.latiter, 20))])
        prepared[name] = (build_for_latency(margs, vocab_size_from_args(margs)), check_fits(config_from_args(margs), margs),
                          settings_from_args(margs))
    samples = {name: [] for name in models}
    for round_ in range(args.lat_rounds):
        for name, (model, config, settings) in prepared.items():
            samples[name].append(measure_latency(model, config, settings).latency_ms)
        print(f"| latency round {round_ + 1}/{args.lat_rounds}: "
              + ", ".join(f"{n} {s[-1]:.1f}" for n, s in samples.items()), flush=True)
    return {name: {"latency_ms": float(np.mean(s)), "latency_std_ms": float(np.std(s)), "samples_ms": s}
            for name, s in samples.items()}


def write_results(rows: list, verdicts: list, results_dir: Path, context: dict) -> None:
    """The table (md), the rows (json) and BLEU vs measured latency (png)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results_dir.mkdir(parents=True, exist_ok=True)
    keys = ("family", "name", "latency_ms", "latency_std_ms", "bleu", "sacrebleu", "params", "flops")
    write_text_atomic(results_dir / "multi30k_en_de.json",
                      json.dumps([{k: row[k] for k in keys} | {"predicted_latency_ms": row.get("predicted_latency_ms"),
                                                               "train_wall_s": row["train_wall_s"]} for row in rows],
                                 indent=2) + "\n")
    figure, axes = plt.subplots(figsize=(6.5, 4.2), dpi=120)
    for family, marker, color in (("baseline", "o", "tab:gray"), ("hat", "*", "tab:red")):
        points = sorted((r["latency_ms"], r["bleu"]) for r in rows if r["family"] == family)
        axes.plot(*zip(*points), marker=marker, color=color, markersize=12 if marker == "*" else 7,
                  label="HAT (searched for this CPU)" if family == "hat" else "Transformer baselines")
    axes.set_xlabel(f"measured latency on {context['cpu']} ({context['threads']} thread(s)), ms")
    axes.set_ylabel("BLEU (test_2016_flickr)")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    atomic_write(results_dir / "multi30k_en_de.png", lambda stream: figure.savefig(stream, format="png"), binary=True)
    plt.close(figure)

    lines = ["# HAT vs Transformer baselines on Multi30k En-De, measured on a CPU", "",
             f"Machine: {context['cpu']}, {context['threads']} thread(s) for latency; commit {context['commit']}; "
             f"generated by `{context['command']}`.", "",
             "| family | model | latency (ms) | predicted (ms) | #params | FLOPs | BLEU | SacreBLEU | training (s) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        predicted = f"{r['predicted_latency_ms']:.1f}" if r.get("predicted_latency_ms") else "-"
        lines.append(f"| {r['family']} | {r['name']} | {r['latency_ms']:.1f} +- {r['latency_std_ms']:.1f} | {predicted} | "
                     f"{r['params'] / 1e6:.2f}M | {r['flops'] / 1e6:.0f}M | {r['bleu']:.2f} | {r['sacrebleu']:.2f} | "
                     f"{r['train_wall_s']:.0f} |")
    lines += ["", "![BLEU vs measured latency](multi30k_en_de.png)", "", "## Does HAT dominate?", "",
              f"Target: at equal measured latency >= +{BLEU_MARGIN} BLEU, or at equal BLEU >= {SPEEDUP_MARGIN}x "
              "lower latency (baselines interpolated linearly, no extrapolation).", ""]
    for v in verdicts:
        gain = "outside the baselines' latency range" if v.bleu_gain is None else f"{v.bleu_gain:+.2f} BLEU"
        speed = "outside the baselines' BLEU range" if v.speedup is None else f"{v.speedup:.2f}x"
        lines.append(f"- {v.name}: {gain} at equal latency, {speed} at equal BLEU -> "
                     f"**{'dominates' if v.dominates else 'does not dominate'}**")
    won = sum(v.dominates for v in verdicts)
    lines += ["", f"**{won} of {len(verdicts)} HAT models dominate the baselines.**", "", "## What the data says", ""]
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
    write_text_atomic(results_dir / "multi30k_en_de.md", "\n".join(lines) + "\n")


def run(args) -> dict:
    workdir = Path(args.workdir)
    pipeline = Pipeline(workdir)

    def data_stage() -> dict:
        if args.data:
            return {"data": args.data}
        from ..data.multi30k import prepare

        raw = Path(args.raw_dir) if Path(args.raw_dir).is_dir() else None
        return {"data": str(prepare(raw, workdir / "data", "en", "de"))}

    data = Path(pipeline.stage("data", data_stage)["data"])
    languages(data, None, None)
    super_dir = workdir / "supertransformer"
    super_dir.mkdir(parents=True, exist_ok=True)  # fairseq's --log-file needs the folder
    supernet = pipeline.stage("supertransformer", lambda: call(
        "train.py", data, f"--configs={args.space}", "--save-dir", super_dir, "--max-update", args.supernet_updates,
        "--cpu", "--no-progress-bar", "--log-format", "simple", "--log-file", super_dir / "train.log") or {})
    lat_csv = workdir / "latency" / "latency.csv"
    pipeline.stage("latency_dataset", lambda: call(
        "latency_dataset.py", data, f"--configs={args.space}", "--latcpu", "--latsilent", "--lat-threads",
        args.lat_threads, "--latiter", args.latiter, "--lat-dataset-path", lat_csv, "--lat-dataset-size",
        args.latency_rows) or {})
    predictor = workdir / "latency" / "predictor.pt"
    pipeline.stage("latency_predictor", lambda: call("latency_predictor.py", "--lat-dataset-path", lat_csv, "--ckpt-path",
                                                     predictor, "--json", capture_json=True))
    constraints = latency_constraints(lat_csv, predictor, args.quantiles)
    search = pipeline.stage("evo_search", lambda: call(
        "evo_search.py", data, f"--configs={args.space}", "--cpu", "--restore-file", super_dir / "checkpoint_last.pt",
        "--ckpt-path", predictor, "--latency-constraint", *constraints, "--write-config-path",
        workdir / "search" / "hat.yml", "--search-dir", workdir / "search", "--valid-cnt-max", args.valid_cnt_max,
        "--evo-iter", args.evo_iter, "--population-size", args.population_size, "--parent-size", args.parent_size,
        "--mutation-size", args.mutation_size, "--crossover-size", args.crossover_size, "--json", capture_json=True))

    models = OrderedDict()
    for result in search["results"]:
        name = f"hat@{result['latency_constraint_ms']:g}ms"
        models[name] = {"family": "hat", "yml": result["config_path"], "common": args.common,
                        "predicted_latency_ms": result["predicted_latency_ms"], "search_loss": result["loss"],
                        "source_gain_bits": result.get("source_gain_bits")}
    for name, dims in args.baselines:
        yml, common = baseline_files(name, dims, args.common, workdir / "baselines")
        models[name] = {"family": "baseline", "yml": str(yml), "common": str(common)}
    for name, model in models.items():
        save_dir = workdir / "models" / name
        model["checkpoint"] = str(save_dir / "checkpoint_best.pt")
        model["train_wall_s"] = pipeline.stage(f"train_{name}", lambda: call(
            "train.py", data, f"--configs={model['yml']}", f"--sub-configs={model['common']}", "--save-dir", save_dir,
            "--max-update", args.train_updates, "--cpu", "--no-progress-bar", "--log-format", "simple") or {}
        )["stage_wall_s"]

    for name, model in models.items():
        model.update(pipeline.stage(f"test_{name}", lambda model=model: test_subtransformer(
            data, model["checkpoint"], model["yml"], model["common"])))
    latency = pipeline.stage("latency_final", lambda: measure_all(models, data, args))

    from ..latency.measure import device_name

    rows = [{"name": name, **model, **latency[name]} for name, model in models.items()]
    verdicts = compare([Point(r["name"], r["latency_ms"], r["bleu"]) for r in rows if r["family"] == "hat"],
                       [Point(r["name"], r["latency_ms"], r["bleu"]) for r in rows if r["family"] == "baseline"])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    context = {"cpu": device_name("cpu"), "threads": args.lat_threads, "commit": commit or "unknown",
               "command": "bash scripts/reproduce_multi30k.sh " + " ".join(sys.argv[1:]),
               "supernet_losses": validation_curves(super_dir / "train.log"),
               "supernet_wall_s": supernet["stage_wall_s"]}
    write_results(rows, verdicts, Path(args.results_dir), context)
    return {"rows": rows, "dominating": sum(v.dominates for v in verdicts), "hat_models": len(verdicts)}


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(sys.argv[1:] if argv is None else argv)
    result = run(args)
    print(f"| {result['dominating']} of {result['hat_models']} HAT models dominate the baselines; "
          f"results in {args.results_dir}/multi30k_en_de.md")
    return 0


if __name__ == "__main__":
    from . import run_cli

    sys.exit(run_cli(main))
