"""hat.experiments without running an experiment: stage bookkeeping, the packaged demo space, the steps'
helpers, the console entry points."""
import importlib
import json
import tomllib

import pytest

from conftest import ROOT
from hat.errors import ConfigError, StageError
from hat.experiments import steps
from hat.experiments.demo import demo_space_yaml
from hat.experiments.multi30k import Multi30kSettings, baseline_spec, run as run_multi30k
from hat.experiments.report import git_commit
from hat.experiments.stages import Pipeline, languages


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
