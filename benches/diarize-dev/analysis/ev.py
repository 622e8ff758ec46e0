"""Per clip: the count's short-window evidence next to the count found. `ev.patch` (against
fd3d8bc; `git apply`, build, run with MITOOL_DEBUG_EV=1, then `git checkout mitool-core`) writes
it to each group's log. closest_not_quiet is the likeness of the most distinct candidate group not
kept (9.00: none); quiet_kept that of a quiet person kept.
Usage: ev.py RESULTS.md OUT_DIR (a run.sh run's results and output folder)."""
import re, sys, glob, os

found = {}
for line in open(sys.argv[1]):
    m = re.match(r'\| (\S+) \| (\S+) \| ([\d.]+)% \| (\d+)/(\d+) \| *(\S*) *\|', line)
    if m:
        found[m.group(2)] = (m.group(1), int(m.group(4)), int(m.group(5)), m.group(6))

def value(field, text):
    m = re.search(field + r': (Some\(([\d.]+)\)|None)', text)
    return m.group(2)

rows = []
for log in glob.glob(os.path.join(sys.argv[2], '*.log')):
    for line in open(log):
        if not line.startswith('EV '):
            continue
        _, path, _, evidence = line.split(' ', 3)
        name = os.path.basename(path)[:-4]
        near = value('closest_not_quiet', evidence)
        group, n, true, flagged = found.get(name, ('?', 0, 0, ''))
        rows.append((float(near) if near else 9.0, name, group, n, true, flagged, value('loosest_quiet', evidence)))
for near, name, group, n, true, flagged, kept in sorted(rows):
    tag = 'MISS' if n < true else ('OVER' if n > true else 'ok')
    print('%5.2f %-18s %-15s %d/%d %-4s %s quiet_kept=%s' % (near, name, group, n, true, tag, flagged, kept))
