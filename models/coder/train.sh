#!/usr/bin/env bash
# Retrain the mitool utterance coder from scratch (CPU only, ~2 cores).
# Usage: models/coder/train.sh [--data-dir DIR] [--epochs N]
#   DIR defaults to ../shared/data/annomi relative to the repository root.
# Idempotent: fixed seeds; re-running overwrites the same outputs.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
DATA_ARGS=()
TRAIN_ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data-dir) DATA_ARGS=(--data-dir "$(realpath "$2")"); shift 2 ;;
    --epochs) TRAIN_ARGS=(--epochs "$2"); shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
# shellcheck source=../venv.sh
source ../venv.sh
pinned_venv requirements.lock.txt
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONHASHSEED=0
mkdir -p work
START=$(date +%s)
.venv/bin/python train.py "${DATA_ARGS[@]}" "${TRAIN_ARGS[@]}" 2>&1 | tee work/train_stdout.log
.venv/bin/python export_eval.py "${DATA_ARGS[@]}" 2>&1 | tee work/export_stdout.log
.venv/bin/python miti_eval.py "${DATA_ARGS[@]}" > work/miti_stdout.log
# A new model needs its own calibration (calibration.json; see calibrate.py).
.venv/bin/python calibrate.py "${DATA_ARGS[@]}" | tee work/calibrate_stdout.log
END=$(date +%s)
.venv/bin/python write_card.py --train-sh-seconds $((END - START))
echo "train.sh finished in $((END - START)) s"
