"""A Python replica of mitool's diarization (mitool-core/src/diarize.rs), for
trying ideas quickly on the same ONNX models before porting them to Rust.

It follows the Rust pipeline step for step (10 s windows, powerset decode,
solo-speech CAM++ embeddings, spectral split + centroid merge, distinct voices
per window, stitching, short-window refinement) but is not a reference: small
differences (float order, k-means details) move DER by a few tenths. It is
how the refinement was found and how the sensitivity grid in MODEL_CARD.md
was measured.

Usage (numpy, scipy, onnxruntime; e.g. the coder's venv):
    models/coder/.venv/bin/python models/diarize/replica.py          # defaults
    models/coder/.venv/bin/python models/diarize/replica.py --grid   # refinement grid
Scores every WAV with an RTTM beside it in ../shared/audio and fixtures/demo.
"""
import argparse
import itertools
import os

import numpy as np
import onnxruntime as ort
import scipy.io.wavfile as wavfile
from scipy.optimize import linear_sum_assignment

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CHUNK, FRAMES, FRAME_STEP, FRAME_CENTRE, RATE = 160_000, 589, 270, 360, 16_000
POWERSET = [[], [0], [1], [2], [0, 1], [0, 2], [1, 2]]

_opts = ort.SessionOptions()
_opts.intra_op_num_threads = 2
SEG = ort.InferenceSession(os.path.join(HERE, "segmentation-3.0.onnx"), _opts)
EMB = ort.InferenceSession(os.path.join(HERE, "campplus.onnx"), _opts)


def load(path):
    _, x = wavfile.read(path)
    x = x.astype(np.float32) / (32768.0 if x.dtype == np.int16 else 1.0)
    return x.mean(axis=1) if x.ndim > 1 else x


def embed(samples):
    if len(samples) < 1600:
        return None
    e = EMB.run(None, {"waveform": samples[None, :].astype(np.float32)})[0][0]
    return e / np.linalg.norm(e) if np.all(np.isfinite(e)) else None


def segment(x, step):
    starts = [0]
    while starts[-1] + CHUNK < len(x):
        starts.append(starts[-1] + step)
    wins = np.zeros((len(starts), 1, CHUNK), np.float32)
    for w, s in enumerate(starts):
        part = x[s:s + CHUNK]
        wins[w, 0, :len(part)] = part
    lp = np.concatenate([SEG.run(None, {"waveform": wins[i:i + 8]})[0] for i in range(0, len(starts), 8)])
    cls = lp.argmax(-1)
    active = np.zeros(cls.shape + (3,), bool)
    for c, ks in enumerate(POWERSET):
        for k in ks:
            active[cls == c, k] = True
    n_frames = -(-len(x) // FRAME_STEP)
    for w, s in enumerate(starts):
        active[w, max(0, n_frames - s // FRAME_STEP):] = False  # padding past the end
    return starts, active, n_frames


def gather(x, start, frames):
    parts = [x[start + i * FRAME_STEP + FRAME_CENTRE:start + i * FRAME_STEP + FRAME_CENTRE + FRAME_STEP]
             for i in frames]
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def kmeans(rows, k):
    centres = [0]
    for _ in range(1, k):
        d = np.min([((rows - rows[j]) ** 2).sum(1) for j in centres], 0)
        centres.append(int(d.argmax()))
    c = rows[centres].copy()
    for _ in range(100):
        lab = np.argmin(((rows[:, None] - c[None]) ** 2).sum(-1), 1)
        new = np.array([rows[lab == j].mean(0) if np.any(lab == j) else c[j] for j in range(k)])
        if np.allclose(new, c):
            break
        c = new
    return lab


def merge(emb, lab, limit, fewest):
    lab = lab.copy()
    while True:
        ids = sorted(set(lab))
        if len(ids) <= max(fewest, 1):
            return lab
        c = np.array([emb[lab == i].sum(0) for i in ids])
        c /= np.linalg.norm(c, axis=1, keepdims=True)
        s = c @ c.T
        np.fill_diagonal(s, -9)
        i, j = np.unravel_index(s.argmax(), s.shape)
        if s[i, j] <= limit:
            return lab
        lab[lab == ids[j]] = ids[i]


def cluster(emb, max_k=4, merge_cosine=0.62, speakers=None, split=True):
    """split=True is the current rule; False the eigengap alone (before)."""
    n = len(emb)
    if n <= 1:
        return np.zeros(n, int)
    sim = emb @ emb.T
    keep = int(np.clip(np.ceil(n * 0.3), min(2, n - 1), n - 1))
    a = np.zeros_like(sim)
    for i in range(n):
        idx = [j for j in np.argsort(-sim[i]) if j != i][:keep]
        a[i, idx] = np.maximum(sim[i, idx], 0)
    a = (a + a.T) / 2
    d = 1 / np.sqrt(np.maximum(a.sum(1), 1e-9))
    vals, vecs = np.linalg.eigh(np.eye(n) - d[:, None] * a * d[None])
    max_k = min(max_k, n)
    if speakers:
        k = min(max(speakers, max_k), n)
    else:
        k = int(np.argmax([(vals[k] if k < n else 2.0) - vals[k - 1] for k in range(1, max_k + 1)])) + 1
        if split:
            k = max_k if k >= 2 else 1
    if speakers is None and n < 6:
        lab = np.arange(n)
    elif k <= 1:
        lab = np.zeros(n, int)
    else:
        rows = vecs[:, :k] / np.maximum(np.linalg.norm(vecs[:, :k], axis=1, keepdims=True), 1e-12)
        lab = kmeans(rows, k)
    lab = merge(emb, lab, -np.inf, speakers) if speakers else merge(emb, lab, merge_cosine, 1)
    return np.unique(lab, return_inverse=True)[1]


def diarize(path, step_s=2.5, min_embed_s=0.5, refine=(1.5, 0.5, 0.05), min_gap=0.8, min_turn=0.1, **kw):
    x = load(path)
    step = max(1, round(step_s * RATE / FRAME_STEP)) * FRAME_STEP
    starts, act, nf = segment(x, step)
    min_alone = int(np.ceil(min_embed_s / (FRAME_STEP / RATE)))
    local = {}
    for w in range(len(starts)):
        for k in range(3):
            alone = np.where(act[w, :, k] & (act[w].sum(1) == 1))[0]
            e = embed(gather(x, starts[w], alone)) if len(alone) >= min_alone else None
            local[(w, k)] = (e, e is not None)
            if e is None and act[w, :, k].any():
                local[(w, k)] = (embed(gather(x, starts[w], np.where(act[w, :, k])[0])), False)
    solo = [(wk, e) for wk, (e, ok) in local.items() if ok]
    emb = np.array([e for _, e in solo])
    lab = cluster(emb, **kw)
    n_clusters = lab.max() + 1
    cents = np.array([emb[lab == c].sum(0) for c in range(n_clusters)])
    cents /= np.linalg.norm(cents, axis=1, keepdims=True)
    assign = -np.ones((len(starts), 3), int)
    for w in range(len(starts)):
        rows = [k for k in range(3) if local.get((w, k), (None,))[0] is not None]
        if not rows:
            continue
        scores = np.array([cents @ local[(w, k)][0] for k in rows])
        best = max(itertools.product(range(n_clusters), repeat=len(rows)),
                   key=lambda p: (len(set(p)), sum(scores[r, c] for r, c in enumerate(p))))
        for r, c in zip(rows, best):
            assign[w, r] = c
    votes, count, speaking = np.zeros((nf, n_clusters)), np.zeros(nf), np.zeros(nf)
    for w, s in enumerate(starts):
        for i in range(min(FRAMES, nf - s // FRAME_STEP)):
            g = s // FRAME_STEP + i
            count[g] += 1
            speaking[g] += act[w, i].sum()
            for c in {assign[w, k] for k in range(3) if act[w, i, k] and assign[w, k] >= 0}:
                votes[g, c] += 1
    active = np.zeros((nf, n_clusters), bool)
    for g in np.where(count > 0)[0]:
        n = min(int(np.round(speaking[g] / count[g])), n_clusters)
        order = [c for c in np.argsort(-votes[g], kind="stable") if votes[g, c] > 0][:n]
        active[g, order] = True
    if refine and n_clusters > 1:
        length, hop, margin = int(refine[0] * RATE), int(refine[1] * RATE), refine[2]
        length = min(length, len(x))
        sims, cover = np.zeros((nf, n_clusters)), np.zeros(nf)
        speech = active.any(1)
        g = 0
        while g < nf:
            if not speech[g]:
                g += 1
                continue
            a = g
            while g < nf and speech[g]:
                g += 1
            s0, s1 = a * FRAME_STEP + FRAME_CENTRE, g * FRAME_STEP + FRAME_CENTRE
            if s1 - s0 <= length:
                wins = [max(0, (s0 + s1) // 2 - length // 2)]
            else:
                n = -(-(s1 - s0 - length) // hop) + 1
                wins = [s0 + round((s1 - s0 - length) * i / max(n - 1, 1)) for i in range(n)]
            for st in wins:
                st = min(st, len(x) - length)
                e = embed(x[st:st + length])
                if e is None:
                    continue
                lo = max(0, st - FRAME_CENTRE) // FRAME_STEP
                hi = min(nf, max(0, st + length - FRAME_CENTRE) // FRAME_STEP + 1)
                sims[lo:hi] += cents @ e
                cover[lo:hi] += 1
        for g in np.where((cover > 0) & (active.sum(1) == 1))[0]:
            cur, best = int(np.argmax(active[g])), int(np.argmax(sims[g]))
            if best != cur and (sims[g, best] - sims[g, cur]) / cover[g] > margin:
                active[g] = False
                active[g, best] = True
    t = lambda g: (g * FRAME_STEP + FRAME_CENTRE) / RATE  # noqa: E731
    turns = []
    for c in range(n_clusters):
        flags = np.concatenate([[False], active[:, c], [False]]).astype(int)
        edges = np.flatnonzero(np.diff(flags))
        for a, b in zip(edges[::2], edges[1::2]):
            start, end = t(a), min(t(b), len(x) / RATE)
            if turns and turns[-1][2] == c and start - turns[-1][1] < min_gap:
                turns[-1][1] = max(turns[-1][1], end)
            else:
                turns.append([start, end, c])
    return [tuple(tr) for tr in turns if tr[1] - tr[0] >= min_turn], n_clusters


def read_rttm(path):
    labels, turns = {}, []
    for line in open(path):
        f = line.split()
        if f and f[0] == "SPEAKER":
            s = float(f[3])
            turns.append((s, s + float(f[4]), labels.setdefault(f[7], len(labels))))
    return turns


def der(ref, hyp, collar=0.25, step=0.01):
    """As mitool's `diarize::der`: 10 ms frames, collar around reference edges, overlap scored."""
    end = max(t[1] for t in ref + hyp)
    tm = (np.arange(int(np.ceil(end / step)) + 1) + 0.5) * step
    r = np.zeros((len(tm), max(t[2] for t in ref) + 1), bool)
    h = np.zeros((len(tm), max([t[2] for t in hyp], default=0) + 1), bool)
    scored = np.ones(len(tm), bool)
    for s, e, k in ref:
        r[(tm >= s) & (tm < e), k] = True
        scored &= (np.abs(tm - s) >= collar) & (np.abs(tm - e) >= collar)
    for s, e, k in hyp:
        h[(tm >= s) & (tm < e), k] = True
    r, h = r[scored], h[scored]
    shared = np.array([[np.sum(r[:, i] & h[:, j]) for j in range(h.shape[1])] for i in range(r.shape[1])])
    ri, ci = linear_sum_assignment(-shared)
    nr, nh = r.sum(1), h.sum(1)
    matched = shared[ri, ci].sum()
    errors = np.maximum(nr - nh, 0).sum() + np.maximum(nh - nr, 0).sum() + (np.minimum(nr, nh).sum() - matched)
    return errors / nr.sum()


def clips():
    out = []
    for d in [os.path.join(ROOT, "..", "shared", "audio"), os.path.join(ROOT, "fixtures", "demo")]:
        if os.path.isdir(d):
            out += [os.path.join(d, f) for f in sorted(os.listdir(d))
                    if f.endswith(".wav") and os.path.exists(os.path.join(d, f[:-4] + ".rttm"))]
    return out


def report(**kw):
    parts = []
    for wav in clips():
        hyp, n = diarize(wav, **kw)
        parts.append(f"{os.path.basename(wav)[:-4]} {n} spk {100 * der(read_rttm(wav[:-4] + '.rttm'), hyp):.1f}%")
    return " | ".join(parts)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--grid", action="store_true", help="refinement window x hop x margin")
    args = ap.parse_args()
    print("no refinement:", report(refine=None))
    print("defaults     :", report())
    if args.grid:
        for length, hop, margin in itertools.product([1.0, 1.5], [0.25, 0.5], [0.0, 0.05, 0.1]):
            print(f"{length} s / {hop} s / {margin}:", report(refine=(length, hop, margin)))
