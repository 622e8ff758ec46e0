"""Every candidate quiet group on the dumps: its likeness, the voice's spread, and the truth."""
import sys, os
import numpy as np
from oracle import unit, dumps
from quiet import clip, truth, two_means, moments

rows = []
for p in dumps(sys.argv[1]):
    k = clip(p)
    d, E, lab, idxs, dom = k.d, k.E, k.lab, k.idxs, k.dom
    voices = [unit(E[ix].mean(0)) if ix else None for ix in idxs]
    # per-recording spread: mean cosine of windows to their voice centroid
    selfs = [float(np.mean(E[ix] @ voices[c])) for c, ix in enumerate(idxs) if len(ix) >= 8]
    rec_self = float(np.mean(selfs)) if selfs else float('nan')
    for c, idx in enumerate(idxs):
        cur = idx
        for depth in range(3):
            if len(cur) < 8: break
            side, cents = two_means(E[cur])
            small = int((side == 1).sum() * 2 <= len(side))
            grp = [cur[i] for i in range(len(cur)) if side[i] == small]
            if len(grp) < 4: break
            mo = moments([d['shorts'][i] for i in grp])
            if mo >= 2 and len(grp) * 4 <= len(idx):
                rest = [i for i in idx if i not in grp]
                like = max([float(unit(E[rest].mean(0)) @ cents[small])] + [float(v @ cents[small]) for o, v in enumerate(voices) if o != c and v is not None])
                top, frac, hidden = truth(lab, grp, dom)
                tight = float(np.mean(E[grp] @ cents[small]))
                rows.append((os.path.basename(p)[:-5], c, depth, len(grp), mo, like, rec_self, tight, hidden, top[:14], frac))
            cur = grp
for r in sorted(rows, key=lambda r: r[5]):
    print('%-14s v%d d%d n%-3d m%-2d like %.2f self %.2f tight %.2f %s %s %.2f' % r)
