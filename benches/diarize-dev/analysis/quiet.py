"""find_quiet's view of a dump, with the truth of each window.

Shared helpers: `clip(path)` reads a dump as `find_quiet` sees it, `truth(lab, group, dom)` says
whose windows a group holds."""
import sys, os, json
from types import SimpleNamespace
import numpy as np
from oracle import load, unit, dumps

def active_matrix(d):
    A = np.zeros((len(d['active']), d['n_frames']), bool)
    for c, runs in enumerate(d['active']):
        for a, b in runs:
            A[c, a:b] = True
    return A

def speech_owners(A, shorts, min_speech=0.5, frame_s=270/16000):
    own = []
    ms = int(np.ceil(min_speech / frame_s))
    for s in shorts:
        sub = A[:, s['a']:s['b']]
        on = sub.sum(0)
        speech = int((on > 0).sum())
        alone = [(sub[c] & (on == 1)).sum() for c in range(A.shape[0])]
        c = int(np.argmax(alone)); n = alone[c]
        own.append(c if speech >= ms and n * 5 >= speech * 4 else None)
    return own

def clip(path):
    """A clip dump (`<clip>.json`) with the voices' frames just before `find_quiet`
    (`<clip>.q.json`, where written): each voice's own windows (`idxs`, by
    `speech_owners`) and the true speakers who lead a voice (`dom`: most windows of a
    voice with at least 4)."""
    d, segs, spk, W, talk = load(path)
    q = path[:-5] + '.q.json'
    if os.path.exists(q):
        d = dict(d, active=json.load(open(q))['active'])
    A = active_matrix(d)
    own = speech_owners(A, d['shorts'])
    E = np.stack([w[3] for w in W])
    lab = [w[0] for w in W]
    idxs = [[i for i, o in enumerate(own) if o == c] for c in range(A.shape[0])]
    dom = set()
    for ix in idxs:
        if len(ix) >= 4:
            dom.add(truth(lab, ix)[0])
    return SimpleNamespace(d=d, segs=segs, spk=spk, W=W, talk=talk, A=A, own=own, E=E,
                           lab=lab, idxs=idxs, dom=dom)


def truth(lab, group, dom=()):
    """The true speaker with most of a group's windows, their share, and whether the group
    is a hidden person (that speaker leads no voice, 60% of the group theirs)."""
    vals, cnt = np.unique([lab[i] for i in group], return_counts=True)
    top = vals[np.argmax(cnt)]
    frac = cnt.max() / len(group)
    return top, frac, top not in dom and frac >= 0.6


def two_means(E):
    allm = unit(E.mean(0))
    a = int(np.argmin(E @ allm)); b = int(np.argmin(E @ E[a]))
    c = np.stack([E[a], E[b]])
    side = np.zeros(len(E), int)
    for _ in range(50):
        new = (E @ c[1] > E @ c[0]).astype(int)
        done = (new == side).all(); side = new
        for k in range(2):
            if (side == k).any():
                c[k] = unit(E[side == k].mean(0))
        if done: break
    return side, c

def moments(ws):
    spans = sorted((w['a'], w['b']) for w in ws)
    n, end = 0, 0
    for a, b in spans:
        if n == 0 or a >= end: n += 1
        end = max(end, b)
    return n


def un(Z):
    """Rows (or a vector) scaled to unit length."""
    return Z / np.linalg.norm(Z, axis=-1, keepdims=True)


def splits(E, k, c):
    """Every group `find_quiet`'s 2-means forms in voice `c`: 2-means, then its smaller side
    again, down to three times; yields (depth, group, its centroid)."""
    cur = k.idxs[c]
    for depth in range(3):
        if len(cur) < 8:
            return
        side, cents = two_means(E[cur])
        small = int((side == 1).sum() * 2 <= len(side))
        grp = [cur[i] for i in range(len(cur)) if side[i] == small]
        if len(grp) < 4:
            return
        yield depth, grp, cents[small]
        cur = grp


def may_be_person(k, c, grp):
    """`find_quiet`'s size rule: windows from 2 moments at least, at most a quarter of the voice."""
    return moments([k.d['shorts'][i] for i in grp]) >= 2 and len(grp) * 4 <= len(k.idxs[c])


def depth_groups(E, k, c):
    """Voice `c`'s candidate groups as `find_quiet` forms them ([`splits`] that
    `may_be_person`): (depth, group, its centroid)."""
    for depth, grp, centre in splits(E, k, c):
        if may_be_person(k, c, grp):
            yield depth, grp, centre


def likeness(E, k, c, grp, centre):
    """`find_quiet`'s likeness: the group's centroid against the rest of its voice and every
    other voice (the highest cosine)."""
    rest = [i for i in k.idxs[c] if i not in grp]
    others = [unit(E[ix].mean(0)) @ centre for o, ix in enumerate(k.idxs) if o != c and ix]
    return float(max([unit(E[rest].mean(0)) @ centre] + others))


def best_groups(E, k, name, score=None):
    """Per voice, its candidate group with the lowest score (default: `likeness`), as a row
    (score, clip, voice, depth, windows, hidden person?, true speaker, their share)."""
    score = score or (lambda c, grp, centre: likeness(E, k, c, grp, centre))
    rows = []
    for c in range(len(k.idxs)):
        best = None
        for depth, grp, centre in depth_groups(E, k, c):
            s = score(c, grp, centre)
            if best is None or s < best[0]:
                top, frac, hidden = truth(k.lab, grp, k.dom)
                best = (s, name, c, depth, len(grp), hidden, top[:14], frac)
        if best:
            rows.append(best)
    return rows


def separation(rows):
    """Hidden people's groups against groups of a voice already there: how many hidden, how
    many below every voice group, the lowest voice group, and P(hidden scores lower) (AUC)."""
    h = [r[0] for r in rows if r[5]]
    v = [r[0] for r in rows if not r[5]]
    lowest = min(v) if v else float('nan')
    auc = float(np.mean([[1.0 if a < b else 0.5 if a == b else 0.0 for b in v] for a in h])) if h and v else float('nan')
    return len(h), sum(1 for x in h if x < lowest), lowest, auc


def dumped_groups(folder):
    """The candidate groups `find_quiet` looked at, as the dumps recorded them (`<clip>.g.json`),
    at most a quarter of their voice: each with its clip (`k`), dump entry (`g`), voice (`c`),
    windows (`grp`), the rest of its voice, centroid and `likeness`."""
    for p in dumps(folder, '.g.json'):
        k = clip(p[:-7] + '.json')
        for g in json.load(open(p)):
            grp, c = g['windows'], g['c']
            if len(grp) * 4 > len(k.idxs[c]):
                continue
            centre = unit(k.E[grp].mean(0))
            yield SimpleNamespace(name=os.path.basename(p)[:-7], k=k, g=g, c=c, grp=grp,
                                  rest=[i for i in k.idxs[c] if i not in grp], centre=centre,
                                  like=likeness(k.E, k, c, grp, centre))


if __name__ == '__main__':
    for p in sys.argv[1:]:
        k = clip(p)
        W = k.W
        print('==', os.path.basename(p)[:-5])
        for c, idx in enumerate(k.idxs):
            who = {}
            for i in idx:
                who[W[i][0][:14]] = who.get(W[i][0][:14], 0) + 1
            print(f' voice {c}: {len(idx)} windows', who)
            for depth, grp, centre in splits(k.E, k, c):
                like = likeness(k.E, k, c, grp, centre)
                gt = {}
                for i in grp: gt[W[i][0][:14]] = gt.get(W[i][0][:14], 0) + 1
                mo = moments([k.d['shorts'][i] for i in grp])
                print(f'   depth {depth}: group {len(grp)} moments {mo} part_ok {len(grp)*4 <= len(idx)} like {like:.2f}', gt)
