#!/usr/bin/env bash
# install-deps.sh -- install the Debian 12 packages dist-train needs to build, run and train.
#
#   launch/install-deps.sh            install whatever is missing (apt-get update first)
#   launch/install-deps.sh --check    only report what is missing; exit 1 if anything is
#   launch/install-deps.sh --force    run apt-get update + install even if all are present
#   launch/install-deps.sh --tests    also what the test suite uses: chromium (renders report.html)
#                                     from Debian, tensorboard (reads back event files) and safetensors
#                                     from PyPI, and a CPU torch when the local wheel folder
#                                     (/opt/wheels) has one (the PyTorch interop check skips otherwise)
#
# Idempotent: when every package is already installed it does nothing (and needs no network).
# Runs apt-get directly as root, through sudo otherwise. The Swift toolchain is not a Debian
# package; the script only warns when `swift` is not on PATH.
#
#   libopenmpi-dev, openmpi-bin   MPI headers/libraries (pkg-config ompi-c) and mpirun
#   libopenblas-dev               BLAS (pkg-config openblas)
#   zlib1g-dev                    gzip-compressed IDX files (pkg-config zlib)
#   pkg-config                    how SwiftPM finds the three above
#   dataset-fashion-mnist         the default data set, in /usr/share/datasets/fashion-mnist
set -euo pipefail

PACKAGES=(libopenmpi-dev openmpi-bin libopenblas-dev dataset-fashion-mnist zlib1g-dev pkg-config)
TEST_PACKAGES=(chromium)
PIP_TEST_PACKAGES=(tensorboard==2.21.0 safetensors)

log() { echo "[install-deps] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

mode=install
tests=0
for arg in "$@"; do
  case "$arg" in
    --check) mode=check ;;
    --force) mode=force ;;
    --tests) tests=1 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$arg' (try --help)" ;;
  esac
done
[ "$tests" -eq 1 ] && PACKAGES+=("${TEST_PACKAGES[@]}")

install_pip_tests() {
  [ "$tests" -eq 1 ] || return 0
  if ! python3 -c 'import tensorboard, safetensors' >/dev/null 2>&1; then
    log "pip install ${PIP_TEST_PACKAGES[*]}"
    python3 -m pip install -q "${PIP_TEST_PACKAGES[@]}" >&2 || die "'pip install ${PIP_TEST_PACKAGES[*]}' failed"
  fi
  # Only a CPU wheel from the local folder: a plain `pip install torch` pulls a CUDA build of GBs.
  if ! python3 -c 'import torch' >/dev/null 2>&1; then
    wheel=$(ls /opt/wheels/torch-*+cpu-*.whl 2>/dev/null | head -n 1 || true)
    if [ -n "$wheel" ]; then
      log "pip install $wheel"
      python3 -m pip install -q "$wheel" >&2 || log "warning: could not install $wheel; the PyTorch interop check will skip"
    else
      log "no CPU torch wheel in /opt/wheels: the PyTorch interop check will skip"
    fi
  fi
}

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
  die "apt-get/dpkg-query not found: this script is for Debian 12 (bookworm) or a derivative."
fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done

if ! command -v swift >/dev/null 2>&1; then
  log "note: 'swift' is not on PATH; install a Swift 6 toolchain from https://swift.org/install (not a Debian package)."
fi

if [ "$mode" = check ]; then
  if [ ${#missing[@]} -eq 0 ]; then log "all packages present: ${PACKAGES[*]}"; exit 0; fi
  log "missing: ${missing[*]}"; exit 1
fi

if [ "$mode" = install ] && [ ${#missing[@]} -eq 0 ]; then
  log "all packages already installed: ${PACKAGES[*]}"
  install_pip_tests
  exit 0
fi

# Root runs apt-get itself; anyone else goes through sudo (env passes DEBIAN_FRONTEND through
# sudo's env_reset).
if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  die "not root and sudo is not installed; run as root: apt-get install ${missing[*]:-${PACKAGES[*]}}"
fi
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o Acquire::Retries=3)

if [ "$mode" = force ]; then to_install=("${PACKAGES[@]}"); else to_install=("${missing[@]}"); fi

log "apt-get update"
"${APT[@]}" update >&2 \
  || die "'apt-get update' failed: check the network and /etc/apt/sources.list(.d)."

log "apt-get install ${to_install[*]}"
"${APT[@]}" install -y --no-install-recommends "${to_install[@]}" >&2 \
  || die "'apt-get install ${to_install[*]}' failed (see apt's message above). dataset-fashion-mnist is in Debian 12 main; on other releases use --data-dir with your own copy."

missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] || die "still not installed after apt-get: ${missing[*]}"

for pc in ompi-c openblas zlib; do
  pkg-config --exists "$pc" || die "pkg-config cannot find '$pc' although its package is installed."
done
install_pip_tests
log "done: ${PACKAGES[*]} installed; pkg-config finds ompi-c, openblas and zlib."
