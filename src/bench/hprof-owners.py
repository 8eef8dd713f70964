#!/usr/bin/env python3
"""Who holds what in a heap dump (idle-memory.sh HEAP_DUMP=1): objects grouped by their referrer chain.

Reads an HPROF file (jcmd GC.heap_dump: live objects only) and, for every object, takes one
referrer (the first found) with the field or array that points at it. Prints, per chain of DEPTH
classes ("byte[] <- java.lang.String.value <- ...HeadersMultiMap$MapEntry.value"), the number of
objects and their shallow bytes (compressed oops, 8-byte alignment), largest first; with
--per N, divided by N (the sessions of the step). With --class, only chains that start at that
class. A quick account of where an idle session's objects hang, not a retained-size analysis.

    src/bench/hprof-owners.py heap.hprof --per 2000 --depth 3 [--class '[B'] [--top 80]
"""
import argparse
import struct
import sys
from collections import defaultdict

SIZES = {2: 0, 4: 1, 5: 2, 6: 4, 7: 8, 8: 1, 9: 2, 10: 4, 11: 8}  # 2 (object) set to the id size
NAMES = {4: '[Z', 5: '[C', 6: '[F', 7: '[D', 8: '[B', 9: '[S', 10: '[I', 11: '[J'}
HEAP_SIZES = {2: 4, 4: 1, 5: 2, 6: 4, 7: 8, 8: 1, 9: 2, 10: 4, 11: 8}


def align(n):
    return (n + 7) & ~7


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('hprof')
    ap.add_argument('--per', type=float, default=1.0)
    ap.add_argument('--depth', type=int, default=3)
    ap.add_argument('--top', type=int, default=80)
    ap.add_argument('--class', dest='cls', default=None)
    ap.add_argument('--min', type=float, default=0.0, help='hide chains below this many bytes (after --per)')
    ap.add_argument('--examples', type=int, default=0, help='print this many example values (strings, byte arrays) per chain')
    a = ap.parse_args()

    data = open(a.hprof, 'rb').read()
    p = data.index(b'\0') + 1
    idsz = struct.unpack_from('>I', data, p)[0]
    p += 12
    SIZES[2] = idsz
    idfmt = '>I' if idsz == 4 else '>Q'

    def rid(off):
        return struct.unpack_from(idfmt, data, off)[0]

    strings = {}
    class_name = {}          # class object id -> name
    class_fields = {}        # class id -> (super id, [(name, type)])
    obj_class = {}           # object id -> class id, or array type name
    obj_size = {}
    parent = {}              # object id -> (referrer id, field name)
    pending_instances = []   # (id, class id, offset)
    bytes_at = {}            # byte[] id -> (offset, length)
    string_value = {}        # String id -> its byte[] id
    n = len(data)
    while p < n:
        tag = data[p]
        length = struct.unpack_from('>I', data, p + 5)[0]
        body = p + 9
        end = body + length
        if tag == 0x01:
            strings[rid(body)] = data[body + idsz:end].decode('utf-8', 'replace')
        elif tag == 0x02:
            class_name[rid(body + 4)] = strings.get(rid(body + 8 + idsz), '?').replace('/', '.')
        elif tag in (0x0C, 0x1C):
            q = body
            while q < end:
                st = data[q]
                q += 1
                if st == 0xFF or st == 0x05 or st == 0x07:
                    q += idsz
                elif st == 0x01:
                    q += 2 * idsz
                elif st in (0x02, 0x03, 0x08):
                    q += idsz + 8
                elif st in (0x04, 0x06):
                    q += idsz + 4
                elif st == 0x20:
                    cid = rid(q)
                    sup = rid(q + 4 + idsz)
                    q += 7 * idsz + 4
                    q += 4  # instance size
                    cp = struct.unpack_from('>H', data, q)[0]
                    q += 2
                    for _ in range(cp):
                        t = data[q + 2]
                        q += 3 + SIZES[t]
                    ns = struct.unpack_from('>H', data, q)[0]
                    q += 2
                    for _ in range(ns):
                        t = data[q + idsz]
                        q += idsz + 1 + SIZES[t]
                    nf = struct.unpack_from('>H', data, q)[0]
                    q += 2
                    fields = []
                    for _ in range(nf):
                        fields.append((strings.get(rid(q), '?'), data[q + idsz]))
                        q += idsz + 1
                    class_fields[cid] = (sup, fields)
                elif st == 0x21:
                    oid = rid(q)
                    cid = rid(q + 4 + idsz)
                    nb = struct.unpack_from('>I', data, q + 4 + 2 * idsz)[0]
                    off = q + 8 + 2 * idsz
                    obj_class[oid] = cid
                    pending_instances.append((oid, cid, off))
                    q = off + nb
                elif st == 0x22:
                    oid = rid(q)
                    cnt = struct.unpack_from('>I', data, q + 4 + idsz)[0]
                    acid = rid(q + 8 + idsz)
                    obj_class[oid] = acid
                    obj_size[oid] = align(16 + 4 * cnt)
                    off = q + 8 + 2 * idsz
                    for i in range(cnt):
                        r = rid(off + i * idsz)
                        if r and r not in parent:
                            parent[r] = (oid, '[]')
                    q = off + cnt * idsz
                elif st == 0x23:
                    oid = rid(q)
                    cnt = struct.unpack_from('>I', data, q + 4 + idsz)[0]
                    t = data[q + 8 + idsz]
                    obj_class[oid] = NAMES[t]
                    if t == 8:
                        bytes_at[oid] = (q + 9 + idsz, cnt)
                    obj_size[oid] = align(16 + HEAP_SIZES[t] * cnt)
                    q += 9 + idsz + cnt * SIZES[t]
                else:
                    sys.exit(f'unknown heap sub-record {st:#x} at {q - 1}')
        p = end

    layout = {}

    def fields_of(cid):
        if cid in layout:
            return layout[cid]
        out = []
        c = cid
        while c and c in class_fields:
            sup, fs = class_fields[c]
            out.extend(fs)
            c = sup
        size = align(12 + sum(HEAP_SIZES[t] for _, t in out))
        layout[cid] = (out, size)
        return layout[cid]

    for oid, cid, off in pending_instances:
        fs, size = fields_of(cid)
        obj_size[oid] = size
        for name, t in fs:
            if t == 2:
                r = rid(off)
                if name == 'value' and r:
                    string_value[oid] = r
                if r and r not in parent:
                    parent[r] = (oid, name)
            off += SIZES[t]

    def cname(oid):
        c = obj_class.get(oid)
        if isinstance(c, str):
            return c
        return class_name.get(c, '?')

    groups = defaultdict(lambda: [0, 0, []])
    for oid, size in obj_size.items():
        start = cname(oid)
        if a.cls and start != a.cls:
            continue
        chain = [start]
        o = oid
        for _ in range(a.depth - 1):
            if o not in parent:
                chain.append('(root or class)')
                break
            ref, field = parent[o]
            chain.append(f'{cname(ref)}.{field}')
            o = ref
        g = groups[' <- '.join(chain)]
        g[0] += 1
        g[1] += size
        if len(g[2]) < a.examples:
            g[2].append(oid)
    total = sum(g[1] for g in groups.values())
    print(f'{len(obj_size)} objects, {total} B; per {a.per:g}: {total / a.per:.1f} B')
    def show(oid):
        b = bytes_at.get(string_value.get(oid, oid))
        if b is None:
            return f'#{oid:x}'
        return repr(data[b[0]:b[0] + min(b[1], 100)])

    for k, (c, b, ex) in sorted(groups.items(), key=lambda kv: -kv[1][1])[:a.top]:
        if b / a.per < a.min:
            break
        print(f'{b / a.per:9.1f} B {c / a.per:7.2f} x  {k}')
        for oid in ex:
            print(f'              {show(oid)}')


if __name__ == '__main__':
    main()
