#!/usr/bin/env bash
# Side-by-side benchmark: the same load generator and the same Prosody, through
#   (a) Prosody's own mod_bosh, (b) xbosh with the in-process store, (c) xbosh on Redis,
#   (d) two xbosh pods on Redis with requests round robin.
# Writes target/bench/results.tsv and target/bench/latency.png. Everything runs on loopback and
# is stopped on exit. Knobs (environment): CHAT_SESSIONS, CHAT_RATE, BURST_RATES, DURATION_S,
# IDLE_SESSIONS, IDLE_HOLD_S, IDLE_WAIT_S (the clients' wait in the idle scenario), TARGETS (subset of
# "a b c d"), SCENARIOS (subset of "idle chat burst cold hot"), HOT_IQS (the measured
# pings of the hot scenario, 3000; BENCHMARKS.md, "Hot path"), POD_JAVA_OPTS (the xbosh JVMs' flags),
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
  case " $TARGETS " in *" b "*) start_pod local ;; esac
  case " $TARGETS " in *" c "*|*" d "*) start_pod redis1 XBOSH_REDIS_URL="redis://127.0.0.1:$REDIS_PORT" ;; esac
  case " $TARGETS " in *" d "*) start_pod redis2 XBOSH_REDIS_URL="redis://127.0.0.1:$REDIS_PORT" ;; esac
fi

bench() { # label, scenario, extra args...
  java -Xmx1g -cp "$GEN_JAR" io.xbosh.bench.Bench --label "$1" --scenario "$2" --domain localhost \
    --user-prefix u --password pw --out "$OUT/results.tsv" "${@:3}"
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
  esac
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
  for t in $TARGETS; do run_target "$t"; done
  [ ! -f "$OUT/results.tsv" ] || java -cp "$GEN_JAR" io.xbosh.bench.Bench --plot "$OUT/results.tsv" --png "$OUT/latency.png"
  echo "results: $OUT/results.tsv, plot: $OUT/latency.png"
fi
