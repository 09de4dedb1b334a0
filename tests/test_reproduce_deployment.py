"""scripts/reproduce_multi30k.sh --experiment multi30k_deployment end to end with tiny sizes on the synthetic
corpus: the reproduction's models (one seed) deployed on ONNX Runtime, the quantization table, the search for the
int8 engine."""
import importlib.util
import json

import pytest

from conftest import reproduction_cmd, run

pytestmark = [pytest.mark.slow, pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None,
                                                   reason="needs onnxruntime (pip install -e \".[deploy]\")")]


def test_deployment_experiment_end_to_end(short_bin, tmp_path):
    results = tmp_path / "results"
    cmd = reproduction_cmd(tmp_path, short_bin, "--seeds", "1")
    proc = run(cmd, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = json.loads((results / "multi30k_en_de.json").read_text())
    families = [row["family"] for row in rows]
    # the same trained models deployed on ONNX Runtime: the stages of the run above are not run again
    deployed = run([*cmd, "--experiment", "multi30k_deployment"], timeout=600)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    assert all(f"=== train_{row['name']}_seed1: done before, skipped" in deployed.stdout for row in rows)
    rows = json.loads((results / "multi30k_deployment.json").read_text())
    assert len(rows) == 3 * len(families)
    for name in {row["name"] for row in rows}:
        by = {row["backend"]: row for row in rows if row["name"] == name}
        assert set(by) == {"torch", "onnxruntime", "onnxruntime-int8"}
        assert by["torch"]["ratio_to_torch"] == 1.0 and by["torch"]["identical_to_torch"] == 1.0
        assert by["onnxruntime"]["identical_to_torch"] >= 0.9  # float32: the same hypotheses but for near ties
        assert min(row["size_bytes"] for row in by.values()) > 0  # (int8 graphs of models this tiny are not smaller)
        assert all(row["latency_ms"] > 0 and 0 <= row["bleu"] <= 100 for row in by.values())
    page = (results / "multi30k_deployment.md").read_text()
    assert "searched SubTransformers meet both goals" in page and "Searching for the engine you deploy on" in page
    # the paper's quantization table: K-means 8 and 4 bits are smaller than float32, 4 bits smaller than 8
    table = json.loads((results / "multi30k_deployment_quantization.json").read_text())
    assert len(table) == 4 * len(families)
    for name in {row["name"] for row in table}:
        by = {row["method"]: row for row in table if row["name"] == name}
        assert by["float32"]["size_ratio"] == 1.0
        assert by["K-means 4-bit"]["size_bytes"] < by["K-means 8-bit"]["size_bytes"] < by["float32"]["size_bytes"]
        assert all(0 <= row["bleu"] <= 100 for row in by.values())
    assert "## Quantization (the paper's table)" in page
    # the search repeated for the int8 engine: one winner per PyTorch winner's measured int8 latency
    cross = json.loads((results / "multi30k_deployment_engine_search.json").read_text())
    hat = {r["name"] for r in rows if r["family"] == "hat"}
    assert 1 <= len(cross) <= len(hat)
    for c in cross:
        assert c["torch_winner"] in hat and c["engine_winner"] == f"hat-int8@{c['constraint_ms']:g}ms"
        assert min(c[f"{who}_{b}_ms"] for who in ("torch_winner", "engine_winner")
                   for b in ("torch", "onnxruntime-int8")) > 0
    assert (results / "multi30k_deployment.png").read_bytes()[:4] == b"\x89PNG"
