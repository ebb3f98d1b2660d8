#!/usr/bin/env python3
"""FLOPs and activation bytes per sample of each bench row (docs/performance.md, roofline table).

Counts, per sample of the global batch, the multiply-adds of every layer (2 FLOPs each, GEMM
equivalent) and the activation bytes each pass reads and writes (float32; weights are read once
per batch and left out). Passes per training step, as dist-train runs them:
  plain        forward(x) + backward with parameter gradients (x)
  fgsm-rs-der  attack: forward + input-gradient backward (x0); forward([x; x*]);
               backward with parameter gradients of x* (and of the few AAE clean samples: left out)
  pgd10-der    10 x (forward + input-gradient backward); forward([x; x*]); backward of both
Usage: roofline.py [dist-train.jsonl]  (with a bench --json file: achieved GFLOP/s and GB/s too)
"""
import json
import sys


def layers(model):
    """(name, macs, in_floats, out_floats, has_weights) per layer, for one 1x28x28 sample."""
    out = []
    if model == "mlp":
        dims = [784, 256, 256, 10]
        for i, (a, b) in enumerate(zip(dims, dims[1:])):
            out.append((f"linear{i}", a * b, a, b, True))
            if i < 2:
                out.append(("relu", 0, b, b, False))
        return out
    if model == "cnn-small":
        out += [("conv1", 14 * 14 * 16 * 16, 784, 3136, True), ("relu", 0, 3136, 3136, False),
                ("conv2", 7 * 7 * 32 * 256, 3136, 1568, True), ("relu", 0, 1568, 1568, False),
                ("flatten", 0, 1568, 1568, False), ("fc1", 1568 * 100, 1568, 100, True),
                ("relu", 0, 100, 100, False), ("fc2", 100 * 10, 100, 10, True)]
        return out
    if model == "cnn-large":
        out += [("conv1", 28 * 28 * 32 * 25, 784, 25088, True), ("relu", 0, 25088, 25088, False),
                ("pool", 0, 25088, 6272, False), ("conv2", 14 * 14 * 64 * 800, 6272, 12544, True),
                ("relu", 0, 12544, 12544, False), ("pool", 0, 12544, 3136, False),
                ("flatten", 0, 3136, 3136, False), ("fc1", 3136 * 1024, 3136, 1024, True),
                ("relu", 0, 1024, 1024, False), ("fc2", 1024 * 10, 1024, 10, True)]
        return out
    raise ValueError(model)


def passes(model):
    """(flops, bytes) of one forward, one input-gradient backward and one parameter backward."""
    ls = layers(model)
    fwd = sum(2 * m for _, m, _, _, _ in ls), sum(4 * (i + o) for _, _, i, o, _ in ls)
    # input gradient: dy in, dx out, plus y (ReLU) or x (pool) read; the first layer's dx is
    # needed (the attack's gradient w.r.t. the input)
    bx = sum(2 * m for _, m, _, _, _ in ls), sum(4 * (2 * i + o) for _, _, i, o, _ in ls)
    # parameter backward: weights' gradient too (another x read), no dx for the first layer
    first = ls[0]
    bp = (sum(4 * m for _, m, _, _, w in ls if w) + sum(2 * m for _, m, _, _, w in ls if not w) - 2 * first[1],
          sum(4 * (2 * i + o) + (4 * i if w else 0) for _, _, i, o, w in ls) - 4 * first[2])
    return fwd, bx, bp


def row(model, mode):
    fwd, bx, bp = passes(model)
    if mode == "plain":
        counts = [(fwd, 1), (bp, 1)]
    elif mode == "fgsm-rs-der":
        counts = [(fwd, 1), (bx, 1), (fwd, 2), (bp, 1)]
    else:
        counts = [(fwd, 10), (bx, 10), (fwd, 2), (bp, 2)]
    flops = sum(p[0] * c for p, c in counts)
    nbytes = sum(p[1] * c for p, c in counts)
    return flops, nbytes


def main():
    achieved = {}
    if len(sys.argv) > 1:
        for line in open(sys.argv[1]):
            r = json.loads(line)
            achieved[(r["model"], r["mode"])] = r["samples_per_s"]
    print("| model | mode | MFLOP per sample | activation MB per sample | FLOP per byte | achieved GFLOP/s | achieved GB/s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for model in ["mlp", "cnn-small", "cnn-large"]:
        for mode in ["plain", "fgsm-rs-der", "pgd10-der"]:
            f, b = row(model, mode)
            s = achieved.get((model, mode))
            extra = f"| {f * s / 1e9:.1f} | {b * s / 1e9:.1f} |" if s else "| | |"
            print(f"| {model} | {mode} | {f / 1e6:.1f} | {b / 1e6:.2f} | {f / b:.0f} " + extra)


if __name__ == "__main__":
    main()
