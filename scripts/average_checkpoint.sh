#!/usr/bin/env bash
# Average the last N epoch checkpoints of a folder (the paper's IWSLT numbers use N = 10).
# usage: bash scripts/average_checkpoint.sh <checkpoint dir> [N=10]  ->  <dir>/average_model_<N>.pt
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:?usage: average_checkpoint.sh <checkpoint dir> [N=10]}"
n="${2:-10}"
exec "${PYTHON:-python}" "$ROOT/average_checkpoints.py" --inputs "$dir" --num-epoch-checkpoints "$n" --output "$dir/average_model_$n.pt"
