"""Candidate groups scored with each window's own scale: a short line scores lower against
everyone, so each window's cosine with a voice is taken relative to its cosines with every
other window of the recording (z-score: minus their mean, over their spread)."""
import sys, os, json
import numpy as np
from oracle import unit, dumps
from quiet import clip, truth

rows = []
for p in dumps(sys.argv[1], '.g.json'):
    k = clip(p[:-7] + '.json')
    d, A, E, lab, idxs, dom = k.d, k.A, k.E, k.lab, k.idxs, k.dom
    S = E @ E.T
    sh = d['shorts']
    far = np.array([[sh[i]['b'] <= sh[j]['a'] or sh[j]['b'] <= sh[i]['a'] for j in range(len(sh))] for i in range(len(sh))])
    mu = np.array([S[i][far[i]].mean() for i in range(len(sh))])
    sd = np.array([S[i][far[i]].std() for i in range(len(sh))])
    for g in json.load(open(p)):
        grp = g['windows']; c = g['c']
        if len(grp) * 4 > len(idxs[c]): continue
        refs = []
        for o, ix in enumerate(idxs):
            ix = [i for i in ix if i not in grp]
            if ix:
                refs.append(unit(E[ix].mean(0)))
        z = max(float(np.mean([(E[w] @ v - mu[w]) / sd[w] for w in grp])) for v in refs)
        cen = unit(E[grp].mean(0))
        like = max(float(v @ cen) for v in refs)
        top, frac, hidden = truth(lab, grp, dom)
        rows.append((os.path.basename(p)[:-7], c, g['depth'], len(grp), like, z, float(np.mean(mu[grp])), 'HIDDEN' if hidden else '-', top[:14], frac))
for r in sorted(rows, key=lambda r: r[5]):
    print('%-14s v%d d%d n%-3d like %.2f z %+.2f (window mean cos %.2f) %-6s %s %.2f' % r)
