#!/usr/bin/env bash
# Training speed of data parallelism on this machine (issue 15, docs/distributed.md): the same
# steps trained by 2 processes x 1 thread (mpirun) and by 1 process x 2 threads with
# --accumulate 2, on a synthetic data set; prints training images/s of each (validation
# excluded) and the 2-process run's time in the gradient allreduce per step, with the load
# average (the machine may be shared: timings are noisy then).
#
#   tools/bench_distributed.sh AGCNN_BINARY [WORK_DIR]
#   environment: IMAGES (96), WIDTH (64 = ResNet-50), INPUT (64), BATCH (8, per process), EPOCHS (1)
set -euo pipefail
agcnn=$(realpath "${1:?usage: $0 AGCNN_BINARY [WORK_DIR]}")
work=${2:-$(mktemp -d /tmp/agcnn-bench-dist.XXXXXX)}
images=${IMAGES:-96} width=${WIDTH:-64} input=${INPUT:-64} batch=${BATCH:-8} epochs=${EPOCHS:-1}
mpirun=(mpirun -np 2 --oversubscribe --bind-to none)
(( $(id -u) == 0 )) && mpirun+=(--allow-run-as-root)
mkdir -p "$work" && cd "$work" && rm -rf one two
[[ -d data ]] || "$agcnn" synth --out data --images "$images" --size $((input * 2)) --seed 3 >/dev/null 2>&1
flags=(--data data --stage global --base-width "$width" --input-size "$input" --resize "$input" --pack $((input * 2))
       --global-epochs "$epochs" --global-batch "$batch" --seed 5 --workers 1 --checkpoint-minutes 0)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
"$agcnn" train --out one "${flags[@]}" --threads 2 --accumulate 2 >/dev/null 2>one.err
echo "1 process x 2 threads, --accumulate 2:  $(grep -o 'stage global: [0-9.]* images/s.*' one.err | tail -1)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
"${mpirun[@]}" "$agcnn" train --out two "${flags[@]}" --threads 1 >/dev/null 2>two.err
echo "2 processes x 1 thread:                 $(grep -o 'stage global: [0-9.]* images/s.*' two.err | tail -1)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
