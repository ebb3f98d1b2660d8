#!/usr/bin/env python3
"""Writes the PyTorch parity fixtures read by Tests/ParityTests (and one safetensors sample
read by Tests/DataIOTests/SafeTensorsTests.swift).

    python3 Tests/Reference/make_parity.py            # from the repository root

Needs torch (CPU build), safetensors and numpy; see Tests/Reference/requirements.txt.
The output is deterministic: rerunning it rewrites identical files. Not run by `swift test`.

For each model (mlp and cnn-small on 1x12x12 inputs with stored weights; cnn-large on the real
1x28x28 input with weights drawn from KeyedRandom, which the Swift side regenerates) one file
Tests/ParityTests/Fixtures/<model>.safetensors holds:

  x, labels, x_adv            a batch of B = 8 images in [0, 1] (multiples of 1/255, like the
                              datasets), labels, and x* = clamp(x + delta, 0, 1) with a fixed,
                              FGSM-RS-like delta = clip(u + s * 1.25 eps * sign(grad_x CE(x)), -eps, eps),
                              u ~ U(-eps, eps), s = +1 for even and -1 for odd samples (so the
                              AAE mask is mixed), eps = 0.1
  x_fgsm                      clamp(x + eps * sign(grad_x sum_i CE(x_i, y_i)), 0, 1), float32
  param.<key>                 initial weights (state_dict key), or for cnn-large init.bound.<key>
                              and init.sum.<key> (see keyed_uniform)
  logits                      (2B, 10): rows of x, then rows of x*
  energy_clean, joint_clean,  E(x) = -logsumexp f(x), E(x,y) = -f(x)_y, likewise for x*,
  energy_adv, joint_adv,      CE = E(x,y) - E(x), DER_i = max(||[E(x)-E(x*), E(x,y)-E(x*,y)]|| - gamma, 0),
  ce_clean, ce_adv, der, aae  AAE mask = [CE(x*) < CE(x)]
  <mode>.loss                 (1/B) sum_i [CE(x*_i) + beta * m_i * DER_i], mode all (m = 1) or aae
  <mode>.grad.<key>           d loss / d parameter (x* constant; gradient through both passes)
  <mode>.grad_norm.<key>      its L2 norm
  sgd.loss                    loss before each of 10 SGD steps (mode aae, same batch and the same
                              fixed x* every step), momentum 0.9, weight decay 5e-4, lr 0.05
  sgd.param.<key>             parameters after the 10 steps; sgd.update_norm.<key> = ||final - initial||

For cnn-large (3.3M parameters) tensors of more than SUBSET elements are stored at the sorted
indices index.<key> (I32) only; norms are always over the whole tensor. The last Linear layer's
initial weights and bias are scaled by a gain (MODELS) so the energy gaps straddle gamma: at
PyTorch's default init every gap is below gamma and DER would go untested.

References are computed in float64 from the float32 weights and inputs, so they carry no float32
rounding of their own; the Swift float32 results are compared against them.
"""
from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = ROOT / "Tests" / "ParityTests" / "Fixtures"

CLASSES = 10
BATCH = 8
BETA = 0.7
GAMMA = 0.05
EPS = 0.1
LR = 0.05
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
STEPS = 10
SUBSET = 4096
# Every per-sample CE(x*) - CE(x) and DER norm - gamma must stay this far from 0 in every
# evaluation (main case and every SGD step), so float32 rounding cannot flip a mask or a kink.
MARGIN = 2e-4

MODELS = {
    # name: (input shape (C, H, W), weights stored or drawn from KeyedRandom, last-layer gain, base seed)
    "mlp": ((1, 12, 12), "stored", 1.25, 100),
    "cnn-small": ((1, 12, 12), "stored", 4.0, 200),
    "cnn-large": ((1, 28, 28), "keyed-random", 3.5, 300),
}


def build(kind: str, shape: tuple[int, int, int], classes: int = CLASSES) -> nn.Sequential:
    """The nn.Sequential each ModelKind mirrors (Sources/NeuralCore/Models.swift)."""
    c, h, w = shape
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, 256), nn.ReLU(),
                             nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, classes))
    if kind == "cnn-small":
        features = nn.Sequential(nn.Conv2d(c, 16, 4, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 4, 2, 1), nn.ReLU(),
                                 nn.Flatten())
        flat = features(torch.zeros(1, c, h, w)).shape[1]        # 32 * (h/4) * (w/4)
        return nn.Sequential(*features, nn.Linear(flat, 100), nn.ReLU(), nn.Linear(100, classes))
    if kind == "cnn-large":
        features = nn.Sequential(nn.Conv2d(c, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        flat = features(torch.zeros(1, c, h, w)).shape[1]        # 64 * (h/4) * (w/4): 3136 for 28x28
        return nn.Sequential(*features, nn.Linear(flat, 1024), nn.ReLU(), nn.Linear(1024, classes))
    raise ValueError(kind)


# ---- KeyedRandom (Sources/NeuralCore/KeyedRandom.swift), vectorised -------------------------
MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def _mix(z):
    """SplitMix64's finaliser on a Python int or a numpy uint64 array (wrapping arithmetic)."""
    if isinstance(z, int):
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def keyed_uniform(seed: int, key: int, count: int, bound: np.float32) -> np.ndarray:
    """The first `count` values of KeyedRandom(seed: seed, keys: key).uniform(bound), exactly:
    (2 * Float(next() >> 40) * 2^-24 - 1) * bound in float32."""
    h = _mix((seed + GOLDEN) & MASK)
    h = _mix(h ^ _mix((key + 0xD1B54A32D192ED03) & MASK))
    with np.errstate(over="ignore"):
        states = np.uint64(h) + np.arange(1, count + 1, dtype=np.uint64) * np.uint64(GOLDEN)
        bits = _mix(states) >> np.uint64(40)
    u = bits.astype(np.float32) * np.float32(1.0 / 16_777_216.0)
    return (np.float32(2) * u - np.float32(1)) * np.float32(bound)


# ---- data ----------------------------------------------------------------------------------
def images(gen: torch.Generator, n: int, shape: tuple[int, int, int]) -> torch.Tensor:
    """Digit-like images: a few soft strokes on black, quantised to k/255 like the datasets."""
    c, h, w = shape
    yy, xx = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64),
                            indexing="ij")
    out = torch.zeros(n, c, h, w, dtype=torch.float64)
    width = 0.06 * max(h, w)
    for i in range(n):
        for _ in range(3):
            p0 = (torch.rand(2, generator=gen, dtype=torch.float64) * 0.6 + 0.2) * torch.tensor([h, w])
            p1 = (torch.rand(2, generator=gen, dtype=torch.float64) * 0.6 + 0.2) * torch.tensor([h, w])
            for t in torch.linspace(0, 1, 16, dtype=torch.float64):
                p = p0 + t * (p1 - p0)
                out[i] += torch.exp(-((yy - p[0]) ** 2 + (xx - p[1]) ** 2) / (2 * width ** 2)) * 0.35
    out = torch.clamp(out, 0, 1)
    return (torch.round(out * 255) / 255).to(torch.float32)


# ---- the objective -------------------------------------------------------------------------
def objective(model: nn.Module, x: torch.Tensor, xa: torch.Tensor, y: torch.Tensor, mode: str) -> dict:
    """EnergyObjective.compute in autograd form, on a forward of [x; x*]."""
    n = x.shape[0]
    logits = model(torch.cat([x, xa]))
    fc, fa = logits[:n], logits[n:]
    e_c, e_a = -torch.logsumexp(fc, 1), -torch.logsumexp(fa, 1)
    ey_c, ey_a = -fc.gather(1, y[:, None]).squeeze(1), -fa.gather(1, y[:, None]).squeeze(1)
    ce_c, ce_a = ey_c - e_c, ey_a - e_a
    r = torch.sqrt((e_c - e_a) ** 2 + (ey_c - ey_a) ** 2)
    der = torch.relu(r - GAMMA)
    aae = (ce_a < ce_c).detach().to(logits.dtype)
    m = torch.ones_like(aae) if mode == "all" else aae
    loss = (ce_a + BETA * m * der).sum() / BATCH
    check = nn.functional.cross_entropy(fa, y, reduction="none")
    tight = logits.dtype == torch.float64
    assert torch.allclose(check, ce_a, rtol=1e-10 if tight else 1e-5, atol=1e-12 if tight else 1e-6), "CE"
    return dict(logits=logits, energy_clean=e_c, joint_clean=ey_c, energy_adv=e_a, joint_adv=ey_a,
                ce_clean=ce_c, ce_adv=ce_a, der=der, aae=aae, loss=loss, r=r)


def margin(out: dict) -> float:
    """Distance of the nearest sample to a mask flip or the DER kink."""
    return min((out["ce_adv"] - out["ce_clean"]).abs().min().item(), (out["r"] - GAMMA).abs().min().item())


def fgsm(model: nn.Module, x32: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, float]:
    """x + eps * sign(grad_x sum_i CE) clamped to [0, 1], added in float32 as the Swift side does."""
    x = x32.double().requires_grad_(True)
    loss = nn.functional.cross_entropy(model(x), y, reduction="sum")
    (g,) = torch.autograd.grad(loss, x)
    step = torch.sign(g).to(torch.float32) * torch.tensor(EPS, dtype=torch.float32)
    return torch.clamp(x32 + step, 0, 1), g.abs().min().item(), g


def subset_indices(numel: int, seed: int) -> np.ndarray | None:
    if numel <= SUBSET:
        return None
    rng = np.random.default_rng(seed)
    idx = rng.choice(numel, SUBSET - 2, replace=False)
    return np.unique(np.concatenate([[0, numel - 1], idx])).astype(np.int32)


# ---- one model -----------------------------------------------------------------------------
def case(kind: str, shape, weights: str, gain: float, seed: int) -> tuple[dict, dict] | None:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model32 = build(kind, shape)
    out: dict[str, torch.Tensor] = {}
    last = str(len(model32) - 1)
    with torch.no_grad():
        for t, (key, p) in enumerate(model32.named_parameters()):
            layer_gain = gain if key.startswith(last + ".") else 1.0
            if weights == "keyed-random":
                weight = dict(model32.named_parameters())[key.rsplit(".", 1)[0] + ".weight"]
                bound = np.float32(layer_gain / math.sqrt(weight[0].numel()))      # gain / sqrt(fan_in)
                p.copy_(torch.from_numpy(keyed_uniform(seed, t, p.numel(), bound)).view_as(p))
                out[f"init.bound.{key}"] = torch.tensor(float(bound), dtype=torch.float32)
                out[f"init.sum.{key}"] = p.double().sum()
            else:
                p.mul_(layer_gain)
                out[f"param.{key}"] = p.detach().clone()
    initial = {k: p.detach().clone() for k, p in model32.named_parameters()}

    x = images(gen, BATCH, shape)
    y = torch.randint(0, CLASSES, (BATCH,), generator=gen)
    model = build(kind, shape).double()
    model.load_state_dict({k: v.double() for k, v in model32.state_dict().items()})
    params = list(model.parameters())
    x_fgsm, min_input_grad, input_grad = fgsm(model, x, y)
    # The fixed delta: a uniform start plus a signed step of 1.25 eps, clipped to the eps-ball,
    # up the CE gradient for even samples and down it for odd ones, so the AAE mask is mixed.
    u = (torch.rand(x.shape, generator=gen, dtype=torch.float64) * 2 - 1) * EPS
    s = torch.tensor([1.0, -1.0] * (BATCH // 2), dtype=torch.float64).view(BATCH, 1, 1, 1)
    delta = torch.clamp(u + s * 1.25 * EPS * torch.sign(input_grad), -EPS, EPS)
    xa = torch.clamp(x.double() + delta, 0, 1).to(torch.float32)
    out["x"], out["labels"], out["x_adv"], out["x_fgsm"] = x, y, xa, x_fgsm

    # Only cnn-large (weights not stored) keeps subsets of its large tensors.
    subsets = {k: subset_indices(p.numel(), seed + t) if weights == "keyed-random" else None
               for t, (k, p) in enumerate(model.named_parameters())}
    for k, idx in subsets.items():
        if idx is not None:
            out[f"index.{k}"] = torch.from_numpy(idx)

    def store(prefix: str, key: str, value: torch.Tensor):
        idx = subsets[key]
        flat = value.detach().reshape(-1)
        out[f"{prefix}.{key}"] = (flat[torch.from_numpy(idx).long()] if idx is not None else value.detach()).float()

    margins = []
    f32_vs_f64 = 0.0
    for mode in ("all", "aae"):
        res = objective(model, x.double(), xa.double(), y, mode)
        margins.append(margin(res))
        grads = torch.autograd.grad(res["loss"], params)
        if mode == "all":
            for q in ("logits", "energy_clean", "joint_clean", "energy_adv", "joint_adv", "ce_clean", "ce_adv",
                      "der", "aae"):
                out[q] = res[q].detach().float()
        out[f"{mode}.loss"] = res["loss"].detach().clone()
        for (k, _), g in zip(model.named_parameters(), grads):
            store(f"{mode}.grad", k, g)
            out[f"{mode}.grad_norm.{k}"] = g.norm()
        # How far plain float32 torch is from the float64 reference (for the tolerance's sake).
        res32 = objective(model32, x, xa, y, mode)
        grads32 = torch.autograd.grad(res32["loss"], list(model32.parameters()))
        for g, g32 in zip(grads, grads32):
            scale = g.abs().max().item()
            f32_vs_f64 = max(f32_vs_f64, ((g32.double() - g).abs() / (g.abs() + 1e-2 * scale)).max().item())

    # SGD trajectory, mode aae, fixed x*.
    opt = torch.optim.SGD(params, lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        res = objective(model, x.double(), xa.double(), y, "aae")
        margins.append(margin(res))
        losses.append(res["loss"].item())
        res["loss"].backward()
        opt.step()
    out["sgd.loss"] = torch.tensor(losses, dtype=torch.float64)
    for k, p in model.named_parameters():
        store("sgd.param", k, p)
        out[f"sgd.update_norm.{k}"] = (p.detach() - initial[k].double()).norm()

    stats = dict(margin=min(margins), min_input_grad=min_input_grad, f32_vs_f64=f32_vs_f64,
                 aae=out["aae"].tolist(), der_active=int((out["der"] > 0).sum()), losses=losses)
    if min(margins) < MARGIN:
        return None
    return out, stats


def save(tensors: dict, path: Path, metadata: dict):
    """save_file, then the header rewritten with sorted keys: the Rust writer emits the header's
    keys in hash order, which would make every regeneration differ. The buffer is unchanged."""
    save_file(tensors, str(path), metadata=metadata)
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.dumps(json.loads(raw[8:8 + n]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    path.write_bytes(struct.pack("<Q", len(header)) + header + raw[8 + n:])
    path.chmod(0o644)


def write_models():
    for kind, (shape, weights, gain, base) in MODELS.items():
        for seed in range(base, base + 50):
            result = case(kind, shape, weights, gain, seed)
            if result is None:
                print(f"{kind}: seed {seed} has a sample within {MARGIN} of a mask flip or DER kink; next seed")
                continue
            out, stats = result
            break
        else:
            raise SystemExit(f"{kind}: no seed with margins >= {MARGIN}")
        metadata = {
            "model": kind, "input": "x".join(map(str, shape)), "classes": str(CLASSES), "batch": str(BATCH),
            "beta": str(BETA), "gamma": str(GAMMA), "epsilon": str(EPS), "lr": str(LR),
            "momentum": str(MOMENTUM), "weight_decay": str(WEIGHT_DECAY), "steps": str(STEPS),
            "sgd_mode": "aae", "weights": weights, "last_layer_gain": str(gain), "seed": str(seed), "torch": torch.__version__,
            "reference": "float64",
        }
        tensors = {k: v.contiguous() for k, v in out.items()}
        path = FIXTURES / f"{kind}.safetensors"
        save(tensors, path, metadata)
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes, seed {seed}, margin {stats['margin']:.2e}, "
              f"min |grad_x| {stats['min_input_grad']:.1e}, aae {stats['aae']}, DER>0 in {stats['der_active']}/8, "
              f"torch f32 vs f64 worst grad rel {stats['f32_vs_f64']:.1e}, "
              f"sgd loss {stats['losses'][0]:.4f} -> {stats['losses'][-1]:.4f}")


def write_sample():
    """A small file of every common dtype, for SafeTensorsTests (written by save_file itself)."""
    tensors = {
        "weight": torch.tensor([[1.5, -2.25, 0.0], [3e-8, 42.0, -0.0]], dtype=torch.float32),
        "labels": torch.tensor([0, 7, -1, 2 ** 40], dtype=torch.int64),
        "scalar": torch.tensor(math.pi, dtype=torch.float64),
        "half": torch.tensor([1.0, -0.5, 65504.0], dtype=torch.float16),
        "brain": torch.tensor([1.0, -2.5], dtype=torch.bfloat16),
        "count": torch.tensor([[123456]], dtype=torch.int32),
        "mask": torch.tensor([True, False, True]),
        "empty": torch.zeros(0, 3, dtype=torch.float32),
    }
    path = FIXTURES / "pytorch-sample.safetensors"
    save(tensors, path, {"format": "pt", "note": "SafeTensorsTests"})
    print(f"{path.relative_to(ROOT)}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    write_sample()
    write_models()
