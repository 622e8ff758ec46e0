"""Pitch as evidence for the quiet person: each short window's median F0 (autocorrelation,
70-450 Hz, voiced 30 ms frames), the quiet person's pure windows against the voice they were
merged into and every other person's. Prints per clip: medians in semitones re 100 Hz and the
spread (IQR) of each person's windows."""
import sys, os
import numpy as np
from scipy.io import wavfile
from oracle import load, dumps, AUD

def f0_track(x, sr=16000, lo=70, hi=450):
    n, hop = int(0.04 * sr), int(0.01 * sr)
    out = []
    lmin, lmax = sr // hi, sr // lo
    for s in range(0, len(x) - n, hop):
        f = x[s:s + n] - x[s:s + n].mean()
        e = f @ f
        if e < 1e-6 * n:
            out.append(np.nan); continue
        ac = np.correlate(f, f, 'full')[n - 1:]
        ac = ac / (ac[0] + 1e-12)
        seg = ac[lmin:lmax]
        k = int(np.argmax(seg))
        out.append(sr / (k + lmin) if seg[k] > 0.5 else np.nan)
    return np.array(out)

def st(f):
    return 12 * np.log2(f / 100)

for p in dumps(sys.argv[1]):
    stem = os.path.basename(p)[:-5]
    if not stem.startswith(('ktune', 'qtune')):
        continue
    d, segs, spk, W, talk = load(p)
    sr, x = wavfile.read(os.path.join(AUD, stem + '.wav'))
    x = x.astype(np.float32) / (32768 if x.dtype == np.int16 else 1)
    if x.ndim > 1: x = x.mean(1)
    step, centre = d['frame_step'], d['frame_centre']
    t = lambda g: (g * step + centre) / 16000
    # pitch of each true speaker's speech only, per pure window
    med = {k: [] for k in spk}
    for s, w in zip(d['shorts'], W):
        k, pur, speech, _ = w
        if pur < 0.8 or speech < 0.5: continue
        a, b = t(s['a']), t(s['b'])
        tr = f0_track(x[int(a * sr):int(b * sr)])
        v = tr[~np.isnan(tr)]
        if len(v) >= 10:
            med[k].append(np.median(st(v)))
    q = min(talk, key=talk.get)
    parts = []
    for k in sorted(spk, key=lambda k: -talk[k]):
        m = np.array(med[k])
        if len(m) == 0: parts.append('%s: -' % k[:10]); continue
        parts.append('%s%s: %5.1f [%4.1f] n%d' % ('*' if k == q else '', k[:10], np.median(m), np.subtract(*np.percentile(m, [75, 25])), len(m)))
    print('%-14s %s' % (stem, ' | '.join(parts)))
