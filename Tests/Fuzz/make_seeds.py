#!/usr/bin/env python3
"""Writes the seed corpus under Tests/Fuzz/corpus/<target>/: tiny valid files of each format,
made independently of the Swift code under test (struct, json and zlib only). Run from anywhere;
the output is committed, so run.sh needs no Python.
"""
import gzip
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


def gz(data):
    # mtime=0 so the seeds are reproducible byte for byte.
    return gzip.compress(data, compresslevel=9, mtime=0)


def idx(dims, data):
    return bytes([0, 0, 0x08, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + bytes(data)


def checkpoint(config, epoch, step, global_step, params, momentum, extra):
    header = json.dumps({"configJSON": config, "epoch": epoch, "stepInEpoch": step, "globalStep": global_step,
                         "parameterCount": len(params), "extra": extra},
                        sort_keys=True, separators=(",", ":")).encode()
    body = b"DISTTRCK" + struct.pack("<II", 1, len(header)) + header
    body += struct.pack(f"<{len(params)}f", *params) + struct.pack(f"<{len(momentum)}f", *momentum)
    return body + struct.pack("<I", zlib.crc32(body))


def safetensors(tensors, metadata=None):
    """tensors: list of (name, dtype, shape, raw bytes), packed in the order given."""
    header, buffer = {}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(buffer), len(buffer) + len(raw)]}
        buffer += raw
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + buffer


# idx: an images file 2×3×3, a labels file, a 4-d file; raw and gzip.
images = idx([2, 3, 3], range(0, 18 * 14, 14))
labels = idx([2], [7, 0])
write("idx", "images-2x3x3.idx", images)
write("idx", "images-2x3x3.idx.gz", gz(images))
write("idx", "labels-2.idx", labels)
write("idx", "labels-2.idx.gz", gz(labels))
write("idx", "tensor-1x2x2x2.idx", idx([1, 2, 2, 2], range(8)))

# mnist-loader: 2-byte little-endian length of the images file, images, labels.
def pair(a, b):
    return struct.pack("<H", len(a)) + a + b
write("mnist-loader", "raw", pair(images, labels))
write("mnist-loader", "gzip", pair(gz(images), gz(labels)))
write("mnist-loader", "one-sample", pair(idx([1, 2, 2], [0, 85, 170, 255]), idx([1], [9])))

# cifar10: records of 1 label byte + 3072 pixel bytes; raw and gzip.
def record(label, seed):
    return bytes([label]) + bytes((p * 7 + seed) % 256 for p in range(3072))
write("cifar10", "one-record.bin", record(3, 0))
write("cifar10", "two-records.bin", record(0, 1) + record(9, 2))
write("cifar10", "two-records.bin.gz", gz(record(0, 1) + record(9, 2)))

# checkpoint: empty model, a small model with extra metadata.
write("checkpoint", "empty.ckpt", checkpoint("{}", 0, 0, 0, [], [], {}))
write("checkpoint", "small.ckpt", checkpoint('{"model":"mlp","lr":0.1}', 2, 5, 45, [1.5, -2.0, 0.25],
                                             [0.0, 0.125, -1.0], {"dataset": "mnist", "ranks": "4"}))

# safetensors: one F32 tensor; several dtypes with metadata; a scalar and an empty tensor.
write("safetensors", "f32.safetensors", safetensors([("w", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4))]))
write("safetensors", "mixed.safetensors", safetensors([
    ("a.bias", "F64", [2], struct.pack("<2d", 0.5, -1.0)),
    ("b.half", "F16", [3], struct.pack("<3e", 1.0, -2.0, 0.5)),
    ("c.bf16", "BF16", [2], bytes([0x80, 0x3f, 0x00, 0xc0])),
    ("d.labels", "I64", [2], struct.pack("<2q", 3, -4)),
    ("e.mask", "BOOL", [3], bytes([1, 0, 1])),
    ("f.u8", "U8", [1, 2], bytes([0, 255])),
], {"format": "pt", "step": "10"}))
write("safetensors", "scalar-and-empty.safetensors", safetensors([
    ("s", "F32", [], struct.pack("<f", 3.0)),
    ("z", "I32", [0, 4], b""),
]))
