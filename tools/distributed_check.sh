#!/usr/bin/env bash
# Data-parallel training checks (issue 15, docs/distributed.md), run by ctest as test_distributed.
#
#   tools/distributed_check.sh AGCNN_BINARY WORK_DIR [cpu|cuda]
#
# On a tiny configuration (a 40-image synthetic set, base width 4, input 32, one epoch per stage,
# micro-batches of 4, one thread per process):
#  1. Two processes against one with --accumulate 2: every stage's parameters after every
#     optimizer step (--step-weights) must be byte-identical (augmentation off, so stage fusion
#     runs on its feature cache). Each stage of the two-process run
#     starts from the one-process run's best weights of the stages before it (batch-norm running
#     statistics are rank 0's in a two-process run and every micro-batch's in the other, so the
#     frozen branches would differ otherwise).
#  2. Kill one rank (SIGKILL) once the run has written a mid-epoch checkpoint: the run must stop
#     (mpirun exits non-zero, naming the killed rank), the checkpoint must load, and running the
#     same command again must end with checkpoints and best weights byte-identical to an
#     uninterrupted two-process run's.
# cuda: the same on two GPUs (NCCL); reports SKIPPED (exit 77) with fewer than two.
set -euo pipefail
agcnn=$(realpath "${1:?usage: $0 AGCNN_BINARY WORK_DIR [cpu|cuda]}")
work=${2:?usage: $0 AGCNN_BINARY WORK_DIR [cpu|cuda]}
device=${3:-cpu}
if [[ $device == cuda ]]; then
    gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
    if (( gpus < 2 )); then echo "SKIPPED: the NCCL check needs two GPUs, this machine has $gpus"; exit 77; fi
fi
mpirun=(mpirun -np 2 --oversubscribe)
(( $(id -u) == 0 )) && mpirun+=(--allow-run-as-root)
rm -rf "$work" && mkdir -p "$work" && cd "$work"
started=$(date +%s%N)

"$agcnn" synth --out data --images 40 --size 64 --seed 3 --threads 1 >/dev/null 2>&1
common=(--data data --base-width 4 --input-size 32 --resize 32 --pack 64 --local-epochs 1 --fusion-epochs 1
       --seed 5 --threads 1 --workers 1 --device "$device")
# (augmentation off here, so the fusion stage trains on its cached features; on in part 2)
flags=("${common[@]}" --global-epochs 1 --global-batch 4 --local-batch 4 --fusion-batch 4 --augment false)

# 1. Two processes against --accumulate 2, step by step.
"$agcnn" train --out accumulate --accumulate 2 --step-weights accumulate/steps "${flags[@]}" --quiet >/dev/null 2>accumulate.err
for stage in global local fusion; do
    mkdir -p two
    case $stage in
        local) cp accumulate/global-best.safetensors two/ ;;
        fusion) cp accumulate/local-best.safetensors two/ ;;
    esac
    "${mpirun[@]}" "$agcnn" train --out two --stage $stage --step-weights two/steps "${flags[@]}" --quiet >/dev/null 2>>two.err
done
compared=0
for f in accumulate/steps/*.safetensors; do
    name=$(basename "$f")
    if ! cmp -s "$f" "two/steps/$name"; then
        echo "FAIL: $name differs between 2 processes and --accumulate 2"; exit 1
    fi
    compared=$((compared + 1))
done
for stage in global local fusion; do
    one=$(ls accumulate/steps | grep -c "^$stage-step-" || true)
    other=$(ls two/steps | grep -c "^$stage-step-" || true)
    if (( one == 0 || one != other )); then echo "FAIL: stage $stage: $one steps with --accumulate 2, $other with 2 processes"; exit 1; fi
done
echo "2 processes = --accumulate 2: $compared steps (global, local, fusion), parameters byte-identical after each"

# 2. Kill one rank mid-epoch; the relaunched run reaches the uninterrupted run's weights.
# (micro-batches of 2: 7 steps an epoch, so that the kill lands mid-epoch; a checkpoint every step)
kill_flags=("${common[@]}" --global-epochs 2 --global-batch 2 --local-batch 2 --fusion-batch 2
            --checkpoint-minutes 0.0001)
"${mpirun[@]}" "$agcnn" train --out uninterrupted "${kill_flags[@]}" --quiet >/dev/null 2>uninterrupted.err
"${mpirun[@]}" "$agcnn" train --out killed "${kill_flags[@]}" --quiet >/dev/null 2>killed.err &
launcher=$!
while [[ ! -f killed/checkpoint-global.safetensors ]] && kill -0 $launcher 2>/dev/null; do sleep 0.01; done
rank=$(pgrep -P $launcher | tail -1)
[[ -n $rank ]] || { echo "FAIL: no rank to kill (the run ended before its first checkpoint)"; exit 1; }
kill -9 "$rank"
if wait $launcher; then echo "FAIL: the run went on after one of its ranks was killed"; exit 1; fi
grep -q "signal 9" killed.err || { echo "FAIL: mpirun did not report the killed rank:"; tail -5 killed.err; exit 1; }
# (not --quiet: its notes say where it resumed)
"${mpirun[@]}" "$agcnn" train --out killed "${kill_flags[@]}" >/dev/null 2>>killed.err
resumed=$(grep -o "resuming stage .*" killed.err) ||
    { echo "FAIL: the relaunched run did not resume from the checkpoint"; exit 1; }
for f in global-best local-best fusion-best checkpoint-global checkpoint-local checkpoint-fusion; do
    cmp -s "uninterrupted/$f.safetensors" "killed/$f.safetensors" ||
        { echo "FAIL: $f.safetensors differs from the uninterrupted 2-process run's"; exit 1; }
done
echo "a killed rank stopped the run; the relaunch (${resumed}) reached the uninterrupted run's weights (6 files byte-identical)"
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
echo "distributed checks passed in $((elapsed_ms / 1000)).$(printf '%03d' $((elapsed_ms % 1000))) s"
