#!/usr/bin/env python3
"""Writes a PyTorch model's state_dict with safetensors.torch.save_file, as a user would, for
dist-train's import tests (Tests/ParityTests/TorchInteropTests.swift).

    python3 Tests/Reference/torch_save_state_dict.py OUT_DIR MODEL_NAME DATA_DIR N

Builds the nn.Sequential of docs/pytorch.md for MODEL_NAME with torch.manual_seed(0) (PyTorch's
default initialisation) and writes, in OUT_DIR:
  f32.safetensors    save_file({k: v.float().contiguous()}) : what docs/pytorch.md tells users to do
  bf16.safetensors   save_file({k: v.bfloat16()})            : a half-precision export dist-train refuses
  reference.safetensors  x (the first N Fashion-MNIST test images, pixel / 255, NCHW) and the
                     model's float32 logits on them
The headers are left as save_file wrote them (keys in the Rust writer's order).
"""
import os
import sys

import torch
from safetensors.torch import save_file

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_predict import build, idx  # noqa: E402


def main(out_dir, name, data_dir, n):
    torch.manual_seed(0)
    model = build(name).eval()
    state = model.state_dict()
    os.makedirs(out_dir, exist_ok=True)
    save_file({k: v.float().contiguous() for k, v in state.items()}, os.path.join(out_dir, "f32.safetensors"))
    save_file({k: v.bfloat16().contiguous() for k, v in state.items()}, os.path.join(out_dir, "bf16.safetensors"))
    x = torch.tensor(idx(os.path.join(data_dir, "t10k-images-idx3-ubyte"))[:n], dtype=torch.float32)[:, None] / 255
    with torch.no_grad():
        logits = model(x)
    save_file({"x": x.contiguous(), "logits": logits.contiguous()}, os.path.join(out_dir, "reference.safetensors"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
