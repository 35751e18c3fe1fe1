#!/usr/bin/python3
"""Writes tests/reference/*.safetensors: PyTorch's answers that the C++ tests compare against.

Run with Debian's python3-torch (PyTorch 1.13, CPU):  /usr/bin/python3 tests/reference/make_reference.py
The product and its tests never need Python; this script only regenerates the committed files.

resnet_narrow.safetensors: torchvision's ResNet-50 topology (Bottleneck v1.5, layers 3-4-6-3) at
base width 4 instead of 64, 15 classes, global max pooling (AG-CNN) unless noted, input 3x64x64,
batch 3. Every value is computed in float64; the metadata records how far PyTorch's own float32
lands from it (key torch_f32_rel_err.*), so the C++ tests can state what float32 can reach.
  model.*                    weights and buffers (PyTorch names and layouts; random batch-norm
                             statistics so that eval mode is not the identity)
  input [3,3,64,64], labels [3,15]
  logits_eval, logits_eval_avgpool, logits_train, loss_train
  grad.<name>                every parameter gradient of loss_train (train mode, BCE mean)
  adam_losses [3]            training loss before each of 3 Adam steps (lr 1e-3), train mode
Metadata *_worst: the worst PyTorch float32 result over inputs perturbed at float32 rounding level.
ops.safetensors: single ops on small random inputs with their outputs and input gradients for
a fixed upstream gradient dy (prefix <op>.).
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import Bottleneck

HERE = os.path.dirname(os.path.abspath(__file__))


def write_safetensors(path, tensors, metadata):
    header = {"__metadata__": {k: str(v) for k, v in metadata.items()}}
    blobs, offset = [], 0
    for name, value in tensors.items():
        array = np.ascontiguousarray(value.detach().cpu().numpy() if torch.is_tensor(value) else value)
        dtype = {np.dtype("float32"): "F32", np.dtype("float64"): "F32", np.dtype("int64"): "I64"}[array.dtype]
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        data = array.tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - (len(text) + 8) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


class NarrowResNet50(nn.Module):
    """torchvision.models.resnet.ResNet with every channel count scaled by width / 64."""

    def __init__(self, width, classes, pool):
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(width, 3, 1)
        self.layer2 = self._make_layer(width * 2, 4, 2)
        self.layer3 = self._make_layer(width * 4, 6, 2)
        self.layer4 = self._make_layer(width * 8, 3, 2)
        self.pool = pool
        self.fc = nn.Linear(width * 32, classes)

    def _make_layer(self, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes * 4:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * 4, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * 4))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * 4
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.amax(x, dim=(2, 3)) if self.pool == "max" else x.mean(dim=(2, 3))
        return self.fc(x)


def rel_err(a, b):
    return float((a.double() - b.double()).norm() / b.double().norm())


def random_running_statistics(net):
    """Batch-norm running statistics away from 0 and 1, so that eval mode is not the identity."""
    with torch.no_grad():
        for name, buf in net.named_buffers():
            if name.endswith("running_mean"):
                buf.copy_(torch.randn_like(buf) * 0.1)
            elif name.endswith("running_var"):
                buf.copy_(torch.rand_like(buf) * 0.5 + 0.75)


def make_network(dtype, state=None, pool="max"):
    torch.manual_seed(0)
    net = NarrowResNet50(4, 15, pool)
    if state is None:
        random_running_statistics(net)
        with torch.no_grad():
            for name, p in net.named_parameters():
                if "bn" in name or "downsample.1" in name:
                    p.copy_(torch.rand_like(p) * 0.5 + 0.75 if name.endswith("weight") else torch.randn_like(p) * 0.1)
    else:
        net.load_state_dict(state)
    return net.to(dtype)


def network_reference():
    torch.manual_seed(1)
    x = torch.randn(3, 3, 64, 64, dtype=torch.float64)
    labels = (torch.rand(3, 15) < 0.3).double()
    base = make_network(torch.float64)
    state = {k: v.clone() for k, v in base.state_dict().items()}
    out, meta = {}, {}
    for k, v in state.items():
        out["model." + k] = v if v.dtype != torch.float64 else v.float()
    out["input"], out["labels"] = x, labels

    def run(dtype, mode, pool="max"):
        net = make_network(dtype, {k: v.clone() for k, v in state.items()}, pool)
        net.train(mode == "train")
        logits = net(x.to(dtype))
        loss = F.binary_cross_entropy_with_logits(logits, labels.to(dtype))
        return net, logits, loss

    _, logits_eval, _ = run(torch.float64, "eval")
    _, logits_eval32, _ = run(torch.float32, "eval")
    _, logits_avg, _ = run(torch.float64, "eval", "avg")
    _, logits_avg32, _ = run(torch.float32, "eval", "avg")
    net, logits_train, loss = run(torch.float64, "train")
    loss.backward()
    net32, logits_train32, loss32 = run(torch.float32, "train")
    loss32.backward()
    out["logits_eval"], out["logits_eval_avgpool"] = logits_eval, logits_avg
    out["logits_train"], out["loss_train"] = logits_train, loss.reshape(1)
    meta["torch_f32_rel_err.logits_eval"] = rel_err(logits_eval32, logits_eval)
    meta["torch_f32_rel_err.logits_eval_avgpool"] = rel_err(logits_avg32, logits_avg)
    meta["torch_f32_rel_err.logits_train"] = rel_err(logits_train32, logits_train)
    g64 = torch.cat([p.grad.flatten() for p in net.parameters()])
    g32 = torch.cat([p.grad.flatten() for p in net32.parameters()])
    meta["torch_f32_rel_err.gradients"] = rel_err(g32, g64)
    # One float32 run can be lucky: a ReLU input within float32 rounding of 0 (the narrowest here
    # is about 1e-5) flips sign in some float32 orderings and not in others. The worst of PyTorch
    # float32 runs on inputs perturbed at float32's own rounding level (2^-24 relative) measures
    # what float32 can promise.
    worst = rel_err(g32, g64)
    for trial in range(8):
        gen = torch.Generator().manual_seed(100 + trial)
        noise = 1 + torch.randn(x.shape, generator=gen, dtype=torch.float64) * 2.0 ** -24
        netp = make_network(torch.float32, {k: v.clone() for k, v in state.items()})
        netp.train()
        F.binary_cross_entropy_with_logits(netp((x * noise).float()), labels.float()).backward()
        gp = torch.cat([p.grad.flatten() for p in netp.parameters()])
        worst = max(worst, rel_err(gp, g64))
    meta["torch_f32_rel_err.gradients_worst"] = worst
    for name, p in net.named_parameters():
        out["grad." + name] = p.grad

    def adam_losses(dtype, noise=None):
        net = make_network(dtype, {k: v.clone() for k, v in state.items()})
        net.train()
        adam = torch.optim.Adam(net.parameters(), lr=1e-3)
        inputs = (x if noise is None else x * noise).to(dtype)
        losses = []
        for _ in range(3):
            adam.zero_grad()
            loss = F.binary_cross_entropy_with_logits(net(inputs), labels.to(dtype))
            losses.append(loss.item())
            loss.backward()
            adam.step()
        return torch.tensor(losses, dtype=torch.float64)

    # Adam divides by sqrt(v): a parameter whose gradient is float32 noise still moves by about
    # lr, so the losses after a step inherit the gradients' conditioning; measured as above.
    losses = adam_losses(torch.float64)
    worst = rel_err(adam_losses(torch.float32), losses)
    for trial in range(4):
        gen = torch.Generator().manual_seed(200 + trial)
        noise = 1 + torch.randn(x.shape, generator=gen, dtype=torch.float64) * 2.0 ** -24
        worst = max(worst, rel_err(adam_losses(torch.float32, noise), losses))
    meta["torch_f32_rel_err.adam_losses_worst"] = worst
    out["adam_losses"] = losses
    meta["description"] = "narrow ResNet-50 topology (width 4), 15 classes, max pool, input 3x3x64x64"
    return out, meta


def op_reference():
    torch.manual_seed(2)
    out = {}

    def record(prefix, fn, inputs):
        leaves = [t.clone().double().requires_grad_(True) for t in inputs]
        y = fn(*leaves)
        dy = torch.randn_like(y)
        y.backward(dy)
        for i, t in enumerate(leaves):
            out[f"{prefix}.in{i}"] = t.detach()
            out[f"{prefix}.grad{i}"] = t.grad
        out[f"{prefix}.out"], out[f"{prefix}.dy"] = y.detach(), dy

    record("conv3x3s2", lambda x, w: F.conv2d(x, w, stride=2, padding=1),
           [torch.randn(2, 5, 9, 8), torch.randn(6, 5, 3, 3)])
    record("conv7x7s2", lambda x, w: F.conv2d(x, w, stride=2, padding=3),
           [torch.randn(1, 3, 16, 15), torch.randn(4, 3, 7, 7)])
    record("conv1x1s2", lambda x, w: F.conv2d(x, w, stride=2), [torch.randn(2, 6, 7, 7), torch.randn(5, 6, 1, 1)])
    record("batch_norm_train", lambda x, g, b: F.batch_norm(x, torch.zeros(4, dtype=torch.float64),
                                                            torch.ones(4, dtype=torch.float64), g, b, True, 0.1, 1e-5),
           [torch.randn(3, 4, 5, 5) * 2 + 1, torch.rand(4) + 0.5, torch.randn(4)])
    record("max_pool", lambda x: F.max_pool2d(x, 3, 2, 1), [torch.randn(2, 3, 9, 10)])
    record("linear", F.linear, [torch.randn(4, 6), torch.randn(3, 6), torch.randn(3)])
    record("relu", F.relu, [torch.randn(3, 7)])
    record("add", torch.add, [torch.randn(3, 7), torch.randn(3, 7)])
    record("sigmoid", torch.sigmoid, [torch.randn(3, 7) * 4])
    record("concat", lambda a, b: torch.cat([a, b], dim=1), [torch.randn(3, 4), torch.randn(3, 6)])
    record("global_max_pool", lambda x: F.adaptive_max_pool2d(x, 1).flatten(1), [torch.randn(2, 5, 3, 4)])
    record("global_avg_pool", lambda x: F.adaptive_avg_pool2d(x, 1).flatten(1), [torch.randn(2, 5, 3, 4)])
    targets = (torch.rand(4, 5) < 0.5).double()
    pos_weight = torch.tensor([0.5, 1.0, 2.0, 3.0, 9.0], dtype=torch.float64)
    record("bce", lambda x: F.binary_cross_entropy_with_logits(x, targets, pos_weight=pos_weight).reshape(1),
           [torch.randn(4, 5) * 3])
    out["bce.targets"], out["bce.pos_weight"] = targets, pos_weight
    return out


def main():
    net, meta = network_reference()
    write_safetensors(os.path.join(HERE, "resnet_narrow.safetensors"), net, meta)
    write_safetensors(os.path.join(HERE, "ops.safetensors"), op_reference(),
                      {"description": "single ops, float64 reference values stored as F32; NCHW / OIHW"})
    for k, v in meta.items():
        print(k, v)


if __name__ == "__main__":
    sys.exit(main())
