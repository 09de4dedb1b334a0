"""Multi30k (task 1) preparation: Moses tokenisation (sacremoses), joint BPE (subword-nmt), binarisation.

``python -m hat.cli.prepare_multi30k --raw-dir DIR --src en --tgt de --out data/multi30k_en_de`` (what
``scripts/prepare_multi30k.sh`` runs) reads ``train.<lang>.gz``, ``val.<lang>.gz``,
``test_2016_flickr.<lang>.gz`` from ``DIR``; without ``--raw-dir`` the files are downloaded first. Writes
``<out>/text`` (tokenised + BPE) and ``<out>/bin`` (fairseq binary, joined dictionary); the work is
:func:`hat.data.multi30k.prepare`.
"""
import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from ..data.multi30k import prepare
from . import run_cli


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", type=Path, help="folder with train/val/test_2016_flickr .<lang>.gz (else download)")
    parser.add_argument("--src", default="en")
    parser.add_argument("--tgt", default="de")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--bpe-merges", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    path = prepare(args.raw_dir, args.out, args.src, args.tgt, args.bpe_merges, args.workers)
    print(f"binarised data: {path}")
    return 0


def cli() -> None:
    """The ``hat-prepare-multi30k`` console command."""
    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
