"""Windows unlike every voice: does the quiet person stand out?"""
import sys, os
import numpy as np
from oracle import unit, dumps
from quiet import clip

def analyse(p, verbose=True):
    k = clip(p)
    W, E, lab = k.W, k.E, np.array(k.lab)
    V = np.stack([unit(E[ix].mean(0)) for ix in k.idxs if ix])
    q = min(k.talk, key=k.talk.get)
    speech = np.array([w[2] for w in W]); pur = np.array([w[1] for w in W])
    best = (E @ V.T).max(1)
    ok = speech >= 0.5
    isq = (lab == q) & (pur >= 0.8)
    return best, ok, isq, lab, pur, q

if __name__ == '__main__':
    for p in dumps(sys.argv[1]):
        best, ok, isq, lab, pur, q = analyse(p)
        others = best[ok & ~isq & (pur >= 0.8)]
        qs = np.sort(best[ok & isq])
        print('%-14s quiet windows best-voice cos %s | others p1 %.2f p5 %.2f p10 %.2f (n=%d)' % (
            os.path.basename(p)[:-5], ' '.join('%.2f' % x for x in qs), np.percentile(others, 1), np.percentile(others, 5), np.percentile(others, 10), len(others)))
