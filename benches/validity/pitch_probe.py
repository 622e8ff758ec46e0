#!/usr/bin/env python3
"""Does the pitch at the end of a practitioner turn tell a question whose mark Whisper dropped from a
statement? A probe, measured before building anything on it (issue #13): the coder leans on "?", and
Whisper drops it from declarative questions ("That's number one?" written "That's number one.").

usage: pitch_probe.py --label NAME [--cache DIR]
  reads run.sh's DIR/manifest-NAME.csv, the spoken audio and scripts (DIR/audio/<session>.wav/.txt) and
  mitool's transcripts (DIR/out-NAME/<session>/transcript.json). Needs numpy and librosa (not in the
  TTS set-up: `$TTS_HOME/venv/bin/pip install librosa`, then run it with that venv's python).

Per practitioner turn of the script: the last word mitool wrote inside it (word midpoints, from the turn's
start to halfway into the next gap, as evaluate.py's "'?' kept"); the label is whether the script ends
the turn with "?". Over the last 0.6 s up to that word's end (+0.1 s, within the turn), pYIN F0
(60-400 Hz) in semitones: its least-squares slope (semitones/s) and its rise (median of the last third
minus median of the first third of voiced frames). Prints, per half and voice family, the ROC AUC of
each for the turns mitool wrote without a final "?": spoken questions (mark lost) against statements.
"""
import argparse
import csv
import json
import os

import librosa
import numpy as np

from evaluate import read_turns

WINDOW_S, AFTER_S, HOP = 0.6, 0.1, 160


def pitch_features(y, sr):
    """(slope, rise) of F0 in semitones over the clip; (0, 0) with fewer than 5 voiced frames."""
    f0, voiced, _ = librosa.pyin(y, fmin=60, fmax=400, sr=sr, frame_length=1024, hop_length=HOP)
    ok = voiced & np.isfinite(f0)
    if ok.sum() < 5:
        return 0.0, 0.0
    semis, t = 12 * np.log2(f0[ok]), np.arange(len(f0))[ok] * HOP / sr
    third = max(2, int(ok.sum()) // 3)
    return float(np.polyfit(t, semis, 1)[0]), float(np.median(semis[-third:]) - np.median(semis[:third]))


def session_rows(cache, label, m):
    sid = os.path.basename(m["file"])[:-4]
    turns = read_turns(os.path.join(cache, "audio", sid + ".txt"))
    with open(os.path.join(cache, f"out-{label}", sid, "transcript.json")) as f:
        words = [w for s in json.load(f)["segments"] for w in s.get("words", []) if w.get("start") is not None]
    y, sr = librosa.load(m["file"], sr=16000)
    for i, (start, end, voice, text) in enumerate(turns):
        if voice != m["practitioner_voice"]:
            continue
        stop = (end + turns[i + 1][0]) / 2 if i + 1 < len(turns) else end + 1.0
        inside = [w for w in words if start <= (w["start"] + w["end"]) / 2 <= stop]
        if not inside:
            continue
        e = min(end, inside[-1]["end"] + AFTER_S)
        clip = y[int(max(start, e - WINDOW_S) * sr):int(e * sr)]
        if len(clip) < 2048:
            continue
        slope, rise = pitch_features(clip, sr)
        yield {"session": sid, "half": m["half"], "family": m["family"], "question": text.rstrip().endswith("?"),
               "kept": inside[-1]["text"].rstrip().endswith("?"), "slope": slope, "rise": rise}


def auc(pos, neg):
    """P(a question's feature > a statement's), ties half."""
    if not pos or not neg:
        return float("nan")
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--label", required=True)
    ap.add_argument("--cache", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".cache"))
    args = ap.parse_args()
    with open(os.path.join(args.cache, f"manifest-{args.label}.csv"), newline="") as f:
        manifest = list(csv.DictReader(f))
    rows = [r for m in manifest for r in session_rows(args.cache, args.label, m)]
    print("| group | practitioner turns | questions | mark lost | statements without mark | AUC slope | AUC rise |")
    print("|---|---|---|---|---|---|---|")
    for name, keep in [("tune", lambda r: r["half"] == "tune"), ("held", lambda r: r["half"] == "held"),
                       ("festival", lambda r: r["family"] == "festival"), ("kokoro", lambda r: r["family"] == "kokoro"),
                       ("all", lambda r: True)]:
        g = [r for r in rows if keep(r)]
        pos = [r for r in g if r["question"] and not r["kept"]]
        neg = [r for r in g if not r["question"] and not r["kept"]]
        print(f"| {name} | {len(g)} | {sum(r['question'] for r in g)} | {len(pos)} | {len(neg)} | "
              f"{auc([r['slope'] for r in pos], [r['slope'] for r in neg]):.2f} | "
              f"{auc([r['rise'] for r in pos], [r['rise'] for r in neg]):.2f} |")


if __name__ == "__main__":
    main()
