#!/usr/bin/env python3
"""CPU of a process's threads, by thread name (digits folded), every INTERVAL seconds.

thread-cpu.py PID INTERVAL COUNT: one line per interval, "t=<s> cs=<n> total=<cpu s> name=<cpu s> ...",
cs being the context switches (voluntary and not) of the process's vert.x-eventloop threads in the
interval. CPU from /proc/PID/task/*/stat (user + system), so JIT compiler and GC threads are told
apart from the event loops (BENCHMARKS.md, "Pod CPU per HTTP request").
"""
import collections
import os
import re
import sys
import time

pid, interval, count = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
tick = os.sysconf('SC_CLK_TCK')


def threads():
    for t in os.listdir(f'/proc/{pid}/task'):
        try:
            yield t, open(f'/proc/{pid}/task/{t}/stat').read()
        except OSError:
            pass


def cpu():
    by_name = collections.Counter()
    for _, stat in threads():
        name = re.sub(r'\d+$', '#', stat[stat.index('(') + 1:stat.rindex(')')])
        fields = stat[stat.rindex(')') + 2:].split()
        by_name[name] += int(fields[11]) + int(fields[12])
    return by_name


def switches():
    n = 0
    for t, stat in threads():
        if 'vert.x-eventloo' not in stat:
            continue
        try:
            for line in open(f'/proc/{pid}/task/{t}/status'):
                if line.startswith(('voluntary_ctxt_switches', 'nonvoluntary_ctxt_switches')):
                    n += int(line.split()[1])
        except OSError:
            pass
    return n


before, cs_before = cpu(), switches()
for i in range(count):
    time.sleep(interval)
    now, cs_now = cpu(), switches()
    diff = {k: now[k] - before.get(k, 0) for k in now}
    parts = ' '.join(f'{k}={v / tick:.2f}' for k, v in sorted(diff.items(), key=lambda x: -x[1]) if v > 0)
    print(f't={(i + 1) * interval:.0f}s cs={cs_now - cs_before} total={sum(diff.values()) / tick:.2f}s {parts}', flush=True)
    before, cs_before = now, cs_now
