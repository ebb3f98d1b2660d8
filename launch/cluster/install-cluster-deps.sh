#!/usr/bin/env bash
# install-cluster-deps.sh -- the Debian 12 packages the cluster tests and launch/cluster/ use:
# a private SLURM (slurmctld, slurmd, slurm-client, munge), the PMIx library that
# `srun --mpi=pmix` loads (libpmix-dev), and ip/tc for the namespace hosts (iproute2).
#
#   launch/cluster/install-cluster-deps.sh           install whatever is missing
#   launch/cluster/install-cluster-deps.sh --check   only report; exit 1 if something is missing
#
# Idempotent: with everything installed it does nothing and needs no network. Only the packages
# are installed: no service is started (a temporary /usr/sbin/policy-rc.d if there is none) and
# nothing under /etc is configured (slurm-local.sh keeps its configuration, keys and state in its
# own directory). Needs root (or sudo).
# Exit status: 0 ok, 1 missing (--check) or apt failed.
set -euo pipefail

PACKAGES=(slurmctld slurmd slurm-client munge libpmix-dev iproute2 util-linux)
log() { echo "[install-cluster-deps] $*" >&2; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
command -v dpkg-query >/dev/null 2>&1 || { log "dpkg-query not found: Debian 12 only"; exit 1; }

missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then log "all present: ${PACKAGES[*]}"; exit 0; fi
if [ "${1:-}" = --check ]; then log "missing: ${missing[*]}"; exit 1; fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { log "not root and no sudo: apt-get install ${missing[*]}"; exit 1; }
  SUDO=(sudo)
fi
APT=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o Acquire::Retries=3)
# The packages' init scripts would start system-wide munged/slurmctld/slurmd; the tests run their
# own. Without a policy-rc.d, add one that forbids starting services for the install (exit 101).
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\n# temporary, from install-cluster-deps.sh\nexit 101\n' | "${SUDO[@]}" tee /usr/sbin/policy-rc.d >/dev/null
  "${SUDO[@]}" chmod 755 /usr/sbin/policy-rc.d
  trap '"${SUDO[@]}" rm -f /usr/sbin/policy-rc.d' EXIT
fi
# Try without `apt-get update` first (fast when the lists are fresh), then with it.
log "apt-get install ${missing[*]}"
if ! "${APT[@]}" install -y --no-install-recommends "${missing[@]}" >&2; then
  log "apt-get update, then install again"
  "${APT[@]}" update >&2 && "${APT[@]}" install -y --no-install-recommends "${missing[@]}" >&2 \
    || { log "apt-get install ${missing[*]} failed"; exit 1; }
fi
still=()
for p in "${PACKAGES[@]}"; do installed "$p" || still+=("$p"); done
[ ${#still[@]} -eq 0 ] || { log "still missing: ${still[*]}"; exit 1; }
log "installed: ${missing[*]}"
