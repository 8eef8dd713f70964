#!/usr/bin/env python3
"""What one warm step waits on, from a `perf trace` of the pod's listener loop (BENCHMARKS.md,
"A warm step, system call by system call").

    perf trace -t <listener loop tid> -e read,write,writev,epoll_wait -o trace.txt   (a few s of HotPath pings)
    src/bench/step-gaps.py trace.txt HTTP_FD REDIS_FD C2S_FD

Prints, per kind, the time between the end of one system call and the start of the next one that
is not an epoll_wait: "redis read -> c2s write" is the pod's own work between the accept reply and
the forward, "redis write -> redis read" a script round trip as the pod sees it, "c2s write -> c2s
read" the server; and each system call's own duration. The trace slows every call, so the numbers
are upper bounds; the counts are exact.
"""
import re
import statistics
import sys


def main():
    path, http, redis, c2s = sys.argv[1:5]
    names = {http: "http", redis: "redis", c2s: "c2s"}
    calls = []
    for line in open(path):
        m = re.match(r'\s*([\d.]+) \(\s*([\d.]+) ms\): \S+ (\w+)\((?:fd: (\d+))?', line)
        if m:
            calls.append((float(m[1]), float(m[2]), m[3], m[4]))
    gaps = {}
    counts = {}

    def add(kind, ms):
        gaps.setdefault(kind, []).append(ms * 1000)

    for i, (t, d, name, fd) in enumerate(calls):
        counts[(name, names.get(fd, fd) if name != 'epoll_wait' else '')] = counts.get(
            (name, names.get(fd, fd) if name != 'epoll_wait' else ''), 0) + 1
        if name == 'epoll_wait':
            continue
        add(f'syscall {name} {names.get(fd, fd)}', d)
        j = i + 1
        while j < len(calls) and calls[j][2] == 'epoll_wait':
            j += 1
        if j >= len(calls):
            break
        t2, _, name2, fd2 = calls[j]
        if fd not in names or fd2 not in names:
            continue
        verb = 'read' if name == 'read' else 'write'
        verb2 = 'read' if name2 == 'read' else 'write'
        add(f'{names[fd]} {verb} -> {names[fd2]} {verb2}', t2 - (t + d))
    steps = counts.get(('writev', 'http'), 0) or 1
    print(f'steps (HTTP responses written): {steps}')
    for key, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f'  {key[0]} {key[1]}: {n / steps:.2f} per step')
    for kind, v in sorted(gaps.items()):
        if len(v) >= 10:
            print(f'{kind:26s} n={len(v):6d} p50={statistics.median(v):7.1f} us mean={statistics.mean(v):7.1f} us')


if __name__ == '__main__':
    main()
