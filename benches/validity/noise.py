#!/usr/bin/env python3
"""Mix noise into copies of the spoken sessions at a given SNR (numpy + wave).

usage: noise.py white:SNR|babble:SNR OUT_DIR WAV... [--pool AUDIO_DIR] [--ami DIR]

white:  Gaussian noise.
babble: a sum of other talkers: other cached sessions whose voices differ from this session's
        (from --pool, default the cache's audio/) plus the shared AMI meeting clips, each brought
        to the same level, looped from a seeded random offset, and summed (at least 4 talkers).
SNR is in dB against the session's speech power, measured inside its reference RTTM turns.
Each OUT_DIR/<name>.wav keeps its name, so session ids match the clean run. Cached: present files are kept.
"""
import argparse
import glob
import os
import random
import sys
import wave

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SR = 16000


def read_wav(path):
    """Mono float in [-1, 1]; 16-bit PCM only (the float AMI clip is skipped by the caller)."""
    with wave.open(path) as w:
        if w.getsampwidth() != 2 or w.getframerate() != SR:
            raise ValueError(f"{path}: need 16 kHz 16-bit PCM")
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768.0
        return x.reshape(-1, w.getnchannels()).mean(axis=1)


def write_wav(path, x):
    tmp = path + ".tmp"
    with wave.open(tmp, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    os.replace(tmp, path)


def rttm(path):
    """[(start, end, speaker)] or [] when there is no RTTM."""
    if not os.path.exists(path):
        return []
    out = []
    for line in open(path):
        p = line.split()
        if len(p) >= 8 and p[0] == "SPEAKER":
            out.append((float(p[3]), float(p[3]) + float(p[4]), p[7]))
    return out


def speech_power(x, turns):
    mask = np.zeros(len(x), bool)
    for s, e, _ in turns:
        mask[int(s * SR):int(e * SR)] = True
    sel = x[mask] if mask.any() else x
    return float(np.mean(sel ** 2))


def loop_to(x, n, offset):
    """x repeated from `offset` until it is n samples long."""
    reps = (offset + n) // len(x) + 1
    return np.tile(x, reps)[offset:offset + n]


def babble(path, n, rnd, pool, ami):
    own = {spk for _, _, spk in rttm(os.path.splitext(path)[0] + ".rttm")}
    name = os.path.basename(path)
    sources = []
    # Other spoken sessions with none of this session's voices (at most 2: AMI adds the rest).
    others = []
    for p in sorted(glob.glob(os.path.join(pool, "*.wav"))):
        spk = {s for _, _, s in rttm(os.path.splitext(p)[0] + ".rttm")}
        if os.path.basename(p) != name and spk and not spk & own and not os.path.basename(p).startswith("tmp-"):
            others.append((p, spk))
    rnd.shuffle(others)
    used_voices = set()
    for p, spk in others:
        if len(sources) < 2 and not spk & used_voices:
            sources.append((p, len(spk)))
            used_voices |= spk
    for p in sorted(glob.glob(os.path.join(ami, "ami-*.wav"))):
        try:
            read_wav(p)
        except (ValueError, wave.Error):
            continue  # e.g. the 32-bit float clip
        sources.append((p, len({s for _, _, s in rttm(os.path.splitext(p)[0] + ".rttm")}) or 1))
    talkers = sum(k for _, k in sources)
    if talkers < 4:
        raise SystemExit(f"{path}: only {talkers} babble talkers found")
    mix = np.zeros(n)
    for p, _ in sources:
        y = read_wav(p)
        y = y / (np.sqrt(np.mean(y ** 2)) + 1e-12)  # each source at the same level
        mix += loop_to(y, n, rnd.randrange(len(y)))
    return mix, talkers, [os.path.basename(p) for p, _ in sources]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("spec", help="white:SNR or babble:SNR (dB)")
    ap.add_argument("out")
    ap.add_argument("wavs", nargs="+")
    ap.add_argument("--pool", default=os.path.join(HERE, ".cache", "audio"))
    ap.add_argument("--ami", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "audio"))
    a = ap.parse_args()
    kind, _, snr = a.spec.partition(":")
    if kind not in ("white", "babble") or not snr:
        raise SystemExit("noise spec: white:SNR or babble:SNR")
    snr = float(snr)
    os.makedirs(a.out, exist_ok=True)
    for path in a.wavs:
        dst = os.path.join(a.out, os.path.basename(path))
        if os.path.exists(dst):
            continue
        x = read_wav(path)
        # seeded by the session name so a rerun makes the same noise
        rnd = random.Random(f"{a.spec}:{os.path.basename(path)}")
        if kind == "white":
            noise = np.random.default_rng(rnd.randrange(2 ** 32)).standard_normal(len(x))
            info = "white"
        else:
            noise, talkers, names = babble(path, len(x), rnd, a.pool, a.ami)
            info = f"babble of {talkers} talkers from {', '.join(names)}"
        p_speech = speech_power(x, rttm(os.path.splitext(path)[0] + ".rttm"))
        noise *= np.sqrt(p_speech / (np.mean(noise ** 2) * 10 ** (snr / 10)))
        y = x + noise
        peak = np.max(np.abs(y))
        if peak > 1:  # scale both together rather than clip; the SNR is unchanged
            y /= peak
        write_wav(dst, y)
        print(f"noise: {os.path.basename(path)} {info} at {snr:g} dB", file=sys.stderr)


if __name__ == "__main__":
    main()
