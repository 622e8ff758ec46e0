"""What are a candidate group's windows, by the truth: purity, speech, and the length of the
reference turn they sit in (short lines and back-channels vs fluent speech)."""
import sys, os, json
from oracle import load, dumps

for p in dumps(sys.argv[1], '.g.json'):
    stem = os.path.basename(p)[:-7]
    if stem not in sys.argv[2:]:
        continue
    d, segs, spk, W, talk = load(p[:-7] + '.json')
    t = lambda g: (g * d['frame_step'] + d['frame_centre']) / 16000
    for g in json.load(open(p)):
        print(stem, 'voice', g['c'], 'depth', g['depth'])
        for i in g['windows']:
            s = d['shorts'][i]; a, b = t(s['a']), t(s['b'])
            turns = [(y - x, k) for x, y, k in segs if min(b, y) > max(a, x)]
            print('   %6.1f-%6.1f %-16s purity %.2f speech %.1f turns %s' % (a, b, W[i][0][:16], W[i][1], W[i][2],
                  ' '.join('%s:%.1fs' % (k[:8], L) for L, k in turns)))
