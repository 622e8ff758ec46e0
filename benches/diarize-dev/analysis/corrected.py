"""Candidate groups (find_quiet's 2-means groups, .g.json) scored by the
off-diagonal likeness: mean cross cosine / sqrt(mean within G x mean within X), pairs of
distinct windows only, so a small group's self-pairs do not lower it."""
import sys, os, json
import numpy as np
from oracle import unit, dumps
from quiet import clip, truth

def offdiag(S):
    n = S.shape[0]
    return (S.sum() - np.trace(S)) / max(n * (n - 1), 1)

def corrected(E, G, X):
    cross = float((E[G] @ E[X].T).mean())
    wg = offdiag(E[G] @ E[G].T); wx = offdiag(E[X] @ E[X].T)
    return cross / np.sqrt(max(wg, 1e-3) * max(wx, 1e-3)), wg

rows = []
for p in dumps(sys.argv[1], '.g.json'):
    k = clip(p[:-7] + '.json')
    E, lab, idxs, dom = k.E, k.lab, k.idxs, k.dom
    V = [unit(E[ix].mean(0)) if ix else None for ix in idxs]
    for g in json.load(open(p)):
        grp = g['windows']; c = g['c']
        if len(grp) * 4 > len(idxs[c]): continue
        cen = unit(E[grp].mean(0))
        rest = [i for i in idxs[c] if i not in grp]
        like = max([float(unit(E[rest].mean(0)) @ cen)] + [float(v @ cen) for o, v in enumerate(V) if o != c and v is not None])
        cl = [corrected(E, grp, rest)[0]] + [corrected(E, grp, idxs[o])[0] for o in range(len(idxs)) if o != c and len(idxs[o]) >= 2]
        wg = corrected(E, grp, rest)[1]
        top, frac, hidden = truth(lab, grp, dom)
        rows.append((os.path.basename(p)[:-7], c, g['depth'], len(grp), like, max(cl), wg, 'HIDDEN' if hidden else '-', top[:14], frac))
for r in sorted(rows, key=lambda r: r[5]):
    print('%-14s v%d d%d n%-3d like %.2f corrected %.2f within %.2f %-6s %s %.2f' % r)
