"""The paper's central claim at small scale, HAT vs baseline Transformers (``hat-reproduce-multi30k``).

On Multi30k En-De and this CPU: train the SuperTransformer, measure a latency dataset and train the
predictor, search under three latency constraints spread over the measured range (one run), train
each searched SubTransformer from scratch, and train baseline Transformers of uniform per-layer
dimensions (fairseq's ``transformer``, built as a SubTransformer of a SuperTransformer of its own size,
which computes exactly what fairseq's model computes) with the same budget. Then measure every model's
latency with the same procedure and settings (interleaved rounds), test BLEU / SacreBLEU on the test
set, count #params / FLOPs, and write ``<results-dir>/multi30k_en_de.{md,json,png}``
(:mod:`hat.experiments.report`).

Every stage is cached in ``<workdir>/stages/`` (:class:`hat.experiments.stages.Pipeline`).
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
    quantiles: tuple[float, ...] = (0.25, 0.5, 0.75)
    evo_iter: int = 30
    population_size: int = 125
    parent_size: int = 25
    mutation_size: int = 50
    crossover_size: int = 50
    valid_cnt_max: int = 8
    baselines: Sequence[str] = field(default_factory=lambda: list(BASELINES))
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
    lat_csv = workdir / "latency" / "latency.csv"
    pipeline.stage("latency_dataset", lambda: steps.latency_dataset(
        data, settings.space, lat_csv, settings.latency_rows, settings.latiter, settings.lat_threads))
    predictor = workdir / "latency" / "predictor.pt"
    pipeline.stage("latency_predictor", lambda: steps.latency_predictor(lat_csv, predictor))
    constraints = latency_constraints(lat_csv, predictor, settings.quantiles)
    search = pipeline.stage("evo_search", lambda: steps.search(
        data, settings.space, super_dir / "checkpoint_last.pt", predictor, constraints, workdir / "search" / "hat.yml",
        workdir / "search", valid_cnt_max=settings.valid_cnt_max, evo_iter=settings.evo_iter,
        population_size=settings.population_size, parent_size=settings.parent_size,
        mutation_size=settings.mutation_size, crossover_size=settings.crossover_size,
        verify_rounds=settings.lat_rounds))

    models = OrderedDict()
    for result in search["results"]:
        name = f"hat@{result['latency_constraint_ms']:g}ms"
        models[name] = {"family": "hat", "yml": result["config_path"], "common": settings.common,
                        "predicted_latency_ms": result["predicted_latency_ms"], "search_loss": result["loss"],
                        "source_gain_bits": result.get("source_gain_bits")}
    for name, dims in map(baseline_spec, settings.baselines):
        yml, common = baseline_files(name, dims, settings.common, workdir / "baselines")
        models[name] = {"family": "baseline", "yml": str(yml), "common": str(common)}
    for name, model in models.items():
        save_dir = workdir / "models" / name
        model["checkpoint"] = str(save_dir / "checkpoint_best.pt")
        model["train_wall_s"] = pipeline.stage(f"train_{name}", lambda: steps.train_subtransformer(
            data, model["yml"], model["common"], save_dir, settings.train_updates,
            ["--no-progress-bar", "--log-format", "simple"]))["stage_wall_s"]

    for name, model in models.items():
        model.update(pipeline.stage(f"test_{name}", lambda model=model: steps.test_subtransformer(
            data, model["checkpoint"], model["yml"], model["common"])))
    latency = pipeline.stage("latency_final", lambda: steps.interleaved_latency(
        {name: (model["yml"], model["common"]) for name, model in models.items()}, data, settings.lat_threads,
        max(settings.latiter, 20), settings.lat_rounds))

    from ..latency.measure import device_name

    rows = [{"name": name, **model, **latency[name]} for name, model in models.items()]
    verdicts = compare([Point(r["name"], r["latency_ms"], r["bleu"]) for r in rows if r["family"] == "hat"],
                       [Point(r["name"], r["latency_ms"], r["bleu"]) for r in rows if r["family"] == "baseline"])
    context = {"cpu": device_name("cpu"), "threads": settings.lat_threads, "commit": git_commit(),
               "command": settings.command, "supernet_losses": validation_curves(super_dir / "train.log"),
               "supernet_wall_s": supernet["stage_wall_s"]}
    write_results(rows, verdicts, settings.results_dir, context)
    return {"rows": rows, "dominating": sum(v.dominates for v in verdicts), "hat_models": len(verdicts)}
