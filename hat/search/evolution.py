"""HAT's evolutionary search (the original's `fairseq/evolution.py`, `Evolution.run_evo_search`), seeded, cached and resumable.

The schedule is the original's: a feasible initial population, then for ``evo_iter`` generations
score every member, keep the best ``parent_size`` as parents, and refill the population with
``mutation_size`` mutants and ``crossover_size`` crossovers, every child feasible. The result is the
best member of the last scored generation.

What this module does better than the original:

* **Cache.** A SubTransformer's fitness is a deterministic function of its *active* config (genes of
  layers beyond the sampled depth have no effect), so it is computed once: parents carried into the
  next generation, duplicate children and children equal to earlier candidates reuse it. The search
  makes the same choices as an uncached one (``cache=False``, the original's behaviour).
* **Seeded.** All draws come from one ``random.Random`` per constraint, seeded by the user's seed and
  the constraint, so a constraint's result does not depend on the other constraints of the run.
* **Bounded.** Sampling feasible children stops after ``max_tries_per_child`` draws per child and
  raises :class:`InfeasibleConstraintError` with the smallest predicted latency it saw.
* **Resumable.** After every generation the whole search state is a JSON-able dict
  (:meth:`EvolutionarySearch.state`); :meth:`EvolutionarySearch.run` continues from it.
* **Batched estimates.** Predicted latency (and optional #params / FLOPs) of candidates is computed in
  batches, once per active config.
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

import numpy as np

from ..search_space import ConfigError, SearchSpace, SubTransformerConfig, active_config
from ..errors import InfeasibleConstraintError

Gene = tuple[int, ...]
Fitness = Callable[[SubTransformerConfig], float]
"""Loss of one SubTransformer (lower is better): the validation loss with inherited weights."""
LatencyModel = Callable[[Sequence[SubTransformerConfig]], np.ndarray]
"""Predicted latency (ms) of many SubTransformers at once."""
Count = Callable[[SubTransformerConfig], int]
"""#Params or FLOPs of one SubTransformer."""



@dataclass(frozen=True)
class EvolutionSettings:
    """The search schedule; defaults are those of the original's `evo_search.py` parser."""

    evo_iter: int = 30
    population_size: int = 125
    parent_size: int = 25
    mutation_size: int = 50
    crossover_size: int = 50
    mutation_prob: float = 0.3
    max_tries_per_child: int = 1000

    def __post_init__(self) -> None:
        for name in ("evo_iter", "population_size", "parent_size", "max_tries_per_child"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("mutation_size", "crossover_size"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name.replace('_', '-')} must not be negative, got {getattr(self, name)}")
        if self.population_size != self.parent_size + self.mutation_size + self.crossover_size:
            raise ConfigError(f"population-size ({self.population_size}) must equal parent-size + mutation-size + "
                              f"crossover-size ({self.parent_size} + {self.mutation_size} + {self.crossover_size})")
        if self.crossover_size and self.parent_size < 2:
            raise ConfigError("crossover needs parent-size of at least 2")
        if not 0.0 <= self.mutation_prob <= 1.0:
            raise ConfigError(f"mutation-prob must be in [0, 1], got {self.mutation_prob}")

    @property
    def original_evaluations(self) -> int:
        """Loss evaluations of the original's schedule per constraint (every member, every generation)."""
        return self.evo_iter * self.population_size


@dataclass(frozen=True)
class Constraints:
    """Hardware constraint (predicted latency, ms; equal passes) plus optional model-size limits."""

    latency_ms: float
    max_params: Optional[int] = None
    max_flops: Optional[int] = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.latency_ms) or self.latency_ms <= 0:
            raise ConfigError(f"latency-constraint must be a positive number of ms, got {self.latency_ms}")
        for name in ("max_params", "max_flops"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ConfigError(f"{name.replace('_', '-')} must be positive, got {value}")

    @property
    def name(self) -> str:
        """A short stable label, e.g. ``'60ms'`` or ``'60ms,params<=5000000'``."""
        label = f"{self.latency_ms:g}ms"
        if self.max_params is not None:
            label += f",params<={self.max_params}"
        if self.max_flops is not None:
            label += f",flops<={self.max_flops}"
        return label


@dataclass
class Estimate:
    """What is known of a candidate without evaluating its loss."""

    latency_ms: float
    params: Optional[int] = None
    flops: Optional[int] = None

    def satisfies(self, constraints: Constraints) -> bool:
        return (self.latency_ms <= constraints.latency_ms
                and (constraints.max_params is None or self.params <= constraints.max_params)
                and (constraints.max_flops is None or self.flops <= constraints.max_flops))


class CostModel:
    """Predicted latency and (when a limit needs them) #params / FLOPs of genes, cached by active config."""

    def __init__(self, space: SearchSpace, latency: LatencyModel, params: Optional[Count] = None,
                 flops: Optional[Count] = None):
        self.space, self.latency, self.params, self.flops = space, latency, params, flops
        self._cache: dict[Gene, Estimate] = {}

    def estimate(self, genes: Sequence[Gene], constraints: Constraints) -> list[Estimate]:
        """Estimates of ``genes``; #params / FLOPs are computed only when ``constraints`` limit them and only
        for candidates that pass the cheaper checks before them (latency, then #params)."""
        keys = [canonical_gene(self.space, gene) for gene in genes]
        new = list(dict.fromkeys(key for key in keys if key not in self._cache))
        if new:
            predicted = self.latency([self.space.gene_to_config(key) for key in new])
            for key, latency_ms in zip(new, np.asarray(predicted, dtype=float).tolist()):
                self._cache[key] = Estimate(latency_ms)
        for key in dict.fromkeys(keys):
            estimate = self._cache[key]
            if estimate.latency_ms > constraints.latency_ms:
                continue
            if constraints.max_params is not None and estimate.params is None:
                estimate.params = self._count(self.params, "max-params", key)
            if constraints.max_flops is not None and estimate.flops is None:
                if constraints.max_params is None or estimate.params <= constraints.max_params:
                    estimate.flops = self._count(self.flops, "max-flops", key)
        return [self._cache[key] for key in keys]

    def _count(self, count: Optional[Count], flag: str, key: Gene) -> int:
        if count is None:
            raise ConfigError(f"{flag} is set but the search was given no way to count it")
        return int(count(self.space.gene_to_config(key)))


def canonical_gene(space: SearchSpace, gene: Sequence[int]) -> Gene:
    """The gene of the active config: inactive layers' positions set to the layer-0 value (as the original's `Converter.config2gene`).

    Two genes with the same canonical gene are the same SubTransformer."""
    return tuple(space.config_to_gene(active_config(space.gene_to_config(gene))))


@dataclass
class Evaluation:
    """One loss evaluation: a row of the search history."""

    gene: list[int]
    loss: float
    latency_ms: float
    params: Optional[int]
    flops: Optional[int]
    generation: int
    constraint: str


@dataclass
class SearchResult:
    """The SubTransformer chosen for one set of constraints."""

    constraints: Constraints
    gene: list[int]
    config: SubTransformerConfig
    loss: float
    latency_ms: float
    params: Optional[int]
    flops: Optional[int]
    best_per_generation: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "constraints": asdict(self.constraints)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SearchResult:
        return cls(**{**data, "constraints": Constraints(**data["constraints"])})


@dataclass
class _Run:
    """The state of the search for one constraint between two generations."""

    constraint: str
    generation: int
    population: list[list[int]]
    rng_state: Any
    best_per_generation: list[float]


METHODS = ("evolution", "random")
"""How children are drawn: mutations and crossovers of the parents (HAT), or uniformly at random among the
feasible SubTransformers (the paper's random-search baseline, with the same number of new candidates per
generation)."""


class EvolutionarySearch:
    """Evolutionary search over ``space`` with a loss (``fitness``) and a :class:`CostModel`.

    ``cache=False`` re-evaluates every member of every generation, as the original did. ``method="random"``
    replaces the children by random feasible SubTransformers (:data:`METHODS`). ``uniform_layers`` searches only
    SubTransformers whose layers share one FFN dim and head count per stack
    (:meth:`hat.search_space.SearchSpace.uniform_layers` applied to every drawn gene).
    """

    def __init__(self, space: SearchSpace, settings: EvolutionSettings, fitness: Fitness, costs: CostModel,
                 seed: int = 1, cache: bool = True, method: str = "evolution", uniform_layers: bool = False):
        if method not in METHODS:
            raise ConfigError(f"unknown search method {method!r}: choose {' or '.join(METHODS)}")
        self.space, self.settings, self.fitness, self.costs = space, settings, fitness, costs
        self.seed, self.cache, self.method, self.uniform_layers = seed, cache, method, uniform_layers
        self.choices = space.gene_choices()
        self.history: list[Evaluation] = []
        self.results: dict[str, SearchResult] = {}
        self._losses: dict[Gene, float] = {}
        self._run: Optional[_Run] = None

    # -- state ---------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to resume, as JSON-able data."""
        run = None
        if self._run is not None:
            version, internal, gauss = self._run.rng_state
            run = {**asdict(self._run), "rng_state": [version, list(internal), gauss]}
        return {"history": [asdict(e) for e in self.history],
                "results": {name: r.to_json() for name, r in self.results.items()}, "run": run}

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Continue from :meth:`state` of an earlier, interrupted search with the same settings."""
        self.history = [Evaluation(**e) for e in state["history"]]
        self.results = {name: SearchResult.from_json(r) for name, r in state["results"].items()}
        self._losses = {canonical_gene(self.space, e.gene): e.loss for e in self.history} if self.cache else {}
        run = state.get("run")
        if run is not None:
            version, internal, gauss = run["rng_state"]
            self._run = _Run(**{**run, "rng_state": (version, tuple(internal), gauss)})

    @property
    def evaluations(self) -> int:
        return len(self.history)

    def generations_done(self, constraints: Constraints) -> int:
        """Generations of the search under ``constraints`` already finished (all of them once it has a result)."""
        if constraints.name in self.results:
            return self.settings.evo_iter
        return self._run.generation if self._run is not None and self._run.constraint == constraints.name else 0

    # -- search --------------------------------------------------------------------------------------
    def run(self, constraints: Constraints,
            on_generation: Optional[Callable[[int, SearchResult], None]] = None) -> SearchResult:
        """Search under ``constraints`` (resuming an interrupted run of the same constraints).

        ``on_generation(generation, best so far)`` is called after every scored generation, when
        :meth:`state` is consistent (the place to save it).
        """
        if constraints.name in self.results:
            return self.results[constraints.name]
        rng = random.Random(f"{self.seed}/{constraints.name}")
        run = self._run
        if run is not None and run.constraint != constraints.name:
            raise ConfigError(f"the interrupted search was for {run.constraint}, not {constraints.name}")
        def uniform() -> Gene:
            return tuple(rng.choice(c) for c in self.choices)

        if run is None:
            population = self._feasible(uniform, self.settings.population_size, constraints, "initial population")
            run = _Run(constraints.name, 0, [list(g) for g in population], rng.getstate(), [])
        rng.setstate(run.rng_state)
        settings = self.settings
        while True:
            population = [tuple(g) for g in run.population]
            losses = self._losses_of(population, run.generation, constraints)
            order = sorted(range(len(population)), key=lambda i: losses[i])
            parents = [population[i] for i in order[: settings.parent_size]]
            run.best_per_generation.append(losses[order[0]])
            best = self._result(constraints, parents[0], losses[order[0]], run.best_per_generation)
            if run.generation + 1 == settings.evo_iter:
                self._run = None
                self.results[constraints.name] = best
                if on_generation:
                    on_generation(run.generation, best)
                return best
            if self.method == "random":
                children = self._feasible(uniform, settings.mutation_size + settings.crossover_size, constraints,
                                          "random sample")
            else:
                children = self._feasible(lambda: self._mutate(rng, parents), settings.mutation_size, constraints,
                                          "mutation")
                children += self._feasible(lambda: self._crossover(rng, parents), settings.crossover_size,
                                           constraints, "crossover")
            run = _Run(constraints.name, run.generation + 1, [list(g) for g in parents + children], rng.getstate(),
                       run.best_per_generation)
            self._run = run
            if on_generation:
                on_generation(run.generation - 1, best)

    def _mutate(self, rng: random.Random, parents: Sequence[Gene]) -> Gene:
        parent = rng.choice(parents)
        p = self.settings.mutation_prob
        return tuple(rng.choice(choices) if rng.random() < p else value for value, choices in zip(parent, self.choices))

    @staticmethod
    def _crossover(rng: random.Random, parents: Sequence[Gene]) -> Gene:
        first, second = rng.sample(parents, 2)
        return tuple(a if rng.random() < 0.5 else b for a, b in zip(first, second))

    def _feasible(self, draw: Callable[[], Gene], count: int, constraints: Constraints, what: str) -> list[Gene]:
        """``count`` feasible genes from ``draw``, checked in batches; bounded number of draws."""
        accepted: list[Gene] = []
        budget = count * self.settings.max_tries_per_child
        tries, fastest = 0, math.inf
        while len(accepted) < count:
            if tries >= budget:
                raise InfeasibleConstraintError(
                    f"{what}: only {len(accepted)} of {count} SubTransformers satisfy {constraints.name} after "
                    f"{tries} tries (smallest predicted latency seen: {fastest:.2f} ms); relax the constraint")
            batch = [draw() for _ in range(min(max(2 * (count - len(accepted)), 16), budget - tries))]
            if self.uniform_layers:
                batch = [self.space.uniform_layers(gene) for gene in batch]
            tries += len(batch)
            for gene, estimate in zip(batch, self.costs.estimate(batch, constraints)):
                fastest = min(fastest, estimate.latency_ms)
                if len(accepted) < count and estimate.satisfies(constraints):
                    accepted.append(gene)
        return accepted

    def _losses_of(self, population: Sequence[Gene], generation: int, constraints: Constraints) -> list[float]:
        losses = []
        for gene in population:
            key = canonical_gene(self.space, gene)
            if key not in self._losses or not self.cache:
                loss = float(self.fitness(self.space.gene_to_config(gene)))
                self._losses[key] = loss
                estimate = self.costs.estimate([gene], constraints)[0]
                self.history.append(Evaluation(list(gene), loss, estimate.latency_ms, estimate.params, estimate.flops,
                                               generation, constraints.name))
            losses.append(self._losses[key])
        return losses

    def _result(self, constraints: Constraints, gene: Gene, loss: float, best: list[float]) -> SearchResult:
        estimate = self.costs.estimate([gene], constraints)[0]
        return SearchResult(constraints, list(gene), self.space.gene_to_config(gene), loss, estimate.latency_ms,
                            estimate.params, estimate.flops, list(best))
