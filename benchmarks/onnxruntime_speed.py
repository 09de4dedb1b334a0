#!/usr/bin/env python
"""Latency of SubTransformers on PyTorch eager vs ONNX Runtime float32 vs ONNX Runtime int8, side by side.

A fixed set of SubTransformers of the Multi30k search space (the largest, the smallest and search-space samples
0..N-3) is measured with the latency protocol of ``latency_dataset.py`` (dummy sentence, beam 5, encoder + L
decoder steps) on each backend (``--lat-backend``), in interleaved rounds under the calibration probe, all models
and backends taking turns so that a slow period touches all of them. Per SubTransformer it prints the median
latency on each backend and the ratios to PyTorch; then the median ratios. ``--json`` prints one object. Run it
with nothing else running on the machine.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hat  # noqa: E402,F401
from hat.latency.backends import BACKENDS  # noqa: E402
from hat.latency.interleaved import measure_interleaved  # noqa: E402
from hat.latency.measure import MeasureSettings, build_for_latency, measure_latency, prepare_model  # noqa: E402
from hat.latency.probe import CalibrationProbe  # noqa: E402
from hat.search_space import SearchSpace  # noqa: E402
from hat.training import parse_train_args  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SPACE = ROOT / "configs" / "multi30k.en-de" / "supertransformer" / "space0.yml"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--models", type=int, default=8, help="SubTransformers: largest, smallest, samples")
    parser.add_argument("--latiter", type=int, default=10, help="timed runs per side (the datasets' setting)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--vocab-size", type=int, default=7976, help="the Multi30k En-De joined dictionary")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print

    margs = parse_train_args(["data", f"--configs={SPACE}"])
    space = SearchSpace.from_args(margs)
    configs = {"largest": space.largest(), "smallest": space.smallest(),
               **{f"sample{i}": space.sample(i) for i in range(max(0, args.models - 2))}}
    model = build_for_latency(margs, args.vocab_size)
    started = time.perf_counter()
    measurements = {}
    for backend in BACKENDS:
        settings = MeasureSettings(device="cpu", latiter=args.latiter, length=20, threads=args.threads, backend=backend)
        for name, config in configs.items():
            prepare_model(model, config, settings)  # the ONNX export, before any timing
            measurements[f"{name} {backend}"] = lambda c=config, s=settings: measure_latency(model, c, s).latency_ms
    log(f"| {len(configs)} SubTransformers x {len(BACKENDS)} backends exported in {time.perf_counter() - started:.0f} s")
    probe = CalibrationProbe.for_threads(args.threads)
    summaries = measure_interleaved(measurements, args.rounds, probe, log)
    rows = []
    for name in configs:
        ms = {backend: summaries[f"{name} {backend}"]["latency_ms"] for backend in BACKENDS}
        rows.append({"name": name, **{f"{b}_ms": v for b, v in ms.items()},
                     **{f"{b}_ratio": ms[b] / ms["torch"] for b in BACKENDS[1:]},
                     "flagged_rounds": sum(summaries[f"{name} {b}"]["flagged_rounds"] for b in BACKENDS)})
    result = {"rows": rows, **{f"median_{b}_ratio": float(np.median([r[f"{b}_ratio"] for r in rows])) for b in BACKENDS[1:]},
              "models": len(configs), "latiter": args.latiter, "threads": args.threads, "rounds": args.rounds,
              "probe": probe.report(), "wall_s": round(time.perf_counter() - started, 1)}
    if args.json:
        print(json.dumps(result))
    else:
        print("| model | torch (ms) | onnxruntime (ms) | onnxruntime-int8 (ms) | ort / torch | int8 / torch |")
        for r in rows:
            print(f"| {r['name']} | {r['torch_ms']:.1f} | {r['onnxruntime_ms']:.1f} | {r['onnxruntime-int8_ms']:.1f} | "
                  f"{r['onnxruntime_ratio']:.2f} | {r['onnxruntime-int8_ratio']:.2f} |")
        print(f"| median ratio to torch: onnxruntime {result['median_onnxruntime_ratio']:.2f}, "
              f"onnxruntime-int8 {result['median_onnxruntime-int8_ratio']:.2f}")
        print(probe.summary_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
