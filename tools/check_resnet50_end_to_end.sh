#!/usr/bin/env bash
# End-to-end check of agcnn-convert (issue 3): a full-size torchvision ResNet-50 (random init,
# nothing downloaded) saved with torch.save, converted by agcnn-convert (fc kept), run with
# `agcnn forward --pool avg`, and compared with torchvision's eval-mode logits in float64:
# relative error ||agcnn - torch|| / ||torch|| must be under 1e-4.
#
#   tools/check_resnet50_end_to_end.sh BUILD_DIR [WORK_DIR] [CONV]
# BUILD_DIR holds agcnn and agcnn-convert. Needs /usr/bin/python3 with torch + torchvision
# (the check only; the product needs no Python). CONV: agcnn forward's --conv (default auto).
# Prints the relative error; exit 1 on failure.
set -euo pipefail
build=$(realpath "${1:?usage: $0 BUILD_DIR [WORK_DIR] [CONV]}")
work=${2:-$(mktemp -d)}
conv=${3:-auto}
mkdir -p "$work"
cd "$work"

/usr/bin/python3 - <<'PY'
import numpy as np
import torch
import torchvision

torch.manual_seed(0)
model = torchvision.models.resnet50(weights=None)
# Realistic batch-norm statistics instead of the fresh 0/1 (which give denormal-prone, near
# degenerate activations): a few training-mode passes over random images.
with torch.no_grad():
    model.train()
    for _ in range(3):
        model(torch.randn(4, 3, 224, 224))
model.eval()
torch.save(model.state_dict(), "resnet50.pth")
x = torch.randn(2, 3, 224, 224)
np.save("x.npy", x.numpy())
with torch.no_grad():
    np.save("torch_logits.npy", model.double()(x.double()).numpy())
PY

"$build/agcnn-convert" resnet50.pth -o resnet50.safetensors
"$build/agcnn" forward --model resnet50 --classes 1000 --pool avg \
    --weights resnet50.safetensors --input x.npy --output agcnn_logits.npy --conv "$conv"

/usr/bin/python3 - <<'PY'
import numpy as np
a = np.load("agcnn_logits.npy").astype(np.float64)
b = np.load("torch_logits.npy")
rel = np.linalg.norm(a - b) / np.linalg.norm(b)
print(f"relative error ||agcnn - torchvision|| / ||torchvision|| = {rel:.3e} (limit 1e-4), "
      f"max abs diff {np.abs(a - b).max():.3e}")
raise SystemExit(0 if rel < 1e-4 else 1)
PY
