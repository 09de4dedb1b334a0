"""The demo pipeline end to end with tiny sizes (CPU, synthetic corpus, no network), run outside the checkout."""
import json
import os
import subprocess
import sys

from conftest import ROOT
from hat.experiments.stages import latency_constraints

TINY = ["--supernet-updates", "30", "--subtransformer-updates", "20", "--latency-rows", "12", "--latiter", "2",
        "--evo-iter", "2", "--population-size", "8", "--parent-size", "2", "--mutation-size", "3",
        "--crossover-size", "3", "--synthetic-sizes", "300", "24", "12", "--constraint-quantile", "0.8",
        "--lat-rounds", "2", "--quiet",
        # choose by prediction: the on-device verification has its own tests (test_search_verify.py); here a machine
        # whose speed drifts between the 12-row latency dataset and the search would fail the demo
        "--verify-on-device", "0"]
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
    # no assertion compares a measured time with a constraint or a prediction: it would depend on this machine
    assert summary["predicted_latency_ms"] <= summary["latency_constraint_ms"]
    # --verify-on-device 0 reached the search, which chose by prediction and says so; the test step measured in rounds
    assert summary["verified_latency_ms"] is None
    assert "--verify-on-device 0" in proc.stdout and "| on-device verification turned off" in proc.stdout
    assert "| verified latency" not in proc.stdout and "verifying the" not in proc.stdout
    low, high = summary["measured_latency_range_ms"]
    assert 0 < low <= summary["measured_latency_ms"] <= high
    # --quiet: the trainings' output went to the work folder's logs, not the terminal
    assert "| epoch 001" not in proc.stdout and "num_updates" in (workdir / "logs" / "supertransformer.log").read_text()
    lat = summary["latency_dataset"]
    assert lat["rows"] == 12 and 0 < lat["min_ms"] <= lat["mean_ms"] <= lat["max_ms"]
    # the constraint is the 0.8 quantile of the predictor's latencies of the measured SubTransformers
    assert summary["latency_constraint_ms"] == latency_constraints(
        workdir / "latency" / "latency.csv", workdir / "latency" / "predictor.pt", [0.8])[0]
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
