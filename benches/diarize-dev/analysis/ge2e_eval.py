"""CAM++ (as shipped), Resemblyzer's GE2E (`ge2e.py`) and both (each unit-normed, concatenated,
GE2E weighted W) on the same short windows: (1) one person's pure windows from different moments
against the quiet person's and the nearest other person's (medians, d'); (2) find_quiet's candidate
groups: hidden people's groups against groups of a voice already there."""
import sys, os
import numpy as np
from oracle import unit, dumps
from quiet import clip, un, best_groups, separation

W = float(os.environ.get('W', 0.5))
res = {m: {'same': [], 'cross': [], 'rows': []} for m in ('campp', 'ge2e', 'both')}
for p in dumps(sys.argv[1]):
    g = p[:-5] + '.ge2e.npy'
    if not os.path.exists(g):
        continue
    name = os.path.basename(p)[:-5]
    k = clip(p)
    G = np.load(g)
    assert len(G) == len(k.E), (name, len(G), len(k.E))
    models = {'campp': un(k.E), 'ge2e': un(G),
              'both': un(np.concatenate([un(k.E) * np.sqrt(1 - W), un(G) * np.sqrt(W)], 1))}
    q = min(k.talk, key=k.talk.get)
    pure = {s: [i for i, w in enumerate(k.W) if w[0] == s and w[1] >= 0.8 and w[2] >= 0.5] for s in k.spk}
    apart = lambda a, b: k.d['shorts'][b]['a'] >= k.d['shorts'][a]['b'] or k.d['shorts'][a]['a'] >= k.d['shorts'][b]['b']
    for m, E in models.items():
        res[m]['rows'] += best_groups(E, k, name)
        for ix in pure.values():
            res[m]['same'] += [float(E[a] @ E[b]) for n, a in enumerate(ix) for b in ix[n + 1:] if apart(a, b)]
        others = [s for s in k.spk if s != q and pure[s]]
        if pure[q] and others:
            cq = unit(E[pure[q]].mean(0))
            near = max(others, key=lambda s: float(unit(E[pure[s]].mean(0)) @ cq))
            res[m]['cross'] += [float(E[a] @ E[b]) for a in pure[q] for b in pure[near]]
for m, r in res.items():
    same, cross = np.array(r['same']), np.array(r['cross'])
    dp = (same.mean() - cross.mean()) / np.sqrt((same.var() + cross.var()) / 2)
    n, below, lowest, auc = separation(r['rows'])
    print("%-5s (W %.1f) windows: same person %.2f, quiet vs nearest %.2f, d' %.2f | groups: %d hidden, %d below every voice group (lowest %.2f), AUC %.3f" % (
        m, W, np.median(same), np.median(cross), dp, n, below, lowest, auc))
