#!/usr/bin/env bash
# measure-allreduce.sh -- what an allreduce of the models' gradients costs, on this machine and
# across hosts, in one go: `dist-train bench --allreduce` at np = 2, 4 and 8 over shared memory,
# then on network-namespace hosts (one rank each, Open MPI over TCP) uncapped and with tbf caps of
# 10 and 1 Gbit/s; every row labelled with its link, in one JSONL file. With --bench it then fits
# the alpha-beta model and projects weak scaling (Tests/Reference/fit_allreduce.py).
#
#   launch/measure-allreduce.sh [--out FILE] [--hosts N] [--bench NP1.jsonl] [--no-netns]
#
#   --out FILE        where the rows go (default runs/allreduce-<date-time>.jsonl)
#   --hosts N         namespace hosts (default 3)
#   --bench FILE      `dist-train bench --json` rows at 1 rank: step times for the projection
#   --no-netns        shared memory only (the namespaces need root, iproute2 and util-linux)
#
# DIST_TRAIN_BIN names another dist-train binary (default .build/release/dist-train). Takes a few
# minutes; each namespace run is bounded by `timeout` (Open MPI's TCP wire-up between namespaces
# occasionally hangs: see docs/reliability.md) and a run that fails is reported and skipped.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$ROOT/runs/allreduce-$(date -u +%Y%m%d-%H%M%S).jsonl" hosts=3 bench="" netns=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --hosts) hosts=$2; shift 2 ;;
    --bench) bench=$2; shift 2 ;;
    --no-netns) netns=0; shift ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "measure-allreduce: unknown argument $1" >&2; exit 2 ;;
  esac
done
bin="${DIST_TRAIN_BIN:-$ROOT/.build/release/dist-train}"
[ -x "$bin" ] || (cd "$ROOT" && swift build -c release --product dist-train)
mkdir -p "$(dirname "$out")"
: > "$out"
export OPENBLAS_NUM_THREADS=1 OMPI_MCA_mpi_yield_when_idle=1
root=()
[ "$(id -u)" = 0 ] && root=(--allow-run-as-root)
cores=$(nproc)

# Appends the JSON rows of stdin to $out with "link": $1.
label() {
  python3 -c '
import json, sys
link, path = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in sys.stdin if l.startswith("{")]
with open(path, "a") as f:
    for r in rows:
        r["link"] = link
        f.write(json.dumps(r) + "\n")
print(f"measure-allreduce: {len(rows)} rows for {link}", file=sys.stderr)
' "$1" "$out"
}

for np in 2 4 8; do
  extra=()
  [ "$np" -gt "$cores" ] && extra=(--oversubscribe)
  mpirun "${root[@]}" ${extra[@]+"${extra[@]}"} -np "$np" -x OPENBLAS_NUM_THREADS -x OMPI_MCA_mpi_yield_when_idle \
    "$bin" bench --allreduce --json | label shm
done

if [ "$netns" = 1 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "measure-allreduce: not root: no namespace hosts (--no-netns to silence)" >&2
  else
    ns="$ROOT/launch/cluster/netns-hosts.sh"
    "$ns" up "$hosts" --watch $$ >&2
    trap '"$ns" down >&2 || true' EXIT
    for cap in none 10gbit 1gbit; do
      if [ "$cap" = none ]; then "$ns" unshape >&2 || true; link="veth, no cap"
      else "$ns" rate "$cap" >&2; link="tbf $cap"; fi
      if ! NETNS_SLOTS=1 timeout -k 5 240 "$ns" mpirun -np "$hosts" -x OPENBLAS_NUM_THREADS \
             "$bin" bench --allreduce --json | label "$link"; then
        echo "measure-allreduce: the run over '$link' failed; its rows are missing" >&2
      fi
    done
  fi
fi
echo "measure-allreduce: rows in $out" >&2
if [ -n "$bench" ]; then python3 "$ROOT/Tests/Reference/fit_allreduce.py" "$out" "$bench"; fi
