#!/usr/bin/env python3
"""PyTorch reference for `dist-train bench`: the same models, attacks, DER objective and SGD
step, timed the same way (warm-up, then the median of repeated blocks of at least --seconds).

    python3 Tests/Reference/torch_bench.py --threads 1 --json > torch.jsonl

Prints one JSON object per row: model, mode, samples_per_s (median), min, max, and the
torch sgemm peak measured in the same run. Needs a CPU torch (install it from the local wheel
folder, e.g. pip install /opt/wheels/torch-*+cpu-*.whl; a plain `pip install torch` pulls CUDA).
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def build(model):
    if model == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    if model == "cnn-small":
        return nn.Sequential(nn.Conv2d(1, 16, 4, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 4, 2, 1), nn.ReLU(), nn.Flatten(),
                             nn.Linear(1568, 100), nn.ReLU(), nn.Linear(100, 10))
    if model == "cnn-large":
        return nn.Sequential(nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 5, padding=2),
                             nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3136, 1024), nn.ReLU(), nn.Linear(1024, 10))
    raise ValueError(model)


def input_grad(model, x, y):
    """∇ₓ Σ CE and the per-sample CE, without parameter gradients."""
    x = x.clone().requires_grad_(True)
    ce = F.cross_entropy(model(x), y, reduction="none")
    (g,) = torch.autograd.grad(ce.sum(), x)
    return g, ce.detach()


def attack(model, x, y, mode, eps):
    """x* and the CE at the attack's start (the AAE reference), as dist-train computes them."""
    if mode == "fgsm-rs-der":
        alpha = 1.25 * eps
        x0 = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
        g, ce0 = input_grad(model, x0, y)
        return (x + (x0 + alpha * g.sign() - x).clamp(-eps, eps)).clamp(0, 1), ce0
    steps, alpha = 10, 2.5 * eps / 10
    xa = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    ce0 = None
    for t in range(steps):
        g, ce = input_grad(model, xa, y)
        if t == 0:
            ce0 = ce
        xa = (x + (xa + alpha * g.sign() - x).clamp(-eps, eps)).clamp(0, 1)
    return xa, ce0


def der_loss(model, x, xa, y, ce_ref, beta, gamma, only_aae):
    n = x.shape[0]
    logits = model(torch.cat([x, xa]))
    fc, fa = logits[:n], logits[n:]
    e_c, e_a = -torch.logsumexp(fc, 1), -torch.logsumexp(fa, 1)
    j_c, j_a = -fc.gather(1, y[:, None])[:, 0], -fa.gather(1, y[:, None])[:, 0]
    ce_adv = j_a - e_a
    der = torch.relu(torch.stack([e_c - e_a, j_c - j_a], 1).norm(dim=1) - gamma)
    mask = (ce_adv.detach() < ce_ref).float() if only_aae else torch.ones_like(der)
    return (ce_adv + beta * mask * der).mean()


def step(model, opt, x, y, mode, eps):
    if mode == "plain":
        loss = F.cross_entropy(model(x), y)
    else:
        xa, ce_ref = attack(model, x, y, mode, eps)
        loss = der_loss(model, x, xa.detach(), y, ce_ref, 1.0, 0.0, only_aae=(mode == "fgsm-rs-der"))
    opt.zero_grad(set_to_none=False)
    loss.backward()
    opt.step()


def measure(model_name, mode, batch, repeats, seconds, eps=0.1):
    torch.manual_seed(1)
    model = build(model_name)
    opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9, weight_decay=5e-4)
    x = torch.rand(batch, 1, 28, 28)
    y = torch.randint(0, 10, (batch,))
    for _ in range(3):
        step(model, opt, x, y, mode, eps)
    rates = []
    for _ in range(repeats):
        t0, n = clock(), 0
        while True:
            step(model, opt, x, y, mode, eps)
            n += 1
            dt = clock() - t0
            if dt >= seconds:
                break
        rates.append(n * batch / dt)
    return statistics.median(rates), min(rates), max(rates)


clock = time.perf_counter


def sgemm_peak(n=1024):
    a, b = torch.rand(n, n), torch.rand(n, n)
    best, deadline = 0.0, clock() + 1.0
    while clock() < deadline:
        t0 = clock()
        torch.mm(a, b)
        best = max(best, 2 * n ** 3 / (clock() - t0) / 1e9)
    return best


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="mlp,cnn-small")
    p.add_argument("--modes", default="plain,fgsm-rs-der,pgd10-der")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--seconds", type=float, default=0.5)
    p.add_argument("--cpu-clock", action="store_true",
                   help="time with this thread's CPU clock (time.thread_time) instead of the wall clock: "
                        "for a machine shared with other jobs, with --threads 1 only")
    a = p.parse_args()
    if a.cpu_clock:
        if a.threads != 1:
            p.error("--cpu-clock needs --threads 1")
        global clock
        clock = time.thread_time
    torch.set_num_threads(a.threads)
    peak = sgemm_peak()
    for m in a.models.split(","):
        for mode in a.modes.split(","):
            med, lo, hi = measure(m, mode, a.batch_size, a.repeats, a.seconds)
            print(json.dumps({"model": m, "mode": mode, "batch": a.batch_size, "threads": a.threads,
                              "samples_per_s": med, "samples_per_s_min": lo, "samples_per_s_max": hi,
                              "sgemm_peak_gflops": peak, "clock": "cpu" if a.cpu_clock else "wall",
                              "impl": "torch " + torch.__version__}), flush=True)


if __name__ == "__main__":
    main()
