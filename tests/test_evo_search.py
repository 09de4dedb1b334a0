"""Evolutionary search: algorithm on a synthetic fitness, and evo_search.py end to end on a tiny supernet (CPU)."""
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch

from conftest import ROOT, assert_user_error, build_tiny, run, run_in_process, synthetic_latency, tiny_args
from hat.search.runner import check_space
from hat.latency.predictor import HatMLP, HatMLPPredictor
from hat.search.fitness import ValidationLoss
from hat.search import (Constraints, CostModel, EvolutionarySearch, EvolutionSettings, InfeasibleConstraintError,
                        canonical_gene)
from hat.search_space import (ConfigError, SearchSpace, active_config, config_features, read_subtransformer_yaml,
                              write_subtransformer_yaml)

SMALL = EvolutionSettings(evo_iter=6, population_size=20, parent_size=4, mutation_size=8, crossover_size=8)


class CountingFitness:
    """A deterministic loss of the active config (bigger models are better), counting its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, config):
        self.calls += 1
        f = config_features(config)
        jitter = random.Random(json.dumps(active_config(config), sort_keys=True)).random()
        return 10.0 - 0.002 * f[0] * f[1] - 0.001 * f[2] - 0.2 * f[5] - 0.001 * f[6] + 0.05 * jitter


def make_search(space, seed=1, cache=True, settings=SMALL, params=None):
    fitness = CountingFitness()
    costs = CostModel(space, synthetic_latency, params=params)
    return EvolutionarySearch(space, settings, fitness, costs, seed=seed, cache=cache), fitness


def test_gene_round_trip(space):
    rng = random.Random(0)
    for _ in range(50):
        gene = space.random_gene(rng)
        config = space.gene_to_config(gene)
        assert active_config(space.gene_to_config(space.config_to_gene(config))) == active_config(config)
        key = canonical_gene(space, gene)
        assert tuple(space.config_to_gene(space.gene_to_config(key))) == key  # exact for canonical genes
        assert canonical_gene(space, key) == key
        assert active_config(space.gene_to_config(key)) == active_config(config)
    sampled = space.sample(5)
    assert active_config(space.gene_to_config(space.config_to_gene(sampled))) == active_config(sampled)
    with pytest.raises(ConfigError, match="gene has"):
        space.gene_to_config([32])


def test_mutation_and_crossover_keep_genes_in_the_space(space):
    search, _ = make_search(space, settings=EvolutionSettings(mutation_prob=1.0))
    rng = random.Random(0)
    parents = [tuple(space.random_gene(rng)) for _ in range(4)]
    choices = space.gene_choices()
    seen = set()
    for _ in range(300):
        for child in (search._mutate(rng, parents), search._crossover(rng, parents)):
            assert len(child) == len(choices) and all(v in c for v, c in zip(child, choices))
            space.gene_to_config(child)
            seen.add(child)
    assert len(seen) > 100  # they really explore


def test_every_evaluated_config_satisfies_the_constraints(space):
    from hat.profiling import build_for_profiling, sampled_params_numel

    counter = build_for_profiling(tiny_args())
    params = lambda config: sampled_params_numel(counter, config)  # noqa: E731
    search, _ = make_search(space, params=params)
    constraints = Constraints(latency_ms=20.0, max_params=30000)
    result = search.run(constraints)
    assert search.history
    for evaluation in search.history:
        config = space.gene_to_config(evaluation.gene)
        assert synthetic_latency([config])[0] <= 20.0  # recomputed independently
        assert params(config) <= 30000
    assert synthetic_latency([result.config])[0] == pytest.approx(result.latency_ms) and result.latency_ms <= 20.0
    assert params(result.config) == result.params <= 30000
    # the result is the best loss seen in its last generation and never worse than an earlier generation's best
    assert result.best_per_generation[-1] == result.loss
    assert all(b >= a for a, b in zip(result.best_per_generation[1:], result.best_per_generation))


def test_fixed_seed_gives_the_same_result_and_another_seed_explores_differently(space):
    first, _ = make_search(space, seed=7)
    second, _ = make_search(space, seed=7)
    other, _ = make_search(space, seed=8)
    constraints = Constraints(15.0)
    a, b = first.run(constraints), second.run(constraints)
    other.run(constraints)
    assert a.gene == b.gene and a.loss == b.loss
    assert [e.gene for e in first.history] == [e.gene for e in second.history]
    assert [e.gene for e in first.history] != [e.gene for e in other.history]


def test_random_search_draws_children_whatever_the_parents_and_evolution_does_not(space):
    def evaluated(method, sign):
        fitness = CountingFitness()
        search = EvolutionarySearch(space, SMALL, lambda config: sign * fitness(config),
                                    CostModel(space, synthetic_latency), seed=3, method=method)
        result = search.run(Constraints(15.0))
        assert all(synthetic_latency([space.gene_to_config(e.gene)])[0] <= 15.0 for e in search.history)
        return [tuple(e.gene) for e in search.history], result

    # opposite losses choose opposite parents; random children ignore them, evolution's are bred from them
    (best, best_result), (worst, worst_result) = evaluated("random", 1.0), evaluated("random", -1.0)
    assert best == worst and len(best) > SMALL.population_size and best_result.gene != worst_result.gene
    assert evaluated("evolution", 1.0)[0] != evaluated("evolution", -1.0)[0]
    with pytest.raises(ConfigError, match="unknown search method"):
        EvolutionarySearch(space, SMALL, CountingFitness(), CostModel(space, synthetic_latency), method="grid")


def test_uniform_layers_search_only_uniform_subtransformers(space):
    search = EvolutionarySearch(space, SMALL, CountingFitness(), CostModel(space, synthetic_latency), seed=2,
                                uniform_layers=True)
    search.run(Constraints(15.0))
    arbitrary = set()
    for evaluation in search.history:
        config = active_config(space.gene_to_config(evaluation.gene))
        for part, keys in (("encoder", ("encoder_ffn_embed_dim", "encoder_self_attention_heads")),
                           ("decoder", ("decoder_ffn_embed_dim", "decoder_self_attention_heads",
                                        "decoder_ende_attention_heads"))):
            assert all(len(set(config[part][key])) == 1 for key in keys), config
        arbitrary.add(tuple(config["decoder"]["decoder_arbitrary_ende_attn"]))
    assert len(arbitrary) > 1  # arbitrary attention is still searched per layer
    gene = space.random_gene(random.Random(0))
    assert space.uniform_layers(space.uniform_layers(gene)) == space.uniform_layers(gene)


def test_cache_gives_the_original_result_with_fewer_evaluations(space):
    cached, cached_fitness = make_search(space, cache=True)
    original, original_fitness = make_search(space, cache=False)
    constraints = Constraints(15.0)
    a, b = cached.run(constraints), original.run(constraints)
    assert a.gene == b.gene and a.loss == b.loss
    assert original_fitness.calls == SMALL.original_evaluations == original.evaluations
    assert cached_fitness.calls == cached.evaluations < original_fitness.calls
    keys = [canonical_gene(space, e.gene) for e in cached.history]
    assert len(keys) == len(set(keys))  # never the same SubTransformer twice


class Killed(Exception):
    pass


@pytest.mark.parametrize("kill_after", [0, 5, 8])
def test_resume_after_a_kill_gives_the_uninterrupted_result(space, kill_after):
    constraints = [Constraints(12.0), Constraints(25.0)]  # 6 generations each: calls 0-5, then 6-11
    whole, _ = make_search(space)
    expected = [whole.run(c) for c in constraints]

    saved, calls = {}, []
    interrupted, _ = make_search(space)

    def save_then_die(generation, best):
        saved["state"] = json.loads(json.dumps(interrupted.state()))  # what the CLI writes to state.json
        calls.append(generation)
        if len(calls) - 1 == kill_after:
            raise Killed

    with pytest.raises(Killed):
        for c in constraints:
            interrupted.run(c, save_then_die)
    resumed, fitness = make_search(space)
    resumed.load_state(saved["state"])
    results = [resumed.run(c) for c in constraints]
    assert [r.gene for r in results] == [r.gene for r in expected]
    assert [r.loss for r in results] == [r.loss for r in expected]
    assert [e.gene for e in resumed.history] == [e.gene for e in whole.history]
    assert fitness.calls == whole.evaluations - len(saved["state"]["history"])  # nothing re-evaluated


def test_constraints_share_the_cache_without_changing_results(space):
    together, _ = make_search(space)
    results = [together.run(Constraints(c)) for c in (12.0, 25.0)]
    alone = [make_search(space)[0] for _ in range(2)]
    alone_results = [search.run(Constraints(c)) for search, c in zip(alone, (12.0, 25.0))]
    assert [r.gene for r in results] == [r.gene for r in alone_results]
    union = {canonical_gene(space, e.gene) for search in alone for e in search.history}
    assert together.evaluations == len(union) <= sum(search.evaluations for search in alone)


def test_infeasible_constraint_stops_with_the_smallest_prediction(space):
    search, _ = make_search(space, settings=EvolutionSettings(evo_iter=2, population_size=20, parent_size=4,
                                                              mutation_size=8, crossover_size=8,
                                                              max_tries_per_child=5))
    smallest = synthetic_latency([space.smallest()])[0]
    with pytest.raises(InfeasibleConstraintError, match=r"smallest predicted latency seen: \d+\.\d+ ms"):
        search.run(Constraints(smallest / 2))


@pytest.mark.parametrize("kwargs,message", [
    ({"population_size": 10}, "must equal parent-size"),
    ({"mutation_prob": 1.5}, "mutation-prob"),
    ({"parent_size": 1, "population_size": 101}, "crossover needs"),
])
def test_bad_schedule_is_rejected(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        EvolutionSettings(**kwargs)


# --- evo_search.py end to end -----------------------------------------------------------------------

def evo_cmd(net, out, *extra):
    return [sys.executable, "evo_search.py", str(net["data"]), f"--configs={net['space_yml']}", "--cpu",
            "--restore-file", str(net["ckpt"]), "--ckpt-path", str(net["predictor"]), "--write-config-path",
            str(out), "--evo-iter", "4", "--population-size", "12", "--parent-size", "4", "--mutation-size", "4",
            "--crossover-size", "4", "--max-tokens", "600", *extra]


def test_evo_search_writes_yamls_history_plot_and_summary(trained_supernet, tmp_path):
    out = tmp_path / "sub.yml"
    proc = run(evo_cmd(trained_supernet, out, "--latency-constraint", "12", "25", "--json",
                       "--save-dir", str(tmp_path / "save")))
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    space = trained_supernet["space"]
    search_dir = tmp_path / "save" / "evo_search" / "sub"  # the default: <save-dir>/evo_search/<stem>
    history = [json.loads(line) for line in (search_dir / "history.jsonl").read_text().splitlines()]
    assert len(history) == summary["evaluations"] < summary["evaluations_original_schedule"] == 2 * 4 * 12
    constraint_of = {f"{c:g}ms": c for c in (12, 25)}
    for row in history:
        assert row["latency_ms"] <= constraint_of[row["constraint"]]
        assert row["config"] == space.gene_to_config(row["gene"])
    for result, name in zip(summary["results"], ("sub@12ms.yml", "sub@25ms.yml")):
        path = tmp_path / name
        assert result["config_path"] == str(path)
        assert read_subtransformer_yaml(path) == active_config(result["config"])  # loads back to the same config
        assert result["predicted_latency_ms"] <= result["latency_constraint_ms"]
        own = [row["loss"] for row in history if row["constraint"] == f"{result['latency_constraint_ms']:g}ms"]
        assert result["loss"] <= min(own)  # parents carry over: the best evaluated SubTransformer is kept
        assert result["params"] > 0 and result["flops"] > 0
        assert isinstance(result["source_gain_bits"], float)
    assert summary["results"][0]["loss"] == min(row["loss"] for row in history if row["constraint"] == "12ms")
    assert (search_dir / "search.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the searched YAML drives train.py like a released SubTransformer config
    profile = run([sys.executable, "train.py", str(trained_supernet["data"]), f"--configs={trained_supernet['space_yml']}",
                   f"--sub-configs={tmp_path / 'sub@12ms.yml'}", "--profile-flops", "--json"])
    assert profile.returncode == 0, profile.stderr[-2000:]
    assert json.loads(profile.stdout.strip().splitlines()[-1])["params"] == summary["results"][0]["params"]


GENERATION_LINE = re.compile(r"^\| [^|]+ \| generation (\d+)/\d+ \|", re.MULTILINE)


def generations_run(stderr: str) -> list[int]:
    """The generations (1-based) that a search run scored, from its per-generation progress lines."""
    return [int(n) for n in GENERATION_LINE.findall(stderr)]


def resumed_line(search_dir, evaluations: int) -> str:
    return f"| resuming the search in {search_dir}: {evaluations} evaluations done"


def test_evo_search_killed_and_rerun_gives_the_uninterrupted_result(trained_supernet, tmp_path):
    args = ("--latency-constraint", "20", "--evo-iter", "8", "--json")
    whole = run(evo_cmd(trained_supernet, tmp_path / "a" / "sub.yml", *args, "--search-dir", str(tmp_path / "a")))
    assert whole.returncode == 0, whole.stderr[-3000:]
    assert generations_run(whole.stderr) == list(range(1, 9)) and "resuming" not in whole.stderr
    search = tmp_path / "b" / "search"
    history, state = search / "history.jsonl", search / "state.json"
    cmd = evo_cmd(trained_supernet, tmp_path / "b" / "sub.yml", *args, "--search-dir", str(search))
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not history.exists() and time.time() < deadline and proc.poll() is None:  # a generation saved
        time.sleep(0.02)
    assert proc.poll() is None, "the search ended before it was killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # killed mid-search: some generations saved, not all, no result
    killed_history = history.read_bytes()
    saved = json.loads(state.read_text())["search"]
    assert saved["run"] is not None and saved["results"] == {}, "killed after the search had ended"
    done = saved["run"]["generation"]
    assert 1 <= done < 8 and not (search / "summary.json").exists()
    generations = {json.loads(line)["generation"] for line in killed_history.decode().splitlines()}
    assert killed_history and generations <= set(range(done))
    evaluated = len(saved["history"])
    assert len(killed_history.decode().splitlines()) <= evaluated

    rerun = run(cmd)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    # it resumed: the saved evaluations kept, only the generations not finished before the kill scored now
    assert resumed_line(search, evaluated) in rerun.stderr
    assert generations_run(rerun.stderr) == list(range(done + 1, 9))
    final_history = history.read_bytes()
    assert final_history.startswith(killed_history) and len(final_history) > len(killed_history)
    assert (tmp_path / "b" / "sub.yml").read_text() == (tmp_path / "a" / "sub.yml").read_text()
    first = json.loads(whole.stdout.strip().splitlines()[-1])
    second = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert second["results"][0]["gene"] == first["results"][0]["gene"]
    assert second["evaluations"] == first["evaluations"]
    # the uninterrupted search's history (predicted latencies to the last bits: the predictor runs on other batches)
    rows, expected = ([json.loads(line) for line in text.splitlines()]
                      for text in (final_history.decode(), (tmp_path / "a" / "history.jsonl").read_text()))
    assert [{**r, "latency_ms": None} for r in rows] == [{**r, "latency_ms": None} for r in expected]
    assert [r["latency_ms"] for r in rows] == pytest.approx([r["latency_ms"] for r in expected], rel=1e-12)
    # a finished search rerun with the same command evaluates nothing new, with other settings it refuses
    again = run(cmd)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout.strip().splitlines()[-1])["evaluations"] == first["evaluations"]
    assert resumed_line(search, first["evaluations"]) in again.stderr and generations_run(again.stderr) == []
    assert history.read_bytes() == final_history
    finished_state = state.read_bytes()
    other = run(cmd + ["--seed", "9"])
    assert_user_error(other, str(search), "other settings", "seed: 1 -> 9")
    assert state.read_bytes() == finished_state and history.read_bytes() == final_history


@pytest.fixture
def interrupted_search(trained_supernet, tmp_path, capsys, monkeypatch):
    """evo_search.py (in process) on a copy of the trained SuperTransformer's checkpoint, stopped right after saving
    its 2nd of 4 generations (what a kill then leaves): ``(argv, checkpoint copy, search folder)``."""
    from hat.cli import evo_search
    from hat.search import runner

    ckpt, search = tmp_path / "supernet.pt", tmp_path / "search"
    shutil.copyfile(trained_supernet["ckpt"], ckpt)
    argv = evo_cmd({**trained_supernet, "ckpt": ckpt}, tmp_path / "sub.yml", "--latency-constraint", "20",
                   "--search-dir", str(search), "--json")[2:]
    real, saves = runner.write_state, []

    def save_then_die(*args, **kwargs):
        real(*args, **kwargs)
        saves.append(args)
        if len(saves) == 2:
            raise Killed

    monkeypatch.setattr(runner, "write_state", save_then_die)
    with pytest.raises(Killed):
        run_in_process(capsys, evo_search.main, argv)
    monkeypatch.setattr(runner, "write_state", real)
    capsys.readouterr()
    saved = json.loads((search / "state.json").read_text())["search"]
    assert saved["run"]["generation"] == 2 and saved["results"] == {}
    return argv, ckpt, search


def test_evo_search_resume_with_other_weights_at_the_checkpoint_path_is_refused(interrupted_search, capsys):
    from hat.cli import evo_search

    argv, ckpt, search = interrupted_search
    state, history = (search / "state.json").read_bytes(), (search / "history.jsonl").read_bytes()
    checkpoint = torch.load(ckpt, map_location="cpu", weights_only=False)
    name = next(k for k in sorted(checkpoint["model"]) if k.endswith("fc1.weight"))
    checkpoint["model"][name][0, 0] += 0.5  # other weights (a SuperTransformer trained on), same file name
    torch.save(checkpoint, ckpt)
    proc = run_in_process(capsys, evo_search.main, argv)
    assert_user_error(proc, str(search), "other settings", "restore_file", "weights_sha256")
    assert "resuming" not in proc.stderr and generations_run(proc.stderr) == []
    assert (search / "state.json").read_bytes() == state and (search / "history.jsonl").read_bytes() == history
    assert not (search / "summary.json").exists()


def test_evo_search_resumes_with_the_same_weights_saved_again(interrupted_search, capsys):
    from hat.cli import evo_search

    argv, ckpt, search = interrupted_search
    history = (search / "history.jsonl").read_bytes()
    evaluated = len(json.loads((search / "state.json").read_text())["search"]["history"])
    # the same weights in a new file (as a copy or a retraining in another checkout gives): other inode, later mtime
    before = ckpt.stat()
    copy = ckpt.with_name("copy.pt")
    shutil.copyfile(ckpt, copy)
    os.replace(copy, ckpt)
    os.utime(ckpt, ns=(before.st_atime_ns, before.st_mtime_ns + 3600 * 10 ** 9))
    assert ckpt.stat().st_ino != before.st_ino and ckpt.stat().st_mtime_ns != before.st_mtime_ns
    # the interrupted run's compute time is kept; as if it had taken 1000 s, to tell it from this run's
    state = json.loads((search / "state.json").read_text())
    assert 0 < state["search"]["elapsed_s"] < 1000
    state["search"]["elapsed_s"] = 1000.0
    (search / "state.json").write_text(json.dumps(state))
    proc = run_in_process(capsys, evo_search.main, argv)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert resumed_line(search, evaluated) in proc.stderr
    assert generations_run(proc.stderr) == [3, 4]  # only the generations not saved before
    assert (search / "history.jsonl").read_bytes().startswith(history)
    summary = json.loads((search / "summary.json").read_text())
    assert 0 < summary["wall_s"] < 1000 and summary["search_s"] == pytest.approx(1000.0 + summary["wall_s"])


def test_evo_search_errors_are_one_clear_line(trained_supernet, tmp_path, capsys):
    from hat.cli import evo_search

    def run(cmd):
        return run_in_process(capsys, evo_search.main, cmd[2:])

    net = trained_supernet
    smallest = synthetic_latency([net["space"].smallest()])[0]
    proc = run(evo_cmd(net, tmp_path / "x.yml", "--latency-constraint", f"{smallest / 3:.3f}"))
    assert_user_error(proc, "smallest predicted latency seen")

    proc = run(evo_cmd(net, tmp_path / "x.yml", "--latency-constraint", "20", "--encoder-embed-dim", "48",
                       "--encoder-embed-choice", "48", "32"))
    assert_user_error(proc, "does not match the SuperTransformer", "encoder-embed-dim")

    wrong = tmp_path / "nine_features.pt"
    torch.save(HatMLP(feature_dim=9).state_dict(), wrong)
    proc = run(evo_cmd(net, tmp_path / "x.yml", "--latency-constraint", "20", "--ckpt-path", str(wrong),
                       "--feature-norm", *["1"] * 10, "--lat-norm", "10"))
    assert_user_error(proc, "9 features")

    mlp = HatMLPPredictor(HatMLP(), [32, 3, 64, 4, 32, 3, 64, 4, 4, 2], 20.0)
    mlp.save(tmp_path / "mlp.pt")
    proc = run(evo_cmd(net, tmp_path / "x.yml", "--latency-constraint", "20", "--ckpt-path",
                       str(tmp_path / "mlp.pt"), "--lat-norm", "200"))
    assert_user_error(proc, "lat-norm 20")

    proc = run(evo_cmd(net, tmp_path / "x.yml", "--latency-constraint", "20", "--restore-file",
                       str(tmp_path / "missing.pt")))
    assert_user_error(proc, "missing.pt")
    assert not (tmp_path / "x.yml").exists()


def test_layer_norm_placement_of_the_checkpoint_is_used_with_a_warning(capsys):
    model = build_tiny()
    args = tiny_args(restore_file="super.pt", configs="space.yml", encoder_normalize_before=True)
    assert check_space(args, model) == SearchSpace.from_args(model.args)
    err = capsys.readouterr().err
    assert "encoder-normalize-before False, space.yml says True" in err and "decoder-normalize" not in err
    check_space(tiny_args(restore_file="super.pt", configs="space.yml"), model)
    assert capsys.readouterr().err == ""


def test_written_yaml_round_trips(space, tmp_path):
    config = space.gene_to_config(canonical_gene(space, space.random_gene(random.Random(3))))
    write_subtransformer_yaml(config, tmp_path / "c.yml")
    assert read_subtransformer_yaml(tmp_path / "c.yml") == active_config(config)
    assert SearchSpace.validate(space, read_subtransformer_yaml(tmp_path / "c.yml"))


def test_search_cost_benchmark_reports_same_result_and_fewer_evaluations(trained_supernet, tmp_path):
    proc = run([sys.executable, "benchmarks/search_cost.py", *evo_cmd(trained_supernet, tmp_path / "s.yml")[2:],
                "--latency-constraint", "20", "--json"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["same_result"] is True
    assert report["evaluations_original"] == 4 * 12 > report["evaluations_cached"] > 0
    assert report["wall_ratio"] > 0


def test_shuffled_sources_give_each_sentence_the_previous_sentences_source(trained_supernet, tmp_path):
    from hat.search.runner import CONFIG_FLAGS, build_fitness, get_parser, setup
    from hat.config_args import parse_config_args

    args = parse_config_args(get_parser(), evo_cmd(trained_supernet, tmp_path / "s.yml", "--latency-constraint", "25")[2:],
                             CONFIG_FLAGS)
    fitness = build_fitness(args, setup(args).model)
    shuffled = fitness.with_shuffled_sources()
    config = trained_supernet["space"].largest()
    sample = fitness.batches[0]
    src = sample["net_input"]["src_tokens"]
    assert src.size(0) > 1 and torch.equal(shuffled.batches[0]["net_input"]["src_tokens"][1], src[0])
    assert torch.equal(shuffled.batches[0]["net_input"]["src_tokens"][0], src[-1])
    assert torch.equal(shuffled.batches[0]["target"], sample["target"])  # only the sources move
    # independent computation on the first batch: the criterion on a batch permuted by hand
    order = [src.size(0) - 1] + list(range(src.size(0) - 1))
    by_hand = {**sample, "net_input": {**sample["net_input"], "src_tokens": src[order],
                                       "src_lengths": sample["net_input"]["src_lengths"][order]}}
    fitness.model.set_sample_config(config)
    with torch.inference_mode():
        _, size, log = fitness.criterion(fitness.model, by_hand)
    first = ValidationLoss(fitness.model, fitness.criterion, shuffled.batches[:1])
    assert first(config) == pytest.approx(float(log["loss"]) / int(size) / math.log(2), rel=1e-6)
    assert first(config) != pytest.approx(ValidationLoss(fitness.model, fitness.criterion, fitness.batches[:1])(config))
