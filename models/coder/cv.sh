#!/usr/bin/env bash
# Grouped cross-validation of the coder recipe (train.py's settings) over every AnnoMI transcript
# the project has: folds by video_url, each trained from scratch (~12 min a fold on 2 idle cores).
# Resumable: finished folds are kept in work/cv/; cv.json is rewritten from the folds done.
# A variant (--label NAME with its settings) keeps its folds in work/cv-NAME/ and its summary in
# work/cv-NAME.json, so it can be compared with the shipped recipe's cv.json on the same folds.
# Usage: models/coder/cv.sh [--data-dir DIR] [--folds K] [--fold I ...] [--label NAME --low-quality-weight W]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data-dir) ARGS+=(--data-dir "$(realpath "$2")"); shift 2 ;;
    --folds) ARGS+=(--folds "$2"); shift 2 ;;
    --label) ARGS+=(--label "$2"); shift 2 ;;
    --low-quality-weight) ARGS+=(--low-quality-weight "$2"); shift 2 ;;
    --fold) shift; FOLDS=(); while [[ $# -gt 0 && $1 != --* ]]; do FOLDS+=("$1"); shift; done
            ARGS+=(--fold "${FOLDS[@]}") ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
cd "$HERE"
# shellcheck source=../venv.sh
source ../venv.sh
pinned_venv requirements.lock.txt
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONHASHSEED=0
exec .venv/bin/python cv.py "${ARGS[@]}"
