#!/usr/bin/env bash
# The original HAT's preprocessed iwslt14.de-en data -> data/binary/iwslt14_de_en (see scripts/get_preprocessed.sh).
exec bash "$(dirname "$0")/../../scripts/get_preprocessed.sh" "https://www.dropbox.com/s/t5dqiamjdzahhfc/iwslt14_de_en.preproessed.tgz?dl=1" iwslt14_de_en
