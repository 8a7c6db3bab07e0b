#!/bin/bash
# One lent-GPU session (issues 6 and 7), in three kinds of call on a warm device machine:
#   start       start the candidate trainings (export/gpu_runs.py) in the background
#   chunk N     stash one part of the onnxruntime-gpu package (too big for one call)
#   checks      install onnxruntime-gpu, wait for the trainings, run bench/cuda_checks.py
#               and the CUDA tests, and put everything under $OUT
#   folder      (issue 26) bench/gpu_folder.py on .gpu's Set14, BSD100 and training images,
#               and the CUDA tests with float16's faithfulness
# The parts and data travel in ignored folders (.gpu, .ortN); see bench/README.md.
set -u
REPO=$(cd "$(dirname "$0")/.." && pwd)
export PYTHONPATH=$REPO PYTHONUNBUFFERED=1
case "$1" in
start)
  nvidia-smi -L; python3 -V
  python3 -c "import torch, PIL, numpy; print('torch', torch.__version__, torch.cuda.is_available(), 'pillow', PIL.__version__, 'numpy', numpy.__version__)"
  mkdir -p /tmp/s && cp -r "$REPO/.gpu" /tmp/s/ && chmod +x /tmp/s/.gpu/zstd && /tmp/s/.gpu/zstd --version
  cd "$REPO" && setsid nohup python3 export/gpu_runs.py --data /tmp/s/.gpu/data/train \
     --out /tmp/gpu_runs --budget "${BUDGET:-330}" > /tmp/gpu_runs.log 2>&1 < /dev/null &
  sleep "${WAIT:-40}"; cat /tmp/gpu_runs.log; tail -n 3 /tmp/gpu_runs/probe/logs/*.log
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv
  ;;
chunk)
  mkdir -p /tmp/ort && cp "$REPO/.ort$2"/* /tmp/ort/ && ls -la /tmp/ort; tail -n 2 /tmp/gpu_runs.log
  ;;
checks)
  cd /tmp/ort && cat part_0* | sha256sum && mkdir -p /tmp/site \
    && cat part_0* | /tmp/s/.gpu/zstd -d --long=27 | tar xf - -C /tmp/site || exit 3
  export PYTHONPATH=/tmp/site:$REPO
  python3 -c "import onnxruntime as o; print(o.__version__, o.get_available_providers())"
  while pgrep -f gpu_runs.py > /dev/null; do sleep 3; done
  cat /tmp/gpu_runs.log
  tar cf - -C /tmp --exclude=probe gpu_runs gpu_runs.log | /tmp/s/.gpu/zstd -19 -T8 -q -o "$OUT/gpu_runs.tar.zst"
  cd "$REPO" && M=.gpu/models && python3 bench/cuda_checks.py --out "$OUT/cuda" \
    --set5 .gpu/test/Set5 --folder .gpu/test/Set14 --models \
    $M/cand-x3-32x6.onnx:$M/cand-x3-32x6_fp16.onnx $M/rsp-x3.onnx:$M/rsp-x3_fp16.onnx \
    $M/rsp-x2.onnx:$M/rsp-x2_fp16.onnx $M/rsp-x4.onnx:$M/rsp-x4_fp16.onnx 2>&1 | tee "$OUT/cuda_checks.log"
  timeout 150 python3 -m pytest -q -p no:cacheprovider tests/export/test_export.py tests/cli/test_upscale.py \
    tests/benchmark/test_bench.py -k cuda -rs 2>&1 | tail -n 15 | tee "$OUT/pytest_cuda.txt"
  ;;
folder)
  # issue 26, after `checks` (onnxruntime-gpu in /tmp/site): the folder job against the
  # machine's decode+encode limit, then the CUDA tests (float16 faithfulness among them)
  # (the training images are in .gpu/data/train, as `start` reads them; the test sets in
  # .gpu/test, as `checks` reads them: one folder holding both for --data)
  export PYTHONPATH=/tmp/site:$REPO
  mkdir -p /tmp/gf && ln -sfn "$REPO/.gpu/data/train" /tmp/gf/train && ln -sfn "$REPO/.gpu/test" /tmp/gf/test
  cd "$REPO" && timeout "${FOLDER_LIMIT:-420}" python3 bench/gpu_folder.py --data /tmp/gf --scales 2,4 \
    --out "$OUT/gpu_folder" 2>&1 | tee "$OUT/gpu_folder.log"
  timeout 240 python3 -m pytest -q -p no:cacheprovider tests/engine/test_cuda_fp16.py \
    tests/cli/test_upscale.py tests/export/test_export.py -k "cuda or float16" -rs 2>&1 | tail -n 15 | tee "$OUT/pytest_cuda26.txt"
  ;;
esac
