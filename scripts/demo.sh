#!/usr/bin/env bash
# The whole HAT pipeline on this machine: synthetic corpus -> SuperTransformer -> latency dataset ->
# latency predictor -> evolutionary search -> SubTransformer training -> BLEU, latency, #params, FLOPs.
# The same as `hat-demo` (the installed command); runs from any directory.
# usage: bash scripts/demo.sh [--workdir DIR] [--data BINARISED_CORPUS] [...]   (hat-demo --help)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python}" -m hat.cli.demo "$@"
