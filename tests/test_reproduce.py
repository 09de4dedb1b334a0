"""scripts/reproduce_multi30k.sh (hat.experiments.multi30k) end to end with tiny sizes on the synthetic corpus
(so the script cannot rot): HAT vs the baselines with two seeds, then every experiment that reuses its work folder,
every page again from the stored stages, and the deployment on ONNX Runtime."""
import importlib.util
import json
import sys

import pytest

from conftest import reproduction_cmd, run
from hat.experiments.stages import validation_curves
from hat.search_space import active_config, read_subtransformer_yaml


@pytest.fixture(scope="module")
def reproduced(short_bin, tmp_path_factory):
    """The reproduction run once (HAT vs the baselines, two seeds) into one work folder, which the experiments of
    the tests below continue: ``(root, cmd, its output)``, the work folder ``root/work``, the results
    ``root/results``."""
    root = tmp_path_factory.mktemp("reproduction")
    cmd = reproduction_cmd(root, short_bin, "--jobs", "2", "--seeds", "1", "2")
    proc = run(cmd, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return root, cmd, proc.stdout


@pytest.mark.slow
def test_reproduction_stages_run_end_to_end_and_write_the_results(reproduced):
    tmp_path, cmd = reproduced[0], list(reproduced[1])  # (a copy: the later experiments change its seeds)
    results = tmp_path / "results"
    rows = json.loads((results / "multi30k_en_de.json").read_text())
    families = [row["family"] for row in rows]
    assert families.count("baseline") == 1 and 1 <= families.count("hat") <= 3
    for row in rows:
        assert row["latency_ms"] > 0 and row["params"] > 0 and row["flops"] > 0 and 0 <= row["bleu"] <= 100
        assert (row["predicted_latency_ms"] is not None) == (row["family"] == "hat")
        assert row["seeds"] == [1, 2] and row["bleu_std"] >= 0 and row["sacrebleu_std"] >= 0
        name = row["name"]
        per_seed = [json.loads((tmp_path / "work" / "stages" / f"test_{name}_seed{s}.json").read_text())["bleu"]
                    for s in (1, 2)]
        assert abs(row["bleu"] - (per_seed[0] + per_seed[1]) / 2) < 1e-9  # the mean over the two trained seeds
        assert abs(row["bleu_std"] - abs(per_seed[0] - per_seed[1]) / 2 ** 0.5) < 1e-9
        for seed in (1, 2):  # two trainings at once: each one's output in its own file
            assert "done training" in (tmp_path / "work" / "models" / name / f"seed{seed}" / "train.out").read_text()
    text = (results / "multi30k_en_de.md").read_text()
    assert "baselines beaten by HAT" in text and "| baseline | transformer-32-3-3 |" in text
    assert "training seeds: 1, 2" in text and "(none written yet" in text
    assert (results / "multi30k_en_de.png").read_bytes()[:4] == b"\x89PNG"
    # the final latencies measured before any training: in the sitting that measured the latency dataset
    out = reproduced[2]
    assert out.index("=== latency_final\n") < out.index("=== train_")
    final = json.loads((tmp_path / "work" / "stages" / "latency_final.json").read_text())
    assert f"- machine(s) that ran the stages: {final['stage_machine']};" in text

    # inherited vs from scratch: the space's corners are trained, the other models are reused (the later
    # experiments with the first seed only, to keep this test short)
    cmd[-3:] = ["--seeds", "1"]
    inherited = run([*cmd, "--experiment", "multi30k_inherited_vs_scratch"])
    assert inherited.returncode == 0, inherited.stdout[-3000:] + inherited.stderr[-3000:]
    assert all(f"=== train_{row['name']}_seed1: done before, skipped" in inherited.stdout for row in rows)
    table = {row["name"]: row for row in json.loads((results / "multi30k_inherited_vs_scratch.json").read_text())}
    hat = {row["name"] for row in rows if row["family"] == "hat"}
    assert set(table) == hat | {"transformer-32-3-3", "largest", "smallest"}
    for name, row in table.items():
        assert 0 <= row["inherited_bleu"] <= 100 and row["gap"] == row["scratch_bleu"] - row["inherited_bleu"]
    assert table["largest"]["params"] > table["smallest"]["params"]
    assert "Kendall's tau" in (results / "multi30k_inherited_vs_scratch.md").read_text()

    finetune = run([*cmd, "--experiment", "multi30k_finetune"])
    assert finetune.returncode == 0, finetune.stdout[-3000:] + finetune.stderr[-3000:]
    tuned = json.loads((results / "multi30k_finetune.json").read_text())
    assert {row["name"] for row in tuned} == hat
    assert all(row["finetune_updates"] == 2 and row["scratch_updates"] == 10 and row["finetune_wall_s"] > 0
               for row in tuned)
    assert (tmp_path / "work" / "models" / tuned[0]["name"] / "finetune_seed1" / "checkpoint_last.pt").is_file()
    # a fine-tune's training time is its own, not the SuperTransformer's it started from added to it
    stages = tmp_path / "work" / "stages"
    supernet_s = json.loads((stages / "supertransformer.json").read_text())["training_s"]
    for row in tuned:
        stage = json.loads((stages / f"finetune_{row['name']}_seed1.json").read_text())
        assert 0 < stage["training_s"] <= stage["stage_wall_s"] and stage["training_s"] < supernet_s
        assert row["finetune_wall_s"] == stage["training_s"]

    # evolution vs random search at the middle constraint: two search seeds each, then the winners trained
    compared = run([*cmd, "--experiment", "multi30k_search_vs_random", "--search-seeds", "1", "2",
                    "--comparison-generations", "2"], timeout=600)
    assert compared.returncode == 0, compared.stdout[-3000:] + compared.stderr[-3000:]
    compared_page = json.loads((results / "multi30k_search_vs_random.json").read_text())
    curves = compared_page["curves"]
    assert set(compared_page["winners"]) == {"evolution", "random"}
    assert all(w["seeds"] == [1] and 0 <= w["bleu"] <= 100 for w in compared_page["winners"].values())
    assert {(r["method"], r["seed"]) for r in curves} == {(m, s) for m in ("evolution", "random") for s in (1, 2)}
    for method, seed in {(r["method"], r["seed"]) for r in curves}:
        run_rows = [r for r in curves if (r["method"], r["seed"]) == (method, seed)]
        history = [json.loads(line) for line in (tmp_path / "work" / f"search_{method}_seed{seed}" / "history.jsonl")
                   .read_text().splitlines()]
        assert run_rows[-1]["evaluations"] == len(history)  # (no verification: every line is an evaluation)
        assert run_rows[-1]["best_loss"] == min(h["loss"] for h in history)
        assert all(a["best_loss"] >= b["best_loss"] and a["evaluations"] < b["evaluations"]
                   for a, b in zip(run_rows, run_rows[1:]))
    assert "=== train_random-winner_seed1" in compared.stdout and "train_hat" not in compared.stdout
    page = (results / "multi30k_search_vs_random.md").read_text()
    assert "| evolution |" in page and "| random |" in page

    # the design-space ablation reuses the evolution seed-1 search above and searches two smaller spaces
    ablation = run([*cmd, "--experiment", "multi30k_design_space", "--comparison-generations", "2"])
    assert ablation.returncode == 0, ablation.stdout[-3000:] + ablation.stderr[-3000:]
    assert "=== search_evolution_seed1: done before, skipped" in ablation.stdout
    variants = {r["variant"]: r for r in json.loads((results / "multi30k_design_space.json").read_text())}
    assert list(variants) == ["full-space", "no-arbitrary-attn", "uniform-layers"]
    no_attn = active_config(read_subtransformer_yaml(tmp_path / "work" / "search_evolution_no_arbitrary_attn_seed1" /
                                                     "hat.yml"))
    assert set(no_attn["decoder"]["decoder_arbitrary_ende_attn"]) == {-1}
    uniform = active_config(read_subtransformer_yaml(tmp_path / "work" / "search_evolution_uniform_layers_seed1" /
                                                     "hat.yml"))
    assert len(set(uniform["encoder"]["encoder_ffn_embed_dim"])) == len(set(uniform["decoder"]["decoder_ffn_embed_dim"])) == 1
    assert all(r["latency_ms"] > 0 and 0 <= r["bleu"] <= 100 for r in variants.values())

    # a sandwich-trained SuperTransformer for the uniform one's training time: the inherited-vs-scratch models under
    # both (the uniform's inherited tests reused), the search repeated on it and its winners trained
    sandwich = run([*cmd, "--experiment", "multi30k_supernet_training"], timeout=600)
    assert sandwich.returncode == 0, sandwich.stdout[-3000:] + sandwich.stderr[-3000:]
    uniform = json.loads((tmp_path / "work" / "stages" / "supertransformer.json").read_text())
    assert uniform["updates"] == 20 and 0 < uniform["training_s"] <= uniform["stage_wall_s"]
    assert "--inplace-distill 0.5 " in sandwich.stdout
    assert f"--stop-time-hours {uniform['training_s'] / 3600}" in sandwich.stdout  # the uniform one's training time
    assert "distill_loss" in (tmp_path / "work" / "supertransformer_sandwich" / "train.log").read_text()
    trained = json.loads((tmp_path / "work" / "stages" / "supertransformer_sandwich.json").read_text())
    assert 1 <= trained["updates"] <= 20 and trained["training_s"] > 0
    assert all(f"=== inherited_{name}: done before, skipped" in sandwich.stdout for name in table)
    both = json.loads((results / "multi30k_supernet_training.json").read_text())
    for supernet in ("uniform", "sandwich"):
        ranked = {r["name"]: r for r in both if r["supernet"] == supernet and r["ranked"]}
        assert set(ranked) == set(table)  # the inherited-vs-scratch experiment's models
        assert all(r["scratch_bleu"] == table[n]["scratch_bleu"] for n, r in ranked.items())
    assert all(r["inherited_bleu"] == table[r["name"]]["inherited_bleu"] for r in both if r["supernet"] == "uniform")
    winners = [r for r in both if not r["ranked"]]
    assert winners and all(r["supernet"] == "sandwich" and r["searched"] and r["name"].startswith("hat-sandwich@")
                           for r in winners)
    for r in (r for r in both if r["supernet"] == "sandwich"):
        stage = json.loads((tmp_path / "work" / "stages" / f"inherited_sandwich_{r['name']}.json").read_text())
        assert r["inherited_bleu"] == stage["bleu"] and r["gap"] == r["scratch_bleu"] - r["inherited_bleu"]
    assert "Goal (the sandwich-searched" in (results / "multi30k_supernet_training.md").read_text()

    # a sandwich checkpoint left out of a kept work folder is remade to its stored update count, with no time
    # limit (which would not stop at the same update twice), and it matches the stored fingerprint
    for checkpoint in (tmp_path / "work" / "supertransformer_sandwich").glob("checkpoint*.pt"):
        checkpoint.unlink()
    (tmp_path / "work" / "stages" / "inherited_sandwich_largest.json").unlink()
    remade = run([*cmd, "--experiment", "multi30k_supernet_training"], timeout=600)
    assert remade.returncode == 0, remade.stdout[-3000:] + remade.stderr[-3000:]
    lines = remade.stdout.splitlines()
    remaking = next(i for i, line in enumerate(lines) if line.startswith("=== supertransformer_sandwich: ") and
                    line.endswith("checkpoint_last.pt is not here (a work folder kept without its large files): "
                                  "made again"))
    command = next(line for line in lines[remaking:] if "--sandwich-random" in line)
    assert f"--max-update {trained['updates']} " in command and "--stop-time-hours" not in command
    assert "=== inherited_sandwich_largest\n" in remade.stdout
    assert json.loads((tmp_path / "work" / "stages" / "inherited_sandwich_largest.json").read_text())["bleu"] == next(
        r["inherited_bleu"] for r in both if r["supernet"] == "sandwich" and r["name"] == "largest")

    # the predictor on this run's latency dataset and on a "released" one (a copy, without the probe's sidecar)
    released = tmp_path / "released"
    released.mkdir()
    (released / "copy.csv").write_bytes((tmp_path / "work" / "latency" / "latency.csv").read_bytes())
    accuracy = run([*cmd, "--experiment", "predictor_accuracy", "--released-latency", str(released),
                    "--mlp-train-steps", "100"], timeout=600)
    assert accuracy.returncode == 0, accuracy.stdout[-3000:] + accuracy.stderr[-3000:]
    scored = json.loads((results / "predictor_accuracy.json").read_text())
    assert {(r["dataset"], r["model"]) for r in scored} == {(d, m) for d in ("multi30k_ende_this_cpu", "copy")
                                                             for m in ("ridge", "hat-mlp")}
    for r in scored:
        stage = json.loads((tmp_path / "work" / "stages" / f"predictor_accuracy_{r['dataset']}_{r['model']}.json")
                           .read_text())
        errors = [p - m for p, m in zip(stage["predicted_ms"], stage["measured_ms"])]
        assert len(errors) == r["test_rows"] >= 1
        assert abs(r["rmse"] - (sum(e * e for e in errors) / len(errors)) ** 0.5) < 1e-9
    assert "train_hat" not in accuracy.stdout  # nothing after the latency predictor runs for it

    # every page again from the stored stages alone, identical
    again = tmp_path / "again"
    regenerated = run([sys.executable, "-m", "hat.cli.results", "--workdir", str(tmp_path / "work"), "--results-dir",
                       str(again)], timeout=300)
    assert regenerated.returncode == 0, regenerated.stdout[-3000:] + regenerated.stderr[-3000:]
    assert "findfont" not in regenerated.stderr  # matplotlib kept quiet under fairseq's DEBUG root logger
    pages = ("multi30k_en_de", "multi30k_inherited_vs_scratch", "multi30k_finetune", "multi30k_search_vs_random",
             "multi30k_design_space", "predictor_accuracy", "multi30k_supernet_training")
    for path in [f"{name}{suffix}" for name in pages for suffix in (".json", ".md", ".run.json")] + ["README.md"]:
        assert (again / path).read_text() == (results / path).read_text(), path
    index = (results / "README.md").read_text()
    assert all(f"[{name}]({name}.md)" in index for name in pages) and "not built yet" not in index


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None,  # (before the fixture runs the pipeline)
                    reason='ONNX Runtime is not installed (pip install -e ".[deploy]")')
def test_reproduction_deploys_its_trained_models_on_onnx_runtime(reproduced):
    tmp_path, cmd, _ = reproduced
    results = tmp_path / "results"
    cmd = [*cmd[:-3], "--seeds", "1"]  # the first seed's checkpoints, as the experiments after the main run
    rows = json.loads((results / "multi30k_en_de.json").read_text())
    families = [row["family"] for row in rows]
    # the same trained models deployed on ONNX Runtime: the stages of the run above are not run again
    deployed = run([*cmd, "--experiment", "multi30k_deployment"])
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

def test_a_baseline_is_beaten_by_bleu_at_no_more_latency_or_by_speed_at_no_less_bleu():
    from hat.evaluation.comparison import Point, compare

    hat = [Point("fast", 10.0, 20.0, 0.3), Point("mid", 20.0, 25.0, 0.4), Point("slow", 40.0, 27.0, 0.0)]
    slow_base, mid_base, quick_base, best_base = compare(hat, [
        Point("b-slow", 30.0, 24.0, 0.3), Point("b-mid", 20.0, 24.8, 0.3), Point("b-quick", 5.0, 15.0, 0.0),
        Point("b-best", 50.0, 30.0, 0.0)])
    # not slower than 30 ms: fast and mid; mid is best, +1.0 BLEU > the spread hypot(0.4, 0.3) = 0.5
    assert slow_base.best_not_slower == "mid" and abs(slow_base.bleu_gain - 1.0) < 1e-12
    assert abs(slow_base.gain_spread - 0.5) < 1e-12 and slow_base.beaten and slow_base.beyond_spread is True
    # at 20 ms: mid, +0.2 BLEU only; as good and faster: mid itself (1.0x) -> not beaten
    assert mid_base.best_not_slower == "mid" and mid_base.fastest_as_good == "mid" and mid_base.speedup == 1.0
    assert not mid_base.beaten and mid_base.beyond_spread is None
    # every HAT model is slower than 5 ms; the fastest with at least 15 BLEU is 2x slower
    assert quick_base.best_not_slower is None and quick_base.bleu_gain is None
    assert quick_base.fastest_as_good == "fast" and quick_base.speedup == 0.5 and not quick_base.beaten
    # no HAT model reaches 30 BLEU; slow is 27 - 30 = -3 BLEU at 40 ms
    assert best_base.fastest_as_good is None and best_base.best_not_slower == "slow" and not best_base.beaten
    # beaten by speed: 1.5x faster with +0.1 BLEU, within a spread of 0.5 (and without spread with one seed)
    by_speed = compare([Point("h", 20.0, 25.1, 0.4)], [Point("b", 30.0, 25.0, 0.3)])[0]
    assert by_speed.beaten and by_speed.speedup == 1.5 and by_speed.beyond_spread is False
    assert compare([Point("h", 20.0, 25.1)], [Point("b", 30.0, 25.0)])[0].beyond_spread is None


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


@pytest.mark.slow
def test_a_work_folder_kept_in_git_continues_in_another_checkout(short_bin, tmp_path):
    import os
    import subprocess

    from conftest import ROOT

    def reproduce(cwd, *extra):
        cmd = reproduction_cmd(tmp_path, short_bin, "--seeds", "1", *extra)
        cmd[1] = str(ROOT / "scripts" / "reproduce_multi30k.sh")
        cmd[cmd.index("--workdir") + 1], cmd[cmd.index("--results-dir") + 1] = "work", "results"  # relative, as in a checkout
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600,
                              env={**os.environ, "PYTHON": sys.executable})
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        return proc.stdout

    def git(*args, cwd=tmp_path):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                              capture_output=True, text=True).stdout

    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    reproduce(first)
    git("init", "-q", str(first))
    git("add", "-A", cwd=first)
    git("commit", "-qm", "a sitting", cwd=first)
    git("clone", "-q", str(first), str(second))
    kept = git("ls-files", cwd=second).split()
    assert "work/stages/evo_search.json" in kept and "work/latency/predictor.pt" in kept
    assert not [name for name in kept if name.endswith(".pt") and not name.startswith("work/latency/")]

    # the next sitting, in the other checkout: the finished stages are read back; the SuperTransformer, which the
    # inherited weights need, is trained again and found to be the same; the trained models' tests are not redone
    out = reproduce(second, "--experiment", "multi30k_inherited_vs_scratch")
    assert "=== supertransformer: work/supertransformer/checkpoint_last.pt is not here" in out
    assert "=== evo_search: done before, skipped" in out and "=== test_transformer-32-3-3_seed1: done before" in out
    assert "models/transformer-32-3-3/seed1/checkpoint_best.pt is not here" not in out
    table = json.loads((second / "results" / "multi30k_inherited_vs_scratch.json").read_text())
    assert {"largest", "smallest", "transformer-32-3-3"} <= {row["name"] for row in table}

    # and the first sitting's page, regenerated from the kept stages alone, is the one it wrote
    (second / "results" / "multi30k_en_de.json").unlink()
    regenerated = subprocess.run([sys.executable, "-m", "hat.cli.results", "--workdir", "work"], cwd=second,
                                 capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert regenerated.returncode == 0, regenerated.stderr[-3000:]
    assert (json.loads((second / "docs" / "results" / "multi30k_en_de.json").read_text())
            == json.loads((first / "results" / "multi30k_en_de.json").read_text()))
