"""Candidate quiet groups: short-window likeness vs pooled likeness, with truth."""
import sys, os, json
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
        cen = unit(E[grp].mean(0))
        rest = [i for i in idxs[c] if i not in grp]
        like = max([float(unit(E[rest].mean(0)) @ cen)] + [float(v @ cen) for o, v in enumerate(V) if o != c and v is not None])
        top, frac, hidden = truth(lab, grp, dom)
        pl = max(g['pooled']) if g['pooled'] else float('nan')
        rows.append((os.path.basename(p)[:-7], c, g['depth'], len(grp), g['frames'] * 270 / 16000, like, pl, 'HIDDEN' if hidden else '-', top[:14], frac))
for r in sorted(rows, key=lambda r: r[6]):
    print('%-14s v%d d%d n%-3d %.1fs short %.2f pooled %.2f %-6s %s %.2f' % r)
