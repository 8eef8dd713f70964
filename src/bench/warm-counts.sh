#!/usr/bin/env bash
# Warm counts: the system calls and context switches of every process for one warm wave of the
# cold scenario (200 users arriving at 50/s: login, ten roster round trips, messages; BENCHMARKS.md,
# "Cold start"), through Prosody's own mod_bosh and through an xbosh pod on Redis for each variant.
# Counts, unlike latencies, do not move with the machine's load. Per target: a fresh Prosody (and
# for a pod a fresh pod), WARM_S seconds of waves to warm it (not counted), then one wave counted
# by `perf stat -e syscalls:...` attached to the pod, redis-server and Prosody, and by the
# generator's own per-thread context switches (target/bench/warm-threads.tsv). Rows:
# target/bench/warm-counts.tsv (per process and event: the count and the count per user),
# target/bench/warm-cold.tsv (the wave's latency row). Needs perf with the syscalls tracepoints
# (root, or perf_event_paranoid <= 1 and a readable tracefs).
# Knobs: VARIANTS ("loops2 loops1"), VARIANT_ENV_<v> (the pod's extra environment),
# VARIANT_OPTS_<v> (its JVM options, default POD_JAVA_OPTS), WARM_S (60), USERS (200), JAR.
set -euo pipefail
cd "$(dirname "$0")/../.."

OUT=target/bench
JAR=${JAR:-target/xbosh.jar}
USERS=${USERS:-200}
WARM_S=${WARM_S:-60}
VARIANTS=${VARIANTS:-loops2 loops1}
POD_JAVA_OPTS=${POD_JAVA_OPTS:--Xmx1g -XX:+UseG1GC}
VARIANT_ENV_loops1=${VARIANT_ENV_loops1:-XBOSH_EVENT_LOOPS=1}
VARIANT_ENV_loops2=${VARIANT_ENV_loops2:-XBOSH_EVENT_LOOPS=2}
EVENTS=${EVENTS:-syscalls:sys_enter_epoll_wait,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_writev,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_futex,context-switches,cpu-migrations,task-clock}

mkdir -p "$OUT"
[ -f "$JAR" ] || mvn -B -q package -DskipTests
WORK=$(mktemp -d /tmp/xbosh-warm.XXXXXX)
cp "$JAR" "$WORK/xbosh.jar"
JAR=$WORK/xbosh.jar
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" > "$WORK/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=($REDIS_PID)
wait_port "$REDIS_PORT"

C2S_PORT=$(free_port)
PROSODY_HTTP=$(free_port)
mkdir -p "$WORK/prosody/data/localhost/accounts"
for i in $(seq 0 $((USERS - 1))); do printf 'return {\n\t["password"] = "pw";\n};\n' > "$WORK/prosody/data/localhost/accounts/u$i.dat"; done
cp -a "$WORK/prosody/data" "$WORK/prosody/data.pristine"
cat > "$WORK/prosody/prosody.cfg.lua" <<CFG
daemonize = false
run_as_root = true
pidfile = "$WORK/prosody/prosody.pid"
data_path = "$WORK/prosody/data"
log = { { levels = { min = "warn" }, to = "console" } }
interfaces = { "127.0.0.1" }
c2s_ports = { $C2S_PORT }
c2s_direct_tls_ports = { }
legacy_ssl_ports = { }
s2s_ports = { }
http_ports = { $PROSODY_HTTP }
http_interfaces = { "127.0.0.1" }
https_ports = { }
modules_enabled = { "roster", "saslauth", "disco", "ping", "bosh", "posix" }
modules_disabled = { "s2s" }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
consider_bosh_secure = true
bosh_max_inactivity = 60
limits = { c2s = { rate = "100mb/s" } }
VirtualHost "localhost"
CFG
fresh_prosody() {
  if [ -n "${PROSODY_PID:-}" ]; then kill "$PROSODY_PID"; wait "$PROSODY_PID" 2>/dev/null || true; fi
  rm -rf "$WORK/prosody/data"; cp -a "$WORK/prosody/data.pristine" "$WORK/prosody/data"
  prosody --config "$WORK/prosody/prosody.cfg.lua" >> "$WORK/prosody.log" 2>&1 &
  PROSODY_PID=$!
  PIDS+=($PROSODY_PID)
  wait_port "$C2S_PORT"
}

[ -f "$OUT/warm-counts.tsv" ] || printf 'label\tprocess\tevent\tcount\tper_user\tloadavg\n' > "$OUT/warm-counts.tsv"
gen() { # label, url, first-minute seconds, extra args...
  java -Xmx512m -cp "$JAR" io.xbosh.bench.Bench --scenario cold --label "$1" --url "$2" --users "$USERS" --rate 50 \
    --first-minute-s "$3" --warm-waves 0 "${@:4}"
}
counted() { # label, url, name=pid...: one wave under perf stat, one row per process and event
  local label=$1 url=$2 p perfs=() load procs=()
  shift 2
  for p in "$@"; do
    procs+=(--proc "$p")
    perf stat -x $'\t' -e "$EVENTS" -p "${p#*=}" -o "$WORK/perf-${p%=*}.txt" &
    perfs+=($!)
  done
  sleep 0.5
  load=$(cut -d' ' -f1 /proc/loadavg)
  gen "$label" "$url" 0 "${procs[@]}" --out "$OUT/warm-cold.tsv" --threads-out "$OUT/warm-threads.tsv" > "$WORK/gen.log" 2>&1 \
    || { cat "$WORK/gen.log" >&2; return 1; }
  grep ' first-wave ' "$WORK/gen.log" | tee -a "$OUT/warm-run.txt"
  for p in "${perfs[@]}"; do kill -INT "$p"; done
  for p in "${perfs[@]}"; do wait "$p" || true; done
  for p in "$@"; do
    # perf -x: count, unit, event, ...
    awk -F'\t' -v l="$label" -v n="${p%=*}" -v u="$USERS" -v la="$load" '$1 ~ /^[0-9.]+$/ {
      printf "%s\t%s\t%s\t%s\t%.2f\t%s\n", l, n, $3, $1, $1 / u, la }' "$WORK/perf-${p%=*}.txt" >> "$OUT/warm-counts.tsv"
  done
}

fresh_prosody
gen prosody-mod_bosh "http://127.0.0.1:$PROSODY_HTTP/http-bind" "$WARM_S" --out "$WORK/warmup.tsv" > /dev/null
counted prosody-mod_bosh "http://127.0.0.1:$PROSODY_HTTP/http-bind" "prosody=$PROSODY_PID" "redis=$REDIS_PID"

for v in $VARIANTS; do
  fresh_prosody
  port=$(free_port)
  eval "env=\${VARIANT_ENV_$v:-}"; eval "opts=\${VARIANT_OPTS_$v:-\$POD_JAVA_OPTS}"
  # shellcheck disable=SC2086 # env and opts: words on purpose
  env XBOSH_HTTP_HOST=127.0.0.1 XBOSH_HTTP_PORT="$port" XBOSH_NODE_ID="warm-$v" XBOSH_UPSTREAM="127.0.0.1:$C2S_PORT" \
    XBOSH_REDIS_URL="redis://127.0.0.1:$REDIS_PORT" XBOSH_MAX_SESSIONS=20000 XBOSH_MAX_CONNECTIONS=60000 \
    XBOSH_MAX_CONNECTIONS_PER_ADDRESS=0 XBOSH_CREATES_PER_SECOND=0 XBOSH_MAX_PREAUTH_PER_ADDRESS=100000 \
    XBOSH_MAX_PREAUTH_SESSIONS=100000 XBOSH_MAX_HELD_PER_ADDRESS=1000000 $env \
    java $opts -jar "$JAR" > "$WORK/pod-$v.log" 2>&1 &
  pod=$!
  PIDS+=($pod)
  url="http://127.0.0.1:$port/http-bind"
  gen "xbosh-$v" "$url" "$WARM_S" --ready-url "http://127.0.0.1:$port/ready" --out "$WORK/warmup.tsv" > /dev/null
  counted "xbosh-$v" "$url" "pod=$pod" "redis=$REDIS_PID" "prosody=$PROSODY_PID"
  kill "$pod"; wait "$pod" 2>/dev/null || true
done
echo "rows: $OUT/warm-counts.tsv, $OUT/warm-cold.tsv, $OUT/warm-threads.tsv"
