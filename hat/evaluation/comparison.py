"""HAT SubTransformers against baseline Transformers on (measured latency, BLEU): does HAT dominate?

The paper's claim at small scale: at equal measured latency a searched SubTransformer has at least
+0.5 BLEU over the baselines, or at equal BLEU it is at least 1.3x faster. Baselines are compared by
linear interpolation between the two neighbouring baselines (no extrapolation).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

BLEU_MARGIN = 0.5
SPEEDUP_MARGIN = 1.3


@dataclass(frozen=True)
class Point:
    name: str
    latency_ms: float
    bleu: float


@dataclass(frozen=True)
class Verdict:
    name: str
    bleu_gain: Optional[float]  # HAT BLEU - baselines' BLEU at the same latency (None outside their range)
    speedup: Optional[float]  # baselines' latency at the same BLEU / HAT latency (None outside their range)

    @property
    def dominates(self) -> bool:
        return (self.bleu_gain is not None and self.bleu_gain >= BLEU_MARGIN) or (
            self.speedup is not None and self.speedup >= SPEEDUP_MARGIN)


def _interpolate(x: float, xs: Sequence[float], ys: Sequence[float]) -> Optional[float]:
    order = np.argsort(xs)
    xs, ys = np.asarray(xs, dtype=float)[order], np.asarray(ys, dtype=float)[order]
    if len(xs) < 2 or np.any(np.diff(xs) <= 0) or not xs[0] <= x <= xs[-1]:
        return None  # too few points, ties (no single value to read off), or extrapolation
    return float(np.interp(x, xs, ys))


def compare(hat: Sequence[Point], baselines: Sequence[Point]) -> list[Verdict]:
    """A :class:`Verdict` per HAT model against the baseline curve."""
    latencies = [b.latency_ms for b in baselines]
    bleus = [b.bleu for b in baselines]
    verdicts = []
    for point in hat:
        baseline_bleu = _interpolate(point.latency_ms, latencies, bleus)
        baseline_latency = _interpolate(point.bleu, bleus, latencies)
        verdicts.append(Verdict(point.name, None if baseline_bleu is None else point.bleu - baseline_bleu,
                                None if baseline_latency is None else baseline_latency / point.latency_ms))
    return verdicts
