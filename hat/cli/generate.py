"""``generate.py``: translate with a SubTransformer, as the original's ``generate.py`` (fairseq's generate).

``--configs=<sub.yml>`` selects the SubTransformer: of a SubTransformer checkpoint, or of a
SuperTransformer checkpoint (inherited weights, the original's "evaluate an inherited
SubTransformer"); without it a SubTransformer checkpoint uses its own config. Everything else is
fairseq's ``generate`` (beam search, ``--remove-bpe``, ``--results-path`` ...). On a machine without
CUDA, ``--fp16`` is dropped with a warning and ``--cpu`` is implied. ``--allow-off-space`` runs a
SubTransformer outside the search space a SuperTransformer checkpoint was trained with (its ``*-choice``
lists). The work is :mod:`hat.evaluation.generation`.
"""
import sys
from typing import Optional, Sequence

from ..evaluation.generation import generate, parse_args


def main(argv: Optional[Sequence[str]] = None) -> int:
    generate(parse_args(sys.argv[1:] if argv is None else argv))
    return 0


def cli() -> None:
    """The ``hat-generate`` console command."""
    from . import run_cli

    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
