#!/usr/bin/env python
"""Train a latency predictor on a latency dataset and save it (see README)."""
import sys

from hat.cli import run_cli
from hat.cli.latency_predictor import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
