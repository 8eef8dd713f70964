#!/usr/bin/env bash
# The event loops' CPU per HTTP request (and the whole pod's, and redis-server's per script) in the chat's
# steady window, 35 to 5 s before the chat phase ends (see steady.sh for how the phase is found)
for d in "$@"; do
  req=$(grep -o "httpRequests=[0-9]*" $d/run.log | head -1 | cut -d= -f2)
  spr=$(grep -o "scripts/request=[0-9.]*" $d/run.log | head -1 | cut -d= -f2)
  awk -v n=$(basename $d) -v req=$req -v spr=$spr 'NR>1 {k++; t[k]=$1; c[k]=$3; r[k]=$6; l[k]=$11}
    END {
      blocks=0; inb=0;
      for (i=2; i<=k; i++) { d=c[i]-c[i-1]; if (d>=20 && !inb) {inb=1; blocks++} else if (d<20 && inb) {inb=0; if (blocks==2) {endi=i-1; break}} }
      for (hi=endi; hi>1 && t[hi]>t[endi]-5; hi--); for (lo=hi; lo>1 && t[lo]>t[hi]-30; lo--);
      s=t[hi]-t[lo]; rps=req/60;
      printf "%s %.3f %.3f %.1f\n", n, (l[hi]-l[lo])/(s*rps), (c[hi]-c[lo])/(s*rps), 1000*(r[hi]-r[lo])/(s*rps*spr) }' $d/sched.txt
done
