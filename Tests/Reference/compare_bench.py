#!/usr/bin/env python3
"""Compares two bench result files (JSON lines with model, mode, samples_per_s) row by row.

    python3 Tests/Reference/compare_bench.py NEW.jsonl BASE.jsonl

Prints samples/s of both and the ratio NEW/BASE per (model, mode) row, with each side's
achieved GFLOP/s where the file has it (`gflops`); a row missing on one side is listed as such.
A file may hold several rounds of the same rows (launch/bench-vs-torch.sh --rounds): round i of
NEW is paired with round i of BASE, and the median samples/s, the median ratio of the pairs and
their range are printed.
Used for dist-train vs PyTorch (launch/bench-vs-torch.sh) and for dist-train before vs after a change.
"""
import json
import statistics
import sys


def load(path):
    rows = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                r = json.loads(line)
                rows.setdefault((r["model"], r["mode"]), []).append(r)
    return rows


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    new, base = load(sys.argv[1]), load(sys.argv[2])
    for label, rows in (("new", new), ("base", base)):
        flat = [r for rs in rows.values() for r in rs]
        peaks = [r["sgemm_peak_gflops"] for r in flat if "sgemm_peak_gflops" in r]
        cores = sorted({r.get("blas_core", "?") for r in flat if "blas_core" in r})
        if peaks:
            print(f"{label}: {flat[0].get('impl', '?')}, sgemm peak {statistics.median(peaks):.1f} GFLOP/s "
                  f"(median of {len(peaks)}, {min(peaks):.1f}-{max(peaks):.1f})"
                  + (f", OpenBLAS {', '.join(cores)} kernels" if cores else ""))
    print(f"{'model':<11} {'mode':<13} {'new/s':>9} {'base/s':>9} {'ratio':>7} {'range':>13} {'rounds':>6} "
          f"{'new GF/s':>9} {'base GF/s':>9}")
    for key in sorted(set(new) | set(base)):
        n, b = new.get(key), base.get(key)
        if n is None or b is None:
            print(f"{key[0]:<11} {key[1]:<13} {'missing in ' + ('new' if n is None else 'base'):>29}")
            continue
        pairs = list(zip(n, b))
        ratios = sorted(x["samples_per_s"] / y["samples_per_s"] for x, y in pairs)
        ns = statistics.median(x["samples_per_s"] for x in n)
        bs = statistics.median(y["samples_per_s"] for y in b)
        gn = statistics.median(x["gflops"] for x in n) if all("gflops" in x for x in n) else None
        gb = statistics.median(y["gflops"] for y in b) if all("gflops" in y for y in b) else None
        if gb is None and gn is not None:
            gb = gn * bs / ns  # same work per sample
        print(f"{key[0]:<11} {key[1]:<13} {ns:>9.0f} {bs:>9.0f} {statistics.median(ratios):>6.2f}x "
              f"{ratios[0]:>5.2f}-{ratios[-1]:<5.2f}x {len(pairs):>6} {(gn or 0):>9.1f} {(gb or 0):>9.1f}")


if __name__ == "__main__":
    main()
