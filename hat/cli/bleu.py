"""``configs/<task>/test.sh``: BLEU of a SubTransformer on a test set, as the original's ``test.sh``.

``test.sh <checkpoint> <sub.yml> [normal|sacre] [gpu] [subset]`` generates with the task's beam and
length penalty (``--remove-bpe``, batch 128) into ``<checkpoint dir>/exp/<sub.yml name>_<subset>_gen.out``
and scores it: ``normal`` = tokenized BLEU with compound splitting, ``sacre`` = SacreBLEU of the
detokenized text (both in Python: no perl, no hidden pipeline failures). Works on a CPU. The work is
:func:`hat.evaluation.testing.test_bleu`.
"""
import argparse
import json
import os
import sys
from typing import Optional, Sequence

from ..evaluation.testing import BLEU_MODES, test_bleu


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("checkpoint", help="SubTransformer or SuperTransformer checkpoint, or a folder of ONNX graphs "
                                           "(scripts/export_subtransformer.py --format onnx), run on ONNX Runtime")
    parser.add_argument("configs", help="SubTransformer YAML")
    parser.add_argument("mode", nargs="?", default="normal", choices=BLEU_MODES, help="BLEU kind (normal)")
    parser.add_argument("gpu", nargs="?", default="0", help="CUDA device id (ignored without CUDA)")
    parser.add_argument("subset", nargs="?", default="test", help="data split (test)")
    parser.add_argument("--data", required=True, help="binarised data folder")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--lenpen", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--int8", action="store_true", help="an ONNX folder: score its int8 graphs")
    parser.add_argument("--json", action="store_true", help="print the score as one JSON object")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", args.gpu)
    result = test_bleu(args.checkpoint, args.configs, args.data, args.mode, args.subset, args.beam, args.lenpen,
                       args.batch_size, args.int8)
    print(json.dumps(result) if args.json else
          f"| {result['mode']} BLEU on {result['subset']} ({result['sentences']} sentences): {result['text']}\n"
          f"| output: {result['output']}")
    return 0


def cli() -> None:
    """The ``hat-bleu`` console command."""
    from . import run_cli

    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
