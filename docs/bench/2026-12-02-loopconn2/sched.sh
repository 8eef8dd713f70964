#!/usr/bin/env bash
# sched.sh OUT: per second, each vert.x event loop thread's CPU ms, run-queue wait ms, voluntary/involuntary switches (deltas)
out=$1
for i in $(seq 1 240); do
  pod=$(pgrep -f "jar /tmp/xbosh-bench.*/xbosh.jar" | while read p; do [ "$(readlink /proc/$p/cwd)" = <checkout> ] && [ "$(cat /proc/$p/comm 2>/dev/null)" = java ] && echo $p; done | head -1)
  [ -n "$pod" ] && break; sleep 0.5
done
sleep 3
echo "# pod=$pod" > $out
declare -A pc pw pv pi
while kill -0 $pod 2>/dev/null; do
  line="$(date +%T) load $(cut -d' ' -f1 /proc/loadavg)"
  for t in /proc/$pod/task/*; do
    n=$(cat $t/comm 2>/dev/null); case "$n" in vert.x-eventlo*) ;; *) continue;; esac
    id=${t##*/}; read c w s < $t/schedstat
    v=$(awk '/^voluntary_ctxt/{print $2}' $t/status); iv=$(awk '/^nonvoluntary_ctxt/{print $2}' $t/status)
    [ -n "${pc[$id]:-}" ] && line="$line | $n cpu=$(( (c-pc[$id])/1000000 )) wait=$(( (w-pw[$id])/1000000 )) vol=$((v-pv[$id])) invol=$((iv-pi[$id]))"
    pc[$id]=$c; pw[$id]=$w; pv[$id]=$v; pi[$id]=$iv
  done
  echo "$line" >> $out
  sleep 1
done
