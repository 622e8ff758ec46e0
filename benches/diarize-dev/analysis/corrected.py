"""Candidate groups (find_quiet's 2-means groups, .g.json) scored by the
off-diagonal likeness: mean cross cosine / sqrt(mean within G x mean within X), pairs of
distinct windows only, so a small group's self-pairs do not lower it."""
import sys, os, json, glob
import numpy as np
from oracle import load, unit, dumps
from quiet import active_matrix, speech_owners

def offdiag(S):
    n = S.shape[0]
    return (S.sum() - np.trace(S)) / max(n * (n - 1), 1)

def corrected(E, G, X):
    cross = float((E[G] @ E[X].T).mean())
    wg = offdiag(E[G] @ E[G].T); wx = offdiag(E[X] @ E[X].T)
    return cross / np.sqrt(max(wg, 1e-3) * max(wx, 1e-3)), wg

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
        cl = [corrected(E, grp, rest)[0]] + [corrected(E, grp, idxs[o])[0] for o in range(len(idxs)) if o != c and len(idxs[o]) >= 2]
        wg = corrected(E, grp, rest)[1]
        vals, cnt = np.unique([lab[i] for i in grp], return_counts=True)
        top = vals[np.argmax(cnt)]; frac = cnt.max() / len(grp)
        hidden = top not in dom and frac >= 0.6
        rows.append((os.path.basename(p)[:-7], c, g['depth'], len(grp), like, max(cl), wg, 'HIDDEN' if hidden else '-', top[:14], frac))
for r in sorted(rows, key=lambda r: r[5]):
    print('%-14s v%d d%d n%-3d like %.2f corrected %.2f within %.2f %-6s %s %.2f' % r)
