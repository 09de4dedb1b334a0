"""``train.py``: train a SuperTransformer or SubTransformer, or profile / measure a SubTransformer."""
import json
import sys
from typing import Optional, Sequence

from ..errors import ConfigError
from ..latency.measure import (describe, measure_subtransformer, subtransformer_settings, vocab_note,
                              vocab_size_from_args)
from ..profiling import profile_subtransformer
from ..training import parse_train_args, run_training


def print_profile(result: dict) -> None:
    print(f"| SubTransformer Arch: {result['config']}")
    print(f"| SubTransformer #params (embeddings and output layer excluded): {result['params']} "
          f"({result['params'] / 1e6:.1f}M)")
    print(f"| Total FLOPs (dummy vocabulary): {result['total_flops']}")
    print(f"| Last layer FLOPs (dummy vocabulary): {result['last_layer_flops']}")
    print(f"| FLOPs without embeddings and last layer (published): {result['flops']} ({result['flops'] / 1e9:.2f}G)")


def latency(args) -> dict:
    """Latency of the SubTransformer of ``args``; per-sample values are printed unless ``--latsilent`` / ``--json``."""
    settings = subtransformer_settings(args)
    info = describe(settings, vocab_size_from_args(args))
    out = sys.stderr if args.json else sys.stdout
    note = vocab_note(args)
    print(f"| Measuring latency on {info['device']} ({info['device_name']}, {info['threads']} CPU thread(s)), "
          f"{args.lat_rounds} round(s) ..." + (f"\n{note}" if note else ""), file=out)

    def on_sample(side: str, ms: float) -> None:
        print(f"| {side.capitalize()} one run on {settings.device}: {ms} ms")

    return measure_subtransformer(args, None if args.latsilent or args.json else on_sample,
                                  lambda line: print(line, file=out))


def print_latency(result: dict) -> None:
    print(f"| SubTransformer Arch: {result['config']}")
    for side in ("encoder", "decoder"):
        print(f"| {side.capitalize()} latency: Mean: {result[side + '_ms']} ms; \t Std: {result[side + '_std_ms']} ms")
    print(f"| Overall Latency: {result['latency_ms']} ms (median of {result['rounds']} rounds, "
          f"{result['latency_min_ms']:.2f}-{result['latency_max_ms']:.2f} ms; {result['flagged_rounds']} flagged busy)")


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_train_args(sys.argv[1:] if argv is None else argv)
    measuring = args.latcpu or args.latgpu
    if args.profile_flops and measuring:
        raise ConfigError("choose one of --profile-flops and --latcpu/--latgpu")
    if args.profile_flops or measuring:
        result = profile_subtransformer(args) if args.profile_flops else latency(args)
        if args.json:
            print(json.dumps(result))
        else:
            (print_profile if args.profile_flops else print_latency)(result)
        return 0
    return run_training(args)


def cli() -> None:
    """The ``hat-train`` console command."""
    from . import run_cli

    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
