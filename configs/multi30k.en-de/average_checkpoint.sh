#!/usr/bin/env bash
# Average the last N epoch checkpoints: bash configs/<task>/average_checkpoint.sh <checkpoint dir> [N=10]
exec bash "$(dirname "${BASH_SOURCE[0]}")/../../scripts/average_checkpoint.sh" "$@"
