"""Comparing models' latencies: interleaved rounds, each measurement under the calibration probe.

Measuring model A ten times and then model B ten times lets a burst of load on the machine fall on one
model only. Here every round measures every model once, in turn, so a slow period touches all of them
alike, and the reported latency of a model is the median of its per-round values (robust to a round that
was slow anyway), with the spread of those values beside it. Measurements that never became quiet under
the probe (:mod:`hat.latency.probe`) are left out of the median while at least one quiet one exists.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Optional

import numpy as np

from ..errors import LatencyError
from .probe import CalibrationProbe

Log = Callable[[str], None]


def summarize(samples: list[float], flags: list[bool]) -> dict:
    """Median and spread of one model's per-round latencies (flagged rounds left out when possible)."""
    kept = [s for s, f in zip(samples, flags) if not f] or samples
    return {"latency_ms": float(np.median(kept)), "latency_std_ms": float(np.std(kept)),
            "latency_min_ms": float(min(kept)), "latency_max_ms": float(max(kept)),
            "samples_ms": [float(s) for s in samples], "round_flagged": [bool(f) for f in flags],
            "flagged_rounds": int(sum(flags)), "rounds": len(samples)}


def measure_interleaved(measurements: Mapping[str, Callable[[], float]], rounds: int,
                        probe: Optional[CalibrationProbe] = None, log: Optional[Log] = None) -> dict[str, dict]:
    """``{name: summary}`` for ``measurements`` (each returns one latency in ms), ``rounds`` interleaved
    rounds; every measurement under ``probe`` when given (None: unguarded, e.g. on a GPU)."""
    if rounds < 1:
        raise LatencyError(f"rounds={rounds} must be a positive integer")
    if probe is not None and probe.baseline_ms is None:
        probe.calibrate()
    samples: dict[str, list[float]] = {name: [] for name in measurements}
    flags: dict[str, list[bool]] = {name: [] for name in measurements}
    for round_ in range(rounds):
        for name, measure in measurements.items():
            if probe is None:
                samples[name].append(measure())
                flags[name].append(False)
            else:
                probed = probe.measure(measure)
                samples[name].append(probed.result)
                flags[name].append(probed.flagged)
        if log:
            log(f"| latency round {round_ + 1}/{rounds}: "
                + ", ".join(f"{name} {values[-1]:.1f}" for name, values in samples.items()))
    return {name: summarize(samples[name], flags[name]) for name in measurements}
