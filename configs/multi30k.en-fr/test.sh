#!/usr/bin/env bash
# BLEU of a SubTransformer on multi30k.en-fr (the original's test.sh): beam 5, length penalty 1.
# usage: bash configs/multi30k.en-fr/test.sh <checkpoint.pt> <subtransformer.yml> [normal|sacre] [gpu=0] [subset=test] [--data DIR]
# (run from the repository root; the data folder: --data DIR, else $HAT_DATA, else data/binary/multi30k_en_fr)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
exec "${PYTHON:-python}" "$ROOT/scripts/bleu.py" --data "${HAT_DATA:-data/binary/multi30k_en_fr}" --beam 5 --lenpen 1 "$@"
