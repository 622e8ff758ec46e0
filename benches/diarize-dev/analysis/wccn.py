"""Whitening the short windows by a within-voice scatter (WCCN) before find_quiet's groups are
formed and scored, so that the ways one voice's windows vary (short lines, breath, overlap) count
less than the way a hidden person differs. Usage: wccn.py MODE DIR ALPHA... (ALPHA: shrinkage
towards the identity). Modes, by where the scatter comes from:

  recording   every voice's windows in the recording (as the pipeline assigned them)
  trim        the same, each voice's least typical part left out (TRIM, default a fifth)
  oracle      the same, the hidden people's windows left out by the truth: a ceiling, not a method
  without     groups formed as shipped, each scored with the scatter without its own windows
  others      for each voice, the other voices' windows only
  refine      `without`, then the group re-formed in turns (nearer the group than the rest)
  real        other recordings: the real clips' dumps (DEV_AUDIO: a folder with every reference RTTM)
  tune        other recordings: every other tune clip (not the clip or its near/far twin)

Prints, per ALPHA, the hidden people's groups against groups of a voice already there."""
import sys, os, glob
import numpy as np
from oracle import unit, dumps
from quiet import clip, truth, un, depth_groups, likeness, best_groups, separation

MODE, D, ALPHAS = sys.argv[1], sys.argv[2], [float(a) for a in sys.argv[3:]]


def centred(E, groups):
    """Each group's windows minus their mean, stacked (the within-voice scatter's samples)."""
    return np.concatenate([E[g] - E[g].mean(0) for g in groups if len(g) >= 2])


def whitener(X, alpha):
    S = X.T @ X / len(X)
    S = (1 - alpha) * S + alpha * np.trace(S) / len(S) * np.eye(len(S))
    w, V = np.linalg.eigh(S)
    return V @ np.diag(w ** -0.5) @ V.T


def voices_of(k, drop=(), trim=0.0, truth_only=False):
    out = []
    for ix in k.idxs:
        ix = [i for i in ix if i not in drop and (not truth_only or k.lab[i] in k.dom)]
        if trim and len(ix) >= 10:
            fit = np.argsort(k.E[ix] @ unit(k.E[ix].mean(0)))[::-1]
            ix = [ix[j] for j in fit[:len(ix) - int(trim * len(ix))]]
        out.append(ix)
    return out


def rows_for(k, name, alpha, background):
    E = k.E
    if MODE in ('recording', 'trim', 'oracle', 'real', 'tune'):
        if MODE in ('real', 'tune'):
            X = background
        else:
            X = centred(E, voices_of(k, trim=float(os.environ.get('TRIM', 0.2)) if MODE == 'trim' else 0.0, truth_only=MODE == 'oracle'))
        return best_groups(un(E @ whitener(X, alpha)), k, name)
    if MODE == 'others':
        rows = []
        for c in range(len(k.idxs)):
            others = [ix for o, ix in enumerate(k.idxs) if o != c]
            if not any(len(ix) >= 2 for ix in others):
                continue
            Z = un(E @ whitener(centred(E, others), alpha))
            rows += [r for r in best_groups(Z, k, name) if r[2] == c]
        return rows

    def without(c, grp):
        Z = un(E @ whitener(centred(E, voices_of(k, drop=set(grp))), alpha))
        return Z, likeness(Z, k, c, grp, un(Z[grp].mean(0)))

    if MODE == 'without':
        return best_groups(E, k, name, score=lambda c, grp, centre: without(c, grp)[1])
    if MODE == 'refine':
        rows = []
        for r in best_groups(E, k, name):
            c, idx = r[2], k.idxs[r[2]]
            grp = next(g for d, g, _ in depth_groups(E, k, c) if d == r[3])
            for _ in range(6):
                Z, _ = without(c, grp)
                g, rest = un(Z[grp].mean(0)), un(Z[[i for i in idx if i not in grp]].mean(0))
                new = [i for i in idx if Z[i] @ g > Z[i] @ rest]
                if len(new) < 4 or len(new) * 4 > len(idx) or set(new) == set(grp):
                    break
                grp = new
            top, frac, hidden = truth(k.lab, grp, k.dom)
            rows.append((without(c, grp)[1], name, c, r[3], len(grp), hidden, top[:14], frac))
        return rows
    raise SystemExit('wccn.py: unknown mode ' + MODE)


tune = [p for p in dumps(D) if os.path.basename(p).startswith(('qtune', 'ktune'))]
clips = {p: clip(p) for p in tune}
stem = lambda p: os.path.basename(p)[:-5].replace('-far', '')
if MODE == 'real':
    real = [p for p in sorted(glob.glob(os.path.join(D, '*.json'))) if os.path.basename(p).count('.') == 1
            and not os.path.basename(p).startswith(('qtune', 'ktune'))]
    Xreal = np.concatenate([centred(un(k.E), [ix for ix in k.idxs if len(ix) >= 4]) for k in map(clip, real)])
for alpha in ALPHAS:
    rows = []
    for p, k in clips.items():
        bg = None
        if MODE == 'real':
            bg = Xreal
        elif MODE == 'tune':
            bg = np.concatenate([centred(un(q.E), [ix for ix in q.idxs if len(ix) >= 4])
                                 for o, q in clips.items() if stem(o) != stem(p)])
        rows += rows_for(k, os.path.basename(p)[:-5], alpha, bg)
    n, below, lowest, auc = separation(sorted(rows))
    print('%-9s alpha %.2f: %2d hidden groups, %2d below every voice group (lowest %.2f), AUC %.3f' % (MODE, alpha, n, below, lowest, auc))
    if os.environ.get('LIST'):
        for r in sorted(rows)[:int(os.environ['LIST'])]:
            print('  %.2f %-14s v%d d%d n%-3d %-5s %s %.2f' % r)
