#!/usr/bin/env bash
# Side-by-side benchmark: the same load generator and the same Prosody, through
#   (a) Prosody's own mod_bosh, (b) xbosh with the in-process store, (c) xbosh on Redis,
#   (d) two xbosh pods on Redis with requests round robin, (e) node-xmpp-bosh 0.7.10,
# then (scale) idle sessions on one pod and on several pods over a 3-master Redis Cluster.
# Writes target/bench/results.tsv (latency per phase), target/bench/procs.tsv (CPU of every process
# per phase), target/bench/latency.png, target/bench/idle-scale.png and target/bench/summary.md.
# Everything runs on loopback and is stopped on exit. Knobs (environment): CHAT_SESSIONS, CHAT_RATE,
# BURST_RATES, BURST_TARGETS, BURST_MAX_P99_MS, DURATION_S, BURST_DURATION_S, ROUNDS (targets
# alternate within each round), IDLE_SESSIONS, IDLE_HOLD_S, TARGETS (subset of "a b c d e"),
# SCENARIOS (subset of "idle chat burst scale"), SCALE_STEPS (sessions on one pod, rising),
# SCALE_PODS and SCALE_PER_POD (the Redis Cluster run), SCALE_MEASURE_S, NXB_DIR (node-xmpp-bosh
# cache, installed on first use, outside the repository).
set -euo pipefail
cd "$(dirname "$0")/../.."

OUT=target/bench
CHAT_SESSIONS=${CHAT_SESSIONS:-200}
CHAT_RATE=${CHAT_RATE:-200}
BURST_RATES=${BURST_RATES:-200,400,800,1200,1600,2400,3200}
DURATION_S=${DURATION_S:-30}
IDLE_SESSIONS=${IDLE_SESSIONS:-5000}
TARGETS=${TARGETS:-a b c d e}
SCENARIOS=${SCENARIOS:-chat burst scale}
ROUNDS=${ROUNDS:-3}
BURST_TARGETS=${BURST_TARGETS:-a c}
BURST_DURATION_S=${BURST_DURATION_S:-$DURATION_S}
BURST_MAX_P99_MS=${BURST_MAX_P99_MS:-1000}
SCALE_STEPS=${SCALE_STEPS:-1000 4000 8000}
# a 2-core machine at a load average of 20-50 stalls event loops for seconds: a 3 s dead time made
# pods reap each other's sessions during the logins (see CAPACITY.md)
POD_DEAD_MS=${POD_DEAD_MS:-30000}
SCALE_PODS=${SCALE_PODS:-5}
SCALE_PER_POD=${SCALE_PER_POD:-8000}
SCALE_MEASURE_S=${SCALE_MEASURE_S:-20}
NXB_DIR=${NXB_DIR:-$HOME/.cache/xbosh-bench/node-xmpp-bosh}
JAR=target/xbosh.jar
BEGAN=$(date +%s)

mkdir -p "$OUT"
[ -f "$JAR" ] || mvn -B -q package -DskipTests
echo "start $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/run.txt"
WORK=$(mktemp -d /tmp/xbosh-bench.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for port in "${CLUSTER_PORTS[@]}"; do redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
# a copy: a build during the run must not change the jar under running JVMs
cp "$JAR" "$WORK/xbosh.jar"; JAR=$WORK/xbosh.jar

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_for_line() { # file, text, seconds
  for _ in $(seq 1 $(( $3 * 10 ))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

USERS=$(( IDLE_SESSIONS > CHAT_SESSIONS ? IDLE_SESSIONS : CHAT_SESSIONS ))
CLUSTER_PORTS=()
# accounts PREFIX COUNT: Prosody internal_plain account files u<i>, password pw, written directly
accounts() {
  python3 - "$WORK/prosody/data/localhost/accounts" "$1" "$2" <<'PY'
import os, sys
d, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(d, exist_ok=True)
for i in range(n):
    with open(os.path.join(d, f"{prefix}{i}.dat"), "w") as f:
        f.write('return {\n\t["password"] = "pw";\n};\n')
PY
}

# ---- Redis
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --dir "$WORK" \
  > "$WORK/redis.log" 2>&1 &
PIDS+=($!)
wait_for_line "$WORK/redis.log" "Ready to accept connections" 20

# ---- Prosody with its own BOSH, users u0..u(N-1) with password pw
C2S_PORT=$(free_port)
PROSODY_HTTP=$(free_port)
accounts u "$USERS"
if [[ " $SCENARIOS " == *" scale "* ]]; then
  i=0; prev=0; for n in $SCALE_STEPS; do accounts "s${i}u" $((n - prev)); prev=$n; i=$((i + 1)); done
  for k in $(seq 1 "$SCALE_PODS"); do accounts "p${k}u" "$SCALE_PER_POD"; done
fi
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
prosody --config "$WORK/prosody/prosody.cfg.lua" > "$WORK/prosody.log" 2>&1 &
PROSODY_PID=$!
PIDS+=($PROSODY_PID)
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$C2S_PORT) 2>/dev/null && break; sleep 0.1; done

# ---- xbosh pods
start_pod() { # name, extra env...
  local name=$1; shift
  local port; port=$(free_port)
  env XBOSH_HTTP_HOST=127.0.0.1 XBOSH_HTTP_PORT="$port" XBOSH_NODE_ID="$name" XBOSH_UPSTREAM="127.0.0.1:$C2S_PORT" \
    XBOSH_MAX_SESSIONS=20000 XBOSH_EVENT_LOOPS=2 XBOSH_MAX_CONNECTIONS=60000 XBOSH_MAX_CONNECTIONS_PER_ADDRESS=0 \
    XBOSH_CREATES_PER_SECOND=0 XBOSH_MAX_PREAUTH_PER_ADDRESS=100000 XBOSH_MAX_PREAUTH_SESSIONS=100000 \
    XBOSH_MAX_HELD_PER_ADDRESS=1000000 XBOSH_POD_DEAD_MS="$POD_DEAD_MS" "$@" \
    java -Xmx1g -XX:+UseG1GC -jar "$JAR" > "$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  eval "${name//-/_}_PID=$!"
  eval "${name//-/_}_PORT=$port"
  wait_for_line "$WORK/$name.log" "listening on" 60
}
SIDE_BY_SIDE=" $TARGETS "
[[ "$SIDE_BY_SIDE" == *" b "* ]] && start_pod local
[[ "$SIDE_BY_SIDE" == *" c "* || "$SIDE_BY_SIDE" == *" d "* ]] && start_pod redis1 XBOSH_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
[[ "$SIDE_BY_SIDE" == *" d "* ]] && start_pod redis2 XBOSH_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"

# ---- node-xmpp-bosh 0.7.10 (npm; node-expat 2.4.1 builds on Node 20), in a cache outside the repository
if [[ "$SIDE_BY_SIDE" == *" e "* ]]; then
  if [ ! -f "$NXB_DIR/node_modules/node-xmpp-bosh/run-server.js" ]; then
    mkdir -p "$NXB_DIR"
    cat > "$NXB_DIR/package.json" <<'JSON'
{ "name": "xbosh-bench-node-xmpp-bosh", "private": true, "version": "0.0.0",
  "dependencies": { "node-xmpp-bosh": "0.7.10" },
  "overrides": { "node-expat": "2.4.1" } }
JSON
    (cd "$NXB_DIR" && npm install --no-audit --no-fund >/dev/null)
  fi
  NXB_PORT=$(free_port)
  cat > "$WORK/nxb.conf.js" <<JS
exports.config = { port: $NXB_PORT, host: '127.0.0.1', path: /^\/http-bind(\/+)?\$/, logging: 'WARN',
  max_data_held: 100000, max_xmpp_stanza_size: 500000, max_bosh_connections: 2, window_size: 2,
  default_inactivity: 70, max_inactivity: 160, http_socket_keepalive: 60, max_streams_per_session: 8,
  http_headers: { }, no_tls_domains: [ 'localhost' ], firewall: { deny: [ ] }, route_filter: /.*/,
  pidgin_compatible: true, trim_default_length: 256, system_info_password: '', websocket_ping_interval: 0 };
JS
  # node-xmpp-bosh 0.7.10 connects to the session's domain on port 5222 whatever its route attribute
  # says (lookup-service.js passes the domain and 5222 even on its route path): a preloaded module
  # sends its connections to port 5222 to this run's Prosody instead
  cat > "$WORK/nxb-port.js" <<JS
const net = require('net');
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  if (typeof args[0] === 'object' && args[0] !== null && Number(args[0].port) === 5222) { args[0] = { ...args[0], port: $C2S_PORT }; }
  else if (Number(args[0]) === 5222) { args[0] = $C2S_PORT; }
  return connect.apply(this, args);
};
JS
  node --require "$WORK/nxb-port.js" "$NXB_DIR/node_modules/node-xmpp-bosh/run-server.js" --config="$WORK/nxb.conf.js" > "$WORK/nxb.log" 2>&1 &
  NXB_PID=$!
  PIDS+=($NXB_PID)
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$NXB_PORT) 2>/dev/null && break; sleep 0.1; done
fi

# every process of the side-by-side runs, measured in every run
procs_args() {
  local a=(--proc "prosody=$PROSODY_PID" --proc "redis-server=$(redis-cli -p "$REDIS_PORT" info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p')")
  [ -n "${local_PID:-}" ] && a+=(--proc "xbosh-local=$local_PID")
  [ -n "${redis1_PID:-}" ] && a+=(--proc "xbosh-redis1=$redis1_PID")
  [ -n "${redis2_PID:-}" ] && a+=(--proc "xbosh-redis2=$redis2_PID")
  [ -n "${NXB_PID:-}" ] && a+=(--proc "node-xmpp-bosh=$NXB_PID")
  echo "${a[@]}"
}

bench() { # label, scenario, extra args...
  # shellcheck disable=SC2046
  java -Xmx1g -cp "$JAR" io.xbosh.bench.Bench --label "$1" --scenario "$2" --domain localhost \
    --user-prefix u --password pw --out "$OUT/results.tsv" --proc-out "$OUT/procs.tsv" $(procs_args) "${@:3}"
}
url() { echo "http://127.0.0.1:$1/http-bind"; }

run_target() { # target letter
  local label args=() redis=()
  case $1 in
    a) label=prosody-mod_bosh; args=(--url "$(url "$PROSODY_HTTP")" --pid "$PROSODY_PID") ;;
    b) label=xbosh-in-process; args=(--url "$(url "$local_PORT")" --pid "$local_PID") ;;
    c) label=xbosh-redis; args=(--url "$(url "$redis1_PORT")" --pid "$redis1_PID"); redis=(--redis-port "$REDIS_PORT") ;;
    d) label=xbosh-redis-2pods; args=(--url "$(url "$redis1_PORT")" --url "$(url "$redis2_PORT")" --pid "$redis1_PID" --pid "$redis2_PID")
       redis=(--redis-port "$REDIS_PORT") ;;
    e) label=node-xmpp-bosh; args=(--url "$(url "$NXB_PORT")" --pid "$NXB_PID") ;;
  esac
  # the Redis of (c)/(d) is counted in every run: its commands/s under (a) are the idle pods' heartbeats
  [ ${#redis[@]} -eq 0 ] && redis=(--redis-node "$REDIS_PORT")
  for s in $SCENARIOS; do
    case $s in
      idle) bench "$label" idle --sessions "$IDLE_SESSIONS" --duration-s "${IDLE_HOLD_S:-10}" --login-concurrency 100 "${args[@]}" "${redis[@]}" ;;
      chat) bench "$label" chat --sessions "$CHAT_SESSIONS" --rate "$CHAT_RATE" --duration-s "$DURATION_S" "${args[@]}" "${redis[@]}" ;;
      burst) if [[ " $BURST_TARGETS " == *" $1 "* ]]; then
          bench "$label" burst --sessions "$CHAT_SESSIONS" --rates "$BURST_RATES" --duration-s "$BURST_DURATION_S" \
            --max-p99-ms "$BURST_MAX_P99_MS" --max-errors 0 "${args[@]}" "${redis[@]}"
        fi ;;
    esac
  done
}

# rounds: every target once per round, in turn, so a slow minute of the machine hits all of them
for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/run.txt"
  SCENARIOS_SIDE=${SCENARIOS// scale/}; SCENARIOS_SIDE=${SCENARIOS_SIDE//scale/}
  for t in $TARGETS; do SCENARIOS=$SCENARIOS_SIDE run_target "$t"; done
done

# ---- scale: idle sessions, one pod (cumulative steps), then SCALE_PODS pods on a 3-master Redis Cluster
# Idle sessions need two sockets each on a pod (the held poll and the c2s stream) and this machine
# allows 20,000 open files per process, so one pod holds at most ~9,000: more pods for more sessions.
measure() { # label, sessions, extra args (--proc ..., --redis-node ...)
  java -Xmx256m -cp "$JAR" io.xbosh.bench.Bench --measure-s "$SCALE_MEASURE_S" --heap true --label "$1" --scenario idle-scale \
    --sessions "$2" --proc-out "$OUT/procs.tsv" "${@:3}"
}
holder() { # log, url, prefix, sessions: a generator holding idle sessions until stopped
  java -Xmx768m -XX:+UseSerialGC -cp "$JAR" io.xbosh.bench.Bench --label "hold-$3" --scenario idle --sessions "$4" \
    --duration-s 86400 --login-concurrency 100 --domain localhost --user-prefix "$3" --password pw \
    --out "$WORK/hold.tsv" --url "$2" > "$1" 2>&1 &
  PIDS+=($!)
  HOLDER_PID=$!
}
if [[ " $SCENARIOS " == *" scale "* ]]; then
  echo "== scale, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/run.txt"
  # the side-by-side servers are idle from here on: stop them so their heartbeats do not count
  for p in ${local_PID:-} ${redis1_PID:-} ${redis2_PID:-} ${NXB_PID:-}; do kill "$p" 2>/dev/null || true; done
  redis-cli -p "$REDIS_PORT" flushall >/dev/null
  start_pod scale1 XBOSH_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
  REDIS_PID=$(redis-cli -p "$REDIS_PORT" info server | sed -n 's/^process_id:\([0-9]*\).*/\1/p')
  one=(--proc "xbosh-pod1=$scale1_PID" --proc "redis-server=$REDIS_PID" --proc "prosody=$PROSODY_PID" --redis-node "$REDIS_PORT")
  measure one-pod 0 "${one[@]}"
  total=0; i=0; hold=()
  for n in $SCALE_STEPS; do
    holder "$WORK/hold-s$i.log" "$(url "$scale1_PORT")" "s${i}u" $((n - total))
    hold+=(--proc "generator-$i=$HOLDER_PID")
    wait_for_line "$WORK/hold-s$i.log" "logged in" 900
    total=$n; i=$((i + 1))
    measure one-pod "$total" "${one[@]}" "${hold[@]}"
    echo "one pod, $total sessions asked: Redis holds $(redis-cli -p "$REDIS_PORT" dbsize) keys" | tee -a "$OUT/run.txt"
  done
  for h in "${hold[@]}"; do [[ $h == *=* ]] && kill "${h#*=}" 2>/dev/null || true; done
  kill "$scale1_PID" 2>/dev/null || true

  # 3-master Redis Cluster
  # a cluster node also listens on its port + 10000 (the cluster bus): take ports below 55535
  cluster_port() { local p; while :; do p=$(free_port); [ "$p" -lt 55000 ] && [ "$p" -gt 1024 ] && { echo "$p"; return; }; done; }
  CLUSTER_PORTS=("$(cluster_port)" "$(cluster_port)" "$(cluster_port)")
  seeds=(); cl=()
  for port in "${CLUSTER_PORTS[@]}"; do
    mkdir -p "$WORK/cluster-$port"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --cluster-enabled yes \
      --cluster-config-file "nodes-$port.conf" --dir "$WORK/cluster-$port" --pidfile "$WORK/cluster-$port/pid" >/dev/null
    seeds+=("redis://127.0.0.1:$port"); cl+=(127.0.0.1:"$port")
  done
  for port in "${CLUSTER_PORTS[@]}"; do
    for _ in $(seq 1 100); do redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
  done
  redis-cli --cluster create "${cl[@]}" --cluster-replicas 0 --cluster-yes >/dev/null
  for _ in $(seq 1 200); do redis-cli -p "${CLUSTER_PORTS[0]}" cluster info | grep -q cluster_state:ok && break; sleep 0.1; done
  many=()
  for j in 1 2 3; do
    port=${CLUSTER_PORTS[$((j - 1))]}
    many+=(--proc "redis-shard$j=$(cat "$WORK/cluster-$port/pid")" --redis-node "$port")
  done
  # one Prosody per pod: 40,000 c2s streams are more than one process' 20,000 files
  SEEDS=$(IFS=,; echo "${seeds[*]}")
  for k in $(seq 1 "$SCALE_PODS"); do
    port=$(free_port)
    sed -e "s/^c2s_ports = .*/c2s_ports = { $port }/" -e "s/^http_ports = .*/http_ports = { }/" \
      -e "s|^pidfile = .*|pidfile = \"$WORK/prosody/prosody-$k.pid\"|" -e 's/"bosh", //' \
      "$WORK/prosody/prosody.cfg.lua" > "$WORK/prosody/prosody-$k.cfg.lua"
    prosody --config "$WORK/prosody/prosody-$k.cfg.lua" > "$WORK/prosody-$k.log" 2>&1 &
    PIDS+=($!); many+=(--proc "prosody-$k=$!")
    for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    C2S_PORT=$port start_pod "pod$k" XBOSH_REDIS_URL="$SEEDS" XBOSH_REDIS_CLUSTER=true
    many+=(--proc "xbosh-pod$k=$(eval echo "\$pod${k}_PID")")
  done
  measure cluster-pods 0 "${many[@]}"
  for k in $(seq 1 "$SCALE_PODS"); do
    holder "$WORK/hold-p$k.log" "$(url "$(eval echo "\$pod${k}_PORT")")" "p${k}u" "$SCALE_PER_POD"
    many+=(--proc "generator-$k=$HOLDER_PID")
  done
  for k in $(seq 1 "$SCALE_PODS"); do wait_for_line "$WORK/hold-p$k.log" "logged in" 900; done
  measure cluster-pods $((SCALE_PODS * SCALE_PER_POD)) "${many[@]}"
  keys=0; for port in "${CLUSTER_PORTS[@]}"; do keys=$((keys + $(redis-cli -p "$port" dbsize))); done
  echo "$SCALE_PODS pods, $((SCALE_PODS * SCALE_PER_POD)) sessions asked: the cluster holds $keys keys" | tee -a "$OUT/run.txt"
  grep -h "errors=\|failedLogins" "$WORK"/hold-*.log | tail -20 >> "$OUT/run.txt" || true
fi

java -cp "$JAR" io.xbosh.bench.Bench --plot "$OUT/results.tsv" --png "$OUT/latency.png"
java -cp "$JAR" io.xbosh.bench.BenchSummary "$OUT" "$BURST_MAX_P99_MS" > "$OUT/summary.md"
echo "end $(date -u +%FT%TZ), $(( $(date +%s) - BEGAN )) s, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/run.txt"
echo "results: $OUT/results.tsv, $OUT/procs.tsv, $OUT/summary.md, plots: $OUT/latency.png $OUT/idle-scale.png"
