"""``latency_dataset.py``: measure sampled SubTransformers into a latency CSV (as the original's).

Resumable (``--seed``, a sidecar ``<csv>.json`` of the settings) and with ``--validate K`` to check a
predictor on this machine; the work is :mod:`hat.latency.collection`.
"""
import json
import sys
from typing import Optional, Sequence

from . import stderr_log
from ..latency.collection import parse_latency_dataset_args, run_latency_dataset, run_predictor_validation


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_latency_dataset_args(sys.argv[1:] if argv is None else argv)
    if args.validate is not None:
        result = run_predictor_validation(args, stderr_log)
        print(json.dumps(result) if args.json else
              f"| {result['configs']} fresh SubTransformers: RMSE {result['rmse_ms']:.2f} ms, MAPE {result['mape']:.2f}%, "
              f"mean error {result['bias_percent']:+.2f}% (predicted vs measured)")
        return 0
    result = run_latency_dataset(args, stderr_log)
    if not result["measured_now"]:
        print(f"| {result['csv']} already has {result['rows']} rows (--lat-dataset-size {args.lat_dataset_size})")
    return 0


def cli() -> None:
    """The ``hat-latency-dataset`` console command."""
    from . import run_cli

    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
