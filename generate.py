#!/usr/bin/env python
"""Translate with a SubTransformer (fairseq's generate; --configs=<sub.yml> selects the SubTransformer)."""
import sys

from hat.cli import run_cli
from hat.cli.generate import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
