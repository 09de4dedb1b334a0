#!/usr/bin/env bash
# wmt19.en-de: download, tokenise, BPE and binarise as the original -> data/binary/wmt19_en_de
# usage: bash configs/wmt19.en-de/preprocess.sh [WORKERS] [--data-dir data] [--mirror URL]   (python -m hat.cli.preprocess --help)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python}" -m hat.cli.preprocess wmt19.en-de "$@"
