"""Candidate groups (.g.json) scored leave-one-out: is each window nearer the rest of its
group than any voice (the rest of its own voice included)? Removes the self-inclusion that
makes every 2-means group look coherent."""
import sys, os, json
import numpy as np
from oracle import unit, dumps
from quiet import clip, truth

rows = []
for p in dumps(sys.argv[1], '.g.json'):
    k = clip(p[:-7] + '.json')
    E, lab, idxs, dom = k.E, k.lab, k.idxs, k.dom
    V = [unit(E[ix].mean(0)) if ix else None for ix in idxs]
    for g in json.load(open(p)):
        grp = g['windows']; c = g['c']
        if len(grp) * 4 > len(idxs[c]): continue
        rest = [i for i in idxs[c] if i not in grp]
        others = [unit(E[rest].mean(0))] + [V[o] for o in range(len(V)) if o != c and V[o] is not None]
        margins = []
        for x in grp:
            loo = unit(E[[i for i in grp if i != x]].mean(0))
            margins.append(float(E[x] @ loo) - max(float(E[x] @ v) for v in others))
        cen = unit(E[grp].mean(0))
        like = max(float(v @ cen) for v in others)
        top, frac, hidden = truth(lab, grp, dom)
        m = np.array(margins)
        rows.append((os.path.basename(p)[:-7], c, g['depth'], len(grp), like, m.mean(), (m > 0).mean(), np.median(m), 'HIDDEN' if hidden else '-', top[:14], frac))
for r in sorted(rows, key=lambda r: -r[5]):
    print('%-14s v%d d%d n%-3d like %.2f loo-margin mean %+.2f positive %.2f median %+.2f %-6s %s %.2f' % r)
