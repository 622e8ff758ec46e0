"""Prototype: a quiet person's windows pooled across voices (windows unlike every voice),
clustered, kept where unlike every voice."""
import sys, os, json
import numpy as np
from oracle import unit, AUD, dumps
from quiet import active_matrix, speech_owners, moments

def truth_labels(stem, d):
    ref = os.path.join(AUD, stem.replace('-far', '') + '.rttm')
    if not os.path.exists(ref):
        return None, None
    segs = [(float(f[3]), float(f[3]) + float(f[4]), f[7]) for f in (l.split() for l in open(ref))]
    t = lambda g: (g * d['frame_step'] + d['frame_centre']) / 16000
    labs = []
    for s in d['shorts']:
        a, b = t(s['a']), t(s['b'])
        cov = {}
        for x, y, k in segs:
            cov[k] = cov.get(k, 0) + max(0, min(b, y) - max(a, x))
        labs.append(max(cov, key=cov.get))
    talk = {}
    for x, y, k in segs: talk[k] = talk.get(k, 0) + y - x
    return labs, talk

def search(E, own, shorts, nv, cand_cos, link_cos):
    idxs = [[i for i, o in enumerate(own) if o == c] for c in range(nv)]
    V = np.stack([unit(E[ix].mean(0)) if ix else np.zeros(E.shape[1]) for ix in idxs])
    owned = [i for i, o in enumerate(own) if o is not None]
    best = (E[owned] @ V.T).max(1)
    cand = [i for i, b in zip(owned, best) if b < cand_cos]
    # average-linkage agglomeration among candidates
    groups = [[i] for i in cand]
    cents = [E[i].copy() for i in cand]
    while len(groups) > 1:
        C = np.stack([unit(c) for c in cents])
        S = C @ C.T; np.fill_diagonal(S, -9)
        a, b = np.unravel_index(np.argmax(S), S.shape)
        if S[a, b] < link_cos: break
        groups[a] += groups[b]; cents[a] = E[groups[a]].mean(0)
        del groups[b]; del cents[b]
    out = []
    for g in groups:
        if len(g) < 4 or moments([shorts[i] for i in g]) < 2: continue
        cen = unit(E[g].mean(0))
        like = float((V @ cen).max())
        out.append((g, like))
    return out, len(cand)

if __name__ == '__main__':
    cand_cos, link_cos, quiet = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    for p in dumps(sys.argv[1], need_ref=False):
        stem = os.path.basename(p)[:-5]
        d = json.load(open(p))
        d['active'] = json.load(open(p[:-5] + '.q.json'))['active']
        A = active_matrix(d)
        own = speech_owners(A, d['shorts'])
        E = np.stack([np.array(s['emb'], np.float32) for s in d['shorts']])
        labs, talk = truth_labels(stem, d)
        out, nc = search(E, own, d['shorts'], A.shape[0], cand_cos, link_cos)
        desc = []
        for g, like in out:
            if labs:
                vals, cnt = np.unique([labs[i] for i in g], return_counts=True)
                top = vals[np.argmax(cnt)]
                tag = '%s:%d/%d' % (top[:12], cnt.max(), len(g))
            else:
                tag = 'n=%d' % len(g)
            desc.append('%s like %.2f%s' % (tag, like, ' FOUND' if like < quiet else ''))
        print('%-22s voices %d cand %3d | %s' % (stem, A.shape[0], nc, '; '.join(desc)))
