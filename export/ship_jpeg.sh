#!/usr/bin/env bash
# Issue 12: ship the JPEG models (the photo models fine-tuned on JPEG inputs alone by
# export/runs/cpu-2026-12-01/train_jpeg.sh), each with its int8 sibling (the CPU default).
# Usage: export/ship_jpeg.sh [SCALE...]   (default: 2 3). Run from anywhere, train extra.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=export/runs/cpu-2026-12-01
ship() {  # scale channels blocks patch steps
  local s=$1 c=$2 b=$3 p=$4 n=$5 calib=/tmp/sronnx_photo_calib_x$1
  python export/photo_calib.py --scale "$s" --out "$calib" > /dev/null
  python export/ship.py --kind jpeg --run "$RUNS/x${s}_${c}x${b}_jpeg" --name "rsp-x${s}-jpeg" \
    --int8-calib "$calib" --verify-images "$calib/lr" --cpu-default int8 \
    --summary "The rsp-x${s}-photo network fine-tuned further on JPEG-compressed inputs alone (sronnx train --degradation photo-jpeg, issue 12), on this machine's CPUs. sronnx upscale gives it to JPEG files, lossy WebPs and images showing JPEG blocking by default (sronnx models shows the rule)." \
    --command "sronnx train --arch rsp:channels=$c,blocks=$b,act=relu,res=true --scale $s --data ../shared/data/train --init $RUNS/x${s}_${c}x${b}_photo/best.pt --degradation photo-jpeg --steps $n --batch 16 --patch $p --lr 1e-4 --schedule cosine --warmup 100 --loss l1 --val-every 1000 --ckpt-every 250 --threads 2 --quiet --out $RUNS/x${s}_${c}x${b}_jpeg"
}
for s in ${@:-2 3}; do
  case $s in
    2) ship 2 48 8 96 6000 ;;
    3) ship 3 32 6 96 6000 ;;
    *) echo "no JPEG run for scale $s" >&2; exit 2 ;;
  esac
done
