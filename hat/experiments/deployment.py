"""The trained models of the Multi30k reproduction deployed on ONNX Runtime (``--experiment multi30k_deployment``).

For every model of :mod:`hat.experiments.multi30k` (the searched SubTransformers and the baselines, trained
and tested there): export it to ONNX with int8 graphs, translate the test set on ONNX Runtime float32 and
int8 (the share of hypotheses identical to PyTorch's, BLEU), and measure its latency on every backend in the
same interleaved rounds (:func:`run_deployment`); the paper's quantization table (:func:`run_quantization`);
and the rows comparing the PyTorch and int8-engine search winners (:func:`cross_rows`; the stages that produce
them are :func:`hat.experiments.multi30k._deployment`'s). :mod:`hat.experiments.deployment_report` writes
``<results-dir>/multi30k_deployment.{md,json,png}``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..evaluation.testing import output_path
from ..latency.backends import BACKENDS, INT8
from . import steps
from .stages import Pipeline

ENGINES = BACKENDS[1:]
"""The backends a model is deployed on besides PyTorch eager."""
KMEANS_BITS = (8, 4)
"""The paper's quantization table: K-means weight sharing with 8 and 4 bits."""
ENGINE = INT8
"""The engine the search is repeated for (the paper's specialization experiment, across engines)."""


def run_deployment(pipeline: Pipeline, data: Path, models: Mapping[str, dict[str, Any]], threads: int, latiter: int,
                   rounds: int) -> list[dict]:
    """One row per model and backend: ``name``, ``family``, ``backend``, ``latency_ms`` (and its spread),
    ``ratio_to_torch``, ``bleu``, ``identical_to_torch``, ``size_bytes``, ``predicted_latency_ms`` (searched
    models). ``models`` are the reproduction's, trained and tested (``checkpoint``, ``yml``, ``common``,
    ``checkpoint_bleu``: every engine runs the same checkpoint, of the first seed);
    each gets its ``export`` and per-engine test results."""
    for name, model in models.items():
        folder = pipeline.workdir / "deploy" / name
        model["export"] = pipeline.stage(f"export_onnx_{name}", lambda model=model, folder=folder: steps.export_onnx(
            model["checkpoint"], model["yml"], folder))
        for backend in ENGINES:
            model[backend] = pipeline.stage(f"test_{backend}_{name}", lambda model=model, folder=folder, backend=backend:
                                            steps.test_on_engine(data, folder, model["yml"], backend,
                                                                 output_path(model["checkpoint"], model["yml"], "test")))
    latency = pipeline.stage("latency_deployment", lambda: steps.interleaved_latency(
        {f"{name} {backend}": (model["yml"], model["common"], backend) for name, model in models.items()
         for backend in BACKENDS}, data, threads, latiter, rounds))
    rows = []
    for name, model in models.items():
        torch_ms = latency[f"{name} torch"]["latency_ms"]
        for backend in BACKENDS:
            measured = latency[f"{name} {backend}"]
            tested = {"bleu": model["checkpoint_bleu"], "identical_to_torch": 1.0} if backend == "torch" else model[backend]
            rows.append({"name": name, "family": model["family"], "backend": backend,
                         "latency_ms": measured["latency_ms"], "latency_std_ms": measured["latency_std_ms"],
                         "ratio_to_torch": measured["latency_ms"] / torch_ms, "bleu": tested["bleu"],
                         "identical_to_torch": tested["identical_to_torch"],
                         "size_bytes": model["export"]["size_bytes"][backend],
                         "predicted_latency_ms": model.get("predicted_latency_ms")})
    return rows


def cross_rows(pairs: list[tuple[str, str]], models: Mapping[str, dict[str, Any]], latency: Mapping[str, dict]) -> list[dict]:
    """Per constraint: the PyTorch-searched winner and the int8-engine-searched winner, each measured on both
    engines (``latency``: keys ``'<name> <backend>'``), their BLEU after training, and whether they are the same
    SubTransformer."""
    from ..search_space import read_subtransformer_yaml

    rows = []
    for torch_name, engine_name in pairs:
        torch_model, engine_model = models[torch_name], models[engine_name]
        rows.append({"constraint_ms": engine_model["latency_constraint_ms"], "torch_winner": torch_name,
                     "engine_winner": engine_name,
                     "same_subtransformer": read_subtransformer_yaml(torch_model["yml"]) ==
                     read_subtransformer_yaml(engine_model["yml"]),
                     **{f"{who}_{backend}_ms": latency[f"{name} {backend}"]["latency_ms"]
                        for who, name in (("torch_winner", torch_name), ("engine_winner", engine_name))
                        for backend in ("torch", ENGINE)},
                     "torch_winner_bleu": torch_model["bleu"], "engine_winner_bleu": engine_model["bleu"]})
    return rows


def run_quantization(pipeline: Pipeline, data: Path, models: Mapping[str, dict[str, Any]]) -> list[dict]:
    """The paper's quantization table for every model: size and BLEU in float32 (PyTorch), int8 (ONNX Runtime) and
    K-means 8 / 4 bits (:data:`KMEANS_BITS`). Needs :func:`run_deployment`'s results in ``models``."""
    rows = []
    for name, model in models.items():
        sizes = model["export"]["size_bytes"]
        results = [("float32", model["checkpoint_bleu"], sizes["torch"]),
                   ("int8 (ONNX Runtime)", model[INT8]["bleu"], sizes[INT8])]
        for bits in KMEANS_BITS:
            out = pipeline.workdir / "deploy" / name / f"kmeans{bits}.pt"
            result = pipeline.stage(f"test_kmeans{bits}_{name}", lambda model=model, bits=bits, out=out:
                                    steps.test_kmeans(data, model["checkpoint"], model["yml"], bits, out))
            results.append((f"K-means {bits}-bit", result["bleu"], result["size_bytes"]))
        rows += [{"name": name, "family": model["family"], "method": method, "bleu": bleu, "size_bytes": size,
                  "size_ratio": size / sizes["torch"]} for method, bleu, size in results]
    return rows
