#!/usr/bin/env bash
# Issue 12, JPEG models: the photo models fine-tuned further on JPEG inputs alone
# (--degradation photo-jpeg), x3 then x2, 2 threads each. Rerunning resumes.
set -euo pipefail
cd "$(dirname "$0")/../../.."
RUNS=export/runs/cpu-2026-12-01
run() {  # scale channels blocks patch steps
  local s=$1 c=$2 b=$3 p=$4 n=$5 out=$RUNS/x$1_${2}x${3}_jpeg
  local args=(--arch "rsp:channels=$c,blocks=$b,act=relu,res=true" --scale "$s"
    --data ../shared/data/train --init "$RUNS/x${s}_${c}x${b}_photo/best.pt"
    --degradation photo-jpeg --steps "$n" --batch 16 --patch "$p" --lr 1e-4 --schedule cosine
    --warmup 100 --loss l1 --val-every 1000 --ckpt-every 250 --threads 2 --quiet --out "$out")
  if [ -f "$out/last.pt" ]; then
    python -c "import json,sys; r=[json.loads(l) for l in open('$out/log.jsonl')]; sys.exit(0 if r and r[-1]['step']>=$n else 1)" \
      && return 0
    sronnx train "${args[@]}" --resume
  else
    sronnx train "${args[@]}"
  fi
}
run 3 32 6 96 6000
run 2 48 8 96 6000
