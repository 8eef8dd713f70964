#!/usr/bin/env bash
# Idle cost: what N idle BOSH sessions (long-polling, no traffic) cost a pod and Redis. Starts
# redis-server, Prosody and PODS xbosh pods on Redis (loopback, free ports), logs N sessions in
# through the load generator, then counts every Redis command (INFO commandstats) and the CPU of
# the pods and of redis-server over HOLD_S seconds. Appends one row per run to
# target/bench/idle-cost.tsv. Knobs: SESSIONS (1000), WAIT (60), HOLD_S (60), PODS (1),
# POD_JAR (the xbosh build under test, default target/xbosh.jar), LABEL, CLUSTER (1: a Redis
# Cluster of three masters instead of one redis-server; the commands and CPU of all three count).
set -euo pipefail
cd "$(dirname "$0")/../.."

OUT=target/bench
SESSIONS=${SESSIONS:-1000}
WAIT=${WAIT:-60}
HOLD_S=${HOLD_S:-60}
PODS=${PODS:-1}
JAR=${BENCH_JAR:-target/xbosh.jar}
POD_JAR=${POD_JAR:-$JAR}
LABEL=${LABEL:-$(basename "$POD_JAR" .jar)}

mkdir -p "$OUT"
[ -f "$JAR" ] || mvn -B -q package -DskipTests
WORK=$(mktemp -d /tmp/xbosh-idle.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # what ended sessions before the pods were stopped: a pod frozen for longer than XBOSH_POD_DEAD_MS
  # (a loaded machine can do that) is declared dead, and by design its sessions end
  for f in "$WORK"/pod*.log; do
    [ -f "$f" ] || continue
    echo "$(basename "$f"): declared dead $(grep -c 'was declared dead by another pod' "$f" || true) times;" \
      "reaped $(awk '/stopped; ending the [0-9]+ sessions/ { for (i = 1; i < NF; i++) if ($i == "the") n += $(i + 1) } END { print n + 0 }' "$f") sessions of other pods;" \
      "session ends by condition before the stop: $(grep ' session ended condition=' "$f" | grep -v 'condition=closed' \
        | grep -o 'condition=[a-z_-]*' | sort | uniq -c | tr -s ' ' | paste -sd, || true)"
  done
  # the pods' logs stay for a look at what happened (target/bench/idle-logs/<label>-<sessions>)
  mkdir -p "$OUT/idle-logs/$LABEL-$SESSIONS" && cp "$WORK"/pod*.log "$OUT/idle-logs/$LABEL-$SESSIONS/" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# a Redis Cluster node also listens on its port + 10000 (the cluster bus)
free_node_port() {
  python3 -c '
import socket, random
while True:
    p = random.randint(20000, 55000)
    try:
        for q in (p, p + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError:
        pass'
}
wait_for_line() { # file, text, seconds
  for _ in $(seq 1 $(( $3 * 10 ))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

CLUSTER=${CLUSTER:-0}
REDIS_ARGS=()
REDIS_URLS=()
if [ "$CLUSTER" = 1 ]; then MASTERS=3; else MASTERS=1; fi
for n in $(seq 1 "$MASTERS"); do
  port=$(free_node_port)
  mkdir -p "$WORK/redis$n"
  extra=()
  [ "$CLUSTER" = 1 ] && extra=(--cluster-enabled yes --cluster-config-file "$WORK/redis$n/nodes.conf" --cluster-node-timeout 5000)
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --dir "$WORK/redis$n" \
    --maxclients 30000 "${extra[@]}" > "$WORK/redis$n.log" 2>&1 &
  PIDS+=($!)
  REDIS_ARGS+=(--redis-port "$port" --redis-pid "$!")
  REDIS_URLS+=("redis://127.0.0.1:$port")
  wait_for_line "$WORK/redis$n.log" "Ready to accept connections" 20
done
REDIS_URL=$(IFS=,; echo "${REDIS_URLS[*]}")
if [ "$CLUSTER" = 1 ]; then
  redis-cli --cluster create $(printf '%s\n' "${REDIS_URLS[@]}" | sed 's|redis://||') --cluster-replicas 0 --cluster-yes > "$WORK/create.log"
  for _ in $(seq 1 100); do
    ok=1
    for u in "${REDIS_URLS[@]}"; do
      redis-cli -p "${u##*:}" cluster info | grep -q cluster_state:ok || ok=0
    done
    [ $ok = 1 ] && break
    sleep 0.2
  done
fi

C2S_PORT=$(free_port)
mkdir -p "$WORK/prosody/data/localhost/accounts"
for i in $(seq 0 $(( SESSIONS - 1 ))); do
  printf 'return {\n\t["password"] = "pw";\n};\n' > "$WORK/prosody/data/localhost/accounts/u$i.dat"
done
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

URLS=()
POD_PIDS=()
for n in $(seq 1 "$PODS"); do
  port=$(free_port)
  env XBOSH_HTTP_HOST=127.0.0.1 XBOSH_HTTP_PORT="$port" XBOSH_NODE_ID="idle$n" XBOSH_UPSTREAM="127.0.0.1:$C2S_PORT" \
    XBOSH_REDIS_URL="$REDIS_URL" XBOSH_REDIS_CLUSTER=$([ "$CLUSTER" = 1 ] && echo true || echo false) XBOSH_MAX_WAIT="$WAIT" \
    XBOSH_MAX_SESSIONS=20000 XBOSH_EVENT_LOOPS=2 XBOSH_MAX_CONNECTIONS=20000 XBOSH_MAX_CONNECTIONS_PER_ADDRESS=0 \
    XBOSH_CREATES_PER_SECOND=0 XBOSH_MAX_PREAUTH_PER_ADDRESS=100000 XBOSH_MAX_PREAUTH_SESSIONS=100000 \
    XBOSH_MAX_HELD_PER_ADDRESS=1000000 XBOSH_MAX_CONNECTS_IN_FLIGHT=1000 \
    java -Xmx1g -XX:+UseG1GC -jar "$POD_JAR" > "$WORK/pod$n.log" 2>&1 &
  PIDS+=($!)
  POD_PIDS+=(--pid "$!")
  wait_for_line "$WORK/pod$n.log" "listening on" 90
  URLS+=(--url "http://127.0.0.1:$port/http-bind")
done

echo "load: $(cat /proc/loadavg)"
java -Xmx1g -cp "$JAR" io.xbosh.bench.Bench --label "$LABEL" --scenario idle --sessions "$SESSIONS" --wait "$WAIT" \
  --duration-s "$HOLD_S" --login-concurrency 100 --domain localhost --user-prefix u --password pw \
  --out "$OUT/idle-results.tsv" --idle-out "$OUT/idle-cost.tsv" "${REDIS_ARGS[@]}" \
  "${URLS[@]}" "${POD_PIDS[@]}"
echo "load: $(cat /proc/loadavg)"
