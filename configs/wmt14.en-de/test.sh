#!/usr/bin/env bash
# BLEU of a SubTransformer on wmt14.en-de (the original's test.sh): beam 4, length penalty 0.6.
# usage: bash configs/wmt14.en-de/test.sh <checkpoint.pt> <subtransformer.yml> [normal|sacre] [gpu=0] [subset=test] [--data DIR]
# (run from the repository root; the data folder: --data DIR, else $HAT_DATA, else data/binary/wmt16_en_de)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
exec "${PYTHON:-python}" "$ROOT/scripts/bleu.py" --data "${HAT_DATA:-data/binary/wmt16_en_de}" --beam 4 --lenpen 0.6 "$@"
