"""Candidate groups compared like with like: short lines embed differently from fluent
speech, so a group of short windows is compared with each voice's windows of as little
speech (the active frames', not the truth's), where the voice has MIN of them."""
import sys, os, json
import numpy as np
from oracle import unit, dumps
from quiet import clip, truth

SHORT_S = float(sys.argv[2]) if len(sys.argv) > 2 else 1.0
MIN = int(sys.argv[3]) if len(sys.argv) > 3 else 3
FRAME_S = 270 / 16000
rows = []
for p in dumps(sys.argv[1], '.g.json'):
    k = clip(p[:-7] + '.json')
    d, A, E, lab, idxs, dom = k.d, k.A, k.E, k.lab, k.idxs, k.dom
    speech = np.array([A[:, s['a']:s['b']].any(0).sum() * FRAME_S for s in d['shorts']])
    for g in json.load(open(p)):
        grp = g['windows']; c = g['c']
        if len(grp) * 4 > len(idxs[c]): continue
        cen = unit(E[grp].mean(0))
        def ref(ix):
            ix = [i for i in ix if i not in grp]
            short = [i for i in ix if speech[i] <= SHORT_S]
            return (unit(E[short].mean(0)), True) if len(short) >= MIN else ((unit(E[ix].mean(0)), False) if ix else (None, False))
        likes, matched = [], 0
        for o, ix in enumerate(idxs):
            v, m = ref(ix)
            if v is not None:
                likes.append(float(v @ cen)); matched += m
        plain = max(float(unit(E[[i for i in ix if i not in grp]].mean(0)) @ cen) for ix in idxs if [i for i in ix if i not in grp])
        top, frac, hidden = truth(lab, grp, dom)
        rows.append((os.path.basename(p)[:-7], c, g['depth'], len(grp), float(np.median(speech[grp])), plain, max(likes), matched, len(likes), 'HIDDEN' if hidden else '-', top[:14], frac))
for r in sorted(rows, key=lambda r: r[6]):
    print('%-14s v%d d%d n%-3d speech %.1fs like %.2f matched %.2f (%d/%d voices by short windows) %-6s %s %.2f' % r)
