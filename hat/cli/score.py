"""``score.py``: BLEU of a system output against references, as the original's (fairseq's) ``score.py``.

Tokenized BLEU with fairseq's scorer by default, ``--sacrebleu`` for sacrebleu's corpus BLEU,
``--sentence-bleu`` for one smoothed score per line. Unlike fairseq's, files whose line counts differ
are an error (not silently truncated).
"""
import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from ..errors import DataError
from ..evaluation.bleu import sacre_bleu, sentence_bleu_lines, tokenized_bleu


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-s", "--sys", default="-", help="system output (default: standard input)")
    parser.add_argument("-r", "--ref", required=True, help="references")
    parser.add_argument("-o", "--order", default=4, metavar="N", type=int, help="consider ngrams up to this order")
    parser.add_argument("--ignore-case", action="store_true", help="case-insensitive scoring")
    parser.add_argument("--sacrebleu", action="store_true", help="score with sacrebleu")
    parser.add_argument("--sentence-bleu", action="store_true", help="report sentence-level BLEUs (+1 smoothing)")
    parser.add_argument("--json", action="store_true", help="print the corpus score as one JSON object")
    return parser


def read_lines(path: str) -> list:
    if path == "-":
        return sys.stdin.read().splitlines()
    if not Path(path).is_file():
        raise DataError(f"file not found: {path}")
    return Path(path).read_text(encoding="utf-8").splitlines()


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(sys.argv[1:] if argv is None else argv)
    references, hypotheses = read_lines(args.ref), read_lines(args.sys)
    if args.sentence_bleu:
        print("\n".join(sentence_bleu_lines(hypotheses, references, args.order, args.ignore_case)))
        return 0
    if args.sacrebleu:
        if args.ignore_case:
            hypotheses, references = [h.lower() for h in hypotheses], [r.lower() for r in references]
        result = sacre_bleu(hypotheses, references)
    else:
        result = tokenized_bleu(hypotheses, references, args.order, args.ignore_case)
    print(json.dumps(result.to_json()) if args.json else result.text)
    return 0


def cli() -> None:
    """The ``hat-score`` console command."""
    from . import run_cli

    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
