"""Voices with few windows of their own before find_quiet: kept or merged, and the truth."""
import sys, os, json, glob
import numpy as np
from oracle import load, unit, dumps
from quiet import active_matrix, speech_owners

for p in dumps(sys.argv[1]):
    d, segs, spk, W, talk = load(p)
    q = p[:-5] + '.q.json'
    if os.path.exists(q):
        d = dict(d, active=json.load(open(q))['active'])
    A = active_matrix(d)
    own = speech_owners(A, d['shorts'])
    E = np.stack([w[3] for w in W]); lab = [w[0] for w in W]
    idxs = [[i for i, o in enumerate(own) if o == c] for c in range(A.shape[0])]
    V = [unit(E[ix].mean(0)) if ix else None for ix in idxs]
    tops = []
    for ix in idxs:
        if ix:
            vals, cnt = np.unique([lab[i] for i in ix], return_counts=True)
            tops.append((vals[np.argmax(cnt)], cnt.max(), len(ix)))
        else:
            tops.append((None, 0, 0))
    for c, ix in enumerate(idxs):
        if len(ix) >= 16: continue
        like = max([float(V[c] @ V[o]) for o in range(len(V)) if o != c and V[o] is not None] or [float('nan')]) if V[c] is not None else float('nan')
        top = tops[c][0]
        # real if no bigger voice has the same top speaker
        real = top is not None and not any(tops[o][0] == top and tops[o][2] > len(ix) for o in range(len(V)) if o != c)
        print('%-14s voice %d of %d: %2d windows, speech %.1fs, like %.2f top %s %s' % (
            os.path.basename(p)[:-5], c, len(V), len(ix), A[c].sum() * 270 / 16000, like, top and top[:14], 'REAL' if real else 'dup'))
