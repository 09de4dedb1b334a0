"""``train.py``: train a SuperTransformer or SubTransformer, or profile / measure a SubTransformer."""
import json
import sys
from typing import Optional, Sequence

from fairseq import options

from ..config_args import add_config_flags, parse_config_args
from ..latency.measure import (add_latency_args, build_for_latency, describe, measure_latency, settings_from_args,
                               vocab_size_from_args)
from ..profiling import build_for_profiling, dummy_sentence_length, profile_flops, sampled_params_numel
from ..search_space import check_fits, config_from_args
from ..training import run_training

CONFIG_FLAGS = ("--configs", "--sub-configs")


def add_train_args(parser) -> None:
    add_config_flags(parser, CONFIG_FLAGS)
    group = parser.add_argument_group("HAT")
    group.add_argument("--profile-flops", action="store_true", help="print #params and FLOPs of the SubTransformer, then exit")
    group.add_argument("--json", action="store_true", help="print the result as one JSON object")
    add_latency_args(parser)


def get_parser():
    parser = options.get_training_parser(default_task="translation_supertransformer")
    add_train_args(parser)
    return parser


def profile(args) -> dict:
    """#Params and FLOPs of the SubTransformer given by the ``*-subtransformer`` arguments."""
    config = check_fits(config_from_args(args), args)
    model = build_for_profiling(args)
    length = dummy_sentence_length(args.arch, args.dummy_sentence_length)
    result = {"config": config, "params": sampled_params_numel(model, config), "dummy_sentence_length": length}
    result.update(profile_flops(model, config, length))
    return result


def print_profile(result: dict) -> None:
    print(f"| SubTransformer Arch: {result['config']}")
    print(f"| SubTransformer #params (embeddings and output layer excluded): {result['params']} "
          f"({result['params'] / 1e6:.1f}M)")
    print(f"| Total FLOPs (dummy vocabulary): {result['total_flops']}")
    print(f"| Last layer FLOPs (dummy vocabulary): {result['last_layer_flops']}")
    print(f"| FLOPs without embeddings and last layer (published): {result['flops']} ({result['flops'] / 1e9:.2f}G)")


def latency(args) -> dict:
    """Latency of the SubTransformer given by the ``*-subtransformer`` arguments (``--latcpu``/``--latgpu``).

    Per-sample values are printed unless ``--latsilent`` (and never with ``--json``)."""
    config = check_fits(config_from_args(args), args)
    settings = settings_from_args(args)
    vocab_size = vocab_size_from_args(args)
    info = describe(settings, vocab_size)
    print(f"| Measuring latency on {info['device']} ({info['device_name']}, {info['threads']} CPU thread(s)) ...",
          file=sys.stderr if args.json else sys.stdout)

    def on_sample(side: str, ms: float) -> None:
        print(f"| {side.capitalize()} one run on {settings.device}: {ms} ms")

    verbose = not (args.latsilent or args.json)
    result = measure_latency(build_for_latency(args, vocab_size), config, settings, on_sample if verbose else None)
    return {"config": config, **result.summary(), **info}


def print_latency(result: dict) -> None:
    print(f"| SubTransformer Arch: {result['config']}")
    for side in ("encoder", "decoder"):
        print(f"| {side.capitalize()} latency: Mean: {result[side + '_ms']} ms; \t Std: {result[side + '_std_ms']} ms")
    print(f"| Overall Latency: {result['latency_ms']} ms")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_config_args(get_parser(), sys.argv[1:] if argv is None else argv, CONFIG_FLAGS)
    measuring = args.latcpu or args.latgpu
    if args.profile_flops and measuring:
        raise ValueError("choose one of --profile-flops and --latcpu/--latgpu")
    if args.profile_flops or measuring:
        result = profile(args) if args.profile_flops else latency(args)
        if args.json:
            print(json.dumps(result))
        else:
            (print_profile if args.profile_flops else print_latency)(result)
        return 0
    return run_training(args)
