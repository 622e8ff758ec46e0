"""Every candidate quiet group on the dumps: its likeness, the voice's spread, and the truth."""
import sys, os
import numpy as np
from oracle import unit, dumps
from quiet import clip, truth, moments, depth_groups, likeness

rows = []
for p in dumps(sys.argv[1]):
    k = clip(p)
    E = k.E
    voices = [unit(E[ix].mean(0)) if ix else None for ix in k.idxs]
    # per-recording spread: mean cosine of windows to their voice centroid
    selfs = [float(np.mean(E[ix] @ voices[c])) for c, ix in enumerate(k.idxs) if len(ix) >= 8]
    rec_self = float(np.mean(selfs)) if selfs else float('nan')
    for c in range(len(k.idxs)):
        for depth, grp, centre in depth_groups(E, k, c):
            top, frac, hidden = truth(k.lab, grp, k.dom)
            tight = float(np.mean(E[grp] @ centre))
            mo = moments([k.d['shorts'][i] for i in grp])
            rows.append((os.path.basename(p)[:-5], c, depth, len(grp), mo, likeness(E, k, c, grp, centre), rec_self, tight, hidden, top[:14], frac))
for r in sorted(rows, key=lambda r: r[5]):
    print('%-14s v%d d%d n%-3d m%-2d like %.2f self %.2f tight %.2f %s %s %.2f' % r)
