#!/usr/bin/env python3
"""Fits the alpha-beta cost model to `dist-train bench --allreduce --json` rows and projects
weak-scaling efficiency.

    python3 Tests/Reference/fit_allreduce.py ALLREDUCE.jsonl BENCH_NP1.jsonl

ALLREDUCE.jsonl: rows with ranks, bytes, seconds (and an optional "link" label, e.g. "1gbit");
BENCH_NP1.jsonl: `dist-train bench --json` rows at 1 rank (the compute time of a step).
For each (link, ranks) group, a least-squares fit of t = a + b·bytes over the size sweep (in
relative error, so latency and bandwidth both count); read as
a ring allreduce, t(p, n) = 2(p−1)·α + 2(p−1)/p · n·β, so α = a / (2(p−1)) and β = b·p / (2(p−1)).
Projection for P nodes (one rank each, per-rank batch as in BENCH): efficiency =
T_step / (T_step + t(P, gradient bytes)), without overlap.
"""
import collections
import json
import sys


def fit(rows):
    """Least squares of t = a + b·bytes in relative terms (weights 1/t²), so that the small
    messages, which carry the latency, count as much as the large ones, which carry the
    bandwidth (an unweighted fit over 4 KiB..64 MiB is all bandwidth, and its intercept noise)."""
    xs = [r["bytes"] for r in rows]
    ys = [r["seconds"] for r in rows]
    ws = [1 / y ** 2 for y in ys]
    sw = sum(ws)
    mx = sum(w * x for w, x in zip(ws, xs)) / sw
    my = sum(w * y for w, y in zip(ws, ys)) / sw
    b = sum(w * (x - mx) * (y - my) for w, x, y in zip(ws, xs, ys)) / sum(w * (x - mx) ** 2 for w, x in zip(ws, xs))
    return my - b * mx, b


def main(allreduce_path, bench_path):
    groups = collections.defaultdict(list)
    sizes = {}
    for line in open(allreduce_path):
        r = json.loads(line)
        if r["what"] == "sweep":
            groups[(r.get("link", "shm"), r["ranks"])].append(r)
        else:
            sizes[r["what"]] = r["bytes"]
    steps = {}
    for line in open(bench_path):
        r = json.loads(line)
        steps[(r["model"], r["mode"])] = r["batch"] / r["samples_per_s"]
    print("| link | ranks | a (s) | b (s/byte) | α per message (µs) | bandwidth 1/β (GB/s) |")
    print("| --- | --- | --- | --- | --- | --- |")
    params = {}
    for (link, p), rows in sorted(groups.items()):
        a, b = fit(rows)
        alpha, beta = max(a, 0) / (2 * (p - 1)), b * p / (2 * (p - 1))
        params[(link, p)] = (alpha, beta)
        print(f"| {link} | {p} | {a:.2e} | {b:.3e} | {alpha * 1e6:.1f} | {1 / beta / 1e9:.3f} |")
    print()
    print("| link | model | mode | step (ms) | gradient MB | allreduce at 8 nodes (ms) | efficiency at 8 | at 64 (ms) | efficiency at 64 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for (link, p), (alpha, beta) in sorted(params.items()):
        if link == "shm":
            continue
        for (model, mode), t in sorted(steps.items()):
            n = sizes.get(model)
            if n is None:
                continue
            out = [f"| {link} | {model} | {mode} | {t * 1e3:.1f} | {n / 1e6:.2f}"]
            for P in (8, 64):
                ta = 2 * (P - 1) * alpha + 2 * (P - 1) / P * n * beta
                out.append(f" | {ta * 1e3:.1f} | {100 * t / (t + ta):.0f}%")
            print("".join(out) + " |")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
