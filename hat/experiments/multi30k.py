"""The paper's central claim at small scale, HAT vs baseline Transformers (``hat-reproduce-multi30k``).

On Multi30k En-De and this CPU: train the SuperTransformer, measure a latency dataset and train the
predictor, search under three latency constraints spread over the measured range (one run), measure the
latency of each searched SubTransformer and of baseline Transformers of uniform per-layer dimensions
(fairseq's ``transformer``, built as a SubTransformer of a SuperTransformer of its own size, which
computes exactly what fairseq's model computes) with the same procedure and settings (interleaved rounds),
train each of them from scratch with the same budget, test BLEU / SacreBLEU on the test set, count
#params / FLOPs, and write ``<results-dir>/multi30k_en_de.{md,json,png}``
(:mod:`hat.experiments.multi30k_report`).

Every stage is cached in ``<workdir>/stages/`` (:class:`hat.experiments.stages.Pipeline`). ``experiment=
'multi30k_deployment'`` continues from the same trained models into :mod:`hat.experiments.deployment`.
"""
from __future__ import annotations

import dataclasses
import functools
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

from ..config_args import config_file_text, read_config_file
from ..errors import ConfigError
from ..evaluation.comparison import Point, compare
from ..io import PathLike, write_text_atomic
from ..search_space import write_subtransformer_yaml
from . import steps
from .multi30k_report import write_results
from .results_index import write_index
from .seeds import over_seeds, seed_name
from .stages import Pipeline, git_commit, languages, latency_constraints, run_concurrently, validation_curves

TASK = Path("configs") / "multi30k.en-de"
"""The task's configs in a checkout of this project (relative to the current directory)."""
BASELINES = ("256,512,4,6,6", "256,512,4,6,3", "192,384,4,6,2", "128,256,4,6,1")
"""Baseline Transformers: embed dim, FFN dim, heads, encoder layers, decoder layers (uniform per layer)."""
EXPERIMENTS = ("multi30k_en_de", "multi30k_inherited_vs_scratch", "multi30k_finetune", "multi30k_search_vs_random",
               "multi30k_design_space", "predictor_accuracy", "multi30k_deployment", "multi30k_supernet_training")
"""What a run writes (its page's name): HAT vs the baselines (the paper's main comparison); inherited vs
from-scratch BLEU and fine-tuning inherited weights (:mod:`hat.experiments.weight_sharing`); the models deployed
on ONNX Runtime (:mod:`hat.experiments.deployment`); a sandwich-trained SuperTransformer against the uniform one
(:mod:`hat.experiments.supernet_training`). All share the trained models of the first;
``multi30k_search_vs_random`` (:mod:`hat.experiments.search_comparison`) and ``multi30k_design_space``
(:mod:`hat.experiments.design_space`) its SuperTransformer and predictor,
``predictor_accuracy`` (:mod:`hat.experiments.predictor_accuracy`) its latency dataset."""


def baseline_spec(text: str) -> tuple[str, tuple[int, ...]]:
    """``'256,512,4,6,3'`` -> ``('transformer-256-6-3', (256, 512, 4, 6, 3))``."""
    try:
        dims = tuple(int(v) for v in text.split(","))
    except ValueError:
        dims = ()
    if len(dims) != 5:
        raise ConfigError(f"baseline {text!r} is not EMBED,FFN,HEADS,ENCODER_LAYERS,DECODER_LAYERS")
    return f"transformer-{dims[0]}-{dims[3]}-{dims[4]}", dims


@dataclass
class Multi30kSettings:
    """What the reproduction does (``hat-reproduce-multi30k --help`` describes each)."""

    workdir: str = "runs/reproduce_multi30k"
    results_dir: str = "docs/results"
    raw_dir: Optional[str] = None
    data: Optional[str] = None
    space: str = str(TASK / "supertransformer" / "space0.yml")
    common: str = str(TASK / "subtransformer" / "common.yml")
    supernet_updates: int = 3000
    train_updates: int = 1200
    latency_rows: int = 300
    latiter: int = 10
    lat_threads: int = 1
    lat_rounds: int = 5
    final_latiter: int = 20
    """Timed runs per side in the final interleaved measurements of the trained models (the dataset's: ``latiter``)."""
    quantiles: tuple[float, ...] = (0.25, 0.5, 0.75)
    evo_iter: int = 30
    population_size: int = 125
    parent_size: int = 25
    mutation_size: int = 50
    verify_on_device: Optional[int] = None
    """The search's ``--verify-on-device K`` (None: its default; 0: choose by predicted latency alone)."""
    crossover_size: int = 50
    valid_cnt_max: int = 8
    baselines: Sequence[str] = field(default_factory=lambda: list(BASELINES))
    seeds: Sequence[int] = (1, 2)
    """Training seeds of every model (each model is trained once per seed; rows report the mean and std)."""
    jobs: int = 1
    """Trainings, and searches of the search comparisons, run at once (each in its own process on cores / jobs
    threads, its output in ``<save dir>/train.out`` / ``<search dir>/search.out``); 1: one at a time on PyTorch's
    default threads, its output on this process's."""
    experiment: str = EXPERIMENTS[0]
    search_seeds: Sequence[int] = (1, 2, 3)
    """``multi30k_search_vs_random``: the search seeds of each method."""
    comparison_evo_iter: int = 15
    """``multi30k_search_vs_random``: generations of each of its searches (the rest of the schedule is the main one's)."""
    released_latency: Optional[str] = None
    """A folder of the original's released latency CSVs, compared with this CPU's by ``predictor_accuracy``."""
    mlp_train_steps: int = 5000
    """``predictor_accuracy``: training steps of the original's MLP predictor (the original's 5000)."""
    sandwich_random: int = 2
    """``multi30k_supernet_training``: random SubTransformers of each sandwich update, besides the largest and the
    smallest."""
    inplace_distill: float = 0.5
    """``multi30k_supernet_training``: weight of the in-place distillation loss of the sandwich's smaller members."""
    stop_after: Optional[str] = None
    """Stop after this stage (its name as in ``<workdir>/stages/``), to continue in a later run."""
    command: str = "bash scripts/reproduce_multi30k.sh"
    """The command line shown on the results page."""


def baseline_files(name: str, dims: tuple, common: PathLike, folder: Path) -> tuple[Path, Path]:
    """The SubTransformer YAML of a uniform baseline and its own ``common.yml`` (super dims = its dims, qkv = embed)."""
    embed, ffn, heads, encoder_layers, decoder_layers = dims
    items = OrderedDict((k, v) for k, v in read_config_file(common).items() if not k.endswith("-choice"))
    items.update({"encoder-embed-dim": embed, "decoder-embed-dim": embed, "encoder-ffn-embed-dim": ffn,
                  "decoder-ffn-embed-dim": ffn, "encoder-layers": encoder_layers, "decoder-layers": decoder_layers,
                  "encoder-attention-heads": heads, "decoder-attention-heads": heads, "qkv-dim": embed})
    common_path, sub_path = folder / f"{name}.common.yml", folder / f"{name}.yml"
    write_text_atomic(common_path, config_file_text(items))
    config = {"encoder": {"encoder_embed_dim": embed, "encoder_layer_num": encoder_layers,
                          "encoder_ffn_embed_dim": [ffn] * encoder_layers,
                          "encoder_self_attention_heads": [heads] * encoder_layers},
              "decoder": {"decoder_embed_dim": embed, "decoder_layer_num": decoder_layers,
                          "decoder_ffn_embed_dim": [ffn] * decoder_layers,
                          "decoder_self_attention_heads": [heads] * decoder_layers,
                          "decoder_ende_attention_heads": [heads] * decoder_layers,
                          "decoder_arbitrary_ende_attn": [-1] * decoder_layers}}
    write_subtransformer_yaml(config, sub_path)
    return sub_path, common_path


def check_inputs(settings: Multi30kSettings) -> None:
    """Fail before any work when a config file is missing (the defaults are a checkout's) or a baseline is malformed."""
    for flag, path in (("--space", settings.space), ("--common", settings.common)):
        if not Path(path).is_file():
            raise ConfigError(f"{flag} {path} not found: run from a checkout of this project (the defaults are "
                              f"{TASK}/...) or give {flag}")
    for text in settings.baselines:
        baseline_spec(text)
    if settings.experiment not in EXPERIMENTS:
        raise ConfigError(f"unknown experiment {settings.experiment!r}: choose one of {', '.join(EXPERIMENTS)}")


def run(settings: Multi30kSettings) -> dict:
    """Run (or finish) every stage and write the results; ``{"rows", "beaten", "baselines"}``. The work
    folder is locked against a second run while this one runs."""
    check_inputs(settings)
    with Pipeline(settings.workdir, settings.stop_after, outputs=[settings.results_dir]) as pipeline:
        pipeline.store_settings(settings.experiment, stored(settings))
        result = _run(settings, pipeline)
    write_index(settings.results_dir)
    return result


def stored(settings: Multi30kSettings) -> dict:
    """What is kept of a run's settings to regenerate its results: all but where they go and where it stops."""
    return {key: value for key, value in dataclasses.asdict(settings).items() if key not in ("results_dir", "stop_after")}


def regenerate(workdir: PathLike, results_dir: PathLike) -> dict[str, str]:
    """Write again the results page of every experiment run in ``workdir`` into ``results_dir``, from the stored
    stages only (nothing is computed); ``{experiment: "written" or why not}`` (the first stage that has not
    finished)."""
    from .stages import StageMissing, stored_settings

    known = {field.name for field in dataclasses.fields(Multi30kSettings)}
    outcome = {}
    for experiment, values in stored_settings(workdir).items():
        settings = Multi30kSettings(**{key: value for key, value in values.items() if key in known},
                                    results_dir=str(results_dir))
        try:
            with Pipeline(workdir, stored_only=True, outputs=[results_dir]) as pipeline:
                _run(settings, pipeline)
            outcome[experiment] = "written"
        except StageMissing as missing:
            outcome[experiment] = f"not finished: stage {missing.stage!r} has not run"
    if "written" in outcome.values():
        write_index(results_dir)
    return outcome


def _run(settings: Multi30kSettings, pipeline: Pipeline) -> dict:
    workdir = pipeline.workdir
    data = _data(settings, pipeline)
    supernet = pipeline.stage("supertransformer", _supertransformer(settings, pipeline, data))
    lat_csv, predictor = _latency_predictor(settings, pipeline, data, "torch")

    context = {"threads": settings.lat_threads, "commit": git_commit(outside=pipeline.outputs),
               "command": settings.command}
    if settings.experiment == "predictor_accuracy":
        return _predictor_accuracy(settings, pipeline, lat_csv, context)
    constraints = latency_constraints(lat_csv, predictor, settings.quantiles)
    if settings.experiment == "multi30k_search_vs_random":
        return _search_vs_random(settings, pipeline, data, predictor, constraints[len(constraints) // 2], context)
    if settings.experiment == "multi30k_design_space":
        return _design_space(settings, pipeline, data, predictor, constraints[len(constraints) // 2], context)
    search = _search(settings, pipeline, data, predictor, constraints, "torch")
    models = _searched_models(search, settings.common, "hat")
    for name, dims in map(baseline_spec, settings.baselines):
        yml, common = baseline_files(name, dims, settings.common, workdir / "baselines")
        models[name] = {"family": "baseline", "yml": str(yml), "common": str(common)}
    if settings.experiment == "multi30k_en_de":
        return _hat_vs_baselines(settings, pipeline, data, models, supernet, context)
    _train_and_test(settings, pipeline, data, models)
    supernet_checkpoint = functools.partial(_supernet_checkpoint, settings, pipeline, data)
    if settings.experiment == "multi30k_deployment":
        return _deployment(settings, pipeline, data, models, context)
    if settings.experiment == "multi30k_inherited_vs_scratch":
        return _inherited_vs_scratch(settings, pipeline, data, models, supernet_checkpoint, context)
    if settings.experiment == "multi30k_finetune":
        return _finetune(settings, pipeline, data, models, supernet_checkpoint, context)
    return _supernet_training(settings, pipeline, data, models, predictor, constraints, supernet, context)


def _hat_vs_baselines(settings: Multi30kSettings, pipeline: Pipeline, data: Path, models: dict, supernet: dict,
                      context: dict) -> dict:
    """The searched SubTransformers and the baselines measured, trained and tested: the main page."""
    # measured before the trainings (latency needs no trained weights): on the machine, and in the sitting, that
    # measured the latency dataset, as a later sitting of a long run may get another CPU
    latency = pipeline.stage("latency_final", lambda: steps.interleaved_latency(
        {name: (model["yml"], model["common"]) for name, model in models.items()}, data, settings.lat_threads,
        settings.final_latiter, settings.lat_rounds))
    _train_and_test(settings, pipeline, data, models)
    rows = [{"name": name, **model, **latency[name]} for name, model in models.items()]
    points = {family: [Point(r["name"], r["latency_ms"], r["bleu"], r["bleu_std"]) for r in rows
                       if r["family"] == family] for family in ("hat", "baseline")}
    verdicts = compare(points["hat"], points["baseline"])
    context.update(supernet_losses=validation_curves(pipeline.workdir / "supertransformer" / "train.log"),
                   supernet_wall_s=supernet["stage_wall_s"],
                   latency_machine=latency.get("stage_machine", "a CPU not recorded"), provenance=pipeline.provenance())
    write_results(rows, verdicts, settings.results_dir, context)
    return {"rows": rows, "beaten": sum(v.beaten for v in verdicts), "baselines": len(verdicts)}


def _data(settings: Multi30kSettings, pipeline: Pipeline) -> Path:
    """The binarised corpus: the one given (``--data``), else Multi30k prepared in the work folder (stage ``data``;
    prepared again when the work folder was kept without it)."""
    if settings.data:
        return Path(pipeline.stage("data", lambda: steps.use_data(settings.data))["data"])

    def prepare() -> dict:
        return steps.prepare_multi30k(settings.raw_dir, pipeline.workdir / "data", "en", "de")

    data = pipeline.output("data", pipeline.stage("data", prepare)["data"], prepare)
    if not pipeline.stored_only:
        languages(data, None, None)
    return data


def _supertransformer(settings: Multi30kSettings, pipeline: Pipeline, data: Path) -> Callable[[], dict]:
    """The training of the reproduction's SuperTransformer (the work of stage ``supertransformer``)."""
    folder = pipeline.workdir / "supertransformer"

    def train() -> dict:
        folder.mkdir(parents=True, exist_ok=True)  # fairseq's --log-file needs the folder
        return steps.train_supertransformer(data, settings.space, folder, settings.supernet_updates, [
            "--no-progress-bar", "--log-format", "simple", "--log-file", folder / "train.log"])
    return train


def _supernet_checkpoint(settings: Multi30kSettings, pipeline: Pipeline, data: Path) -> Path:
    """The SuperTransformer's checkpoint (trained again when the work folder was kept without it)."""
    return pipeline.output("supertransformer", pipeline.workdir / "supertransformer" / "checkpoint_last.pt",
                           _supertransformer(settings, pipeline, data))


def _suffix(backend: str) -> str:
    """Stage and file names of a backend's latency dataset, predictor and search: PyTorch keeps the plain names."""
    return "" if backend == "torch" else f"_{backend}"


def _latency_predictor(settings: Multi30kSettings, pipeline: Pipeline, data: Path, backend: str) -> tuple[Path, Path]:
    """The latency dataset measured on ``backend`` and the predictor trained on it (stages)."""
    lat_csv = pipeline.workdir / "latency" / f"latency{_suffix(backend)}.csv"
    pipeline.stage(f"latency_dataset{_suffix(backend)}", lambda: steps.latency_dataset(
        data, settings.space, lat_csv, settings.latency_rows, settings.latiter, settings.lat_threads, backend))
    predictor = pipeline.workdir / "latency" / f"predictor{_suffix(backend)}.pt"
    pipeline.stage(f"latency_predictor{_suffix(backend)}", lambda: steps.latency_predictor(lat_csv, predictor))
    return lat_csv, predictor


def _search(settings: Multi30kSettings, pipeline: Pipeline, data: Path, predictor: Path, constraints: list[float],
            backend: str, name: Optional[str] = None, space: Optional[PathLike] = None,
            supernet: Optional[Callable[[], PathLike]] = None, **options) -> dict:
    """The evolutionary search on the SuperTransformer (``supernet()``, default the reproduction's) under
    ``constraints`` of the ``backend``'s predictor (stage and folder ``name``, default ``evo_search`` / ``search``
    with the backend's suffix; in ``space``, default the settings'; ``options``: more
    :func:`hat.experiments.steps.search` arguments, which win over the settings')."""
    stage = name or f"evo_search{_suffix(backend)}"
    folder = pipeline.workdir / (name or f"search{_suffix(backend)}")
    schedule = {"valid_cnt_max": settings.valid_cnt_max, "evo_iter": settings.evo_iter,
                "population_size": settings.population_size, "parent_size": settings.parent_size,
                "mutation_size": settings.mutation_size, "crossover_size": settings.crossover_size,
                "verify_rounds": settings.lat_rounds, "verify_on_device": settings.verify_on_device, **options}
    supernet = supernet or functools.partial(_supernet_checkpoint, settings, pipeline, data)
    return pipeline.stage(stage, lambda: steps.search(
        data, space or settings.space, supernet(), predictor, constraints, folder / "hat.yml", folder, **schedule))


def _searched_models(search: dict, common: str, prefix: str) -> "OrderedDict[str, dict]":
    """The search's SubTransformers, named ``<prefix>@<constraint>ms``."""
    return OrderedDict((f"{prefix}@{r['latency_constraint_ms']:g}ms", {
        "family": "hat", "yml": r["config_path"], "common": common, "predicted_latency_ms": r["predicted_latency_ms"],
        "search_loss": r["loss"], "source_gain_bits": r.get("source_gain_bits"),
        "latency_constraint_ms": r["latency_constraint_ms"]}) for r in search["results"])


def _train_and_test(settings: Multi30kSettings, pipeline: Pipeline, data: Path, models: dict) -> None:
    """Train every model from scratch with the same budget once per seed (every model's first seed before any
    second one; ``jobs`` at a time), then test each (BLEU; #params and FLOPs with the first seed): stages.
    Each model gets the mean and std over its seeds (:func:`hat.experiments.seeds.over_seeds`), its first seed's
    ``checkpoint`` and that checkpoint's BLEU (``checkpoint_bleu``)."""
    jobs, threads = settings.jobs, job_threads(settings.jobs)

    def training(name: str, model: dict, seed: int) -> Callable[[], dict]:
        save_dir = model_dir(pipeline, name, seed)
        return lambda: steps.train_subtransformer(
            data, model["yml"], model["common"], save_dir, settings.train_updates,
            ["--seed", seed, "--no-progress-bar", "--log-format", "simple"],
            output=None if jobs == 1 else save_dir / "train.out", threads=threads)

    def train(name: str, model: dict, seed: int) -> dict:
        return pipeline.stage(f"train_{seed_name(name, seed)}", training(name, model, seed))

    def checkpoint(name: str, model: dict, seed: int) -> Path:  # trained again if the work folder was kept without it
        return pipeline.output(f"train_{seed_name(name, seed)}", model_dir(pipeline, name, seed) / "checkpoint_best.pt",
                               training(name, model, seed))

    order = [(name, model, seed) for seed in settings.seeds for name, model in models.items()]
    trained = run_concurrently([functools.partial(train, *item) for item in order], jobs)
    walls = {(name, seed): steps.training_seconds(result) for (name, _, seed), result in zip(order, trained)}
    for name, model in models.items():
        per_seed = {}
        for seed in settings.seeds:
            per_seed[seed] = {**pipeline.stage(f"test_{seed_name(name, seed)}", lambda name=name, model=model,
                                               seed=seed: steps.test_subtransformer(
                data, checkpoint(name, model, seed), model["yml"], model["common"],
                profile=seed == settings.seeds[0])),
                "train_wall_s": walls[name, seed]}
        first = settings.seeds[0]
        model.update(over_seeds(per_seed), checkpoint=str(model_dir(pipeline, name, first) / "checkpoint_best.pt"),
                     checkpoint_bleu=per_seed[first]["bleu"])
        if settings.experiment == "multi30k_deployment":  # its stages read the checkpoint of each model's first seed
            checkpoint(name, model, first)


def job_threads(jobs: int) -> Optional[int]:
    """CPU threads of each of ``jobs`` processes run at once (None for one job: PyTorch's default, every core)."""
    return None if jobs <= 1 else max(1, (os.cpu_count() or 1) // jobs)


def model_dir(pipeline: Pipeline, name: str, seed: int) -> Path:
    """Where model ``name`` trained with ``seed`` is saved."""
    return pipeline.workdir / "models" / name / f"seed{seed}"


def _search_vs_random(settings: Multi30kSettings, pipeline: Pipeline, data: Path, predictor: Path, constraint: float,
                      context: dict) -> dict:
    """Evolution and random search at ``constraint``, once per search seed (by prediction alone: the searches are
    compared, not the device), then each method's best winner trained (every training seed) and tested."""
    from . import search_comparison as experiment

    runs = [(method, seed) for method in experiment.METHODS for seed in settings.search_seeds]
    summaries = dict(zip(runs, run_concurrently([functools.partial(
        _compared_search, settings, pipeline, data, predictor, constraint, method, seed) for method, seed in runs],
        settings.jobs)))
    rows, winners = [], OrderedDict()
    for method in experiment.METHODS:
        best = None
        for seed in settings.search_seeds:
            summary = summaries[method, seed]
            rows += experiment.best_so_far(pipeline.workdir / f"search_{method}_seed{seed}" / "history.jsonl", method,
                                           seed)
            result = summary["results"][0]
            if best is None or result["loss"] < best[1]["loss"]:
                best = (seed, result)
        seed, result = best
        winners[f"{method}-winner"] = {"family": method, "yml": result["config_path"], "common": settings.common,
                                       "seed": seed, "loss": result["loss"],
                                       "predicted_latency_ms": result["predicted_latency_ms"]}
    _train_and_test(settings, pipeline, data, winners)
    experiment.write_results(rows, {m["family"]: m for m in winners.values()}, constraint, settings.results_dir,
                             {**context, "provenance": pipeline.provenance()})
    return {"rows": rows, "winners": winners}


def _compared_search(settings: Multi30kSettings, pipeline: Pipeline, data: Path, predictor: Path, constraint: float,
                     method: str, seed: int, variant: str = "", **options) -> dict:
    """One search of the comparisons (stage and folder ``search_<method><variant>_seed<seed>``): at
    ``constraint`` alone, ``comparison_evo_iter`` generations, chosen by prediction alone (the searches are
    compared, not the device)."""
    return _search(settings, pipeline, data, predictor, [constraint], "torch", f"search_{method}{variant}_seed{seed}",
                   evo_iter=settings.comparison_evo_iter, verify_on_device=0, seed=seed, method=method,
                   threads=job_threads(settings.jobs), **options)


def _design_space(settings: Multi30kSettings, pipeline: Pipeline, data: Path, predictor: Path, constraint: float,
                  context: dict) -> dict:
    """The search (seed 1) in the full space, without arbitrary attention and with uniform layers; each winner
    trained (every training seed), tested and measured in the same interleaved rounds."""
    from . import design_space as experiment

    restricted = experiment.without_arbitrary_attention(settings.space, pipeline.workdir / "design_space" /
                                                        "no_arbitrary_attn.yml")
    search = functools.partial(_compared_search, settings, pipeline, data, predictor, constraint, "evolution", 1)
    searches = OrderedDict(zip(experiment.VARIANTS, run_concurrently([
        search, functools.partial(search, "_no_arbitrary_attn", space=restricted),
        functools.partial(search, "_uniform_layers", uniform_layers=True)], settings.jobs)))
    models = OrderedDict((f"design-{variant}", {
        "family": variant, "yml": summary["results"][0]["config_path"], "common": settings.common,
        "search_loss": summary["results"][0]["loss"],
        "predicted_latency_ms": summary["results"][0]["predicted_latency_ms"]}) for variant, summary in searches.items())
    _train_and_test(settings, pipeline, data, models)
    latency = pipeline.stage("latency_design_space", lambda: steps.interleaved_latency(
        {name: (model["yml"], model["common"]) for name, model in models.items()}, data, settings.lat_threads,
        settings.final_latiter, settings.lat_rounds))
    rows = [{"variant": model["family"], "name": name, **model, **latency[name]} for name, model in models.items()]
    experiment.write_results(rows, constraint, settings.results_dir, {**context, "provenance": pipeline.provenance()})
    return {"rows": rows}


def _predictor_accuracy(settings: Multi30kSettings, pipeline: Pipeline, lat_csv: Path, context: dict) -> dict:
    """Both predictor models on this CPU's latency dataset and on the released ones (a stage each)."""
    from . import predictor_accuracy as experiment

    rows = [{"dataset": name, **pipeline.stage(f"predictor_accuracy_{name}_{model}", lambda csv=csv, model=model:
                                               experiment.accuracy(csv, model, settings.mlp_train_steps))}
            for name, csv in experiment.datasets(lat_csv, settings.released_latency).items()
            for model in experiment.MODELS_COMPARED]
    experiment.write_results(rows, settings.results_dir, {**context, "provenance": pipeline.provenance()})
    return {"rows": rows}


def _inherited_vs_scratch(settings: Multi30kSettings, pipeline: Pipeline, data: Path, models: dict,
                          supernet: Callable[[], Path], context: dict) -> dict:
    """Every SubTransformer of :func:`_weight_sharing_models` evaluated with its inherited weights and measured in
    the same interleaved rounds."""
    from .weight_sharing import inherited_rows
    from .weight_sharing_report import write_inherited_results

    chosen = _weight_sharing_models(settings, pipeline, data, models)
    latency = pipeline.stage("latency_inherited_vs_scratch", lambda: steps.interleaved_latency(
        {name: (model["yml"], model["common"]) for name, model in chosen.items()}, data, settings.lat_threads,
        settings.final_latiter, settings.lat_rounds))
    rows = inherited_rows(pipeline, data, chosen, supernet, latency)
    return {"rows": rows, **write_inherited_results(rows, settings.results_dir,
                                                    {**context, "provenance": pipeline.provenance()})}


def _weight_sharing_models(settings: Multi30kSettings, pipeline: Pipeline, data: Path, models: dict) -> dict:
    """The SubTransformers whose inherited weights are compared with training from scratch: the models that are
    SubTransformers of the space, and the space's largest and smallest (trained here like the others)."""
    from .weight_sharing import corner_models, in_space, search_space

    space = search_space(data, settings.space)
    corners = corner_models(space, settings.common, pipeline.workdir / "corners")
    _train_and_test(settings, pipeline, data, corners)
    return {**{name: model for name, model in models.items() if in_space(model, space)}, **corners}


def _supernet_training(settings: Multi30kSettings, pipeline: Pipeline, data: Path, models: dict, predictor: Path,
                       constraints: list[float], uniform: dict, context: dict) -> dict:
    """A SuperTransformer trained with the sandwich rule and in-place distillation for the uniform one's training
    time (``uniform``: its stage), the SubTransformers of :func:`_weight_sharing_models` tested with the weights
    they inherit from each, and the search repeated on it (same constraints and predictor) with its winners
    trained from scratch; all measured in the same interleaved rounds."""
    from . import supernet_training as experiment
    from .weight_sharing import inherited_bleu

    folders = {"uniform": pipeline.workdir / "supertransformer",
               "sandwich": pipeline.workdir / "supertransformer_sandwich"}
    if "training_s" not in uniform:  # a stage stored before training stages recorded it
        uniform = pipeline.stage("supertransformer_progress", lambda: steps.training_progress(
            folders["uniform"] / "checkpoint_last.pt"))
    def train_sandwich() -> dict:
        return experiment.train_sandwich(data, settings.space, folders["sandwich"], uniform["training_s"],
                                         settings.supernet_updates, settings.sandwich_random, settings.inplace_distill)

    sandwich = pipeline.stage("supertransformer_sandwich", train_sandwich)

    def retrain_sandwich() -> dict:  # to the updates its time budget allowed: a time limit is not reproducible
        return experiment.train_sandwich(data, settings.space, folders["sandwich"], None, sandwich["updates"],
                                         settings.sandwich_random, settings.inplace_distill)

    checkpoints = {"uniform": functools.partial(_supernet_checkpoint, settings, pipeline, data),
                   "sandwich": lambda: pipeline.output("supertransformer_sandwich", sandwich["checkpoint"],
                                                       retrain_sandwich)}
    chosen = _weight_sharing_models(settings, pipeline, data, models)
    search = _search(settings, pipeline, data, predictor, constraints, "torch", "search_sandwich",
                     supernet=checkpoints["sandwich"])
    winners = _searched_models(search, settings.common, "hat-sandwich")
    _train_and_test(settings, pipeline, data, winners)
    latency = pipeline.stage("latency_supernet_training", lambda: steps.interleaved_latency(
        {name: (model["yml"], model["common"]) for name, model in {**chosen, **winners}.items()}, data,
        settings.lat_threads, settings.final_latiter, settings.lat_rounds))
    rows = []
    for supernet, prefix in (("uniform", "inherited"), ("sandwich", "inherited_sandwich")):
        checkpoint = checkpoints[supernet]
        extra = winners if supernet == "sandwich" else {}
        for name, model in {**chosen, **extra}.items():
            rows.append(experiment.row(supernet, name, model, inherited_bleu(pipeline, data, prefix, name, model,
                                                                             checkpoint), latency[name],
                                       searched=name in extra or (supernet == "uniform" and model["family"] == "hat"),
                                       ranked=name in chosen))
    supernets = {"uniform": {"sampling": "one SubTransformer, uniformly sampled (HAT)",
                             "updates": uniform["updates"], "training_s": uniform["training_s"]},
                 "sandwich": {"sampling": f"largest + smallest + {settings.sandwich_random} random, in-place "
                                          f"distillation weight {settings.inplace_distill:g}",
                              "updates": sandwich["updates"], "training_s": sandwich["training_s"]}}
    curves = {name: validation_curves(folder / "train.log") for name, folder in folders.items()}
    summary = experiment.write_results(rows, supernets, curves, settings.results_dir, {
        **context, "seeds": list(settings.seeds), "provenance": pipeline.provenance()})
    return {"rows": rows, "supernets": supernets, **summary}


def _finetune(settings: Multi30kSettings, pipeline: Pipeline, data: Path, models: dict, supernet: Callable[[], Path],
              context: dict) -> dict:
    """The searched SubTransformers' inherited weights fine-tuned for a quarter of the budget, once per seed."""
    from .weight_sharing import finetune_rows
    from .weight_sharing_report import write_finetune_results

    rows = finetune_rows(pipeline, data, {name: model for name, model in models.items() if model["family"] == "hat"},
                         supernet, settings.train_updates, settings.seeds)
    write_finetune_results(rows, settings.results_dir, {**context, "provenance": pipeline.provenance()})
    return {"rows": rows}


def engine_constraints(models: dict, predictor: PathLike) -> dict[float, str]:
    """``{constraint (ms): model name}``: the engine's predicted latency of each PyTorch-searched SubTransformer
    (rounded up to 0.01 ms), so that the engine's search has exactly that model among its feasible ones and its
    winner is at most as slow on the engine, by prediction; both are then measured on both engines."""
    import math

    from ..latency.predictor import load_predictor
    from ..search_space import read_subtransformer_yaml

    latency = load_predictor(predictor).predict([read_subtransformer_yaml(m["yml"]) for m in models.values()])
    return {math.ceil(float(ms) * 100) / 100: name for name, ms in zip(models, latency)}


def _deployment(settings: Multi30kSettings, pipeline: Pipeline, data: Path, models: dict, context: dict) -> dict:
    """The trained models on ONNX Runtime, the paper's quantization table, then the search for the int8 engine: a
    latency dataset and predictor measured on ONNX Runtime int8, the search under each PyTorch-searched model's int8
    latency (:func:`engine_constraints`), its winners trained and tested, and both winners of each constraint
    measured on both engines."""
    from .deployment import ENGINE, cross_rows, run_deployment, run_quantization
    from .deployment_report import goals, write_deployment_results

    rows = run_deployment(pipeline, data, models, settings.lat_threads, settings.final_latiter, settings.lat_rounds)
    quantization = run_quantization(pipeline, data, models)
    _, predictor = _latency_predictor(settings, pipeline, data, ENGINE)
    by_constraint = engine_constraints({name: m for name, m in models.items() if m["family"] == "hat"}, predictor)
    search = _search(settings, pipeline, data, predictor, sorted(by_constraint), ENGINE)
    engine_models = _searched_models(search, settings.common, "hat-int8")
    _train_and_test(settings, pipeline, data, engine_models)
    pairs = [(by_constraint[model["latency_constraint_ms"]], name) for name, model in engine_models.items()]
    compared = {**{name: models[name] for name, _ in pairs}, **engine_models}
    latency = pipeline.stage("latency_engine_cross", lambda: steps.interleaved_latency(
        {f"{name} {backend}": (model["yml"], model["common"], backend) for name, model in compared.items()
         for backend in ("torch", ENGINE)}, data, settings.lat_threads, settings.final_latiter, settings.lat_rounds))
    cross = cross_rows(pairs, compared, latency)
    write_deployment_results(rows, settings.results_dir, {**context, "engine_search": cross, "quantization": quantization,
                                                          "provenance": pipeline.provenance()})
    return {"rows": rows, "goals": goals(rows), "engine_search": cross, "quantization": quantization}
