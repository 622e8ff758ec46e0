"""Turns embedded whole (a voice's runs of solo frames, CAM++ statistics pooled over the run;
`.t.json` of dump.patch): are the quiet person's short turns apart from the other people's
short turns? Per clip: median pairwise cosine of short turns (< MAX_S) within the quiet person,
within the others, and across (quiet vs the most alike other person)."""
import sys, os, json
import numpy as np
from oracle import dumps, AUD

MAX_S = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
FRAME_S = 270 / 16000
res = []
for p in dumps(sys.argv[1], '.t.json'):
    stem = os.path.basename(p)[:-7]
    segs = [(float(f[3]), float(f[3]) + float(f[4]), f[7]) for f in (l.split() for l in open(os.path.join(AUD, stem.replace('-far', '') + '.rttm')))]
    talk = {}
    for x, y, k in segs: talk[k] = talk.get(k, 0) + y - x
    q = min(talk, key=talk.get)
    T = json.load(open(p))
    lab, E, dur = [], [], []
    for t in T:
        a, b = t['a'] * FRAME_S, t['b'] * FRAME_S
        cov = {}
        for x, y, k in segs:
            cov[k] = cov.get(k, 0) + max(0, min(b, y) - max(a, x))
        k = max(cov, key=cov.get)
        if sum(cov.values()) == 0 or cov[k] / sum(cov.values()) < 0.8 or b - a > MAX_S or b - a < 0.3:
            continue
        lab.append(k); E.append(np.array(t['emb'])); dur.append(b - a)
    if not E: continue
    E = np.stack(E); lab = np.array(lab); S = E @ E.T
    qi = np.where(lab == q)[0]
    def med(a, b, same):
        v = [S[i, j] for i in a for j in b if (i < j if same else True)]
        return np.median(v) if v else np.nan
    others = [k for k in set(lab) if k != q]
    within_q = med(qi, qi, True)
    within_o = np.nanmedian([med(np.where(lab == k)[0], np.where(lab == k)[0], True) for k in others]) if others else np.nan
    cross = np.nanmax([med(qi, np.where(lab == k)[0], False) for k in others]) if others and len(qi) else np.nan
    res.append((stem, len(qi), within_q, within_o, cross))
    print('%-14s quiet short turns %2d: within %.2f | others within %.2f | quiet vs nearest other %.2f' % (stem, len(qi), within_q, within_o, cross))
r = np.array([x[2:] for x in res], float)
print('median over clips: quiet within %.2f, others within %.2f, across %.2f' % tuple(np.nanmedian(r, 0)))
