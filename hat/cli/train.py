"""``train.py``: SuperTransformer / SubTransformer entry point (profiling in this version)."""
import json
import sys
from typing import Optional, Sequence

from fairseq import options

from ..config_args import add_config_flags, parse_config_args
from ..profiling import build_for_profiling, dummy_sentence_length, profile_flops, sampled_params_numel
from ..search_space import check_fits, config_from_args

CONFIG_FLAGS = ("--configs", "--sub-configs")


def add_train_args(parser) -> None:
    add_config_flags(parser, CONFIG_FLAGS)
    group = parser.add_argument_group("HAT")
    group.add_argument("--train-subtransformer", action="store_true", help="train the SubTransformer of --configs")
    group.add_argument("--profile-flops", action="store_true", help="print #params and FLOPs of the SubTransformer, then exit")
    group.add_argument("--dummy-sentence-length", type=int, default=None,
                       help="dummy sentence length for FLOPs/latency (default: 23 for iwslt arches, else 30)")
    group.add_argument("--json", action="store_true", help="print the result as one JSON object")


def get_parser():
    parser = options.get_training_parser()
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


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_config_args(get_parser(), sys.argv[1:] if argv is None else argv, CONFIG_FLAGS)
    if args.profile_flops:
        result = profile(args)
        if args.json:
            print(json.dumps(result))
        else:
            print_profile(result)
        return 0
    raise ValueError("training is not available in this version of hat; use --profile-flops")
