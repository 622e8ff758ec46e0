"""Candidate groups (find_quiet's 2-means groups, .g.json) scored by the
off-diagonal likeness: mean cross cosine / sqrt(mean within G x mean within X), pairs of
distinct windows only, so a small group's self-pairs do not lower it."""
import sys
import numpy as np
from quiet import truth, dumped_groups

def offdiag(S):
    n = S.shape[0]
    return (S.sum() - np.trace(S)) / max(n * (n - 1), 1)

def corrected(E, G, X):
    cross = float((E[G] @ E[X].T).mean())
    wg = offdiag(E[G] @ E[G].T); wx = offdiag(E[X] @ E[X].T)
    return cross / np.sqrt(max(wg, 1e-3) * max(wx, 1e-3)), wg

rows = []
for q in dumped_groups(sys.argv[1]):
    E, idxs = q.k.E, q.k.idxs
    cl = [corrected(E, q.grp, q.rest)[0]] + [corrected(E, q.grp, idxs[o])[0] for o in range(len(idxs)) if o != q.c and len(idxs[o]) >= 2]
    wg = corrected(E, q.grp, q.rest)[1]
    top, frac, hidden = truth(q.k.lab, q.grp, q.k.dom)
    rows.append((q.name, q.c, q.g['depth'], len(q.grp), q.like, max(cl), wg, 'HIDDEN' if hidden else '-', top[:14], frac))
for r in sorted(rows, key=lambda r: r[5]):
    print('%-14s v%d d%d n%-3d like %.2f corrected %.2f within %.2f %-6s %s %.2f' % r)
