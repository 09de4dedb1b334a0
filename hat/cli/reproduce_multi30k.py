"""``hat-reproduce-multi30k`` (``bash scripts/reproduce_multi30k.sh``): HAT vs baseline Transformers on
Multi30k En-De, with latency measured on this CPU.

Run it from a checkout of this project: the configs (``--space``, ``--common``) and ``--results-dir``
default to paths relative to the current directory. Every stage is cached in ``--workdir``; the work is
:mod:`hat.experiments.multi30k`.
"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from ..errors import ConfigError
from ..experiments.multi30k import EXPERIMENTS, TASK, Multi30kSettings, baseline_spec, run
from .experiment_flags import add_latency_and_search_flags, run_or_stop

DEFAULTS = Multi30kSettings()


def baseline_text(text: str) -> str:
    """A ``--baselines`` value, checked (``E,F,H,Le,Ld``)."""
    try:
        baseline_spec(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="HAT vs baseline Transformers on Multi30k En-De, latency measured on this CPU (about two hours "
                    "on 2 cores); results in <results-dir>/multi30k_en_de.{md,json,png}. Run it from a checkout of "
                    "this project: the default config and results paths are relative to the current directory.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--workdir", default=DEFAULTS.workdir, help="folder of every stage's output (cached)")
    parser.add_argument("--experiment", choices=EXPERIMENTS, default=DEFAULTS.experiment,
                        help="multi30k_en_de: HAT vs the baselines; with the same --workdir, its trained models "
                             "are reused by multi30k_inherited_vs_scratch (inherited vs from-scratch BLEU), "
                             "multi30k_finetune (fine-tuning inherited weights), multi30k_deployment (ONNX "
                             "Runtime float32 / int8, pip install -e \".[deploy]\") and multi30k_supernet_training "
                             "(sandwich rule and in-place distillation vs uniform sampling), its SuperTransformer and "
                             "predictor by multi30k_search_vs_random and multi30k_design_space, its latency dataset "
                             "by predictor_accuracy; results in <results-dir>/<experiment>.{md,json,png}")
    parser.add_argument("--results-dir", default=DEFAULTS.results_dir,
                        help="where multi30k_en_de.{md,json,png} are written (relative to the current directory)")
    parser.add_argument("--raw-dir", default=DEFAULTS.raw_dir,
                        help="raw Multi30k files (train/val/test_2016_flickr .<lang>.gz), e.g. ../shared/data/multi30k; "
                             "%(default)s: download them")
    parser.add_argument("--data", help="an already binarised corpus instead of Multi30k (tests)")
    parser.add_argument("--search-seeds", type=int, nargs="+", default=list(DEFAULTS.search_seeds),
                        help="multi30k_search_vs_random: search seeds of each method")
    parser.add_argument("--comparison-generations", dest="comparison_evo_iter", type=int,
                        default=DEFAULTS.comparison_evo_iter,
                        help="multi30k_search_vs_random: generations of each search (population etc. as the main search)")
    parser.add_argument("--released-latency", metavar="DIR",
                        help="predictor_accuracy: the original's released latency CSVs to compare with this CPU's "
                             "(e.g. ../shared/data/hat_latency)")
    parser.add_argument("--mlp-train-steps", type=int, default=DEFAULTS.mlp_train_steps,
                        help="predictor_accuracy: training steps of the original's MLP predictor")
    parser.add_argument("--sandwich-random", type=int, default=DEFAULTS.sandwich_random,
                        help="multi30k_supernet_training: random SubTransformers per sandwich update (besides the "
                             "largest and the smallest)")
    parser.add_argument("--inplace-distill", type=float, default=DEFAULTS.inplace_distill,
                        help="multi30k_supernet_training: weight of the in-place distillation loss")
    parser.add_argument("--space", default=DEFAULTS.space,
                        help=f"SuperTransformer / search-space YAML (the default is in a checkout: {TASK}/)")
    parser.add_argument("--common", default=DEFAULTS.common,
                        help=f"SubTransformer training YAML, the original's common.yml (the default is in a checkout: "
                             f"{TASK}/)")
    parser.add_argument("--supernet-updates", type=int, default=DEFAULTS.supernet_updates,
                        help="training updates of the SuperTransformer")
    parser.add_argument("--train-updates", type=int, default=DEFAULTS.train_updates,
                        help="budget of every HAT / baseline model")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULTS.seeds),
                        help="training seeds: every model is trained once per seed (mean and std reported)")
    parser.add_argument("--jobs", type=int, default=DEFAULTS.jobs,
                        help="trainings (and the comparison searches) run at once, each in its own process on "
                             "cores/N threads with its output in <save dir>/train.out (<search dir>/search.out); "
                             "training times are then measured N at a time")
    add_latency_and_search_flags(parser, DEFAULTS)
    parser.add_argument("--final-latiter", type=int, default=DEFAULTS.final_latiter,
                        help="timed runs per side in the final interleaved latency measurements of the trained models")
    parser.add_argument("--quantiles", type=float, nargs=3, default=DEFAULTS.quantiles,
                        help="latency constraints: these quantiles of the predicted latencies of the measured "
                             "SubTransformers")
    parser.add_argument("--valid-cnt-max", type=int, default=DEFAULTS.valid_cnt_max,
                        help="validation batches of the search's fitness")
    parser.add_argument("--baselines", nargs="+", type=baseline_text, default=DEFAULTS.baselines,
                        metavar="E,F,H,Le,Ld",
                        help="baseline Transformers: embed dim, FFN dim, heads, encoder layers, decoder layers")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = get_parser().parse_args(argv)
    settings = Multi30kSettings(**vars(args), command=" ".join(["bash scripts/reproduce_multi30k.sh", *argv]))
    result = run_or_stop(run, settings)
    if result is None:
        return 0
    print(f"| {summary(settings.experiment, result)}; results in {settings.results_dir}/{settings.experiment}.md")
    return 0


def summary(experiment: str, result: dict) -> str:
    """The run's one-line outcome."""
    if experiment == "multi30k_deployment":
        met = sum(g["met"] for g in result["goals"])
        return f"{met} of {len(result['goals'])} searched SubTransformers meet the deployment goals"
    if experiment == "multi30k_inherited_vs_scratch":
        tau = "undefined" if result["kendall_tau"] is None else f"{result['kendall_tau']:.2f}"
        return f"Kendall's tau {tau} between inherited and from-scratch BLEU over {result['models']} SubTransformers"
    if experiment == "multi30k_search_vs_random":
        return "; ".join(f"{name}: loss {m['loss']:.4f}, BLEU {m['bleu']:.2f}" for name, m in result["winners"].items())
    if experiment == "multi30k_design_space":
        return "; ".join(f"{r['variant']}: BLEU {r['bleu']:.2f} at {r['latency_ms']:.1f} ms" for r in result["rows"])
    if experiment == "predictor_accuracy":
        return "; ".join(f"{r['dataset']} {r['model']} RMSE {r['rmse']:.2f} ms" for r in result["rows"])
    if experiment == "multi30k_supernet_training":
        taus = {name: result[name]["kendall_tau"] for name in ("uniform", "sandwich")}
        text = ", ".join(f"{name} {'undefined' if tau is None else f'{tau:.2f}'}" for name, tau in taus.items())
        return f"Kendall's tau {text}; goal {'met' if result['goal']['met'] else 'not met'}"
    if experiment == "multi30k_finetune":
        gaps = ", ".join(f"{r['gap']:+.2f}" for r in result["rows"])
        return f"fine-tuned - from scratch BLEU: {gaps}"
    return f"{result['beaten']} of {result['baselines']} baselines beaten by HAT"


def cli() -> None:
    """The ``hat-reproduce-multi30k`` console command."""
    from . import run_cli

    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
