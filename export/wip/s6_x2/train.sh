#!/bin/bash
# Issue 6 candidate: x2, resumable. Re-run this script to continue.
cd "$(dirname "$0")/../../.."
ARGS="--arch rsp:channels=32,blocks=8,act=relu,res=true --scale 2 --data ../shared/data/train --steps 40000 --batch 16 --patch 128 --lr 1e-3 --warmup 500 --val-every 2000 --ckpt-every 200 --threads 2 --out export/wip/s6_x2/run"
if [ -f export/wip/s6_x2/run/last.pt ]; then
  sronnx train $ARGS --resume
else
  sronnx train $ARGS
fi
