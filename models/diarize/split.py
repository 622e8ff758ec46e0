#!/usr/bin/env python3
"""Split campplus.onnx at its statistics pooling into two models.

  campplus-frames.onnx  waveform [B,S] f32 (S >= 8000) -> frames [B,512,T], T = ceil((1 + (S-400)//160) / 2):
                        fbank, FCM and the D-TDNN blocks; frame t is centred on sample 320 t + 200
  campplus-pool.onnx    stats [B,1024] (mean then standard deviation, n-1, over frames) -> embedding [B,192]

Pooling every frame of an input through campplus-pool gives campplus.onnx's
embedding (checked here on random and silent inputs). mitool runs the frame
model once over a recording and pools the frames of each stretch it needs
(mitool-core/src/diarize/frames.rs).

Usage: python split.py [DIR]   (DIR holds campplus.onnx; default: this folder)
Needs: onnx, onnxruntime, numpy (requirements.txt).
"""
import hashlib
import sys
from pathlib import Path

import numpy as np
import onnx
import onnx.utils
import onnxruntime as ort

FRAMES = "/xvector/out_nonlinear/relu/Relu_output_0"
STATS = "/xvector/stats/Concat_output_0"


def rename(path: Path, old: str, new: str) -> None:
    m = onnx.load(str(path))
    for node in m.graph.node:
        node.input[:] = [new if i == old else i for i in node.input]
        node.output[:] = [new if o == old else o for o in node.output]
    for v in list(m.graph.input) + list(m.graph.output):
        if v.name == old:
            v.name = new
    onnx.checker.check_model(m)
    onnx.save(m, str(path))


def main() -> None:
    d = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    full = d / "campplus.onnx"
    frames, pool = d / "campplus-frames.onnx", d / "campplus-pool.onnx"
    onnx.utils.extract_model(str(full), str(frames), ["waveform"], [FRAMES])
    rename(frames, FRAMES, "frames")
    onnx.utils.extract_model(str(full), str(pool), [STATS], ["embedding"])
    rename(pool, STATS, "stats")

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    s_full, s_frames, s_pool = (ort.InferenceSession(str(p), opts) for p in (full, frames, pool))
    rng = np.random.default_rng(0)
    worst = 0.0
    for n in (8000, 12345, 48000, 160000):
        for x in (0.1 * rng.standard_normal((1, n)), np.full((1, n), 1e-4)):
            x = x.astype(np.float32)
            want = s_full.run(None, {"waveform": x})[0][0]
            f = s_frames.run(None, {"waveform": x})[0][0]
            assert f.shape[1] == -(-(1 + (n - 400) // 160) // 2), (n, f.shape)
            stats = np.concatenate([f.mean(1), f.std(1, ddof=1)])[None].astype(np.float32)
            got = s_pool.run(None, {"stats": stats})[0][0]
            worst = max(worst, float(np.abs(got - want).max() / np.abs(want).max()))
    assert worst < 1e-4, worst
    print(f"split {full.name}: frames + pool reproduce it (max relative difference {worst:.1e})")
    for p in (frames, pool):
        print(f"{p.name}  sha256 {hashlib.sha256(p.read_bytes()).hexdigest()}  (models/manifest.toml)")


if __name__ == "__main__":
    main()
