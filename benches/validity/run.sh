#!/usr/bin/env bash
# Validity harness (issue #13): scores read from a recording vs scores of the human-coded transcript.
# usage: benches/validity/run.sh [--label NAME] [--model WHISPER] [--noise white:SNR|babble:SNR]
#          [--families festival,kokoro] [--halves tune,held] [--quick] [--per-half N] [-- MITOOL_BATCH_FLAGS...]
# Env: MITOOL (binary, default the checkout's target/release/mitool), MITOOL_MODELS (default the checkout's models/).
# Not part of CI: it needs the shared AnnoMI data, TTS and minutes of CPU.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE="$HERE/.cache"
CMDLINE=$(printf '%q ' "$0" "$@")
LABEL=run MODEL="" NOISE="" FAMILIES=festival,kokoro HALVES=tune,held QUICK="" PER_HALF=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --label) LABEL=$2; shift 2 ;;
    --model) MODEL=$2; shift 2 ;;
    --noise) NOISE=$2; shift 2 ;;
    --families) FAMILIES=$2; shift 2 ;;
    --halves) HALVES=$2; shift 2 ;;
    --quick) QUICK=--quick; shift ;;
    --per-half) PER_HALF=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n 2,6p "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (extra mitool batch flags go after --)" >&2; exit 2 ;;
  esac
done
EXTRA=("$@")
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
MITOOL=${MITOOL:-$ROOT/target/release/mitool}
export MITOOL_MODELS=${MITOOL_MODELS:-$ROOT/models}
TTS_HOME=${TTS_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/mitool-tts}
PY="$TTS_HOME/venv/bin/python"   # has numpy (noise.py); speak.py and evaluate.py need only the stdlib
mkdir -p "$CACHE"
now() { date +%s; }

# --- set-up (once) ---
for tool in festival sox; do
  if ! command -v "$tool" >/dev/null || [[ ! -d /usr/share/festival/voices/us/cmu_us_slt_arctic_hts ]]; then
    echo "run.sh: installing Festival voices and sox" >&2
    apt-get install -y festival festvox-kallpc16k festvox-us-slt-hts sox >/dev/null
    break
  fi
done
if [[ ! -x "$PY" ]]; then
  echo "run.sh: setting up Kokoro TTS in $TTS_HOME" >&2
  bash "$SHARED/tts/setup.sh" "$TTS_HOME"
fi

# --- speak (cached per session) ---
t0=$(now)
nice -n 10 "$PY" "$HERE/speak.py" --families "$FAMILIES" --halves "$HALVES" $QUICK --per-half "$PER_HALF" \
  --manifest "$CACHE/manifest-$LABEL.csv"
t_speak=$(( $(now) - t0 ))
mapfile -t WAVS < <(tail -n +2 "$CACHE/manifest-$LABEL.csv" | cut -d, -f1)

# --- noise (cached per spec and session) ---
if [[ -n "$NOISE" ]]; then
  NOISY="$CACHE/noisy/${NOISE//:/_}"
  nice -n 10 "$PY" "$HERE/noise.py" "$NOISE" "$NOISY" "${WAVS[@]}"
  WAVS=("${WAVS[@]/#"$CACHE/audio"/$NOISY}")
fi

# --- the binary (it may still be building elsewhere: wait, never build it here) ---
for _ in $(seq 15); do [[ -x "$MITOOL" ]] && break; echo "run.sh: waiting for $MITOOL" >&2; sleep 60; done
[[ -x "$MITOOL" ]] || { echo "run.sh: $MITOOL not found" >&2; exit 2; }

# --- from the recording ---
OUT="$CACHE/out-$LABEL"
BATCH=("$MITOOL" batch "${WAVS[@]}" --out "$OUT" --quiet)
[[ -n "$MODEL" ]] && BATCH+=(--model "$MODEL")
BATCH+=("${EXTRA[@]}")
t0=$(now)
nice -n 10 "${BATCH[@]}" || echo "run.sh: batch exited $? (failed sessions are reported as such)" >&2
t_batch=$(( $(now) - t0 ))

# --- human codes and transcript alone (redone only when the binary or the coder changes) ---
# every coder file that changes the codes, the optional session-aware count included
CODER_FILES=("$MITOOL_MODELS/coder/coder.onnx" "$MITOOL_MODELS/coder/calibration.json")
[[ -f "$MITOOL_MODELS/coder/session_aware.json" ]] && CODER_FILES+=("$MITOOL_MODELS/coder/session_aware.json")
STAMP=$(cat "$MITOOL" "${CODER_FILES[@]}" "$CACHE/human.csv" "$CACHE/transcripts.csv" | sha256sum | cut -c1-16)
if [[ "$(cat "$CACHE/text/stamp" 2>/dev/null)" != "$STAMP" ]]; then
  # built beside the old results and swapped in only when complete
  rm -rf "$CACHE/text.tmp" "$CACHE/human.tmp"
  nice -n 10 "$MITOOL" score "$CACHE/human.csv" --out "$CACHE/human.tmp" --quiet
  nice -n 10 "$MITOOL" code "$CACHE/transcripts.csv" --out "$CACHE/text.tmp/coded.csv" --quiet
  nice -n 10 "$MITOOL" score "$CACHE/text.tmp/coded.csv" --out "$CACHE/text.tmp" --quiet
  echo "$STAMP" > "$CACHE/text.tmp/stamp"
  rm -rf "$CACHE/text" "$CACHE/human"
  mv "$CACHE/text.tmp" "$CACHE/text"
  mv "$CACHE/human.tmp" "$CACHE/human"
fi

# --- compare ---
echo "command: $CMDLINE"
echo "batch: ${BATCH[*]}"
echo "time: speak ${t_speak}s, batch ${t_batch}s"
nice -n 10 "$PY" "$HERE/evaluate.py" --batch "$OUT" --manifest "$CACHE/manifest-$LABEL.csv" \
  --human "$CACHE/human/sessions.csv" --text "$CACHE/text/sessions.csv" --audio "$CACHE/audio" \
  --label "$LABEL" --results "$CACHE" \
  --command "$CMDLINE  # batch: ${BATCH[*]}; speak ${t_speak}s, batch ${t_batch}s"
