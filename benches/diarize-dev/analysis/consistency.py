"""How alike are one person's pure short windows from different moments (no overlap)?
Quiet person vs the main speakers, and the quiet person vs the most alike other speaker."""
import sys, os
import numpy as np
from oracle import load, dumps
res = {'quiet': [], 'main': [], 'cross': []}
for p in dumps(sys.argv[1]):
    if sys.argv[2] not in os.path.basename(p): continue
    d, segs, spk, W, talk = load(p)
    q = min(talk, key=talk.get)
    sh = d['shorts']
    idx = {k: [i for i, w in enumerate(W) if w[0] == k and w[1] >= 0.8 and w[2] >= 0.5] for k in spk}
    def pairs(a, b):
        out = []
        for i in a:
            for j in b:
                if i < j or a is not b:
                    if sh[i]['b'] <= sh[j]['a'] or sh[j]['b'] <= sh[i]['a']:
                        out.append(float(W[i][3] @ W[j][3]))
        return out
    qq = pairs(idx[q], idx[q])
    if qq: res['quiet'].append(np.median(qq))
    for k in spk:
        if k != q:
            mm = pairs(idx[k], idx[k])
            if mm: res['main'].append(np.median(mm))
    cr = [np.median(pairs(idx[q], idx[k])) for k in spk if k != q and idx[q] and idx[k]]
    if cr: res['cross'].append(max(cr))
for k, v in res.items():
    print(sys.argv[2], k, 'median over clips of the median pairwise cosine: %.2f (clips %d, range %.2f-%.2f)' % (np.median(v), len(v), min(v), max(v)))
