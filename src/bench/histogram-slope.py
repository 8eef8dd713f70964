#!/usr/bin/env python3
"""Per-session cost by class from two class histograms (jcmd GC.class_histogram, as idle-memory.sh writes them).

    src/bench/histogram-slope.py A.txt B.txt N [TOP]
        (B - A) / N per class: bytes and instances per session between two steps N sessions apart
    src/bench/histogram-slope.py A1 B1 A2 B2 N1 N2 [TOP]
        the same for two builds side by side, largest change first
"""
import sys, re
def load(p):
    d = {}
    for line in open(p):
        m = re.match(r'\s*\d+:\s+(\d+)\s+(\d+)\s+(\S+)', line)
        if m:
            d[m.group(3)] = (int(m.group(1)), int(m.group(2)))
        m = re.match(r'Total\s+(\d+)\s+(\d+)', line)
        if m:
            d['TOTAL'] = (int(m.group(1)), int(m.group(2)))
    return d
def slope(a, b, n):
    A, B = load(a), load(b)
    return {k: ((B.get(k, (0, 0))[0] - A.get(k, (0, 0))[0]) / n, (B.get(k, (0, 0))[1] - A.get(k, (0, 0))[1]) / n) for k in set(A) | set(B)}
args = sys.argv[1:]
if len(args) in (3, 4):
    s = slope(args[0], args[1], float(args[2])); top = int(args[3]) if len(args) == 4 else 60
    for k, (c, b) in sorted(s.items(), key=lambda kv: -abs(kv[1][1]))[:top]:
        print(f"{b:9.1f} B {c:7.2f} x  {k}")
else:
    s1 = slope(args[0], args[1], float(args[4])); s2 = slope(args[2], args[3], float(args[5])); top = int(args[6]) if len(args) > 6 else 60
    keys = set(s1) | set(s2)
    rows = [(k, s1.get(k, (0, 0)), s2.get(k, (0, 0))) for k in keys]
    for k, x, y in sorted(rows, key=lambda r: -abs(r[2][1] - r[1][1]))[:top]:
        print(f"{x[1]:9.1f} -> {y[1]:9.1f} B ({y[1]-x[1]:+8.1f})  {x[0]:6.2f} -> {y[0]:6.2f} x  {k}")
