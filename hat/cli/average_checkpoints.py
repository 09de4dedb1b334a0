"""``average_checkpoints.py``: average checkpoints, as fairseq's ``scripts/average_checkpoints.py``."""
import argparse
import sys
from typing import Optional, Sequence

from ..checkpoint import CheckpointError, save_atomic
from ..evaluation.averaging import average_checkpoints, last_checkpoints


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--inputs", required=True, nargs="+",
                        help="checkpoint files, or one folder with --num-epoch-checkpoints / --num-update-checkpoints")
    parser.add_argument("--output", required=True, metavar="FILE", help="the averaged checkpoint to write")
    count = parser.add_mutually_exclusive_group()
    count.add_argument("--num-epoch-checkpoints", type=int, help="average the last N checkpoint<epoch>.pt of the folder")
    count.add_argument("--num-update-checkpoints", type=int,
                       help="average the last N checkpoint_<epoch>_<update>.pt of the folder")
    parser.add_argument("--checkpoint-upper-bound", type=int, help="ignore checkpoints numbered above this")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(sys.argv[1:] if argv is None else argv)
    count = args.num_epoch_checkpoints or args.num_update_checkpoints
    if count is not None:
        if len(args.inputs) != 1:
            raise CheckpointError("with --num-*-checkpoints, --inputs is one checkpoint folder")
        paths = last_checkpoints(args.inputs[0], count, by_update=args.num_update_checkpoints is not None,
                                 upper_bound=args.checkpoint_upper_bound)
    else:
        paths = args.inputs
    print(f"| averaging {len(paths)} checkpoints: {', '.join(str(p) for p in paths)}")
    save_atomic(average_checkpoints(paths), args.output)
    print(f"| wrote {args.output}")
    return 0


def cli() -> None:
    """The ``hat-average-checkpoints`` console command."""
    from . import run_cli

    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
