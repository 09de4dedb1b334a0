"""Models trained with several seeds: the stage names and folders of each seed, and the summary over seeds."""
from __future__ import annotations

import statistics
from typing import Sequence

PER_SEED = ("bleu", "sacrebleu", "train_wall_s")
"""What differs between a model's seeds (its size, FLOPs and latency do not)."""


def seed_name(name: str, seed: int) -> str:
    """The stage / folder name of ``name`` trained with ``seed``."""
    return f"{name}_seed{seed}"


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    values = [float(v) for v in values]
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def over_seeds(per_seed: dict[int, dict]) -> dict:
    """``{seed: test result}`` -> the model's row fields: the mean of :data:`PER_SEED` (``bleu``...), their standard
    deviations (``bleu_std``...), ``seeds`` and ``per_seed``, and the seed-independent fields of the first seed
    (the dict's first entry: ``params``, ``flops``, counted with it alone)."""
    first = next(iter(per_seed.values()))
    row = {key: value for key, value in first.items() if key not in PER_SEED and not key.startswith("stage_")}
    for key in PER_SEED:
        row[key], row[f"{key}_std"] = mean_std([result[key] for result in per_seed.values()])
    return {**row, "seeds": sorted(per_seed), "per_seed": {str(s): {k: per_seed[s][k] for k in PER_SEED}
                                                           for s in sorted(per_seed)}}
