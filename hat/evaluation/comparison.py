"""HAT SubTransformers against baseline Transformers on (measured latency, mean BLEU over seeds): is each
baseline beaten?

The paper's claim at small scale, judged per baseline: the best HAT model not slower than the baseline has at
least +0.5 mean BLEU over it, or the fastest HAT model with at least its mean BLEU is at least 1.3x faster.
With several training seeds per model, each margin is also compared with the seeds' spread: the standard
deviation of the difference of two means, ``sqrt(std_hat**2 + std_baseline**2)``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

BLEU_MARGIN = 0.5
SPEEDUP_MARGIN = 1.3


@dataclass(frozen=True)
class Point:
    name: str
    latency_ms: float
    bleu: float
    bleu_std: float = 0.0
    """Standard deviation of ``bleu`` over training seeds (0 with one seed)."""


@dataclass(frozen=True)
class Verdict:
    """One baseline against the HAT models."""

    baseline: str
    best_not_slower: Optional[str]
    """The HAT model of highest BLEU among those not slower than the baseline (None: every one is slower)."""
    bleu_gain: Optional[float]
    """Its mean BLEU minus the baseline's."""
    gain_spread: Optional[float]
    """The seeds' spread of that difference (``sqrt(std_hat**2 + std_baseline**2)``)."""
    fastest_as_good: Optional[str]
    """The fastest HAT model with at least the baseline's mean BLEU (None: none is as good)."""
    speedup: Optional[float]
    """Baseline latency / its latency."""
    bleu_excess: Optional[float]
    """Its mean BLEU minus the baseline's (>= 0): whether it is really as good depends on the spread below."""
    excess_spread: Optional[float]

    @property
    def beaten(self) -> bool:
        return (self.bleu_gain is not None and self.bleu_gain >= BLEU_MARGIN) or (
            self.speedup is not None and self.speedup >= SPEEDUP_MARGIN)

    @property
    def beyond_spread(self) -> Optional[bool]:
        """Whether the margin that beats the baseline is larger than the seeds' spread: the BLEU gain (BLEU
        criterion), or the BLEU excess that makes the faster model as good (speed criterion); None when the
        baseline is not beaten or the models have one seed each (no spread)."""
        margins = []
        if self.bleu_gain is not None and self.bleu_gain >= BLEU_MARGIN:
            margins.append((self.bleu_gain, self.gain_spread))
        if self.speedup is not None and self.speedup >= SPEEDUP_MARGIN:
            margins.append((self.bleu_excess, self.excess_spread))
        if not margins or all(spread == 0 for _, spread in margins):
            return None
        return any(margin > spread for margin, spread in margins)


def spread(a: Point, b: Point) -> float:
    """The seeds' standard deviation of ``a.bleu - b.bleu`` (independent seeds)."""
    return math.hypot(a.bleu_std, b.bleu_std)


def compare(hat: Sequence[Point], baselines: Sequence[Point]) -> list[Verdict]:
    """A :class:`Verdict` per baseline against the HAT models (ties in latency or BLEU count as "not slower" /
    "as good")."""
    verdicts = []
    for base in baselines:
        not_slower = [h for h in hat if h.latency_ms <= base.latency_ms]
        best = max(not_slower, key=lambda h: h.bleu, default=None)
        as_good = [h for h in hat if h.bleu >= base.bleu]
        fastest = min(as_good, key=lambda h: h.latency_ms, default=None)
        verdicts.append(Verdict(
            base.name, best and best.name, best and best.bleu - base.bleu, best and spread(best, base),
            fastest and fastest.name, fastest and base.latency_ms / fastest.latency_ms,
            fastest and fastest.bleu - base.bleu, fastest and spread(fastest, base)))
    return verdicts
