"""Latency you can trust on a shared machine: a calibration probe that detects interference.

The original measures each SubTransformer once and records whatever the machine did meanwhile: another
process on the same cores (a test run, a build, a neighbour VM) silently inflates a row by 20-100 %.
Here a fixed, short workload (the *probe*: a fixed-size float32 matmul chain on the measurement's thread
count) is timed at the start to get its quiet baseline, and again right before and right after every
measurement. When either probe is slower than the baseline by more than ``threshold`` (default 10 %), the
machine was busy around that measurement: it is discarded and repeated, after a short pause, up to
``max_retries`` times. A measurement that never became quiet is kept but flagged. The baseline is the
median of the latest quiet probe runs (the calibration runs first, after a warm-up): it follows the slow
drift of a CPU's clock, while a burst of load never enters it.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable, Generic, Optional, TypeVar

import torch

from ..errors import LatencyError
from .threads import cpu_threads

T = TypeVar("T")

PROBE_DIM = 160  # a 160x160 matmul chain of PROBE_CHAIN products: about 4 ms on one core of a 2020s x86 CPU
PROBE_CHAIN = 32
PROBE_REPEATS = 3  # one probe run is the fastest of this many chains: robust to a single hiccup, not to load
WARMUP_RUNS = 10  # untimed probe runs before calibration: the first runs of a process are slower (clocks, caches)
QUIET_WINDOW = 9  # the baseline is the median of this many latest quiet probe runs


@dataclass(frozen=True)
class ProbeSettings:
    """``threshold``: tolerated slow-down of the probe (0.10 = 10 %); ``max_retries``: re-measurements
    after a busy probe; ``calibration_runs``: probe runs for the baseline; ``pause_s``: wait before a retry
    (times the attempt number), so that a retry lands after a burst of load rather than inside it."""

    threshold: float = 0.10
    max_retries: int = 4
    calibration_runs: int = 7
    pause_s: float = 0.2

    def __post_init__(self) -> None:
        if self.threshold <= 0:
            raise LatencyError(f"probe threshold {self.threshold} must be positive")
        if self.max_retries < 0 or self.calibration_runs < 1 or self.pause_s < 0:
            raise LatencyError("probe retries and pause must be >= 0 and calibration runs >= 1")


@dataclass(frozen=True)
class Probed(Generic[T]):
    """A measurement taken under the probe: the result, how many times it was repeated, the worst probe
    ratio around the kept attempt (probe time / baseline), and whether it never became quiet."""

    result: T
    repeats: int
    probe_ratio: float
    flagged: bool


def matmul_workload(threads: Optional[int]) -> Callable[[], float]:
    """The default probe: one probe run (ms, the fastest of :data:`PROBE_REPEATS` timed chains of fixed matmuls)
    on ``threads`` CPU threads."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(PROBE_DIM, PROBE_DIM, generator=generator) / PROBE_DIM ** 0.5
    b = torch.randn(PROBE_DIM, PROBE_DIM, generator=generator) / PROBE_DIM ** 0.5

    def chain() -> float:
        start = time.perf_counter()
        x = a
        for _ in range(PROBE_CHAIN):
            x = torch.mm(x, b)
        return (time.perf_counter() - start) * 1000

    def run() -> float:
        with cpu_threads(threads), torch.inference_mode():
            return min(chain() for _ in range(PROBE_REPEATS))

    return run


@dataclass
class CalibrationProbe:
    """Guards measurements with a probe (``time_probe`` returns one probe run in ms; tests inject a fake)."""

    time_probe: Callable[[], float]
    settings: ProbeSettings = field(default_factory=ProbeSettings)
    sleep: Callable[[float], None] = time.sleep
    warmup: int = 1
    baseline_ms: Optional[float] = None
    _quiet: list = field(default_factory=list)
    measurements: int = 0
    repeated: int = 0
    flagged: int = 0

    @classmethod
    def for_threads(cls, threads: Optional[int], settings: Optional[ProbeSettings] = None) -> "CalibrationProbe":
        return cls(matmul_workload(threads), settings or ProbeSettings(), warmup=WARMUP_RUNS)

    def calibrate(self) -> float:
        """The quiet baseline: the median of ``calibration_runs`` probe runs, after ``warmup`` untimed ones."""
        for _ in range(self.warmup):
            self.time_probe()
        self._quiet = [self.time_probe() for _ in range(self.settings.calibration_runs)]
        self.baseline_ms = float(statistics.median(self._quiet))
        return self.baseline_ms

    def ratio(self) -> float:
        """One probe run relative to the baseline: the median of the last quiet probe runs, so that it follows
        the slow drift of a CPU's clock while a burst of load (a run far above it) never enters it."""
        if self.baseline_ms is None:
            self.calibrate()
        ms = self.time_probe()
        ratio = ms / self.baseline_ms
        if ratio <= 1 + self.settings.threshold:
            self._quiet = (self._quiet + [ms])[-QUIET_WINDOW:]
            self.baseline_ms = float(statistics.median(self._quiet))
        return ratio

    def measure(self, measurement: Callable[[], T]) -> Probed[T]:
        """Run ``measurement`` between two probes; repeat it while a probe says the machine was busy."""
        limit = 1 + self.settings.threshold
        before = self.ratio()
        attempt = 0
        while True:
            result = measurement()
            after = self.ratio()
            worst = max(before, after)
            if worst <= limit or attempt == self.settings.max_retries:
                break
            attempt += 1
            self.sleep(self.settings.pause_s * attempt)
            before = self.ratio()
        flagged = worst > limit
        self.measurements += 1
        self.repeated += attempt > 0
        self.flagged += flagged
        return Probed(result, attempt, worst, flagged)

    def report(self) -> dict:
        """Counts for the run's final report and sidecar."""
        return {"probe_baseline_ms": self.baseline_ms, "probe_threshold": self.settings.threshold,
                "measurements": self.measurements, "remeasured": self.repeated, "flagged": self.flagged}

    def summary_line(self) -> str:
        """The final report line, with a warning when the machine was noisy."""
        line = (f"| calibration probe: {self.measurements} measurements, {self.repeated} re-measured, "
                f"{self.flagged} never quiet (kept, flagged)")
        if self.flagged or self.repeated > 0.2 * max(self.measurements, 1):
            line += ("\n| warning: this machine was busy during the measurements (another process on the same "
                     "cores?); latencies may be inflated: rerun on a quiet machine")
        return line


class Unguarded:
    """The same interface as :class:`CalibrationProbe`, measuring without a probe (GPU, or ``--no-lat-probe``)."""

    baseline_ms = None
    measurements = 0

    def calibrate(self) -> None:
        return None

    def measure(self, measurement: Callable[[], T]) -> Probed[T]:
        self.measurements += 1
        return Probed(measurement(), 0, 1.0, False)

    def report(self) -> dict:
        return {"probe_baseline_ms": None, "probe_threshold": None, "measurements": self.measurements,
                "remeasured": 0, "flagged": 0}

    def summary_line(self) -> str:
        return f"| {self.measurements} measurements without the calibration probe"
