#!/usr/bin/env python
"""BLEU of a system output against references (fairseq's score.py, as the original)."""
import sys

from hat.cli import run_cli
from hat.cli.score import main

if __name__ == "__main__":
    sys.exit(run_cli(main))
