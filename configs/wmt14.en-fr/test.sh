#!/usr/bin/env bash
# BLEU of a SubTransformer on wmt14.en-fr (the original's test.sh): beam 4, length penalty 0.6.
# usage: bash configs/wmt14.en-fr/test.sh <checkpoint.pt> <subtransformer.yml> [normal|sacre] [gpu=0] [subset=test] [--data DIR]
# (run from the repository root; the data folder: --data DIR, else $HAT_DATA, else data/binary/wmt14_en_fr)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
exec "${PYTHON:-python}" "$ROOT/scripts/bleu.py" --data "${HAT_DATA:-data/binary/wmt14_en_fr}" --beam 4 --lenpen 0.6 "$@"
