#!/usr/bin/env python
"""Measure the latency of sampled SubTransformers into a latency dataset CSV (see latency_dataset/README.md)."""
import sys

from hat.cli import run_cli
from hat.cli.latency_dataset import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
