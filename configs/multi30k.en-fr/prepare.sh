#!/usr/bin/env bash
# Multi30k en-fr: bash configs/multi30k.en-fr/prepare.sh [RAW_DIR] [OUT]  (see scripts/prepare_multi30k.sh)
exec bash "$(dirname "$0")/../../scripts/prepare_multi30k.sh" en fr "$@"
