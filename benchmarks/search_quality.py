#!/usr/bin/env python
"""Is the searched SubTransformer good and fast as predicted? Acceptance check of a finished search.

For each SubTransformer a finished ``evo_search.py`` run chose (read from its ``summary.json``):

* measures its latency on this machine (same procedure as the latency dataset: ``--latcpu``/``--latgpu``,
  ``--latiter``, ``--lat-threads``; ``--lat-repeats`` measurements, interleaved between the
  SubTransformers and averaged) and compares it with the predicted latency;
* draws as many random SubTransformers satisfying the same constraints as the search evaluated (seeded,
  no duplicates), evaluates their inherited validation loss, and compares the best with the search's.

    python benchmarks/search_quality.py <the evo_search.py arguments> --latcpu --latiter 10 --lat-threads 1 [--json]
"""
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hat.cli import run_cli  # noqa: E402
from hat.search.runner import CONFIG_FLAGS, build_fitness, get_parser, search_dir_of, setup  # noqa: E402
from hat.config_args import parse_config_args  # noqa: E402
from hat.latency.measure import (add_latency_args, build_for_latency, measure_latency, settings_from_args,  # noqa: E402
                                 vocab_size_from_args)
from hat.search import Constraints, canonical_gene  # noqa: E402
from hat.search.outputs import SUMMARY  # noqa: E402
from hat.search_space import ConfigError  # noqa: E402


def random_feasible(prepared, constraints: Constraints, count: int, seed: int) -> list:
    """``count`` distinct random SubTransformers (canonical genes) satisfying ``constraints``."""
    rng = random.Random(f"random-baseline/{seed}/{constraints.name}")
    found: dict = {}
    for _ in range(1000 * count):
        gene = tuple(rng.choice(c) for c in prepared.space.gene_choices())
        if prepared.costs.estimate([gene], constraints)[0].satisfies(constraints):
            found.setdefault(canonical_gene(prepared.space, gene), None)
            if len(found) == count:
                break
    return list(found)


def main(argv=None) -> int:
    parser = get_parser()
    add_latency_args(parser)
    parser.add_argument("--lat-repeats", type=int, default=5,
                        help="latency measurements per SubTransformer (interleaved), averaged (default 5)")
    args = parse_config_args(parser, sys.argv[1:] if argv is None else argv, CONFIG_FLAGS)
    search_dir = search_dir_of(args)
    if not (search_dir / SUMMARY).is_file():
        raise ConfigError(f"no finished search in {search_dir} (run evo_search.py with the same arguments first)")
    summary = json.loads((search_dir / SUMMARY).read_text())
    prepared = setup(args)
    settings = settings_from_args(args)
    timing_model = build_for_latency(prepared.model.args, vocab_size_from_args(args))
    fitness = build_fitness(args, prepared.model)
    measured = {i: [] for i in range(len(summary["results"]))}
    for _ in range(args.lat_repeats):  # repeats interleaved, so slow phases of a shared machine hit all alike
        for i, result in enumerate(summary["results"]):
            measured[i].append(measure_latency(timing_model, result["config"], settings).latency_ms)
    reports = []
    for i, result in enumerate(summary["results"]):
        constraints = Constraints(result["latency_constraint_ms"], result["max_params"], result["max_flops"])
        latency = float(np.mean(measured[i]))
        start = time.perf_counter()
        baseline = random_feasible(prepared, constraints, summary["evaluations"], args.seed)
        losses = [fitness(prepared.space.gene_to_config(gene)) for gene in baseline]
        reports.append({
            "latency_constraint_ms": constraints.latency_ms, "predicted_latency_ms": result["predicted_latency_ms"],
            "measured_latency_ms": latency, "measured_repeats_ms": measured[i],
            "measured_std_ms": float(np.std(measured[i])),
            "measured_vs_predicted": latency / result["predicted_latency_ms"] - 1,
            "search_loss": result["loss"], "random_configs": len(losses), "random_best_loss": min(losses),
            "random_median_loss": sorted(losses)[len(losses) // 2], "random_wall_s": time.perf_counter() - start,
            "search_beats_random": result["loss"] < min(losses),
        })
        r = reports[-1]
        print(f"| {constraints.name}: measured {r['measured_latency_ms']:.2f} ms vs predicted "
              f"{r['predicted_latency_ms']:.2f} ms ({100 * r['measured_vs_predicted']:+.1f}%); search loss "
              f"{r['search_loss']:.4f} vs best of {r['random_configs']} random feasible {r['random_best_loss']:.4f}",
              file=sys.stderr)
    if args.json:
        print(json.dumps({"search_evaluations": summary["evaluations"], "search_wall_s": summary["wall_s"],
                          "results": reports}))
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
