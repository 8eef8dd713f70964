#!/usr/bin/env bash
# alternated runs, pool vs loop connections, same jar; results under /tmp/lc/pairs/<n>-<scenario>-<variant>
cd /work/wt-loopconn
mkdir -p /tmp/lc/pairs
n=0
run() { # scenario variant
  n=$((n+1)); local d=/tmp/lc/pairs/$n-$1-$2; rm -rf target/bench; mkdir -p $d
  local loops=false; [ $2 = loops ] && loops=true
  (/tmp/lc/sched.sh $d/sched.txt &)
  echo "$(date -u +%T) start $n $1 $2 load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/lc/pairs/log
  if [ $1 = burst ]; then
    XBOSH_REDIS_LOOP_CONNECTIONS=$loops TARGETS=c SCENARIOS=burst BURST_RATES=400,800,1600,3200 BURST_DURATION_S=20 \
      JAR=<jar of main 3799a7b> src/bench/run-benchmarks.sh > $d/run.log 2>&1
  else
    XBOSH_REDIS_LOOP_CONNECTIONS=$loops TARGETS=c SCENARIOS=chat DURATION_S=60 JAR=<jar of main 3799a7b> src/bench/run-benchmarks.sh > $d/run.log 2>&1
  fi
  cp -r target/bench/. $d/
  echo "$(date -u +%T) end $n $1 $2 load $(cut -d' ' -f1-3 /proc/loadavg)" >> /tmp/lc/pairs/log
}
for i in 1 2 3; do
  if [ $i = 2 ]; then run burst pool; run burst loops; else run burst loops; run burst pool; fi
done
for i in 1 2 3; do
  if [ $i = 2 ]; then run chat loops; run chat pool; else run chat pool; run chat loops; fi
done
echo done >> /tmp/lc/pairs/log
