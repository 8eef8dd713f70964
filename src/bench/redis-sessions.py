#!/usr/bin/env python3
"""What the sessions of one Redis hold: keys, encodings, MEMORY USAGE and the hash's fields.

  src/bench/redis-sessions.py --port P [--label L] [--age S] [--out sessions.tsv] [--fields fields.tsv]

Reads every `xb:{sid}` key (SCAN), and for each session hash its encoding, `MEMORY USAGE ... SAMPLES 0`
(exact) and every field with its value's length; the lists `xb:{sid}:o` / `:i` likewise. One row
to --out (a summary: sessions, used_memory, bytes per session by kind of key, hashes by
encoding, values past `hash-max-listpack-value`, and the hashes by the age of their oldest cached
response, 30 s buckets: while a session is young that is its login's first cached answer, so one
reading shows the hash at every age the logins spread over), one row per field name to --fields (in how many
hashes, mean and largest value length, in how many it is the value past the listpack limit).
A plain RESP client (no module needed); the values are read as bytes (cached responses hold a NUL).
"""
import argparse
import os
import socket
import sys


class Resp:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")

    def send(self, *cmds):
        out = bytearray()
        for c in cmds:
            out += b"*%d\r\n" % len(c)
            for a in c:
                a = a if isinstance(a, bytes) else str(a).encode()
                out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)

    def read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t in (b"+", b":"):
            return int(rest) if t == b":" else rest.decode()
        if t == b"-":
            raise RuntimeError(rest.decode())
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2]
        if t == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError("unexpected reply %r" % line)

    def call(self, *args):
        self.send(args)
        return self.read()

    def pipeline(self, cmds, batch=500):
        replies = []
        for i in range(0, len(cmds), batch):
            part = cmds[i:i + batch]
            self.send(*part)
            replies += [self.read() for _ in part]
        return replies


def info(r, section, field):
    for line in r.call("INFO", section).decode().splitlines():
        if line.startswith(field + ":"):
            return int(line.split(":", 1)[1])
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--label", default="redis")
    ap.add_argument("--age", default="-")
    ap.add_argument("--out", default="sessions.tsv")
    ap.add_argument("--fields", default=None)
    a = ap.parse_args()
    r = Resp(a.port)
    limit = int(r.call("CONFIG", "GET", "hash-max-listpack-value")[1])
    # before this client's own pipelines, whose query and reply buffers used_memory would count
    used = info(r, "memory", "used_memory")
    dataset = info(r, "memory", "used_memory_dataset")
    keys, cursor = [], b"0"
    while True:
        cursor, part = r.call("SCAN", cursor, "MATCH", "xb:{*", "COUNT", 1000)
        keys += part
        if cursor in (b"0", "0"):
            break
    hashes = [k for k in keys if k.endswith(b"}") and not k.startswith(b"xb:{pods}")]
    others = [k for k in keys if k not in set(hashes) and not k.startswith(b"xb:{pods}")]
    pods = [k for k in keys if k.startswith(b"xb:{pods}")]
    usage = r.pipeline([("MEMORY", "USAGE", k, "SAMPLES", 0) for k in hashes])
    enc = r.pipeline([("OBJECT", "ENCODING", k) for k in hashes])
    alls = r.pipeline([("HGETALL", k) for k in hashes])
    ousage = r.pipeline([("MEMORY", "USAGE", k, "SAMPLES", 0) for k in others])
    ttl = r.pipeline([("PTTL", k) for k in hashes])
    n = len(hashes)
    secs, micros = r.call("TIME")
    now_ms = int(secs) * 1000 + int(micros) // 1000
    by_enc = {}
    fields = {}
    past = 0
    cached = 0
    cached_bytes = 0
    ages = {}  # by the age of the oldest cached response (while young: the login's first answer)
    for k, u, e, kv in zip(hashes, usage, enc, alls):
        e = e if isinstance(e, str) else e.decode()
        d = dict(zip(kv[0::2], kv[1::2]))
        times = [int(x.split(b":")[1]) for x in d.get(b"rc", b"").split() if b":" in x and x.split(b":")[1]]
        oldest = (now_ms - min(times)) // 1000 if times else -1
        bucket = "none" if oldest < 0 else "%d-%d s" % (oldest // 30 * 30, oldest // 30 * 30 + 30)
        b = ages.setdefault(bucket, [0, 0, 0])
        b[0] += 1
        b[1] += u
        b[2] += e == "hashtable"
        c = by_enc.setdefault(e, [0, 0, 0])
        c[0] += 1
        c[1] += u
        c[2] += len(kv) // 2
        over = False
        for i in range(0, len(kv), 2):
            name = kv[i].decode(errors="replace")
            if name.startswith("r:"):
                cached += 1
                cached_bytes += len(kv[i + 1])
            key = "r:<rid>" if name.startswith("r:") else "a:<rid>" if name.startswith("a:") else \
                "w:<seq>" if name.startswith("w:") else name
            f = fields.setdefault(key, [0, 0, 0, 0])
            f[0] += 1
            f[1] += len(kv[i + 1])
            f[2] = max(f[2], len(kv[i + 1]))
            if len(kv[i + 1]) > limit:
                f[3] += 1
                over = True
        past += over
    hash_b = sum(usage)
    other_b = sum(ousage)
    ttls = sorted(t for t in ttl if t is not None and t >= 0)
    enc_text = " ".join("%s=%d (%.0f B, %.1f fields)" % (e, c[0], c[1] / c[0], c[2] / c[0])
                        for e, c in sorted(by_enc.items()))
    header = ("label\tage_s\tsessions\tused_memory\tused_memory_dataset\tkeys\thash_usage_b_per_session\t"
              "other_keys\tother_usage_b_per_session\tpods_keys\tlistpack\thashtable\thashes_past_limit\t"
              "cached_responses_per_session\tcached_response_bytes_per_session\tttl_ms_median\tencodings\t"
              "by_oldest_cached_response_age\tloadavg\n")
    age_text = " ".join("%s: %d (%.0f B, %d hashtable)" % (a_, b[0], b[1] / b[0], b[2])
                        for a_, b in sorted(ages.items(), key=lambda x: int(x[0].split("-")[0]) if x[0] != "none" else -1))
    lp = by_enc.get("listpack", [0])[0]
    ht = by_enc.get("hashtable", [0])[0]
    row = "\t".join(str(x) for x in (
        a.label, a.age, n, used, dataset, len(keys), round(hash_b / n) if n else "-", len(others),
        round(other_b / n) if n else "-", len(pods), lp, ht, past, "%.2f" % (cached / n) if n else "-",
        round(cached_bytes / n) if n else "-", ttls[len(ttls) // 2] if ttls else "-", enc_text, age_text,
        open("/proc/loadavg").read().split()[0]))
    fresh = not os.path.exists(a.out)
    with open(a.out, "a") as o:
        o.write((header if fresh else "") + row + "\n")
    print(row)
    if a.fields:
        fresh = not os.path.exists(a.fields)
        with open(a.fields, "a") as o:
            if fresh:
                o.write("label\tage_s\tfield\thashes\tmean_len\tmax_len\tpast_limit\n")
            for name, f in sorted(fields.items(), key=lambda x: -x[1][1]):
                o.write("\t".join(str(x) for x in (a.label, a.age, name, f[0], "%.1f" % (f[1] / f[0]), f[2], f[3])) + "\n")


if __name__ == "__main__":
    sys.exit(main())
