#!/usr/bin/env python3
"""campplus-frames-int8.onnx: CAM++'s frame model with int8 convolutions.

Static quantization (QDQ, weights int8 per output channel, activations uint8 with ranges
calibrated on CALIBRATION audio), batch norms folded into the convolutions first. Kept
float: the in-graph fbank (its log needs the range) and the context masks of each CAM block
(linear1/linear2 on pooled segment means: tiny, and every frame is scaled by them).

Why: CAM++ is half of diarization's time on 2 cores; int8 runs a 32 s chunk in 0.17 s
instead of 0.22 s (festival-130, 304 s: diarization 4.4 -> 4.0 s). What it costs is printed:
cosine between float and int8 embeddings pooled from 0.5, 1.5 and 5 s of frames of the
CHECK audio. Whether it is good enough rests on benches/diarize-dev (MODEL_CARD.md, "Int8").
pyannote segmentation with int8 LSTMs (dynamic) was tried and is not made here: it split
ami-dev00's main speaker in two (MODEL_CARD.md).

Usage: python quantize.py DIR --calibration WAV... --check WAV...
  DIR holds campplus-frames.onnx and campplus-pool.onnx; the output goes there.
Needs: onnx, onnxruntime (its quantization tools), numpy (requirements.txt); WAVs 16 kHz 16-bit.
"""
import argparse
import hashlib
import tempfile
import wave
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process

SR = 16000
CALIB_S = 8  # seconds per calibration input
CALIB_MAX = 24  # inputs (enough for stable min/max; more only costs time)


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getframerate() == SR and w.getsampwidth() == 2, f"{path}: need 16 kHz 16-bit"
        x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
        return x.reshape(-1, w.getnchannels()).mean(axis=1)


class Chunks(CalibrationDataReader):
    def __init__(self, wavs: list[Path]):
        xs = []
        for p in wavs:
            a = read_wav(p)
            n = CALIB_S * SR
            xs += [a[s : s + n][None, :] for s in range(0, len(a) - n, n)]
        self.it = iter(xs[:CALIB_MAX])

    def get_next(self):
        x = next(self.it, None)
        return None if x is None else {"waveform": x}


def session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def quantize_campplus(d: Path, calibration: list[Path]) -> Path:
    out = d / "campplus-frames-int8.onnx"
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        # Folds batch norms into the convolutions first, so they are quantized with them.
        quant_pre_process(str(d / "campplus-frames.onnx"), str(pre), skip_symbolic_shape=True)
        names = [n.name for n in onnx.load(str(pre)).graph.node]
        keep = [
            n
            for n in names
            if n.startswith("/fbank") or "cam_layer/linear1" in n or "cam_layer/linear2" in n
        ]
        quantize_static(
            str(pre),
            str(out),
            Chunks(calibration),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv"],
            nodes_to_exclude=keep,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"CalibMovingAverage": True},
        )
    return out


def check_campplus(d: Path, int8: Path, wavs: list[Path]) -> float:
    f32, q8, pool = (session(p) for p in (d / "campplus-frames.onnx", int8, d / "campplus-pool.onnx"))
    rng = np.random.default_rng(0)
    worst = 1.0
    for p in wavs:
        a = read_wav(p)[: 32 * SR][None, :]
        fa = f32.run(None, {"waveform": a})[0][0]
        fb = q8.run(None, {"waveform": a})[0][0]
        t = fa.shape[1]
        cos = {}
        for frames in (25, 75, 250):  # 0.5, 1.5, 5 s
            if t <= frames:
                continue
            starts = rng.integers(0, t - frames, 20)

            def emb(f):
                st = np.stack(
                    [np.concatenate([f[:, s : s + frames].mean(1), f[:, s : s + frames].std(1, ddof=1)]) for s in starts]
                ).astype(np.float32)
                e = pool.run(None, {"stats": st})[0]
                return e / np.linalg.norm(e, axis=1, keepdims=True)

            c = (emb(fa) * emb(fb)).sum(1)
            cos[frames * 0.02] = (float(c.mean()), float(c.min()))
            worst = min(worst, float(c.min()))
        print(f"{p.name}: CAM++ int8 vs float, cosine mean/min by window: "
              + ", ".join(f"{s:g} s {m:.4f}/{w:.4f}" for s, (m, w) in cos.items()))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", type=Path)
    ap.add_argument("--calibration", type=Path, nargs="+", required=True)
    ap.add_argument("--check", type=Path, nargs="+", required=True)
    args = ap.parse_args()
    cam = quantize_campplus(args.dir, args.calibration)
    worst = check_campplus(args.dir, cam, args.check)
    print(f"{cam.name}: sha256 {hashlib.sha256(cam.read_bytes()).hexdigest()}, {cam.stat().st_size} bytes")
    # Gross failures only; whether int8 is good enough is measured by DER (MODEL_CARD.md).
    assert worst > 0.95, f"CAM++ int8 embeddings drifted: worst cosine {worst:.3f}"


if __name__ == "__main__":
    main()
