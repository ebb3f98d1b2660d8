#!/usr/bin/env python3
"""Loads a dist-train export in PyTorch and prints clean and FGSM predictions as JSON.

    python3 Tests/Reference/torch_predict.py MODEL.safetensors MODEL_NAME DATA_DIR N EPS

The model is the nn.Sequential of docs/pytorch.md, loaded with load_state_dict(strict=True);
inputs are the first N Fashion-MNIST test images (pixel / 255, NCHW); FGSM is
x* = clamp(x + eps·sign(∇ₓ CE), 0, 1) with the gradient of the summed cross-entropy, as
dist-train computes it. Output: {"clean": [...], "fgsm": [...], "labels": [...]}.
"""
import gzip
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file


def build(name):
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    if name == "cnn-small":
        return nn.Sequential(nn.Conv2d(1, 16, 4, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 4, 2, 1), nn.ReLU(), nn.Flatten(),
                             nn.Linear(1568, 100), nn.ReLU(), nn.Linear(100, 10))
    return nn.Sequential(nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 5, padding=2),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3136, 1024), nn.ReLU(), nn.Linear(1024, 10))


def idx(path):
    raw = path if os.path.exists(path) else path + ".gz"
    data = gzip.open(raw).read() if raw.endswith(".gz") else open(raw, "rb").read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main(weights, name, data_dir, n, eps):
    model = build(name)
    model.load_state_dict(load_file(weights), strict=True)
    model.eval()
    x = torch.tensor(idx(os.path.join(data_dir, "t10k-images-idx3-ubyte"))[:n], dtype=torch.float32)[:, None] / 255
    y = torch.tensor(idx(os.path.join(data_dir, "t10k-labels-idx1-ubyte"))[:n].astype(np.int64))
    clean = model(x).argmax(1)
    xa = x.clone().requires_grad_(True)
    F.cross_entropy(model(xa), y, reduction="sum").backward()
    xs = (x + eps * xa.grad.sign()).clamp(0, 1)
    fgsm = model(xs).argmax(1)
    print(json.dumps({"clean": clean.tolist(), "fgsm": fgsm.tolist(), "labels": y.tolist()}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
