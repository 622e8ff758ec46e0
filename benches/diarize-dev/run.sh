#!/usr/bin/env bash
# Diarization on the development clips, per group, in one run (issue #14).
#
# Usage: benches/diarize-dev/run.sh [--label L] [-- MITOOL_DIARIZE_FLAGS...]
# Groups (each where present):
#   dev-tune, dev-held  synthetic Kokoro conversations made by make.py (2-3 people,
#                       mostly one sex, back-channels, overlap); tune on dev-tune only
#   spoken              the validity harness's Kokoro same-sex sessions (benches/validity/.cache/audio)
#   real                ../shared/audio AMI clips and fixtures/demo (the clips tuned on before #14)
# Prints DER (±0.25 s collar, overlap scored, `mitool der`), speaker count found/true, and
# the count's review flag per file, pooled per group; writes .cache/results-<label>.md.
# Env: DEV_GROUPS (default "dev-tune dev-held spoken real"), MITOOL (default the checkout's target/release/mitool), MITOOL_MODELS, MITOOL_SHARED.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SHARED=${MITOOL_SHARED:-$ROOT/../shared}
MITOOL=${MITOOL:-$ROOT/target/release/mitool}
LABEL=run
while [[ $# -gt 0 ]]; do
  case $1 in
    --label) LABEL=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "run.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
CACHE="$HERE/.cache"
[[ -x "$MITOOL" ]] || { echo "run.sh: $MITOOL not found; build it with bash scripts/demo" >&2; exit 2; }
if [[ ! -f "$CACHE/audio/manifest.csv" ]]; then
  echo "run.sh: no development clips; make them with the TTS venv's python:" >&2
  echo "  python $HERE/make.py $CACHE/audio   (../shared/tts/README.md)" >&2
  exit 2
fi
OUT="$CACHE/out-$LABEL"
rm -rf "$OUT"; mkdir -p "$OUT"
declare -A FILES
FILES[dev-tune]=$(ls "$CACHE"/audio/tune-*.wav 2>/dev/null || true)
FILES[dev-held]=$(ls "$CACHE"/audio/held-*.wav 2>/dev/null || true)
FILES[spoken]=$(ls "$ROOT"/benches/validity/.cache/audio/kokoro-*.wav 2>/dev/null || true)
FILES[real]=$(ls "$SHARED"/audio/ami-*.wav "$ROOT"/fixtures/demo/*.wav 2>/dev/null || true)
for g in ${DEV_GROUPS:-dev-tune dev-held spoken real}; do
  [[ -n "${FILES[$g]}" ]] || { echo "run.sh: $g: no clips, skipped" >&2; continue; }
  mapfile -t fs <<< "${FILES[$g]}"
  for f in "${fs[@]}"; do cat "${f%.wav}.rttm"; done > "$OUT/$g.ref.rttm"
  start=$(date +%s.%N)
  nice -n 5 "$MITOOL" --quiet diarize --rttm-only "${fs[@]}" --out "$OUT/$g" "$@" 2> >(tee "$OUT/$g.log" >&2)
  end=$(date +%s.%N)
  "$MITOOL" der --json "$OUT/$g.ref.rttm" "$OUT/$g" > "$OUT/$g.der.json"
  echo "$g $start $end" >> "$OUT/times"
done
python3 "$HERE/summary.py" "$OUT" "$LABEL" | tee "$CACHE/results-$LABEL.md"
