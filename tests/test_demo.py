"""The demo pipeline end to end with tiny sizes (CPU, synthetic corpus, no network)."""
import json

from conftest import run

TINY = ["--supernet-updates", "30", "--subtransformer-updates", "20", "--latency-rows", "12", "--latiter", "2",
        "--evo-iter", "2", "--population-size", "8", "--parent-size", "2", "--mutation-size", "3",
        "--crossover-size", "3", "--synthetic-sizes", "300", "40", "40"]
STAGES = ("data", "supertransformer", "latency_dataset", "latency_predictor", "evo_search", "subtransformer", "test")


def test_demo_runs_every_stage_then_skips_them(tmp_path):
    workdir = tmp_path / "demo"
    proc = run(["bash", "scripts/demo.sh", "--workdir", str(workdir), *TINY], timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = json.loads((workdir / "summary.json").read_text())
    for key in ("bleu", "measured_latency_ms", "predicted_latency_ms", "latency_constraint_ms", "params", "flops"):
        assert key in summary
    assert 0 <= summary["bleu"] <= 100 and 0 <= summary["sacrebleu"] <= 100
    assert summary["measured_latency_ms"] > 0 and summary["params"] > 0 and summary["flops"] > 0
    assert summary["predicted_latency_ms"] <= summary["latency_constraint_ms"]
    lat = summary["latency_dataset"]
    assert lat["rows"] == 12 and lat["min_ms"] <= summary["latency_constraint_ms"] <= lat["max_ms"]
    assert (workdir / "search" / "search.png").read_bytes()[:4] == b"\x89PNG"
    for stage in STAGES:
        assert (workdir / "stages" / f"{stage}.json").is_file()
    assert "=== HAT demo summary" in proc.stdout and "$ python train.py" in proc.stdout  # commands are shown

    again = run(["bash", "scripts/demo.sh", "--workdir", str(workdir), *TINY], timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("done before, skipped") == len(STAGES)
    rerun = json.loads((workdir / "summary.json").read_text())
    assert {k: v for k, v in rerun.items() if k != "wall_s_this_run"} == {
        k: v for k, v in summary.items() if k != "wall_s_this_run"}
