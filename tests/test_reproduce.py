"""scripts/reproduce_multi30k.sh (hat.experiments.multi30k) end to end with tiny sizes on the synthetic corpus
(so the script cannot rot)."""
import importlib.util
import json

from conftest import TINY_SPACE_YAML, run
from hat.experiments.stages import validation_curves


def test_reproduction_stages_run_end_to_end_and_write_the_results(synthetic_bin, tmp_path):
    space, common = tmp_path / "space.yml", tmp_path / "common.yml"
    space.write_text(TINY_SPACE_YAML)
    common.write_text(TINY_SPACE_YAML + "train-subtransformer: True\n")
    results = tmp_path / "results"
    cmd = ["bash", "scripts/reproduce_multi30k.sh", "--workdir", str(tmp_path / "work"), "--results-dir", str(results),
           "--data", str(synthetic_bin), "--space", str(space), "--common", str(common), "--supernet-updates", "20",
           "--train-updates", "10", "--latency-rows", "12", "--latiter", "2", "--lat-rounds", "1", "--evo-iter", "2",
           "--population-size", "8", "--parent-size", "2", "--mutation-size", "3", "--crossover-size", "3",
           "--valid-cnt-max", "2", "--baselines", "32,64,4,3,3", "16,32,2,3,1", "--final-latiter", "2",
           "--quantiles", "0.5", "0.5", "0.5",  # one searched SubTransformer: the deployment stages stay short
           # choose by prediction: the on-device verification has its own tests (test_search_verify.py); here a VM
           # whose speed drifts between the 12-row latency dataset and the search would fail the pipeline
           "--verify-on-device", "0"]
    proc = run(cmd, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = json.loads((results / "multi30k_en_de.json").read_text())
    families = [row["family"] for row in rows]
    assert families.count("baseline") == 2 and 1 <= families.count("hat") <= 3
    for row in rows:
        assert row["latency_ms"] > 0 and row["params"] > 0 and row["flops"] > 0 and 0 <= row["bleu"] <= 100
        assert (row["predicted_latency_ms"] is not None) == (row["family"] == "hat")
    small, tiny = (next(r for r in rows if r["name"] == name) for name in ("transformer-32-3-3", "transformer-16-3-1"))
    assert small["params"] > tiny["params"] and small["flops"] > tiny["flops"]
    text = (results / "multi30k_en_de.md").read_text()
    assert "HAT models dominate the baselines" in text and "| baseline | transformer-32-3-3 |" in text
    assert (results / "multi30k_en_de.png").read_bytes()[:4] == b"\x89PNG"

    if importlib.util.find_spec("onnxruntime") is None:  # a rerun skips every finished stage
        again = run(cmd, timeout=300)
        assert again.returncode == 0 and "train_transformer-32-3-3: done before, skipped" in again.stdout
        return
    # the same trained models deployed on ONNX Runtime: the stages of the run above are not run again
    deployed = run([*cmd, "--experiment", "multi30k_deployment"], timeout=600)
    assert deployed.returncode == 0, deployed.stdout[-3000:] + deployed.stderr[-3000:]
    assert all(f"=== train_{row['name']}: done before, skipped" in deployed.stdout for row in rows)
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


def test_dominance_reads_the_baseline_curve_at_equal_latency_and_equal_bleu():
    from hat.evaluation.comparison import Point, compare

    baselines = [Point("b1", 10.0, 20.0), Point("b2", 30.0, 30.0)]
    better, faster, worse, outside = compare([Point("h1", 20.0, 26.0), Point("h2", 15.0, 25.0),
                                              Point("h3", 20.0, 25.0), Point("h4", 5.0, 10.0)], baselines)
    assert better.bleu_gain == 1.0 and better.dominates  # the baselines give 25.0 BLEU at 20 ms
    assert faster.speedup == 20.0 / 15.0 and faster.dominates  # the baselines need 20 ms for 25 BLEU
    assert worse.bleu_gain == 0.0 and worse.speedup == 1.0 and not worse.dominates
    assert outside.bleu_gain is None and outside.speedup is None and not outside.dominates
    tied = compare([Point("h", 20.0, 25.0)], [Point("b1", 10.0, 0.0), Point("b2", 30.0, 0.0)])[0]
    assert tied.speedup is None  # equal-BLEU is undefined when the baselines tie


def test_validation_curves_count_each_update_once(tmp_path):
    def valid(epoch, updates, largest, smallest):
        return (f"epoch {epoch:03d} | valid on 'valid' subset | loss {smallest} | nll_loss 1.0 | largest_loss {largest} "
                f"| smallest_loss {smallest} | ppl 2.0 | num_updates {updates} | best_loss {smallest}")
    log = tmp_path / "train.log"
    # epoch 2's line written twice, as fairseq's log-file handler did; a train line in between
    log.write_text("\n".join([valid(1, 10, 9.5, 9.0), "epoch 002:  5 / 10 loss=8.1, num_updates=15",
                              valid(2, 20, 7.5, 8.0), valid(2, 20, 7.5, 8.0), valid(3, 30, 6.25, 7.0)]) + "\n")
    assert validation_curves(log) == {"loss": [9.0, 8.0, 7.0], "nll_loss": [1.0, 1.0, 1.0],
                                      "largest_loss": [9.5, 7.5, 6.25], "smallest_loss": [9.0, 8.0, 7.0]}
    assert validation_curves(tmp_path / "absent.log") == {}
