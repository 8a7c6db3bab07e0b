#!/bin/bash
# Continue three of the GPU runs of export/gpu_runs.py (cosine restarted over a longer total:
# `sronnx train --resume --steps N` keeps the run's own settings). Run folders travel in
# .gpu/resume; results come back as $OUT/continued.tar.zst. CPU: the same commands, --device cpu.
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH=$REPO PYTHONUNBUFFERED=1
mkdir -p /tmp/ft && cp -r "$REPO/.gpu/resume/"* /tmp/ft/
DATA="$REPO/.gpu/data/train"
run() {  # name arch scale steps
  timeout "${LIMIT:-170}" python3 -m sronnx train --arch "$2" --scale "$3" --data "$DATA" \
    --steps "$4" --out "/tmp/ft/$1" --device cuda --resume --quiet > "/tmp/ft/$1.out" 2>&1
  echo "$1 exit $?"
}
run x2_48x8 rsp:channels=48,blocks=8,act=relu,res=true 2 17000 &
run x3_32x8 rsp:channels=32,blocks=8,act=relu,res=true 3 18000 &
run x3_32x6 rsp:channels=32,blocks=6,act=relu,res=true 3 17000 &
wait
tail -n 3 /tmp/ft/*.out
for n in x2_48x8 x3_32x8 x3_32x6; do grep val_psnr "/tmp/ft/$n/log.jsonl" | tail -n 4 | cut -c1-160; done
tar cf - -C /tmp --exclude=last.pt ft | "$REPO/.gpu/zstd" -q -T8 -o "$OUT/continued.tar.zst"
