"""The whole HAT pipeline, end to end, on this machine (``hat-demo``, ``bash scripts/demo.sh``).

1. data: a synthetic translation corpus generated here (or a binarised corpus);
2. train a small SuperTransformer (:data:`SPACE_FILE`);
3. measure a latency dataset of sampled SubTransformers on this CPU;
4. train the latency predictor;
5. evolutionary search under a latency constraint taken from the measured range;
6. train the searched SubTransformer from scratch;
7. test it: BLEU and SacreBLEU, measured vs predicted latency, #params, FLOPs.

Each stage is one step of :mod:`hat.experiments.steps` (their commands are printed, so they can be
rerun by hand), writes into the work folder and is recorded as done in ``<workdir>/stages/``: a rerun
skips finished stages and an interrupted stage starts again (the steps themselves resume). The result
is ``<workdir>/summary.json``.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterator, Optional

from ..io import write_text_atomic
from ..latency.threads import cpu_threads
from . import steps
from .stages import Pipeline, languages, latency_constraints

SPACE_FILE = "demo_space.yml"
"""The demo's SuperTransformer and search space, shipped in this package (no language pair)."""

STAGES = ("data", "supertransformer", "latency_dataset", "latency_predictor", "evo_search", "subtransformer", "test")


def demo_space_yaml(source_lang: Optional[str] = None, target_lang: Optional[str] = None) -> str:
    """The text of :data:`SPACE_FILE`, plus ``source-lang`` / ``target-lang`` lines when given."""
    text = resources.files(__package__).joinpath(SPACE_FILE).read_text(encoding="utf-8")
    if source_lang:
        text += f"source-lang: {source_lang}\n"
    if target_lang:
        text += f"target-lang: {target_lang}\n"
    return text


@dataclass
class DemoSettings:
    """What the demo does (``hat-demo --help`` describes each)."""

    workdir: str = "demo_run"
    data: Optional[str] = None
    source_lang: Optional[str] = None
    target_lang: Optional[str] = None
    space: Optional[str] = None
    supernet_updates: int = 1000
    subtransformer_updates: int = 700
    latency_rows: int = 80
    latiter: int = 10
    lat_threads: int = 1
    lat_rounds: int = 5
    constraint_quantile: float = 0.4
    evo_iter: int = 10
    population_size: int = 40
    parent_size: int = 8
    mutation_size: int = 16
    verify_on_device: Optional[int] = None
    """The search's ``--verify-on-device K`` (None: its default; 0: choose by predicted latency alone)."""
    crossover_size: int = 16
    synthetic_sizes: tuple[int, int, int] = (6000, 300, 300)
    synthetic_vocab: int = 400
    quiet: bool = False
    threads: Optional[int] = 1
    stop_after: Optional[str] = None
    """Stop after this stage (its name as in ``<workdir>/stages/``), to continue in a later run."""


def run(settings: DemoSettings) -> dict:
    """Run (or finish) every stage; write and return the summary (``<workdir>/summary.json``). The work
    folder is locked against a second demo while this one runs."""
    with Pipeline(settings.workdir, settings.stop_after) as pipeline, compute_threads(settings.threads):
        return _run(settings, pipeline)


@contextlib.contextmanager
def compute_threads(threads: Optional[int]) -> Iterator[None]:
    """Train and search on ``threads`` CPU threads (None: PyTorch's default, every core): in this process
    and, through ``OMP_NUM_THREADS``, in the training processes it starts. Latency measurements keep their
    own count (``lat_threads``)."""
    if threads is None:
        yield
        return
    previous = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    try:
        with cpu_threads(threads):
            yield
    finally:
        if previous is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = previous


def _run(settings: DemoSettings, pipeline: Pipeline) -> dict:
    workdir = pipeline.workdir
    started = time.perf_counter()

    data = Path(pipeline.stage("data", lambda: steps.use_data(settings.data) if settings.data else
                               steps.make_synthetic_data(workdir / "data", settings.synthetic_sizes,
                                                         settings.synthetic_vocab))["data"])
    src, tgt = languages(data, settings.source_lang, settings.target_lang)
    space = workdir / "configs" / "space.yml"
    common = workdir / "configs" / "common.yml"
    space_text = Path(settings.space).read_text() if settings.space else demo_space_yaml(src, tgt)
    write_text_atomic(space, space_text)
    write_text_atomic(common, space_text + "\ntrain-subtransformer: True\n")

    supernet_dir = workdir / "supertransformer"
    logs = (lambda name: workdir / "logs" / f"{name}.log") if settings.quiet else (lambda name: None)
    pipeline.stage("supertransformer", lambda: steps.train_supertransformer(
        data, space, supernet_dir, settings.supernet_updates, ["--log-interval", 100, "--no-progress-bar"],
        logs("supertransformer")))

    lat_csv = workdir / "latency" / "latency.csv"
    measured = pipeline.stage("latency_dataset", lambda: steps.latency_dataset(
        data, space, lat_csv, settings.latency_rows, settings.latiter, settings.lat_threads))
    predictor = workdir / "latency" / "predictor.pt"
    fit = pipeline.stage("latency_predictor", lambda: steps.latency_predictor(lat_csv, predictor))

    constraint = latency_constraints(lat_csv, predictor, [settings.constraint_quantile])[0]
    searched = workdir / "search" / "subtransformer.yml"
    search = pipeline.stage("evo_search", lambda: steps.search(
        data, space, supernet_dir / "checkpoint_last.pt", predictor, [constraint], searched, workdir / "search",
        evo_iter=settings.evo_iter, population_size=settings.population_size, parent_size=settings.parent_size,
        mutation_size=settings.mutation_size, crossover_size=settings.crossover_size,
        verify_rounds=settings.lat_rounds, verify_on_device=settings.verify_on_device))

    sub_dir = workdir / "subtransformer"
    pipeline.stage("subtransformer", lambda: steps.train_subtransformer(
        data, searched, common, sub_dir, settings.subtransformer_updates, ["--log-interval", 100, "--no-progress-bar"],
        logs("subtransformer")))

    def test() -> dict:
        latency = steps.subtransformer_latency(data, searched, common, settings.lat_threads, settings.latiter,
                                               settings.lat_rounds)
        return {**steps.test_subtransformer(data, sub_dir / "checkpoint_best.pt", searched, common),
                "measured_latency_ms": latency["latency_ms"], "measured_latency_min_ms": latency["latency_min_ms"],
                "measured_latency_max_ms": latency["latency_max_ms"], "latency_rounds": latency["rounds"]}

    tested = pipeline.stage("test", test)
    result = search["results"][0]
    summary = {
        "bleu": tested["bleu"], "sacrebleu": tested["sacrebleu"],
        "measured_latency_ms": tested["measured_latency_ms"], "predicted_latency_ms": result["predicted_latency_ms"],
        "verified_latency_ms": result.get("verified_latency_ms"),
        "measured_latency_range_ms": [tested.get("measured_latency_min_ms"), tested.get("measured_latency_max_ms")],
        "latency_constraint_ms": result["latency_constraint_ms"], "params": tested["params"], "flops": tested["flops"],
        "search_loss": result["loss"], "search_evaluations": search["evaluations"],
        "latency_dataset": measured, "predictor_test_mape": fit["test_mape"],
        "subtransformer_yaml": str(searched), "search_plot": search["plot"], "data": str(data),
        "wall_s_this_run": round(time.perf_counter() - started, 1),
    }
    write_text_atomic(workdir / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary
