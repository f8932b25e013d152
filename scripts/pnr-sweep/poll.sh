#!/bin/bash
# Device-side: status of every job; bundle logs and finished reports into $OUT/pnr.tar.xz.
mkdir -p /var/tmp/pnrout
for d in /var/tmp/pnr/*/; do n=$(basename $d)
  if [ -f $d/done ]; then echo "== $n DONE $(cat $d/done)"; cp $d/report.json /var/tmp/pnrout/$n.report.json 2>/dev/null
  else echo "== $n running"; fi
  cp $d/log /var/tmp/pnrout/$n.log
  grep -E "Max frequency|iter=" $d/log | tail -2
done
tar cJf $OUT/pnr.tar.xz -C /var/tmp/pnrout .
uptime; free -g | head -2
