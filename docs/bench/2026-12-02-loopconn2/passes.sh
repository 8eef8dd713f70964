#!/usr/bin/env bash
# the read-pass runs (e1, e2): the diagnostic build (diagnostic-build.diff.txt + LoopProbe.java.txt on `0b21987`
# ), loop connections on; -Dxbosh.loopMaxReads=16 keeps Netty's read passes, without it one read per pass;
# all three rates run whatever their p99 (BURST_MAX_P99_MS=100000)
J=<diagnostic jar>
r() { # name reads
  local opts="-Xmx1g -XX:+UseG1GC -Dxbosh.loopProbe=/tmp/runs/probe-$1.txt"
  [ -n "$2" ] && opts="$opts -Dxbosh.loopMaxReads=$2"
  POD_JAVA_OPTS="$opts" BURST_MAX_P99_MS=100000 BURST_RATES=400,800,1600 BURST_DURATION_S=15 ./run.sh $1 burst true $J
}
r e1-netty 16
r e1-one ""
r e2-one ""
r e2-netty 16
