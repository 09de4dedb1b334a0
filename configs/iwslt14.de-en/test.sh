#!/usr/bin/env bash
# BLEU of a SubTransformer on iwslt14.de-en (the original's test.sh): beam 5, length penalty 1.
# usage: bash configs/iwslt14.de-en/test.sh <checkpoint.pt> <subtransformer.yml> [normal|sacre] [gpu=0] [subset=test] [--data DIR]
# (run from the repository root; the data folder: --data DIR, else $HAT_DATA, else data/binary/iwslt14_de_en)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
exec "${PYTHON:-python}" "$ROOT/scripts/bleu.py" --data "${HAT_DATA:-data/binary/iwslt14_de_en}" --beam 5 --lenpen 1 "$@"
