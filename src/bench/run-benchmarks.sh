#!/usr/bin/env bash
# Side-by-side benchmark: the same load generator and the same Prosody, through
#   (a) Prosody's own mod_bosh, (b) xbosh with the in-process store, (c) xbosh on Redis,
#   (d) two xbosh pods on Redis with requests round robin;
# and over WebSocket: (e) Prosody's own mod_websocket, (f) xbosh's WebSocket endpoint (RFC 7395, the
#   pod of (b)), (g) node-xmpp-bosh 0.7.10's WebSocket (the draft before RFC 7395), (h) node-xmpp-bosh's BOSH;
# then (scale) idle sessions on one pod and on several pods over a 3-master Redis Cluster.
# Writes target/bench/results.tsv (latency per phase), target/bench/cpu.tsv (CPU seconds of every
# process per run, with the load average), target/bench/procs.tsv (CPU of every process per phase,
# ProcessSampler), target/bench/latency.png, target/bench/idle-scale.png, target/bench/summary.md
# (BenchSummary) and target/bench/run.txt. Everything runs on loopback and is stopped on exit.
# Knobs (environment): CHAT_SESSIONS, CHAT_RATE, BURST_RATES, BURST_TARGETS (the targets that run
# burst, default all of TARGETS), BURST_MAX_P99_MS (a burst stops at the first rate whose p99 passes
# it, loses a message or has an error), BURST_DURATION_S, DURATION_S,
# IDLE_SESSIONS, IDLE_HOLD_S, IDLE_WAIT_S (the clients' wait in the idle scenario), TARGETS (subset of
# "a b c d e f g h"), SCENARIOS (subset of "idle chat burst cold hot scale"), HOT_IQS (the measured
# pings of the hot scenario, 3000; BENCHMARKS.md, "Hot path"), ROUNDS (every target in turn, this many
# times: alternated runs on a noisy machine), POD_JAVA_OPTS (the xbosh JVMs' flags),
# POD_CGROUP (a cgroup directory the pods are put in, e.g. one with a memory limit), REDIS_ARGS (e.g. "--hash-max-listpack-value 1024"), JAR (the xbosh jar under test), GEN_JAR (the load generator's, default JAR). The idle scenario also writes a class histogram of the serving
# pod to target/bench/histogram-<label>-<sessions>.txt. POD_EXTRA_ENV: NAME=VALUE words added to the
# side-by-side pods' environment (e.g. XBOSH_EVENT_LOOPS=1). POD_DEAD_MS: the pods' XBOSH_POD_DEAD_MS
# (30000). scale: SCALE_STEPS (sessions on one pod, rising; set empty: no one-pod run), SCALE_PODS and SCALE_PER_POD (the Redis
# Cluster run; SCALE_PODS=0: none), SCALE_H2C_STEPS and SCALE_H2C_ARGS (a second one-pod run whose
# generators speak h2c, e.g. "10000" and "--h2c 4": 10,000 sessions over HTTP/1.1 are more sockets
# than a pod may open here), SCALE_WAIT (60), SCALE_SETTLE_S (20: after a pod's start),
# SCALE_AGE_S (2 × SCALE_WAIT + 15: a step's window ends this long after its last login, so its
# Redis memory, read at the window's end, is that of settled sessions: the resend cache drops a login
# answer older than wait + 10 s at the session's next poll, up to a wait later; before, a step read
# at 80 s counted sessions still holding their login answers, 2-3 KiB each instead of 0.5-0.9),
# SCALE_MEASURE_S (SCALE_WAIT: a window of one wait sees every session poll once),
# SCALE_LOGIN_CONCURRENCY (200 per generator), SCALE_LOGIN_RETRIES (5: a failed login starts again with
# a new session 2 s later; at a load average of 50-60 a Prosody answered 12% of the connections later
# than the pod's 10 s connect timeout), SCALE_GENERATORS (generator processes per step and pod,
# 1), SCALE_GEN_JAVA_OPTS, SCALE_CONNECTS_IN_FLIGHT (the pods' XBOSH_MAX_CONNECTS_IN_FLIGHT, the
# logins in flight + 100), SCALE_LOGIN_TIMEOUT_S, SCALE_PROSODY_CFG (a line added to the scale
# Prosodys' configuration). Besides procs.tsv rows it writes target/bench/logins.tsv (CPU per login of
# every process, logins/s, per step).
#
# cold (BENCHMARKS.md, "Cold start"): for each of COLD_RUNS rounds, first Prosody's mod_bosh, then
# for every variant in COLD_VARIANTS a fresh xbosh pod on Redis, started with that variant's JVM
# options (COLD_OPTS_<variant>) and environment (COLD_ENV_<variant>); the generator waits for the
# pod's /ready and at once sends COLD_USERS users arriving at COLD_RATE/s (login, ten roster round
# trips, messages), wave after wave for COLD_FIRST_MINUTE_S, then COLD_WARM_WAVES more. Variants
# alternate within a round, so a change of the machine's load hits all of them. Rows go to
# target/bench/cold.tsv (with the context switches of every process per user), the warm phase's
# switches and CPU of every thread to target/bench/cold-threads.tsv. The variant "cds" needs the archive the script builds first
# (target/bench/xbosh.jsa, the same training run as the Dockerfile's). COLD_JAR_<variant>: another
# jar for that variant (e.g. the main branch's, for before/after in one run; variant "before").
# COLD_FRESH_PROSODY=1 (default): every measured target (mod_bosh and each pod) gets a Prosody
# process of its own on a fresh copy of the accounts, so no target pays for what an earlier one
# left in Prosody; 0: one Prosody for the whole run, as before. Prosody's resident memory and open
# c2s connections after each target go to target/bench/cold-prosody.tsv.
set -euo pipefail
cd "$(dirname "$0")/../.."

OUT=target/bench
CHAT_SESSIONS=${CHAT_SESSIONS:-200}
CHAT_RATE=${CHAT_RATE:-200}
BURST_RATES=${BURST_RATES:-200,400,800,1200,1600,2400,3200}
DURATION_S=${DURATION_S:-30}
IDLE_SESSIONS=${IDLE_SESSIONS:-5000}
TARGETS=${TARGETS:-a b c d}
SCENARIOS=${SCENARIOS:-idle chat burst}
ROUNDS=${ROUNDS:-1}
JAR=${JAR:-target/xbosh.jar}
GEN_JAR=${GEN_JAR:-$JAR}
POD_JAVA_OPTS=${POD_JAVA_OPTS:--Xmx1g -XX:+UseG1GC}
BURST_TARGETS=${BURST_TARGETS:-$TARGETS}
BURST_DURATION_S=${BURST_DURATION_S:-$DURATION_S}
BURST_MAX_P99_MS=${BURST_MAX_P99_MS:-1000}
SCALE_STEPS=${SCALE_STEPS-1000 4000 8000}
# a 2-core machine at a load average of 20-50 stalls event loops for seconds: a 3 s dead time made
# pods reap each other's sessions during the logins (see CAPACITY.md)
POD_DEAD_MS=${POD_DEAD_MS:-30000}
SCALE_PODS=${SCALE_PODS:-5}
SCALE_PER_POD=${SCALE_PER_POD:-8000}
SCALE_WAIT=${SCALE_WAIT:-60}
SCALE_MEASURE_S=${SCALE_MEASURE_S:-$SCALE_WAIT}
SCALE_LOGIN_CONCURRENCY=${SCALE_LOGIN_CONCURRENCY:-200}
SCALE_LOGIN_RETRIES=${SCALE_LOGIN_RETRIES:-5}
SCALE_GENERATORS=${SCALE_GENERATORS:-1}
# the holders: C1 only, as a generator JVM spends more CPU compiling with C2 than logging in thousands
SCALE_GEN_JAVA_OPTS=${SCALE_GEN_JAVA_OPTS:--Xmx768m -XX:+UseSerialGC -XX:TieredStopAtLevel=1}
SCALE_CONNECTS_IN_FLIGHT=${SCALE_CONNECTS_IN_FLIGHT:-$((SCALE_LOGIN_CONCURRENCY * SCALE_GENERATORS + 100))}
SCALE_SETTLE_S=${SCALE_SETTLE_S:-20}
SCALE_AGE_S=${SCALE_AGE_S:-$((2 * SCALE_WAIT + 15))}
SCALE_LOGIN_TIMEOUT_S=${SCALE_LOGIN_TIMEOUT_S:-3600}
SCALE_H2C_STEPS=${SCALE_H2C_STEPS:-}
SCALE_H2C_ARGS=${SCALE_H2C_ARGS:-}
BEGAN=$(date +%s)

mkdir -p "$OUT"
[ -f "$JAR" ] || mvn -B -q package -DskipTests
echo "start $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/run.txt"
WORK=$(mktemp -d /tmp/xbosh-bench.XXXXXX)
# a copy of its own: a build during the run does not change the jar under the pods (or under the
# class-data-sharing archive, which is only valid for the jar it was made from)
cp "$JAR" "$WORK/xbosh.jar"
JAR=$WORK/xbosh.jar
COLD_RUNS=${COLD_RUNS:-1}
COLD_USERS=${COLD_USERS:-200}
COLD_RATE=${COLD_RATE:-50}
COLD_FIRST_MINUTE_S=${COLD_FIRST_MINUTE_S:-60}
COLD_WARM_WAVES=${COLD_WARM_WAVES:-1}
COLD_VARIANTS=${COLD_VARIANTS:-nowarmup image}
CDS_ARCHIVE=$WORK/xbosh.jsa
# the image's defaults (Dockerfile JAVA_DEFAULT_OPTS; heap as the bench's other pods): G1, the
# class-data-sharing archive, the warm-up on
COLD_OPTS_image=${COLD_OPTS_image:--Xmx1g -XX:+UseG1GC -XX:SharedArchiveFile=$CDS_ARCHIVE -Xshare:auto}
COLD_ENV_image=${COLD_ENV_image:-}
COLD_OPTS_serial=${COLD_OPTS_serial:--Xmx1g -XX:+UseSerialGC -XX:SharedArchiveFile=$CDS_ARCHIVE -Xshare:auto}
COLD_ENV_serial=${COLD_ENV_serial:-}
COLD_OPTS_c1=${COLD_OPTS_c1:--Xmx1g -XX:+UseG1GC -XX:SharedArchiveFile=$CDS_ARCHIVE -Xshare:auto -XX:TieredStopAtLevel=1}
COLD_ENV_c1=${COLD_ENV_c1:-}
# the image's defaults on one event loop: a session's requests, its link and its Redis connections on one thread
COLD_OPTS_loops1=${COLD_OPTS_loops1:-$COLD_OPTS_image}
COLD_ENV_loops1=${COLD_ENV_loops1:-XBOSH_EVENT_LOOPS=1}
COLD_OPTS_loops2=${COLD_OPTS_loops2:-$COLD_OPTS_image}
COLD_ENV_loops2=${COLD_ENV_loops2:-XBOSH_EVENT_LOOPS=2}
COLD_OPTS_serial1=${COLD_OPTS_serial1:-$COLD_OPTS_serial}
COLD_ENV_serial1=${COLD_ENV_serial1:-XBOSH_EVENT_LOOPS=1}
# before this work: G1, no archive, no warm-up
COLD_FRESH_PROSODY=${COLD_FRESH_PROSODY:-1}
# "before": another jar's warm-up (COLD_JAR_before), the options of "warmup"
COLD_OPTS_before=${COLD_OPTS_before:--Xmx1g -XX:+UseG1GC}
COLD_ENV_before=${COLD_ENV_before:-}
COLD_OPTS_nowarmup=${COLD_OPTS_nowarmup:--Xmx1g -XX:+UseG1GC}
COLD_ENV_nowarmup=${COLD_ENV_nowarmup:-XBOSH_WARMUP_SESSIONS=0}
COLD_OPTS_warmup=${COLD_OPTS_warmup:--Xmx1g -XX:+UseG1GC}
COLD_ENV_warmup=${COLD_ENV_warmup:-}
# the archive without the warm-up
COLD_OPTS_cds=${COLD_OPTS_cds:--Xmx1g -XX:+UseG1GC -XX:SharedArchiveFile=$CDS_ARCHIVE -Xshare:auto}
COLD_ENV_cds=${COLD_ENV_cds:-XBOSH_WARMUP_SESSIONS=0}
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for port in "${CLUSTER_PORTS[@]}"; do redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

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
# shellcheck disable=SC2086 # REDIS_ARGS: further redis-server options, word-split on purpose
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --dir "$WORK" ${REDIS_ARGS:-} \
  > "$WORK/redis.log" 2>&1 &
PIDS+=($!)
REDIS_PID=$!
wait_for_line "$WORK/redis.log" "Ready to accept connections" 20

# ---- Prosody with its own BOSH, users u0..u(N-1) with password pw
C2S_PORT=$(free_port)
PROSODY_HTTP=$(free_port)
accounts u "$USERS"
share() { echo $(( $1 / $2 + ($3 < $1 % $2 ? 1 : 0) )); } # total, parts, index: the index-th part's size
scale_accounts() { # prefix letter, steps: the users of each step's generators (holders() below)
  local i=0 prev=0 n j
  for n in $2; do
    for j in $(seq 0 $((SCALE_GENERATORS - 1))); do accounts "$1${i}g${j}u" "$(share $((n - prev)) "$SCALE_GENERATORS" "$j")"; done
    prev=$n; i=$((i + 1))
  done
}
if [[ " $SCENARIOS " == *" scale "* ]]; then
  scale_accounts s "$SCALE_STEPS"
  scale_accounts h "$SCALE_H2C_STEPS"
  for k in $(seq 1 "$SCALE_PODS"); do scale_accounts "p$k" "$SCALE_PER_POD"; done
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
modules_enabled = { "roster", "saslauth", "disco", "ping", "bosh", "websocket", "posix" }
modules_disabled = { "s2s" }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
consider_bosh_secure = true
consider_websocket_secure = true
bosh_max_inactivity = 60
limits = { c2s = { rate = "100mb/s" } }
VirtualHost "localhost"
CFG
start_prosody() {
  prosody --config "$WORK/prosody/prosody.cfg.lua" >> "$WORK/prosody.log" 2>&1 &
  PROSODY_PID=$!
  PIDS+=($PROSODY_PID)
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$C2S_PORT) 2>/dev/null && break; sleep 0.1; done
}
start_prosody

# ---- xbosh pods
start_pod() { # name, extra env...
  local name=$1; shift
  local port; port=$(free_port)
  env XBOSH_HTTP_HOST=127.0.0.1 XBOSH_HTTP_PORT="$port" XBOSH_NODE_ID="$name" XBOSH_UPSTREAM="127.0.0.1:$C2S_PORT" \
    XBOSH_MAX_SESSIONS=20000 XBOSH_EVENT_LOOPS=2 XBOSH_MAX_CONNECTIONS=60000 XBOSH_MAX_CONNECTIONS_PER_ADDRESS=0 \
    XBOSH_CREATES_PER_SECOND=0 XBOSH_MAX_PREAUTH_PER_ADDRESS=100000 XBOSH_MAX_PREAUTH_SESSIONS=100000 \
    XBOSH_MAX_HELD_PER_ADDRESS=1000000 XBOSH_POD_DEAD_MS="$POD_DEAD_MS" ${POD_EXTRA_ENV:-} "$@" \
    sh -c '[ -z "$1" ] || echo $$ > "$1/cgroup.procs"; shift; exec "$@"' pod "${POD_CGROUP:-}" \
    java $POD_JAVA_OPTS -jar "$JAR" > "$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  eval "${name//-/_}_PID=$!"
  eval "${name//-/_}_PORT=$port"
  wait_for_line "$WORK/$name.log" "listening on" 60
  # the warm-up (XBOSH_WARMUP_SESSIONS) runs until /ready: its CPU must not land in a measured phase
  for _ in $(seq 1 1200); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready")" = 200 ] && return 0; sleep 0.1
  done
  echo "pod $name not ready after 120 s" >&2
}
# the cold scenario's pods: the pod's own default event loops (cores - 1: one at 2 cores; "loops2" sets 2)
POD_ENV=(XBOSH_HTTP_HOST=127.0.0.1 XBOSH_UPSTREAM="127.0.0.1:$C2S_PORT"
  XBOSH_MAX_SESSIONS=20000 XBOSH_MAX_CONNECTIONS=60000 XBOSH_MAX_CONNECTIONS_PER_ADDRESS=0
  XBOSH_CREATES_PER_SECOND=0 XBOSH_MAX_PREAUTH_PER_ADDRESS=100000 XBOSH_MAX_PREAUTH_SESSIONS=100000
  XBOSH_MAX_HELD_PER_ADDRESS=1000000)
if [ -n "$(echo " $SCENARIOS " | grep -E ' (idle|chat|burst|hot) ')" ]; then
  case " $TARGETS " in *" b "*|*" f "*) start_pod local ;; esac
  case " $TARGETS " in *" c "*|*" d "*) start_pod redis1 XBOSH_REDIS_URL="redis://127.0.0.1:$REDIS_PORT" ;; esac
  case " $TARGETS " in *" d "*) start_pod redis2 XBOSH_REDIS_URL="redis://127.0.0.1:$REDIS_PORT" ;; esac
fi

# ---- node-xmpp-bosh (npm, with the node-expat override it needs on Node 20), only when asked for
case " $TARGETS " in
  *" g "*|*" h "*)
    NXB_DIR=target/bench/node-xmpp-bosh
    mkdir -p "$NXB_DIR"
    cp src/bench/node-xmpp-bosh/package.json src/bench/node-xmpp-bosh/server.js "$NXB_DIR/"
    [ -d "$NXB_DIR/node_modules/node-xmpp-bosh" ] || (cd "$NXB_DIR" && npm install --no-audit --no-fund --prefer-offline)
    NXB_PORT=$(free_port)
    node "$NXB_DIR/server.js" "$NXB_PORT" "$C2S_PORT" > "$WORK/nxb.log" 2>&1 &
    NXB_PID=$!
    PIDS+=($NXB_PID)
    wait_for_line "$WORK/nxb.log" "listening on" 30
    ;;
esac

# every process of the side-by-side runs, measured in every run
procs_args() {
  local a=(--proc "prosody=$PROSODY_PID" --proc "redis-server=$REDIS_PID")
  [ -n "${local_PID:-}" ] && a+=(--proc "xbosh-local=$local_PID")
  [ -n "${redis1_PID:-}" ] && a+=(--proc "xbosh-redis1=$redis1_PID")
  [ -n "${redis2_PID:-}" ] && a+=(--proc "xbosh-redis2=$redis2_PID")
  [ -n "${NXB_PID:-}" ] && a+=(--proc "node-xmpp-bosh=$NXB_PID")
  echo "${a[@]}"
}

# CPU seconds (user + system) a process has used so far
cpu_s() { awk '{ printf "%.2f", ($14 + $15) / '"$(getconf CLK_TCK)"' }' "/proc/$1/stat" 2>/dev/null || echo 0; }
[ -f "$OUT/cpu.tsv" ] || printf 'label\tscenario\tround\twall_s\tproxy_cpu_s\tprosody_cpu_s\tloadgen_cpu_s\tloadavg_before\tloadavg_after\n' > "$OUT/cpu.tsv"
ROUND=1
bench() { # label, scenario, extra args...; proxy pid in BENCH_PROXY_PIDS
  local t0 p0 s0 t1 p1 s1 lg before
  before=$(cut -d' ' -f1-3 /proc/loadavg)
  t0=$(date +%s.%N); s0=$(cpu_s "$PROSODY_PID"); p0=0
  for p in $BENCH_PROXY_PIDS; do p0=$(echo "$p0 + $(cpu_s "$p")" | bc); done
  # shellcheck disable=SC2046 # procs_args: --proc NAME=PID pairs, word-split on purpose
  /usr/bin/time -o "$WORK/time" -f '%U %S' java -Xmx1g -cp "$GEN_JAR" io.xbosh.bench.Bench --label "$1" --scenario "$2" \
    --domain localhost --user-prefix u --password pw --out "$OUT/results.tsv" --proc-out "$OUT/procs.tsv" $(procs_args) "${@:3}"
  lg=$(tail -1 "$WORK/time" | awk '{ printf "%.2f", $1 + $2 }')
  t1=$(date +%s.%N); s1=$(cpu_s "$PROSODY_PID"); p1=0
  for p in $BENCH_PROXY_PIDS; do p1=$(echo "$p1 + $(cpu_s "$p")" | bc); done
  [ "${BENCH_PROXY_PIDS% }" = "$PROSODY_PID" ] && { p0=0; p1=0; }
  printf '%s\t%s\t%s\t%.1f\t%.2f\t%.2f\t%s\t%s\t%s\n' "$1" "$2" "$ROUND" "$(echo "$t1 - $t0" | bc)" "$(echo "$p1 - $p0" | bc)" \
    "$(echo "$s1 - $s0" | bc)" "$lg" "$before" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/cpu.tsv"
}
url() { echo "http://127.0.0.1:$1/http-bind"; }
ws() { echo "ws://127.0.0.1:$1/xmpp-websocket"; }

run_target() { # target letter
  local label args=() redis=()
  case $1 in
    a) label=prosody-mod_bosh; args=(--url "$(url "$PROSODY_HTTP")" --pid "$PROSODY_PID") ;;
    b) label=xbosh-in-process; args=(--url "$(url "$local_PORT")" --pid "$local_PID") ;;
    c) label=xbosh-redis; args=(--url "$(url "$redis1_PORT")" --pid "$redis1_PID"); redis=(--redis-port "$REDIS_PORT") ;;
    d) label=xbosh-redis-2pods; args=(--url "$(url "$redis1_PORT")" --url "$(url "$redis2_PORT")" --pid "$redis1_PID" --pid "$redis2_PID")
       redis=(--redis-port "$REDIS_PORT") ;;
    e) label=prosody-mod_websocket; args=(--url "$(ws "$PROSODY_HTTP")" --pid "$PROSODY_PID") ;;
    f) label=xbosh-websocket; args=(--url "$(ws "$local_PORT")" --pid "$local_PID") ;;
    g) label=node-xmpp-bosh-websocket; args=(--url "ws://127.0.0.1:$NXB_PORT/" --pid "$NXB_PID" --framing stream-header) ;;
    h) label=node-xmpp-bosh; args=(--url "$(url "$NXB_PORT")" --pid "$NXB_PID") ;;
  esac
  # the processes that carry the load between the generator and Prosody (Prosody itself for a and e)
  BENCH_PROXY_PIDS=$(printf '%s\n' "${args[@]}" | awk 'prev == "--pid" { printf "%s ", $0 } { prev = $0 }')
  # the Redis of (c)/(d) is counted in every run: its commands/s under (a) are the idle pods' heartbeats
  [ ${#redis[@]} -eq 0 ] && redis=(--redis-node "$REDIS_PORT")
  for s in $SCENARIOS; do
    case $s in
      idle) bench "$label" idle --sessions "$IDLE_SESSIONS" --duration-s "${IDLE_HOLD_S:-10}" --login-concurrency 100 \
              --wait "${IDLE_WAIT_S:-60}" --histogram "$OUT/histogram-$label-$IDLE_SESSIONS.txt" "${args[@]}" "${redis[@]}" ;;
      chat) bench "$label" chat --sessions "$CHAT_SESSIONS" --rate "$CHAT_RATE" --duration-s "$DURATION_S" "${args[@]}" "${redis[@]}" ;;
      hot) # one client, one persistent connection: auth, restart, iq round trips, CPU of every process
        local pids=(--pid "prosody=$PROSODY_PID")
        case $1 in b) pids+=(--pid "xbosh=$local_PID") ;; c|d) pids+=(--pid "xbosh=$redis1_PID" --pid "redis=$REDIS_PID") ;; esac
        java -cp "$GEN_JAR" io.xbosh.bench.HotPath --label "$label" --url "${args[1]}" --domain localhost \
          --user u0 --password pw --iqs "${HOT_IQS:-3000}" "${pids[@]}" | tee -a "$OUT/hot.txt" ;;
      burst) if [[ " $BURST_TARGETS " == *" $1 "* ]]; then
          bench "$label" burst --sessions "$CHAT_SESSIONS" --rates "$BURST_RATES" --duration-s "$BURST_DURATION_S" \
            --max-p99-ms "$BURST_MAX_P99_MS" --max-errors 0 "${args[@]}" "${redis[@]}"
        fi ;;
    esac
  done
}

# cold: Prosody's state after a target (resident memory, c2s connections still open, files in its
# data directory), then, with COLD_FRESH_PROSODY=1, a new Prosody on a fresh copy of the accounts
prosody_after() { # label, round
  local rss conns files
  rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$PROSODY_PID/status" 2>/dev/null || echo -)
  conns=$(ss -Htn state established "( sport = :$C2S_PORT )" 2>/dev/null | wc -l)
  files=$(find "$WORK/prosody/data" -type f | wc -l)
  [ -f "$OUT/cold-prosody.tsv" ] || printf 'label\tround\tprosody_rss_kib\tc2s_established\tdata_files\tfresh_next\n' > "$OUT/cold-prosody.tsv"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$rss" "$conns" "$files" "$COLD_FRESH_PROSODY" >> "$OUT/cold-prosody.tsv"
  if [ "$COLD_FRESH_PROSODY" = 1 ]; then
    kill "$PROSODY_PID"; wait "$PROSODY_PID" 2>/dev/null || true
    rm -rf "$WORK/prosody/data"; cp -a "$WORK/prosody/data.pristine" "$WORK/prosody/data"
    start_prosody
  fi
}

cold_pod() { # variant, round: a fresh pod on Redis, measured from its /ready on
  local variant=$1 opts env port pid jar
  eval "opts=\$COLD_OPTS_$variant"; eval "env=\$COLD_ENV_$variant"; eval "jar=\${COLD_JAR_$variant:-}"
  if [ -n "$jar" ]; then
    # a copy of its own, like $JAR: a build during the run does not change it
    [ -f "$WORK/xbosh-$variant.jar" ] || cp "$jar" "$WORK/xbosh-$variant.jar"
    jar=$WORK/xbosh-$variant.jar
  else
    jar=$JAR
  fi
  port=$(free_port)
  # shellcheck disable=SC2086
  env "${POD_ENV[@]}" XBOSH_HTTP_PORT="$port" XBOSH_NODE_ID="cold-$variant-$2" XBOSH_REDIS_URL="redis://127.0.0.1:$REDIS_PORT" $env \
    java $opts -jar "$jar" > "$OUT/cold-$variant-$2.log" 2>&1 &
  pid=$!
  PIDS+=($pid)
  java -Xmx512m -cp "$JAR" io.xbosh.bench.Bench --scenario cold --label "xbosh-redis-$variant" --url "$(url "$port")" \
    --ready-url "http://127.0.0.1:$port/ready" --users "$COLD_USERS" --rate "$COLD_RATE" --first-minute-s "$COLD_FIRST_MINUTE_S" \
    --warm-waves "$COLD_WARM_WAVES" --proc "pod=$pid" --proc "prosody=$PROSODY_PID" --proc "redis=$REDIS_PID" --out "$OUT/cold.tsv" \
    --threads-out "$OUT/cold-threads.tsv"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  prosody_after "xbosh-redis-$variant" "$2"
}

run_cold() {
  if [ -n "$(echo " $COLD_VARIANTS " | grep -E ' (cds|image|serial|c1|loops1|loops2|serial1) ')" ] && [ ! -f "$CDS_ARCHIVE" ]; then
    # the Dockerfile's training run: start, warm up, exit; the JVM writes the classes it loaded
    XBOSH_HTTP_HOST=127.0.0.1 XBOSH_HTTP_PORT=0 XBOSH_LOG_LEVEL=WARN \
      java -XX:+UseG1GC -XX:ArchiveClassesAtExit="$CDS_ARCHIVE" -jar "$JAR" --warm-up-only > "$WORK/cds.log" 2>&1
  fi
  [ -d "$WORK/prosody/data.pristine" ] || cp -a "$WORK/prosody/data" "$WORK/prosody/data.pristine"
  for round in $(seq 1 "$COLD_RUNS"); do
    java -Xmx512m -cp "$JAR" io.xbosh.bench.Bench --scenario cold --label prosody-mod_bosh --url "$(url "$PROSODY_HTTP")" \
      --users "$COLD_USERS" --rate "$COLD_RATE" --first-minute-s 0 --warm-waves "$COLD_WARM_WAVES" \
      --proc "prosody=$PROSODY_PID" --proc "redis=$REDIS_PID" --out "$OUT/cold.tsv" --threads-out "$OUT/cold-threads.tsv"
    prosody_after prosody-mod_bosh "$round"
    for v in $COLD_VARIANTS; do cold_pod "$v" "$round"; done
  done
}

for s in $SCENARIOS; do [ "$s" = cold ] && run_cold; done
SCENARIOS=${SCENARIOS//cold/}
# rounds: every target once per round, in turn, so a slow minute of the machine hits all of them
SIDE_SCENARIOS=$(echo " $SCENARIOS " | sed 's/ scale / /g')
if [ -n "${SIDE_SCENARIOS// /}" ]; then
  for ROUND in $(seq 1 "$ROUNDS"); do
    echo "== round $ROUND, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/run.txt"
    for t in $TARGETS; do SCENARIOS=$SIDE_SCENARIOS run_target "$t"; done
  done
fi

# ---- scale: idle sessions, one pod (cumulative steps), then SCALE_PODS pods on a 3-master Redis Cluster
# Idle sessions over HTTP/1.1 need two sockets each on a pod (the held poll and the c2s stream) and this
# machine allows 20,000 open files per process, so one pod holds at most ~9,000 that way: more pods for
# more sessions, or h2c from the generator (SCALE_H2C_STEPS), whose held polls share a few connections.
# Every step writes, besides its procs.tsv rows, what its logins cost to logins.tsv (CPU per login of
# every process, logins/s) and what the pods say they hold (/metrics) to run.txt.
measure() { # label, sessions, extra args (--proc ..., --redis-node ...)
  java -Xmx256m -cp "$JAR" io.xbosh.bench.Bench --measure-s "$SCALE_MEASURE_S" --heap true --label "$1" --scenario idle-scale \
    --sessions "$2" --proc-out "$OUT/procs.tsv" "${@:3}"
}
[ -f "$OUT/logins.tsv" ] || printf 'label\tsessions\tnew_sessions\tfailed\tseconds\tlogins_per_s\tprocess\tcpu_s\tcpu_ms_per_login\tloadavg_before\tloadavg_after\n' > "$OUT/logins.tsv"
HOLDERS=()       # name=pid of every generator holding sessions
NEW_HOLDERS=()   # name=pid:log of the generators of the step logging in now
holder() { # name, url, prefix, sessions, generator args...: a generator holding idle sessions until stopped
  # shellcheck disable=SC2086 # SCALE_GEN_JAVA_OPTS: JVM flags, word-split on purpose
  java $SCALE_GEN_JAVA_OPTS -cp "$JAR" io.xbosh.bench.Bench --label "hold-$1" --scenario idle --sessions "$4" \
    --duration-s 86400 --login-concurrency "$SCALE_LOGIN_CONCURRENCY" --login-retries "$SCALE_LOGIN_RETRIES" --login-retry-ms 2000 \
    --wait "$SCALE_WAIT" --domain localhost \
    --user-prefix "$3" --password pw --out "$WORK/hold.tsv" --url "$2" "${@:5}" > "$WORK/hold-$1.log" 2>&1 &
  PIDS+=($!)
  HOLDERS+=("generator-$1=$!")
  NEW_HOLDERS+=("generator-$1=$!:$WORK/hold-$1.log")
}
holders() { # name, url, prefix, sessions, generator args...: SCALE_GENERATORS generators, the sessions shared out
  local j
  for j in $(seq 0 $((SCALE_GENERATORS - 1))); do
    holder "$1g$j" "$2" "$3g${j}u" "$(share "$4" "$SCALE_GENERATORS" "$j")" "${@:5}"
  done
}
proc_pairs() { # the NAME=PID of a --proc ... argument list
  local prev='' a
  for a in "$@"; do [ "$prev" = --proc ] && echo "$a"; prev=$a; done
}
LOGIN_CPU0=()
logins_begin() { # --proc args of the processes already running
  LOGIN_T0=$(date +%s.%N); LOGIN_LOAD0=$(cut -d' ' -f1-3 /proc/loadavg); LOGIN_CPU0=()
  local p; for p in $(proc_pairs "$@"); do LOGIN_CPU0+=("$p=$(cpu_s "${p#*=}")"); done
}
cpu0_of() { local c; for c in "${LOGIN_CPU0[@]}"; do [ "${c%=*}" = "$1" ] && { echo "${c##*=}"; return; }; done; echo 0; }
logins_end() { # label, sessions after the step, --proc args: waits for NEW_HOLDERS, one logins.tsv row per process
  local h log got=0 failed=0 n f t1 secs p cpu ms
  for h in "${NEW_HOLDERS[@]}"; do
    log=${h#*:}; p=${h%%:*}
    for _ in $(seq 1 $((SCALE_LOGIN_TIMEOUT_S * 5))); do
      grep -q "logged in" "$log" 2>/dev/null || ! kill -0 "${p#*=}" 2>/dev/null && break; sleep 0.2
    done
    grep -q "logged in" "$log" || { echo "generator ${p%=*} did not log its sessions in:" >&2; tail -20 "$log" >&2; return 1; }
    # "hold-x logged in: N of M sessions, F failed, T ms, errors ..."
    n=$(sed -n 's/.* logged in: \([0-9]*\) of .*/\1/p' "$log" | head -1); f=$(sed -n 's/.* sessions, \([0-9]*\) failed.*/\1/p' "$log" | head -1)
    got=$((got + n)); failed=$((failed + f))
    grep -h "logged in" "$log" | tee -a "$OUT/run.txt"
  done
  t1=$(date +%s.%N); secs=$(echo "$t1 - $LOGIN_T0" | bc)
  for p in $(proc_pairs "${@:3}") $(printf '%s\n' "${NEW_HOLDERS[@]}" | sed 's/:.*//'); do
    cpu=$(echo "$(cpu_s "${p#*=}") - $(cpu0_of "$p")" | bc)
    ms=$(echo "scale=3; 1000 * $cpu / ($got + ($got == 0))" | bc)
    printf '%s\t%s\t%s\t%s\t%.1f\t%.1f\t%s\t%.2f\t%.3f\t%s\t%s\n' "$1" "$2" "$got" "$failed" "$secs" \
      "$(echo "$got / $secs" | bc -l)" "${p%=*}" "$cpu" "$ms" "$LOGIN_LOAD0" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/logins.tsv"
  done
  echo "$1: $got sessions logged in ($failed failed) in ${secs%.*} s, $(echo "$got / $secs" | bc) logins/s," \
    "load average $LOGIN_LOAD0 -> $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/run.txt"
  LOGGED_IN=$got
  NEW_HOLDERS=()
}
pod_gauges() { # label, pod names...: what each pod holds, from its /metrics
  local k port m
  for k in "${@:2}"; do
    port=$(eval echo "\$${k}_PORT")
    m=$(curl -s "http://127.0.0.1:$port/metrics" || true)
    echo "$1 $k: sessions owned $(echo "$m" | awk '/^xbosh_sessions_owned/ { print $2 }'), requests held" \
      "$(echo "$m" | awk '/^xbosh_requests_held/ { print $2 }'), sessions terminated" \
      "$(echo "$m" | awk '/^xbosh_sessions_terminated/ { n += $2 } END { print n + 0 }')" | tee -a "$OUT/run.txt"
  done
}
pod_requests() { # pod names...: BOSH HTTP requests they have answered so far (their /metrics)
  local k port n=0
  for k in "$@"; do
    port=$(eval echo "\$${k}_PORT")
    n=$((n + $(curl -s "http://127.0.0.1:$port/metrics" | awk '/^xbosh_http_requests_total/ { n += $2 } END { printf "%d", n }')))
  done
  echo "$n"
}
measure_pods() { # label, pod names (comma-separated), --proc args...: measure, with the pods' request rate beside it
  local pods r0 r1 t0 t1 owned
  IFS=, read -r -a pods <<< "$2"
  owned=$(pod_owned "${pods[@]}")
  r0=$(pod_requests "${pods[@]}"); t0=$(date +%s.%N)
  measure "$1" "$owned" "${@:3}"
  r1=$(pod_requests "${pods[@]}"); t1=$(date +%s.%N)
  echo "$1, $owned sessions owned: $(echo "($r1 - $r0) / ($t1 - $t0)" | bc -l | xargs printf '%.1f') BOSH requests/s" \
    "(one poll per session per wait: $(echo "$owned / $SCALE_WAIT" | bc -l | xargs printf '%.1f'))" | tee -a "$OUT/run.txt"
}
settle_step() { # label: sleep so that the step's window (SCALE_MEASURE_S) ends SCALE_AGE_S after its last login
  local s=$((SCALE_AGE_S - ${SCALE_MEASURE_S%.*}))
  [ "$s" -gt "$SCALE_SETTLE_S" ] || s=$SCALE_SETTLE_S
  echo "$1: measured from $s s to $((s + ${SCALE_MEASURE_S%.*})) s after the step's last login" | tee -a "$OUT/run.txt"
  sleep "$s"
}
stop_holders() {
  local h; for h in "${HOLDERS[@]}"; do kill "${h#*=}" 2>/dev/null || true; done
  for h in "${HOLDERS[@]}"; do while kill -0 "${h#*=}" 2>/dev/null; do sleep 0.2; done; done
  HOLDERS=()
}
# one-pod run: label, steps, pod name, prefix letter, generator args...: a fresh pod on the standalone Redis, cumulative steps
one_pod_run() {
  local label=$1 steps=$2 name=$3 letter=$4 total=0 i=0 n one hold=()
  redis-cli -p "$REDIS_PORT" flushall >/dev/null
  scale_prosody "prosody-$name"
  # shellcheck disable=SC2086 # ONE_POD_ENV: NAME=VALUE words
  C2S_PORT=$(eval echo "\$prosody_${name}_C2S") start_pod "$name" XBOSH_REDIS_URL="redis://127.0.0.1:$REDIS_PORT" \
    XBOSH_MAX_CONNECTS_IN_FLIGHT="$SCALE_CONNECTS_IN_FLIGHT" ${ONE_POD_ENV:-}
  one=(--proc "xbosh-pod1=$(eval echo "\$${name}_PID")" --proc "redis-server=$REDIS_PID"
    --proc "prosody=$(eval echo "\$prosody_${name}_PID")" --redis-node "$REDIS_PORT")
  sleep "$SCALE_SETTLE_S" # the pod's warm-up compiles past its /ready
  measure "$label" 0 "${one[@]}"
  for n in $steps; do
    logins_begin "${one[@]}"
    holders "$letter$i" "$(url "$(eval echo "\$${name}_PORT")")" "$letter${i}" $((n - total)) "${@:5}"
    logins_end "$label" "$n" "${one[@]}"
    total=$n; i=$((i + 1)); hold=(); for h in "${HOLDERS[@]}"; do hold+=(--proc "$h"); done
    settle_step "$label $n"
    measure_pods "$label" "$name" "${one[@]}" "${hold[@]}"
    pod_gauges "$label $n asked" "$name"
    echo "$label, $n sessions asked: Redis holds $(redis-cli -p "$REDIS_PORT" dbsize) keys" | tee -a "$OUT/run.txt"
  done
  stop_holders
  kill "$(eval echo "\$${name}_PID")" "$(eval echo "\$prosody_${name}_PID")" 2>/dev/null || true
}
# scale_prosody NAME: a Prosody of the scale run (c2s only), its pid and port in NAME_PID, NAME_C2S.
# server_epoll listens with a backlog of 128: with hundreds of logins in flight the kernel drops
# connections to c2s and the pod's upstream opens wait out their 10 s timeout. Lua 5.4's
# generational collector took a login from 2.5 to 0.9 ms of Prosody CPU (3,000 logins, BENCHMARKS.md
# "idle scale"), and Prosody is one thread: on a loaded machine its share of a core caps the login rate.
scale_prosody() {
  local port; port=$(free_port)
  sed -e "s/^c2s_ports = .*/c2s_ports = { $port }/" -e "s/^http_ports = .*/http_ports = { }/" \
    -e "s|^pidfile = .*|pidfile = \"$WORK/prosody/$1.pid\"|" -e 's/"bosh", //' -e 's/"websocket", //' -e '/^VirtualHost/d' \
    "$WORK/prosody/prosody.cfg.lua" > "$WORK/prosody/$1.cfg.lua"
  printf '%s\n' "network_settings = { tcp_backlog = 4096 }" 'gc = { mode = "generational" }' ${SCALE_PROSODY_CFG:+"$SCALE_PROSODY_CFG"} \
    'VirtualHost "localhost"' >> "$WORK/prosody/$1.cfg.lua"
  prosody --config "$WORK/prosody/$1.cfg.lua" > "$WORK/$1.log" 2>&1 &
  PIDS+=($!)
  eval "${1//-/_}_PID=$!"
  eval "${1//-/_}_C2S=$port"
  for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
}
pod_owned() { # pod names...: sessions they own together (their /metrics)
  local k n=0 port
  for k in "$@"; do
    port=$(eval echo "\$${k}_PORT")
    n=$((n + $(curl -s "http://127.0.0.1:$port/metrics" | awk '/^xbosh_sessions_owned/ { v = $2 } END { printf "%d", v }')))
  done
  echo "$n"
}
if [[ " $SCENARIOS " == *" scale "* ]]; then
  echo "== scale, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/run.txt"
  # the side-by-side servers are idle from here on: stop them so their heartbeats do not count
  for p in ${local_PID:-} ${redis1_PID:-} ${redis2_PID:-} ${NXB_PID:-}; do kill "$p" 2>/dev/null || true; done
  [ -z "${SCALE_STEPS// /}" ] || one_pod_run one-pod "$SCALE_STEPS" scale1 s
  # shellcheck disable=SC2086 # SCALE_H2C_ARGS: generator options, word-split on purpose
  [ -z "${SCALE_H2C_STEPS// /}" ] || ONE_POD_ENV=XBOSH_HTTP2_CLEARTEXT=true one_pod_run one-pod-h2c "$SCALE_H2C_STEPS" scaleh h $SCALE_H2C_ARGS

  if [ "$SCALE_PODS" -gt 0 ]; then
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
  pods=()
  for k in $(seq 1 "$SCALE_PODS"); do
    scale_prosody "prosody-$k"
    many+=(--proc "prosody-$k=$(eval echo "\$prosody_${k}_PID")")
    C2S_PORT=$(eval echo "\$prosody_${k}_C2S") start_pod "pod$k" XBOSH_REDIS_URL="$SEEDS" XBOSH_REDIS_CLUSTER=true XBOSH_MAX_CONNECTS_IN_FLIGHT="$SCALE_CONNECTS_IN_FLIGHT"
    many+=(--proc "xbosh-pod$k=$(eval echo "\$pod${k}_PID")")
    pods+=("pod$k")
  done
  sleep "$SCALE_SETTLE_S"
  measure cluster-pods 0 "${many[@]}"
  logins_begin "${many[@]}"
  for k in $(seq 1 "$SCALE_PODS"); do
    holders "p${k}0" "$(url "$(eval echo "\$pod${k}_PORT")")" "p${k}0" "$SCALE_PER_POD"
  done
  logins_end cluster-pods $((SCALE_PODS * SCALE_PER_POD)) "${many[@]}"
  for h in "${HOLDERS[@]}"; do many+=(--proc "$h"); done
  settle_step "cluster-pods $((SCALE_PODS * SCALE_PER_POD))"
  measure_pods cluster-pods "$(IFS=,; echo "${pods[*]}")" "${many[@]}"
  pod_gauges "cluster-pods" "${pods[@]}"
  keys=0; for port in "${CLUSTER_PORTS[@]}"; do keys=$((keys + $(redis-cli -p "$port" dbsize))); done
  echo "$SCALE_PODS pods, $((SCALE_PODS * SCALE_PER_POD)) sessions asked: the cluster holds $keys keys" | tee -a "$OUT/run.txt"
  stop_holders
  fi
  grep -h "errors=\|failedLogins" "$WORK"/hold-*.log | tail -20 >> "$OUT/run.txt" || true
fi

[ ! -f "$OUT/results.tsv" ] || java -cp "$GEN_JAR" io.xbosh.bench.Bench --plot "$OUT/results.tsv" --png "$OUT/latency.png"
[ ! -f "$OUT/procs.tsv" ] || java -cp "$GEN_JAR" io.xbosh.bench.BenchSummary "$OUT" "$BURST_MAX_P99_MS" > "$OUT/summary.md"
echo "end $(date -u +%FT%TZ), $(( $(date +%s) - BEGAN )) s, load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/run.txt"
echo "results: $OUT/results.tsv, $OUT/cpu.tsv, $OUT/procs.tsv, $OUT/summary.md, plots: $OUT/latency.png $OUT/idle-scale.png"
