#!/usr/bin/env bash
# Issue 12: fine-tune the shipped x2/x3/x4 networks on --degradation photo on this
# machine's 2 cores: x3 first (2 threads), then x2 and x4 side by side (1 thread each).
# Rerunning this script resumes each unfinished run.
set -euo pipefail
cd "$(dirname "$0")/../../.."
RUNS=export/runs/cpu-2026-12-01
run() {  # scale channels blocks patch steps threads
  local s=$1 c=$2 b=$3 p=$4 n=$5 t=$6 out=$RUNS/x$1_${2}x${3}_photo
  local args=(--arch "rsp:channels=$c,blocks=$b,act=relu,res=true" --scale "$s"
    --data ../shared/data/train --init "export/runs/h200-2026-11-27/x${s}_${c}x${b}/best.pt"
    --degradation photo --steps "$n" --batch 16 --patch "$p" --lr 2e-4 --schedule cosine
    --warmup 200 --loss l1 --val-every 1000 --ckpt-every 250 --threads "$t" --quiet --out "$out")
  if [ -f "$out/last.pt" ]; then
    python -c "import json,sys; r=[json.loads(l) for l in open('$out/log.jsonl')]; sys.exit(0 if r and r[-1]['step']>=$n else 1)" \
      && return 0
    sronnx train "${args[@]}" --resume
  else
    sronnx train "${args[@]}"
  fi
}
run 3 32 6 96 20000 2
run 2 48 8 96 14000 1 &
run 4 48 8 128 16000 1 &
wait
