#!/usr/bin/env python
"""Write a SubTransformer alone (weights physically sliced) as a checkpoint generate.py / fairseq-generate load."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hat.cli import run_cli  # noqa: E402
from hat.cli.export_subtransformer import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(run_cli(main))
