#!/usr/bin/env bash
# Retrain mitool's text role model from scratch (CPU only, modest: one core).
# Usage: models/roles/train.sh [--data-dir DIR]
#   DIR defaults to ../shared/data/annomi relative to the repository root.
# Writes mitool-core/data/role_words.json (+ role_words_parity.json),
# models/roles/metrics.json and MODEL_CARD.md. Fixed seeds and deterministic
# solvers: a rerun writes byte-identical model files.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data-dir) ARGS=(--data-dir "$(realpath "$2")"); shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
# shellcheck source=../venv.sh
source ../venv.sh
pinned_venv requirements.txt
export PYTHONHASHSEED=0 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
mkdir -p work
START=$(date +%s)
# The coder's votes (mitool's current role evidence), for comparison only;
# computed once, cached in work/.
if [[ ! -s work/votes.json ]]; then
  nice -n 10 .venv/bin/python coder_votes.py "${ARGS[@]}" 2>&1 | tr '\r' '\n' | tail -n 2
fi
nice -n 10 .venv/bin/python train.py "${ARGS[@]}" 2>&1 | tee work/train_stdout.log
.venv/bin/python write_card.py
echo "train.sh finished in $(( $(date +%s) - START )) s"
