"""The search runner: from parsed arguments to searched SubTransformers (what ``evo_search.py`` runs).

Wires the pieces of a latency-constrained evolutionary search over a trained SuperTransformer as the
original's ``evo_search.py`` does: the SuperTransformer checkpoint, the latency predictor, the
validation-loss fitness, the evolutionary algorithm (:mod:`hat.search.evolution`) and the search folder
(:mod:`hat.search.outputs`). Beyond the original: several latency constraints in one run (shared loss
cache, one YAML each), ``--max-params`` / ``--max-flops``, ``--seed`` and resume (rerun the same command).
"""
from __future__ import annotations

import dataclasses
import sys
import time
from argparse import Namespace
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import torch
from fairseq import options, tasks
from tqdm import tqdm

from ..checkpoint import CheckpointError, weights_fingerprint
from ..config_args import add_config_flags, parse_config_args
from ..io import file_sha256
from ..latency.interleaved import measure_interleaved
from ..latency.measure import MeasureSettings, build_for_latency, device_name, measure_latency, vocab_size_from_args
from ..latency.predictor import LatencyPredictor, load_predictor
from ..latency.probe import CalibrationProbe
from ..loading import load_supertransformer
from ..locks import check_writable_dir, exclusive_output
from ..models.transformer_super import TransformerSuperModel
from ..profiling import build_for_profiling, dummy_sentence_length, profile_flops, sampled_params_numel
from .evolution import METHODS, Constraints, CostModel, EvolutionarySearch, EvolutionSettings, SearchResult
from .fitness import ValidationLoss
from .outputs import (default_search_dir, output_yaml_path, read_state, write_history, write_state, write_summary, PLOT)
from .plot import plot_search
from .verify import MeasureMany, Verification, bias_warning, require_choice, verify
from ..search_space import ConfigError, SearchSpace, write_subtransformer_yaml
from ..training import default_save_dir

CONFIG_FLAGS = ("--configs", "--evo-configs")
SCHEDULE = tuple(f.name for f in dataclasses.fields(EvolutionSettings))


def add_evo_args(parser) -> None:
    """The original's ``evo_search.py`` flags (same defaults) and this project's."""
    group = parser.add_argument_group("evolutionary search")
    defaults = EvolutionSettings()
    group.add_argument("--evo-iter", type=int, default=defaults.evo_iter, help="generations")
    group.add_argument("--population-size", type=int, default=defaults.population_size, help="population size")
    group.add_argument("--parent-size", type=int, default=defaults.parent_size, help="parents kept per generation")
    group.add_argument("--mutation-size", type=int, default=defaults.mutation_size, help="mutants per generation")
    group.add_argument("--crossover-size", type=int, default=defaults.crossover_size, help="crossovers per generation")
    group.add_argument("--mutation-prob", type=float, default=defaults.mutation_prob, help="per-gene resample probability")
    group.add_argument("--max-tries-per-child", type=int, default=defaults.max_tries_per_child,
                       help="draws per feasible child before giving up on the constraint")
    group.add_argument("--ckpt-path", help="latency predictor file (latency_predictor.py or the original's)")
    group.add_argument("--feature-norm", type=float, nargs="+", help="feature-norm of a hat-mlp predictor")
    group.add_argument("--lat-norm", type=float, help="lat-norm of a hat-mlp predictor")
    group.add_argument("--latency-constraint", type=float, nargs="+", metavar="MS",
                       help="predicted-latency limit(s) in ms; several give one SubTransformer each")
    group.add_argument("--max-params", type=int, help="also limit #params (embeddings and output layer excluded)")
    group.add_argument("--max-flops", type=int, help="also limit FLOPs (as --profile-flops counts them)")
    group.add_argument("--write-config-path", help="SubTransformer YAML to write (@<constraint>ms added for several)")
    group.add_argument("--valid-cnt-max", type=int, default=10 ** 9,
                       help="validation batches (not sentences, as in the original) per loss evaluation")
    group.add_argument("--search-dir", help="folder for state, history, plot and summary "
                                            "(default: <save-dir>/evo_search/<write-config-path stem>)")
    group.add_argument("--search-method", choices=METHODS, default="evolution",
                       help="evolution (HAT); random: every generation's new candidates drawn at random among the "
                            "feasible SubTransformers (the paper's baseline; same evaluations per generation)")
    group.add_argument("--uniform-layers", action="store_true",
                       help="search only SubTransformers whose layers share one FFN dim and head count per stack "
                            "(the design-space ablation)")
    group.add_argument("--no-cache", action="store_true",
                       help="re-evaluate every member of every generation, as the original (for comparisons)")
    group.add_argument("--verify-on-device", type=int, metavar="K", default=None,
                       help="after the search, measure the K best candidates under each constraint on this device and "
                            f"choose the best whose measured latency meets it (default: {DEFAULT_VERIFY_K} when the "
                            "predictor was measured on this kind of device, else off)")
    group.add_argument("--no-verify-on-device", action="store_true", help="choose by predicted latency only")
    group.add_argument("--verify-rounds", type=int, default=3, help="interleaved measurement rounds of verification")
    group.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def get_parser():
    """``evo_search.py``'s parser: fairseq's training flags (model, task, data), config files, search flags."""
    parser = options.get_training_parser(default_task="translation_supertransformer")
    add_config_flags(parser, CONFIG_FLAGS)
    add_evo_args(parser)
    return parser


def parse_search_args(argv: Sequence[str]) -> Namespace:
    """``evo_search.py``'s arguments, config files applied."""
    return parse_config_args(get_parser(), argv, CONFIG_FLAGS)


def check_space(args: Namespace, model: TransformerSuperModel) -> SearchSpace:
    """The search space of ``--configs``; its SuperTransformer dims must be those of the restored checkpoint."""
    space = SearchSpace.from_args(args)
    trained = SearchSpace.from_args(model.args)
    for key, value in space.super_dims().items():
        if trained.super_dims()[key] != value:
            raise ConfigError(f"the search space does not match the SuperTransformer: {args.restore_file} has "
                              f"{key} {trained.super_dims()[key]}, {args.configs or 'the config'} says {value}")
    for key, choices in space.choice_lists().items():
        outside = sorted(set(choices) - set(trained.choice_lists()[key]))
        if outside:
            print(f"| warning: {key} {outside} was never trained in {args.restore_file} "
                  f"(trained choices {list(trained.choice_lists()[key])})", file=sys.stderr)
    for side in ("encoder", "decoder"):
        said, used = (bool(getattr(a, f"{side}_normalize_before", False)) for a in (args, model.args))
        if said != used:
            print(f"| warning: {args.restore_file} was trained with {side}-normalize-before {used}, "
                  f"{args.configs or 'the config'} says {said}; the checkpoint's LayerNorm placement is used",
                  file=sys.stderr)
    return space


def search_settings(args: Namespace, space: SearchSpace, settings: EvolutionSettings) -> dict[str, Any]:
    """Everything a search's result depends on (recorded in its state; a resume must match)."""
    # by content: a SuperTransformer trained again in another checkout (a work folder kept in git) is the same one
    supernet = {"weights_sha256": weights_fingerprint(args.restore_file)}
    predictor = {"sha256": file_sha256(args.ckpt_path)}

    variant = {**({} if args.search_method == "evolution" else {"method": args.search_method}),
               **({"uniform_layers": True} if args.uniform_layers else {})}  # (absent from older states)
    return {"schedule": dataclasses.asdict(settings), **variant, "seed": args.seed, "cache": not args.no_cache,
            "latency_constraints": args.latency_constraint, "max_params": args.max_params, "max_flops": args.max_flops,
            "search_space": {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(space).items()},
            "restore_file": supernet, "predictor": predictor,
            "valid_subset": args.valid_subset, "valid_cnt_max": args.valid_cnt_max,
            "max_tokens_valid": args.max_tokens_valid, "batch_size_valid": args.batch_size_valid,
            "required_batch_size_multiple": args.required_batch_size_multiple,
            "skip_invalid_size_inputs_valid_test": args.skip_invalid_size_inputs_valid_test}


def check_args(args: Namespace) -> None:
    if not args.latency_constraint:
        raise ConfigError("no --latency-constraint (ms) given")
    if not args.write_config_path:
        raise ConfigError("no --write-config-path given (where to write the searched SubTransformer)")
    if not args.ckpt_path:
        raise ConfigError("no --ckpt-path given (the latency predictor)")
    if not Path(args.restore_file).is_file():
        raise CheckpointError(f"SuperTransformer checkpoint not found: {args.restore_file} (--restore-file)")
    if args.valid_cnt_max < 1:
        raise ConfigError(f"--valid-cnt-max must be at least 1, got {args.valid_cnt_max}")
    if len(set(args.latency_constraint)) != len(args.latency_constraint):
        raise ConfigError(f"--latency-constraint has repeated values: {args.latency_constraint}")


def build_fitness(args: Namespace, model: TransformerSuperModel) -> ValidationLoss:
    """Validation loss on ``--valid-subset`` (first one), with the task and criterion of the config."""
    use_cuda = torch.cuda.is_available() and not args.cpu
    task = tasks.setup_task(args)
    subset = args.valid_subset.split(",")[0]
    task.load_dataset(subset, combine=False, epoch=1)  # DataError: a missing split
    return ValidationLoss.from_task(task, model, task.build_criterion(args), subset,
                                    args.max_tokens_valid or args.max_tokens, args.batch_size_valid,
                                    args.valid_cnt_max, torch.device("cuda" if use_cuda else "cpu"),
                                    half=bool(args.fp16 and use_cuda), seed=args.seed,
                                    required_batch_size_multiple=args.required_batch_size_multiple,
                                    skip_invalid_size=args.skip_invalid_size_inputs_valid_test)


def build_costs(predictor: LatencyPredictor, space: SearchSpace, model: TransformerSuperModel) -> CostModel:
    """Predicted latency and, for ``--max-params`` / ``--max-flops``, #params and FLOPs as ``--profile-flops``
    counts them."""
    counter = build_for_profiling(model.args)
    length = dummy_sentence_length(model.args.arch)

    def params(config) -> int:
        return sampled_params_numel(counter, config)

    def flops(config) -> int:
        return profile_flops(counter, config, length)["flops"]

    return CostModel(space, predictor.predict, params, flops)


@dataclasses.dataclass
class SearchSetup:
    """Everything a search needs besides its fitness, built from the command line."""

    settings: EvolutionSettings
    constraints: list[Constraints]
    model: TransformerSuperModel
    space: SearchSpace
    costs: CostModel
    predictor: LatencyPredictor


def setup(args: Namespace) -> SearchSetup:
    """Check the arguments, load the SuperTransformer and the predictor (errors before any long work)."""
    check_args(args)
    settings = EvolutionSettings(**{name: getattr(args, name) for name in SCHEDULE})
    constraints = [Constraints(c, args.max_params, args.max_flops) for c in args.latency_constraint]
    model = load_supertransformer(args.restore_file, data_dir=args.data)
    space = check_space(args, model)
    predictor = load_predictor(args.ckpt_path, args.feature_norm, args.lat_norm)
    return SearchSetup(settings, constraints, model, space, build_costs(predictor, space, model), predictor)


DEFAULT_VERIFY_K = 5


def verification_plan(args: Namespace, predictor: LatencyPredictor) -> tuple[int, Optional[MeasureSettings], str]:
    """``(K, measurement settings, why)``: how many candidates per constraint to verify on this device (0: none)
    and with which settings (the predictor's latency dataset's: same device, threads, latiter, vocabulary)."""
    recorded = predictor.measured_with or {}
    onnxruntime = recorded.get("backend", "torch") != "torch"  # an engine measured on the CPU
    device = "cuda" if torch.cuda.is_available() and not args.cpu and not onnxruntime else "cpu"
    if args.no_verify_on_device or args.verify_on_device == 0:
        return 0, None, "turned off"
    if not recorded:
        if args.verify_on_device:
            raise ConfigError(f"--verify-on-device needs a predictor that records how its dataset was measured; "
                              f"{args.ckpt_path} does not (train it with latency_predictor.py on a dataset of "
                              "latency_dataset.py)")
        return 0, None, f"off: {args.ckpt_path} records no measurement settings (an original HAT predictor?)"
    here = device_name(device)
    if args.verify_on_device is None and (recorded.get("device"), recorded.get("device_name")) != (device, here):
        return 0, None, (f"off: the predictor was measured on {recorded.get('device')} ({recorded.get('device_name')}), "
                         f"this search runs on {device} ({here}); --verify-on-device K measures here anyway")
    if args.verify_rounds < 1:
        raise ConfigError(f"--verify-rounds must be at least 1, got {args.verify_rounds}")
    settings = MeasureSettings(device=device, latiter=recorded.get("latiter", 20),
                               beam=recorded.get("beam", 5), length=recorded.get("dummy_sentence_length", 30),
                               threads=recorded.get("threads"), original_mode=recorded.get("original_mode", False),
                               backend=recorded.get("backend", "torch"))
    return args.verify_on_device or DEFAULT_VERIFY_K, settings, "on"


def device_measurement(model: TransformerSuperModel, settings: MeasureSettings, vocab_size: int, rounds: int,
                       log) -> MeasureMany:
    """Measures SubTransformers of ``model``'s SuperTransformer on this device: interleaved rounds under the
    calibration probe (CPU), the median per SubTransformer."""
    timed = build_for_latency(model.args, vocab_size)
    probe = CalibrationProbe.for_threads(settings.threads) if settings.device == "cpu" else None

    def measure_many(configs):
        summaries = measure_interleaved(
            {f"candidate {i + 1}": (lambda c=c: measure_latency(timed, c, settings).latency_ms)
             for i, c in enumerate(configs)}, rounds, probe, log)
        return list(summaries.values())

    return measure_many



def search_dir_of(args: Namespace) -> Path:
    """``--search-dir``, else ``<save-dir>/evo_search/<write-config-path stem>`` (the save dir defaulting to the
    original's ``checkpoints/<--configs path>``)."""
    if args.search_dir:
        return Path(args.search_dir)
    save_dir = default_save_dir(args.configs) if args.save_dir == "checkpoints" and args.configs else args.save_dir
    return default_search_dir(save_dir, args.write_config_path)


SOURCE_GAIN_WARNING_BITS = 0.05


def check_source_use(fitness: ValidationLoss, results: Sequence[SearchResult], log) -> list[float]:
    """Per result, how much worse (bits) its loss gets when every sentence is given another sentence's source;
    a warning when that is nearly nothing (a SuperTransformer that ignores its source)."""
    shuffled = fitness.with_shuffled_sources()
    gains = [shuffled(r.config) - r.loss for r in results]
    for result, gain in zip(results, gains):
        if gain < SOURCE_GAIN_WARNING_BITS:
            log(f"| warning: {result.constraints.name}: the loss rises only {gain:.4f} bits when the sentences get "
                "other sentences' sources: the SuperTransformer barely uses its source, so the search ranked "
                "SubTransformers as language models. Train it longer, or with a lower learning rate / longer warmup")
    return gains


def run_search(args: Namespace, log) -> dict[str, Any]:
    """The whole search; returns the summary (also written to the search folder, which is locked against a
    second search for the whole run). Every output is checked writable before any long work."""
    prepared = setup(args)
    search_dir = search_dir_of(args)
    check_writable_dir(Path(args.write_config_path).parent, "the folder of --write-config-path")
    with exclusive_output(search_dir, "search folder", is_dir=True):
        return _run_search(args, prepared, search_dir, log)


def _run_search(args: Namespace, prepared: SearchSetup, search_dir: Path, log) -> dict[str, Any]:
    settings, all_constraints, space, costs = prepared.settings, prepared.constraints, prepared.space, prepared.costs
    recorded = search_settings(args, space, settings)
    saved = read_state(search_dir, recorded)
    earlier_s = saved.get("elapsed_s", 0.0) if saved is not None else 0.0  # the sittings this one resumes

    started = time.perf_counter()
    fitness = build_fitness(args, prepared.model)
    log(f"| fitness: validation loss on {len(fitness.batches)} batches ({fitness.sentences} sentences) of "
        f"'{args.valid_subset.split(',')[0]}'; search folder {search_dir}")
    search = EvolutionarySearch(space, settings, fitness, costs, seed=args.seed, cache=not args.no_cache,
                                method=args.search_method, uniform_layers=args.uniform_layers)
    if saved is not None:
        search.load_state(saved)
        log(f"| resuming the search in {search_dir}: {search.evaluations} evaluations done")

    several = len(all_constraints) > 1
    searched: list[SearchResult] = []
    for constraints in all_constraints:
        bar = tqdm(total=settings.evo_iter, initial=search.generations_done(constraints), unit="gen",
                   desc=f"search {constraints.name}", file=sys.stderr, disable=None)

        def on_generation(generation: int, best: SearchResult) -> None:
            write_state(search_dir, recorded, {**search.state(), "elapsed_s": earlier_s + time.perf_counter() - started},
                        search.history, space)
            bar.update(1)
            bar.write(f"| {constraints.name} | generation {generation + 1}/{settings.evo_iter} | best loss "
                      f"{best.loss:.4f} | predicted {best.latency_ms:.2f} ms | evaluations {search.evaluations}",
                      file=sys.stderr)

        searched.append(search.run(constraints, on_generation))
        bar.close()

    verifications = verify_results(args, prepared, search, searched, log)
    results: list[tuple[SearchResult, Path]] = []
    for result, verification in zip(searched, verifications):
        if verification is not None:
            chosen = verification.chosen
            result = dataclasses.replace(result, gene=chosen.gene, config=chosen.config, loss=chosen.loss,
                                         latency_ms=chosen.predicted_latency_ms, params=None, flops=None)
        path = output_yaml_path(args.write_config_path, result.constraints, several)
        write_subtransformer_yaml(result.config, path)
        results.append((result, path))
        measured = "" if verification is None else f", measured {verification.chosen.measured_latency_ms:.2f} ms"
        log(f"| {result.constraints.name}: loss {result.loss:.4f}, predicted latency {result.latency_ms:.2f} ms"
            f"{measured} -> {path}")
    verified_rows = [{"verified": True, "constraint": v.constraints.name, **c.to_json()}
                     for v in verifications if v is not None for c in v.candidates]
    write_history(search_dir, search.history, space, verified_rows)
    source_gains = check_source_use(fitness, [r for r, _ in results], log)
    plot_search(search.history, [r for r, _ in results], search_dir / PLOT,
                title=f"HAT evolutionary search ({Path(args.restore_file).name})",
                verified=[v for v in verifications if v is not None])
    this_sitting_s = time.perf_counter() - started
    summary = {
        "results": [{"latency_constraint_ms": r.constraints.latency_ms, "max_params": r.constraints.max_params,
                     "max_flops": r.constraints.max_flops, "config_path": str(path), "loss": r.loss,
                     "predicted_latency_ms": r.latency_ms, "params": costs.params(r.config),
                     "flops": costs.flops(r.config), "gene": r.gene, "config": r.config,
                     "best_loss_per_generation": r.best_per_generation, "source_gain_bits": gain,
                     **verification_summary(v)}
                    for (r, path), gain, v in zip(results, source_gains, verifications)],
        "evaluations": search.evaluations,
        "evaluations_original_schedule": settings.original_evaluations * len(all_constraints),
        "wall_s": this_sitting_s, "search_s": earlier_s + this_sitting_s,
        "search_dir": str(search_dir), "plot": str(search_dir / PLOT), "seed": args.seed, "cache": not args.no_cache,
        "method": args.search_method, "uniform_layers": args.uniform_layers,
    }
    write_summary(search_dir, summary)
    return summary


def verify_results(args: Namespace, prepared: SearchSetup, search: EvolutionarySearch,
                   searched: list[SearchResult], log) -> list[Optional[Verification]]:
    """Verify every constraint's answer on this device (:mod:`hat.search.verify`), or ``None`` each when
    verification is off; one clear error when a constraint has no candidate that meets it when measured."""
    k, settings, why = verification_plan(args, prepared.predictor)
    if not k:
        log(f"| on-device verification {why}")
        return [None] * len(searched)
    recorded_vocab = prepared.predictor.measured_with.get("vocab_size")
    vocab_size = vocab_size_from_args(args, recorded_vocab)
    log(f"| verifying the {k} best candidates under each constraint on this device ({settings.device}, "
        f"{settings.threads} thread(s), latiter {settings.latiter}, {args.verify_rounds} interleaved rounds, "
        f"vocabulary {vocab_size})")
    measure_many = device_measurement(prepared.model, settings, vocab_size, args.verify_rounds, log)
    verifications = [verify(search.history, prepared.space, result.constraints, k, measure_many) for result in searched]
    for verification in verifications:
        warning = bias_warning(verification)
        if warning:
            log(warning)
    for verification in verifications:
        require_choice(verification)
    return verifications


def verification_summary(verification: Optional[Verification]) -> dict[str, Any]:
    """The summary entries of a verified constraint: what the search chose by, and every measured candidate."""
    if verification is None:
        return {"verified": False}
    return {"verified": True, "verified_latency_ms": verification.chosen.measured_latency_ms,
            "predictor_bias": verification.bias,
            "verified_candidates": [c.to_json() for c in verification.candidates]}
