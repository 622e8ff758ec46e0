#!/usr/bin/env bash
# Refit the coder's probability calibration (calibration.json) without retraining:
# a small venv (no torch), the shipped coder.onnx run on the dev split, Platt scaling per MITI event.
# Usage: models/coder/calibrate.sh [--data-dir DIR] [--half all|tune|held] [--out FILE]
# train.sh runs calibrate.py itself after a retrain.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data-dir) ARGS+=(--data-dir "$(realpath "$2")"); shift 2 ;;
    --out) ARGS+=(--out "$(realpath -m "$2")"); shift 2 ;;
    --half) ARGS+=(--half "$2"); shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
cd "$HERE"
# shellcheck source=../venv.sh
source ../venv.sh
pinned_venv requirements-calibrate.lock.txt .venv-calibrate
exec .venv-calibrate/bin/python calibrate.py "${ARGS[@]}"
