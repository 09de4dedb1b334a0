"""``hat-results``: write again every results page of ``docs/results/`` from the stored outputs of the runs that
made them (nothing is computed: every stage must have finished).

Each work folder remembers the experiments run in it (``<workdir>/settings/``); their pages are written with
the same settings and the same stored stage results, so a page changes only when the code that writes it does.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from ..errors import ConfigError
from ..experiments.multi30k import regenerate
from ..experiments.results_index import RECORDED_BEGIN, RECORDED_END, write_recorded_block


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Regenerate the results pages (docs/results/) of the experiments run in the given work folders "
                    "from their stored stages.", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--workdir", nargs="+", required=True,
                        help="work folders of hat-reproduce-multi30k runs (their --workdir)")
    parser.add_argument("--results-dir", default="docs/results", help="where the pages are written")
    parser.add_argument("--readme", help="also rewrite this README's recorded-results block (between the markers "
                                         "of hat.experiments.results_index) from the pages")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(argv)
    unfinished = 0
    for workdir in args.workdir:
        if not (Path(workdir) / "stages").is_dir():
            raise ConfigError(f"{workdir} is not the work folder of an experiment (no stages/ in it)")
        outcome = regenerate(workdir, args.results_dir)
        if not outcome:
            raise ConfigError(f"{workdir} has no stored experiment settings (runs before hat-results existed: rerun "
                              "the experiment's command once; its finished stages are not computed again)")
        for experiment, result in outcome.items():
            print(f"| {experiment} ({workdir}): {result}")
            unfinished += result != "written"
    if args.readme:
        if not write_recorded_block(args.readme, args.results_dir):
            raise ConfigError(f"{args.readme} has no recorded-results block (the lines {RECORDED_BEGIN!r} and "
                              f"{RECORDED_END!r})")
        print(f"| {args.readme}: recorded results written")
    return 1 if unfinished else 0


def cli() -> None:
    """The ``hat-results`` console command."""
    from . import run_cli

    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
