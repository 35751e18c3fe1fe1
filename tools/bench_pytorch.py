#!/usr/bin/python3
"""PyTorch's ResNet-50 training (or inference) step, the reference for agcnn's GPU (and CPU) speed.

    /usr/bin/python3 tools/bench_pytorch.py [--device cuda|cpu] [--batch 64] [--size 224] [--steps 20]
        [--warmup 5] [--amp] [--tf32] [--deterministic] [--infer] [--no-channels-last]

The same step as `agcnn bench --train`: torchvision ResNet-50 with AG-CNN's global max pooling
and 15 outputs, random images, BCE-with-logits against random 0/1 targets, Adam (lr 1e-4),
forward in train mode, backward, step. Channels-last memory format by default (the layout agcnn
uses); --amp runs forward and backward under torch.autocast(bfloat16 on CUDA) with FP32 weights,
the eager mixed-precision baseline; --tf32 allows TF32 in convolutions and matrix products
(PyTorch's default for cuDNN convolutions, off here unless asked so that fp32 means fp32);
--deterministic restricts cuDNN to deterministic algorithms, as agcnn always does (no
benchmark-mode search among non-deterministic ones); --infer times inference instead: eval mode,
no autograd, forward only, as `agcnn bench --infer`. Prints one JSON line: images/s (median over
the timed steps) and the settings.
"""
import argparse
import json
import statistics
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--tf32", action="store_true")
    parser.add_argument("--deterministic", action="store_true")
    parser.add_argument("--infer", action="store_true")
    parser.add_argument("--no-channels-last", action="store_true")
    args = parser.parse_args()

    import torch
    import torchvision

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = args.tf32
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.deterministic = args.deterministic
    torch.manual_seed(0)
    net = torchvision.models.resnet50(num_classes=15)
    net.avgpool = torch.nn.AdaptiveMaxPool2d(1)  # AG-CNN's global branch
    memory_format = torch.contiguous_format if args.no_channels_last else torch.channels_last
    net = net.to(device=device, memory_format=memory_format).train(not args.infer)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    x = torch.randn(args.batch, 3, args.size, args.size, device=device)
    x = x.contiguous(memory_format=memory_format)
    y = (torch.rand(args.batch, 15, device=device) > 0.8).float()

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=args.amp):
            loss = loss_fn(net(x).float(), y)
        loss.backward()
        optimizer.step()

    def infer_step():
        with torch.no_grad(), torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                                             enabled=args.amp):
            net(x)

    step = infer_step if args.infer else train_step

    def sync():
        if cuda:
            torch.cuda.synchronize()

    for _ in range(args.warmup):
        step()
    sync()
    rates = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        sync()
        rates.append(args.batch / (time.perf_counter() - start))
    report = {
        "engine": "pytorch " + torch.__version__,
        "device": torch.cuda.get_device_name(device) if cuda else "cpu",
        "mode": "infer" if args.infer else "train", "batch": args.batch, "size": args.size,
        "amp": args.amp, "tf32": args.tf32, "deterministic": args.deterministic,
        "channels_last": not args.no_channels_last,
        "images_per_s": {"median": statistics.median(rates), "min": min(rates), "max": max(rates)},
    }
    if cuda:
        report["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    print(json.dumps(report))


if __name__ == "__main__":
    main()
