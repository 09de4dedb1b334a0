#!/usr/bin/env python
"""BLEU of a SubTransformer on a test set (called by configs/<task>/test.sh)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hat.cli import run_cli  # noqa: E402
from hat.cli.bleu import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_cli(main))
