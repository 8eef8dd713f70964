#!/usr/bin/env bash
# Side-by-side benchmark: the same load generator and the same Prosody, through
#   (a) Prosody's own mod_bosh, (b) xbosh with the in-process store, (c) xbosh on Redis,
#   (d) two xbosh pods on Redis with requests round robin.
# Writes target/bench/results.tsv and target/bench/latency.png. Everything runs on loopback and
# is stopped on exit. Knobs (environment): CHAT_SESSIONS, CHAT_RATE, BURST_RATES, DURATION_S,
# IDLE_SESSIONS, IDLE_HOLD_S, TARGETS (subset of "a b c d"), SCENARIOS (subset of "idle chat burst hot"),
# HOT_IQS (3000), JAR (target/xbosh.jar).
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

mkdir -p "$OUT"
[ -f "$JAR" ] || mvn -B -q package -DskipTests
WORK=$(mktemp -d /tmp/xbosh-bench.XXXXXX)
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
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --dir "$WORK" \
  > "$WORK/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=($REDIS_PID)
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
    java -Xmx1g -XX:+UseG1GC -jar "$JAR" > "$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  eval "${name//-/_}_PID=$!"
  eval "${name//-/_}_PORT=$port"
  wait_for_line "$WORK/$name.log" "listening on" 60
}
start_pod local
start_pod redis1 XBOSH_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
start_pod redis2 XBOSH_REDIS_URL="redis://127.0.0.1:$REDIS_PORT"

bench() { # label, scenario, extra args...
  java -Xmx1g -cp "$JAR" io.xbosh.bench.Bench --label "$1" --scenario "$2" --domain localhost \
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
      idle) bench "$label" idle --sessions "$IDLE_SESSIONS" --duration-s "${IDLE_HOLD_S:-10}" --login-concurrency 100 "${args[@]}" "${redis[@]}" ;;
      chat) bench "$label" chat --sessions "$CHAT_SESSIONS" --rate "$CHAT_RATE" --duration-s "$DURATION_S" "${args[@]}" "${redis[@]}" ;;
      hot) # one client, one persistent connection: auth, restart, iq round trips, CPU of every process
        local pids=(--pid "prosody=$PROSODY_PID")
        case $1 in b) pids+=(--pid "xbosh=$local_PID") ;; c|d) pids+=(--pid "xbosh=$redis1_PID" --pid "redis=$REDIS_PID") ;; esac
        java -cp "$JAR" io.xbosh.bench.HotPath --label "$label" --url "${args[1]}" --domain localhost \
          --user u0 --password pw --iqs "${HOT_IQS:-3000}" "${pids[@]}" | tee -a "$OUT/hot.txt" ;;
      burst) bench "$label" burst --sessions "$CHAT_SESSIONS" --rates "$BURST_RATES" --duration-s "$DURATION_S" "${args[@]}" "${redis[@]}" ;;
    esac
  done
}

for t in $TARGETS; do run_target "$t"; done
[ ! -f "$OUT/results.tsv" ] || java -cp "$JAR" io.xbosh.bench.Bench --plot "$OUT/results.tsv" --png "$OUT/latency.png"
echo "results: $OUT/results.tsv, plot: $OUT/latency.png"
