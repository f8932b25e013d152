#!/usr/bin/env bash
# Run several train.py configurations in parallel on one GPU (the model is small: one process
# keeps the GPU ~25% busy, four run at nearly the speed of one), then pick the best BitNet run
# and the best float run of the same architecture and put their checkpoints in $OUT/ckpt
# (split in 15 MB parts: the device tool returns files up to 16 MiB) plus all logs in $OUT/logs.tgz.
#   usage: OUT=... bash models/gpu_sweep.sh models/runs/sweepN.txt
# Each line of the run file: NAME MODE [train.py args...]
set -u
cd "$(dirname "$0")"
RUNS=/tmp/runs; mkdir -p $RUNS "$OUT/ckpt"
export PYTHONUNBUFFERED=1
while read -r name mode args; do
  [ -z "$name" ] && continue; case "$name" in \#*) continue;; esac
  mkdir -p $RUNS/$name
  echo "$mode $args" > $RUNS/$name/cmd.txt
  python3 train.py --mode $mode --out $RUNS/$name $args > $RUNS/$name/log.txt 2>&1 &
done < "$1"
wait
for d in $RUNS/*/; do echo "== $d $(cat $d/cmd.txt)"; tail -n 1 $d/log.txt; done
python3 - <<'PY'
import json, glob, os, shutil, subprocess
R = "/tmp/runs"; out = os.environ["OUT"]
S = {}
for f in glob.glob(f"{R}/*/summary_*.json"):
    s = json.load(open(f)); S[os.path.basename(os.path.dirname(f))] = s
arch = lambda s: tuple(s["config"][k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads"))
b = min((n for n in S if S[n]["mode"] == "bitnet"), key=lambda n: S[n]["best_val"], default=None)
fl = [n for n in S if S[n]["mode"] == "float" and (b is None or arch(S[n]) == arch(S[b]))]
f = min(fl, key=lambda n: S[n]["best_val"], default=None)
print("chosen bitnet", b, b and S[b]["best_val"], "float", f, f and S[f]["best_val"])
for n in (b, f):
    if n is None: continue
    ck = glob.glob(f"{R}/{n}/*_best.safetensors")[0]
    subprocess.run(["split", "-b", "15000000", "-d", ck, f"{out}/ckpt/{n}.{os.path.basename(ck)}.part"], check=True)
json.dump({"bitnet": b, "float": f}, open(f"{R}/chosen.json", "w"))
PY
tar czf "$OUT/logs.tgz" -C $RUNS --exclude='*.safetensors' .
ls -la "$OUT" "$OUT/ckpt"
