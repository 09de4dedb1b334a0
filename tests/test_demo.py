"""The demo pipeline end to end with tiny sizes (CPU, synthetic corpus, no network), run outside the checkout."""
import json
import os
import subprocess
import sys

from conftest import ROOT

TINY = ["--supernet-updates", "30", "--subtransformer-updates", "20", "--latency-rows", "12", "--latiter", "2",
        "--evo-iter", "2", "--population-size", "8", "--parent-size", "2", "--mutation-size", "3",
        "--crossover-size", "3", "--synthetic-sizes", "300", "24", "12", "--constraint-quantile", "0.8",
        "--lat-rounds", "2", "--quiet"]
STAGES = ("data", "supertransformer", "latency_dataset", "latency_predictor", "evo_search", "subtransformer", "test")


def run_outside(cmd, cwd, timeout):
    """Run ``cmd`` in ``cwd`` (a folder outside the checkout) with this Python and the checkout's ``hat``."""
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def test_demo_runs_every_stage_then_skips_them(tmp_path):
    # python -m hat.cli.demo from a folder outside the checkout: nothing it needs is a file of the checkout
    proc = run_outside([sys.executable, "-m", "hat.cli.demo", "--workdir", "demo", *TINY], tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    workdir = tmp_path / "demo"
    summary = json.loads((workdir / "summary.json").read_text())
    for key in ("bleu", "measured_latency_ms", "predicted_latency_ms", "latency_constraint_ms", "params", "flops"):
        assert key in summary
    assert 0 <= summary["bleu"] <= 100 and 0 <= summary["sacrebleu"] <= 100
    assert summary["measured_latency_ms"] > 0 and summary["params"] > 0 and summary["flops"] > 0
    assert summary["predicted_latency_ms"] <= summary["latency_constraint_ms"]
    # the search chose by a measurement on this machine, and says so; the test step measured in rounds
    assert 0 < summary["verified_latency_ms"] <= summary["latency_constraint_ms"]
    low, high = summary["measured_latency_range_ms"]
    assert low <= summary["measured_latency_ms"] <= high
    assert "| verified latency" in proc.stdout and "verifying the 5 best candidates" in proc.stdout
    # --quiet: the trainings' output went to the work folder's logs, not the terminal
    assert "| epoch 001" not in proc.stdout and "num_updates" in (workdir / "logs" / "supertransformer.log").read_text()
    lat = summary["latency_dataset"]
    assert lat["rows"] == 12 and lat["min_ms"] <= summary["latency_constraint_ms"] <= lat["max_ms"]
    assert (workdir / "search" / "search.png").read_bytes()[:4] == b"\x89PNG"
    for stage in STAGES:
        assert (workdir / "stages" / f"{stage}.json").is_file()
    assert "=== HAT demo summary" in proc.stdout and "$ hat-train demo/data/bin" in proc.stdout  # commands are shown
    assert "source-lang: src" in (workdir / "configs" / "space.yml").read_text()  # the packaged space + languages

    again = run_outside(["bash", str(ROOT / "scripts" / "demo.sh"), "--workdir", "demo", *TINY], tmp_path, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("done before, skipped") == len(STAGES)
    rerun = json.loads((workdir / "summary.json").read_text())
    assert {k: v for k, v in rerun.items() if k != "wall_s_this_run"} == {
        k: v for k, v in summary.items() if k != "wall_s_this_run"}
