"""Voices with few windows of their own before find_quiet: kept or merged, and the truth."""
import sys, os
from oracle import unit, dumps
from quiet import clip, truth

for p in dumps(sys.argv[1]):
    k = clip(p)
    A, E, lab, idxs = k.A, k.E, k.lab, k.idxs
    V = [unit(E[ix].mean(0)) if ix else None for ix in idxs]
    tops = [(truth(lab, ix)[0], len(ix)) if ix else (None, 0) for ix in idxs]
    for c, ix in enumerate(idxs):
        if len(ix) >= 16: continue
        like = max([float(V[c] @ V[o]) for o in range(len(V)) if o != c and V[o] is not None] or [float('nan')]) if V[c] is not None else float('nan')
        top = tops[c][0]
        # real if no bigger voice has the same top speaker
        real = top is not None and not any(tops[o][0] == top and tops[o][1] > len(ix) for o in range(len(V)) if o != c)
        print('%-14s voice %d of %d: %2d windows, speech %.1fs, like %.2f top %s %s' % (
            os.path.basename(p)[:-5], c, len(V), len(ix), A[c].sum() * 270 / 16000, like, top and top[:14], 'REAL' if real else 'dup'))
