#!/usr/bin/env python
"""The demo's stage times with 1 CPU thread vs every core, on a quiet machine and beside one busy process.

Runs the demo (``python -m hat.cli.demo``, the sizes given here, a fresh work folder each time) for every
combination of ``--threads`` (1 and ``all``) and neighbour (none, one busy-looping process started and
stopped by this benchmark, as another job on the machine), and prints each stage's wall time
(``<workdir>/stages/<stage>.json``) side by side; ``--json`` prints them as one object. Run it with
nothing else running: the neighbour is the one this benchmark makes.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STAGES = ("supertransformer", "latency_dataset", "latency_predictor", "evo_search", "subtransformer", "test")


def busy(deadline: float) -> None:
    while time.time() < deadline:
        pass


def run_demo(workdir: Path, threads: str, sizes: list[str], neighbour: bool) -> dict:
    load = multiprocessing.Process(target=busy, args=(time.time() + 3600,), daemon=True) if neighbour else None
    if load:
        load.start()
    started = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-m", "hat.cli.demo", "--workdir", str(workdir), "--threads", threads,
                               "--quiet", *sizes], capture_output=True, text=True)
    finally:
        if load:
            load.kill()
    if proc.returncode != 0:
        raise SystemExit(f"demo failed ({threads} threads, neighbour {neighbour}):\n{proc.stderr[-2000:]}")
    stages = {s: json.loads((workdir / "stages" / f"{s}.json").read_text())["stage_wall_s"] for s in STAGES}
    return {"stages_s": stages, "total_s": round(time.perf_counter() - started, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--supernet-updates", default="300")
    parser.add_argument("--subtransformer-updates", default="200")
    parser.add_argument("--latency-rows", default="40")
    parser.add_argument("--evo-iter", default="5")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = ["--supernet-updates", args.supernet_updates, "--subtransformer-updates", args.subtransformer_updates,
             "--latency-rows", args.latency_rows, "--evo-iter", args.evo_iter]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for neighbour in (False, True):
            for threads in ("1", "all"):
                key = f"threads={threads},{'one busy neighbour' if neighbour else 'quiet'}"
                results[key] = run_demo(Path(tmp) / key.replace(",", "_").replace(" ", "_"), threads, sizes, neighbour)
                print(f"| {key}: {results[key]['total_s']:.0f} s  " + ", ".join(
                    f"{s} {t:.0f}" for s, t in results[key]["stages_s"].items()), file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps({"sizes": sizes, "runs": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
