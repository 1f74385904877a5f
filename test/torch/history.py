"""Four checkpoints of one fine-tune of torchvision's resnet18, as ONNX files: what `filter-atlas
history` is tested on (test/history/resnet-history.test.ts).

Version 0 is resnet18 with seeded random weights, its BatchNorm statistics set by one pass over
dataset photos (an untrained net's default statistics shrink or blow up the signal layer by layer).
Versions 1-3 follow after STEPS_PER_VERSION SGD steps each, in which conv1, bn1 and layer1..layer3 are
frozen and only layer4 and fc train, on photos of the 1000-image ImageNet sample with their classes.
The whole net stays in eval mode, so the frozen layers' BatchNorm statistics do not move either: the
frozen layers of all four versions compute exactly the same function, and layer4 does not.
For speed the frozen part runs once (its outputs are cached) and the photos are small (SIZE px).

    /usr/bin/python3 test/torch/history.py OUT_DIR DATASET_DIR

OUT_DIR/manifest.json lists the versions (file, steps, loss); OUT_DIR/resnet18-v<k>.onnx are the
models, exported at SIZE x SIZE with opset 13. Deterministic on one machine: same script, same files.
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.io import ImageReadMode, read_image

SIZE = 112
SEED = 7
VERSIONS = 4
STEPS_PER_VERSION = 100
BATCH = 32
LR = 0.05
TRAIN_IMAGES = 384
# The photos the atlases scan are the sample's first ones; training uses later ones.
FIRST_TRAIN_IMAGE = 200
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def load_photos(dataset_dir):
    """(images, class indices): center-cropped to SIZE, normalised as filter-atlas's ONNX default."""
    classes = {}
    with open(os.path.join(dataset_dir, "classes.tsv")) as f:
        next(f)
        for line in f:
            index, wnid = line.split("\t")[:2]
            classes[wnid] = int(index)
    files = sorted(n for n in os.listdir(dataset_dir) if n.lower().endswith((".jpeg", ".jpg", ".png")))
    files = files[FIRST_TRAIN_IMAGE:FIRST_TRAIN_IMAGE + TRAIN_IMAGES]
    images, labels = [], []
    for name in files:
        x = read_image(os.path.join(dataset_dir, name), ImageReadMode.RGB).float() / 255
        h, w = x.shape[1:]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        x = x[:, top:top + side, left:left + side].unsqueeze(0)
        images.append(F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False))
        labels.append(classes[name.split("_")[0]])
    return (torch.cat(images) - MEAN) / STD, torch.tensor(labels)


def calibrate(model, photos):
    """BatchNorm statistics of one pass over photos (as training would set them)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    model.train()
    with torch.no_grad():
        model(photos[:64])
    return model.eval()


def frozen_part(model, x):
    with torch.no_grad():
        x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
        return model.layer3(model.layer2(model.layer1(x)))


def trained_part(model, features):
    return model.fc(torch.flatten(model.avgpool(model.layer4(features)), 1))


def export(model, path):
    torch.onnx.export(model, torch.rand(1, 3, SIZE, SIZE), path, opset_version=13, input_names=["input"], output_names=["output"])


def main(out_dir, dataset_dir):
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(SEED)
    torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
    photos, labels = load_photos(dataset_dir)
    model = calibrate(torchvision.models.resnet18(weights=None), photos)
    for name, p in model.named_parameters():
        p.requires_grad = name.startswith("layer4.") or name.startswith("fc.")
    features = frozen_part(model, photos)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=LR, momentum=0.9)
    generator = torch.Generator().manual_seed(SEED)
    versions = []
    loss = None
    for version in range(VERSIONS):
        if version > 0:
            for _ in range(STEPS_PER_VERSION):
                batch = torch.randint(0, len(labels), (BATCH,), generator=generator)
                optimizer.zero_grad()
                loss = F.cross_entropy(trained_part(model, features[batch]), labels[batch])
                loss.backward()
                optimizer.step()
        onnx = f"resnet18-v{version}.onnx"
        export(model, os.path.join(out_dir, onnx))
        versions.append({"version": version, "onnx": onnx, "steps": version * STEPS_PER_VERSION, "loss": None if loss is None else float(loss)})
        print(f"version {version}: {version * STEPS_PER_VERSION} steps, loss {versions[-1]['loss']}", file=sys.stderr)
    manifest = {
        "torch": f"torch {torch.__version__} torchvision {torchvision.__version__}",
        "size": SIZE,
        "frozen": ["conv1", "bn1", "layer1", "layer2", "layer3"],
        "trained": ["layer4", "fc"],
        "versions": versions,
    }
    with open(os.path.join(out_dir, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
