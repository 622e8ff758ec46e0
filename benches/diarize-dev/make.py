#!/usr/bin/env python3
"""Synthetic diarization development set (issue #14): Kokoro conversations of
two and three people, mostly of one sex, with back-channels and overlap.

usage: make.py OUT_DIR [--set main|quiet] [--per-half N] [--seconds S] [--half tune|held]
Run with the TTS venv's python (../shared/tts/README.md). Writes per
conversation OUT_DIR/<name>.wav/.rttm, a far-field copy OUT_DIR/<name>-far.wav
(same RTTM) and OUT_DIR/manifest-<set>.csv (file, half, people, voices, kind,
shares). Deterministic for a given set of options.

Sets (issue #14, issue #36):
  main   <half>-<nn>: two and three people taking turns in even shares.
  quiet  q<half>-<nn>: a third (or second) person who says 3-15% of the
         talk: short answers, back-channels, a child's voice (a Kokoro voice
         pitched up with its formants, as a child's are).
  kin    k<half>-<nn>: the same, harder: the quiet person is a relative whose
         voice is half the client's (a Kokoro blend of the client's voice and
         another of the same half), 3-8% of the talk, 3-9 dB quieter.

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
# Quiet set, per half in order: practitioner, client, then the quiet person:
# f/m an adult voice, c a child (a voice of either sex pitched up); "-" no
# third person: the client is the quiet one.
QUIET_KINDS = ["ff+c", "mm+m", "fm+f", "ff+f", "mf+c", "mm+-", "ff+m", "fm+c", "mm+f", "ff+-", "mf+m", "ff+f"]
# What a quiet person says besides short AnnoMI client lines.
SHORT = ["Yeah, he does.", "No.", "I don't know.", "That's right.", "Can I go now?", "He never listens.",
         "Not really.", "Sometimes.", "She's right.", "We tried that.", "It was last week.", "Yes.",
         "I told you that.", "Okay, fine.", "Me too.", "Nobody asked me."]


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
    ap.add_argument("--set", choices=["main", "quiet", "kin"], default="main")
    ap.add_argument("--per-half", type=int, default=None, help="default 10 (main), 12 (quiet)")
    ap.add_argument("--seconds", type=float, default=None, help="default 80 (main), 120 (quiet)")
    ap.add_argument("--half", choices=["tune", "held"], help="make only this half (run one process per half in parallel)")
    a = ap.parse_args()
    kin = a.set == "kin"
    quiet = a.set in ("quiet", "kin")
    a.per_half = a.per_half or (8 if kin else 12 if quiet else 10)
    a.seconds = a.seconds or (120.0 if quiet else 80.0)
    os.makedirs(a.out, exist_ok=True)
    by_id = {}
    with open(os.path.join(SHARED, "data", "annomi", "AnnoMI-simple.csv"), encoding="utf-8") as f:
        for r in csv.DictReader(f):
            by_id.setdefault(int(r["transcript_id"]), []).append(r)
    ids = sorted(i for i, rows in by_id.items() if len(rows) >= 30)
    manifest = []
    for half_no, half in enumerate(["tune", "held"]):
        for n in range(a.per_half):
            rnd = random.Random((9000 if kin else 5000 if quiet else 0) + 1000 * half_no + n)
            kinds = QUIET_KINDS if quiet else KINDS
            kind = kinds[n % len(kinds)]
            pools = {s: list(VOICES[half][s]) for s in "fm"}
            for p in pools.values():
                rnd.shuffle(p)
            if quiet:
                people = [pools[s].pop() for s in kind[:2]]
                q = kind[3]
                if kin and q != "-":
                    # A relative: half the client's voice (a child: pitched up).
                    other = pools[kind[1]].pop()
                    blend = f"{people[1]}:0.5,{other}:0.5"
                    people.append(blend + ("+child" if q == "c" else ""))
                elif q == "c":
                    people.append(pools[rnd.choice("fm")].pop() + "+child")
                elif q != "-":
                    people.append(pools[q].pop())
            else:
                people = [pools[s].pop() for s in kind]
            name = f"{'k' if kin else 'q' if quiet else ''}{half}-{n:02d}"
            wav = os.path.join(a.out, name + ".wav")
            row = {"file": name + ".wav", "half": half, "people": len(people),
                   "voices": " ".join(people), "kind": kind, "shares": ""}
            manifest.append(row)
            if a.half and a.half != half:
                continue
            if all(os.path.exists(os.path.join(a.out, name + e)) for e in (".wav", ".rttm", "-far.wav")):
                row["shares"] = shares_of(os.path.join(a.out, name + ".rttm"), people)
                continue
            tid = ids[rnd.randrange(len(ids))]
            turns = turns_of(by_id[tid])
            start = rnd.randrange(max(1, len(turns) - 40))
            if quiet:
                placed = make_quiet(rnd, turns[start:], people, a.seconds, short_lines(by_id), kin)
            else:
                placed = make(rnd, turns[start:], people, a.seconds)
            render(placed, people, os.path.join(a.out, name), rnd)
            row["shares"] = shares_of(os.path.join(a.out, name + ".rttm"), people)
            print(f"{name}: {kind} {' '.join(people)} {row['shares']}", file=sys.stderr, flush=True)
    # Written whole, then renamed: the two --half processes both write it.
    name = "manifest.csv" if not quiet else f"manifest-{a.set}.csv"
    if a.half:
        name = name.replace(".csv", f"-{a.half}.csv")
        manifest = [r for r in manifest if r["half"] == a.half]
    tmp = os.path.join(a.out, f"{name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["file", "half", "people", "voices", "kind", "shares"])
        w.writeheader()
        w.writerows(manifest)
    os.replace(tmp, os.path.join(a.out, name))


def make(rnd, turns, people, seconds):
    """Lays the turns out on a timeline: pauses, sometimes overlap at a turn
    change, back-channels from the listener inside long turns; each voice at
    its own level. Returns [(start_s, audio, person)]."""
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
    return placed


def voice(spec, text):
    """Kokoro speech; "<voice>+child" is that voice pitched up by a third,
    formants and tempo with it (played faster), as a child's voice is higher
    in both."""
    name, _, child = spec.partition("+")
    audio = say.synth(name, text)
    if child:
        n = int(len(audio) / 1.3)
        audio = np.interp(np.arange(n) * 1.3, np.arange(len(audio)), audio).astype(np.float32)
    return audio


def short_lines(by_id):
    """Short client lines from AnnoMI (2-8 words) for the quiet person."""
    out = []
    for rows in by_id.values():
        for r in rows:
            if r["interlocutor"] == "client":
                t = re.sub(r"\[[^\]]*\]", "", r["utterance_text"]).strip()
                if 2 <= len(t.split()) <= 8:
                    out.append(t)
    return sorted(set(out))


def make_quiet(rnd, turns, people, seconds, lines, kin=False):
    """Practitioner and client take turns; a quiet person (the last of
    `people`, or the client where there are two) says short lines now and
    then (answers in the gaps, back-channels over others' speech) until
    holding a drawn share of 3-15% of the talk."""
    target = rnd.uniform(0.03, 0.08 if kin else 0.15)
    quiet = len(people) - 1
    talk = [0.0] * len(people)
    placed = []
    t = 0.0
    gain = [10 ** (rnd.uniform(-4, 2) / 20) for _ in people]
    if kin:
        gain[quiet] = gain[1] * 10 ** (-rnd.uniform(3, 9) / 20)
    for role, text in turns:
        if t > seconds:
            break
        who = 0 if role == "therapist" else 1
        if who == quiet:
            # Two people, the client quiet: their turns are short, and
            # skipped while they hold their share.
            if talk[quiet] / max(1e-6, sum(talk)) >= target:
                continue
            text = rnd.choice(SHORT) if rnd.random() < 0.5 else rnd.choice(lines)
        audio = voice(people[who], text) * gain[who]
        dur = len(audio) / SR
        t = max(0.0, t - rnd.uniform(0.1, 0.4) if rnd.random() < 0.2 else t + max(0.1, rnd.gauss(0.5, 0.25)))
        placed.append((t, audio, who))
        talk[who] += dur
        if dur > 4.0 and rnd.random() < 0.4:
            listener = 1 - who if who < 2 else 0
            bc = voice(people[listener], rnd.choice(BACKCHANNELS)) * gain[listener]
            placed.append((t + rnd.uniform(1.5, dur - 1.5), bc, listener))
            talk[listener] += len(bc) / SR
        t += dur
        share = talk[quiet] / max(1e-6, sum(talk))
        if who != quiet and share < target and rnd.random() < 0.6:
            line = rnd.choice(SHORT) if rnd.random() < 0.4 else rnd.choice(lines)
            q = voice(people[quiet], line) * gain[quiet]
            if rnd.random() < 0.3 and dur > 2.5:
                # Over the end of the turn: a remark or back-channel.
                s0 = t - rnd.uniform(0.3, min(1.5, dur - 1.0))
            else:
                t += max(0.15, rnd.gauss(0.6, 0.3))
                s0 = t
                t += len(q) / SR
            placed.append((s0, q, quiet))
            talk[quiet] += len(q) / SR
    return placed


def rir(rnd, distance, rt60, critical):
    """A simple room impulse response: the direct sound at 1/distance, then
    an exponentially decaying noise tail whose energy, as in a diffuse room,
    does not depend on distance (direct-to-reverberant ratio 20 log10(rc/d))."""
    n = int(rt60 * SR)
    tt = np.arange(n) / SR
    tail = np.random.default_rng(rnd.randrange(1 << 30)).normal(0, 1, n) * np.exp(-6.9 * tt / rt60)
    tail[: int(0.003 * SR)] = 0.0
    tail *= (1.0 / critical) / np.sqrt(np.sum(tail ** 2))
    h = tail
    h[0] += 1.0 / distance
    return h.astype(np.float32)


def render(placed, people, base, rnd):
    """Writes base.wav (close microphone, a quiet room), base-far.wav (the same
    voices at 1-4 m in a reverberant room with fan noise) and base.rttm."""
    from scipy.signal import fftconvolve
    end = max(s + len(x) / SR for s, x, _ in placed)
    n = int(end * SR) + SR // 2
    tracks = np.zeros((len(people), n), np.float32)
    for s, x, who in placed:
        i = int(s * SR)
        tracks[who, i:i + len(x)] += x
    mix = tracks.sum(axis=0)
    # A quiet room: noise 45 dB under full scale.
    mix += np.random.default_rng(len(placed)).normal(0, 10 ** (-45 / 20), len(mix)).astype(np.float32)
    say.write_wav(base + ".wav.tmp", mix)
    # Far field: one room, each person at their own distance (the phone on
    # the table, the quiet person furthest).
    rt60 = rnd.uniform(0.35, 0.8)
    critical = rnd.uniform(0.7, 1.2)
    far = np.zeros(n, np.float32)
    for who in range(len(people)):
        d = rnd.uniform(1.0, 2.5) if who < 2 else rnd.uniform(2.0, 4.0)
        far += fftconvolve(tracks[who], rir(rnd, d, rt60, critical))[:n].astype(np.float32)
    far *= 0.5 / max(1e-6, np.abs(far).max())
    far += np.random.default_rng(len(placed) + 1).normal(0, 10 ** (-40 / 20), n).astype(np.float32)
    say.write_wav(base + "-far.wav.tmp", far)
    uri = os.path.basename(base)
    with open(base + ".rttm.tmp", "w") as f:
        for s, x, who in sorted(placed, key=lambda p: p[0]):
            # Trim the TTS's leading/trailing silence from the reference.
            loud = np.flatnonzero(np.abs(x) > 0.01 * max(1e-6, np.abs(x).max()))
            if len(loud) == 0:
                continue
            st, du = s + loud[0] / SR, (loud[-1] - loud[0]) / SR
            f.write(f"SPEAKER {uri} 1 {st:.3f} {du:.3f} <NA> <NA> {people[who]} <NA> <NA>\n")
    # Renamed only when all three are whole, the far-field copy last: a killed run leaves no clip that
    # a resumed run would take for finished (it skips a clip whose three files exist).
    for ext in (".rttm", ".wav", "-far.wav"):
        os.replace(base + ext + ".tmp", base + ext)


def shares_of(rttm, people):
    """Each person's share of the reference talk, in %."""
    talk = {p: 0.0 for p in people}
    for line in open(rttm):
        f = line.split()
        talk[f[7]] = talk.get(f[7], 0.0) + float(f[4])
    total = sum(talk.values()) or 1.0
    return " ".join(f"{100 * talk[p] / total:.0f}" for p in people)


if __name__ == "__main__":
    main()
