"""A second speaker model on the same short windows: Resemblyzer's GE2E voice encoder (3-layer
LSTM on 40 mel bands, trained on 1.6 s partials; weights in the Resemblyzer wheel, RZ=path to its
unpacked package). Writes <clip>.ge2e.npy beside each dump: one embedding per short window."""
import sys, os
import numpy as np
import torch, librosa
from scipy.io import wavfile
from oracle import dumps, AUD
import json

RZ = os.environ['RZ']
ck = torch.load(os.path.join(RZ, 'pretrained.pt'), map_location='cpu')
lstm = torch.nn.LSTM(40, 256, 3, batch_first=True); lin = torch.nn.Linear(256, 256)
sd = ck['model_state']
lstm.load_state_dict({k[5:]: v for k, v in sd.items() if k.startswith('lstm.')})
lin.load_state_dict({k[7:]: v for k, v in sd.items() if k.startswith('linear.')})
torch.set_num_threads(2)

for p in dumps(sys.argv[1], need_ref=False):
    out = p[:-5] + '.ge2e.npy'
    if os.path.exists(out): continue
    stem = os.path.basename(p)[:-5]
    wavp = os.path.join(AUD, stem + '.wav')
    if not os.path.exists(wavp): continue
    d = json.load(open(p))
    sr, x = wavfile.read(wavp)
    x = x.astype(np.float32) / (32768 if x.dtype == np.int16 else 1)
    if x.ndim > 1: x = x.mean(1)
    rms = np.sqrt(np.mean((x * 32767) ** 2)); ch = -30 - 20 * np.log10(rms / 32767)
    if ch > 0: x = x * 10 ** (ch / 20)
    mel = librosa.feature.melspectrogram(y=x, sr=16000, n_fft=400, hop_length=160, n_mels=40).astype(np.float32).T
    step, centre = d['frame_step'], d['frame_centre']
    segs = []
    for s in d['shorts']:
        a = int((s['a'] * step + centre) / 160); b = int((s['b'] * step + centre) / 160)
        segs.append(mel[a:max(b, a + 1)])
    L = max(len(m) for m in segs)
    embs = []
    with torch.no_grad():
        for i in range(0, len(segs), 256):
            # same length windows (1.5 s) nearly always; group by length for the LSTM
            batch = segs[i:i + 256]
            for n in sorted(set(len(m) for m in batch)):
                idx = [j for j, m in enumerate(batch) if len(m) == n]
                t = torch.from_numpy(np.stack([batch[j] for j in idx]))
                _, (h, _) = lstm(t)
                e = torch.relu(lin(h[-1])); e = e / e.norm(dim=1, keepdim=True)
                for j, v in zip(idx, e.numpy()):
                    embs.append((i + j, v))
    embs.sort(key=lambda t: t[0])
    np.save(out, np.stack([v for _, v in embs]))
    print(stem, len(embs), flush=True)
