#!/usr/bin/env python3
"""Robust accuracy of dist-train weights under the reference AutoAttack, for comparison with
`dist-train eval` (see docs/evaluation.md).

    python3 Tests/Reference/autoattack_check.py --weights /tmp/mlp.safetensors --model mlp \
        --samples 1000 --eps 0.1 --attacks aa,apgd-ce,apgd-t,fab-t,square

Loads the safetensors file (PyTorch state_dict names, as `dist-train export` writes them) into
the model's nn.Sequential, takes the first --samples test images of the dataset (IDX files, raw
or .gz) and prints one JSON line in the format of `dist-train eval`:
{"samples":N,"eps":E,"clean":...,"aa":...,"apgd-ce":...}. Progress and times go to stderr.

`aa` is the standard version (APGD-CE, APGD-T, FAB-T, Square, each on the points still
robust); a single component is run alone on the clean-correct points with the standard
version's settings, as AutoAttack's run_standard_evaluation_individual does.

Implementations (--impl):
  pyautoattack  the reference code of fra31/auto-attack as packaged on PyPI (default):
                pip install --no-deps pyautoattack
  torchattacks  torchattacks' port (pip install --no-deps torchattacks); its Square is set
                to resc_schedule=False as in the reference AutoAttack.
--keyed-starts (pyautoattack only) replaces the APGD random starts by dist-train's: the
uniform noise of KeyedRandom(seed, keys: stream, test index, target rank, restart), so APGD-CE
and APGD-T can be compared with `dist-train eval` sample for sample, free of random-number
differences.

Install torch from the local CPU wheel, never a plain `pip install torch` (CUDA build):
  pip install /opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl
"""
from __future__ import annotations

import argparse
import gzip
import json
import logging
import struct
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import load_file

COMPONENTS = ["apgd-ce", "apgd-t", "fab-t", "square"]


def autoattack_model(name: str, channels: int = 1, size: int = 28, classes: int = 10) -> nn.Sequential:
    """The nn.Sequential of docs/pytorch.md for a dist-train model name."""
    q = size // 4
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(channels * size * size, 256), nn.ReLU(),
                             nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, classes))
    if name == "cnn-small":
        return nn.Sequential(nn.Conv2d(channels, 16, 4, stride=2, padding=1), nn.ReLU(),
                             nn.Conv2d(16, 32, 4, stride=2, padding=1), nn.ReLU(),
                             nn.Flatten(), nn.Linear(32 * q * q, 100), nn.ReLU(), nn.Linear(100, classes))
    if name == "cnn-large":
        return nn.Sequential(nn.Conv2d(channels, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(64 * q * q, 1024), nn.ReLU(), nn.Linear(1024, classes))
    raise SystemExit(f"unknown model {name!r}")


def autoattack_idx(path: Path) -> np.ndarray:
    """An IDX file (raw, or path + '.gz')."""
    if not path.exists():
        path = path.with_name(path.name + ".gz")
    data = gzip.open(path, "rb").read() if path.suffix == ".gz" else path.read_bytes()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def autoattack_test_set(directory: Path, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    images = autoattack_idx(directory / "t10k-images-idx3-ubyte")
    labels = autoattack_idx(directory / "t10k-labels-idx1-ubyte")
    if n > 0:
        images, labels = images[:n], labels[:n]
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def autoattack_mix(z):
    """SplitMix64's finaliser on a Python int or a numpy uint64 array (wrapping arithmetic)."""
    if isinstance(z, int):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def autoattack_keyed_uniform(seed: int, keys: list[int], count: int) -> np.ndarray:
    """The first `count` values of KeyedRandom(seed: seed, keys: keys...).uniform(1), exactly
    (Sources/NeuralCore/KeyedRandom.swift)."""
    h = autoattack_mix((seed + GOLDEN) & MASK)
    for k in keys:
        h = autoattack_mix(h ^ autoattack_mix((k + 0xD1B54A32D192ED03) & MASK))
    with np.errstate(over="ignore"):
        states = np.uint64(h) + np.arange(1, count + 1, dtype=np.uint64) * np.uint64(GOLDEN)
        bits = autoattack_mix(states) >> np.uint64(40)
    u = bits.astype(np.float32) * np.float32(1.0 / 16_777_216.0)
    return np.float32(2) * u - np.float32(1)


def autoattack_patch_keyed_starts(model, x_all: torch.Tensor, seed: int) -> None:
    """Makes pyautoattack's APGD start where dist-train's APGDAttack starts:
    x + eps * t / (max|t| + 1e-12), t keyed by (stream, test index, target rank, restart 0)."""
    from pyautoattack.autopgd_base import APGDAttack
    index = {row.numpy().tobytes(): i for i, row in enumerate(x_all)}
    original = APGDAttack.attack_single_run

    def attack_single_run(self, x, y, x_init=None):
        if x_init is None and self.norm == "Linf":
            targeted = self.loss == "dlr-targeted"
            stream = 0xA9D60003 if targeted else (0xA9D60002 if self.loss == "dlr" else 0xA9D60001)
            with torch.no_grad():
                clean = model(x)
            starts = []
            for i in range(x.shape[0]):
                rank = 0
                if targeted:
                    order = sorted(range(clean.shape[1]), key=lambda c: (-clean[i, c].item(), -c))
                    rank = order.index(int(self.y_target[i])) + 1
                t = autoattack_keyed_uniform(seed, [stream, index[x[i].numpy().tobytes()], rank, 0], x[i].numel())
                t = torch.from_numpy(t).reshape(x[i].shape)
                starts.append(x[i] + self.eps * (t / (t.abs().max() + 1e-12)))
            x_init = torch.stack(starts)
        return original(self, x, y, x_init=x_init)

    APGDAttack.attack_single_run = attack_single_run


def autoattack_run_reference(model, x, y, eps, seed, attacks, batch_size):
    """pyautoattack: returns {attack: robust accuracy}, {attack: seconds}."""
    from pyautoattack import AutoAttack

    def fresh():
        aa = AutoAttack(model, device="cpu", eps=eps, norm="Linf", seed=seed, version="standard")
        aa.verbose = True
        return aa

    acc, seconds = {}, {}
    for name in attacks:
        aa = fresh()
        if name != "aa":
            aa.attacks_to_run = [name]        # standard settings, one component alone
        t0 = time.time()
        _, y_adv = aa.run_standard_evaluation(x, y, batch_size=batch_size)
        seconds[name] = time.time() - t0
        acc[name] = (y_adv == y).sum().item() / len(y)
        logging.info("%s: %.4f (%.1f s)", name, acc[name], seconds[name])
    return acc, seconds


def autoattack_run_torchattacks(model, x, y, eps, seed, attacks, batch_size):
    import torchattacks
    from torchattacks.wrappers.multiattack import MultiAttack

    def component(name):
        if name == "apgd-ce":
            return torchattacks.APGD(model, norm="Linf", eps=eps, steps=100, n_restarts=1, loss="ce", rho=.75, seed=seed)
        if name == "apgd-t":
            return torchattacks.APGDT(model, norm="Linf", eps=eps, steps=100, n_restarts=1, rho=.75, n_classes=10, seed=seed)
        if name == "fab-t":
            return torchattacks.FAB(model, norm="Linf", eps=eps, steps=100, n_restarts=1, multi_targeted=True,
                                    n_classes=10, seed=seed)
        if name == "square":
            return torchattacks.Square(model, norm="Linf", eps=eps, n_queries=5000, n_restarts=1, p_init=.8,
                                       loss="margin", resc_schedule=False, seed=seed)
        raise ValueError(name)

    acc, seconds = {}, {}
    for name in attacks:
        attack = MultiAttack([component(c) for c in COMPONENTS]) if name == "aa" else component(name)
        t0 = time.time()
        correct = 0
        for i in range(0, len(y), batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            clean = model(xb).argmax(1) == yb
            adv = attack(xb, yb)
            with torch.no_grad():
                correct += (clean & (model(adv).argmax(1) == yb)).sum().item()
        seconds[name] = time.time() - t0
        acc[name] = correct / len(y)
        logging.info("%s: %.4f (%.1f s)", name, acc[name], seconds[name])
    return acc, seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", required=True, type=Path)
    p.add_argument("--model", required=True, choices=["mlp", "cnn-small", "cnn-large"])
    p.add_argument("--data-dir", type=Path, default=Path("/usr/share/datasets/fashion-mnist"))
    p.add_argument("--samples", type=int, default=1000)
    p.add_argument("--eps", type=float, default=0.1)
    p.add_argument("--attacks", default="aa,apgd-ce,apgd-t,fab-t,square")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--impl", choices=["pyautoattack", "torchattacks"], default="pyautoattack")
    p.add_argument("--keyed-starts", action="store_true", help="APGD starts as dist-train's (pyautoattack only)")
    args = p.parse_args()

    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = autoattack_model(args.model)
    model.load_state_dict(load_file(str(args.weights)), strict=True)
    model.eval()
    x, y = autoattack_test_set(args.data_dir, args.samples)
    attacks = [a for a in args.attacks.split(",") if a]
    for a in attacks:
        if a != "aa" and a not in COMPONENTS:
            raise SystemExit(f"unknown attack {a!r} (known: aa, {', '.join(COMPONENTS)})")
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).sum().item() / len(y)
    if args.keyed_starts:
        if args.impl != "pyautoattack":
            raise SystemExit("--keyed-starts needs --impl pyautoattack")
        autoattack_patch_keyed_starts(model, x, args.seed)
    run = autoattack_run_reference if args.impl == "pyautoattack" else autoattack_run_torchattacks
    acc, seconds = run(model, x, y, args.eps, args.seed, attacks, args.batch_size)
    out = {"samples": len(y), "eps": args.eps, "clean": clean, **acc}
    logging.info("seconds: %s", json.dumps({k: round(v, 1) for k, v in seconds.items()}))
    print(json.dumps(out, separators=(",", ":")))


if __name__ == "__main__":
    main()
