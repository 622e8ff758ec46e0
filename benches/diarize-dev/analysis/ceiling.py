"""With perfect membership, is the quiet person apart? Their pure windows' centroid vs
random same-size subsets of another speaker's windows (cosine with that speaker's rest)."""
import sys, os
import numpy as np
from oracle import load, unit, dumps
rng = np.random.default_rng(0)
for p in dumps(sys.argv[1]):
    d, segs, spk, W, talk = load(p)
    q = min(talk, key=talk.get)
    E = {k: np.stack([w[3] for w in W if w[0] == k and w[1] >= 0.8 and w[2] >= 0.5] or [np.zeros(192)]) for k in spk}
    n = len(E[q])
    if n < 2: print(os.path.basename(p)[:-5], 'quiet', q, 'has', n, 'pure windows'); continue
    cq = unit(E[q].mean(0))
    sim = max(float(cq @ unit(E[s].mean(0))) for s in spk if s != q)
    null = []
    for s in spk:
        if s == q or len(E[s]) < 2 * n: continue
        for _ in range(300):
            idx = rng.choice(len(E[s]), n, replace=False)
            rest = np.setdiff1d(np.arange(len(E[s])), idx)
            null.append(float(unit(E[s][idx].mean(0)) @ unit(E[s][rest].mean(0))))
    null = np.array(null)
    print('%-14s quiet %-22s %2d pure windows: like %.2f; one voice\'s subsets: min %.2f p1 %.2f p5 %.2f %s' % (
        os.path.basename(p)[:-5], q[:22], n, sim, null.min(), np.percentile(null, 1), np.percentile(null, 5),
        'APART' if sim < null.min() else ('maybe' if sim < np.percentile(null, 5) else 'NO')))
