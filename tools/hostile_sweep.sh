#!/usr/bin/env bash
# A bad-input sweep of the command line (issue 19): many bad files, flags and output paths
# against agcnn and agcnn-convert, each under a 60 s timeout and a 4 GB address-space limit,
# with the inputs' checksums taken before and after every case.
#
#   tools/hostile_sweep.sh BUILD_DIR [WORK_DIR]
#
# Each case expects a refusal (bad input) or an acceptance (a valid variant). Outcomes:
#   refused   non-zero exit, no signal, and stderr names the file or flag the case is about
#   unclear   refused, but stderr does not name it
#   hang      still running at 60 s
#   memory    an allocation failed under the limit (bad_alloc) or the kernel killed it
#   crash     ended by a signal (segfault, abort, ...)
#   damaged   an input file changed (sha256 before and after)
#   silent    a bad input accepted (exit 0)
#   accepted  a valid variant accepted; "wrongly refused" when it failed
# Prints a line per case that is not as expected, then the tally; exit 1 when any of hang,
# memory, crash, damaged or silent is non-zero.
set -uo pipefail
build=$(realpath "${1:?usage: $0 BUILD_DIR [WORK_DIR]}")
work=${2:-$(mktemp -d /tmp/agcnn-sweep.XXXXXX)}
repo=$(cd "$(dirname "$0")/.." && pwd)
agcnn="$build/agcnn" convert="$build/agcnn-convert"
mkdir -p "$work"
cd "$work"
rm -rf ./*

# ---- inputs ----
"$agcnn" synth --out data --images 24 --size 64 --seed 3 --threads 1 >/dev/null 2>&1
tiny=(--base-width 2 --input-size 32 --resize 32 --pack 64 --global-batch 4 --local-batch 4 --fusion-batch 4
      --threads 1 --workers 1 --quiet)
"$agcnn" train --data data --out run "${tiny[@]}" --global-epochs 1 --local-epochs 1 --fusion-epochs 1 >/dev/null 2>&1 ||
    { echo "setup: training the reference run failed"; exit 1; }
cp "$repo/tests/reference/resnet_narrow.safetensors" weights.safetensors
cp "$repo/tests/reference/convert/resnet50_narrow.pth" narrow.pth
"$convert" narrow.pth -o converted.safetensors >/dev/null
/usr/bin/python3 - <<'PY' 2>/dev/null || head -c 4096 /dev/urandom > x.npy
import numpy as np
np.save("x.npy", np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32))
PY
awk 'NR > 1 { split($0, f, ","); print f[1], "0 0 0 0 0 0 0 0 0 0 0 0 0 0" }' data/Data_Entry_2017.csv > all_list.txt
# Patient-wise: patients 1-6 train, 7-8 validation, 9 and up test.
awk '{ p = substr($1, 1, 8) + 0 } p <= 6' all_list.txt > train_list.txt
awk '{ p = substr($1, 1, 8) + 0 } p == 7 || p == 8' all_list.txt > val_list.txt
awk '{ p = substr($1, 1, 8) + 0 } p >= 9' all_list.txt > test_list.txt
mkdir -p bad
image=data/images/00000001_000.png
guarded() {  # the inputs no case may change
    find data -type f ! -name 'agcnn-pack-*' ! -name '*.tmp-*'
    ls weights.safetensors narrow.pth converted.safetensors x.npy ./*_list.txt run/config.json \
        run/*-best.safetensors run/checkpoint-*.safetensors
}
checksums() { guarded | sort | xargs sha256sum; }

declare -A tally=([refused]=0 [unclear]=0 [hang]=0 [memory]=0 [crash]=0 [damaged]=0 [silent]=0 [accepted]=0
                  [wrongly refused]=0)
tried=0 case_no=0
# expect TOKEN -- COMMAND...: runs one case; TOKEN is what stderr must name (file or flag).
expect() {
    local want=$1 token=$2
    shift 3
    tried=$((tried + 1)) case_no=$((case_no + 1))
    local before after rc outcome
    before=$(checksums)
    ( ulimit -v 4000000; exec timeout -k 5 60 "$@" ) >out.txt 2>err.txt </dev/null
    rc=$?
    after=$(checksums)
    if [[ $before != "$after" ]]; then outcome=damaged
    elif (( rc == 124 )); then outcome=hang
    elif grep -q 'bad_alloc\|cannot allocate\|out of memory' err.txt; then outcome=memory
    elif (( rc > 128 )); then outcome=crash
    elif [[ $want == refuse ]]; then
        if (( rc == 0 )); then outcome=silent
        elif grep -qF -- "$token" err.txt; then outcome=refused
        else outcome=unclear; fi
    else
        (( rc == 0 )) && outcome=accepted || outcome="wrongly refused"
    fi
    tally[$outcome]=$((tally[$outcome] + 1))
    if [[ $outcome != refused && $outcome != accepted ]]; then
        echo "[$outcome] case $case_no (exit $rc): $*"
        head -c 400 err.txt | sed 's/^/    /'
    fi
}
refuse() { expect refuse "$@"; }
accept() { expect accept - -- "$@"; }

# ---- bad files in every file-reading place ----
mkfifo bad/fifo
ln -sf /dev/zero bad/zero
ln -sf /dev/urandom bad/urandom
ln -sf bad/loop bad/loop 2>/dev/null; ln -sf loop bad/loop
: > bad/empty
head -c 3000 /dev/urandom > bad/random
mkdir -p bad/folder
truncate -s 20G bad/sparse
head -c 100 weights.safetensors > bad/truncated.safetensors
head -c 2000 "$image" > bad/truncated.png
printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0@\0\0\0@\0\x10\x06\0\0\0\0\0\0\0' > bad/bomb.png
bad_files=(bad/fifo bad/zero bad/urandom bad/loop bad/empty bad/random bad/folder bad/sparse bad/missing)

for f in "${bad_files[@]}" bad/truncated.safetensors; do
    name=$(basename "$f")
    refuse "$name" -- "$agcnn" forward --model resnet50 --classes 15 --pool max --base-width 4 --prefix model. \
        --weights "$f" --input x.npy --output out.npy --threads 1
    refuse "$name" -- "$agcnn" forward --model resnet50 --classes 15 --pool max --base-width 4 --prefix model. \
        --weights weights.safetensors --input "$f" --output out.npy --threads 1
    refuse "$name" -- "$convert" "$f" -o bad/out.safetensors
    refuse "$name" -- "$convert" --inspect "$f"
    refuse "$name" -- "$agcnn" train --data data --out "runs/w-$case_no" --weights "$f" "${tiny[@]}" --global-epochs 1
done
for f in "${bad_files[@]}" bad/truncated.png bad/bomb.png; do
    name=$(basename "$f")
    refuse "$name" -- "$agcnn" predict --run run "$f" --out predicted
    for list in train val test; do
        args=(--train-list train_list.txt --val-list val_list.txt --test-list test_list.txt)
        args=("${args[@]/${list}_list.txt/$f}")
        refuse "$name" -- "$agcnn" train --data data/images --split lists "${args[@]}" --out "runs/l-$case_no" \
            "${tiny[@]}" --global-epochs 1
    done
done
# The label CSV, the official lists and the box list replaced by each bad file.
for target in Data_Entry_2017.csv train_val_list.txt test_list.txt BBox_List_2017.csv; do
    for f in bad/fifo bad/zero bad/urandom bad/empty bad/random bad/folder bad/sparse; do
        rm -rf baddata; cp -r data baddata; rm -f baddata/agcnn-pack-*
        rm -rf "baddata/$target"
        case $f in
            bad/fifo) mkfifo "baddata/$target" ;;
            bad/folder) mkdir "baddata/$target" ;;
            bad/zero|bad/urandom) ln -s "$(readlink "$f")" "baddata/$target" ;;
            bad/sparse) truncate -s 20G "baddata/$target" ;;
            *) cp "$f" "baddata/$target" ;;
        esac
        refuse "$target" -- "$agcnn" train --data baddata --out "runs/d-$case_no" "${tiny[@]}" --global-epochs 1
        refuse "$target" -- "$agcnn" dataset --data baddata
    done
done
# Bad rows.
bad_rows() {  # FILE ROW: a copy of data with ROW appended to FILE, then train and dataset
    rm -rf baddata; cp -r data baddata; rm -f baddata/agcnn-pack-*
    printf '%s\n' "$2" >> "baddata/$1"
    refuse "$1" -- "$agcnn" dataset --data baddata
}
for box in nan,1,2,3 1,inf,2,3 1,2,1e308,3 1,2,-5,3 1,2,0,0 a,b,c,d '1,2,3'; do
    bad_rows BBox_List_2017.csv "00000001_000.png,Mass,$box"
done
bad_rows BBox_List_2017.csv "../../etc/passwd,Mass,1,2,3,4"
bad_rows BBox_List_2017.csv "00000001_000.png,NotADisease,1,2,3,4"
bad_rows Data_Entry_2017.csv "99999999_000.png,Mass,0,99999999,50,M,PA,64,64,0.1,0.1,"
bad_rows Data_Entry_2017.csv "00000001_000.png,Mass,0,1,50,M,PA,64,64,0.1,0.1,"
bad_rows Data_Entry_2017.csv "garbage"
bad_rows train_val_list.txt "99999999_000.png"
bad_rows train_val_list.txt "../outside.png"
for row in "00000001_000.png 0 1" "00000001_000.png 0 1 0 0 0 0 0 0 0 0 0 0 0 2" "00000001_000.png nan 1 0 0 0 0 0 0 0 0 0 0 0 0" \
           "missing.png 0 0 0 0 0 0 0 0 0 0 0 0 0 0" "/etc/passwd 0 0 0 0 0 0 0 0 0 0 0 0 0 0"; do
    cp train_list.txt bad/list.txt; printf '%s\n' "$row" >> bad/list.txt
    refuse list.txt -- "$agcnn" train --data data/images --split lists --train-list bad/list.txt --val-list val_list.txt \
        --test-list test_list.txt --out "runs/r-$case_no" "${tiny[@]}" --global-epochs 1
done
: > bad/empty_list.txt
refuse empty_list.txt -- "$agcnn" train --data data/images --split lists --train-list bad/empty_list.txt \
    --val-list val_list.txt --test-list test_list.txt --out "runs/e-$case_no" "${tiny[@]}" --global-epochs 1
refuse empty_list.txt -- "$agcnn" train --data data/images --split lists --train-list train_list.txt \
    --val-list bad/empty_list.txt --test-list test_list.txt --out "runs/e-$case_no" "${tiny[@]}" --global-epochs 1
refuse empty_list.txt -- "$agcnn" train --data data/images --split lists --train-list train_list.txt \
    --val-list val_list.txt --test-list bad/empty_list.txt --out "runs/e-$case_no" "${tiny[@]}" --global-epochs 1

# ---- weights with NaN / Inf ----
/usr/bin/python3 - <<'PY'
import json, struct
for value, name in ((float("nan"), "nan"), (float("inf"), "inf")):
    for src, dst in (("weights.safetensors", f"bad/{name}.safetensors"), ("converted.safetensors", f"bad/{name}-source.safetensors")):
        data = bytearray(open(src, "rb").read())
        n = struct.unpack("<Q", data[:8])[0]
        header = json.loads(data[8:8 + n])
        first = min((v["data_offsets"][0], k) for k, v in header.items() if k != "__metadata__")
        struct.pack_into("<f", data, 8 + n + first[0] + 4, value)
        open(dst, "wb").write(data)
PY
for v in nan inf; do
    refuse "$v.safetensors" -- "$agcnn" forward --model resnet50 --classes 15 --pool max --base-width 4 --prefix model. \
        --weights "bad/$v.safetensors" --input x.npy --output out.npy --threads 1
    refuse "$v-source.safetensors" -- "$convert" "bad/$v-source.safetensors" -o "bad/from-$v.safetensors"
done

# ---- run folders: damaged checkpoints and edited configurations ----
damaged_run() {  # NAME TOKEN EDIT...: a copy of run with EDIT applied (in it), then --resume and eval
    local name=$1 token=$2
    shift 2
    rm -rf "runs/$name"; mkdir -p runs; cp -r run "runs/$name"
    (cd "runs/$name" && eval "$*")
    rm -f "runs/$name/checkpoint-fusion.safetensors"  # so that resume has a stage to load
    refuse "$token" -- "$agcnn" train --out "runs/$name" --resume
}
flip='python3 -c "import sys; b=bytearray(open(sys.argv[1],\"rb\").read()); b[int(sys.argv[2])]^=4; open(sys.argv[1],\"wb\").write(b)"'
damaged_run flip-end checkpoint-local "$flip checkpoint-local.safetensors -9"
damaged_run flip-mid checkpoint-local "$flip checkpoint-local.safetensors 20000"
damaged_run flip-header checkpoint-local "$flip checkpoint-local.safetensors 60"
damaged_run truncated checkpoint-local "head -c 5000 checkpoint-local.safetensors > t && mv t checkpoint-local.safetensors"
damaged_run swapped checkpoint-local "cp checkpoint-global.safetensors checkpoint-local.safetensors"
damaged_run empty-ckpt checkpoint-local ": > checkpoint-local.safetensors"
damaged_run fifo-ckpt checkpoint-local "rm checkpoint-local.safetensors && mkfifo checkpoint-local.safetensors"
damaged_run zero-ckpt checkpoint-local "rm checkpoint-local.safetensors && ln -s /dev/zero checkpoint-local.safetensors"
damaged_run best-missing global-best "rm global-best.safetensors checkpoint-local.safetensors"
for edit in 'seed 6' 'base_width 4' 'lr 0.5' 'input_size 48' 'data_dir "elsewhere"' 'split "random"' 'threads 100000' \
            'threads -1' 'seed -1' 'lr -1' 'momentum 5' 'lr_gamma 0' 'workers -1' 'loader_workers -3' 'lr "fast"' \
            'checkpoint_minutes -1' 'global {"epochs": -1, "batch_size": 4}' 'tau 2'; do
    key=${edit%% *} value=${edit#* }
    token=$key
    case "$key $value" in
        "seed 6"|"base_width 4"|"lr 0.5"|"split \"random\"") token="another configuration" ;;
        data_dir*) token="elsewhere" ;;
    esac
    damaged_run "cfg-$case_no" "$token" \
        "python3 -c 'import json,sys; j=json.load(open(\"config.json\")); j[\"config\"][\"$key\"]=json.loads(sys.argv[1]); json.dump(j, open(\"config.json\",\"w\"))' '$value'"
done
damaged_run cfg-garbage config.json "echo '{not json' > config.json"
damaged_run cfg-missing config.json "rm config.json"
damaged_run cfg-fifo config.json "rm config.json && mkfifo config.json"
refuse "config.json" -- "$agcnn" eval --run data --split test
refuse "config.json" -- "$agcnn" predict --run data "$image" --out predicted

# ---- flags ----
train_flag() {  # FLAG VALUE: a bad value of a train flag, on an otherwise valid command
    refuse "$1" -- "$agcnn" train --data data --out "runs/f-$case_no" "${tiny[@]}" --global-epochs 1 "$1" "$2"
}
for v in -1 nan inf 1e400 abc; do train_flag --lr "$v"; done
for v in -0.1 1 5 nan; do train_flag --momentum "$v"; done
for v in -1 2 nan; do train_flag --weight-decay "$v"; done
for v in -1 abc 99999999999; do train_flag --lr-step "$v"; done
for v in 0 -0.5 1.5 nan; do train_flag --lr-gamma "$v"; done
for v in -1 100000 abc 1.5; do train_flag --threads "$v"; done
for v in -1 65 abc; do train_flag --workers "$v"; done
for v in -1 abc 1e30 18446744073709551616; do train_flag --seed "$v"; done
for v in 0 16 -32 100000; do train_flag --input-size "$v"; done
for v in 8 99999; do train_flag --resize "$v"; done
for v in -1 1.5 nan; do train_flag --tau "$v"; done
for v in -1 2; do train_flag --contrast "$v"; done
for v in 0 -3 2000; do train_flag --base-width "$v"; done
for v in 0 -1 100000; do train_flag --global-batch "$v"; done
for v in -1 1000000; do train_flag --global-epochs "$v"; done
for v in -1 nan; do train_flag --checkpoint-minutes "$v"; done
for v in 8 -1 99999; do train_flag --pack "$v"; done
for v in 0 1 -0.1 nan; do train_flag --val-fraction "$v"; done
train_flag --split-fractions 0.9,0.1,0
train_flag --split-fractions 0.5,0.5
train_flag --split-fractions -1,1,1
train_flag --optimizer rmsprop
train_flag --heatmap l3
train_flag --stage fourth
refuse cuda:9 -- "$agcnn" train --data data --out "runs/f-$case_no" "${tiny[@]}" --global-epochs 1 --device cuda:9
train_flag --global-batch 500
for v in 0 -5 abc 300000000; do refuse --images -- "$agcnn" synth --out "runs/s-$case_no" --images "$v" --size 64; done
for v in 8 10000; do refuse --size -- "$agcnn" synth --out "runs/s-$case_no" --images 2 --size "$v"; done
for v in 0 -1 abc 100000 5000; do refuse --batch -- "$agcnn" eval --run run --split test --batch "$v"; done
refuse --split -- "$agcnn" eval --run run --split nothing
refuse --max-side -- "$agcnn" pack --data data --pack bad/p.bin --max-side 0
refuse --max-side -- "$agcnn" pack --data data --pack bad/p.bin --max-side 100000000
refuse --classes -- "$agcnn" forward --model resnet50 --classes 0 --weights weights.safetensors --input x.npy --output out.npy
refuse --base-width -- "$agcnn" forward --model resnet50 --classes 15 --base-width -4 --weights weights.safetensors \
    --input x.npy --output out.npy
refuse bogus -- "$agcnn" bogus
refuse --seed -- "$agcnn" synth --out "runs/s-$case_no" --images 2 --size 64 --seed -3
refuse --test-fraction -- "$agcnn" synth --out "runs/s-$case_no" --images 2 --size 64 --test-fraction 2
refuse --nonsense -- "$agcnn" train --out "runs/n-$case_no" --nonsense
refuse --arch -- "$convert" narrow.pth -o bad/c.safetensors --arch vgg16

# ---- outputs that are inputs, or not the command's own ----
refuse narrow.pth -- "$convert" narrow.pth -o narrow.pth
refuse narrow.pth -- "$convert" narrow.pth -o ./bad/../narrow.pth
ln -sf ../narrow.pth bad/link.pth
refuse link.pth -- "$convert" narrow.pth -o bad/link.pth
refuse 00000001_000.png -- "$convert" narrow.pth -o "$image"
refuse x.npy -- "$convert" narrow.pth -o x.npy
refuse folder -- "$convert" narrow.pth -o bad/folder
refuse "--out" -- "$agcnn" synth --out data --images 2 --size 64
refuse "--out" -- "$agcnn" synth --out run --images 2 --size 64
refuse Data_Entry_2017.csv -- "$agcnn" pack --data data --pack data/Data_Entry_2017.csv
refuse 00000001_000.png -- "$agcnn" pack --data data --pack "$image"
refuse weights.safetensors -- "$agcnn" pack --data data --pack weights.safetensors
refuse folder -- "$agcnn" pack --data data --pack bad/folder
refuse x.npy -- "$agcnn" forward --model resnet50 --classes 15 --pool max --base-width 4 --prefix model. \
    --weights weights.safetensors --input x.npy --output x.npy --threads 1
refuse weights.safetensors -- "$agcnn" forward --model resnet50 --classes 15 --pool max --base-width 4 --prefix model. \
    --weights weights.safetensors --input x.npy --output weights.safetensors --threads 1
refuse "--out data" -- "$agcnn" train --data data --out data "${tiny[@]}" --global-epochs 1
refuse "--out data/images" -- "$agcnn" train --data data --out data/images "${tiny[@]}" --global-epochs 1
refuse "--out" -- "$agcnn" train --data data --out weights.safetensors "${tiny[@]}" --global-epochs 1
refuse "another run's configuration" -- "$agcnn" train --data data --out run "${tiny[@]}" --global-epochs 1 --seed 9

# ---- valid variants that must still work ----
accept "$agcnn" dataset --data data
accept "$agcnn" eval --run run --split test
accept "$agcnn" predict --run run "$image" --out predicted
accept "$agcnn" predict --run run "$image" --out predicted
accept "$convert" narrow.pth -o converted.safetensors
accept "$convert" --inspect narrow.pth
accept "$agcnn" forward --model resnet50 --classes 15 --pool max --base-width 4 --prefix model. \
    --weights weights.safetensors --input x.npy --output out.npy --threads 1
accept "$agcnn" forward --model resnet50 --classes 15 --pool max --base-width 4 --prefix model. \
    --weights weights.safetensors --input x.npy --output out.npy --threads 1
accept "$agcnn" pack --data data --pack bad/own.bin --max-side 64
accept "$agcnn" pack --data data --pack bad/own.bin --max-side 32
accept "$agcnn" synth --out runs/new-synth --images 2 --size 64
accept "$agcnn" train --out run --resume
accept "$agcnn" train --data data --out run "${tiny[@]}" --global-epochs 1 --local-epochs 1 --fusion-epochs 1
accept "$agcnn" train --data data --out runs/zero "${tiny[@]}" --global-epochs 0 --local-epochs 0 --fusion-epochs 0
accept "$agcnn" train --data data/images --split lists --train-list train_list.txt --val-list val_list.txt \
    --test-list test_list.txt --out runs/lists "${tiny[@]}" --global-epochs 1 --local-epochs 0 --fusion-epochs 0
accept "$agcnn" train --data data --out runs/lrs "${tiny[@]}" --global-epochs 1 --local-epochs 0 --fusion-epochs 0 \
    --lr-gamma 1 --lr-step 0 --momentum 0 --weight-decay 0 --seed 0 --checkpoint-minutes 0

rm -f bad/sparse baddata/*/sparse 2>/dev/null
echo "tally: $tried inputs tried: ${tally[refused]} refused cleanly, ${tally[unclear]} refused without naming" \
     "the file or flag, ${tally[hang]} hangs, ${tally[memory]} unbounded memory, ${tally[crash]} crashes," \
     "${tally[damaged]} damaged files, ${tally[silent]} silent acceptances; ${tally[accepted]} valid variants" \
     "accepted, ${tally['wrongly refused']} wrongly refused"
(( tally[hang] + tally[memory] + tally[crash] + tally[damaged] + tally[silent] == 0 ))
