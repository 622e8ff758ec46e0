#!/usr/bin/env bash
# Diarization on the development clips, per group, in one run (issue #14).
#
# Usage: benches/diarize-dev/run.sh [--label L] [-- MITOOL_DIARIZE_FLAGS...]
# Groups (each where present):
#   dev-tune, dev-held  synthetic Kokoro conversations made by make.py (2-3 people,
#                       mostly one sex, back-channels, overlap); tune on dev-tune only
#   quiet-tune, quiet-held  make.py --set quiet: a third (or second) person with 3-15% of the talk
#   kin-tune, kin-held  make.py --set kin: the quiet person is a relative, their voice half the client's
#   far-*               the same clips far-field (<name>-far.wav: reverberant room, 1-4 m, fan noise)
#   spoken              the validity harness's Kokoro same-sex sessions (benches/validity/.cache/audio)
#   real                ../shared/audio AMI clips and fixtures/demo (the clips tuned on before #14)
# Prints DER (±0.25 s collar, overlap scored, `mitool der`), speaker count found/true, and
# the count's review flag per file, pooled per group; writes .cache/results-<label>.md.
# Env: DEV_GROUPS (default "dev-tune dev-held quiet-tune quiet-held far-dev-tune far-dev-held far-quiet-tune far-quiet-held kin-tune kin-held far-kin-tune far-kin-held spoken real"), MITOOL (default the checkout's target/release/mitool), MITOOL_MODELS, MITOOL_SHARED.
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
if ! ls "$CACHE"/audio/*.wav > /dev/null 2>&1; then
  echo "run.sh: no development clips; make them with the TTS venv's python:" >&2
  echo "  python $HERE/make.py $CACHE/audio   (../shared/tts/README.md)" >&2
  exit 2
fi
OUT="$CACHE/out-$LABEL"
rm -rf "$OUT"; mkdir -p "$OUT"
declare -A FILES
for h in tune held; do
  FILES[dev-$h]=$(ls "$CACHE"/audio/$h-??.wav 2>/dev/null || true)
  FILES[quiet-$h]=$(ls "$CACHE"/audio/q$h-??.wav 2>/dev/null || true)
  FILES[far-dev-$h]=$(ls "$CACHE"/audio/$h-??-far.wav 2>/dev/null || true)
  FILES[far-quiet-$h]=$(ls "$CACHE"/audio/q$h-??-far.wav 2>/dev/null || true)
  FILES[kin-$h]=$(ls "$CACHE"/audio/k$h-??.wav 2>/dev/null || true)
  FILES[far-kin-$h]=$(ls "$CACHE"/audio/k$h-??-far.wav 2>/dev/null || true)
done
FILES[spoken]=$(ls "$ROOT"/benches/validity/.cache/audio/kokoro-*.wav 2>/dev/null || true)
FILES[real]=$(ls "$SHARED"/audio/ami-*.wav "$ROOT"/fixtures/demo/*.wav 2>/dev/null || true)
for g in ${DEV_GROUPS:-dev-tune dev-held quiet-tune quiet-held far-dev-tune far-dev-held far-quiet-tune far-quiet-held kin-tune kin-held far-kin-tune far-kin-held spoken real}; do
  [[ -n "${FILES[$g]:-}" ]] || { echo "run.sh: $g: no clips, skipped" >&2; continue; }
  mapfile -t fs <<< "${FILES[$g]}"
  for f in "${fs[@]}"; do
    # A far-field copy is scored against its clip's reference, under its own name.
    b=${f%.wav}; n=$(basename "$b")
    awk -v n="$n" '{ $2 = n; print }' "${b%-far}.rttm"
  done > "$OUT/$g.ref.rttm"
  start=$(date +%s.%N)
  nice -n 5 "$MITOOL" --quiet diarize --rttm-only "${fs[@]}" --out "$OUT/$g" "$@" 2> >(tee "$OUT/$g.log" >&2)
  end=$(date +%s.%N)
  "$MITOOL" der --json "$OUT/$g.ref.rttm" "$OUT/$g" > "$OUT/$g.der.json"
  echo "$g $start $end" >> "$OUT/times"
done
python3 "$HERE/summary.py" "$OUT" "$LABEL" | tee "$CACHE/results-$LABEL.md"
