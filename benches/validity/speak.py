#!/usr/bin/env python3
"""Speak AnnoMI dev transcripts into test recordings with known speakers.

usage: speak.py [--families festival,kokoro] [--halves tune,held] [--per-half N] [--quick]

Writes into benches/validity/.cache/ (never committed):
  audio/<family>-<transcript_id>.wav/.rttm/.txt   the recording and its ground truth (cached)
  scripts/<family>-<transcript_id>.txt            the voice|text script that was spoken
  sessions.csv (or --manifest)                    manifest of the sessions chosen by this call
  human.csv        AnnoMI-full rows of all dev transcripts (first annotator only): the human codes
  transcripts.csv  the text that was spoken, with roles, turn by turn (input of `mitool code`)

Only the coder's dev transcripts are used (models/coder/split.json), split into two fixed halves
by position in sorted id order: even -> tune, odd -> held.
"""
import argparse
import csv
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CACHE = os.path.join(HERE, ".cache")
ANNOMI = os.environ.get("ANNOMI", os.path.join(ROOT, "..", "shared", "data", "annomi", "AnnoMI-full.csv"))
TTS_DIR = os.environ.get("TTS_DIR", os.path.join(ROOT, "..", "shared", "tts"))
TTS_PY = os.environ.get("TTS_PY", os.path.expanduser("~/.cache/mitool-tts/venv/bin/python"))
SR = 16000

FESTIVAL = ("kal", "slt")  # practitioner (male), client (female): the fast, easy case
FESTIVAL_VOICE = {"kal": "(voice_kal_diphone)", "slt": "(voice_cmu_us_slt_arctic_hts)"}
# Same-sex Kokoro pairs, the hard case for diarization; (practitioner, client).
KOKORO_PAIRS = {
    "tune": [("af_sarah", "bf_emma"), ("am_michael", "bm_george")],
    "held": [("af_nicole", "af_bella"), ("am_eric", "bm_lewis")],
}


def dev_ids():
    with open(os.path.join(ROOT, "models", "coder", "split.json")) as f:
        return sorted(int(t) for t in json.load(f)["dev_transcripts"])


def halves():
    return {t: ("tune" if i % 2 == 0 else "held") for i, t in enumerate(dev_ids())}


def clean(text):
    # Stage directions ("[sighs]") are not speech.
    text = re.sub(r"\[[^\]]*\]", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def load_annomi(ids):
    """First annotator's rows per transcript, in file order (what `mitool score` keeps)."""
    rows, first = {}, {}
    with open(ANNOMI, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames
        for r in reader:
            t = int(r["transcript_id"])
            if t not in ids:
                continue
            first.setdefault(t, r["annotator_id"])
            if r["annotator_id"] == first[t]:
                rows.setdefault(t, []).append(r)
    for t in rows:
        rows[t].sort(key=lambda r: int(r["utterance_id"]))
    return fields, rows


def turns_of(rows):
    """(role, text) per spoken turn; empty turns skipped."""
    out = []
    for r in rows:
        text = clean(r["utterance_text"])
        if re.search(r"[A-Za-z0-9]", text):
            out.append(("practitioner" if r["interlocutor"] == "therapist" else "client", text))
    return out


def write_tables(fields, rows):
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, "human.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for t in sorted(rows):
            w.writerows(rows[t])
    # The transcript-alone path codes exactly the text that was spoken, turn by turn.
    with open(os.path.join(CACHE, "transcripts.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["transcript_id", "utterance_id", "interlocutor", "utterance_text"])
        for t in sorted(rows):
            for i, (role, text) in enumerate(turns_of(rows[t])):
                w.writerow([t, i, "therapist" if role == "practitioner" else "client", text])


def write_truth(base, segs):
    """segs: (start, dur, voice, text). Same rttm/txt layout as shared/tts/dialogue.py."""
    uri = os.path.basename(base)
    with open(base + ".rttm", "w") as f:
        for st, du, v, _ in segs:
            f.write(f"SPEAKER {uri} 1 {st:.3f} {du:.3f} <NA> <NA> {v} <NA> <NA>\n")
    with open(base + ".txt", "w") as f:
        for st, du, v, tx in segs:
            f.write(f"{st:.2f}\t{st + du:.2f}\t{v}\t{tx}\n")


def scheme_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def festival_dialogue(script, out_wav, seed):
    """Speak each turn with Festival (one process per voice), resample to 16 kHz mono, join with gaps."""
    rnd = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        for voice in FESTIVAL:
            lines = [FESTIVAL_VOICE[voice]]
            for i, (v, text) in enumerate(script):
                if v == voice:
                    p = os.path.join(tmp, f"{i:05d}.wav")
                    lines.append(f"(utt.save.wave (utt.synth (Utterance Text {scheme_str(text)})) {scheme_str(p)} 'riff)")
            scm = os.path.join(tmp, voice + ".scm")
            with open(scm, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
            subprocess.run(["festival", "-b", scm], check=True, stdout=subprocess.DEVNULL)
        pcm, segs, n = bytearray(), [], 0
        for i, (v, text) in enumerate(script):
            src = os.path.join(tmp, f"{i:05d}.wav")
            dst = os.path.join(tmp, f"{i:05d}-16k.wav")
            # slt is 32 kHz; sox makes every turn 16 kHz mono 16-bit
            subprocess.run(["sox", src, "-r", str(SR), "-c", "1", "-b", "16", dst], check=True)
            with wave.open(dst) as w:
                frames = w.readframes(w.getnframes())
            if i:
                gap = int(rnd.uniform(0.3, 0.6) * SR)
                pcm += b"\0\0" * gap
                n += gap
            segs.append((n / SR, len(frames) / 2 / SR, v, text))
            pcm += frames
            n += len(frames) // 2
    with wave.open(out_wav, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(bytes(pcm))
    write_truth(os.path.splitext(out_wav)[0], segs)


def plan(rows, half_of, families, want_halves, per_half):
    """[(session, transcript_id, half, family, practitioner_voice, client_voice)]."""
    words = {t: sum(len(x.split()) for _, x in turns_of(r)) for t, r in rows.items()}
    sessions = []
    for half in ("tune", "held"):
        if half not in want_halves:
            continue
        ids = sorted((t for t in rows if half_of[t] == half), key=lambda t: (words[t], t))
        if "festival" in families:
            for t in sorted(ids[:per_half] if per_half else ids):
                sessions.append((f"festival-{t}", t, half, "festival") + FESTIVAL)
        if "kokoro" in families:
            # the shortest transcripts of each half: Kokoro runs slower than real time
            for t, pair in zip(ids, KOKORO_PAIRS[half]):
                sessions.append((f"kokoro-{t}", t, half, "kokoro") + pair)
    return sessions


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", default="festival,kokoro")
    ap.add_argument("--halves", default="tune,held")
    ap.add_argument("--per-half", type=int, default=0, help="Festival: only the N shortest per half (0 = all)")
    ap.add_argument("--quick", action="store_true", help="= --per-half 4")
    ap.add_argument("--manifest", default=os.path.join(CACHE, "sessions.csv"), help="where to write the manifest")
    a = ap.parse_args()
    families = a.families.split(",")
    per_half = 4 if a.quick else a.per_half
    half_of = halves()
    fields, rows = load_annomi(set(half_of))
    write_tables(fields, rows)
    sessions = plan(rows, half_of, families, a.halves.split(","), per_half)
    os.makedirs(os.path.join(CACHE, "audio"), exist_ok=True)
    os.makedirs(os.path.join(CACHE, "scripts"), exist_ok=True)
    for sid, t, half, fam, pv, cv in sessions:
        wav = os.path.join(CACHE, "audio", sid + ".wav")
        if all(os.path.exists(os.path.splitext(wav)[0] + e) for e in (".wav", ".rttm", ".txt")):
            continue
        script = [(pv if role == "practitioner" else cv, text) for role, text in turns_of(rows[t])]
        sp = os.path.join(CACHE, "scripts", sid + ".txt")
        with open(sp, "w", encoding="utf-8") as f:
            f.writelines(f"{v}|{x}\n" for v, x in script)
        print(f"speak: {sid} ({len(script)} turns)", file=sys.stderr, flush=True)
        # Write to a temporary name first so an interrupted run is redone, not cached half-done.
        tmp = os.path.join(CACHE, "audio", "tmp-" + sid + ".wav")
        if fam == "festival":
            festival_dialogue(script, tmp, seed=t)
        else:
            subprocess.run([TTS_PY, os.path.join(TTS_DIR, "dialogue.py"), sp, tmp, "--seed", str(t)], check=True)
        for ext in (".rttm", ".txt", ".wav"):
            src, dst = os.path.splitext(tmp)[0] + ext, os.path.splitext(wav)[0] + ext
            if ext == ".rttm":  # the recording id inside the RTTM follows the final name
                with open(src) as f:
                    text = f.read().replace(f"SPEAKER tmp-{sid} ", f"SPEAKER {sid} ")
                with open(dst, "w") as f:
                    f.write(text)
                os.remove(src)
            else:
                shutil.move(src, dst)
    with open(a.manifest, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "transcript_id", "half", "family", "practitioner_voice", "client_voice"])
        for sid, t, half, fam, pv, cv in sessions:
            w.writerow([os.path.join(CACHE, "audio", sid + ".wav"), t, half, fam, pv, cv])
    print(f"speak: {len(sessions)} sessions -> {a.manifest}", file=sys.stderr)


if __name__ == "__main__":
    main()
