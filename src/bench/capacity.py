#!/usr/bin/env python3
"""The capacity model of docs/CAPACITY.md, evaluated on one benchmark run.

    python3 src/bench/capacity.py [target/bench] [--pod-cores 2] [--pod-util 0.6] [--pod-mem-mb 2048]
        [--pod-sessions-max 20000] [--shard-util 0.5] [--shard-mem-mb 8192] [--wait 60] [--chat DIR]
        [--redis-b B] [--redis-young-b B] [--c-pub-us US]

Reads procs.tsv and results.tsv of src/bench/run-benchmarks.sh, fits the per-session and
per-message costs (least squares over the one-pod idle steps; medians over the chat rounds),
prints them, checks the model against the multi-pod Redis Cluster run, and prints pods, Redis
shards and memory for 100,000 and 1,000,000 sessions at several chat rates, naming the first
bottleneck. Every formula is in this file and in docs/CAPACITY.md; change an input, run it again.
--chat DIR takes the per-message inputs from another run's procs.tsv (a scale-only run has no chat
rounds); without any, only the idle rows of the plan are printed. --redis-b replaces the run's
Redis bytes per idle session by one measured at a settled age (src/bench/idle-memory.sh: a run whose
steps were read before their sessions' login answers left the resend cache gives a young value);
--redis-young-b, Redis bytes per session while it is young (younger than 2 x wait: a login storm,
every client back at once), sizes the shards' memory for that peak too. --c-pub-us replaces the
publish cost estimated from the chat run (Redis CPU per message with two pods less that with one)
by one measured elsewhere: on a loaded machine the two come out equal and the estimate is 0.
"""
import argparse
import csv
import math
import os
import statistics
import sys


def rows(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [r for r in csv.DictReader(f, delimiter="\t") if r.get("label") != "label"]


def fit(points):
    """Least-squares line y = a + b x; returns (a, b)."""
    n = len(points)
    if n < 2:
        return (points[0][1] if points else 0.0, 0.0)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    b = sum((p[0] - mx) * (p[1] - my) for p in points) / sxx if sxx else 0.0
    return my - b * mx, b


def step_sums(procs, label):
    """{sessions: {kind: value}} summed over processes, for one idle-scale run."""
    out = {}
    for r in procs:
        if r["scenario"] != "idle-scale" or r["label"] != label:
            continue
        s = out.setdefault(int(r["sessions"]), {"xbosh_cores": 0, "redis_cores": 0, "prosody_cores": 0,
                                                "heap_mb": 0, "rss_mb": 0, "redis_max_cores": 0, "prosody_rss_mb": 0})
        p = r["process"]
        kind = "xbosh" if p.startswith("xbosh") else "redis" if p.startswith("redis") else \
            "prosody" if p.startswith("prosody") else None
        if kind:
            s[kind + "_cores"] += max(0.0, float(r["cpu_cores"]))
        if kind == "redis":
            s["redis_max_cores"] = max(s["redis_max_cores"], float(r["cpu_cores"]))
        if kind == "prosody":
            s["prosody_rss_mb"] += max(0.0, float(r["rss_mb"]))
        if kind == "xbosh":
            s["heap_mb"] += max(0.0, float(r["heap_mb"]))
            s["rss_mb"] += max(0.0, float(r["rss_mb"]))
        s["cmds"] = float(r["redis_cmds_per_s"])
        s["evalsha"] = float(r["redis_evalsha_per_s"])
        s["redis_mb"] = float(r["redis_used_mb"])
    return out


def chat_median(procs, label, process, column="cpu_s_per_1000_msgs"):
    v = [float(r[column]) for r in procs if r["scenario"] == "chat" and r["label"] == label and r["process"] == process]
    v = [x for x in v if x >= 0]
    return statistics.median(v) if v else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", nargs="?", default="target/bench")
    ap.add_argument("--pod-cores", type=float, default=2.0)
    ap.add_argument("--pod-util", type=float, default=0.6)
    ap.add_argument("--pod-mem-mb", type=float, default=2048)
    ap.add_argument("--pod-base-mb", type=float, default=None, help="RSS of a pod with no session (default: measured)")
    ap.add_argument("--pod-sessions-max", type=int, default=20000)
    ap.add_argument("--shard-util", type=float, default=0.5)
    ap.add_argument("--shard-mem-mb", type=float, default=8192)
    ap.add_argument("--wait", type=float, default=60)
    ap.add_argument("--heartbeat-s", type=float, default=1.0)
    ap.add_argument("--heap-frac", type=float, default=0.55, help="the pod's heap limit as a share of its memory (Dockerfile MaxRAMPercentage)")
    ap.add_argument("--live-frac", type=float, default=0.5, help="share of the heap limit the live data may take (G1's head-room)")
    ap.add_argument("--redis-b", type=float, default=None, help="Redis bytes per settled idle session (default: the run's)")
    ap.add_argument("--redis-young-b", type=float, default=None, help="Redis bytes per session younger than 2 x wait")
    ap.add_argument("--c-pub-us", type=float, default=None, help="Redis CPU per PUBLISH in µs (default: estimated from the chat rounds)")
    ap.add_argument("--chat", default=None, help="directory of the run whose chat rounds give the per-message inputs (default: DIR)")
    a = ap.parse_args()
    procs = rows(os.path.join(a.dir, "procs.tsv"))
    chat = rows(os.path.join(a.chat or a.dir, "procs.tsv"))
    results = rows(os.path.join(a.dir, "results.tsv"))

    one = step_sums(procs, "one-pod")
    if len(one) < 2:
        sys.exit("no one-pod idle-scale steps in procs.tsv")
    pts = sorted(one.items())
    # Per-session costs: the largest one-pod step net of a pod with no session (a two-point slope).
    # A least-squares line through every step (kept below for comparison) let the JIT compilation of
    # the first minutes after a pod starts or a step logs in (0.06 cores at 0 and 1,000 sessions
    # against 0.03 at 8,000) tilt it, and the memory steps are not linear either (G1 grows the heap
    # in steps; freshly logged-in sessions still hold their login's cached responses in Redis).
    top_n = max(one)
    top, zero = one[top_n], one[min(one)]
    # an idle pod's own cost (heartbeats, sweep): the quietest pod measured with no session in this run
    pod_idle = min([float(r["cpu_cores"]) for r in procs if r["scenario"] == "idle-scale" and r["sessions"] == "0"
                    and r["process"].startswith("xbosh") and float(r["cpu_cores"]) >= 0] or [zero["xbosh_cores"]])

    def slope(key, base):
        return (base, max(0.0, (top[key] - base) / top_n))

    k_pod = slope("xbosh_cores", pod_idle)
    k_redis = slope("redis_cores", zero["redis_cores"])
    q_idle = slope("cmds", zero["cmds"])
    e_idle = slope("evalsha", zero["evalsha"])
    m_rss = slope("rss_mb", zero["rss_mb"])
    m_heap = slope("heap_mb", zero["heap_mb"])
    m_redis = slope("redis_mb", zero["redis_mb"])
    m_redis_run = m_redis
    if a.redis_b is not None:
        m_redis = (m_redis[0], a.redis_b / 1048576)
    m_young = a.redis_young_b / 1048576 if a.redis_young_b is not None else None
    m_xmpp = slope("prosody_rss_mb", zero["prosody_rss_mb"])
    lsq = {k: fit([(n, v[k]) for n, v in pts])[1] for k in ("xbosh_cores", "redis_cores", "cmds", "rss_mb", "heap_mb", "redis_mb")}

    c_pod = chat_median(chat, "xbosh-redis", "xbosh-redis1") / 1000  # CPU-s per delivered message
    c_redis = chat_median(chat, "xbosh-redis", "redis-server") / 1000
    c_xmpp = chat_median(chat, "xbosh-redis", "prosody") / 1000
    c_pod2 = (chat_median(chat, "xbosh-redis-2pods", "xbosh-redis1") + chat_median(chat, "xbosh-redis-2pods", "xbosh-redis2")) / 1000
    c_redis2 = chat_median(chat, "xbosh-redis-2pods", "redis-server") / 1000
    cmd_rows = [r for r in chat if r["scenario"] == "chat" and r["label"] == "xbosh-redis" and r["process"] == "generator"]
    q_msg = statistics.median([float(r["redis_cmds_per_s"]) * float(r["seconds"]) / max(1, int(r["delivered"])) for r in cmd_rows]) \
        if cmd_rows else float("nan")
    cmd_rows2 = [r for r in chat if r["scenario"] == "chat" and r["label"] == "xbosh-redis-2pods" and r["process"] == "generator"]
    q_msg2 = statistics.median([float(r["redis_cmds_per_s"]) * float(r["seconds"]) / max(1, int(r["delivered"])) for r in cmd_rows2]) \
        if cmd_rows2 else float("nan")
    # publishes per delivered message in the two-pod chat rounds (commandstats), over the share of
    # answers that cross pods there (one half): publishes per message when every answer crosses
    stats = rows(os.path.join(a.chat or a.dir, "commandstats.tsv"))
    pub_rounds = {}
    for r in stats:
        if r["scenario"] == "chat" and r["label"] == "xbosh-redis-2pods" and r["command"] in ("publish", "spublish"):
            k = (r["sessions"], r["rate"], r["delivered"], r["http_requests"])
            pub_rounds[k] = pub_rounds.get(k, 0) + int(r["calls"])
    q_pub = statistics.median([c / max(1, int(k[2])) / 0.5 for k, c in pub_rounds.items()]) if pub_rounds else float("nan")
    base_rss = a.pod_base_mb if a.pod_base_mb is not None else m_rss[0]

    print(f"### Inputs measured in this run (idle: the {top_n:,}-session one-pod step net of the empty pod)\n")
    print("| symbol | meaning | value | least-squares line through every step (the earlier fit) |\n|---|---|---|---|")
    print(f"| k_pod | xbosh CPU per idle session (wait={a.wait:.0f}) | {k_pod[1] * 1e6:.2f} µcores ({k_pod[1] * 1000:.4f} cores per 1,000; "
          f"an idle pod {pod_idle:.3f}) | {lsq['xbosh_cores'] * 1e6:.2f} µcores |")
    print(f"| k_redis | redis-server CPU per idle session | {k_redis[1] * 1e6:.2f} µcores ({k_redis[1] * 1000:.4f} cores per 1,000) | "
          f"{lsq['redis_cores'] * 1e6:.2f} µcores |")
    print(f"| q_idle | Redis commands/s per idle session | {q_idle[1]:.4f} (EVALSHA {e_idle[1]:.4f}; 1/wait = {1 / a.wait:.4f}: "
          f"{q_idle[1] * a.wait:.1f} commands and {e_idle[1] * a.wait:.2f} scripts per poll) | {lsq['cmds']:.4f} |")
    print(f"| m_rss, m_heap | pod RSS / heap per idle session | {m_rss[1] * 1024:.1f} KiB / {m_heap[1] * 1024:.1f} KiB (pod base RSS {base_rss:.0f} MB) | "
          f"{lsq['rss_mb'] * 1024:.1f} / {lsq['heap_mb'] * 1024:.1f} KiB |")
    if a.redis_b is None:
        print(f"| m_redis | Redis used_memory per idle session | {m_redis[1] * 1048576:.0f} B | {lsq['redis_mb'] * 1048576:.0f} B |")
    else:
        print(f"| m_redis | Redis used_memory per idle session, settled (--redis-b; this run's step: "
              f"{m_redis_run[1] * 1048576:.0f} B) | {m_redis[1] * 1048576:.0f} B | {lsq['redis_mb'] * 1048576:.0f} B |")
    if m_young is not None:
        print(f"| m_young | Redis used_memory per session younger than 2 × wait (--redis-young-b) | {m_young * 1048576:.0f} B | |")
    print(f"| m_xmpp | Prosody RSS per idle session (the XMPP tier, not xbosh's) | {m_xmpp[1] * 1024:.1f} KiB | |")
    print(f"| c_pod | xbosh CPU-s per delivered message (one pod) | {c_pod * 1000:.3f} s per 1,000 | |")
    print(f"| c_redis | redis-server CPU-s per delivered message (one pod) | {c_redis * 1000:.3f} s per 1,000 | |")
    print(f"| c_pod2, c_redis2 | the same with two pods in round robin | {c_pod2 * 1000:.3f}, {c_redis2 * 1000:.3f} s per 1,000 | |")
    print(f"| c_xmpp | Prosody c2s routing per message (not xbosh's, for the XMPP tier) | {c_xmpp * 1000:.3f} s per 1,000 | |")
    print(f"| q_msg | Redis commands per delivered message (one pod; two pods) | {q_msg:.2f}; {q_msg2:.2f} | |")
    print(f"| q_pub | PUBLISHes per delivered message when every answer crosses pods (two pods' rounds ÷ 0.5) | {q_pub:.2f} | |")
    print()

    # ---- the check against the largest run
    many = step_sums(procs, "cluster-pods")
    if len(many) >= 2:
        n = max(many)
        zero = many[min(many)]
        big = many[n]
        pods = len({r["process"] for r in procs if r["label"] == "cluster-pods" and r["process"].startswith("xbosh")})
        print(f"### Model against the {pods}-pod, 3-master Redis Cluster run ({n:,} idle sessions)\n")
        print("| quantity | model (one-pod inputs × sessions + base) | measured | measured / model |\n|---|---|---|---|")
        for name, base_v, per, meas in [
            # the pods' base: as many idle pods (their 0-session window still holds JIT compilation)
            ("xbosh cores, all pods", pods * pod_idle, k_pod[1], big["xbosh_cores"]),
            ("redis-server cores, 3 shards", zero["redis_cores"], k_redis[1], big["redis_cores"]),
            ("busiest shard cores (model: a third of all)", zero["redis_max_cores"], k_redis[1] / 3, big["redis_max_cores"]),
            ("Redis commands/s", zero["cmds"], q_idle[1], big["cmds"]),
            ("EVALSHA/s", zero["evalsha"], e_idle[1], big["evalsha"]),
            ("xbosh heap MB after GC, all pods", zero["heap_mb"], m_heap[1], big["heap_mb"]),
            ("xbosh RSS MB, all pods", zero["rss_mb"], m_rss[1], big["rss_mb"]),
            ("Redis MB, 3 shards", zero["redis_mb"], m_redis[1], big["redis_mb"]),
            ("Prosody RSS MB, all (XMPP tier)", zero["prosody_rss_mb"], m_xmpp[1], big["prosody_rss_mb"]),
        ]:
            model = base_v + per * n
            print(f"| {name} | {model:.3f} | {meas:.3f} | {meas / model if model else float('nan'):.2f} |")
        print()

    # ---- the plan
    print("### Pods, shards and memory\n")
    print(f"Pod: {a.pod_cores:g} cores used to {a.pod_util:.0%}, {a.pod_mem_mb:.0f} MB (heap limit {a.heap_frac:.0%} of it, live data "
          f"at most {a.live_frac:.0%} of that), at most {a.pod_sessions_max:,} sessions; "
          f"Redis shard: one core (its command thread) used to {a.shard_util:.0%}, {a.shard_mem_mb:.0f} MB. "
          "Messages counted once per delivery; every pod behind a load balancer without stickiness.\n")
    c_tier = c_pod2 if not math.isnan(c_pod2) else c_pod
    c_rtier = c_redis
    # with two pods in round robin about half the answers are published to the other pod; what Redis
    # spends more per message there than with one pod is the price of those publishes
    q_pub_or_1 = q_pub if not math.isnan(q_pub) else 1.0
    c_pub = max(0.0, (c_redis2 - c_redis) / (0.5 * q_pub_or_1)) if not math.isnan(c_redis2) else float("nan")
    print(f"Publish cost estimated from (c_redis2 - c_redis) / (0.5 · q_pub): c_pub = {c_pub * 1e6:.1f} µs of Redis CPU per PUBLISH.\n")
    if a.c_pub_us is not None:
        c_pub = a.c_pub_us / 1e6
        print(f"Publish cost given (--c-pub-us): c_pub = {a.c_pub_us:.1f} µs of Redis CPU per PUBLISH.\n")
    no_chat = math.isnan(c_tier) or math.isnan(c_rtier)
    if no_chat:
        print("No chat rounds in this run (--chat DIR names a run that has them): idle rows only.\n")
    print("| sessions | msg/s per session | msgs/s total | pods (CPU / memory / cap) | live heap per pod | "
          "Redis cores | Redis MB" + (" (settled; all young)" if m_young is not None else "") + " | shards (CPU / memory) | PUBLISH/s, their Redis cores (in Redis CPU) | `{pods}` shard: owned-set MB | first bottleneck |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for S in (100_000, 1_000_000):
        for r in ((0.0,) if no_chat else (0.0, 0.01, 0.1)):
            M = S * r
            cpu_pod = S * k_pod[1] + (M * c_tier if M else 0.0)
            pods_cpu = math.ceil(cpu_pod / (a.pod_cores * a.pod_util))
            # by the live heap (after a full GC), which the 40,000-session check matched, not by RSS,
            # which is the committed heap: what G1 grew to under the load of the logins (1.7x the model)
            heap_room = a.pod_mem_mb * a.heap_frac * a.live_frac - m_heap[0]
            pods_mem = math.ceil(S * m_heap[1] / max(1e-9, heap_room))
            pods_cap = math.ceil(S / a.pod_sessions_max)
            P = max(pods_cpu, pods_mem, pods_cap, 2)
            live_each = m_heap[0] + S / P * m_heap[1]
            # an answer for a request held on another pod is published to that pod; waits that run out
            # are answered by the pod holding them (one script per idle poll), which publishes nothing.
            # On a Redis Cluster the publish is a sharded one (SPUBLISH on the session's slot): it stays
            # on the session's shard and spreads over the shards with the rest of the session's work.
            pubs = M * q_pub_or_1 * (P - 1) / P
            pub_cores = pubs * c_pub if not math.isnan(c_pub) else 0.0
            cpu_redis = S * k_redis[1] + (M * c_rtier if M else 0.0) + pub_cores
            mem_redis = S * m_redis[1]
            # a login storm: every session young at once, its login's answers still cached
            mem_peak = max(mem_redis, S * m_young) if m_young is not None else mem_redis
            shards_cpu = math.ceil(cpu_redis / a.shard_util)
            shards_mem = math.ceil(mem_peak / (a.shard_mem_mb * 0.75))
            shards = max(shards_cpu, shards_mem, 1)
            owned_mb = S * 80 / 1048576  # a sid (24 B) in a set: ~80 B with its dict entry
            pod_limit = max([("pod CPU", pods_cpu), ("pod memory", pods_mem), ("sessions per pod", pods_cap)], key=lambda x: x[1])[0]
            redis_limit = "Redis CPU per shard" if shards_cpu >= shards_mem else "Redis memory per shard"
            print(f"| {S:,} | {r:g} | {M:,.0f} | {P} ({pods_cpu} / {pods_mem} / {pods_cap}) | {live_each:.0f} MB | "
                  f"{cpu_redis:.2f} | {mem_redis:,.0f}{'; ' + format(mem_peak, ',.0f') if m_young is not None else ''} | {shards} ({shards_cpu} / {shards_mem}) | {pubs:,.0f}, {pub_cores:.3f} | "
                  f"{owned_mb:.0f} | pods: {pod_limit}; Redis: {redis_limit} |")
    print()


if __name__ == "__main__":
    main()
