"""``evo_search.py``: latency-constrained evolutionary search over a trained SuperTransformer.

``python evo_search.py --configs=<supertransformer yml> --evo-configs=<evo yml> [flags]`` as the
original; the search itself is :mod:`hat.search.runner`.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Optional

from . import stderr_log
from ..search.runner import parse_search_args, run_search


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_search_args(sys.argv[1:] if argv is None else argv)
    summary = run_search(args, stderr_log if args.json else print)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"| loss evaluations: {summary['evaluations']} (the original schedule: "
              f"{summary['evaluations_original_schedule']}); wall time {summary['wall_s']:.1f} s")
        print(f"| history, plot and summary in {summary['search_dir']}")
    return 0


def cli() -> None:
    """The ``hat-evo-search`` console command."""
    from . import run_cli

    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
