"""Candidate groups scored with each window's own scale: a short line scores lower against
everyone, so each window's cosine with a voice is taken relative to its cosines with every
other window of the recording (z-score: minus their mean, over their spread)."""
import sys, os, json
import numpy as np
from oracle import load, unit, dumps
from quiet import active_matrix, speech_owners

rows = []
for p in dumps(sys.argv[1], '.g.json'):
    d, segs, spk, W, talk = load(p[:-7] + '.json')
    d = dict(d, active=json.load(open(p[:-7] + '.q.json'))['active'])
    A = active_matrix(d)
    own = speech_owners(A, d['shorts'])
    E = np.stack([w[3] for w in W]); lab = [w[0] for w in W]
    S = E @ E.T
    sh = d['shorts']
    far = np.array([[sh[i]['b'] <= sh[j]['a'] or sh[j]['b'] <= sh[i]['a'] for j in range(len(sh))] for i in range(len(sh))])
    mu = np.array([S[i][far[i]].mean() for i in range(len(sh))])
    sd = np.array([S[i][far[i]].std() for i in range(len(sh))])
    idxs = [[i for i, o in enumerate(own) if o == c] for c in range(A.shape[0])]
    dom = set()
    for ix in idxs:
        if len(ix) >= 4:
            vals, cnt = np.unique([lab[i] for i in ix], return_counts=True)
            dom.add(vals[np.argmax(cnt)])
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
        vals, cnt = np.unique([lab[i] for i in grp], return_counts=True)
        top = vals[np.argmax(cnt)]; frac = cnt.max() / len(grp)
        hidden = top not in dom and frac >= 0.6
        rows.append((os.path.basename(p)[:-7], c, g['depth'], len(grp), like, z, float(np.mean(mu[grp])), 'HIDDEN' if hidden else '-', top[:14], frac))
for r in sorted(rows, key=lambda r: r[5]):
    print('%-14s v%d d%d n%-3d like %.2f z %+.2f (window mean cos %.2f) %-6s %s %.2f' % r)
