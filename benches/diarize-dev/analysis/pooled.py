"""Candidate quiet groups: short-window likeness vs pooled likeness, with truth."""
import sys, os, json, glob
import numpy as np
from oracle import load, unit, dumps
from quiet import active_matrix, speech_owners

rows = []
for p in dumps(sys.argv[1], '.g.json'):
    base = p[:-7] + '.json'
    d, segs, spk, W, talk = load(base)
    d = dict(d, active=json.load(open(p[:-7] + '.q.json'))['active'])
    A = active_matrix(d)
    own = speech_owners(A, d['shorts'])
    E = np.stack([w[3] for w in W]); lab = [w[0] for w in W]
    idxs = [[i for i, o in enumerate(own) if o == c] for c in range(A.shape[0])]
    V = [unit(E[ix].mean(0)) if ix else None for ix in idxs]
    dom = set()
    for ix in idxs:
        if len(ix) >= 4:
            vals, cnt = np.unique([lab[i] for i in ix], return_counts=True)
            dom.add(vals[np.argmax(cnt)])
    for g in json.load(open(p)):
        grp = g['windows']; c = g['c']
        if len(grp) * 4 > len(idxs[c]): continue
        cen = unit(E[grp].mean(0))
        rest = [i for i in idxs[c] if i not in grp]
        like = max([float(unit(E[rest].mean(0)) @ cen)] + [float(v @ cen) for o, v in enumerate(V) if o != c and v is not None])
        vals, cnt = np.unique([lab[i] for i in grp], return_counts=True)
        top = vals[np.argmax(cnt)]; frac = cnt.max() / len(grp)
        hidden = top not in dom and frac >= 0.6
        pl = max(g['pooled']) if g['pooled'] else float('nan')
        rows.append((os.path.basename(p)[:-7], c, g['depth'], len(grp), g['frames'] * 270 / 16000, like, pl, 'HIDDEN' if hidden else '-', top[:14], frac))
for r in sorted(rows, key=lambda r: r[6]):
    print('%-14s v%d d%d n%-3d %.1fs short %.2f pooled %.2f %-6s %s %.2f' % r)
