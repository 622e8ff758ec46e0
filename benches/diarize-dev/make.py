#!/usr/bin/env python3
"""Synthetic diarization development set (issue #14): Kokoro conversations of
two and three people, mostly of one sex, with back-channels and overlap.

usage: make.py OUT_DIR [--per-half 10] [--seconds 80] [--half tune|held]
Run with the TTS venv's python (../shared/tts/README.md). Writes per
conversation OUT_DIR/<half>-<nn>.wav/.rttm and OUT_DIR/manifest.csv
(file, half, people, voices, kind). Deterministic for a given set of options.

Voices are split in two disjoint sets: the `tune` half uses only the first,
the `held` half only the second, so no voice (let alone pair) of the held
half was ever heard while tuning. The text is AnnoMI dialogue (any split:
diarization never sees words); it stays in OUT_DIR, outside the repo.
"""
import argparse
import csv
import os
import random
import re
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("MITOOL_SHARED", os.path.join(HERE, "..", "..", "..", "shared"))
sys.path.insert(0, os.path.join(SHARED, "tts"))
import say  # noqa: E402

SR = say.OUT_SR
VOICES = {
    "tune": {
        "f": ["af_alloy", "af_aoede", "af_bella", "af_heart", "af_jessica", "af_kore", "bf_alice"],
        "m": ["am_adam", "am_echo", "am_eric", "am_fenrir", "am_liam", "am_michael"],
    },
    "held": {
        "f": ["af_nicole", "af_nova", "af_river", "af_sarah", "af_sky", "bf_emma", "bf_isabella", "bf_lily"],
        "m": ["am_onyx", "am_puck", "am_santa", "bm_daniel", "bm_fable", "bm_george", "bm_lewis"],
    },
}
# Per half, in order: the sexes of the people (practitioner first).
KINDS = ["ff", "mm", "ff", "mm", "ff", "fm", "ffm", "ff", "mm", "fff", "ff", "mmf"]
BACKCHANNELS = ["Mm-hmm.", "Yeah.", "Right.", "Okay.", "Uh-huh.", "I see.", "Sure.", "Mm."]


def turns_of(rows):
    """AnnoMI rows of one transcript -> [(role, text)] with stage directions removed."""
    out = []
    for r in rows:
        text = re.sub(r"\[[^\]]*\]", "", r["utterance_text"]).strip()
        if not text:
            continue
        sents = re.split(r"(?<=[.?!])\s+", text)
        out.append((r["interlocutor"], " ".join(sents[:3])[:260]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--per-half", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=80.0)
    ap.add_argument("--half", choices=["tune", "held"], help="make only this half (run one process per half in parallel)")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    by_id = {}
    with open(os.path.join(SHARED, "data", "annomi", "AnnoMI-simple.csv"), encoding="utf-8") as f:
        for r in csv.DictReader(f):
            by_id.setdefault(int(r["transcript_id"]), []).append(r)
    ids = sorted(i for i, rows in by_id.items() if len(rows) >= 30)
    manifest = []
    for half_no, half in enumerate(["tune", "held"]):
        for n in range(a.per_half):
            rnd = random.Random(1000 * half_no + n)
            kind = KINDS[n % len(KINDS)]
            pools = {s: list(VOICES[half][s]) for s in "fm"}
            for p in pools.values():
                rnd.shuffle(p)
            people = [pools[s].pop() for s in kind]
            name = f"{half}-{n:02d}"
            wav = os.path.join(a.out, name + ".wav")
            manifest.append({"file": name + ".wav", "half": half, "people": len(people),
                             "voices": " ".join(people), "kind": kind})
            if os.path.exists(wav) or (a.half and a.half != half):
                continue
            tid = ids[rnd.randrange(len(ids))]
            turns = turns_of(by_id[tid])
            start = rnd.randrange(max(1, len(turns) - 40))
            make(rnd, turns[start:], people, a.seconds, os.path.join(a.out, name))
            print(f"{name}: {kind} {' '.join(people)}", file=sys.stderr, flush=True)
    # Written whole, then renamed: the two --half processes both write it.
    tmp = os.path.join(a.out, f"manifest.csv.{os.getpid()}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["file", "half", "people", "voices", "kind"])
        w.writeheader()
        w.writerows(manifest)
    os.replace(tmp, os.path.join(a.out, "manifest.csv"))


def make(rnd, turns, people, seconds, base):
    """Lays the turns out on a timeline: pauses, sometimes overlap at a turn
    change, back-channels from the listener inside long turns; each voice at
    its own level. Writes base.wav and base.rttm."""
    gain = [10 ** (rnd.uniform(-4, 2) / 20) for _ in people]
    placed = []  # (start_s, audio, speaker index)
    t = 0.0
    client = 1
    prev = None
    for role, text in turns:
        if t > seconds:
            break
        if role == "therapist":
            who = 0
        else:
            # A third person takes some client turns (a partner, a teenager).
            if len(people) == 3 and rnd.random() < 0.35:
                client = 3 - client
            who = client
        audio = say.synth(people[who], text) * gain[who]
        dur = len(audio) / SR
        if prev is not None:
            if rnd.random() < 0.2:
                t -= rnd.uniform(0.1, 0.5)  # starts before the other has finished
            else:
                t += max(0.1, rnd.gauss(0.5, 0.25))
        t = max(t, 0.0)
        placed.append((t, audio, who))
        if dur > 4.0 and rnd.random() < 0.5:
            listener = rnd.choice([i for i in range(len(people)) if i != who])
            bc = say.synth(people[listener], rnd.choice(BACKCHANNELS)) * gain[listener]
            placed.append((t + rnd.uniform(1.5, dur - 1.5), bc, listener))
        t += dur
        prev = who
    end = max(s + len(x) / SR for s, x, _ in placed)
    mix = np.zeros(int(end * SR) + SR // 2, np.float32)
    for s, x, _ in placed:
        i = int(s * SR)
        mix[i:i + len(x)] += x
    # A quiet room: noise 45 dB under full scale.
    mix += np.random.default_rng(len(placed)).normal(0, 10 ** (-45 / 20), len(mix)).astype(np.float32)
    say.write_wav(base + ".wav", mix)
    uri = os.path.basename(base)
    with open(base + ".rttm", "w") as f:
        for s, x, who in sorted(placed, key=lambda p: p[0]):
            # Trim the TTS's leading/trailing silence from the reference.
            loud = np.flatnonzero(np.abs(x) > 0.01 * max(1e-6, np.abs(x).max()))
            if len(loud) == 0:
                continue
            st, du = s + loud[0] / SR, (loud[-1] - loud[0]) / SR
            f.write(f"SPEAKER {uri} 1 {st:.3f} {du:.3f} <NA> <NA> {people[who]} <NA> <NA>\n")


if __name__ == "__main__":
    main()
