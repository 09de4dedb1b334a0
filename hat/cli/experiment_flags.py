"""Flags the experiment commands (``hat-demo``, ``reproduce_multi30k``) share: latency measurement and the
search schedule, with each experiment's own defaults."""
import argparse
from typing import Callable, Optional, TypeVar

from ..experiments.stages import PipelineStopped

Settings = TypeVar("Settings")


def add_latency_and_search_flags(parser: argparse.ArgumentParser, defaults: object) -> None:
    """``--latency-rows`` ... ``--crossover-size``, defaulting to the attributes of ``defaults`` (the
    experiment's settings dataclass)."""
    add = parser.add_argument
    add("--latency-rows", type=int, default=defaults.latency_rows, help="latency dataset size")
    add("--latiter", type=int, default=defaults.latiter, help="timed runs per latency measurement")
    add("--lat-threads", type=int, default=defaults.lat_threads, help="CPU threads for latency measurement")
    add("--lat-rounds", type=int, default=defaults.lat_rounds,
        help="interleaved measurement rounds of the final models (their median is reported)")
    add("--evo-iter", type=int, default=defaults.evo_iter, help="search generations")
    add("--population-size", type=int, default=defaults.population_size, help="search population")
    add("--parent-size", type=int, default=defaults.parent_size, help="parents kept per generation")
    add("--mutation-size", type=int, default=defaults.mutation_size, help="mutated children per generation")
    add("--stop-after", metavar="STAGE",
        help="stop after this stage (a name of <workdir>/stages/*.json: supertransformer, latency_dataset, "
             "evo_search...); a later run without it continues from the next stage")
    add("--crossover-size", type=int, default=defaults.crossover_size, help="crossover children per generation")
    add("--verify-on-device", type=int, metavar="K", default=defaults.verify_on_device,
        help="candidates per constraint the search re-measures on this CPU to choose one that meets its constraint "
             "when measured (default: the search's, 5); 0 chooses by predicted latency alone")


def run_or_stop(run: Callable[[Settings], dict], settings: Settings) -> Optional[dict]:
    """``run(settings)``; None, after saying so, when the run stopped at its ``--stop-after`` stage."""
    try:
        result = run(settings)
    except PipelineStopped as stop:
        print(f"| {stop}")
        return None
    if getattr(settings, "stop_after", None):
        print(f"| --stop-after {settings.stop_after}: no stage has that name; the whole run finished")
    return result
