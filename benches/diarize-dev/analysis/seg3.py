"""The segmenter's own count: 10 s windows in which it hears three local speakers, each
with at least MIN seconds of speech alone (needs the `.seg.json` dumps of dump.patch)."""
import sys, os, json, glob
import numpy as np
from oracle import AUD

FRAME_S = 270 / 16000
refs = [AUD, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', '..', 'shared', 'audio'),
        os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..', 'fixtures', 'demo')]

def true_count(stem):
    for r in refs:
        f = os.path.join(r, stem.replace('-far', '') + '.rttm')
        if os.path.exists(f):
            return len({l.split()[7] for l in open(f) if l.strip()})
    return None

mins = [float(x) for x in sys.argv[2:]] or [0.3, 0.5, 1.0]
print('clip true ' + ' '.join('w3@%.1fs' % m for m in mins))
for p in sorted(glob.glob(os.path.join(sys.argv[1], '*.seg.json'))):
    stem = os.path.basename(p)[:-9]
    W = json.load(open(p))
    out = []
    for m in mins:
        n = 0
        for w in W:
            length = max([b for r in w['runs'] for a, b in r] + [0])
            on = np.zeros((3, length), bool)
            for k, r in enumerate(w['runs']):
                for a, b in r:
                    on[k, a:b] = True
            alone = on & (on.sum(0) == 1)
            if (alone.sum(1) * FRAME_S >= m).sum() >= 3:
                n += 1
        out.append('%3d/%d' % (n, len(W)))
    print('%-20s %s %s' % (stem, true_count(stem), ' '.join(out)))
