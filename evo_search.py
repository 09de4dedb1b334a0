#!/usr/bin/env python
"""Latency-constrained evolutionary search for a SubTransformer (see README, step 2.3)."""
import sys

from hat.cli import run_cli
from hat.cli.evo_search import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
