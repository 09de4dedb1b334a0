#!/usr/bin/env bash
# The original HAT's preprocessed wmt14.en-de data -> data/binary/wmt16_en_de (see scripts/get_preprocessed.sh).
exec bash "$(dirname "$0")/../../scripts/get_preprocessed.sh" "https://www.dropbox.com/s/axfwl1vawper8yk/wmt16_en_de.preprocessed.tgz?dl=1" wmt16_en_de
