"""The search checks its answer on the device: measured, not only predicted, latency within the constraint.

A predictor is a model of one machine in one state; a small bias (another thread count, a busier machine
when the dataset was measured, a vocabulary of another size) turns "predicted 52.9 ms" into "measured
68 ms". After the search, the ``k`` best-loss SubTransformers that the predictor puts under a constraint
(from everything the search evaluated) are measured on this device, in interleaved rounds under the
calibration probe, and the chosen SubTransformer is the best-loss one whose *measured* latency meets the
constraint. When none does, the search says so and suggests the constraint to give this predictor.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ..errors import InfeasibleConstraintError
from ..search_space import SearchSpace, SubTransformerConfig
from .evolution import Constraints, Estimate, Evaluation, canonical_gene

MeasureMany = Callable[[Sequence[SubTransformerConfig]], list[dict]]
"""Measures configs on this device: one summary per config (``latency_ms``, ``latency_std_ms``...)."""

BIAS_WARNING = 0.10  # warn when measured / predicted of the verified candidates is off by more than this


@dataclass(frozen=True)
class VerifiedCandidate:
    """A candidate measured on this device."""

    gene: list[int]
    config: SubTransformerConfig
    loss: float
    predicted_latency_ms: float
    measured_latency_ms: float
    measured_std_ms: float
    meets: bool
    busy_rounds: int = 0  # measurement rounds the calibration probe never found quiet

    def to_json(self) -> dict[str, Any]:
        return {"gene": self.gene, "config": self.config, "loss": self.loss,
                "predicted_latency_ms": self.predicted_latency_ms, "measured_latency_ms": self.measured_latency_ms,
                "measured_std_ms": self.measured_std_ms, "meets_constraint": self.meets, "busy_rounds": self.busy_rounds}


@dataclass(frozen=True)
class Verification:
    """The verified candidates of one constraint (best loss first) and the one chosen."""

    constraints: Constraints
    candidates: list[VerifiedCandidate]

    @property
    def chosen(self) -> Optional[VerifiedCandidate]:
        """The best-loss candidate whose measured latency meets the constraint."""
        return next((c for c in self.candidates if c.meets), None)

    @property
    def bias(self) -> float:
        """Mean measured / predicted latency of the verified candidates (1.0: an unbiased predictor)."""
        return float(np.mean([c.measured_latency_ms / c.predicted_latency_ms for c in self.candidates]))

    def suggested_constraint_ms(self) -> float:
        """A constraint for the predictor under which its choice should measure within this one."""
        return round(self.constraints.latency_ms / max(self.bias, 1e-9), 2)


def top_candidates(history: Sequence[Evaluation], space: SearchSpace, constraints: Constraints,
                   k: int) -> list[Evaluation]:
    """The ``k`` best-loss distinct SubTransformers of ``history`` that satisfy ``constraints`` by prediction."""
    best: dict[tuple, Evaluation] = {}
    for evaluation in history:
        if not Estimate(evaluation.latency_ms, evaluation.params, evaluation.flops).satisfies(constraints):
            continue
        key = canonical_gene(space, tuple(evaluation.gene))
        if key not in best or evaluation.loss < best[key].loss:
            best[key] = evaluation
    return sorted(best.values(), key=lambda e: e.loss)[:k]


def verify(history: Sequence[Evaluation], space: SearchSpace, constraints: Constraints, k: int,
           measure_many: MeasureMany) -> Verification:
    """Measure the ``k`` best candidates under ``constraints`` and decide which meet it when measured."""
    candidates = top_candidates(history, space, constraints, k)
    if not candidates:
        raise InfeasibleConstraintError(f"{constraints.name}: the search evaluated no SubTransformer under the "
                                        "constraint, so there is nothing to verify")
    configs = [space.gene_to_config(list(c.gene)) for c in candidates]
    measured = measure_many(configs)
    return Verification(constraints, [
        VerifiedCandidate(list(c.gene), config, c.loss, c.latency_ms, m["latency_ms"], m.get("latency_std_ms", 0.0),
                          m["latency_ms"] <= constraints.latency_ms, m.get("flagged_rounds", 0))
        for c, config, m in zip(candidates, configs, measured)])


def require_choice(verification: Verification) -> VerifiedCandidate:
    """The chosen candidate, or one clear error saying that none met the constraint when measured."""
    chosen = verification.chosen
    if chosen is None:
        measured = [c.measured_latency_ms for c in verification.candidates]
        busy = sum(c.busy_rounds for c in verification.candidates)
        raise InfeasibleConstraintError(
            f"{verification.constraints.name}: none of the {len(measured)} best SubTransformers under the constraint "
            f"measured within it on this device ({min(measured):.2f}-{max(measured):.2f} ms; measured/predicted "
            f"{verification.bias:.2f}); " + (
                f"the machine stayed busy during {busy} of the measurements (another process on these cores?): "
                "rerun on a quiet machine, or choose by prediction alone with --no-verify-on-device"
                if busy else
                f"the predictor is biased for this machine: retry with --latency-constraint "
                f"{verification.suggested_constraint_ms():g}, or remeasure the latency dataset here"))
    return chosen


def bias_warning(verification: Verification) -> Optional[str]:
    """A warning line when the predictor's bias measured during verification exceeds :data:`BIAS_WARNING`."""
    bias = verification.bias
    if abs(bias - 1) <= BIAS_WARNING:
        return None
    return (f"| warning: {verification.constraints.name}: measured latency is {100 * (bias - 1):+.0f}% off the "
            f"prediction on average over {len(verification.candidates)} verified SubTransformers: the predictor "
            "does not describe this machine as it is now")
