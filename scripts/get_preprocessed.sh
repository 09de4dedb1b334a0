#!/usr/bin/env bash
# Fetch and unpack one of the original HAT's preprocessed (binarised) datasets:
#   bash scripts/get_preprocessed.sh URL NAME        -> data/binary/NAME
# The archive is downloaded to a temporary file (resuming a partial download), checked, unpacked into a
# temporary folder and only then renamed to data/binary/NAME: an interrupted or failed run never leaves a
# half-extracted data folder. Offline or on a server error it stops with one clear message.
set -euo pipefail
url=$1; name=$2
dest=data/binary/$name
mkdir -p data/binary data/download
archive=data/download/$name.tgz
if [ -d "$dest" ]; then echo "$dest already exists"; exit 0; fi
if ! curl -fL --retry 2 -C - -o "$archive.part" "$url"; then
  echo "error: could not download $url (offline, or the server answered an error); nothing was written to $dest" >&2
  exit 2
fi
if ! tar -tzf "$archive.part" > /dev/null 2>&1; then
  rm -f "$archive.part"
  echo "error: the download of $url is not a valid .tgz archive (removed); try again" >&2
  exit 2
fi
mv "$archive.part" "$archive"
tmp=$(mktemp -d "data/binary/.$name.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$archive" -C "$tmp"
# The archives hold the binarised files either at the top or inside one folder.
inner=$tmp
if [ "$(find "$tmp" -mindepth 1 -maxdepth 1 | wc -l)" -eq 1 ] && [ -d "$(find "$tmp" -mindepth 1 -maxdepth 1)" ]; then
  inner=$(find "$tmp" -mindepth 1 -maxdepth 1)
fi
ls "$inner"/dict.*.txt > /dev/null 2>&1 || { echo "error: $archive holds no fairseq dict.*.txt" >&2; exit 2; }
mv "$inner" "$dest"
echo "$dest is ready"
