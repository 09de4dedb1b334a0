#!/usr/bin/env bash
# HAT vs baseline Transformers on Multi30k En-De with latency measured on this CPU (about two hours on
# 2 cores); results in docs/results/multi30k_en_de.{md,json,png}. Stages are cached in --workdir.
# Run it from the checkout's root: the configs and docs/results default to paths relative to the current
# directory. Multi30k is downloaded unless --raw-dir names its raw files (e.g. ../shared/data/multi30k).
# usage: bash scripts/reproduce_multi30k.sh [--workdir DIR] [--raw-dir DIR] [...]   (hat-reproduce-multi30k --help)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python}" -m hat.cli.reproduce_multi30k "$@"
