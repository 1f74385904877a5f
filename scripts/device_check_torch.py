#!/usr/bin/env python3
"""The PyTorch half of the device check (scripts/device-check.sh): on the machine being checked,

1. generates VGG16-BN `features` weights (seeded; He-uniform convs, BatchNorm statistics away from
   identity so BatchNorm does real work) and writes them as a torchvision-style safetensors file
   (written by hand: the `safetensors` package may be missing there);
2. computes the reference objective and input gradient of the ReLU after conv 40 (`features.42`)
   for a seeded 2 x 224 x 224 batch (--size: another side, for a dry run) in float64 on the CPU (and
   in float32 on the device, to show float32's own distance from it), for filter-atlas's engine to
   be compared with;
3. times the same step (forward to features.42 + gradient w.r.t. the RGB input, ImageNet
   normalisation included, image n maximising channel 7n mod 512) in float32 on CUDA when there is
   one (TF32 off: the same arithmetic as the engine), else on the CPU, at 224 x 1 and 224 x 8
   (--size, --batch: smaller for a dry run), and at every size of the schedule with the batch size
   of the schedule run (an estimate of PyTorch's seconds per filter);
4. writes reference.json and torch.json into --out and prints torch.json.

Works with PyTorch 1.13 (Debian, the dry run) and 2.x; needs nothing but torch.
"""
import argparse
import json
import math
import os
import statistics
import struct
import time

import torch

CFG_D = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
LAYER = 42  # features.42: the ReLU after conv 40


def vgg16_bn_features(generator):
    """torchvision's vgg16_bn.features with seeded weights, and its state dict entries (features.* only)."""
    layers, state, channels, index = [], {}, 3, 0
    for v in CFG_D:
        if v == "M":
            layers.append(torch.nn.MaxPool2d(2, 2))
            index += 1
            continue
        conv = torch.nn.Conv2d(channels, v, 3, padding=1)
        bn = torch.nn.BatchNorm2d(v)
        limit = math.sqrt(6 / (channels * 9))
        uniform = lambda shape, lo, hi: torch.rand(shape, generator=generator) * (hi - lo) + lo  # noqa: E731
        with torch.no_grad():
            conv.weight.copy_(uniform(conv.weight.shape, -limit, limit))
            conv.bias.copy_(uniform((v,), -0.1, 0.1))
            bn.weight.copy_(uniform((v,), 0.5, 1.5))
            bn.bias.copy_(uniform((v,), -0.1, 0.1))
            bn.running_mean.copy_(uniform((v,), -0.2, 0.2))
            bn.running_var.copy_(uniform((v,), 0.5, 2.0))
        state[f"features.{index}.weight"] = conv.weight
        state[f"features.{index}.bias"] = conv.bias
        for field in ("weight", "bias", "running_mean", "running_var"):
            state[f"features.{index + 1}.{field}"] = getattr(bn, field)
        layers += [conv, bn, torch.nn.ReLU()]
        channels, index = v, index + 3
    return torch.nn.Sequential(*layers).eval(), state


def write_safetensors(path, state):
    """The safetensors layout: 8-byte header length, JSON header (offsets into the data), raw little-endian data."""
    header, blobs, offset = {}, [], 0
    for key in sorted(state):
        data = state[key].detach().to(torch.float32).contiguous().cpu().numpy().tobytes()
        header[key] = {"dtype": "F32", "shape": list(state[key].shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def objective_and_gradient(features, images, filters, dtype, device):
    """objective[n] = mean over space of channel filters[n] of features.42; its gradient w.r.t. the RGB images."""
    model = features[: LAYER + 1].to(device=device, dtype=dtype)
    x = images.to(device=device, dtype=dtype).clone().requires_grad_(True)
    mean = torch.tensor(MEAN, dtype=dtype, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=dtype, device=device).view(1, 3, 1, 1)
    y = model((x - mean) / std)
    objective = y.mean(dim=(2, 3))[torch.arange(len(filters)), torch.tensor(filters)]
    objective.sum().backward()
    return objective.detach().cpu().double(), x.grad.detach().cpu().double()


def time_step(model, size, batch, device, steps, warmup):
    mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
    x = torch.rand(batch, 3, size, size, device=device, requires_grad=True)
    channels = torch.arange(batch, device=device) * 7 % 512
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def step():
        x.grad = None
        y = model((x - mean) / std)
        y.mean(dim=(2, 3))[torch.arange(batch, device=device), channels].sum().backward()
        sync()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=10, help="timed steps per size (median)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--size", type=int, default=224, help="side of the reference images and of the timed steps, px (224: the real check)")
    ap.add_argument("--batch", type=int, default=8, help="batch of the second timed step (8: the real check)")
    ap.add_argument("--schedule-sizes", default="", help="comma-separated sizes of the schedule run, for PyTorch's estimate per filter")
    ap.add_argument("--schedule-batch", type=int, default=8)
    ap.add_argument("--steps-per-scale", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: every core)")
    a = ap.parse_args()
    # features.42 is 1/16 of the input's side: 32 px leaves it 2 x 2.
    if not 32 <= a.size <= 224:
        ap.error(f"--size: expected a whole number from 32 to 224, received {a.size}")
    if not 1 <= a.batch <= 18:
        ap.error(f"--batch: expected a whole number from 1 to 18, received {a.batch}")
    os.makedirs(a.out, exist_ok=True)
    started = time.perf_counter()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        # float32 as the engine computes it: no TF32 in convolutions or matrix products.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True

    generator = torch.Generator().manual_seed(40)
    features, state = vgg16_bn_features(generator)
    for p in features.parameters():
        p.requires_grad_(False)
    weights = os.path.join(a.out, "vgg16_bn.safetensors")
    write_safetensors(weights, state)

    # The reference: float64 on the CPU; float32 on the device shows float32's own distance from it.
    filters = [3, 100]
    images = torch.rand(2, 3, a.size, a.size, generator=torch.Generator().manual_seed(7))
    images.numpy().astype("<f4").tofile(os.path.join(a.out, "image.f32"))
    objective64, gradient64 = objective_and_gradient(features, images, filters, torch.float64, "cpu")
    objective32, gradient32 = objective_and_gradient(features, images, filters, torch.float32, device)
    gradient64.float().numpy().astype("<f4").tofile(os.path.join(a.out, "gradient_fp64.f32"))
    scale = gradient64.abs().max().item()
    reference = {
        "size": a.size,
        "batch": 2,
        "layer": str(LAYER),
        "filters": filters,
        "image": "image.f32",
        "gradient": "gradient_fp64.f32",
        "objective_fp64": objective64.tolist(),
        "objective_fp32": objective32.tolist(),
        "torch_fp32_gradient_relative_error": (gradient32 - gradient64).abs().max().item() / scale,
        "torch_fp32_device": device,
    }
    with open(os.path.join(a.out, "reference.json"), "w") as f:
        json.dump(reference, f)

    model = features[: LAYER + 1].to(device)
    steps = [{"size": s, "batch": b, "seconds_per_step": time_step(model, s, b, device, a.steps, a.warmup)} for s, b in ((a.size, 1), (a.size, a.batch))]
    sizes = [int(s) for s in a.schedule_sizes.split(",") if s]
    schedule = None
    if sizes:
        per_size = {s: time_step(model, s, a.schedule_batch, device, max(1, a.steps // 3), 1) for s in sizes}
        schedule = {
            "batch": a.schedule_batch,
            "sizes": sizes,
            "steps_per_scale": a.steps_per_scale,
            # The steps only: on a GPU, PyTorch's Adam and transforms are a small part of them.
            "seconds_per_filter_estimate": sum(a.steps_per_scale * t for t in per_size.values()) / a.schedule_batch,
        }
    result = {
        "torch": torch.__version__,
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None,
        "cuda": torch.version.cuda,
        "threads": torch.get_num_threads(),
        "weights": os.path.basename(weights),
        "steps": steps,
        "schedule": schedule,
        "seconds": time.perf_counter() - started,
    }
    with open(os.path.join(a.out, "torch.json"), "w") as f:
        json.dump(result, f)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
