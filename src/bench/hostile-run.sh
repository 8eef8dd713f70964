#!/usr/bin/env bash
# The floods of issue 17 at full scale (src/test/java/io/xbosh/bench/HostileBenchIT.java): one pod
# (java -jar target/xbosh.jar, 2 event loops, Redis store, real Prosody, production per-address
# limits, XBOSH_MAX_HELD_REQUESTS=100), two victim sessions chatting once a second, one attack at a
# time for PHASE_MS (default 12 s) plus 10 s for stragglers: about three minutes in all.
# ATTACKS picks some of them. Attackers bind 127.0.0.2+ and 127.0.1.x (Linux routes all of 127/8 to loopback).
# Prints one 'HOSTILE <attack>' line per attack and writes them to target/hostile-bench.txt.
# Needs redis-server, redis-cli, prosody, and 20,000 file descriptors (ulimit -n).
set -euo pipefail
cd "$(dirname "$0")/../.."

PHASE_MS=${PHASE_MS:-12000}
# a comma-separated subset of: new-names preauth-flood slowloris held-requests big-stanzas metrics-pipelining
ATTACKS=${ATTACKS:-}
status=0
rm -f target/hostile-bench.txt
mvn -B -o verify -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false -Dit.test=HostileBenchIT \
  -Dxbosh.hostile.bench=true -Dxbosh.hostile.phaseMs="$PHASE_MS" -Dxbosh.hostile.attacks="$ATTACKS" || status=$?
echo
echo "== hostile floods, $PHASE_MS ms each ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) now)"
cat target/hostile-bench.txt 2>/dev/null || grep -h '^HOSTILE ' target/failsafe-reports/*HostileBenchIT-output.txt || true
exit $status
