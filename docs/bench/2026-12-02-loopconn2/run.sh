#!/usr/bin/env bash
# run.sh <name> <scenario> <loop connections true|false> [jar]: one run, files to /tmp/runs/<name>; POD_JAVA_OPTS as given
# (diagnostic runs: -Dxbosh.loopProbe=<file>, and -Dxbosh.loopMaxReads=1 for one read per pass; the diagnostic build only)
# run.sh <name> <scenario> <loops true|false> [jar]
cd <checkout>
d=/tmp/runs/$1; rm -rf target/bench; mkdir -p $d
jar=${4:-target/xbosh.jar}
echo "$(date -u +%T) start $1 $2 loops=$3 load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a /tmp/runs/log
if [ $2 = burst ]; then
  POD_EXTRA_ENV="XBOSH_EVENT_LOOPS=1 XBOSH_REDIS_LOOP_CONNECTIONS=$3" TARGETS=c SCENARIOS=burst BURST_RATES=${BURST_RATES:-400,800,1600,3200} BURST_DURATION_S=${BURST_DURATION_S:-20} \
    JAR=$jar src/bench/run-benchmarks.sh > $d/run.log 2>&1
else
  POD_EXTRA_ENV="XBOSH_EVENT_LOOPS=1 XBOSH_REDIS_LOOP_CONNECTIONS=$3" TARGETS=c SCENARIOS=chat ROUNDS=3 DURATION_S=8 JAR=$jar src/bench/run-benchmarks.sh > $d/run.log 2>&1
fi
cp -r target/bench/. $d/
echo "$(date -u +%T) end $1 load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a /tmp/runs/log
