"""The steps of the HAT pipeline, one function each, shared by the demo and the Multi30k reproduction.

Every step prints the command line of the tool that does the same work (``$ hat-train ...``, ``$
hat-evo-search ...``), so that any step can be rerun by hand, and returns a JSON-able dict (a stage
result of :class:`hat.experiments.stages.Pipeline`). Training runs ``hat-train`` in a fresh Python
process (fairseq's trainer owns its process: distributed launch, global state, as the original's
``train.py``); every other step calls the library in this process, but a search may run in a process of its own
too, so that several run side by side.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from ..errors import DataError, StageError
from ..io import PathLike

LATENCY_DATASET_KEYS = ("csv", "rows", "min_ms", "max_ms", "mean_ms")
"""What the latency-dataset step returns: the CSV and its row count and min / max / mean latency (ms)."""


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""What sets the thread count of a tool run in its own process (PyTorch reads them at start)."""


def log(line: str) -> None:
    """Progress of the steps run in this process (stdout, like the training's)."""
    print(line, flush=True)


def words(argv: Iterable[Any]) -> list[str]:
    return [str(word) for word in argv]


def show(tool: str, argv: Sequence[Any]) -> None:
    """Print ``$ tool argv...``: the console command that does what a step is about to do."""
    print("$ " + " ".join(shlex.quote(word) for word in [tool, *words(argv)]), flush=True)


def run_tool(tool: str, module: str, argv: Sequence[Any], output: Optional[PathLike] = None,
             threads: Optional[int] = None) -> None:
    """The console command ``tool`` (``python -m module argv``) in a fresh Python process on ``threads`` CPU
    threads (None: PyTorch's default), its output appended to the file ``output`` when given; a failure is a
    :class:`hat.errors.StageError` (the tool printed its own message, in ``output`` if given)."""
    argv = words(argv)
    show(tool, argv)
    command = [sys.executable, "-m", module, *argv]
    env = None if threads is None else {**os.environ, **{name: str(threads) for name in THREAD_VARIABLES}}
    if output is None:
        proc = subprocess.run(command, env=env)
    else:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        with open(output, "a") as stream:
            proc = subprocess.run(command, stdout=stream, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        where = "above" if output is None else f"in {output}"
        raise StageError(f"{tool} failed with exit code {proc.returncode} (its output {where}); rerun the same "
                         "command to continue from this stage")


def run_train(argv: Sequence[Any], output: Optional[PathLike] = None, threads: Optional[int] = None) -> None:
    """``hat-train argv --log-brief`` in a fresh Python process (:func:`run_tool`): fairseq's trainer owns its
    process."""
    run_tool("hat-train", "hat.cli.train", [*argv, "--log-brief"], output, threads)


# --- data -------------------------------------------------------------------------------------------------

def use_data(data: PathLike) -> dict:
    """An already binarised corpus (fairseq-preprocess output)."""
    if not Path(data).is_dir():
        raise DataError(f"binarised data folder not found: {data}")
    return {"data": str(Path(data))}


def make_synthetic_data(folder: PathLike, sizes: Sequence[int], vocab_size: int) -> dict:
    """A synthetic translation corpus (:mod:`hat.data.synthetic`) generated into ``<folder>/text`` and
    binarised into ``<folder>/bin`` (languages ``src`` / ``tgt``)."""
    from ..data.binarize import binarize
    from ..data.synthetic import write_synthetic_corpus

    folder = Path(folder)
    text = write_synthetic_corpus(folder / "text", sizes=tuple(sizes), vocab_size=vocab_size)
    return {"data": str(binarize(text, folder / "bin", "src", "tgt"))}


def prepare_multi30k(raw_dir: Optional[PathLike], folder: PathLike, src: str = "en", tgt: str = "de") -> dict:
    """Multi30k tokenised, BPE'd and binarised into ``folder`` (:func:`hat.data.multi30k.prepare`), from the
    raw files in ``raw_dir`` or, when None, downloaded."""
    from ..data.multi30k import prepare

    if raw_dir is not None and not Path(raw_dir).is_dir():
        raise DataError(f"raw Multi30k folder not found: {raw_dir} (leave --raw-dir out to download Multi30k)")
    show("python", ["-m", "hat.cli.prepare_multi30k", *(["--raw-dir", raw_dir] if raw_dir is not None else []),
                    "--src", src, "--tgt", tgt, "--out", folder])
    data = prepare(None if raw_dir is None else Path(raw_dir), Path(folder), src, tgt)
    return {"data": str(data), "fingerprint": data_fingerprint(data)}


def data_fingerprint(data: PathLike) -> str:
    """SHA-256 of a binarised corpus: its dictionaries and ``.bin`` / ``.idx`` files, names and bytes."""
    import hashlib

    from ..io import file_sha256

    digest = hashlib.sha256()
    for path in sorted(p for p in Path(data).iterdir() if p.suffix in (".bin", ".idx") or p.name.startswith("dict.")):
        digest.update(f"{path.name}:{file_sha256(path)};".encode())
    return digest.hexdigest()


# --- training ---------------------------------------------------------------------------------------------

def training_progress(checkpoint: PathLike) -> dict:
    """``{"updates", "training_s"}`` of a fairseq checkpoint: its update count and fairseq's training time behind
    it (seconds, summed over the runs that resumed it: a stage's own wall time counts only its last sitting)."""
    from ..checkpoint import load_trusted

    state = load_trusted(checkpoint)
    return {"updates": int(state["optimizer_history"][-1]["num_updates"]),
            "training_s": round(float(state["extra_state"]["previous_training_time"]), 1)}


def training_seconds(stage: Mapping[str, Any]) -> float:
    """The training time of a training stage's result: fairseq's, summed over resumed sittings (its own wall time
    for stages stored before the training steps returned it)."""
    return stage.get("training_s", stage["stage_wall_s"])


def _finished(save_dir: PathLike, updates: int, budget_s: Optional[float]) -> bool:
    """Whether the training in ``save_dir`` already made ``updates`` updates or spent ``budget_s`` seconds: fairseq
    started again on a finished run would make one more update."""
    from ..errors import CheckpointError

    try:
        done = training_progress(Path(save_dir) / "checkpoint_last.pt")
    except CheckpointError:  # none yet, or unreadable: hat-train resumes from the newest readable one
        return False
    return done["updates"] >= updates or (budget_s is not None and done["training_s"] >= budget_s)


def _train(model: Sequence[Any], save_dir: PathLike, updates: int, flags: Sequence[Any], output: Optional[PathLike],
           budget_s: Optional[float] = None, threads: Optional[int] = None, keep: str = "checkpoint_best.pt") -> dict:
    """``hat-train model... --save-dir save_dir --max-update updates --cpu flags...`` (and ``--stop-time-hours``
    from ``budget_s``) on ``threads`` unless that training has finished; its :func:`training_progress`, the
    ``checkpoint`` it keeps (``keep`` in ``save_dir``) and that checkpoint's weights' ``fingerprint``, by which a
    training made again on another machine is checked (:meth:`hat.experiments.stages.Pipeline.output`)."""
    from ..checkpoint import weights_fingerprint

    time_limit = [] if budget_s is None else ["--stop-time-hours", budget_s / 3600]
    if not _finished(save_dir, updates, budget_s):
        run_train([*model, "--save-dir", save_dir, "--max-update", updates, "--cpu", *flags, *time_limit], output,
                  threads)
    checkpoint = Path(save_dir) / keep
    return {"checkpoint": str(checkpoint), "fingerprint": weights_fingerprint(checkpoint),
            **training_progress(Path(save_dir) / "checkpoint_last.pt")}


def train_supertransformer(data: PathLike, space: PathLike, save_dir: PathLike, updates: int,
                           extra: Sequence[Any] = (), output: Optional[PathLike] = None,
                           budget_s: Optional[float] = None) -> dict:
    """Train the SuperTransformer of ``space`` (YAML) on CPU for ``updates`` updates (or ``budget_s`` seconds of
    training time, whichever comes first) into ``save_dir`` (resumed from its last checkpoint when it has one);
    ``extra`` are more ``hat-train`` flags, ``output`` a file for its output (default: this process's). Its
    checkpoint and :func:`training_progress`."""
    return _train([data, f"--configs={space}"], save_dir, updates, extra, output, budget_s, keep="checkpoint_last.pt")


def train_subtransformer(data: PathLike, yml: PathLike, common: PathLike, save_dir: PathLike, updates: int,
                         extra: Sequence[Any] = (), output: Optional[PathLike] = None,
                         threads: Optional[int] = None) -> dict:
    """Train the SubTransformer ``yml`` from scratch (``common``: its SuperTransformer and
    ``train-subtransformer: True``, as the original's ``common.yml``) on CPU (``threads``: None for PyTorch's
    default) into ``save_dir``; its best checkpoint and :func:`training_progress`."""
    return _train([data, f"--configs={yml}", f"--sub-configs={common}"], save_dir, updates, extra, output,
                  threads=threads)


def finetune_subtransformer(data: PathLike, yml: PathLike, common: PathLike, supernet: PathLike, save_dir: PathLike,
                            updates: int, extra: Sequence[Any] = (), output: Optional[PathLike] = None) -> dict:
    """Fine-tune the SubTransformer ``yml`` from the weights it inherits from the SuperTransformer checkpoint
    ``supernet`` for ``updates`` updates into ``save_dir``: optimizer, learning-rate schedule, data order and
    meters start afresh (``--reset-*``); an interrupted fine-tune resumes from its own last checkpoint. Its
    ``training_s`` is the fine-tune's own."""
    resume = (Path(save_dir) / "checkpoint_last.pt").exists()
    start = [] if resume else ["--restore-file", supernet, "--reset-optimizer", "--reset-lr-scheduler",
                               "--reset-dataloader", "--reset-meters"]
    result = _train([data, f"--configs={yml}", f"--sub-configs={common}"], save_dir, updates, [*start, *extra],
                    output)
    # fairseq carries the restored checkpoint's training time over (``--reset-meters`` leaves it): without the
    # SuperTransformer's, the time is the fine-tune's alone
    inherited = training_progress(supernet)["training_s"]
    return {**result, "training_s": round(result["training_s"] - inherited, 1)}


# --- latency ----------------------------------------------------------------------------------------------

def latency_dataset(data: PathLike, space: PathLike, csv: PathLike, rows: int, latiter: int, threads: int,
                    backend: str = "torch") -> dict:
    """Measure ``rows`` SubTransformers sampled from ``space`` on this CPU (on the inference engine ``backend``)
    into ``csv`` (:func:`hat.latency.collection.run_latency_dataset`; resumes a partial CSV); returns
    :data:`LATENCY_DATASET_KEYS`."""
    from ..latency.collection import parse_latency_dataset_args, run_latency_dataset

    argv = words([data, f"--configs={space}", "--latcpu", "--latsilent", "--lat-threads", threads, "--latiter", latiter,
                  "--lat-dataset-path", csv, "--lat-dataset-size", rows,
                  *(["--lat-backend", backend] if backend != "torch" else [])])
    show("hat-latency-dataset", argv)
    result = run_latency_dataset(parse_latency_dataset_args(argv), log)
    return {key: result[key] for key in LATENCY_DATASET_KEYS}


def latency_predictor(csv: PathLike, predictor: PathLike) -> dict:
    """Train the default latency predictor on ``csv`` and save it to ``predictor``
    (:func:`hat.latency.fitting.run_predictor_training`); returns its metrics (``test_mape``, ...)."""
    from ..latency.fitting import parse_predictor_args, run_predictor_training

    argv = words(["--lat-dataset-path", csv, "--ckpt-path", predictor])
    show("hat-latency-predictor", argv)
    return dict(run_predictor_training(parse_predictor_args(argv), log))


def subtransformer_latency(data: PathLike, yml: PathLike, common: PathLike, threads: int, latiter: int,
                           rounds: int = 3) -> dict:
    """Latency of the SubTransformer ``yml`` on this CPU (:func:`hat.latency.measure.measure_subtransformer`:
    the original's measurement, ``rounds`` rounds under the calibration probe, the median round)."""
    from ..latency.measure import measure_subtransformer
    from ..training import parse_train_args

    argv = words([data, f"--configs={yml}", f"--sub-configs={common}", "--latcpu", "--lat-threads", threads,
                  "--latiter", latiter, "--lat-rounds", rounds])
    show("hat-train", [*argv, "--json"])
    return measure_subtransformer(parse_train_args(argv), None, log)


def interleaved_latency(models: Mapping[str, tuple], data: PathLike, threads: int, latiter: int, rounds: int) -> dict:
    """Latency of several SubTransformers (``{name: (yml, common)}``, or ``(yml, common, backend)`` to measure on
    another engine than PyTorch) with the same settings: ``rounds`` interleaved rounds of the original's
    measurement, each under the calibration probe (:func:`hat.latency.interleaved.measure_interleaved`);
    ``{name: {"latency_ms": median of the rounds, "latency_std_ms", "latency_min_ms", "latency_max_ms",
    "samples_ms", "flagged_rounds", ...}}``."""
    from ..latency.interleaved import measure_interleaved
    from ..latency.measure import (build_for_latency, measure_latency, prepare_model, probe_for, settings_from_args,
                                   vocab_size_from_args)
    from ..search_space import check_fits, config_from_args
    from ..training import parse_train_args

    measurements, probe, built = {}, None, {}
    for name, (yml, common, *backend) in models.items():
        margs = parse_train_args(words([data, f"--configs={yml}", f"--sub-configs={common}", "--latcpu",
                                        "--lat-threads", threads, "--latiter", latiter,
                                        "--lat-backend", backend[0] if backend else "torch"]))
        if (yml, common) not in built:  # one model per SubTransformer: its exports are cached on it
            built[yml, common] = build_for_latency(margs, vocab_size_from_args(margs))
        model, config, settings = built[yml, common], check_fits(config_from_args(margs), margs), settings_from_args(margs)
        if settings.backend != "torch":
            prepare_model(model, config, settings)  # the export (seconds), before any timing
        measurements[name] = lambda model=model, config=config, settings=settings: measure_latency(
            model, config, settings).latency_ms
        probe = probe or probe_for(margs, settings)
    result = measure_interleaved(measurements, rounds, probe, log)
    log(probe.summary_line())
    return result


# --- search -----------------------------------------------------------------------------------------------

def search(data: PathLike, space: PathLike, checkpoint: PathLike, predictor: PathLike, constraints: Sequence[float],
           write_config_path: PathLike, search_dir: PathLike, *, evo_iter: int, population_size: int,
           parent_size: int, mutation_size: int, crossover_size: int, valid_cnt_max: Optional[int] = None,
           verify_rounds: int = 3, verify_on_device: Optional[int] = None, seed: int = 1,
           method: str = "evolution", uniform_layers: bool = False, threads: Optional[int] = None) -> dict:
    """The evolutionary search over the SuperTransformer ``checkpoint`` under the latency ``constraints``
    (ms) of ``predictor`` (:func:`hat.search.runner.run_search`; resumes in ``search_dir``; ``verify_on_device``:
    the search's ``--verify-on-device K``, 0 to choose by prediction alone; ``seed``, ``method``,
    ``uniform_layers``: its ``--seed``, ``--search-method``, ``--uniform-layers``); returns its summary
    (``results``: one per constraint, ``evaluations``, ``plot``...). In this process, or with ``threads`` in a
    process of its own on that many threads, its output in ``<search_dir>/search.out`` (searches run side by
    side)."""
    from ..search.outputs import SUMMARY
    from ..search.runner import parse_search_args, run_search

    argv = words([data, f"--configs={space}", "--cpu", "--restore-file", checkpoint, "--ckpt-path", predictor,
                  "--latency-constraint", *constraints, "--write-config-path", write_config_path,
                  "--search-dir", search_dir,
                  *(["--valid-cnt-max", valid_cnt_max] if valid_cnt_max is not None else []),
                  "--verify-rounds", verify_rounds,
                  *(["--verify-on-device", verify_on_device] if verify_on_device is not None else []),
                  "--evo-iter", evo_iter, "--population-size", population_size, "--parent-size", parent_size,
                  "--mutation-size", mutation_size, "--crossover-size", crossover_size,
                  *(["--seed", seed] if seed != 1 else []),
                  *(["--search-method", method] if method != "evolution" else []),
                  *(["--uniform-layers"] if uniform_layers else [])])
    if threads is not None:
        run_tool("hat-evo-search", "hat.cli.evo_search", argv, Path(search_dir) / "search.out", threads)
        return json.loads((Path(search_dir) / SUMMARY).read_text())
    show("hat-evo-search", argv)
    return run_search(parse_search_args(argv), log)


# --- test -------------------------------------------------------------------------------------------------

def test_subtransformer(data: PathLike, checkpoint: PathLike, yml: PathLike, common: PathLike,
                        profile: bool = True) -> dict:
    """BLEU and SacreBLEU on the test split (one generation by :func:`hat.evaluation.testing.test_bleu`,
    scored both ways) and, with ``profile``, #params / FLOPs (:func:`hat.profiling.profile_subtransformer`: they
    depend on ``yml`` alone, so one count per SubTransformer) of the SubTransformer ``yml`` trained into
    ``checkpoint``."""
    from ..evaluation.bleu import paper_bleu, read_generation
    from ..evaluation.testing import test_bleu
    from ..profiling import profile_subtransformer
    from ..training import parse_train_args

    show("hat-bleu", [checkpoint, yml, "normal", "--data", data])
    bleu = test_bleu(checkpoint, yml, data, "normal")
    hypotheses, references = read_generation(bleu["output"])
    scores = {"bleu": bleu["score"], "sacrebleu": paper_bleu(hypotheses, references, "sacre").score}
    if not profile:
        return scores
    argv = words([data, f"--configs={yml}", f"--sub-configs={common}"])
    show("hat-train", [*argv, "--profile-flops"])
    counted = profile_subtransformer(parse_train_args(argv))
    return {**scores, "params": counted["params"], "flops": counted["flops"]}


test_subtransformer.__test__ = False  # a step, not a test: pytest must not collect it where it is imported


# --- deployment -------------------------------------------------------------------------------------------

def export_onnx(checkpoint: PathLike, yml: PathLike, folder: PathLike) -> dict:
    """Export the SubTransformer ``yml`` of ``checkpoint`` to ONNX with int8 graphs into ``folder``
    (:func:`hat.export.subtransformer_checkpoint.export_subtransformer`); ``{"folder", "size_bytes": {backend:
    bytes}}``, PyTorch's being its float32 weights (4 bytes per parameter)."""
    from ..export.subtransformer_checkpoint import export_subtransformer

    show("hat-export-subtransformer", ["--restore-file", checkpoint, "--configs", yml, "--out", folder, "--format",
                                       "onnx", "--int8"])
    result = export_subtransformer(checkpoint, yml, folder, format="onnx", int8=True)
    return {"folder": str(folder), "size_bytes": {"torch": 4 * result["subtransformer_params"],
                                                  "onnxruntime": result["out_bytes"],
                                                  "onnxruntime-int8": result["out_int8_bytes"]}}


def test_on_engine(data: PathLike, folder: PathLike, yml: PathLike, backend: str, torch_output: PathLike) -> dict:
    """BLEU on the test split of the exported SubTransformer in ``folder`` on ONNX Runtime (``backend``
    'onnxruntime' or 'onnxruntime-int8'), and the share of its hypotheses identical to PyTorch's (the generation
    ``torch_output`` of the same model)."""
    from ..evaluation.bleu import read_generation
    from ..evaluation.testing import test_bleu
    from ..latency.backends import INT8

    int8 = backend == INT8
    show("hat-bleu", [folder, yml, "normal", "--data", data, *(["--int8"] if int8 else [])])
    bleu = test_bleu(folder, yml, data, "normal", int8=int8)
    ours, theirs = read_generation(bleu["output"])[0], read_generation(torch_output)[0]
    if len(ours) != len(theirs):
        raise DataError(f"{bleu['output']} has {len(ours)} hypotheses, {torch_output} {len(theirs)}")
    return {"bleu": bleu["score"], "identical_to_torch": sum(a == b for a, b in zip(ours, theirs)) / len(ours),
            "output": bleu["output"]}


test_on_engine.__test__ = False  # (as test_subtransformer)


def test_kmeans(data: PathLike, checkpoint: PathLike, yml: PathLike, bits: int, out: PathLike) -> dict:
    """BLEU on the test split of the SubTransformer ``yml`` of ``checkpoint`` with its matrices K-means quantized
    to ``bits`` (:func:`hat.export.kmeans_quantization.kmeans_quantize_model`, de-quantized into the checkpoint
    ``out``), and its size as stored quantized."""
    from ..checkpoint import save_model_checkpoint
    from ..evaluation.testing import test_bleu
    from ..export.kmeans_quantization import kmeans_quantize_model
    from ..loading import load_supertransformer
    from ..search_space import read_subtransformer_yaml
    from ..subtransformer import extract_subtransformer

    compact = extract_subtransformer(load_supertransformer(checkpoint, data), read_subtransformer_yaml(yml))
    quantized, size_bytes = kmeans_quantize_model(compact, bits)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    save_model_checkpoint(quantized, quantized.args, out)
    show("hat-bleu", [out, yml, "normal", "--data", data])
    return {"bleu": test_bleu(out, yml, data, "normal")["score"], "size_bytes": size_bytes, "bits": bits}


test_kmeans.__test__ = False  # (as test_subtransformer)
