#!/usr/bin/env bash
# Prepare Multi30k for one language pair: bash scripts/prepare_multi30k.sh SRC TGT [RAW_DIR] [OUT]
# RAW_DIR holds train/val/test_2016_flickr.{SRC,TGT}.gz (e.g. ../shared/data/multi30k); without it they are
# downloaded. Tokenised + BPE text goes to OUT/text (default data/multi30k_SRC_TGT), the fairseq binary data
# to data/binary/multi30k_SRC_TGT (the path the configs use). Nothing is left half-written on failure.
set -euo pipefail
src=$1; tgt=$2; raw=${3:-}; out=${4:-data/multi30k_${src}_${tgt}}
"${PYTHON:-python}" -m hat.cli.prepare_multi30k ${raw:+--raw-dir "$raw"} --src "$src" --tgt "$tgt" --out "$out"
mkdir -p data/binary
rm -rf "data/binary/.multi30k_${src}_${tgt}.tmp"
cp -r "$out/bin" "data/binary/.multi30k_${src}_${tgt}.tmp"
rm -rf "data/binary/multi30k_${src}_${tgt}"
mv "data/binary/.multi30k_${src}_${tgt}.tmp" "data/binary/multi30k_${src}_${tgt}"
echo "data/binary/multi30k_${src}_${tgt} is ready"
