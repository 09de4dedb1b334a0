"""HAT's latency-constrained evolutionary search: algorithm, fitness, outputs and plot."""
from .evolution import (Constraints, CostModel, EvolutionarySearch, EvolutionSettings, InfeasibleConstraintError,
                        SearchResult, canonical_gene)

__all__ = ["Constraints", "CostModel", "EvolutionarySearch", "EvolutionSettings", "InfeasibleConstraintError",
           "SearchResult", "canonical_gene"]
