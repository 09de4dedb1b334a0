#!/usr/bin/env python
"""Does the searched SubTransformer meet its latency constraint when measured on this machine?

Takes a Multi30k reproduction work folder whose ``latency_predictor`` stage has finished
(``bash scripts/reproduce_multi30k.sh --workdir DIR --stop-after latency_predictor``: the SuperTransformer, a
latency dataset measured here and its predictor), then:

1. searches under ``--quantiles`` of the predicted latencies of the measured SubTransformers (one search,
   every constraint), with on-device verification (``--verify-on-device``, on by default for a predictor of
   this machine): each constraint's answer is the best-loss candidate whose *measured* latency meets it;
2. measures every chosen SubTransformer again, with the reproduction's final procedure (interleaved rounds
   under the calibration probe, latiter 20), independently of the measurement the search chose by.

Per constraint it prints the predicted, verified and re-measured latency, whether the re-measured latency
meets the constraint and the measured / predicted ratio; ``--json`` prints the rows and the settings.
Run it with nothing else running on the machine.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hat.experiments import steps  # noqa: E402
from hat.experiments.multi30k import Multi30kSettings  # noqa: E402
from hat.experiments.stages import latency_constraints  # noqa: E402

DEFAULTS = Multi30kSettings()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--workdir", required=True, help="a reproduction work folder, finished up to latency_predictor")
    parser.add_argument("--space", default=DEFAULTS.space)
    parser.add_argument("--common", default=DEFAULTS.common)
    parser.add_argument("--quantiles", type=float, nargs="+", default=[0.2, 0.4, 0.6, 0.8])
    parser.add_argument("--evo-iter", type=int, default=10)
    parser.add_argument("--population-size", type=int, default=50)
    parser.add_argument("--parent-size", type=int, default=10)
    parser.add_argument("--mutation-size", type=int, default=20)
    parser.add_argument("--crossover-size", type=int, default=20)
    parser.add_argument("--valid-cnt-max", type=int, default=3)
    parser.add_argument("--lat-rounds", type=int, default=DEFAULTS.lat_rounds,
                        help="interleaved rounds of the verification and of the re-measurement")
    parser.add_argument("--lat-threads", type=int, default=DEFAULTS.lat_threads)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    workdir = Path(args.workdir)
    lat_csv, predictor = workdir / "latency" / "latency.csv", workdir / "latency" / "predictor.pt"
    data_stage, checkpoint = workdir / "stages" / "data.json", workdir / "supertransformer" / "checkpoint_last.pt"
    for path in (data_stage, lat_csv, predictor, checkpoint):
        if not path.exists():
            raise SystemExit(f"error: {path} not found: run the reproduction up to --stop-after latency_predictor")
    data = Path(json.loads(data_stage.read_text())["data"])
    out = workdir / "constraint_check"
    constraints = latency_constraints(lat_csv, predictor, args.quantiles)
    started = time.perf_counter()
    summary = steps.search(data, args.space, checkpoint, predictor, constraints, out / "hat.yml", out / "search",
                           evo_iter=args.evo_iter, population_size=args.population_size, parent_size=args.parent_size,
                           mutation_size=args.mutation_size, crossover_size=args.crossover_size,
                           valid_cnt_max=args.valid_cnt_max, verify_rounds=args.lat_rounds)
    search_wall_s = time.perf_counter() - started
    results = {f"hat@{r['latency_constraint_ms']:g}ms": r for r in summary["results"]}
    remeasured = steps.interleaved_latency({name: (r["config_path"], args.common) for name, r in results.items()},
                                           data, args.lat_threads, 20, args.lat_rounds)
    rows = [{"name": name, "constraint_ms": r["latency_constraint_ms"], "predicted_ms": r["predicted_latency_ms"],
             "verified_ms": r.get("verified_latency_ms"), "measured_ms": remeasured[name]["latency_ms"],
             "measured_range_ms": [remeasured[name]["latency_min_ms"], remeasured[name]["latency_max_ms"]],
             "meets": remeasured[name]["latency_ms"] <= r["latency_constraint_ms"],
             "measured_over_predicted": remeasured[name]["latency_ms"] / r["predicted_latency_ms"],
             "predictor_bias": r.get("predictor_bias"), "loss": r["loss"]}
            for name, r in results.items()]
    report = {"rows": rows, "quantiles": args.quantiles, "search_wall_s": round(search_wall_s, 1),
              "wall_s": round(time.perf_counter() - started, 1), "evaluations": summary["evaluations"],
              "schedule": {k: getattr(args, k) for k in ("evo_iter", "population_size", "parent_size", "mutation_size",
                                                          "crossover_size", "valid_cnt_max", "lat_rounds")}}
    if args.json:
        print(json.dumps(report))
        return 0
    print("| constraint | predicted | verified | re-measured (range) | meets | measured/predicted |")
    for row in rows:
        low, high = row["measured_range_ms"]
        verified = "-" if row["verified_ms"] is None else f"{row['verified_ms']:.2f}"
        print(f"| {row['constraint_ms']:.2f} | {row['predicted_ms']:.2f} | {verified} | "
              f"{row['measured_ms']:.2f} ({low:.2f}-{high:.2f}) | {'yes' if row['meets'] else 'NO'} | "
              f"{row['measured_over_predicted']:.3f} |")
    print(f"| {sum(r['meets'] for r in rows)}/{len(rows)} meet their constraint; search {search_wall_s:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
