#!/usr/bin/env bash
# kill -9 at random moments, resume, and compare with an uninterrupted run (issues 12 and 19).
#
#   tools/kill_resume_check.sh BUILD_DIR [KILLS] [WORK_DIR] [SEED]
#
# Trains a tiny configuration (a 40-image synthetic set, base width 2, input 32, 2 epochs per
# stage, batch 4, a checkpoint after almost every batch) once without interruption. Then, in
# cycles: in a fresh run folder, the same command is started and killed with SIGKILL at a random
# moment (a stage drawn at random, then 0 to half the uninterrupted run's time after that stage
# starts) and started again, until one run finishes by itself; the best weights and the final checkpoint of each stage must then equal the
# uninterrupted run's byte for byte. Cycles go on until KILLS kills (default 50). Prints one line
# per kill (the stage it hit, whether a temporary file of an atomic write was left) and a tally;
# exit 1 when any file differs, a temporary file outlives its run, or a resumed run fails.
set -euo pipefail
build=$(realpath "${1:?usage: $0 BUILD_DIR [KILLS] [WORK_DIR] [SEED]}")
kills=${2:-50}
work=${3:-$(mktemp -d /tmp/agcnn-kill.XXXXXX)}
RANDOM=${4:-12}
agcnn="$build/agcnn"
mkdir -p "$work"
cd "$work"
rm -rf data reference killed

"$agcnn" synth --out data --images 40 --size 64 --seed 3 --threads 1 >/dev/null 2>&1
flags=(--data data --base-width 2 --input-size 32 --resize 32 --pack 64 --global-epochs 2 --local-epochs 2
       --fusion-epochs 2 --global-batch 4 --local-batch 4 --fusion-batch 4 --checkpoint-minutes 0.0001
       --seed 5 --threads 1 --workers 1 --quiet)

start=$(date +%s.%N)
"$agcnn" train --out reference "${flags[@]}" >/dev/null 2>reference.err
seconds=$(echo "$(date +%s.%N) - $start" | bc)
echo "uninterrupted run: ${seconds} s"
limit_ms=$(printf '%.0f' "$(echo "$seconds * 1000" | bc)")

# Whether stage $1's checkpoint in the killed run says the stage has finished.
finished() {
    local c=killed/checkpoint-$1.safetensors
    [[ -f $c ]] && (( $(head -c 400000 "$c" | grep -ac '"finished":"1"') > 0 ))
}
# The stage a kill hit: the first that has not finished.
stage_now() {
    for s in global local fusion; do finished $s || { echo $s; return; }; done
    echo done
}
# Waits until the run in progress (pid $1) reaches stage $2 (its predecessor has finished).
reach() {
    local before=
    case $2 in local) before=global ;; fusion) before=local ;; esac
    while [[ -n $before ]] && ! finished "$before" && kill -0 "$1" 2>/dev/null; do sleep 0.02; done
}

declare -A hit=([global]=0 [local]=0 [fusion]=0 [done]=0)
done_kills=0 torn=0 cycles=0 same=0 different=0 left=0
# One cycle: kill and re-run until a run finishes by itself, then compare; cycles until KILLS.
while (( done_kills < kills )); do
    rm -rf killed
    cycles=$((cycles + 1))
    while true; do
        # A stage chosen at random, then a random moment within about a stage's time of it.
        stages=(global local fusion)
        target=${stages[RANDOM % 3]}
        delay_ms=$(( (RANDOM * 32768 + RANDOM) % (limit_ms / 2 + 1) ))
        "$agcnn" train --out killed "${flags[@]}" >/dev/null 2>>killed.err &
        pid=$!
        reach "$pid" "$target"
        sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null && status=0 || status=$?
        (( status == 0 )) && break
        if (( status != 137 )); then echo "a resumed run failed (exit $status):"; tail -5 killed.err; exit 1; fi
        done_kills=$((done_kills + 1))
        stage=$(stage_now)
        hit[$stage]=$((hit[$stage] + 1))
        temporaries=$(ls killed | grep -c '\.tmp-' || true)
        (( temporaries > 0 )) && torn=$((torn + 1))
        echo "cycle $cycles, kill $done_kills (aimed at $target, ${delay_ms} ms into it): stage $stage," \
             "temporary files left: $temporaries"
    done
    left=$((left + $(ls killed | grep -c '\.tmp-' || true)))
    for f in global-best local-best fusion-best checkpoint-global checkpoint-local checkpoint-fusion; do
        if cmp -s "reference/$f.safetensors" "killed/$f.safetensors"; then
            same=$((same + 1))
        else
            different=$((different + 1))
            echo "DIFFERENT in cycle $cycles: $f.safetensors"
        fi
    done
    echo "cycle $cycles finished: compared with the uninterrupted run"
done
echo "tally: $done_kills kills in $cycles cycles (a fresh run killed and re-run until it finished; global ${hit[global]}, local ${hit[local]}," \
     "fusion ${hit[fusion]}, after the last stage ${hit[done]}); $torn kills left a temporary file of an" \
     "interrupted write, $left remained after the runs finished; $same of $((cycles * 6)) files" \
     "byte-identical to the uninterrupted run, $different different"
(( different == 0 && left == 0 ))
