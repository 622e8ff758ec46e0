"""Candidate groups (.g.json) scored leave-one-out: is each window nearer the rest of its
group than any voice (the rest of its own voice included)? Removes the self-inclusion that
makes every 2-means group look coherent."""
import sys
import numpy as np
from oracle import unit
from quiet import truth, dumped_groups

rows = []
for q in dumped_groups(sys.argv[1]):
    E, idxs = q.k.E, q.k.idxs
    others = [unit(E[q.rest].mean(0))] + [unit(E[ix].mean(0)) for o, ix in enumerate(idxs) if o != q.c and ix]
    margins = []
    for x in q.grp:
        loo = unit(E[[i for i in q.grp if i != x]].mean(0))
        margins.append(float(E[x] @ loo) - max(float(E[x] @ v) for v in others))
    top, frac, hidden = truth(q.k.lab, q.grp, q.k.dom)
    m = np.array(margins)
    rows.append((q.name, q.c, q.g['depth'], len(q.grp), q.like, m.mean(), (m > 0).mean(), np.median(m), 'HIDDEN' if hidden else '-', top[:14], frac))
for r in sorted(rows, key=lambda r: -r[5]):
    print('%-14s v%d d%d n%-3d like %.2f loo-margin mean %+.2f positive %.2f median %+.2f %-6s %s %.2f' % r)
