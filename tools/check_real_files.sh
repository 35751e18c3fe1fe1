#!/usr/bin/env bash
# The paper's recipe from real files, end to end (issue 12): a full-width torchvision ResNet-50
# saved with torch.save (random initialisation stands in for the ImageNet download; nothing is
# downloaded), converted by agcnn-convert, all three stages trained from it on the real NIH
# sample images (../shared/data/nih-sample, its list files), then eval and predict. Small epochs,
# input and batch, so that it finishes on a 2-core machine; the numbers mean nothing, the path
# from files to results is what is checked. Every command is echoed before it runs.
#
#   tools/check_real_files.sh BUILD_DIR [WORK_DIR] [SAMPLE_DIR]
# BUILD_DIR holds agcnn and agcnn-convert. WORK_DIR (default: a new folder under /tmp) gets the
# .pth, the converted weights, a copy of the 64-px images (the pack is built beside them, so the
# shared folder is never written) and the run folder. Needs /usr/bin/python3 with torch and
# torchvision for the .pth only. Exit 1 on the first failure.
set -euo pipefail
build=$(realpath "${1:?usage: $0 BUILD_DIR [WORK_DIR] [SAMPLE_DIR]}")
work=${2:-$(mktemp -d /tmp/agcnn-real-files.XXXXXX)}
sample=$(realpath "${3:-$(dirname "$0")/../../shared/data/nih-sample}")
threads=${THREADS:-2}
mkdir -p "$work"
cd "$work"
step() { echo "+ $*" >&2; "$@"; }

echo "+ /usr/bin/python3: torch.save(torchvision.models.resnet50().state_dict(), 'resnet50.pth')" >&2
/usr/bin/python3 - <<'PY'
import torch
import torchvision
torch.manual_seed(0)
torch.save(torchvision.models.resnet50(weights=None).state_dict(), "resnet50.pth")
PY
step "$build/agcnn-convert" resnet50.pth -o imagenet.safetensors

rm -rf data run predicted
mkdir -p data
cp -r "$sample/images-64" data/
cp "$sample"/images-64-{train,val,test}_list.txt data/
step "$build/agcnn" train --data data/images-64 --split lists \
    --train-list data/images-64-train_list.txt --val-list data/images-64-val_list.txt \
    --test-list data/images-64-test_list.txt --weights imagenet.safetensors --out run \
    --input-size 56 --resize 64 --pack 64 --global-epochs 1 --local-epochs 1 --fusion-epochs 1 \
    --global-batch 32 --local-batch 32 --fusion-batch 32 --lr 0.001 --seed 1 --threads "$threads"
step cut -c1-150 run/metrics.jsonl
step "$build/agcnn" eval --run run --split test
step "$build/agcnn" predict --run run data/images-64/00000001_000.png data/images-64/00000003_000.png \
    --out predicted
step ls run predicted
step head -c 600 run/results.json
echo
echo "real-files check passed in $work" >&2
