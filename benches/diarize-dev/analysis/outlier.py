"""Windows unlike every voice: does the quiet person stand out?"""
import sys, os, json, glob
import numpy as np
from oracle import load, unit, dumps
from quiet import active_matrix, speech_owners, moments

def analyse(p, verbose=True):
    d, segs, spk, W, talk = load(p)
    d = dict(d, active=json.load(open(p[:-5] + '.q.json'))['active'])
    A = active_matrix(d)
    own = speech_owners(A, d['shorts'])
    E = np.stack([w[3] for w in W]); lab = np.array([w[0] for w in W])
    idxs = [[i for i, o in enumerate(own) if o == c] for c in range(A.shape[0])]
    V = np.stack([unit(E[ix].mean(0)) for ix in idxs if ix])
    q = min(talk, key=talk.get)
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
