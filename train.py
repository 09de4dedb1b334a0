#!/usr/bin/env python
"""Train a SuperTransformer or SubTransformer, or profile a SubTransformer (see README)."""
import sys

from hat.cli import run_cli
from hat.cli.train import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
