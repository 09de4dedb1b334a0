"""hat.experiments without running an experiment: stage bookkeeping, the packaged demo space, the steps'
helpers, the console entry points."""
import datetime
import importlib
import json
import os
import subprocess
import tomllib
from types import SimpleNamespace

import pytest

from conftest import ROOT
from hat.checkpoint import weights_fingerprint
from hat.errors import ConfigError, StageError
from hat.experiments import steps
from hat.experiments.demo import demo_space_yaml
from hat.experiments.multi30k import Multi30kSettings, baseline_spec, run as run_multi30k
from hat.experiments.pages import header
from hat.experiments.seeds import mean_std, over_seeds
from hat.experiments.stages import KEPT_OUT, Pipeline, StageMissing, git_commit, languages, stored_settings
from hat.experiments.weight_sharing import in_space, kendall_tau, search_space
from hat.latency.measure import device_name


def test_a_stage_runs_once_and_a_rerun_skips_it(tmp_path, capsys):
    calls = []

    def work():
        calls.append(1)
        return {"value": (1, 2)}

    first = Pipeline(tmp_path / "work").stage("step", work)
    assert calls == [1] and first["value"] == [1, 2] and first["stage_wall_s"] >= 0  # as stored: JSON types
    assert json.loads((tmp_path / "work" / "stages" / "step.json").read_text()) == first
    again = Pipeline(tmp_path / "work").stage("step", work)
    assert calls == [1] and again == first
    assert "=== step: done before, skipped" in capsys.readouterr().out


def test_a_failing_stage_leaves_no_marker_and_runs_again(tmp_path):
    pipeline = Pipeline(tmp_path)

    def fail():
        raise StageError("broken")

    with pytest.raises(StageError):
        pipeline.stage("step", fail)
    assert not pipeline.marker("step").exists() and list(pipeline.stages.iterdir()) == []
    assert pipeline.stage("step", lambda: {"ok": True})["ok"] is True


def test_a_stored_only_pipeline_reads_results_and_never_runs_a_stage(tmp_path):
    with Pipeline(tmp_path) as pipeline:
        pipeline.stage("done", lambda: {"value": 1})
        pipeline.store_settings("experiment", {"seeds": [1, 2]})
    assert stored_settings(tmp_path) == {"experiment": {"seeds": [1, 2]}}
    calls = []
    with Pipeline(tmp_path, stored_only=True) as pipeline:
        assert pipeline.stage("done", lambda: calls.append(1) or {})["value"] == 1
        with pytest.raises(StageMissing, match="stage 'missing' has not finished"):
            pipeline.stage("missing", lambda: calls.append(1) or {})
    assert calls == [] and not pipeline.marker("missing").exists()


def test_a_missing_output_is_made_again_only_when_asked_for_and_must_match_its_fingerprint(tmp_path, capsys):
    made = []

    def write(text):
        def run():
            made.append(text)
            (tmp_path / "out.bin").write_text(text)
            return {"fingerprint": text}
        return run

    with Pipeline(tmp_path) as pipeline:
        pipeline.stage("make", write("a"))
        assert pipeline.output("make", tmp_path / "out.bin", write("never")) == tmp_path / "out.bin"
        assert made == ["a"]  # there: not made again
        (tmp_path / "out.bin").unlink()
        assert pipeline.output("make", tmp_path / "out.bin", write("a")).read_text() == "a" and made == ["a", "a"]
        assert "out.bin is not here" in capsys.readouterr().out
        (tmp_path / "out.bin").unlink()
        with pytest.raises(StageError, match="differs from the stored one .fingerprint b instead of a."):
            pipeline.output("make", tmp_path / "out.bin", write("b"))
        assert not (tmp_path / "out.bin").exists()  # a later run does not take the mismatching file as the stored one
    with Pipeline(tmp_path, stored_only=True) as pipeline:  # regenerating pages computes nothing
        assert pipeline.output("make", tmp_path / "out.bin", write("c")) == tmp_path / "out.bin" and "c" not in made


def test_a_work_folder_kept_in_git_leaves_out_its_large_files(tmp_path):
    import subprocess

    work = tmp_path / "work"
    with Pipeline(work):
        pass
    assert (work / ".gitignore").read_text() == KEPT_OUT
    files = ["stages/train.json", "latency/predictor.pt", "latency/latency.csv", "search/history.jsonl",
             "supertransformer/checkpoint_last.pt", "models/m/seed1/checkpoint_best.pt", "data/bin/train.en-de.en.bin",
             "onnx/m/encoder.onnx", "models/m/seed1/train.out", "search/.hat.yml.x1.tmp"]
    for name in files:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text("x")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    listed = subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=work, capture_output=True,
                            text=True, check=True).stdout.split()
    assert sorted(listed) == [".gitignore", "latency/latency.csv", "latency/predictor.pt", "models/m/seed1/train.out",
                              "search/history.jsonl", "stages/train.json"]


def test_provenance_sums_the_visited_stages_and_names_their_commits(tmp_path):
    pipeline = Pipeline(tmp_path)
    pipeline.stage("a", lambda: {})
    pipeline.marker("old").write_text(json.dumps({"stage_wall_s": 2.5}))  # stored before commits were recorded
    pipeline.marker("unvisited").write_text(json.dumps({"stage_wall_s": 100.0}))
    pipeline.stage("old", lambda: {})
    pipeline.stage("a", lambda: {})  # visited twice, counted once
    # a training resumed across sittings: 40 s of training in all, the last sitting 3 s
    pipeline.marker("resumed").write_text(json.dumps({"stage_wall_s": 3.0, "training_s": 40.0}))
    pipeline.stage("resumed", lambda: {})
    # and a search: 70 s in all
    pipeline.marker("search").write_text(json.dumps({"stage_wall_s": 5.0, "wall_s": 5.0, "search_s": 70.0}))
    pipeline.stage("search", lambda: {})
    a = json.loads(pipeline.marker("a").read_text())
    provenance = pipeline.provenance()
    assert provenance["wall_s"] == round(a["stage_wall_s"] + 2.5 + 40.0 + 70.0, 1)
    assert provenance["commits"] == sorted({a["stage_commit"], "unknown"}) and provenance["finished"].endswith("UTC")
    assert a["stage_machine"] == device_name("cpu") and provenance["machines"] == [a["stage_machine"]]
    assert provenance["machines_unrecorded"] == 3  # "old", "resumed" and "search"


def test_a_page_names_the_machines_that_ran_its_stages_not_the_one_writing_it(tmp_path):
    pipeline = Pipeline(tmp_path / "work")
    pipeline.stages.mkdir(parents=True)
    for name, machine in (("a", "CPU A"), ("b", "CPU B"), ("c", "CPU A")):  # a run continued on another machine
        pipeline.marker(name).write_text(json.dumps({"stage_wall_s": 1.0, "stage_machine": machine}))
    pipeline.marker("old").write_text(json.dumps({"stage_wall_s": 1.0}))
    for name in ("c", "a", "b", "old"):
        pipeline.stage(name, lambda: {})
    results = tmp_path / "results"
    results.mkdir()
    lines = header(results, "page", "A page", {"command": "cmd", "threads": 1, "commit": "abc",
                                               "provenance": pipeline.provenance()})
    assert "- machine(s) that ran the stages: CPU A, CPU B (1 stage(s) stored without their machine); 1 thread(s) " \
           "for latency" in lines
    assert device_name("cpu") not in "\n".join(lines)
    run = json.loads((results / "page.run.json").read_text())
    assert run["machines"] == ["CPU A", "CPU B"] and run["machines_unrecorded"] == 1 and "machine" not in run


def test_over_seeds_means_and_sample_stds():
    per_seed = {2: {"bleu": 20.0, "sacrebleu": 21.0, "train_wall_s": 10.0, "params": 7, "stage_wall_s": 1.0},
                1: {"bleu": 24.0, "sacrebleu": 22.0, "train_wall_s": 14.0, "stage_wall_s": 2.0}}  # counted once
    row = over_seeds(per_seed)
    assert row["bleu"] == 22.0 and row["bleu_std"] == pytest.approx(8 ** 0.5)  # sqrt(((2^2 + 2^2) / (2 - 1))
    assert row["sacrebleu"] == 21.5 and row["train_wall_s"] == 12.0 and row["params"] == 7
    assert row["seeds"] == [1, 2] and "stage_wall_s" not in row and row["per_seed"]["2"]["bleu"] == 20.0
    assert mean_std([3.0]) == (3.0, 0.0)


def test_kendall_tau_b_against_hand_counts():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    # pairs of (1,2,3,4) vs (1,3,2,4): 5 concordant, 1 discordant -> (5 - 1) / 6
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    # a tie in b: pairs 5 concordant, 0 discordant, 1 tied in b -> 5 / sqrt(5 * 6)
    assert kendall_tau([1, 2, 3, 4], [1, 2, 2, 4]) == pytest.approx(5 / 30 ** 0.5)
    assert kendall_tau([1, 2, 3], [0, 0, 0]) is None


def test_in_space_needs_the_space_choices_and_its_qkv_dim(synthetic_bin, tmp_path):
    from conftest import TINY_SPACE_YAML
    from hat.experiments.multi30k import baseline_files

    (tmp_path / "space.yml").write_text(TINY_SPACE_YAML)
    (tmp_path / "common.yml").write_text(TINY_SPACE_YAML + "train-subtransformer: True\n")
    space = search_space(synthetic_bin, tmp_path / "space.yml")
    models = {}
    for text in ("32,64,4,3,2", "16,64,2,3,1", "32,48,4,3,1"):  # in; qkv 16 != 32; FFN 48 not a choice
        name, dims = baseline_spec(text)
        yml, common = baseline_files(name, dims, tmp_path / "common.yml", tmp_path)
        models[name] = in_space({"yml": str(yml), "common": str(common)}, space)
    assert models == {"transformer-32-3-2": True, "transformer-16-3-1": False, "transformer-32-3-1": False}
    largest = tmp_path / "largest.yml"
    from hat.search_space import write_subtransformer_yaml
    write_subtransformer_yaml(space.largest(), largest)
    assert in_space({"yml": str(largest), "common": str(tmp_path / "common.yml")}, space)


def test_the_demo_space_is_package_data_and_a_valid_search_space(tmp_path):
    from hat.models.transformer_super import base_architecture
    from hat.search_space import SearchSpace
    from hat.training import parse_train_args

    text = demo_space_yaml("de", "en")
    assert "\nsource-lang:" not in demo_space_yaml() and text.endswith("source-lang: de\ntarget-lang: en\n")
    path = tmp_path / "space.yml"
    path.write_text(text)
    args = parse_train_args([str(tmp_path), f"--configs={path}"])
    base_architecture(args)
    assert (args.source_lang, args.target_lang, args.encoder_embed_dim) == ("de", "en", 96)
    assert SearchSpace.from_args(args).decoder_layer_num_choice == (3, 2, 1)


def test_languages_are_read_from_the_binarised_corpus(synthetic_bin, tmp_path):
    assert languages(synthetic_bin, None, None) == ("src", "tgt")
    assert languages(tmp_path, "en", "de") == ("en", "de")
    with pytest.raises(ConfigError, match="give --source-lang"):
        languages(tmp_path, None, None)


def test_git_commit_of_the_current_checkout_or_unknown(tmp_path):
    assert git_commit(tmp_path) == "unknown"
    if (ROOT / ".git").exists():
        assert git_commit(ROOT) != "unknown"


def test_a_stage_stores_the_commit_of_its_code_not_of_its_work_folders_progress(tmp_path, monkeypatch):
    def git(*args):
        return subprocess.run(["git", *args], cwd=tmp_path, capture_output=True, text=True, check=True).stdout.strip()

    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", "code.py")
    git("commit", "-q", "-m", "code")
    code = git("rev-parse", "--short", "HEAD")
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "docs" / "results" / "page.md"
    with Pipeline(tmp_path / "records" / "run", outputs=[page.parent]) as pipeline:
        pipeline.stage("first", lambda: {})
        page.parent.mkdir(parents=True)
        page.write_text("a results page\n")
        git("add", "records", "docs")
        git("commit", "-q", "-m", "progress")  # what run-and-commit does every ten minutes, and a page committed
        assert git("rev-parse", "--short", "HEAD") != code
        (pipeline.workdir / "log.txt").write_text("more progress\n")  # untracked work-folder files: not dirty
        page.write_text("the page written again by the run\n")  # an output of the run, not code: not dirty
        pipeline.stage("second", lambda: {})
        (tmp_path / "code.py").write_text("x = 2\n")  # a tracked file outside the work folder changed
        pipeline.stage("third", lambda: {})
        stored = {name: json.loads(pipeline.marker(name).read_text())["stage_commit"]
                  for name in ("first", "second", "third")}
        assert stored == {"first": code, "second": code, "third": f"{code}+dirty"}
        assert pipeline.provenance()["commits"] == [code, f"{code}+dirty"]
    assert git_commit(tmp_path) == git("rev-parse", "--short", "HEAD") + "+dirty"  # no work folder: HEAD


def test_the_last_stage_finished_is_the_stored_time_not_the_files(tmp_path):
    pipeline = Pipeline(tmp_path)
    before = datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0, tzinfo=None)
    pipeline.stage("a", lambda: {})
    old = pipeline.marker("old")
    old.write_text(json.dumps({"stage_wall_s": 1.0}))  # stored before finish times were: its file's time
    os.utime(old, (946684800, 946684800))  # 2000-01-01 00:00 UTC
    pipeline.stage("old", lambda: {})
    stored = datetime.datetime.strptime(json.loads(pipeline.marker("a").read_text())["stage_finished"],
                                        "%Y-%m-%dT%H:%M:%SZ")
    assert before <= stored
    os.utime(pipeline.marker("a"), (2e9, 2e9))  # a checkout's file times (2033): not the stage's
    assert pipeline.provenance()["finished"] == stored.strftime("%Y-%m-%d %H:%M UTC")
    alone = Pipeline(tmp_path)
    alone.stage("old", lambda: {})
    assert alone.provenance()["finished"] == "2000-01-01 00:00 UTC"


def test_the_reproduction_checks_its_configs_before_any_work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not a checkout: the default configs are absent
    with pytest.raises(ConfigError, match="run from a checkout"):
        run_multi30k(Multi30kSettings(workdir=str(tmp_path / "work")))
    assert not (tmp_path / "work").exists()
    assert baseline_spec("32,64,4,3,1") == ("transformer-32-3-1", (32, 64, 4, 3, 1))
    with pytest.raises(ConfigError):
        baseline_spec("32,64")


def test_a_failed_training_is_a_stage_error_after_its_command(tmp_path, capsys):
    with pytest.raises(StageError, match="hat-train failed"):
        steps.run_train([tmp_path / "absent", "--cpu"])
    assert f"$ hat-train {tmp_path / 'absent'} --cpu" in capsys.readouterr().out


def test_every_console_command_has_its_cli_function():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"hat-train", "hat-evo-search", "hat-demo", "hat-reproduce-multi30k", "hat-bleu"} <= set(scripts)
    for name, target in scripts.items():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), name


def test_a_second_run_on_the_same_work_folder_is_refused_while_the_first_holds_it(tmp_path):
    import os

    from hat.errors import OutputError

    with Pipeline(tmp_path / "work") as pipeline:
        assert pipeline.stage("step", lambda: {"ok": 1})["ok"] == 1
        with pytest.raises(OutputError, match=f"in use by another run \\(pid {os.getpid()}\\)"):
            with Pipeline(tmp_path / "work"):
                pass
    with Pipeline(tmp_path / "work") as again:  # released when the first run ends
        assert again.stage("step", lambda: {"ok": 2})["ok"] == 1


def test_stop_after_ends_the_run_after_that_stage_and_a_later_run_continues(tmp_path):
    from hat.cli.experiment_flags import run_or_stop
    from hat.experiments.stages import PipelineStopped

    ran = []

    def experiment(settings):
        with Pipeline(tmp_path / "work", settings.stop_after) as pipeline:
            for name in ("first", "second", "third"):
                pipeline.stage(name, lambda name=name: ran.append(name) or {"name": name})
            return {"done": True}

    class Settings:
        stop_after = "second"

    with pytest.raises(PipelineStopped, match="'second'"):
        experiment(Settings)
    assert ran == ["first", "second"]
    assert run_or_stop(experiment, Settings) is None  # both stored: skipped, and it stops there again
    assert ran == ["first", "second"]
    Settings.stop_after = None
    assert run_or_stop(experiment, Settings) == {"done": True}
    assert ran == ["first", "second", "third"]


def test_hat_results_names_unfinished_experiments_and_refuses_other_folders(tmp_path, capsys):
    from hat.cli import results

    with Pipeline(tmp_path / "work") as pipeline:
        pipeline.store_settings("multi30k_en_de", {"workdir": str(tmp_path / "work"), "data": str(tmp_path)})
    assert results.main(["--workdir", str(tmp_path / "work"), "--results-dir", str(tmp_path / "out")]) == 1
    out = capsys.readouterr().out
    assert "multi30k_en_de (" in out and "stage 'data' has not run" in out and not (tmp_path / "out").exists()
    (tmp_path / "empty" / "stages").mkdir(parents=True)
    for folder, message in ((tmp_path / "absent", "not the work folder"), (tmp_path / "empty", "no stored")):
        with pytest.raises(ConfigError, match=message):
            results.main(["--workdir", str(folder)])


def test_hat_results_writes_the_readme_block_of_recorded_pages_and_only_that(tmp_path, capsys):
    from hat.cli import results
    from hat.experiments.results_index import RECORDED_BEGIN, RECORDED_END

    pages = tmp_path / "docs" / "results"
    pages.mkdir(parents=True)
    (pages / "predictor_accuracy.json").write_text(json.dumps(
        [{"dataset": "cpu", "model": "ridge", "rmse": 4.62, "mape": 5.54},
         {"dataset": "cpu", "model": "hat-mlp", "rmse": 4.77, "mape": 6.4}]))
    (pages / "predictor_accuracy.run.json").write_text(json.dumps(
        {"wall_s": 3 * 3600 + 7 * 60, "finished": "2026-12-07 22:28 UTC", "seeds": []}))
    readme = tmp_path / "README.md"
    readme.write_text(f"# intro\n{RECORDED_BEGIN}\n- an old line\n{RECORDED_END}\n\n## after\n")
    with Pipeline(tmp_path / "work") as pipeline:  # one stored experiment, unfinished: its page is not rewritten
        pipeline.store_settings("multi30k_en_de", {"workdir": str(tmp_path / "work"), "data": str(tmp_path)})
    code = results.main(["--workdir", str(tmp_path / "work"), "--results-dir", str(pages), "--readme", str(readme)])
    assert code == 1 and "README.md: recorded results written" in capsys.readouterr().out
    lines = readme.read_text().splitlines()
    block = lines[lines.index(RECORDED_BEGIN) + 1:lines.index(RECORDED_END)]
    assert lines[0] == "# intro" and lines[-2:] == ["", "## after"] and "- an old line" not in lines
    assert block[0] == ("- [predictor_accuracy](docs/results/predictor_accuracy.md) (predicted vs measured latency "
                        "figure): best test RMSE (MAPE) per dataset: cpu: ridge 4.6 ms (5.5 %). Reproduces: **yes**; "
                        "3 h 07 min (2026-12-07).")
    assert block[1].startswith("- not recorded yet: `multi30k_en_de`, ") and len(block) == 2
    readme.write_text("# no block\n")
    with pytest.raises(ConfigError, match="no recorded-results block"):
        results.main(["--workdir", str(tmp_path / "work"), "--results-dir", str(pages), "--readme", str(readme)])
    assert readme.read_text() == "# no block\n"


def test_best_so_far_rows_and_their_mean_curves(tmp_path):
    from hat.experiments.search_comparison import best_so_far, mean_curves

    history = tmp_path / "history.jsonl"
    lines = [{"loss": 5.0, "generation": 0}, {"loss": 6.0, "generation": 0}, {"loss": 4.0, "generation": 1},
             {"loss": 4.5, "generation": 1}, {"loss": 4.2, "generation": 1}, {"loss": 3.0, "generation": 2},
             {"loss": 9.0, "generation": 2, "verified": True}]  # a verified candidate is not an evaluation
    history.write_text("".join(json.dumps(line) + "\n" for line in lines))
    rows = best_so_far(history, "evolution", 1)
    assert [(r["evaluations"], r["best_loss"]) for r in rows] == [(1, 5.0), (2, 5.0), (3, 4.0), (5, 4.0), (6, 3.0)]
    other = [{"method": "evolution", "seed": 2, "evaluations": n, "best_loss": loss} for n, loss in ((2, 7.0), (4, 2.0))]
    grid, mean, std = mean_curves(rows + other)["evolution"]
    # both seeds from evaluation 2 to 4: seed 1 is 5, 4, 4; seed 2 is 7, 7, 2
    assert grid.tolist() == [2, 3, 4] and mean.tolist() == [6.0, 5.5, 3.0]
    assert std == pytest.approx([2 ** 0.5, 4.5 ** 0.5, 2 ** 0.5])  # sample std of two values: |a - b| / sqrt(2)


def _curve_rows(method, seed, points):
    return [{"method": method, "seed": seed, "evaluations": n, "best_loss": loss} for n, loss in points]


def test_search_verdict_compares_the_methods_at_the_evaluations_all_reached():
    from hat.experiments.search_comparison import verdict

    # random's second seed stopped at 8 evaluations: evolution's later drop to 1.0 must not count
    rows = (_curve_rows("evolution", 1, [(1, 5.0), (5, 3.0), (10, 1.0)]) + _curve_rows("evolution", 2, [(1, 5.0), (6, 3.2), (9, 3.2)])
            + _curve_rows("random", 1, [(1, 5.0), (4, 4.0), (10, 3.9)]) + _curve_rows("random", 2, [(1, 5.0), (8, 4.2)]))
    result = verdict(rows)
    assert result["evaluations"] == 8
    assert result["evolution"]["mean"] == pytest.approx(3.1) and result["random"]["mean"] == pytest.approx(4.1)
    assert result["evolution"]["std"] == pytest.approx(0.2 / 2 ** 0.5)  # sample std of two: |a - b| / sqrt(2)
    assert result["gain"] == pytest.approx(1.0) and result["spread"] == pytest.approx(0.2)  # hypot of 0.1414 twice
    assert result["verdict"] == "yes"
    # lower, but by less than the seeds' spread; then not lower at all
    close = _curve_rows("evolution", 1, [(1, 3.0)]) + _curve_rows("evolution", 2, [(1, 4.0)])
    other = _curve_rows("random", 1, [(1, 3.2)]) + _curve_rows("random", 2, [(1, 4.0)])
    assert verdict(close + other)["verdict"] == "partly"
    assert verdict(_curve_rows("evolution", 1, [(1, 4.0)]) + _curve_rows("random", 1, [(1, 4.0)]))["verdict"] == "no"


def test_search_comparison_page_and_index_row_come_from_one_json(tmp_path):
    from hat.experiments import results_index
    from hat.experiments.search_comparison import NAME, write_results

    rows = (_curve_rows("evolution", 1, [(1, 5.0), (5, 3.0)]) + _curve_rows("evolution", 2, [(1, 5.0), (5, 3.2)])
            + _curve_rows("random", 1, [(1, 5.0), (5, 4.0)]) + _curve_rows("random", 2, [(1, 5.0), (5, 4.2)]))
    winners = {method: {"family": method, "seed": 2, "loss": loss, "predicted_latency_ms": 60.0, "params": 10 ** 6,
                        "bleu": bleu, "bleu_std": 0.3, "seeds": [1, 2], "per_seed": {}, "checkpoint": "x.pt"}
               for method, loss, bleu in (("evolution", 3.0, 31.0), ("random", 4.0, 30.0))}
    context = {"command": "cmd", "threads": 1, "commit": "abc",
               "provenance": {"wall_s": 60.0, "commits": ["abc"], "machines": ["cpu"], "machines_unrecorded": 0,
                              "finished": "2026-12-07 10:00 UTC"}}
    write_results(rows, winners, 60.0, tmp_path, context)
    page = json.loads((tmp_path / f"{NAME}.json").read_text())
    assert page["curves"] == rows and page["constraint_ms"] == 60.0
    assert page["winners"]["random"]["bleu"] == 30.0 and "checkpoint" not in page["winners"]["random"]
    text = (tmp_path / f"{NAME}.md").read_text()
    assert "- training seeds: 1, 2" in text and "| 31.00 +- 0.30 (seed 2, 60.0 ms) |" in text
    assert "random - evolution +1.0000 bits, spread 0.2000 -> **yes**" in text
    assert "evolution's - random's +1.00 BLEU (seeds' spread 0.42)" in text
    found, verdict = results_index._search_vs_random(page)
    assert verdict == "yes" and "after 5 evaluations" in found and "random 30.00 BLEU" in found


def test_design_space_verdicts_use_the_main_rule_with_the_full_space_as_hat():
    from hat.experiments import results_index
    from hat.experiments.design_space import verdicts

    rows = [{"variant": "full-space", "latency_ms": 60.0, "bleu": 30.0, "bleu_std": 0.2},
            {"variant": "no-arbitrary-attn", "latency_ms": 61.0, "bleu": 29.0, "bleu_std": 0.2},  # slower, 1 BLEU less
            {"variant": "uniform-layers", "latency_ms": 59.0, "bleu": 29.0, "bleu_std": 0.2}]  # faster: not comparable
    attn, uniform = verdicts(rows)
    assert attn.baseline == "no-arbitrary-attn" and attn.beaten and attn.beyond_spread
    assert attn.bleu_gain == pytest.approx(1.0) and attn.gain_spread == pytest.approx(0.2 * 2 ** 0.5)
    assert not uniform.beaten and uniform.best_not_slower is None and uniform.speedup == pytest.approx(59 / 60)
    found, verdict = results_index._design_space(rows)
    assert verdict == "partly" and "1 of 2 smaller spaces beaten, 1 beyond the seeds' spread" in found
    assert "full space vs uniform-layers: +1.00 BLEU at 1.02x its latency" in found


def test_supernet_training_summary_ranks_the_shared_models_and_checks_the_goal():
    from hat.experiments.supernet_training import summary

    def rows(supernet, inherited, searched_inherited):
        scratch = {"a": 20.0, "b": 22.0, "c": 24.0}
        out = [{"supernet": supernet, "name": n, "ranked": True, "searched": False, "inherited_bleu": inherited[n],
                "scratch_bleu": s, "gap": s - inherited[n]} for n, s in scratch.items()]
        out.append({"supernet": supernet, "name": "w", "ranked": False, "searched": True,
                    "inherited_bleu": searched_inherited, "scratch_bleu": 23.0, "gap": 23.0 - searched_inherited})
        return out

    # uniform: a and b swapped (tau 1/3); sandwich: the same order as from scratch, its winner 0.4 behind
    result = summary(rows("uniform", {"a": 19.0, "b": 18.0, "c": 22.5}, 21.0)
                     + rows("sandwich", {"a": 19.5, "b": 21.8, "c": 23.9}, 22.6))
    assert result["uniform"]["kendall_tau"] == pytest.approx(1 / 3) and result["sandwich"]["kendall_tau"] == 1.0
    assert result["uniform"]["ranked"] == 3 and result["uniform"]["gap_max"] == 4.0  # the winner is not ranked
    assert result["sandwich"]["searched_gap_max"] == pytest.approx(0.4) and result["goal"]["met"]
    # a sandwich winner 0.6 behind misses the gap goal; a worse ranking misses the tau goal
    missed = summary(rows("uniform", {"a": 19.0, "b": 20.0, "c": 22.5}, 21.0)
                     + rows("sandwich", {"a": 20.5, "b": 19.8, "c": 23.9}, 22.4))
    assert missed["goal"] == {"gap_met": False, "tau_met": False, "met": False}


def test_a_finished_training_is_not_started_again(tmp_path, monkeypatch):
    import torch

    started = []
    monkeypatch.setattr(steps, "run_train",
                        lambda argv, output=None, threads=None: started.append([str(a) for a in argv]))
    save = tmp_path / "save"
    save.mkdir()
    for name, value in (("checkpoint_last.pt", 1.0), ("checkpoint_best.pt", 2.0)):
        torch.save({"model": {"w": torch.full((2,), value)}, "optimizer_history": [{"num_updates": 10}],
                    "extra_state": {"previous_training_time": 50.0}}, save / name)
    # fairseq started on a finished run would make one more update: the step reads the checkpoint instead
    assert steps.train_subtransformer("data", "sub.yml", "common.yml", save, 10) == {
        "checkpoint": str(save / "checkpoint_best.pt"), "updates": 10, "training_s": 50.0,
        "fingerprint": weights_fingerprint(save / "checkpoint_best.pt")}
    assert steps.train_supertransformer("data", "space.yml", save, 10)["fingerprint"] == weights_fingerprint(
        save / "checkpoint_last.pt") != weights_fingerprint(save / "checkpoint_best.pt")
    assert steps.train_supertransformer("data", "space.yml", save, 20, budget_s=50.0)["updates"] == 10
    assert started == []
    steps.train_supertransformer("data", "space.yml", save, 20, budget_s=60.0)
    steps.train_subtransformer("data", "sub.yml", "common.yml", save, 11, ["--seed", 2])
    assert started == [["data", "--configs=space.yml", "--save-dir", str(save), "--max-update", "20", "--cpu",
                        "--stop-time-hours", str(60.0 / 3600)],
                       ["data", "--configs=sub.yml", "--sub-configs=common.yml", "--save-dir", str(save),
                        "--max-update", "11", "--cpu", "--seed", "2"]]
    assert steps.training_seconds({"training_s": 50.0, "stage_wall_s": 60.0}) == 50.0
    assert steps.training_seconds({"stage_wall_s": 60.0}) == 60.0  # a stage stored before training_s


def test_run_concurrently_keeps_the_order_and_stops_starting_calls_after_an_error(monkeypatch):
    import threading

    from hat.experiments import stages
    from hat.experiments.stages import run_concurrently

    # two at a time, never more: each pair meets at a barrier (a sequential run would break it), no timing
    running, most = [], []
    lock, pairs = threading.Lock(), threading.Barrier(2, timeout=60)

    def call(i):
        def run():
            with lock:
                running.append(i)
                most.append(len(running))
            pairs.wait()
            with lock:
                running.remove(i)
            return i
        return run

    assert run_concurrently([call(i) for i in range(4)], 2) == [0, 1, 2, 3] and max(most) == 2
    assert run_concurrently([lambda i=i: i for i in range(3)], 1) == [0, 1, 2]

    # the calls queued behind a failure are not run: call 1 ends only once the failure is known
    flags = []

    class Flag(threading.Event):
        def __init__(self):
            super().__init__()
            flags.append(self)

    monkeypatch.setattr(stages, "threading", SimpleNamespace(Event=Flag))
    started = []

    def fails():
        raise RuntimeError("call 0")

    def after_the_failure():
        flags[0].wait(timeout=60)
        return 1

    calls = [fails, after_the_failure] + [lambda i=i: started.append(i) for i in range(2, 6)]
    with pytest.raises(RuntimeError, match="call 0"):
        run_concurrently(calls, 2)
    assert started == [] and flags[0].is_set()


def test_a_tool_runs_in_its_own_process_on_the_threads_asked_for(tmp_path, monkeypatch):
    (tmp_path / "threads_probe.py").write_text(
        "import os, sys\nprint(os.environ.get('OMP_NUM_THREADS'), os.environ.get('MKL_NUM_THREADS'), sys.argv[1:])\n"
        "sys.exit(3 if 'fail' in sys.argv else 0)\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    out = tmp_path / "logs" / "tool.out"
    steps.run_tool("probe", "threads_probe", ["a", 1], out, threads=1)
    assert out.read_text() == "1 1 ['a', '1']\n"
    with pytest.raises(StageError, match=f"probe failed with exit code 3 \\(its output in {out}\\)"):
        steps.run_tool("probe", "threads_probe", ["fail"], out, threads=2)
    assert out.read_text().splitlines()[-1] == "2 2 ['fail']"  # appended
