#!/usr/bin/env bash
# dist-train-local.sh -- run dist-train under mpirun on this machine, with sane defaults.
#
# usage: launch/dist-train-local.sh [-np N] [--bin PATH] [--dry-run] [--] [dist-train ARGS...]
#
#   -np N, -n N     number of ranks (default: the number of CPU cores, as Open MPI counts them)
#   --bin PATH      the binary to run (default: $DIST_TRAIN_BIN, else <repo>/.build/release/dist-train,
#                   which is built with `swift build -c release` if missing)
#   --dry-run       print the mpirun command line and exit
#   -h, --help      this text
#   --              end of the wrapper's options; everything after goes to dist-train
#                   (the first argument the wrapper does not know also starts dist-train's ARGS)
#
# What it sets:
#   OPENBLAS_NUM_THREADS  max(1, cores / N) unless already set; exported to the ranks with -x
#   --allow-run-as-root   when run as root
#   --oversubscribe and OMPI_MCA_mpi_yield_when_idle=1   when N > cores
#   --bind-to none        so each rank's OpenBLAS threads are not pinned to one core
# Extra mpirun options: DIST_TRAIN_MPIRUN_ARGS (split on whitespace), e.g.
#   DIST_TRAIN_MPIRUN_ARGS="--mca btl self,vader" launch/dist-train-local.sh -np 2 train --epochs 1
# The mpirun command line is printed to stderr before it runs. mpirun replaces this script
# (exec), so signals sent to it reach mpirun, which forwards SIGUSR1/SIGUSR2 to every rank.
#
# examples:
#   launch/dist-train-local.sh                                    # all cores, default training
#   launch/dist-train-local.sh -np 2 -- train --epochs 1 --train-samples 2000
#   launch/dist-train-local.sh -np 1 bench --models mlp,cnn-small
set -euo pipefail

usage() { sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
log() { echo "[dist-train-local] $*" >&2; }
die() { log "ERROR: $*"; exit 2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Physical cores this process may use: Open MPI (hwloc) gives one slot per core, not per
# hardware thread, so this is the number above which mpirun needs --oversubscribe.
cpu_cores() {
  local allowed n
  allowed=$(awk '/^Cpus_allowed_list:/ {print $2}' /proc/self/status 2>/dev/null || true)
  n=$(lscpu -p=CPU,CORE,SOCKET 2>/dev/null | awk -F, -v list="$allowed" '
        BEGIN { k = split(list, r, ",")
                for (i = 1; i <= k; i++) { m = split(r[i], ab, "-"); hi = (m > 1) ? ab[2] : ab[1]
                                           for (c = ab[1] + 0; c <= hi + 0; c++) ok[c] = 1 } }
        /^#/ { next }
        list == "" || ($1 in ok) { seen[$3 "," $2] = 1 }
        END { c = 0; for (s in seen) c++; print c }' || true)
  if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -lt 1 ]; then
    n=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
  fi
  echo "$n"
}

np=""
bin=""
dry_run=0
while [ $# -gt 0 ]; do
  case "$1" in
    -np|-n|--np)
      [ $# -ge 2 ] || die "$1 needs a value"
      np=$2; shift 2 ;;
    -np=*|--np=*) np=${1#*=}; shift ;;
    --bin)
      [ $# -ge 2 ] || die "--bin needs a path"
      bin=$2; shift 2 ;;
    --bin=*) bin=${1#*=}; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    *) break ;;   # first unknown argument: the rest belongs to dist-train
  esac
done

cores=$(cpu_cores)
np=${np:-$cores}
[[ "$np" =~ ^[1-9][0-9]*$ ]] || die "-np must be a positive integer, got '$np'"

# --- the binary --------------------------------------------------------------------------
if [ -z "$bin" ] && [ -n "${DIST_TRAIN_BIN:-}" ]; then bin=$DIST_TRAIN_BIN; fi
if [ -n "$bin" ]; then
  if [[ "$bin" != */* ]] && command -v "$bin" >/dev/null 2>&1; then bin=$(command -v "$bin"); fi
  [ -x "$bin" ] || die "binary '$bin' (from --bin or DIST_TRAIN_BIN) is not an executable file"
else
  bin=$ROOT/.build/release/dist-train
  if [ ! -x "$bin" ]; then
    [ "$dry_run" = 1 ] && log "note: $bin is missing; a real run would build it first"
    if [ "$dry_run" = 0 ]; then
      command -v swift >/dev/null 2>&1 || die "$bin is missing and 'swift' is not on PATH to build it"
      log "$bin is missing: swift build -c release --package-path $ROOT"
      swift build -c release --package-path "$ROOT" >&2 || die "swift build -c release failed"
      [ -x "$bin" ] || die "swift build succeeded but $bin does not exist"
    fi
  fi
fi
case "$bin" in /*) ;; *) bin=$PWD/$bin ;; esac

# --- environment and mpirun flags --------------------------------------------------------
command -v "${MPIRUN:-mpirun}" >/dev/null 2>&1 \
  || die "'${MPIRUN:-mpirun}' not found; run launch/install-deps.sh (openmpi-bin)"

if [ -z "${OPENBLAS_NUM_THREADS:-}" ]; then
  threads=$(( cores / np ))
  [ "$threads" -ge 1 ] || threads=1
  export OPENBLAS_NUM_THREADS=$threads
fi

cmd=("${MPIRUN:-mpirun}" -np "$np" --bind-to none -x OPENBLAS_NUM_THREADS)
if [ "$(id -u)" -eq 0 ]; then cmd+=(--allow-run-as-root); fi
if [ "$np" -gt "$cores" ]; then
  # Open MPI busy-polls unless told the node is oversubscribed: make idle ranks yield.
  export OMPI_MCA_mpi_yield_when_idle=${OMPI_MCA_mpi_yield_when_idle:-1}
  cmd+=(--oversubscribe -x OMPI_MCA_mpi_yield_when_idle)
fi
if [ -n "${DIST_TRAIN_MPIRUN_ARGS:-}" ]; then
  read -r -a extra <<<"$DIST_TRAIN_MPIRUN_ARGS"
  cmd+=("${extra[@]}")
fi
cmd+=("$bin" "$@")

# Print a line that can be pasted back into a shell: the exported variables, then mpirun.
shown=(OPENBLAS_NUM_THREADS="$OPENBLAS_NUM_THREADS")
if [ "$np" -gt "$cores" ]; then shown+=(OMPI_MCA_mpi_yield_when_idle="$OMPI_MCA_mpi_yield_when_idle"); fi
log "$np rank(s) on $cores core(s)"
quoted=$(printf ' %q' "${cmd[@]}")
echo "+ ${shown[*]}$quoted" >&2
[ "$dry_run" = 1 ] && exit 0
exec "${cmd[@]}"
