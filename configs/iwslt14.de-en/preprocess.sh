#!/usr/bin/env bash
# iwslt14.de-en: download, tokenise, BPE and binarise as the original -> data/binary/iwslt14_de_en
# usage: bash configs/iwslt14.de-en/preprocess.sh [WORKERS] [--data-dir data] [--mirror URL]   (python -m hat.cli.preprocess --help)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python}" -m hat.cli.preprocess iwslt14.de-en "$@"
