#!/usr/bin/env python
"""Download the released HAT models, latency predictors and latency datasets (--list shows them)."""
import sys

from hat.cli import run_cli
from hat.cli.download_model import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
