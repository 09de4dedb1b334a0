"""``latency_predictor.py``: train a latency predictor on a latency CSV, report test RMSE / MAPE, save it.

Reads the original's latency-predictor YAML (``--configs``, ``configs/<task>/latency_predictor/<hardware>.yml``);
command-line flags override it. ``--lat-norm`` left unset means the original's value for a released CSV,
else the mean training latency rounded to one significant digit. The work is
:func:`hat.latency.fitting.run_predictor_training`.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Optional

from . import stderr_log
from ..latency.fitting import parse_predictor_args, run_predictor_training


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_predictor_args(sys.argv[1:] if argv is None else argv)
    result = run_predictor_training(args, stderr_log if args.json else print)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"| test RMSE {result['test_rmse']:.3f} ms | test MAPE {result['test_mape']:.2f}% "
              f"({result['test_rows']} rows)")
        print(f"| saved {args.model} predictor to {args.ckpt_path}")
    return 0


def cli() -> None:
    """The ``hat-latency-predictor`` console command."""
    from . import run_cli

    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
