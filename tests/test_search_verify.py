"""The search checks its answer on the device: verification with a fake (biased) measurement; one test measures
for real and asserts only what holds on any machine (no time is compared with a bound)."""
import json
import math

import pytest

from conftest import assert_user_error, run_in_process, synthetic_latency
from hat.errors import InfeasibleConstraintError
from hat.latency.measure import device_name
from hat.latency.predictor import load_predictor
from hat.search import Constraints, CostModel, EvolutionarySearch, EvolutionSettings
from hat.search.verify import bias_warning, require_choice, top_candidates, verify
from hat.search_space import format_subtransformer_yaml
from test_evo_search import CountingFitness, evo_cmd

SMALL = EvolutionSettings(evo_iter=4, population_size=12, parent_size=3, mutation_size=5, crossover_size=4)


def searched(space, constraint):
    search = EvolutionarySearch(space, SMALL, CountingFitness(), CostModel(space, synthetic_latency), seed=1)
    constraints = Constraints(constraint)
    search.run(constraints)
    return search, constraints


def biased(factor, calls=None):
    """A measurement that reads ``factor`` x the synthetic latency (the predictor's truth)."""
    def measure_many(configs):
        if calls is not None:
            calls.append(len(configs))
        return [{"latency_ms": factor * float(v), "latency_std_ms": 0.1} for v in synthetic_latency(configs)]
    return measure_many


def median_latency(space):
    return float(sorted(synthetic_latency([space.sample(i) for i in range(200)]))[100])


def test_top_candidates_are_the_best_distinct_feasible_ones(space):
    search, constraints = searched(space, median_latency(space))
    top = top_candidates(search.history, space, constraints, 5)
    assert len(top) == 5 and [e.loss for e in top] == sorted(e.loss for e in top)
    assert all(e.latency_ms <= constraints.latency_ms for e in top)
    assert len({tuple(e.gene) for e in top}) == 5
    feasible = [e.loss for e in search.history if e.latency_ms <= constraints.latency_ms]
    assert top[0].loss == min(feasible)


def test_unbiased_measurement_keeps_the_search_result(space):
    search, constraints = searched(space, median_latency(space))
    calls = []
    verification = verify(search.history, space, constraints, 4, biased(1.0, calls))
    assert calls == [4]  # one interleaved measurement of the 4 candidates
    assert verification.chosen.loss == search.results[constraints.name].loss
    assert verification.bias == pytest.approx(1.0) and bias_warning(verification) is None


def test_a_biased_predictor_picks_the_best_candidate_that_meets_the_constraint_when_measured(space):
    search, constraints = searched(space, median_latency(space))
    verification = verify(search.history, space, constraints, 20, biased(1.08))
    chosen = require_choice(verification)
    assert chosen.measured_latency_ms <= constraints.latency_ms
    better = [c for c in verification.candidates if c.loss < chosen.loss]
    assert better and all(c.measured_latency_ms > constraints.latency_ms for c in better)
    assert verification.bias == pytest.approx(1.08)
    assert chosen.loss > search.results[constraints.name].loss  # the predicted winner missed the budget


def test_none_meets_the_constraint_is_one_clear_error_with_a_suggestion(space):
    search, constraints = searched(space, median_latency(space))
    verification = verify(search.history, space, constraints, 3, biased(1.5))
    with pytest.raises(InfeasibleConstraintError) as info:
        require_choice(verification)
    message = str(info.value)
    assert "none of the 3 best" in message and "\n" not in message
    assert f"--latency-constraint {round(constraints.latency_ms / 1.5, 2):g}" in message
    assert "+50%" in bias_warning(verification)


# --- evo_search.py end to end: a predictor that records how its dataset was measured on this machine ---------

def recorded_predictor(net, tmp_path, length):
    """The fixture's ridge predictor, as if trained on a dataset measured here with dummy sentence length ``length``."""
    predictor = load_predictor(net["predictor"])
    predictor.measured_with = {"device": "cpu", "device_name": device_name("cpu"), "threads": 1, "latiter": 1,
                               "beam": 1, "dummy_sentence_length": length, "vocab_size": 16, "original_mode": False}
    path = tmp_path / f"recorded{length}.pt"
    predictor.save(path)
    return path


def search_in_process(capsys, net, tmp_path, *extra):
    """evo_search.py in this process (so that a test can replace the measurement), verifying with a predictor
    recorded as measured on this machine."""
    from hat.cli import evo_search

    cmd = evo_cmd(net, tmp_path / "sub.yml", "--search-dir", str(tmp_path / "search"),
                  "--ckpt-path", str(recorded_predictor(net, tmp_path, 3)), "--verify-rounds", "1", *extra)
    return run_in_process(capsys, evo_search.main, cmd[2:])


def fake_measurement(monkeypatch, measure_many):
    """The search's on-device verification measures with ``measure_many`` instead of timing the models."""
    from hat.search import runner

    monkeypatch.setattr(runner, "device_measurement", lambda model, settings, vocab_size, rounds, log: measure_many)


def verified_rows(tmp_path):
    rows = [json.loads(line) for line in (tmp_path / "search" / "history.jsonl").read_text().splitlines()]
    return [r for r in rows if r.get("verified")]


def test_search_verifies_its_answer_on_this_device(trained_supernet, tmp_path, capsys):
    # the one test of a real measurement: a constraint no machine misses, and nothing compared with a time
    proc = search_in_process(capsys, trained_supernet, tmp_path, "--latency-constraint", "1e6", "--json",
                             "--verify-on-device", "3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])["results"][0]
    assert result["verified"] and len(result["verified_candidates"]) == 3
    measured = [c["measured_latency_ms"] for c in result["verified_candidates"]]
    assert all(math.isfinite(m) and m > 0 for m in measured)
    losses = [c["loss"] for c in result["verified_candidates"]]
    assert losses == sorted(losses) and result["loss"] == losses[0]  # all meet 1e6 ms: the best loss is kept
    # the chosen one's measurement is the one reported, recorded in the history and printed
    assert result["verified_latency_ms"] == measured[0] and result["verified_candidates"][0]["meets_constraint"]
    assert result["predictor_bias"] == pytest.approx(
        sum(m / c["predicted_latency_ms"] for m, c in zip(measured, result["verified_candidates"])) / 3)
    rows = verified_rows(tmp_path)
    assert [r["measured_latency_ms"] for r in rows] == measured and all("predicted_latency_ms" in r for r in rows)
    assert "| verifying the 3 best candidates" in proc.stderr
    assert f"measured {result['verified_latency_ms']:.2f} ms -> {tmp_path / 'sub.yml'}" in proc.stderr


def test_search_keeps_the_best_candidate_that_meets_the_constraint_when_measured(trained_supernet, tmp_path, capsys,
                                                                                  monkeypatch):
    calls = []

    def winner_misses(configs):
        """The predicted winner (the best loss, measured first) measures over the constraint, the others under."""
        calls.append(len(configs))
        return [{"latency_ms": 2000.0 if i == 0 else 500.0, "latency_std_ms": 0.1} for i in range(len(configs))]

    fake_measurement(monkeypatch, winner_misses)
    proc = search_in_process(capsys, trained_supernet, tmp_path, "--latency-constraint", "1000", "--json",
                             "--verify-on-device", "3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert calls == [3]  # one measurement of the 3 best candidates
    result = json.loads(proc.stdout.strip().splitlines()[-1])["results"][0]
    candidates = result["verified_candidates"]
    assert [c["meets_constraint"] for c in candidates] == [False, True, True]
    assert candidates[0]["loss"] <= candidates[1]["loss"]  # the predicted winner was better, and missed the budget
    assert result["verified"] and result["verified_latency_ms"] == 500.0
    assert result["loss"] == candidates[1]["loss"] and result["gene"] == candidates[1]["gene"]
    assert result["predicted_latency_ms"] == candidates[1]["predicted_latency_ms"]
    assert [r["measured_latency_ms"] for r in verified_rows(tmp_path)] == [2000.0, 500.0, 500.0]
    assert (tmp_path / "sub.yml").read_text() == format_subtransformer_yaml(candidates[1]["config"])  # the chosen one
    assert "measured 500.00 ms" in proc.stderr


def test_search_says_so_when_no_candidate_meets_the_constraint_when_measured(trained_supernet, tmp_path, capsys,
                                                                             monkeypatch):
    calls = []
    fake_measurement(monkeypatch, biased(100.0, calls))  # every SubTransformer is >= 1 ms by the predictor's truth
    proc = search_in_process(capsys, trained_supernet, tmp_path, "--latency-constraint", "12",
                             "--verify-on-device", "2")
    assert calls == [2]
    assert_user_error(proc, "none of the 2 best SubTransformers", "measured/predicted",
                      "the predictor is biased for this machine", "--latency-constraint")
    assert not (tmp_path / "sub.yml").exists()


def test_a_machine_that_stayed_busy_is_named_as_the_cause_instead_of_the_predictor(space):
    search, constraints = searched(space, median_latency(space))

    def busy(configs):
        return [{"latency_ms": 2.0 * float(v), "flagged_rounds": 3} for v in synthetic_latency(configs)]

    with pytest.raises(InfeasibleConstraintError, match="stayed busy during 9 of the measurements") as info:
        require_choice(verify(search.history, space, constraints, 3, busy))
    assert "--no-verify-on-device" in str(info.value) and "--latency-constraint" not in str(info.value)
