#!/usr/bin/python3
"""Full-size ResNet-50: agcnn's logits and gradients against PyTorch in float64.

    /usr/bin/python3 tools/check_resnet50_vs_pytorch.py [--agcnn build/agcnn] [--batch 2] [--threads 2]
                                                        [--conv direct winograd auto]

Needs Debian's python3-torch and python3-torchvision (never needed by agcnn itself). Builds a
torchvision ResNet-50 (random weights, batch-norm statistics set to realistic values, 15 classes),
writes it as safetensors in PyTorch's names, runs `agcnn forward` and `agcnn grad` on the same
input, and prints for each case the relative error ||x - ref|| / ||ref|| of agcnn and of PyTorch's
own float32 against PyTorch float64, with their ratio. The gradient error is over all parameter
gradients together. --conv runs agcnn once per listed CPU convolution algorithm against the same
references (one row per algorithm and case). The issue's bounds: eval logits < 1e-5; gradients <= 3x PyTorch float32's.
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
import torchvision


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy())
        a = a.astype(np.float32) if a.dtype != np.int64 else a
        data = a.tobytes()
        header[name] = {"dtype": "F32" if a.dtype == np.float32 else "I64", "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - (len(text) + 8) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for b in blobs:
            f.write(b)


def rel(a, b):
    a, b = torch.as_tensor(a).double().flatten(), torch.as_tensor(b).double().flatten()
    return float((a - b).norm() / b.norm())


def network(pool, dtype, state):
    net = torchvision.models.resnet50(num_classes=15)
    if pool == "max":
        net.avgpool = torch.nn.AdaptiveMaxPool2d(1)
    net.load_state_dict(state)
    return net.to(dtype)


def torch_run(pool, mode, dtype, state, x, labels):
    net = network(pool, dtype, state)
    net.train(mode == "train")
    logits = net(x.to(dtype))
    loss = F.binary_cross_entropy_with_logits(logits, labels.to(dtype))
    loss.backward()
    grads = {n: p.grad.detach().double() for n, p in net.named_parameters()}
    return logits.detach().double(), grads


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--agcnn", default="build/agcnn")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bn-stats", choices=("default", "calibrated"), default="default",
                        help="batch-norm running statistics: torchvision's fresh init (mean 0, var 1), "
                             "or averaged over 4 random batches (worse conditioned: PyTorch float32 "
                             "itself then lands near 1e-5 on eval logits)")
    parser.add_argument("--conv", nargs="+", choices=("direct", "winograd", "auto"), default=["auto"],
                        help="agcnn's --conv; several: one agcnn run each, same references")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    base = torchvision.models.resnet50(num_classes=15)
    with torch.no_grad():
        base.eval()
        calib = torchvision.models.resnet50(num_classes=15)
        calib.load_state_dict(base.state_dict())
        calib.train()
        for m in calib.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = None  # cumulative average
        for _ in range(4 if args.bn_stats == "calibrated" else 0):
            calib(torch.randn(4, 3, args.size, args.size))
        base.load_state_dict(calib.state_dict())
    state = {k: v.clone() for k, v in base.state_dict().items()}
    x = torch.randn(args.batch, 3, args.size, args.size, dtype=torch.float64)
    labels = (torch.rand(args.batch, 15) < 0.3).double()

    with tempfile.TemporaryDirectory() as tmp:
        weights = os.path.join(tmp, "w.safetensors")
        write_safetensors(weights, state)
        np.save(os.path.join(tmp, "x.npy"), x.float().numpy())
        np.save(os.path.join(tmp, "labels.npy"), labels.float().numpy())
        print(f"ResNet-50, batch {args.batch}, {args.size}x{args.size}, {args.threads} threads, "
              f"{args.bn_stats} batch-norm statistics; relative error vs PyTorch float64")
        print(f"{'case':<38}{'agcnn':>12}{'torch f32':>12}{'ratio':>8}")
        failed = False
        for pool in ("avg", "max"):
            for mode in ("eval", "train"):
                ref_logits, ref_grads = torch_run(pool, mode, torch.float64, state, x, labels)
                f32_logits, f32_grads = torch_run(pool, mode, torch.float32, state, x, labels)
                names = list(ref_grads)
                ref_g = torch.cat([ref_grads[n].flatten() for n in names])
                f32_g = torch.cat([f32_grads[n].flatten() for n in names])
                for conv in args.conv:
                    common = ["--model", "resnet50", "--classes", "15", "--pool", pool, "--weights", weights,
                              "--input", os.path.join(tmp, "x.npy"), "--mode", mode,
                              "--threads", str(args.threads), "--conv", conv]
                    out = os.path.join(tmp, "y.npy")
                    subprocess.run([args.agcnn, "forward", *common, "--output", out], check=True)
                    gdir = os.path.join(tmp, f"grad-{pool}-{mode}-{conv}")
                    subprocess.run([args.agcnn, "grad", *common, "--labels", os.path.join(tmp, "labels.npy"),
                                    "--output", gdir], check=True)
                    ours_logits = np.load(out)
                    ours_g = torch.cat([torch.from_numpy(np.load(os.path.join(gdir, n + ".npy"))).double().flatten()
                                        for n in names])
                    for what, ours, f32, ref in (("logits", ours_logits, f32_logits, ref_logits),
                                                 ("gradients", ours_g, f32_g, ref_g)):
                        a, t = rel(ours, ref), rel(f32, ref)
                        case = f"{pool} pool, {mode}, {what} ({conv})"
                        print(f"{case:<38}{a:>12.2e}{t:>12.2e}{a / t:>8.2f}")
                        bound = 3 * t
                        if what == "logits" and mode == "eval":
                            bound = max(1e-5, 3 * t) if args.bn_stats == "calibrated" else 1e-5
                        failed |= a > bound
    print("FAILED: an error exceeds its bound" if failed else "all within bounds "
          "(eval logits < 1e-5, everything else <= 3x PyTorch float32)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
