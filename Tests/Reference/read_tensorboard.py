#!/usr/bin/env python3
"""Reads a TensorBoard log directory with TensorBoard's own EventAccumulator and prints JSON.

Used by Tests/ObservatoryTests/TensorBoardReadBackTests.swift to check that the Swift writer's
files are what TensorBoard itself accepts. Needs `pip install tensorboard` (no TensorFlow).

Output: {"scalars":    {tag: [[step, value], ...]},
         "histograms": {tag: [[step, {min, max, num, sum, sum_squares, bucket_limit, bucket}], ...]},
         "texts":      {tag: [[step, text], ...]}}
Non-finite floats are printed as the strings "inf", "-inf", "nan" so any JSON parser reads them.
"""
import json
import math
import sys

from tensorboard.backend.event_processing import event_accumulator
from tensorboard.util import tensor_util


def finite(x):
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def main(directory):
    # size_guidance 0 = keep every event (the default samples down to a reservoir).
    acc = event_accumulator.EventAccumulator(
        directory,
        size_guidance={
            event_accumulator.SCALARS: 0,
            event_accumulator.HISTOGRAMS: 0,
            event_accumulator.TENSORS: 0,
        },
    )
    acc.Reload()
    tags = acc.Tags()
    out = {"scalars": {}, "histograms": {}, "texts": {}}
    for tag in tags["scalars"]:
        out["scalars"][tag] = [[e.step, finite(e.value)] for e in acc.Scalars(tag)]
    for tag in tags["histograms"]:
        rows = []
        for e in acc.Histograms(tag):
            h = e.histogram_value
            rows.append([e.step, {
                "min": finite(h.min), "max": finite(h.max), "num": finite(h.num),
                "sum": finite(h.sum), "sum_squares": finite(h.sum_squares),
                "bucket_limit": [finite(x) for x in h.bucket_limit],
                "bucket": [finite(x) for x in h.bucket],
            }])
        out["histograms"][tag] = rows
    for tag in tags["tensors"]:
        if acc.SummaryMetadata(tag).plugin_data.plugin_name != "text":
            continue
        out["texts"][tag] = [
            [e.step, tensor_util.make_ndarray(e.tensor_proto).item().decode("utf-8")]
            for e in acc.Tensors(tag)
        ]
    json.dump(out, sys.stdout, sort_keys=True)
    print()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: read_tensorboard.py LOG_DIR")
    main(sys.argv[1])
