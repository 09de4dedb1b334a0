"""``scripts/export_subtransformer.py``: write a SubTransformer alone (weights physically sliced) as a checkpoint
or as ONNX graphs for ONNX Runtime."""
import argparse
import json
import sys
from typing import Optional, Sequence

from ..export.subtransformer_checkpoint import FORMATS, export_subtransformer


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--restore-file", required=True, help="SuperTransformer (or SubTransformer) checkpoint")
    parser.add_argument("--configs", required=True, help="SubTransformer YAML")
    parser.add_argument("--out", required=True, help="checkpoint to write (--format onnx: folder to write)")
    parser.add_argument("--format", choices=FORMATS, default="checkpoint",
                        help="a fairseq checkpoint (default), or ONNX graphs with incremental decoding (an encoder "
                             "and a decoder step) for ONNX Runtime: generate.py --onnx <folder> translates with them")
    parser.add_argument("--int8", action="store_true",
                        help="--format onnx: also write int8 graphs (ONNX Runtime dynamic quantization)")
    parser.add_argument("--data", help="folder with the dict.<lang>.txt files (default: the checkpoint's data path)")
    parser.add_argument("--allow-off-space", action="store_true",
                        help="export a SubTransformer outside the search space the SuperTransformer was trained with "
                             "(its *-choice lists); it is then only checked to fit the SuperTransformer's dimensions")
    parser.add_argument("--json", action="store_true", help="print the sizes as one JSON object")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(sys.argv[1:] if argv is None else argv)
    result = export_subtransformer(args.restore_file, args.configs, args.out, args.data, args.allow_off_space,
                                   args.format, args.int8)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"| {result['restore_file']}: {result['restore_file_bytes'] / 2 ** 20:.1f} MiB, "
              f"{result['supertransformer_params']} parameters")
        print(f"| {result['out']}: {result['out_bytes'] / 2 ** 20:.1f} MiB, {result['subtransformer_params']} parameters "
              f"({result['out_bytes'] / result['restore_file_bytes']:.3f} of the file, "
              f"{result['subtransformer_params'] / result['supertransformer_params']:.3f} of the parameters)")
    return 0


def cli() -> None:
    """The ``hat-export-subtransformer`` console command."""
    from . import run_cli

    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
