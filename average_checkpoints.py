#!/usr/bin/env python
"""Average checkpoints (fairseq's average_checkpoints.py; IWSLT's paper numbers average the last 10)."""
import sys

from hat.cli import run_cli
from hat.cli.average_checkpoints import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
