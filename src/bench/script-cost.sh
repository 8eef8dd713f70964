#!/usr/bin/env bash
# redis-server CPU per session script, before and after: src/bench/script-cost.py on each jar in
# turn, RUNS times (alternated, so a change of the machine's load hits both), pipelined (PIPELINE
# calls per write, as fast as they go) and paced (one call per round trip at RATE calls/s, as under
# the chat benchmark's traffic). Rows go to target/bench/script-cost.tsv; the medians per jar, mode
# and phase are printed at the end with the load average. Each run starts its own redis-server on a
# free port.
#   src/bench/script-cost.sh BEFORE.jar AFTER.jar [MORE.jar ...]
# Knobs: RUNS (3), SESSIONS (2000), ROUNDS (5), PIPELINE (32), RATE (600), PACED_SESSIONS (1000),
# PACED_ROUNDS (2), MODES ("pipelined paced valgrind"; valgrind: redis-server under callgrind, the
# instructions per call, once per jar, needs valgrind).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { echo "usage: $0 JAR [JAR ...]" >&2; exit 2; }
RUNS=${RUNS:-3}
SESSIONS=${SESSIONS:-2000}
ROUNDS=${ROUNDS:-5}
PIPELINE=${PIPELINE:-32}
RATE=${RATE:-600}
PACED_SESSIONS=${PACED_SESSIONS:-1000}
PACED_ROUNDS=${PACED_ROUNDS:-2}
MODES=${MODES:-pipelined paced valgrind}
OUT=target/bench/script-cost.tsv
mkdir -p target/bench
rm -f "$OUT"
echo "start $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
for run in $(seq 1 "$RUNS"); do
  for jar in "$@"; do
    for mode in $MODES; do
      label="$(basename "$jar" .jar):$mode"
      if [ "$mode" = valgrind ]; then
        # instructions per call, the same however busy the machine: once is enough
        [ "$run" = 1 ] || continue
        python3 src/bench/script-cost.py --jar "$jar" --sessions 200 --rounds 3 --valgrind \
          --label "$label" --out "$OUT" | tail -1 | sed "s/^/run $run $label: /"
      elif [ "$mode" = paced ]; then
        python3 src/bench/script-cost.py --jar "$jar" --sessions "$PACED_SESSIONS" --rounds "$PACED_ROUNDS" \
          --pipeline 1 --rate "$RATE" --label "$label" --out "$OUT" | tail -1 | sed "s/^/run $run $label: /"
      else
        python3 src/bench/script-cost.py --jar "$jar" --sessions "$SESSIONS" --rounds "$ROUNDS" \
          --pipeline "$PIPELINE" --label "$label" --out "$OUT" | tail -1 | sed "s/^/run $run $label: /"
      fi
    done
  done
done
echo "end $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$OUT" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter='\t'))
by = {}
for r in rows:
    by.setdefault((r['label'], r['phase']), []).append(r)
print('\nmedians of %s: label, phase, cpu_us_per_call, usec_per_call, inner_usec_per_call, kinstr_per_call (runs)' % sys.argv[1])
for (label, phase), rs in by.items():
    med = lambda k: statistics.median(float(x[k]) for x in rs)
    print('%-28s %-13s %7.1f %7.1f %6.1f %7.1f (%d)' % (label, phase, med('cpu_us_per_call'), med('usec_per_call'),
                                                        med('inner_usec_per_call'), med('kinstr_per_call'), len(rs)))
EOF
