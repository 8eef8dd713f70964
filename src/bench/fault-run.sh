#!/usr/bin/env bash
# The fault suite (src/test/java/io/xbosh/fault, docs/FAULTS.md) at release scale: by default
# 150 BOSH sessions, 100 messages/s, 15 s of traffic before and after each fault, and the pods'
# default heartbeat (1 s) and dead-time (3 s) instead of the suite's shortened ones.
# Knobs (environment): SESSIONS, RATE, PHASE_MS, HEARTBEAT_MS, DEAD_MS, SCENARIOS (an it.test
# pattern, default '*FaultIT'). Prints one 'FAULT <scenario>: …' line per scenario (sessions ended
# by condition and owner pod, messages sent/received/lost/duplicated, detection times) and leaves
# the full reports in target/failsafe-reports. Needs redis-server, redis-cli, prosody, haproxy.
set -euo pipefail
cd "$(dirname "$0")/../.."

SESSIONS=${SESSIONS:-150}
RATE=${RATE:-100}
PHASE_MS=${PHASE_MS:-15000}
HEARTBEAT_MS=${HEARTBEAT_MS:-1000}
DEAD_MS=${DEAD_MS:-3000}
SCENARIOS=${SCENARIOS:-*FaultIT}

status=0
mvn -B verify -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false -Dit.test="$SCENARIOS" \
  -Dxbosh.fault.sessions="$SESSIONS" -Dxbosh.fault.rate="$RATE" -Dxbosh.fault.phaseMs="$PHASE_MS" \
  -Dxbosh.fault.heartbeatMs="$HEARTBEAT_MS" -Dxbosh.fault.deadMs="$DEAD_MS" || status=$?
echo
echo "== fault suite: $SESSIONS sessions, $RATE msg/s, phases $PHASE_MS ms, heartbeat $HEARTBEAT_MS ms, dead-time $DEAD_MS ms"
grep -h '^FAULT ' target/failsafe-reports/*FaultIT-output.txt || true
grep -h -A2 '<<< FAILURE' target/failsafe-reports/*FaultIT.txt | grep -v '^\s*at ' || true
exit $status
