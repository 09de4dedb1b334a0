"""``hat-demo`` (``bash scripts/demo.sh``): the whole HAT pipeline, end to end, on this machine.

Synthetic corpus -> SuperTransformer -> latency dataset -> latency predictor -> evolutionary search ->
SubTransformer training -> BLEU, latency, #params, FLOPs; the work is :mod:`hat.experiments.demo`.
Everything goes into ``--workdir``; a rerun skips the stages that finished.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Optional, Sequence

from ..experiments.demo import SPACE_FILE, DemoSettings, run
from .experiment_flags import add_latency_and_search_flags, run_or_stop

DEFAULTS = DemoSettings()


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0].replace("``", ""),
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--workdir", default=DEFAULTS.workdir, help="folder for everything the demo writes")
    parser.add_argument("--data", help="a binarised corpus (fairseq-preprocess output) instead of the synthetic one")
    parser.add_argument("--source-lang", help="source language of --data (%(default)s: from its dict files)")
    parser.add_argument("--target-lang", help="target language of --data (%(default)s: from its dict files)")
    parser.add_argument("--space", help=f"SuperTransformer/search-space YAML instead of the demo's (hat/experiments/"
                                        f"{SPACE_FILE}, with the language pair added)")
    parser.add_argument("--supernet-updates", type=int, default=DEFAULTS.supernet_updates,
                        help="training updates of the SuperTransformer")
    parser.add_argument("--subtransformer-updates", type=int, default=DEFAULTS.subtransformer_updates,
                        help="training updates of the searched SubTransformer")
    add_latency_and_search_flags(parser, DEFAULTS)
    parser.add_argument("--constraint-quantile", type=float, default=DEFAULTS.constraint_quantile,
                        help="the latency constraint is this quantile of the predicted latencies of the measured "
                             "SubTransformers")
    parser.add_argument("--synthetic-sizes", type=int, nargs=3, default=DEFAULTS.synthetic_sizes,
                        metavar=("TRAIN", "VALID", "TEST"), help="sentence pairs of the synthetic corpus")
    parser.add_argument("--synthetic-vocab", type=int, default=DEFAULTS.synthetic_vocab,
                        help="words per language of the synthetic corpus")
    parser.add_argument("--threads", type=lambda v: None if v == "all" else int(v), default=DEFAULTS.threads,
                        help="CPU threads for training and search ('all': PyTorch's default, every core); 1 keeps "
                             "the demo from slowing down several-fold beside another busy process "
                             "(benchmarks/demo_threads.py measures both)")
    parser.add_argument("--quiet", action="store_true",
                        help="training output to <workdir>/logs/ instead of the terminal: stages, commands and summary")
    return parser


def measured_line(summary: dict) -> str:
    """The test step's measured latency vs the prediction, flagged when it exceeds the constraint."""
    measured, constraint = summary["measured_latency_ms"], summary["latency_constraint_ms"]
    low, high = summary.get("measured_latency_range_ms") or (None, None)
    line = (f"{measured:.2f} ms ({100 * (measured / summary['predicted_latency_ms'] - 1):+.1f}% vs predicted"
            + (f"; rounds {low:.2f}-{high:.2f} ms" if low is not None else "") + ")")
    if measured > constraint:
        line += (f"  ABOVE THE CONSTRAINT by {100 * (measured / constraint - 1):.1f}%: the machine was busier than when "
                 "the dataset was measured, or the predictor is biased (see the verification lines above)")
    return line


def print_summary(summary: dict, workdir: str) -> None:
    rows = [
        ("latency constraint", f"{summary['latency_constraint_ms']:.2f} ms (from the measured "
                               f"{summary['latency_dataset']['min_ms']:.1f}-{summary['latency_dataset']['max_ms']:.1f} ms)"),
        ("predicted latency", f"{summary['predicted_latency_ms']:.2f} ms"),
        *([("verified latency", f"{summary['verified_latency_ms']:.2f} ms (measured by the search, which chose by it)")]
          if summary.get("verified_latency_ms") is not None else []),
        ("measured latency", measured_line(summary)),
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
    settings = DemoSettings(**vars(args))
    # fairseq's in-process steps (generation, data loading) log their whole config and debug lines through a
    # root logger that fairseq's imports set to INFO; the demo's own progress lines are printed
    logging.getLogger().setLevel(logging.WARNING)
    summary = run_or_stop(run, settings)
    if summary is not None:
        print_summary(summary, settings.workdir)
    return 0


def cli() -> None:
    """The ``hat-demo`` console command."""
    from . import run_cli

    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
