#!/usr/bin/env python3
"""Compares two bench result files (JSON lines with model, mode, samples_per_s) row by row.

    python3 Tests/Reference/compare_bench.py NEW.jsonl BASE.jsonl

Prints samples/s of both and the ratio NEW/BASE per (model, mode) row, with each side's
achieved GFLOP/s where the file has it (`gflops`); a row missing on one side is listed as such.
Used for dist-train vs PyTorch (launch/bench-vs-torch.sh) and for dist-train before vs after a change.
"""
import json
import sys


def load(path):
    rows = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                r = json.loads(line)
                rows[(r["model"], r["mode"])] = r
    return rows


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    new, base = load(sys.argv[1]), load(sys.argv[2])
    print(f"{'model':<11} {'mode':<13} {'new/s':>9} {'base/s':>9} {'ratio':>7} {'new GF/s':>9} {'base GF/s':>9}")
    for key in sorted(set(new) | set(base)):
        n, b = new.get(key), base.get(key)
        if n is None or b is None:
            print(f"{key[0]:<11} {key[1]:<13} {'missing in ' + ('new' if n is None else 'base'):>29}")
            continue
        gn, gb = n.get("gflops"), b.get("gflops")
        if gb is None and gn is not None:
            gb = gn * b["samples_per_s"] / n["samples_per_s"]  # same work per sample
        ratio = n["samples_per_s"] / b["samples_per_s"]
        print(f"{key[0]:<11} {key[1]:<13} {n['samples_per_s']:>9.0f} {b['samples_per_s']:>9.0f} {ratio:>6.2f}x "
              f"{(gn or 0):>9.1f} {(gb or 0):>9.1f}")


if __name__ == "__main__":
    main()
