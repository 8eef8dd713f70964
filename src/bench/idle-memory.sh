#!/usr/bin/env bash
# Memory per idle session (BENCHMARKS.md, "Memory per idle session"): one xbosh pod on Redis in
# front of Prosody (loopback, free ports); idle BOSH sessions are added in steps (STEPS, cumulative,
# e.g. "2000 5000"), each step by a generator of its own that keeps its sessions long-polling; once
# a step's sessions rest (SETTLE_S after their last login, 2 × WAIT + 15 s: the login answers have
# aged out of the resend cache, which drops an answer older than WAIT + 10 s at the session's next
# script, its next poll, up to WAIT later; every session has had empty polls answered) the pod is
# measured: live heap after a
# full collection (jcmd GC.run, GC.heap_info), RSS, its open files, its memory cgroup's usage and
# peak (POD_CGROUP), Redis used_memory, the sessions it owns (/metrics), and a class histogram
# (target/bench/idle-memory/histogram-<label>-<n>.txt). One row per step goes to
# target/bench/idle-memory.tsv; per-session numbers are slopes between steps (with one step: from
# the empty pod); its age_s column is the settled age. What the session keys hold at each of
# REDIS_AGES and at the settled age (src/bench/redis-sessions.py: encodings, MEMORY USAGE, fields)
# goes to target/bench/idle-memory/sessions.tsv and fields.tsv.
# Knobs: JAR (the pod's build, default target/xbosh.jar), GEN_JAR (the generator's, default JAR),
# LABEL, STEPS, WAIT (the clients' wait, 20 s), SETTLE_S (2 × WAIT + 15), REDIS_AGES (ages in s after a
# step's last login, ascending, below SETTLE_S, at which Redis alone is read before the settled
# measurement, e.g. "10 60 80"), H2C (0: HTTP/1.1, a connection
# per held request; N: HTTP/2 without TLS over N connections, the pod with XBOSH_HTTP2_CLEARTEXT),
# POD_JAVA_OPTS (-Xmx1g -XX:+UseG1GC), POD_CGROUP (a memory cgroup v1 directory the pod is put in),
# POD_ENV (more VAR=value for the pod), LOGIN_CONCURRENCY (100). With -XX:NativeMemoryTracking=summary in
# POD_JAVA_OPTS each step also writes the JVM's own account of its memory (nmt-<label>-<n>.txt); with
# HEAP_DUMP=1, a heap dump of the live objects (heap-<label>-<n>.hprof, for src/bench/hprof-owners.py).
set -euo pipefail
cd "$(dirname "$0")/../.."

OUT=target/bench
STEPS=${STEPS:-2000 5000}
WAIT=${WAIT:-20}
SETTLE_S=${SETTLE_S:-$((2 * WAIT + 15))}
REDIS_AGES=${REDIS_AGES:-}
H2C=${H2C:-0}
JAR=${JAR:-target/xbosh.jar}
GEN_JAR=${GEN_JAR:-$JAR}
LABEL=${LABEL:-$(basename "$JAR" .jar)$([ "$H2C" -gt 0 ] && echo "-h2c$H2C" || true)}
POD_JAVA_OPTS=${POD_JAVA_OPTS:--Xmx1g -XX:+UseG1GC}
LOGIN_CONCURRENCY=${LOGIN_CONCURRENCY:-100}
mkdir -p "$OUT/idle-memory"
WORK=$(mktemp -d /tmp/xbosh-idlemem.XXXXXX)
cp "$JAR" "$WORK/pod.jar"
cp "$GEN_JAR" "$WORK/gen.jar"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  cp "$WORK/pod.log" "$OUT/idle-memory/pod-$LABEL.log" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_for_line() { # file, text, seconds
  for _ in $(seq 1 $(( $3 * 10 ))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1" >&2; tail -20 "$1" >&2; return 1
}

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --dir "$WORK" \
  --maxclients 30000 > "$WORK/redis.log" 2>&1 &
PIDS+=($!)
wait_for_line "$WORK/redis.log" "Ready to accept connections" 20

C2S_PORT=$(free_port)
python3 - "$WORK/prosody/data/localhost/accounts" "$STEPS" <<'PY'
import os, sys
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
prev = 0
for i, n in enumerate(int(s) for s in sys.argv[2].split()):
    for j in range(n - prev):
        with open(os.path.join(d, f"s{i}u{j}.dat"), "w") as f:
            f.write('return {\n\t["password"] = "pw";\n};\n')
    prev = n
PY
cat > "$WORK/prosody/prosody.cfg.lua" <<CFG
daemonize = false
run_as_root = true
pidfile = "$WORK/prosody/prosody.pid"
data_path = "$WORK/prosody/data"
log = { { levels = { min = "error" }, to = "console" } }
interfaces = { "127.0.0.1" }
c2s_ports = { $C2S_PORT }
c2s_direct_tls_ports = { }
legacy_ssl_ports = { }
s2s_ports = { }
http_ports = { }
https_ports = { }
modules_enabled = { "roster", "saslauth", "disco", "posix" }
modules_disabled = { "s2s" }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
limits = { c2s = { rate = "100mb/s" } }
network_settings = { max_connections = 60000 }
VirtualHost "localhost"
CFG
prosody --config "$WORK/prosody/prosody.cfg.lua" > "$WORK/prosody.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$C2S_PORT) 2>/dev/null && break; sleep 0.1; done

PORT=$(free_port)
h2env=()
[ "$H2C" -gt 0 ] && h2env=(XBOSH_HTTP2_CLEARTEXT=true)
# shellcheck disable=SC2086 # POD_ENV and POD_JAVA_OPTS: words on purpose
env XBOSH_HTTP_HOST=127.0.0.1 XBOSH_HTTP_PORT="$PORT" XBOSH_NODE_ID=idlemem XBOSH_UPSTREAM="127.0.0.1:$C2S_PORT" \
  XBOSH_REDIS_URL="redis://127.0.0.1:$REDIS_PORT" XBOSH_POD_DEAD_MS=30000 XBOSH_EVENT_LOOPS=2 \
  XBOSH_MAX_SESSIONS=20000 XBOSH_MAX_HELD_REQUESTS=40000 XBOSH_MAX_CONNECTIONS=40000 XBOSH_MAX_CONNECTIONS_PER_ADDRESS=0 \
  XBOSH_CREATES_PER_SECOND=0 XBOSH_MAX_PREAUTH_PER_ADDRESS=100000 XBOSH_MAX_PREAUTH_SESSIONS=100000 \
  XBOSH_MAX_HELD_PER_ADDRESS=1000000 XBOSH_MAX_CONNECTS_IN_FLIGHT=1000 ${h2env[@]+"${h2env[@]}"} ${POD_ENV:-} \
  sh -c '[ -z "$1" ] || echo $$ > "$1/cgroup.procs"; shift; exec "$@"' pod "${POD_CGROUP:-}" \
  java $POD_JAVA_OPTS -jar "$WORK/pod.jar" > "$WORK/pod.log" 2>&1 &
POD=$!
PIDS+=($POD)
wait_for_line "$WORK/pod.log" "listening on" 120
URL="http://127.0.0.1:$PORT/http-bind"

JCMD=$(dirname "$(readlink -f "$(command -v java)")")/jcmd
heap_kb() { "$JCMD" "$POD" GC.run >/dev/null; "$JCMD" "$POD" GC.heap_info | grep -o 'total [0-9]*K, used [0-9]*K' | head -1 | sed 's/.*used \([0-9]*\)K/\1/'; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$POD/status"; }
owned() { curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^xbosh_sessions_owned/ { print int($2) }' | head -1; }
cg() { [ -n "${POD_CGROUP:-}" ] && echo $(( $(cat "$POD_CGROUP/$1") / 1024 )) || echo -; }
redis_sessions() { # age: what the step's session keys hold now (all sessions of the pod so far)
  python3 src/bench/redis-sessions.py --port "$REDIS_PORT" --label "$LABEL-$n" --age "$1" \
    --out "$OUT/idle-memory/sessions.tsv" --fields "$OUT/idle-memory/fields.tsv" | sed "s/^/age $1 s after the logins: /"
}
redis_used() { redis-cli -p "$REDIS_PORT" info memory | awk -F: '/^used_memory:/ { print int($2) }'; }

TSV=$OUT/idle-memory.tsv
[ -f "$TSV" ] || printf 'label\tstep\tage_s\tsessions\theap_kb\trss_kb\tfds\tcgroup_kb\tcgroup_peak_kb\tredis_used_b\theap_per_session_b\trss_per_session_b\tredis_per_session_b\tloadavg\n' > "$TSV"
sleep 5
h0=$(heap_kb); r0=$(rss_kb); d0=$(redis_used); n0=0
echo "empty pod: heap ${h0} KiB, RSS ${r0} KiB, Redis used_memory ${d0} B, load $(cut -d' ' -f1-3 /proc/loadavg)"
i=0; prev=0
for n in $STEPS; do
  java -Xmx768m -XX:+UseSerialGC -cp "$WORK/gen.jar" io.xbosh.bench.Bench --label "hold-$i" --scenario idle --sessions $((n - prev)) \
    --duration-s 86400 --login-concurrency "$LOGIN_CONCURRENCY" --domain localhost --user-prefix "s${i}u" --password pw \
    --wait "$WAIT" --h2c "$H2C" --out "$WORK/hold.tsv" --url "$URL" > "$WORK/hold-$i.log" 2>&1 &
  PIDS+=($!)
  t0=$(date +%s)
  wait_for_line "$WORK/hold-$i.log" "logged in" 3600
  t1=$(date +%s)
  echo "step $i: $((n - prev)) logins in $((t1 - t0)) s, load $(cut -d' ' -f1-3 /proc/loadavg)"
  for age in $REDIS_AGES; do
    sleep $(( t1 + age > $(date +%s) ? t1 + age - $(date +%s) : 0 ))
    redis_sessions "$age"
  done
  sleep $(( t1 + SETTLE_S > $(date +%s) ? t1 + SETTLE_S - $(date +%s) : 0 ))
  redis_sessions "$SETTLE_S"
  h=$(heap_kb); r=$(rss_kb); d=$(redis_used); s=$(owned); fds=$(ls "/proc/$POD/fd" | wc -l)
  "$JCMD" "$POD" GC.class_histogram > "$OUT/idle-memory/histogram-$LABEL-$n.txt"
  [ "${HEAP_DUMP:-0}" = 1 ] && "$JCMD" "$POD" GC.heap_dump "$(pwd)/$OUT/idle-memory/heap-$LABEL-$n.hprof" >/dev/null
  case "$POD_JAVA_OPTS" in *NativeMemoryTracking*) "$JCMD" "$POD" VM.native_memory summary > "$OUT/idle-memory/nmt-$LABEL-$n.txt" ;; esac
  per() { [ "$s" -gt "$n0" ] && echo $(( ($1 - $2) / (s - n0) )) || echo -; }
  row="$LABEL	$i	$SETTLE_S	$s	$h	$r	$fds	$(cg memory.usage_in_bytes)	$(cg memory.max_usage_in_bytes)	$d	$(per $((h * 1024)) $((h0 * 1024)))	$(per $((r * 1024)) $((r0 * 1024)))	$(per "$d" "$d0")	$(cut -d' ' -f1 /proc/loadavg)"
  echo "$row" | tee -a "$TSV"
  h0=$h; r0=$r; d0=$d; n0=$s; prev=$n; i=$((i + 1))
done
grep -h "errors=\|failedLogins" "$WORK"/hold-*.log | tail -5 || true
