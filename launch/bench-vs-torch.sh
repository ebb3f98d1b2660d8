#!/usr/bin/env bash
# bench-vs-torch.sh -- dist-train bench and the PyTorch reference in one go, same threads,
# and the ratio per row.
#
#   launch/bench-vs-torch.sh [--threads N] [--models mlp,cnn-small] [--out DIR] [--rounds R] [--cpu-clock]
#
# Each round runs, model by model, dist-train's rows and then PyTorch's, so the two sides of a
# ratio are measured minutes apart at most; the comparison pairs the rounds and prints the median
# ratio and its range (default 3 rounds).
#
# DIST_TRAIN_BIN names another dist-train binary (default .build/release/dist-train).
#
# --cpu-clock times both sides with their thread's CPU clock instead of the wall clock, for a
# machine shared with other jobs (1 thread only).
#
# Some machines pin OPENBLAS_CORETYPE (and OPENBLAS_L2_SIZE) to kernels narrower than the CPU
# runs, because older OpenBLAS builds compute wrong on it; dist-train's first line says so. To
# measure the kernels the CPU runs, unset both for this command alone:
#   env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE launch/bench-vs-torch.sh ...
# dist-train checks sgemm against a double-precision sum at start and on every step's shapes
# (sgemm_check_error in the JSON) and stops if the kernels compute wrong.
#
# Writes DIR/dist-train.jsonl and DIR/torch.jsonl (default DIR: runs/bench-<date-time>) and prints
# the comparison (Tests/Reference/compare_bench.py). Needs a CPU torch: launch/install-deps.sh
# does not install it; use the local wheel (pip install /opt/wheels/torch-*+cpu-*.whl).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
threads=1 models=mlp,cnn-small rounds=3 clock=() out="$ROOT/runs/bench-$(date -u +%Y%m%d-%H%M%S)"
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --cpu-clock) clock=(--cpu-clock); shift ;;
    --rounds) rounds=$2; shift 2 ;;
    -h|--help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-vs-torch: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
bin="${DIST_TRAIN_BIN:-$ROOT/.build/release/dist-train}"
[ -x "$bin" ] || (cd "$ROOT" && swift build -c release --product dist-train)
export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
: > "$out/dist-train.jsonl"; : > "$out/torch.jsonl"
for ((r = 1; r <= rounds; r++)); do
  for m in ${models//,/ }; do
    "$bin" bench --json --threads "$threads" --models "$m" ${clock[@]+"${clock[@]}"} | tee -a "$out/dist-train.jsonl"
    python3 "$ROOT/Tests/Reference/torch_bench.py" --threads "$threads" --models "$m" ${clock[@]+"${clock[@]}"} | tee -a "$out/torch.jsonl"
  done
done
python3 "$ROOT/Tests/Reference/compare_bench.py" "$out/dist-train.jsonl" "$out/torch.jsonl"
