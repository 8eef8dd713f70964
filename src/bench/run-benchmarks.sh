#!/usr/bin/env bash
# Side-by-side benchmark: the same load generator and the same Prosody, through
#   (a) Prosody's own mod_bosh, (b) xbosh with the in-process store, (c) xbosh on Redis,
#   (d) two xbosh pods on Redis with requests round robin;
# and over WebSocket: (e) Prosody's own mod_websocket, (f) xbosh's WebSocket endpoint (RFC 7395, the
#   pod of (b)), (g) node-xmpp-bosh 0.7.10's WebSocket (the draft before RFC 7395), (h) node-xmpp-bosh's BOSH.
# Writes target/bench/results.tsv, target/bench/cpu.tsv (CPU seconds of every process per run, with
# the load average) and target/bench/latency.png. Everything runs on loopback and
# is stopped on exit. Knobs (environment): CHAT_SESSIONS, CHAT_RATE, BURST_RATES, DURATION_S,
# IDLE_SESSIONS, IDLE_HOLD_S, IDLE_WAIT_S (the clients' wait in the idle scenario), TARGETS (subset of
# "a b c d e f g h"), SCENARIOS (subset of "idle chat burst cold hot"), HOT_IQS (the measured
# pings of the hot scenario, 3000; BENCHMARKS.md, "Hot path"), ROUNDS (every target in turn, this many
# times: alternated runs on a noisy machine), POD_JAVA_OPTS (the xbosh JVMs' flags),
# POD_CGROUP (a cgroup directory the pods are put in, e.g. one with a memory limit), REDIS_ARGS (e.g. "--hash-max-listpack-value 1024"), JAR (the xbosh jar under test), GEN_JAR (the load generator's, default JAR). The idle scenario also writes a class histogram of the serving
# pod to target/bench/histogram-<label>-<sessions>.txt.
#
# cold (BENCHMARKS.md, "Cold start"): for each of COLD_RUNS rounds, first Prosody's mod_bosh, then
# for every variant in COLD_VARIANTS a fresh xbosh pod on Redis, started with that variant's JVM
# options (COLD_OPTS_<variant>) and environment (COLD_ENV_<variant>); the generator waits for the
# pod's /ready and at once sends COLD_USERS users arriving at COLD_RATE/s (login, ten roster round
# trips, messages), wave after wave for COLD_FIRST_MINUTE_S, then COLD_WARM_WAVES more. Variants
# alternate within a round, so a change of the machine's load hits all of them. Rows go to
# target/bench/cold.tsv. The variant "cds" needs the archive the script builds first
# (target/bench/xbosh.jsa, the same training run as the Dockerfile's).
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

mkdir -p "$OUT"
[ -f "$JAR" ] || mvn -B -q package -DskipTests
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
# before this work: G1, no archive, no warm-up
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
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_for_line() { # file, text, seconds
  for _ in $(seq 1 $(( $3 * 10 ))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}

USERS=$(( IDLE_SESSIONS > CHAT_SESSIONS ? IDLE_SESSIONS : CHAT_SESSIONS ))

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
mkdir -p "$WORK/prosody/data/localhost/accounts"
for i in $(seq 0 $(( USERS - 1 ))); do
  printf 'return {\n\t["password"] = "pw";\n};\n' > "$WORK/prosody/data/localhost/accounts/u$i.dat"
done
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
    XBOSH_MAX_HELD_PER_ADDRESS=1000000 "$@" \
    sh -c '[ -z "$1" ] || echo $$ > "$1/cgroup.procs"; shift; exec "$@"' pod "${POD_CGROUP:-}" \
    java $POD_JAVA_OPTS -jar "$JAR" > "$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  eval "${name//-/_}_PID=$!"
  eval "${name//-/_}_PORT=$port"
  wait_for_line "$WORK/$name.log" "listening on" 60
}
POD_ENV=(XBOSH_HTTP_HOST=127.0.0.1 XBOSH_UPSTREAM="127.0.0.1:$C2S_PORT"
  XBOSH_MAX_SESSIONS=20000 XBOSH_EVENT_LOOPS=2 XBOSH_MAX_CONNECTIONS=60000 XBOSH_MAX_CONNECTIONS_PER_ADDRESS=0
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

# CPU seconds (user + system) a process has used so far
cpu_s() { awk '{ printf "%.2f", ($14 + $15) / '"$(getconf CLK_TCK)"' }' "/proc/$1/stat" 2>/dev/null || echo 0; }
[ -f "$OUT/cpu.tsv" ] || printf 'label\tscenario\tround\twall_s\tproxy_cpu_s\tprosody_cpu_s\tloadgen_cpu_s\tloadavg_before\tloadavg_after\n' > "$OUT/cpu.tsv"
ROUND=1
bench() { # label, scenario, extra args...; proxy pid in BENCH_PROXY_PIDS
  local t0 p0 s0 t1 p1 s1 lg before
  before=$(cut -d' ' -f1-3 /proc/loadavg)
  t0=$(date +%s.%N); s0=$(cpu_s "$PROSODY_PID"); p0=0
  for p in $BENCH_PROXY_PIDS; do p0=$(echo "$p0 + $(cpu_s "$p")" | bc); done
  /usr/bin/time -o "$WORK/time" -f '%U %S' java -Xmx1g -cp "$GEN_JAR" io.xbosh.bench.Bench --label "$1" --scenario "$2" \
    --domain localhost --user-prefix u --password pw --out "$OUT/results.tsv" "${@:3}"
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
      burst) bench "$label" burst --sessions "$CHAT_SESSIONS" --rates "$BURST_RATES" --duration-s "$DURATION_S" "${args[@]}" "${redis[@]}" ;;
    esac
  done
}

cold_pod() { # variant, round: a fresh pod on Redis, measured from its /ready on
  local variant=$1 opts env port pid
  eval "opts=\$COLD_OPTS_$variant"; eval "env=\$COLD_ENV_$variant"
  port=$(free_port)
  # shellcheck disable=SC2086
  env "${POD_ENV[@]}" XBOSH_HTTP_PORT="$port" XBOSH_NODE_ID="cold-$variant-$2" XBOSH_REDIS_URL="redis://127.0.0.1:$REDIS_PORT" $env \
    java $opts -jar "$JAR" > "$OUT/cold-$variant-$2.log" 2>&1 &
  pid=$!
  PIDS+=($pid)
  java -Xmx512m -cp "$JAR" io.xbosh.bench.Bench --scenario cold --label "xbosh-redis-$variant" --url "$(url "$port")" \
    --ready-url "http://127.0.0.1:$port/ready" --users "$COLD_USERS" --rate "$COLD_RATE" --first-minute-s "$COLD_FIRST_MINUTE_S" \
    --warm-waves "$COLD_WARM_WAVES" --proc "pod=$pid" --proc "prosody=$PROSODY_PID" --proc "redis=$REDIS_PID" --out "$OUT/cold.tsv"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

run_cold() {
  if [ -n "$(echo " $COLD_VARIANTS " | grep -E ' (cds|image|serial|c1) ')" ] && [ ! -f "$CDS_ARCHIVE" ]; then
    # the Dockerfile's training run: start, warm up, exit; the JVM writes the classes it loaded
    XBOSH_HTTP_HOST=127.0.0.1 XBOSH_HTTP_PORT=0 XBOSH_LOG_LEVEL=WARN \
      java -XX:+UseG1GC -XX:ArchiveClassesAtExit="$CDS_ARCHIVE" -jar "$JAR" --warm-up-only > "$WORK/cds.log" 2>&1
  fi
  for round in $(seq 1 "$COLD_RUNS"); do
    java -Xmx512m -cp "$JAR" io.xbosh.bench.Bench --scenario cold --label prosody-mod_bosh --url "$(url "$PROSODY_HTTP")" \
      --users "$COLD_USERS" --rate "$COLD_RATE" --first-minute-s 0 --warm-waves "$COLD_WARM_WAVES" \
      --proc "prosody=$PROSODY_PID" --proc "redis=$REDIS_PID" --out "$OUT/cold.tsv"
    for v in $COLD_VARIANTS; do cold_pod "$v" "$round"; done
  done
}

for s in $SCENARIOS; do [ "$s" = cold ] && run_cold; done
SCENARIOS=${SCENARIOS//cold/}
if [ -n "${SCENARIOS// /}" ]; then
  for ROUND in $(seq 1 "$ROUNDS"); do
    for t in $TARGETS; do run_target "$t"; done
  done
  [ ! -f "$OUT/results.tsv" ] || java -cp "$GEN_JAR" io.xbosh.bench.Bench --plot "$OUT/results.tsv" --png "$OUT/latency.png"
  echo "results: $OUT/results.tsv, plot: $OUT/latency.png"
fi
