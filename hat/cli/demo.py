"""``bash scripts/demo.sh``: the whole HAT pipeline, end to end, on this machine.

1. data: a synthetic translation corpus generated here (or ``--data`` a binarised corpus);
2. train a small SuperTransformer;
3. measure a latency dataset of sampled SubTransformers on this CPU;
4. train the latency predictor;
5. evolutionary search under a latency constraint taken from the measured range;
6. train the searched SubTransformer from scratch;
7. test it: BLEU and SacreBLEU, measured vs predicted latency, #params, FLOPs.

Every stage runs the project's command-line tools (printed, so they can be rerun by hand), writes into
``--workdir``, and is recorded as done in ``<workdir>/stages/``: a rerun skips finished stages and an
interrupted stage starts again (the tools themselves resume). The end is a summary table,
``<workdir>/summary.json`` and the search plot.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Optional, Sequence


from ..io import write_text_atomic
from ..pipeline import Pipeline, call, languages, latency_constraints, test_subtransformer

SPACE_YAML = """\
# The demo SuperTransformer and its search space (small enough for a CPU).
arch: transformersuper
share-all-embeddings: True
max-tokens: 2048
source-lang: {src}
target-lang: {tgt}

optimizer: adam
adam-betas: (0.9, 0.98)
clip-norm: 0.0
weight-decay: 0.0001
dropout: 0.1
attention-dropout: 0.1
criterion: label_smoothed_cross_entropy
label-smoothing: 0.1
lr-scheduler: inverse_sqrt
warmup-updates: 100
warmup-init-lr: 1e-7
lr: 0.004
num-workers: 0
save-interval-updates: 100
keep-interval-updates: 1
no-epoch-checkpoints: True

encoder-embed-dim: 96
decoder-embed-dim: 96
encoder-ffn-embed-dim: 192
decoder-ffn-embed-dim: 192
encoder-layers: 3
decoder-layers: 3
encoder-attention-heads: 4
decoder-attention-heads: 4
qkv-dim: 96

encoder-embed-choice: [96, 64]
decoder-embed-choice: [96, 64]
encoder-ffn-embed-dim-choice: [192, 128, 64]
decoder-ffn-embed-dim-choice: [192, 128, 64]
encoder-layer-num-choice: [3]
decoder-layer-num-choice: [3, 2, 1]
encoder-self-attention-heads-choice: [4, 2]
decoder-self-attention-heads-choice: [4, 2]
decoder-ende-attention-heads-choice: [4, 2]
decoder-arbitrary-ende-attn-choice: [-1, 1, 2]
"""


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workdir", default="demo_run", help="folder for everything the demo writes (demo_run)")
    parser.add_argument("--data", help="a binarised corpus (fairseq-preprocess output) instead of the synthetic one")
    parser.add_argument("--source-lang", help="source language of --data (default: from its dict files)")
    parser.add_argument("--target-lang", help="target language of --data (default: from its dict files)")
    parser.add_argument("--space", help="SuperTransformer/search-space YAML instead of the embedded one")
    parser.add_argument("--supernet-updates", type=int, default=1000)
    parser.add_argument("--subtransformer-updates", type=int, default=700)
    parser.add_argument("--latency-rows", type=int, default=80, help="latency dataset size")
    parser.add_argument("--latiter", type=int, default=10, help="timed runs per latency measurement")
    parser.add_argument("--lat-threads", type=int, default=1, help="CPU threads for latency measurement")
    parser.add_argument("--constraint-quantile", type=float, default=0.4,
                        help="the latency constraint is this quantile of the predicted latencies of the measured "
                             "SubTransformers")
    parser.add_argument("--evo-iter", type=int, default=10)
    parser.add_argument("--population-size", type=int, default=40)
    parser.add_argument("--parent-size", type=int, default=8)
    parser.add_argument("--mutation-size", type=int, default=16)
    parser.add_argument("--crossover-size", type=int, default=16)
    parser.add_argument("--synthetic-sizes", type=int, nargs=3, default=(6000, 300, 300), metavar=("TRAIN", "VALID", "TEST"))
    parser.add_argument("--synthetic-vocab", type=int, default=400, help="words per language of the synthetic corpus")
    return parser


def run(args: argparse.Namespace) -> dict:
    workdir = Path(args.workdir)
    pipeline = Pipeline(workdir)
    started = time.perf_counter()

    def make_data() -> dict:
        if args.data:
            if not Path(args.data).is_dir():
                raise FileNotFoundError(f"--data folder not found: {args.data}")
            return {"data": str(Path(args.data))}
        from ..data.binarize import binarize
        from ..data.synthetic import write_synthetic_corpus

        text = write_synthetic_corpus(workdir / "data" / "text", sizes=tuple(args.synthetic_sizes),
                                      vocab_size=args.synthetic_vocab)
        return {"data": str(binarize(text, workdir / "data" / "bin", "src", "tgt"))}

    data = Path(pipeline.stage("data", make_data)["data"])
    src, tgt = languages(data, args.source_lang, args.target_lang)
    space = workdir / "configs" / "space.yml"
    common = workdir / "configs" / "common.yml"
    space_text = Path(args.space).read_text() if args.space else SPACE_YAML.format(src=src, tgt=tgt)
    write_text_atomic(space, space_text)
    write_text_atomic(common, space_text + "\ntrain-subtransformer: True\n")

    supernet_dir = workdir / "supertransformer"
    pipeline.stage("supertransformer", lambda: call(
        "train.py", data, f"--configs={space}", "--save-dir", supernet_dir, "--max-update", args.supernet_updates,
        "--cpu", "--log-interval", 100, "--no-progress-bar") or {"checkpoint": str(supernet_dir / "checkpoint_last.pt")})

    lat_csv = workdir / "latency" / "latency.csv"

    def latency_dataset() -> dict:
        call("latency_dataset.py", data, f"--configs={space}", "--latcpu", "--latsilent", "--lat-threads",
             args.lat_threads, "--latiter", args.latiter, "--lat-dataset-path", lat_csv, "--lat-dataset-size",
             args.latency_rows)
        from ..latency.dataset import read_latency_csv

        latency = read_latency_csv(lat_csv).latency
        return {"csv": str(lat_csv), "rows": int(len(latency)), "min_ms": float(latency.min()),
                "max_ms": float(latency.max()), "mean_ms": float(latency.mean())}

    measured = pipeline.stage("latency_dataset", latency_dataset)
    predictor = workdir / "latency" / "predictor.pt"
    fit = pipeline.stage("latency_predictor", lambda: call(
        "latency_predictor.py", "--lat-dataset-path", lat_csv, "--ckpt-path", predictor, "--json", capture_json=True))

    constraint = latency_constraints(lat_csv, predictor, [args.constraint_quantile])[0]
    searched = workdir / "search" / "subtransformer.yml"
    search = pipeline.stage("evo_search", lambda: call(
        "evo_search.py", data, f"--configs={space}", "--cpu", "--restore-file", supernet_dir / "checkpoint_last.pt",
        "--ckpt-path", predictor, "--latency-constraint", constraint, "--write-config-path", searched,
        "--search-dir", workdir / "search", "--evo-iter", args.evo_iter, "--population-size", args.population_size,
        "--parent-size", args.parent_size, "--mutation-size", args.mutation_size, "--crossover-size",
        args.crossover_size, "--json", capture_json=True))

    sub_dir = workdir / "subtransformer"
    pipeline.stage("subtransformer", lambda: call(
        "train.py", data, f"--configs={searched}", f"--sub-configs={common}", "--save-dir", sub_dir,
        "--max-update", args.subtransformer_updates, "--cpu", "--log-interval", 100, "--no-progress-bar") or {})

    def test() -> dict:
        latency = call("train.py", data, f"--configs={searched}", f"--sub-configs={common}", "--latcpu",
                       "--lat-threads", args.lat_threads, "--latiter", max(args.latiter, 20), "--json",
                       capture_json=True)
        return {**test_subtransformer(data, sub_dir / "checkpoint_best.pt", searched, common),
                "measured_latency_ms": latency["latency_ms"]}

    tested = pipeline.stage("test", test)
    result = search["results"][0]
    summary = {
        "bleu": tested["bleu"], "sacrebleu": tested["sacrebleu"],
        "measured_latency_ms": tested["measured_latency_ms"], "predicted_latency_ms": result["predicted_latency_ms"],
        "latency_constraint_ms": result["latency_constraint_ms"], "params": tested["params"], "flops": tested["flops"],
        "search_loss": result["loss"], "search_evaluations": search["evaluations"],
        "latency_dataset": measured, "predictor_test_mape": fit["test_mape"],
        "subtransformer_yaml": str(searched), "search_plot": search["plot"], "data": str(data),
        "wall_s_this_run": round(time.perf_counter() - started, 1),
    }
    write_text_atomic(workdir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def print_summary(summary: dict, workdir: str) -> None:
    rows = [
        ("latency constraint", f"{summary['latency_constraint_ms']:.2f} ms (from the measured "
                               f"{summary['latency_dataset']['min_ms']:.1f}-{summary['latency_dataset']['max_ms']:.1f} ms)"),
        ("predicted latency", f"{summary['predicted_latency_ms']:.2f} ms"),
        ("measured latency", f"{summary['measured_latency_ms']:.2f} ms "
                             f"({100 * (summary['measured_latency_ms'] / summary['predicted_latency_ms'] - 1):+.1f}% "
                             "vs predicted)"),
        ("BLEU / SacreBLEU", f"{summary['bleu']:.2f} / {summary['sacrebleu']:.2f}"),
        ("#params / FLOPs", f"{summary['params'] / 1e6:.3f}M / {summary['flops'] / 1e6:.1f}M"),
        ("search", f"{summary['search_evaluations']} loss evaluations, plot {summary['search_plot']}"),
        ("SubTransformer", summary["subtransformer_yaml"]),
    ]
    width = max(len(name) for name, _ in rows)
    print("\n=== HAT demo summary")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value}")
    print(f"| {'summary'.ljust(width)} | {Path(workdir) / 'summary.json'}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(sys.argv[1:] if argv is None else argv)
    summary = run(args)
    print_summary(summary, args.workdir)
    return 0


if __name__ == "__main__":
    from . import run_cli

    sys.exit(run_cli(main))
