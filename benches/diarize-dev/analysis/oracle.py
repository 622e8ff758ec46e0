"""Oracle look at a dump: are the true speakers' short windows apart?

Shared helpers: `dumps(dir)` lists the clip dumps that have a reference RTTM,
`load(path)` reads one with each short window's true speaker."""
import json, sys, glob, os
import numpy as np
AUD = os.environ.get('DEV_AUDIO', os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '.cache', 'audio'))


def dumps(folder, suffix='.json', need_ref=True):
    """Clip dumps (`<clip>.json`, or `<clip>.g.json` with suffix) whose clip has a reference."""
    out = []
    for p in sorted(glob.glob(os.path.join(folder, '*' + suffix))):
        stem = os.path.basename(p)[:-len(suffix)]
        if '.' in stem:
            continue
        if not need_ref or os.path.exists(os.path.join(AUD, stem.replace('-far', '') + '.rttm')):
            out.append(p)
    return out

def load(path):
    d = json.load(open(path))
    stem = os.path.basename(path)[:-5]
    ref = os.path.join(AUD, stem.replace('-far', '') + '.rttm')
    segs = []
    for line in open(ref):
        f = line.split()
        segs.append((float(f[3]), float(f[3]) + float(f[4]), f[7]))
    step, centre = d['frame_step'], d['frame_centre']
    t = lambda g: (g * step + centre) / 16000
    spk = sorted({s[2] for s in segs})
    W = []
    for s in d['shorts']:
        a, b = t(s['a']), t(s['b'])
        cov = {k: 0.0 for k in spk}
        for (x, y, k) in segs:
            cov[k] += max(0.0, min(b, y) - max(a, x))
        speech = sum(cov.values())
        k = max(cov, key=cov.get)
        pur = cov[k] / speech if speech > 0 else 0
        W.append((k, pur, speech, np.array(s['emb'], dtype=np.float32)))
    talk = {k: sum(y - x for x, y, kk in segs if kk == k) for k in spk}
    return d, segs, spk, W, talk

def unit(v):
    return v / (np.linalg.norm(v) + 1e-9)

if __name__ == '__main__':
    for p in dumps(sys.argv[1]):
        d, segs, spk, W, talk = load(p)
        tot = sum(talk.values())
        cents = {}
        out = []
        for k in spk:
            E = [w[3] for w in W if w[0] == k and w[1] >= 0.8 and w[2] >= 0.5]
            if E:
                cents[k] = unit(np.mean(E, 0))
            out.append(f"{k}:{100*talk[k]/tot:.0f}%/{len(E)}w")
        pairs = []
        for i, a in enumerate(spk):
            for b in spk[i+1:]:
                if a in cents and b in cents:
                    pairs.append(f"{a[:8]}~{b[:8]}={cents[a]@cents[b]:.2f}")
        print(os.path.basename(p)[:-5], len(d['active']), ' '.join(out), '|', ' '.join(pairs))
