#!/usr/bin/env bash
# The original HAT's preprocessed wmt14.en-fr data -> data/binary/wmt14_en_fr (see scripts/get_preprocessed.sh).
exec bash "$(dirname "$0")/../../scripts/get_preprocessed.sh" "https://www.dropbox.com/s/mrs8efjrrnc61xi/wmt14_en_fr.preprocessed.tgz?dl=1" wmt14_en_fr
