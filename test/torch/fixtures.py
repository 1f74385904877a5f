"""PyTorch autograd references for filter-atlas's operator coverage (issue: today's CNNs).

For every case it exports an ONNX model with torch.onnx.export (seeded random weights, eval mode)
and writes, from PyTorch autograd in float64, the objective and its input gradient:

    objective[n] = mean over space of layer[n, filters[n]]   (the value itself for (N, C) layers)
    gradient[n]  = d objective[n] / d image[n]               (image: RGB in [0, 1], NCHW)

The model input is the ImageNet-normalised image, as filter-atlas's default preprocessing for ONNX
files, so gradients are taken through the normalisation too. Two kinds of cases:
  - torchvision classifiers exported at opset 13 and 17 at their own size (224 px; 299 for
    inception_v3). Gradients of a middle and a late module (module paths) and of the class logits
    ("head") of global-pool models at an odd size, 81 px, where the export's baked-in shapes must
    be re-derived; and at the export size, the channel means of both modules (the forward pass the
    probe and the dataset scan use). Both exports are checked against the same references;
  - an operator zoo: small modules that each exercise a few operators (broadcasting arithmetic,
    activations, reductions, layout ops, LayerNorm, shape subgraphs of a dynamic-size export).

Float32 and kinks: a ReLU input or a max-pool runner-up within float32 rounding of its kink flips
differently in any two float32 implementations (another CPU's kernels, AVX-512 against AVX2, another
summation order), and moves gradient mass from one pixel to another (PyTorch's own float32 gradient
then differs from its float64 one by 1e-3 to 4e-2, seen on ResNet-50 and DenseNet-121 with random
images). Such images test rounding, not the gradient rules. So each gradient reference is certified
(clean_images): its images are drawn until PyTorch's float32 gradient and float64 gradients with
rounding-sized noise injected at the input and at every convolution and linear layer all equal the
exact float64 gradient within 1e-5. A module at which no image can be certified in the tries allowed
(the more units before it, the likelier a decision near its kink) is written with `certified: false`
and its measured error: the tests report it and do not compare its gradient, rather than compare a
number that depends on the CPU. Hence also the small odd size: at 224 px hardly any image certifies.

    /usr/bin/python3 test/torch/fixtures.py OUT_DIR [--only NAME,NAME]

OUT_DIR/manifest.json lists the cases; OUT_DIR/<reference>/ holds images.f32 and per layer
gradient-<i>.f32 (float32 little-endian, NCHW). Deterministic: same script, same files.
"""
import json
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

# Module paths as torch names them (named_modules); the ONNX export keeps them in node scopes.
ARCHITECTURES = {
    "alexnet": {"layers": ["features.4", "features.11"]},
    "vgg11_bn": {"layers": ["features.10", "features.27"]},
    "resnet18": {"layers": ["layer2", "layer4"], "head": "fc"},
    "resnet50": {"layers": ["layer2", "layer4"], "head": "fc"},
    "squeezenet1_1": {"layers": ["features.5", "features.12"]},
    "densenet121": {"layers": ["features.denseblock2", "features.denseblock4"]},
    "googlenet": {"layers": ["inception3b", "inception5b"], "kwargs": {"aux_logits": False, "init_weights": True}},
    "inception_v3": {"layers": ["Mixed_5d", "Mixed_7c"], "size": 299, "kwargs": {"aux_logits": False, "init_weights": True}},
    "mobilenet_v2": {"layers": ["features.7", "features.18"]},
    "efficientnet_b0": {"layers": ["features.4", "features.8"], "head": "classifier.1"},
    "regnet_y_400mf": {"layers": ["trunk_output.block2", "trunk_output.block4"]},
    "mobilenet_v3_small": {"layers": ["features.6", "features.12"], "head": "classifier.3"},
    "mnasnet0_5": {"layers": ["layers.9", "layers.16"]},
    "convnext_tiny": {"layers": ["features.3", "features.7"], "head": "classifier.2"},
    "shufflenet_v2_x0_5": {"layers": ["stage2", "conv5"]},
}
# Gradients are compared at a small odd size: ceil/floor rounding and size-dependent shapes
# (channel-shuffle reshapes baked into the export at 224 px) are exercised away from the export
# size, class logits after global pooling hold at any size, and kink-free images are findable.
ODD_SIZE = 81


def randomize(model, seed, size=(160, 160)):
    """Seeded, non-trivial parameters. BatchNorm statistics come from a calibration pass over random
    images (as training would set them), then get a random affine: with the default statistics of an
    untrained model (mean 0, variance 1) the signal of a deep net shrinks or explodes layer after
    layer, late layers barely depend on the image, and float32 rounding dominates their gradients.
    Also random: LayerNorm affine, ConvNeXt's layer scale."""
    g = torch.Generator().manual_seed(seed)
    batch_norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in model.modules():
        if isinstance(m, (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.Hardsigmoid, nn.SiLU)):
            m.inplace = False  # a hooked output must not be overwritten by a later in-place op
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "layer_scale") and isinstance(m.layer_scale, nn.Parameter):
                # ConvNeXt initialises it to 1e-6: blocks would hardly contribute to the gradient.
                m.layer_scale.copy_(torch.empty(m.layer_scale.shape).uniform_(0.2, 1.0, generator=g))
            elif isinstance(m, nn.LayerNorm):
                m.weight.copy_(torch.empty(m.weight.shape).uniform_(0.5, 1.5, generator=g))
                m.bias.copy_(torch.empty(m.bias.shape).uniform_(-0.2, 0.2, generator=g))
        if batch_norms:
            for m in batch_norms:
                m.reset_running_stats()
                m.momentum = None  # a cumulative average over the calibration batches
            model.train()
            calibration = torch.rand(8, 3, size[0], size[1], generator=g)
            model((calibration - MEAN) / STD)
            for m in batch_norms:
                n = m.num_features
                # A channel nearly constant on the calibration noise (EfficientNet has variances of
                # 6e-5) would amplify float rounding 100-fold: its gradient in float32 is then off by
                # 1e-3 in PyTorch too. A floor keeps the network's numbers those of a trained one.
                m.running_var.clamp_(min=0.1)
                m.weight.copy_(torch.empty(n).uniform_(0.5, 1.5, generator=g))
                m.bias.copy_(torch.empty(n).uniform_(-0.2, 0.2, generator=g))
    return model.eval()


def images(n, size, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size[0], size[1], generator=g)


def write_f32(path, tensor):
    tensor.detach().to(torch.float32).contiguous().numpy().astype("<f4").tofile(path)


def rounding_noise(model, scale, seed):
    """Forward hooks that add noise of `scale` times each channel's standard deviation to the output of
    every convolution and linear layer (gradients() moves the image likewise): float64 with rounding errors of a chosen size, as another
    float32 implementation (other kernels, summation order, FMA or not) makes them. A sum's rounding
    error scales with its terms, not its result, so it is additive: a pre-activation near a kink moves
    as much as any other. Returns the hooks, for removal."""
    g = torch.Generator().manual_seed(seed)

    def perturb(_m, _i, out):
        # Per channel (dim 1): a channel's terms, and so its rounding, have their own size.
        dims = [d for d in range(out.dim()) if d != 1] if out.dim() > 2 else [0]
        spread = out.std(dim=dims, keepdim=True) if out.shape[0] > 1 or out.dim() > 2 else out.abs().mean()
        return out + scale * spread * torch.randn(out.shape, generator=g, dtype=out.dtype)

    return [m.register_forward_hook(perturb) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def gradients(model, modules, x, dtype, filters=None, noise=None):
    """Per module: (filters, objective, d objective / d image, output shape) for images x, in dtype.
    The filter of image n is the channel with the largest mean on it (a live channel). `noise`:
    (scale, seed): the image and every convolution and linear output moved by rounding-sized noise."""
    model.to(dtype)
    captured = {}
    hooks = [m.register_forward_hook(lambda _m, _i, out, k=k: captured.__setitem__(k, out)) for k, m in enumerate(modules)]
    if noise:
        hooks += rounding_noise(model, *noise)
    image = x.to(dtype).clone().requires_grad_(True)
    if noise:
        g = torch.Generator().manual_seed(noise[1] + 7)
        moved = image + noise[0] * x.std() * torch.randn(x.shape, generator=g, dtype=torch.float64).to(dtype)
    else:
        moved = image
    try:
        model((moved - MEAN.to(dtype)) / STD.to(dtype))
    finally:
        for hook in hooks:
            hook.remove()
    results = []
    for k in range(len(modules)):
        y = captured[k]
        means = y.mean(dim=tuple(range(2, y.dim()))) if y.dim() > 2 else y
        chosen = filters[k] if filters else [int(means[n].argmax()) for n in range(x.shape[0])]
        objective = torch.stack([means[n, f] for n, f in enumerate(chosen)])
        (gradient,) = torch.autograd.grad(objective.sum(), image, retain_graph=k < len(modules) - 1)
        results.append((chosen, objective.detach(), gradient.detach(), list(y.shape)))
    model.float()
    return results


# Rounding other than PyTorch's: the size of the error added to the image and to every convolution and
# linear output, relative to that channel's spread, and how many draws an image must survive. A float32
# sum of K products with random signs has a spread of sqrt(K) times a product, and its rounding error
# a few units of float32's 6e-8 of that, whatever the order of summation: 3e-7 is 5 units. Measured
# (per-channel noise, MobileNetV2 and ResNet-50 at 81 px): 2e-7 already catches, in PyTorch alone, the
# image that failed on an AVX-512 CPU (MobileNetV2's features.18: 2.6e-3 of the largest gradient value
# under ONNX Runtime there, 2.8e-3 under this noise); at 1e-6 no ResNet-50 image certifies even at
# layer2 in 24 tries.
NOISE_SCALE = 3e-7
NOISE_DRAWS = 3


def clean_images(model, modules, size, seed, count=2, tries=32):
    """`count` images, and the modules at which their gradient does not depend on float32 rounding:
    PyTorch's float32 gradient and float64 ones with NOISE_SCALE rounding noise injected at every layer
    (NOISE_DRAWS draws) all equal the exact float64 gradient within 1e-5 of its largest value there.
    At such a module no ReLU, ReLU6, max-pool or other kink decision that matters lies within rounding
    distance of its boundary, so any float32 implementation on any CPU takes the same decisions (see
    the module docstring). The more units before a module, the rarer a certifiable image: the images
    are those that certify the most modules (all of them where `tries` images allow), the middle ones
    first. Returns (images, certified module indices, worst error per module over the chosen images)."""
    torch.backends.mkldnn.enabled = False  # oneDNN's float32 convolutions round less precisely

    def errors_of(rounded, exact):
        return [float((r[2].double() - e[2]).abs().max() / e[2].abs().max()) for r, e in zip(rounded, exact)]

    candidates = []  # (image, per-module error)
    try:
        for attempt in range(tries):
            x = images(1, size, seed * 1000 + attempt)
            exact = gradients(model, modules, x, torch.float64)
            filters = [r[0] for r in exact]
            errors = errors_of(gradients(model, modules, x, torch.float32, filters), exact)
            for draw in range(NOISE_DRAWS):
                if min(errors) >= 1e-5:
                    break
                noise = (NOISE_SCALE, (seed * 1000 + attempt) * 10 + draw)
                errors = [max(a, b) for a, b in zip(errors, errors_of(gradients(model, modules, x, torch.float64, filters, noise), exact))]
            print(f"  {size[0]}x{size[1]} try {attempt}: {' '.join(f'{e:.1e}' for e in errors)}", file=sys.stderr, flush=True)
            candidates.append((x, errors))
            if sum(1 for _, e in candidates if max(e) < 1e-5) == count:
                break
    finally:
        torch.backends.mkldnn.enabled = True
    n = len(modules)
    subsets = sorted((tuple(k for k in range(n) if mask >> k & 1) for mask in range(1, 1 << n)), key=lambda ks: (-len(ks), ks))
    for subset in subsets:
        clean = [(x, e) for x, e in candidates if all(e[k] < 1e-5 for k in subset)]
        if len(clean) >= count:
            chosen = clean[:count]
            worst = [max(e[k] for _, e in chosen) for k in range(n)]
            return torch.cat([x for x, _ in chosen]), set(subset), worst
    raise RuntimeError(f"no image without float32 kink flips at any module in {tries} tries")


def export(model, path, size, opset, dynamic=False):
    dummy = torch.rand(1, 3, size[0], size[1])
    kwargs = {"input_names": ["input"], "output_names": ["output"]}
    if dynamic:
        kwargs["dynamic_axes"] = {"input": {0: "batch", 2: "height", 3: "width"}}
    torch.onnx.export(model, dummy, path, opset_version=opset, **kwargs)


def write_references(out_dir, ref_id, model, size, layers, seed):
    """layers: [(name for filter-atlas, module)] -> {images, layers} of the manifest, files in OUT_DIR/ref_id."""
    folder = os.path.join(out_dir, ref_id)
    os.makedirs(folder, exist_ok=True)
    modules = [m for _, m in layers]
    x, certified, worst = clean_images(model, modules, size, seed)
    write_f32(os.path.join(folder, "images.f32"), x)
    entries = []
    for i, ((name, _), (filters, objective, gradient, shape)) in enumerate(zip(layers, gradients(model, modules, x, torch.float64))):
        write_f32(os.path.join(folder, f"gradient-{i}.f32"), gradient)
        entries.append({
            "layer": name,
            "shape": shape,
            "filters": filters,
            "objective": objective.tolist(),
            "gradient": f"{ref_id}/gradient-{i}.f32",
            "maxGradient": float(gradient.abs().max()),
            "certified": i in certified,
            "certificate": worst[i],
        })
    return {"size": list(size), "n": x.shape[0], "images": f"{ref_id}/images.f32", "certificate": max(worst[i] for i in certified), "layers": entries}


def write_means(out_dir, ref_id, model, size, layers, seed):
    """Channel means of each module's output (float64) for two random images: a forward-pass check."""
    folder = os.path.join(out_dir, ref_id)
    os.makedirs(folder, exist_ok=True)
    x = images(2, size, seed)
    write_f32(os.path.join(folder, "images.f32"), x)
    model.double()
    captured = {}
    hooks = [m.register_forward_hook(lambda _m, _i, out, k=k: captured.__setitem__(k, out)) for k, (_, m) in enumerate(layers)]
    try:
        with torch.no_grad():
            model((x.double() - MEAN.double()) / STD.double())
    finally:
        for hook in hooks:
            hook.remove()
        model.float()
    entries = []
    for k, (name, _) in enumerate(layers):
        y = captured[k]
        means = y.mean(dim=tuple(range(2, y.dim()))) if y.dim() > 2 else y
        entries.append({"layer": name, "shape": list(y.shape), "means": means.tolist()})
    return {"size": list(size), "n": x.shape[0], "images": f"{ref_id}/images.f32", "means": entries}


def torchvision_cases(out_dir, only):
    cases = []
    for seed, (arch, spec) in enumerate(ARCHITECTURES.items()):
        if only and arch not in only:
            continue
        started = time.time()
        side = spec.get("size", 224)
        torch.manual_seed(seed)
        model = randomize(getattr(torchvision.models, arch)(weights=None, **spec.get("kwargs", {})), seed, (side, side))
        modules = dict(model.named_modules())
        named = [(name, modules[name]) for name in spec["layers"] + ([spec["head"]] if "head" in spec else [])]
        at_odd = write_references(out_dir, f"{arch}-{ODD_SIZE}", model, (ODD_SIZE, ODD_SIZE), named, 200 + seed)
        at_export = write_means(out_dir, f"{arch}-{side}", model, (side, side), named[:2], 100 + seed)
        for opset in (13, 17):
            onnx = f"{arch}-opset{opset}.onnx"
            export(model, os.path.join(out_dir, onnx), (side, side), opset)
            common = {"arch": arch, "onnx": onnx, "opset": opset, "exportSize": [side, side]}
            cases.append({"id": f"{arch}-opset{opset}-{ODD_SIZE}", **common, **at_odd})
            cases.append({"id": f"{arch}-opset{opset}-{side}", **common, **at_export, "layers": []})
        print(f"{arch}: {time.time() - started:.1f} s", file=sys.stderr, flush=True)
    return cases


# ------------------------------------------------------------------------------ operator zoo
class Zoo(nn.Module):
    """Base: a conv stem so the ops act on learned features, then `body`; output NCHW or (N, C)."""

    def __init__(self, channels=8):
        super().__init__()
        self.stem = nn.Conv2d(3, channels, 3, padding=1)


class Broadcasting(Zoo):
    """Add/Sub/Mul/Div with NumPy broadcasting between computed tensors and with constants."""

    def __init__(self):
        super().__init__()
        self.gate = nn.Conv2d(8, 8, 1)
        self.register_buffer("scale", torch.linspace(0.5, 1.5, 8).view(8, 1, 1))
        self.register_buffer("row", torch.linspace(-0.3, 0.3, 7).view(1, 1, 7))

    def forward(self, x):
        x = self.stem(x)
        pooled = self.gate(F.adaptive_avg_pool2d(x, 1))  # (N, 8, 1, 1)
        y = x * pooled + x  # Mul and Add of (N,8,H,W) with (N,8,1,1)
        y = (y - pooled) / (pooled * pooled + 1.0)  # Sub, Div by a broadcast computed tensor
        y = y * self.scale - 0.25  # constants (8,1,1) and a scalar
        h = y[:, :, :, :7] + self.row  # (1,1,7) constant along the width
        return torch.cat([h, y[:, :, :, 7:]], dim=3) / 2.0


class Activations(Zoo):
    def forward(self, x):
        x = self.stem(x)
        a, b, c, d, e, f, g, h = torch.chunk(x, 8, dim=1)
        parts = [torch.sigmoid(a), torch.tanh(b), F.hardsigmoid(c), F.hardswish(d), F.gelu(e), F.gelu(f, approximate="tanh"), F.softplus(g), F.silu(h)]
        return torch.cat(parts, dim=1)


class PowersAndRoots(Zoo):
    def forward(self, x):
        x = self.stem(x)
        a, b, c, d = torch.chunk(x, 4, dim=1)
        return torch.cat([a.pow(3), torch.sqrt(b * b + 1.0), torch.reciprocal(c * c + 1.0), -d, d.pow(2.0) * 0.5], dim=1)


class Reductions(Zoo):
    def forward(self, x):
        x = self.stem(x)
        spatial = x.mean(dim=(2, 3), keepdim=True)  # ReduceMean keepdims
        rows = x.sum(dim=3, keepdim=True) / x.shape[3]  # ReduceSum over one axis
        channels = x.mean(dim=1, keepdim=True)  # over channels
        y = x - spatial + rows * channels
        flat = y.mean(dim=(2, 3))  # without keepdims: (N, C)
        return flat * y.sum(dim=(2, 3)) / (y.shape[2] * y.shape[3])


class Layout(Zoo):
    """Transpose, Reshape (channel shuffle), Flatten, Squeeze/Unsqueeze, Split/Slice, Concat on other axes."""

    def forward(self, x):
        x = self.stem(x)
        n, c, h, w = x.shape
        shuffled = x.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)
        nhwc = shuffled.permute(0, 2, 3, 1)  # (N, H, W, C)
        top, bottom = nhwc[:, : h // 2], nhwc[:, h // 2 :]  # Slice on axis 1 (H)
        joined = torch.cat([bottom, top], dim=1).permute(0, 3, 1, 2)  # Concat on H, back to NCHW
        left, right = torch.split(joined, [3, w - 3], dim=3)  # Split on W
        y = torch.cat([right, left * 2.0], dim=3)
        z = y.unsqueeze(2).squeeze(2)  # Unsqueeze/Squeeze round trip
        flat = torch.flatten(z, 2)  # (N, C, H*W)
        return flat.view(n, c, h, w)


class LayerNorms(Zoo):
    """LayerNorm over the last axis of an NHWC tensor (ConvNeXt) and over (C, H, W); Linear on the last axis."""

    def __init__(self, size):
        super().__init__()
        self.ln_last = nn.LayerNorm(8, eps=1e-6)
        self.linear = nn.Linear(8, 12)
        self.ln_all = nn.LayerNorm([12, size, size])

    def forward(self, x):
        x = self.stem(x)
        y = self.ln_last(x.permute(0, 2, 3, 1))
        y = self.linear(F.gelu(y)).permute(0, 3, 1, 2)
        return self.ln_all(y)


class DynamicShuffle(Zoo):
    """A channel shuffle whose shape comes from x.shape in the graph (dynamic-size export)."""

    def __init__(self):
        super().__init__()
        self.head = nn.Conv2d(8, 6, 1)

    def forward(self, x):
        x = self.stem(x)
        n, c, h, w = x.shape
        y = x.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, -1, h, w)
        return self.head(y.reshape(n, c, -1).reshape(n, c, h, w))


def zoo_cases(out_dir, only):
    size = (11, 11)
    specs = [
        ("broadcasting", lambda: Broadcasting(), False),
        ("activations", lambda: Activations(), False),
        ("powers", lambda: PowersAndRoots(), False),
        ("reductions", lambda: Reductions(), False),
        ("layout", lambda: Layout(), False),
        ("layernorm", lambda: LayerNorms(size[0]), False),
        ("dynamic-shuffle", lambda: DynamicShuffle(), True),
    ]
    cases = []
    for seed, (name, make, dynamic) in enumerate(specs):
        if only and f"zoo-{name}" not in only:
            continue
        torch.manual_seed(1000 + seed)
        model = randomize(make(), 1000 + seed, size)
        # A dynamic-size export is also checked at another size, where its shape arithmetic gives other values.
        refs = [write_references(out_dir, f"zoo-{name}-{s[0]}x{s[1]}", model, s, [("output", model)], 400 + seed) for s in ([size, (13, 9)] if dynamic else [size])]
        for opset in (13, 17):
            onnx = f"zoo-{name}-opset{opset}.onnx"
            export(model, os.path.join(out_dir, onnx), size, opset, dynamic)
            for r in refs:
                cases.append({"id": f"zoo-{name}-opset{opset}-{r['size'][0]}x{r['size'][1]}", "arch": f"zoo-{name}", "onnx": onnx, "opset": opset, "exportSize": list(size), **r})
    return cases


def main():
    torch.set_num_threads(2)
    out_dir = sys.argv[1]
    only = set(sys.argv[sys.argv.index("--only") + 1].split(",")) if "--only" in sys.argv else None
    os.makedirs(out_dir, exist_ok=True)
    cases = zoo_cases(out_dir, only) + torchvision_cases(out_dir, only)
    manifest = {"torch": torch.__version__, "torchvision": torchvision.__version__, "mean": MEAN.flatten().tolist(), "std": STD.flatten().tolist(), "cases": cases}
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main()
