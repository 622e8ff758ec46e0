"""Two-person clips only: pooled DER and count right per run (run.sh's `.cache/out-<label>/`),
each label's clips restricted to those the first label scored. Usage: twoperson.py OUT_DIR...
(e.g. ../.cache/out-est-new ../.cache/out-g2h-base ../.cache/out-g2h-new); per clip where the
last two runs differ."""
import json, os, sys

def files(out):
    d = {}
    for f in sorted(os.listdir(out)):
        if f.endswith('.der.json'):
            for x in json.load(open(os.path.join(out, f)))['files']:
                d[x['file']] = x
    return d

runs = [files(o) for o in sys.argv[1:]]
keys = [k for k, x in runs[-1].items() if x['reference_speakers'] == 2]
err = lambda x: x['confusion_s'] + x['false_alarm_s'] + x['missed_s']
for out, d in zip(sys.argv[1:], runs):
    e = sum(err(d[k]) for k in keys)
    r = sum(d[k]['reference_speech_s'] for k in keys)
    right = sum(d[k]['hypothesis_speakers'] == 2 for k in keys)
    print('%-28s %2d two-person clips: DER %.1f%%, count right %d' % (os.path.basename(out), len(keys), 100 * e / r, right))
if len(runs) >= 2:
    a, b = runs[-2], runs[-1]
    for k in keys:
        if abs(a[k]['der'] - b[k]['der']) > 1e-9:
            print('  %-16s %5.1f%% -> %5.1f%%' % (k, 100 * a[k]['der'], 100 * b[k]['der']))
