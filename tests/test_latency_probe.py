"""The calibration probe and interleaved rounds, with fake timers (no timing assertions)."""
import pytest

from hat.errors import LatencyError
from hat.latency.interleaved import measure_interleaved
from hat.latency.probe import CalibrationProbe, ProbeSettings


class FakeProbe:
    """Probe timings from a script: calibration values first, then one value per probe run."""

    def __init__(self, values):
        self.values = list(values)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.values.pop(0)


def probe_with(values, **settings):
    sleeps = []
    probe = CalibrationProbe(FakeProbe(values), ProbeSettings(calibration_runs=3, **settings), sleep=sleeps.append)
    return probe, sleeps


def counting(results):
    calls = []

    def measure():
        calls.append(len(calls))
        return results[len(calls) - 1]

    return measure, calls


def test_calibration_takes_the_median_probe_after_a_warm_up():
    probe, _ = probe_with([50.0, 12.0, 10.0, 11.0])
    assert probe.calibrate() == 11.0  # the warm-up run (50) is not counted


def test_a_quiet_probe_keeps_the_first_measurement():
    probe, sleeps = probe_with([10, 10, 10, 10, 10.5, 10.9])
    measure, calls = counting([42.0])
    probed = probe.measure(measure)
    assert (probed.result, probed.repeats, probed.flagged) == (42.0, 0, False)
    assert calls == [0] and sleeps == []
    assert probed.probe_ratio == pytest.approx(1.09)


def test_a_slow_probe_discards_and_repeats_the_measurement():
    # calibration 10 ms; before 10, after 15 (busy: +50 %) -> repeat; before 10, after 10 -> keep the second
    probe, sleeps = probe_with([10, 10, 10, 10, 10, 15, 10, 10])
    measure, calls = counting([80.0, 50.0])
    probed = probe.measure(measure)
    assert probed.result == 50.0 and probed.repeats == 1 and not probed.flagged
    assert len(calls) == 2 and sleeps == [0.2]
    assert probe.report()["remeasured"] == 1 and probe.report()["flagged"] == 0


def test_a_busy_probe_before_the_measurement_also_repeats_it():
    probe, _ = probe_with([10, 10, 10, 10, 13, 10, 10, 10])
    measure, calls = counting([70.0, 50.0])
    assert probe.measure(measure).result == 50.0 and len(calls) == 2


def test_bounded_retries_end_with_a_flag_and_a_warning():
    probe, sleeps = probe_with([10, 10, 10, 10] + [20] * 20, max_retries=2)
    measure, calls = counting([90.0, 80.0, 70.0])
    probed = probe.measure(measure)
    assert len(calls) == 3 and probed.repeats == 2 and probed.flagged and probed.result == 70.0
    assert sleeps == [0.2, 0.4]  # a longer pause each time
    assert probe.report() == {"probe_baseline_ms": 10, "probe_threshold": 0.1, "measurements": 1, "remeasured": 1,
                              "flagged": 1}
    assert "warning: this machine was busy" in probe.summary_line()


def test_the_baseline_follows_quiet_probes_but_not_a_burst_of_load():
    # calibration 12, 12, 12; quiet probes at 11 move the median down; a 30 ms burst never enters it
    probe, _ = probe_with([12, 12, 12, 12] + [11, 11, 11, 11] + [30, 30], max_retries=0)
    for _ in range(2):
        assert not probe.measure(lambda: 1.0).flagged
    assert probe.baseline_ms == 11
    assert probe.measure(lambda: 1.0).flagged and probe.baseline_ms == 11


def test_interleaved_rounds_alternate_models_and_report_the_median():
    order = []

    def model(name, values):
        values = list(values)

        def measure():
            order.append(name)
            return values.pop(0)
        return measure

    result = measure_interleaved({"a": model("a", [10, 30, 11]), "b": model("b", [20, 21, 90])}, rounds=3)
    assert order == ["a", "b"] * 3
    assert result["a"]["latency_ms"] == 11 and result["b"]["latency_ms"] == 21
    assert result["a"]["samples_ms"] == [10, 30, 11] and result["a"]["latency_min_ms"] == 10


def test_interleaved_rounds_leave_flagged_rounds_out_of_the_median():
    # calibration 10; round 1 quiet, round 2 busy (never quiet, no retries), round 3 quiet
    probe, _ = probe_with([10, 10, 10, 10] + [10, 10] + [30, 30] + [10, 10], max_retries=0)
    values = [50.0, 100.0, 52.0]
    result = measure_interleaved({"m": lambda: values.pop(0)}, rounds=3, probe=probe)
    assert result["m"]["flagged_rounds"] == 1
    assert result["m"]["latency_ms"] == 51.0  # median of the quiet rounds 50 and 52


def test_invalid_settings_are_latency_errors():
    with pytest.raises(LatencyError):
        ProbeSettings(threshold=0)
    with pytest.raises(LatencyError):
        measure_interleaved({"m": lambda: 1.0}, rounds=0)
