#!/usr/bin/env bash
# The original HAT's preprocessed wmt19.en-de data -> data/binary/wmt19_en_de (see scripts/get_preprocessed.sh).
exec bash "$(dirname "$0")/../../scripts/get_preprocessed.sh" "https://www.dropbox.com/s/q2st4ox2na9z5z2/wmt19_en_de.preprocessed.tgz?dl=1" wmt19_en_de
