#!/usr/bin/env bash
# weak-scaling.sh -- weak-scaling efficiency from 1 to N ranks on this machine, row by row.
#
#   launch/weak-scaling.sh [--ranks N] [--models mlp,cnn-small,cnn-large] [--modes plain,...]
#                          [--rounds R] [--repeats K] [--seconds S] [--out DIR]
#
# For each model and mode and each of R rounds (default 3): `dist-train bench` at 1 rank
# (batch 128), then under mpirun at N ranks (default 2; global batch 128·N, so 128 per rank), then
# at 1 rank again, back to back: a machine whose speed drifts between processes (shared or
# virtual hosts) then shows up in the ranges, not as a scaling loss. Every side times with its
# thread's CPU clock (--cpu-clock), one BLAS thread per rank, ranks bound to cores (unless N is
# more than the cores). --repeats and --seconds go to every bench (defaults 5 and 0.5).
# Efficiency = samples/s at N ranks / (N × the mean of the two 1-rank runs around it). Also
# printed: the best block at N ranks, and the allreduce bound T / (T + t): T the 1-rank step,
# t one blocking allreduce of the gradients at N ranks (no overlap); the sync bound: the ranks'
# mean compute per step over the slowest rank's step by step plus t (a synchronous step waits
# for the slowest rank); and the rank speed: the 1-rank step over the ranks' mean compute at N
# ranks (below 100%: each rank computes slower than alone). Efficiency ≈ rank speed × sync bound.
# Each round also runs the N ranks independently (`bench --independent`: every rank its own
# model, no communication): the machine bound is their summed samples/s over N × 1 rank, what
# N ranks computing at once get from this machine (shared caches, memory, the host), which no
# weak scaling can exceed; the next column is the efficiency over that bound. The N-rank bench
# runs with --paired-single: after each of its timed blocks one rank trains its shard alone while
# the others sleep, and the paired efficiency (last column, median over blocks and rounds) is
# each N-rank block against N × the one-rank block right after it, in the same processes: the
# efficiency with the host's drift between runs taken out.
#
# DIST_TRAIN_BIN names another dist-train binary (default .build/release/dist-train).
# Writes DIR/np1.jsonl, DIR/npN.jsonl and DIR/npN-independent.jsonl (default DIR:
# runs/weak-<date-time>).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ranks=2 models=mlp,cnn-small,cnn-large modes=plain,fgsm-rs-der,pgd10-der rounds=3 repeats=5 seconds=0.5
out="$ROOT/runs/weak-$(date -u +%Y%m%d-%H%M%S)"
while [ $# -gt 0 ]; do
  case "$1" in
    --ranks) ranks=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --repeats) repeats=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "weak-scaling: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ "$ranks" =~ ^[1-9][0-9]*$ ]] || { echo "weak-scaling: --ranks must be a positive integer" >&2; exit 2; }
bin="${DIST_TRAIN_BIN:-$ROOT/.build/release/dist-train}"
[ -x "$bin" ] || (cd "$ROOT" && swift build -c release --product dist-train)
mkdir -p "$out"
: > "$out/np1.jsonl"; : > "$out/np$ranks.jsonl"; : > "$out/np$ranks-independent.jsonl"
export OPENBLAS_NUM_THREADS=1
mpi=(mpirun -np "$ranks" -x OPENBLAS_NUM_THREADS)
[ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)
if [ "$ranks" -gt "$(nproc)" ]; then
  export OMPI_MCA_mpi_yield_when_idle=1
  mpi+=(--oversubscribe --bind-to none -x OMPI_MCA_mpi_yield_when_idle)
else
  mpi+=(--bind-to core)
fi
timing=(--json --cpu-clock --threads 1 --repeats "$repeats" --seconds "$seconds")
one() { "$bin" bench "${timing[@]}" --models "$1" --modes "$2" --batch-size 128 >> "$out/np1.jsonl"; }
for ((r = 1; r <= rounds; r++)); do
  for m in ${models//,/ }; do
    for mode in ${modes//,/ }; do
      one "$m" "$mode"
      "${mpi[@]}" "$bin" bench "${timing[@]}" --paired-single --models "$m" --modes "$mode" \
        --batch-size $((128 * ranks)) >> "$out/np$ranks.jsonl"
      "${mpi[@]}" "$bin" bench "${timing[@]}" --independent --models "$m" --modes "$mode" \
        --batch-size $((128 * ranks)) >> "$out/np$ranks-independent.jsonl"
      one "$m" "$mode"
      echo "weak-scaling: round $r $m $mode done" >&2
    done
  done
done
python3 - "$out/np1.jsonl" "$out/np$ranks.jsonl" "$ranks" "$out/np$ranks-independent.jsonl" <<'PY'
import collections, json, statistics, sys
def load(path):
    rows = collections.defaultdict(list)
    for line in open(path):
        if line.startswith("{"):
            r = json.loads(line)
            rows[(r["model"], r["mode"])].append(r)
    return rows
one, many, n, alone = load(sys.argv[1]), load(sys.argv[2]), int(sys.argv[3]), load(sys.argv[4])
print(f"| model | mode | 1 rank samples/s | {n} ranks samples/s | efficiency (median) | range | best block | allreduce (ms) | allreduce bound | sync bound | rank speed | machine bound | efficiency / machine bound | paired efficiency | paired range |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for key, rows in many.items():
    pairs = [(one[key][2 * i]["samples_per_s"] + one[key][2 * i + 1]["samples_per_s"]) / 2 for i in range(len(rows))]
    eff = [r["samples_per_s"] / (n * p) for r, p in zip(rows, pairs)]
    best = max(r["samples_per_s_max"] / (n * p) for r, p in zip(rows, pairs))
    single = statistics.median(r["samples_per_s"] for r in one[key])
    t_step = 128 / single
    t_ar = statistics.median(r["allreduce_blocking_s"] for r in rows)
    # The ranks' own compute per step: mean over ranks against the slowest rank step by step
    # (plus one blocking allreduce), and against the 1-rank step around it.
    sync = [r["compute_mean_s"] / (r["compute_slowest_s"] + r["allreduce_blocking_s"]) for r in rows if r.get("compute_slowest_s")]
    slow = [(128 / p) / r["compute_mean_s"] for r, p in zip(rows, pairs) if r.get("compute_mean_s")]
    # N independent ranks at once against N × 1 rank, round by round.
    machine = [r["samples_per_s"] / (n * p) for r, p in zip(alone[key], pairs)]
    ratio = [e / m for e, m in zip(eff, machine)]
    paired = [r["paired_efficiency"] for r in rows if "paired_efficiency" in r]
    paired_range = (f"{100 * min(r['paired_efficiency_min'] for r in rows):.1f}–{100 * max(r['paired_efficiency_max'] for r in rows):.1f}%"
                    if paired else "–")
    cell = lambda v: f"{100 * statistics.median(v):.1f}%" if v else "–"
    print(f"| {key[0]} | {key[1]} | {single:.0f} | {statistics.median(r['samples_per_s'] for r in rows):.0f} | "
          f"{100 * statistics.median(eff):.1f}% | {100 * min(eff):.1f}–{100 * max(eff):.1f}% | {100 * best:.1f}% | "
          f"{t_ar * 1e3:.2f} | {100 * t_step / (t_step + t_ar):.1f}% | {cell(sync)} | {cell(slow)} | {cell(machine)} | {cell(ratio)} | "
          f"{cell(paired)} | {paired_range} |")
PY
echo "weak-scaling: rows in $out" >&2
