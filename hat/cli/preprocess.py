"""``bash configs/<task>/preprocess.sh [WORKERS]``: download, tokenise, BPE and binarise a paper task's corpus
as the original's ``preprocess.sh`` does (the work is :func:`hat.data.preprocess.prepare`).

    python -m hat.cli.preprocess iwslt14.de-en [--workers 8] [--data-dir data] [--mirror URL]
    python -m hat.cli.preprocess wmt14.en-de [--archive wmt16_en_de.tar.gz]

Downloads go to ``data/text/<name>/orig`` (resumed when interrupted, verified, then renamed; files already
there are used as they are); text to ``data/text/<name>``; the binarised corpus to ``data/binary/<name>``,
which appears only when complete. A rerun after an interruption continues with the first unfinished step.
Offline, or when a server answers an error, it stops with one message naming the file and exit code 2;
``--mirror`` (or ``HAT_DATA_MIRROR``) replaces the scheme and host of every link.
"""
import argparse
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

from ..data.preprocess import MIRROR_ENV, prepare
from ..data.recipes import RECIPES
from . import run_cli


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("task", choices=sorted(RECIPES))
    parser.add_argument("positional", nargs="*", metavar="[ARCHIVE] [WORKERS]",
                        help="as the original's preprocess.sh: a worker count; for wmt14.en-de first the tarball")
    parser.add_argument("--workers", type=int, help="processes for tokenisation, BPE and binarisation (default 1)")
    parser.add_argument("--archive", type=Path, help="wmt14.en-de: Google's wmt16_en_de.tar.gz, already downloaded")
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    parser.add_argument("--mirror", default=os.environ.get(MIRROR_ENV),
                        help=f"replace the scheme and host of every link (default: ${MIRROR_ENV})")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = get_parser()
    args = parser.parse_args(argv)
    workers, archive = args.workers, args.archive
    for value in args.positional:
        if value.isdigit():
            workers = workers or int(value)
        else:
            archive = archive or Path(value)
    binary = prepare(RECIPES[args.task], args.data_dir, max(1, workers or 1), args.mirror, archive)
    print(f"{binary} is ready")
    return 0


def cli() -> None:
    """The ``hat-preprocess`` console command."""
    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
