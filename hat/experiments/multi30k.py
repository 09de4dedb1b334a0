"""The paper's central claim at small scale, HAT vs baseline Transformers (``hat-reproduce-multi30k``).

On Multi30k En-De and this CPU: train the SuperTransformer, measure a latency dataset and train the
predictor, search under three latency constraints spread over the measured range (one run), train
each searched SubTransformer from scratch, and train baseline Transformers of uniform per-layer
dimensions (fairseq's ``transformer``, built as a SubTransformer of a SuperTransformer of its own size,
which computes exactly what fairseq's model computes) with the same budget. Then measure every model's
latency with the same procedure and settings (interleaved rounds), test BLEU / SacreBLEU on the test
set, count #params / FLOPs, and write ``<results-dir>/multi30k_en_de.{md,json,png}``
(:mod:`hat.experiments.report`).

Every stage is cached in ``<workdir>/stages/`` (:class:`hat.experiments.stages.Pipeline`). ``experiment=
'multi30k_deployment'`` continues from the same trained models into :mod:`hat.experiments.deployment`.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from ..config_args import read_config_file
from ..errors import ConfigError
from ..evaluation.comparison import Point, compare
from ..io import PathLike, write_text_atomic
from ..search_space import write_subtransformer_yaml
from . import steps
from .report import git_commit, write_results
from .stages import Pipeline, languages, latency_constraints, validation_curves

TASK = Path("configs") / "multi30k.en-de"
"""The task's configs in a checkout of this project (relative to the current directory)."""
BASELINES = ("256,512,4,6,6", "256,512,4,6,3", "192,384,4,6,2", "128,256,4,6,1")
"""Baseline Transformers: embed dim, FFN dim, heads, encoder layers, decoder layers (uniform per layer)."""
EXPERIMENTS = ("multi30k_en_de", "multi30k_deployment")
"""What a run writes: HAT vs the baselines (the paper's main comparison), or those models deployed on ONNX Runtime."""


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
    experiment: str = EXPERIMENTS[0]
    stop_after: Optional[str] = None
    """Stop after this stage (its name as in ``<workdir>/stages/``), to continue in a later run."""
    command: str = "bash scripts/reproduce_multi30k.sh"
    """The command line shown on the results page."""


def yaml_text(items: dict) -> str:
    """``key: value`` lines as configargparse reads them back."""
    return "".join(f"{k}: [{', '.join(map(str, v))}]\n" if isinstance(v, list) else f"{k}: {v}\n" for k, v in items.items())


def baseline_files(name: str, dims: tuple, common: PathLike, folder: Path) -> tuple[Path, Path]:
    """The SubTransformer YAML of a uniform baseline and its own ``common.yml`` (super dims = its dims, qkv = embed)."""
    embed, ffn, heads, encoder_layers, decoder_layers = dims
    items = OrderedDict((k, v) for k, v in read_config_file(common).items() if not k.endswith("-choice"))
    items.update({"encoder-embed-dim": embed, "decoder-embed-dim": embed, "encoder-ffn-embed-dim": ffn,
                  "decoder-ffn-embed-dim": ffn, "encoder-layers": encoder_layers, "decoder-layers": decoder_layers,
                  "encoder-attention-heads": heads, "decoder-attention-heads": heads, "qkv-dim": embed})
    common_path, sub_path = folder / f"{name}.common.yml", folder / f"{name}.yml"
    write_text_atomic(common_path, yaml_text(items))
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
    """Run (or finish) every stage and write the results; ``{"rows", "dominating", "hat_models"}``. The work
    folder is locked against a second run while this one runs."""
    check_inputs(settings)
    with Pipeline(settings.workdir, settings.stop_after) as pipeline:
        return _run(settings, pipeline)


def _run(settings: Multi30kSettings, pipeline: Pipeline) -> dict:
    workdir = pipeline.workdir
    data = Path(pipeline.stage("data", lambda: steps.use_data(settings.data) if settings.data else
                               steps.prepare_multi30k(settings.raw_dir, workdir / "data", "en", "de"))["data"])
    languages(data, None, None)
    super_dir = workdir / "supertransformer"
    super_dir.mkdir(parents=True, exist_ok=True)  # fairseq's --log-file needs the folder
    supernet = pipeline.stage("supertransformer", lambda: steps.train_supertransformer(
        data, settings.space, super_dir, settings.supernet_updates,
        ["--no-progress-bar", "--log-format", "simple", "--log-file", super_dir / "train.log"]))
    lat_csv, predictor = _latency_predictor(settings, pipeline, data, "torch")
    search = _search(settings, pipeline, data, predictor, latency_constraints(lat_csv, predictor, settings.quantiles),
                     "torch")
    models = _searched_models(search, settings.common, "hat")
    for name, dims in map(baseline_spec, settings.baselines):
        yml, common = baseline_files(name, dims, settings.common, workdir / "baselines")
        models[name] = {"family": "baseline", "yml": str(yml), "common": str(common)}
    _train_and_test(settings, pipeline, data, models)

    from ..latency.measure import device_name

    context = {"cpu": device_name("cpu"), "threads": settings.lat_threads, "commit": git_commit(),
               "command": settings.command}
    if settings.experiment == "multi30k_deployment":
        return _deployment(settings, pipeline, data, models, context)
    latency = pipeline.stage("latency_final", lambda: steps.interleaved_latency(
        {name: (model["yml"], model["common"]) for name, model in models.items()}, data, settings.lat_threads,
        settings.final_latiter, settings.lat_rounds))
    rows = [{"name": name, **model, **latency[name]} for name, model in models.items()]
    verdicts = compare([Point(r["name"], r["latency_ms"], r["bleu"]) for r in rows if r["family"] == "hat"],
                       [Point(r["name"], r["latency_ms"], r["bleu"]) for r in rows if r["family"] == "baseline"])
    context.update(supernet_losses=validation_curves(super_dir / "train.log"), supernet_wall_s=supernet["stage_wall_s"])
    write_results(rows, verdicts, settings.results_dir, context)
    return {"rows": rows, "dominating": sum(v.dominates for v in verdicts), "hat_models": len(verdicts)}


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
            backend: str) -> dict:
    """The evolutionary search on the SuperTransformer under ``constraints`` of the ``backend``'s predictor."""
    folder = pipeline.workdir / f"search{_suffix(backend)}"
    return pipeline.stage(f"evo_search{_suffix(backend)}", lambda: steps.search(
        data, settings.space, pipeline.workdir / "supertransformer" / "checkpoint_last.pt", predictor, constraints,
        folder / "hat.yml", folder, valid_cnt_max=settings.valid_cnt_max, evo_iter=settings.evo_iter,
        population_size=settings.population_size, parent_size=settings.parent_size,
        mutation_size=settings.mutation_size, crossover_size=settings.crossover_size,
        verify_rounds=settings.lat_rounds, verify_on_device=settings.verify_on_device))


def _searched_models(search: dict, common: str, prefix: str) -> "OrderedDict[str, dict]":
    """The search's SubTransformers, named ``<prefix>@<constraint>ms``."""
    return OrderedDict((f"{prefix}@{r['latency_constraint_ms']:g}ms", {
        "family": "hat", "yml": r["config_path"], "common": common, "predicted_latency_ms": r["predicted_latency_ms"],
        "search_loss": r["loss"], "source_gain_bits": r.get("source_gain_bits"),
        "latency_constraint_ms": r["latency_constraint_ms"]}) for r in search["results"])


def _train_and_test(settings: Multi30kSettings, pipeline: Pipeline, data: Path, models: dict) -> None:
    """Train every model from scratch with the same budget, then test it (BLEU, #params, FLOPs): stages."""
    for name, model in models.items():
        save_dir = pipeline.workdir / "models" / name
        model["checkpoint"] = str(save_dir / "checkpoint_best.pt")
        model["train_wall_s"] = pipeline.stage(f"train_{name}", lambda model=model, save_dir=save_dir:
                                               steps.train_subtransformer(
            data, model["yml"], model["common"], save_dir, settings.train_updates,
            ["--no-progress-bar", "--log-format", "simple"]))["stage_wall_s"]
    for name, model in models.items():
        model.update(pipeline.stage(f"test_{name}", lambda model=model: steps.test_subtransformer(
            data, model["checkpoint"], model["yml"], model["common"])))


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
    write_deployment_results(rows, settings.results_dir, {**context, "engine_search": cross,
                                                          "quantization": quantization})
    return {"rows": rows, "goals": goals(rows), "engine_search": cross, "quantization": quantization}
