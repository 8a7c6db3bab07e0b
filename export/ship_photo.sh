#!/usr/bin/env bash
# Issue 12: ship the photo models (for JPEG and noisy inputs) fine-tuned by
# export/runs/cpu-2026-12-01/train_photo.sh, each with its int8 sibling (the CPU default).
# Usage: export/ship_photo.sh [SCALE...]   (default: 2 3 4). Run from anywhere, train extra.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=export/runs/cpu-2026-12-01
ship() {  # scale channels blocks patch steps threads
  local s=$1 c=$2 b=$3 p=$4 n=$5 t=$6 calib=/tmp/sronnx_photo_calib_x$1
  # int8 calibration and checks on what the model is given: degraded T91 pairs
  python export/photo_calib.py --scale "$s" --out "$calib" > /dev/null
  python export/ship.py --kind photo --run "$RUNS/x${s}_${c}x${b}_photo" --name "rsp-x${s}-photo" \
    --int8-calib "$calib" --verify-images "$calib/lr" --cpu-default int8 \
    --summary "The rsp-x${s} network fine-tuned for JPEG-compressed and noisy inputs (sronnx train --degradation photo, issue 12), on this machine's CPUs. sronnx upscale gives it to JPEG files and noisy images by default (sronnx models shows the rule); clean inputs keep rsp-x${s}." \
    --command "sronnx train --arch rsp:channels=$c,blocks=$b,act=relu,res=true --scale $s --data ../shared/data/train --init export/runs/h200-2026-11-27/x${s}_${c}x${b}/best.pt --degradation photo --steps $n --batch 16 --patch $p --lr 2e-4 --schedule cosine --warmup 200 --loss l1 --val-every 1000 --ckpt-every 250 --threads $t --quiet --out $RUNS/x${s}_${c}x${b}_photo"
}
for s in "${@:-2 3 4}"; do
  case $s in
    2) ship 2 48 8 96 14000 1 ;;
    3) ship 3 32 6 96 20000 2 ;;
    4) ship 4 48 8 128 16000 1 ;;
    *) echo "unknown scale $s" >&2; exit 2 ;;
  esac
done
