#!/usr/bin/python3
"""A torchvision classifier for the bench: its ONNX export, or PyTorch's time for one step.

    torchvision_step.py --arch resnet50 --export PATH        # writes the ONNX export (224 px, opset 17)
    torchvision_step.py --arch resnet50 --layer layer4 --size 224 --batch 1
        -> prints 'seconds_per_step=S' last: forward to the module + gradient w.r.t. the input,
           median of 5 after 1 warm-up, 2 threads; image i maximises channel i*7 mod C

Weights are torchvision's seeded initialisation (speed does not depend on their values); the step
includes the ImageNet normalisation, as filter-atlas's does. Needs Debian's python3-torchvision.
"""
import argparse
import statistics
import time

import torch
import torchvision

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

ap = argparse.ArgumentParser()
ap.add_argument("--arch", required=True)
ap.add_argument("--export")
ap.add_argument("--layer")
ap.add_argument("--size", type=int, default=224)
ap.add_argument("--batch", type=int, default=1)
ap.add_argument("--steps", type=int, default=5)
a = ap.parse_args()
torch.set_num_threads(2)
torch.manual_seed(0)
model = getattr(torchvision.models, a.arch)(weights=None).eval()
for p in model.parameters():
    p.requires_grad_(False)
if a.export:
    torch.onnx.export(model, torch.rand(1, 3, 224, 224), a.export, opset_version=17, input_names=["input"], output_names=["logits"])
    raise SystemExit(0)

captured = {}
dict(model.named_modules())[a.layer].register_forward_hook(lambda _m, _i, out: captured.__setitem__("y", out))
x = torch.rand(a.batch, 3, a.size, a.size, requires_grad=True)


def step():
    x.grad = None
    model((x - MEAN) / STD)
    y = captured["y"]
    channels = torch.arange(a.batch) * 7 % y.shape[1]
    means = y.mean(dim=tuple(range(2, y.dim()))) if y.dim() > 2 else y
    means[torch.arange(a.batch), channels].sum().backward()


step()
times = []
for _ in range(a.steps):
    t = time.perf_counter()
    step()
    times.append(time.perf_counter() - t)
print(f"seconds_per_step={statistics.median(times):.4f}")
