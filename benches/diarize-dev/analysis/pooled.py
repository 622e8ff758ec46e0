"""Candidate quiet groups: short-window likeness vs pooled likeness, with truth."""
import sys
from quiet import truth, dumped_groups

rows = []
for q in dumped_groups(sys.argv[1]):
    top, frac, hidden = truth(q.k.lab, q.grp, q.k.dom)
    pl = max(q.g['pooled']) if q.g['pooled'] else float('nan')
    rows.append((q.name, q.c, q.g['depth'], len(q.grp), q.g['frames'] * 270 / 16000, q.like, pl, 'HIDDEN' if hidden else '-', top[:14], frac))
for r in sorted(rows, key=lambda r: r[6]):
    print('%-14s v%d d%d n%-3d %.1fs short %.2f pooled %.2f %-6s %s %.2f' % r)
