#!/usr/bin/env bash
# sched.sh OUT: per second, the bench pod's and its redis-server's CPU and run-queue wait (schedstat), summed over threads
out=$1
for i in $(seq 1 240); do
  pod=$(pgrep -f "jar /tmp/xbosh-bench.*/xbosh.jar" | while read p; do [ "$(readlink /proc/$p/cwd)" = /work/wt-loopconn ] && [ "$(cat /proc/$p/comm)" = java ] && echo $p; done | head -1)
  [ -n "$pod" ] && break; sleep 0.5
done
sleep 2
rport=$(tr '\0' '\n' < /proc/$pod/environ | sed -n 's/^XBOSH_REDIS_URL=redis:\/\/127.0.0.1://p')
rpid=$(pgrep -f "redis-server 127.0.0.1:$rport")
echo "# pod=$pod redis=$rpid" > $out
while kill -0 $pod 2>/dev/null; do
  el=$(for t in /proc/$pod/task/*; do grep -q "^vert.x-eventlo" $t/comm 2>/dev/null && cat $t/schedstat; done | awk "{c+=\$1} END {printf \"%d\", c/1e6}"); p=$(cat /proc/$pod/task/*/schedstat 2>/dev/null | awk '{c+=$1; w+=$2} END {printf "%d %d", c/1e6, w/1e6}')
  r=$(cat /proc/$rpid/task/*/schedstat 2>/dev/null | awk '{c+=$1; w+=$2} END {printf "%d %d", c/1e6, w/1e6}')
  echo "$(date +%s) pod_cpu_ms,wait_ms $p redis_cpu_ms,wait_ms $r load $(cut -d' ' -f1 /proc/loadavg) loops_cpu_ms $el" >> $out
  sleep 1
done
