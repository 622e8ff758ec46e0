#!/usr/bin/env bash
# How fast `mitool review` opens a 60-minute session and starts playing an
# utterance, in headless chromium (Debian's `chromium` package), release build.
# The session is the demo visit's recording and codes 45 times over (60.2 min,
# 630 utterances, a 115 MB WAV), built by the test itself. Timings come from the
# page's own clock: navigation to the first frame painted with the whole list;
# click on an utterance to the audio element's `playing` event (five utterances
# from the start to the last minute). Each run is a fresh browser and server.
#
# Usage: benches/review/run.sh [RUNS]   (default 5). Run it on an idle machine.
# Writes benches/review/results.json (the CPU model and every run's figures).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS="${1:-5}"
OUT=benches/review/results.json
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
for i in $(seq 1 "$RUNS"); do
  MITOOL_TIMINGS="$TMP/run-$i.json" cargo test -q --release -p mitool-cli --test review_browser \
    a_sixty_minute_session_opens_and_plays_from_anywhere >/dev/null
done
python3 - "$TMP" "$OUT" "$RUNS" <<'PY'
import json, os, platform, statistics, sys
tmp, out, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
rs = [json.load(open(os.path.join(tmp, f"run-{i}.json"))) for i in range(1, runs + 1)]
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
plays = [p for r in rs for p in r["play_ms"]]
res = {
    "cpu": cpu, "cores": os.cpu_count(),
    "open_ms_median": statistics.median(r["open_ms"] for r in rs),
    "open_ms_max": max(r["open_ms"] for r in rs),
    "play_ms_median": statistics.median(plays), "play_ms_max": max(plays),
    "runs": rs,
}
json.dump(res, open(out, "w"), indent=1)
print(f"{cpu}, {os.cpu_count()} cores, {runs} runs: page open median {res['open_ms_median']:.0f} ms "
      f"(max {res['open_ms_max']:.0f}); play median {res['play_ms_median']:.0f} ms (max {res['play_ms_max']:.0f})")
PY
