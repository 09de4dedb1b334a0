#!/usr/bin/env python
"""Cost of the evolutionary search with this project's loss cache vs the original (no cache), side by side.

Runs the same schedule, seed, supernet, predictor and validation batches twice in one process: once
re-evaluating every member of every generation (the original), once with the cache. Checks that both
pick the same SubTransformer and prints the ratios of loss evaluations and wall time.

    python benchmarks/search_cost.py --configs=configs/multi30k.en-de/supertransformer/space0.yml \\
        --evo-configs=configs/multi30k.en-de/evo_search/cpu.yml --restore-file <supernet.pt> \\
        --latency-constraint 60 --valid-cnt-max 4 [--json]

Every ``evo_search.py`` flag is accepted; only the first ``--latency-constraint`` is used.
"""
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hat.cli import run_cli  # noqa: E402
from hat.search.runner import CONFIG_FLAGS, build_fitness, get_parser, setup  # noqa: E402
from hat.config_args import parse_config_args  # noqa: E402
from hat.search import EvolutionarySearch  # noqa: E402


def main(argv=None) -> int:
    args = parse_config_args(get_parser(), sys.argv[1:] if argv is None else argv, CONFIG_FLAGS)
    args.write_config_path = args.write_config_path or "unused.yml"  # nothing is written
    prepared = setup(args)
    fitness = build_fitness(args, prepared.model)
    constraints = prepared.constraints[0]
    runs = {}
    for cache in (False, True):
        search = EvolutionarySearch(prepared.space, prepared.settings, fitness, prepared.costs, seed=args.seed,
                                    cache=cache)
        start = time.perf_counter()
        result = search.run(constraints)
        runs[cache] = (result, search.evaluations, time.perf_counter() - start)
        print(f"| {'cached  ' if cache else 'original'}: {search.evaluations} loss evaluations, "
              f"{runs[cache][2]:.1f} s, loss {result.loss:.4f}, predicted {result.latency_ms:.2f} ms",
              file=sys.stderr)
    (original, n_original, t_original), (cached, n_cached, t_cached) = runs[False], runs[True]
    report = {
        "evaluations_cached": n_cached, "evaluations_original": n_original,
        "evaluation_ratio": n_original / n_cached, "wall_original_s": t_original, "wall_cached_s": t_cached,
        "wall_ratio": t_original / t_cached, "same_result": original.gene == cached.gene and original.loss == cached.loss,
        "schedule": f"{prepared.settings.evo_iter} x {prepared.settings.population_size}",
        "valid_batches": len(fitness.batches), "latency_constraint_ms": constraints.latency_ms, "seed": args.seed,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"| loss evaluations: original {n_original}, cached {n_cached} ({report['evaluation_ratio']:.2f}x fewer)")
        print(f"| wall time: original {t_original:.1f} s, cached {t_cached:.1f} s ({report['wall_ratio']:.2f}x faster)")
        print(f"| same SubTransformer chosen: {report['same_result']}")
    return 0 if report["same_result"] else 1


if __name__ == "__main__":
    sys.exit(run_cli(main))
