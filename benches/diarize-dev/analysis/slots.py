"""The segmenter's local speakers as evidence for the quiet person: in how many 10 s windows does
a local speaker hold the quiet person's speech alone (needs the `.seg.json` dumps of dump.patch)?"""
import sys, os, json, glob
import numpy as np
from oracle import load, dumps

D = sys.argv[1]
print('clip            quiet  talk%  pure-slots(>=80%,>=0.5s)  share-of-their-speech-in-pure-slots  mixed-slots')
for p in dumps(D):
    stem = os.path.basename(p)[:-5]
    sp = p[:-5] + '.seg.json'
    if not os.path.exists(sp):
        continue
    d, segs, spk, W, talk = load(p)
    if len(spk) < 2:
        continue
    q = min(talk, key=talk.get)
    tot = sum(talk.values())
    step, centre = d['frame_step'], d['frame_centre']
    T = lambda g: (g * step + centre) / 16000
    n = d['n_frames']
    # per global frame, seconds of each true speaker
    who = np.zeros((len(spk), n))
    for (x, y, k) in segs:
        a = max(0, int((x * 16000 - centre) / step)); b = min(n, int((y * 16000 - centre) / step) + 1)
        who[spk.index(k), a:b] = 1
    qi = spk.index(q)
    pure = mixed = 0
    qin = qpure = 0.0
    for w in json.load(open(sp)):
        for runs in w['runs']:
            fr = [g for a, b in runs for g in range(w['off'] + a, min(n, w['off'] + b))]
            if not fr:
                continue
            sub = who[:, fr]
            qs = sub[qi].sum() * step / 16000
            speech = (sub.sum(0) > 0).sum() * step / 16000
            if speech == 0:
                continue
            share = qs / speech
            qin += qs
            if share >= 0.8 and qs >= 0.5:
                pure += 1; qpure += qs
            elif qs >= 0.3 and share < 0.5:
                mixed += 1
    print('%-16s %-12s %4.1f%%  %3d  %4.0f%%  %3d' % (stem, q[:12], 100 * talk[q] / tot, pure, 100 * qpure / max(qin, 1e-9), mixed))
