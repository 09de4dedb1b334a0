#!/usr/bin/env python
"""Latency measured while a noisy neighbour runs: the original procedure vs the probe-guarded one.

1. Quiet reference: a fixed set of SubTransformers of the Multi30k search space, each measured
   ``--quiet-rounds`` times in interleaved rounds under the calibration probe; the median is its quiet value.
2. Noisy phase: the benchmark starts its own intermittent CPU load, one busy-looping process per core,
   all on for ``--load-on`` seconds and off for ``--load-off`` seconds (bounded: they stop by themselves
   after ``--load-seconds`` and are killed at the end). Meanwhile every SubTransformer is measured
   ``--passes`` times with the original procedure (one measurement, recorded as it is) and with the new
   one (the same measurement under the probe: repeated while the machine is busy, flagged if it never
   became quiet), alternating the two so both see the same load.

It prints, per procedure, the maximum and mean absolute deviation from the quiet values (fractions, over
the unflagged measurements) and how many measurements were flagged; ``--json`` prints
``{"original": {...}, "robust": {...}}``. Run it with nothing else running on the machine.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hat  # noqa: E402,F401
from hat.latency.interleaved import measure_interleaved  # noqa: E402
from hat.latency.measure import MeasureSettings, build_for_latency, measure_latency  # noqa: E402
from hat.latency.probe import CalibrationProbe, ProbeSettings  # noqa: E402
from hat.training import parse_train_args  # noqa: E402
from hat.search_space import SearchSpace  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "configs" / "multi30k.en-de" / "supertransformer" / "space0.yml"


def busy_loop(deadline: float, on_s: float, off_s: float, start: float) -> None:
    """Burn one core in bursts: on for ``on_s``, off for ``off_s`` (phase-locked to ``start``), until ``deadline``."""
    period = on_s + off_s
    while time.time() < deadline:
        phase = (time.time() - start) % period
        if phase < on_s:
            x = 0
            while (time.time() - start) % period < on_s and time.time() < deadline:
                x += 1
        else:
            time.sleep(period - phase)


def start_load(seconds: float, on_s: float, off_s: float) -> list:
    start = time.time()
    procs = [multiprocessing.Process(target=busy_loop, args=(start + seconds, on_s, off_s, start), daemon=True)
             for _ in range(os.cpu_count() or 1)]
    for proc in procs:
        proc.start()
    return procs


def deviations(values: list[float], quiet: float) -> list[float]:
    return [abs(v / quiet - 1) for v in values]


def summary(devs: list[float], flagged: int, measurements: int) -> dict:
    return {"max_abs_dev": float(max(devs)) if devs else None, "mean_abs_dev": float(np.mean(devs)) if devs else None,
            "flagged": flagged, "measurements": measurements}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", type=int, default=8, help="SubTransformers (search-space samples 0..N-1)")
    parser.add_argument("--latiter", type=int, default=10, help="timed runs per side (the datasets' setting)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--vocab-size", type=int, default=7976, help="the Multi30k En-De joined dictionary")
    parser.add_argument("--quiet-rounds", type=int, default=5)
    parser.add_argument("--passes", type=int, default=3, help="noisy measurements per model and procedure")
    parser.add_argument("--load-on", type=float, default=3.0)
    parser.add_argument("--load-off", type=float, default=6.0)
    parser.add_argument("--load-seconds", type=float, default=900.0, help="upper bound of the load's life")
    parser.add_argument("--threshold", type=float, default=ProbeSettings.threshold)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    margs = parse_train_args(["data", f"--configs={SPACE}"])
    space = SearchSpace.from_args(margs)
    configs = [space.sample(seed) for seed in range(args.models)]
    model = build_for_latency(margs, args.vocab_size)
    settings = MeasureSettings(device="cpu", latiter=args.latiter, length=20, threads=args.threads)
    measure = {f"sub{i}": (lambda c=c: measure_latency(model, c, settings).latency_ms) for i, c in enumerate(configs)}
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print

    started = time.perf_counter()
    probe = CalibrationProbe.for_threads(args.threads, ProbeSettings(threshold=args.threshold))
    quiet = {name: r["latency_ms"] for name, r in measure_interleaved(measure, args.quiet_rounds, probe, log).items()}
    log(f"| quiet values (ms): {', '.join(f'{n} {v:.1f}' for n, v in quiet.items())}; probe {probe.baseline_ms:.2f} ms")

    noisy_probe = CalibrationProbe.for_threads(args.threads, ProbeSettings(threshold=args.threshold))
    noisy_probe.calibrate()
    load = start_load(args.load_seconds, args.load_on, args.load_off)
    original: dict[str, list[float]] = {n: [] for n in measure}
    robust: dict[str, list[tuple[float, bool]]] = {n: [] for n in measure}
    try:
        for pass_ in range(args.passes):
            for name, run in measure.items():
                original[name].append(run())
                probed = noisy_probe.measure(run)
                robust[name].append((probed.result, probed.flagged))
            log(f"| noisy pass {pass_ + 1}/{args.passes}: " + ", ".join(
                f"{n} {original[n][-1] / quiet[n] - 1:+.0%}/{robust[n][-1][0] / quiet[n] - 1:+.0%}" for n in measure))
    finally:
        for proc in load:
            proc.kill()
    result = {
        "original": summary([d for n in measure for d in deviations(original[n], quiet[n])], 0,
                            sum(map(len, original.values()))),
        "robust": summary([d for n in measure for d in deviations([v for v, f in robust[n] if not f], quiet[n])],
                          sum(f for n in measure for _, f in robust[n]), sum(map(len, robust.values()))),
        "remeasured": noisy_probe.repeated, "models": args.models, "latiter": args.latiter, "threads": args.threads,
        "load": {"processes": os.cpu_count(), "on_s": args.load_on, "off_s": args.load_off},
        "quiet_ms": quiet, "wall_s": round(time.perf_counter() - started, 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for procedure in ("original", "robust"):
            r = result[procedure]
            print(f"| {procedure:8s}: max |dev| {r['max_abs_dev']:.1%}, mean |dev| {r['mean_abs_dev']:.1%}, "
                  f"flagged {r['flagged']}/{r['measurements']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
