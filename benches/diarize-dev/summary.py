#!/usr/bin/env python3
"""Table of run.sh's results: per file and pooled per group (stdlib only)."""
import json
import os
import sys

out, label = sys.argv[1], sys.argv[2]
groups = ["dev-tune", "dev-held", "quiet-tune", "quiet-held", "far-dev-tune", "far-dev-held",
          "far-quiet-tune", "far-quiet-held", "kin-tune", "kin-held", "far-kin-tune", "far-kin-held",
          "spoken", "real"]
print(f"# Diarization development run: {label}\n")
print("| group | file | DER | speakers found/true | count review |")
print("|---|---|---|---|---|")
pooled = []
# Per half, the clips with a quiet person (issue #36's figure), pooled.
quiet = {h: [0.0, 0.0, 0, 0] for h in ("tune", "held")}
for g in groups:
    p = os.path.join(out, g + ".der.json")
    if not os.path.exists(p):
        continue
    d = json.load(open(p))
    log_path = os.path.join(out, g + ".log")
    log = open(log_path).read() if os.path.exists(log_path) else ""
    err = ref = right = n = flagged = wrong_unflagged = 0
    for f in d["files"]:
        # `diarize --rttm-only` names a file whose count needs review on stderr.
        review = "yes" if f"/{f['file']}.wav: needs review" in log else ""
        ok = f["hypothesis_speakers"] == f["reference_speakers"]
        right += ok
        n += 1
        flagged += bool(review)
        wrong_unflagged += (not ok) and not review
        e = f["missed_s"] + f["false_alarm_s"] + f["confusion_s"]
        err += e
        ref += f["reference_speech_s"]
        print(f"| {g} | {f['file']} | {100 * f['der']:.1f}% | {f['hypothesis_speakers']}/{f['reference_speakers']} | {review} |")
    pooled.append((g, n, 100 * err / max(ref, 1e-9), right, flagged, wrong_unflagged))
    half = g.rsplit("-", 1)[-1]
    if ("quiet" in g or "kin" in g) and half in quiet:
        q = quiet[half]
        q[0] += err
        q[1] += ref
        q[2] += right
        q[3] += n
print("\n| group | clips | pooled DER | count right | count flagged | count wrong, not flagged |")
print("|---|---|---|---|---|---|")
for g, n, der, right, flagged, wu in pooled:
    print(f"| {g} | {n} | {der:.1f}% | {right}/{n} | {flagged} | {wu} |")
for h, (err, ref, right, n) in quiet.items():
    if n:
        print(f"| all {h} clips with a quiet person | {n} | {100 * err / max(ref, 1e-9):.1f}% | {right}/{n} | | |")
