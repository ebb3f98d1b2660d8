#!/usr/bin/env bash
# slurm-local.sh -- a private single-node SLURM (munged + slurmctld + slurmd) in one directory,
# for tests and for trying the batch scripts in launch/slurm/ on one machine. Nothing goes to /etc:
# the configuration, munge key, state, logs, pid files and TmpFS all live under DIR, and the
# daemons listen on 127.0.0.1 only (CommunicationParameters=NoCtldInAddrAny,NoInAddrAny) on free
# ports, so several instances (and a real SLURM) can coexist.
#
#   slurm-local.sh start DIR [--watch PID]   start (idempotent); the last line printed is
#                                            `export SLURM_CONF=DIR/etc/slurm.conf`.
#                                            --watch PID: a watcher stops the cluster when PID ends
#                                            (so a crashed test leaves no daemons behind)
#   slurm-local.sh stop DIR [--purge]        cancel every job, stop slurmd, kill what the jobs left
#                                            (this cluster's slurmstepds and their descendants),
#                                            stop slurmctld and munged; daemons by their pid files;
#                                            --purge also removes DIR
#   slurm-local.sh status DIR
#
# Clients need  export SLURM_CONF=DIR/etc/slurm.conf  (sbatch, srun, scontrol, squeue, scancel).
# Needs root and the packages from install-cluster-deps.sh (start does NOT install them).
# Env: SLURM_LOCAL_CPUS   CPUs advertised by the node (default 8: SlurmdParameters=config_overrides
#                         lets the node offer more than its cores; jobs with more tasks than cores
#                         must set OMPI_MCA_mpi_yield_when_idle=1, as launch/slurm/*.sbatch do)
#      SLURM_LOCAL_NODE   node name (default localhost)
#      SLURM_LOCAL_PORT   slurmctld port; slurmd gets PORT+1 (default: a free pair in 20000-29999)
#      SLURM_LOCAL_TIMEOUT seconds to wait for the node to become idle (default 30)
set -euo pipefail

log() { echo "[slurm-local] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# running and not a zombie (an exited daemon stays a zombie until its parent, often pid 1, reaps it)
running() { kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
alive() { [ -s "$1" ] && running "$(cat "$1")"; }
usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

cmd=${1:-}; D=${2:-}
[ -n "$cmd" ] && [ -n "$D" ] || usage
shift 2
case "$D" in /*) ;; *) D=$PWD/$D ;; esac
CONF=$D/etc/slurm.conf
export SLURM_CONF=$CONF

# Daemons and watchers started here must not keep the caller's file descriptors: a caller that
# waits for this script's end by a pipe or socket (Swift's Foundation.Process does) would wait for
# the daemons too. Bash reads this script from fd 255, which stays.
close_inherited_fds() {
  local fd
  for fd in /proc/$$/fd/*; do
    fd=${fd##*/}
    case "$fd" in 0|1|2|255|*[!0-9]*) continue ;; esac
    eval "exec $fd>&-" 2>/dev/null || true
  done
}

port_free() { ! ss -Htan "( sport = :$1 )" 2>/dev/null | grep -q .; }

pick_port() {
  local p
  if [ -n "${SLURM_LOCAL_PORT:-}" ]; then echo "$SLURM_LOCAL_PORT"; return; fi
  for _ in $(seq 50); do
    p=$(( 20000 + (RANDOM % 5000) * 2 ))
    port_free "$p" && port_free $((p + 1)) && { echo "$p"; return; }
  done
  die "no free port pair found in 20000-29999"
}

write_conf() {
  local node=$1 cpus=$2 port=$3
  cat > "$CONF" <<CONF
# written by launch/cluster/slurm-local.sh
ClusterName=dtlocal
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge/munge.socket.2
# bind slurmctld, slurmd and srun to 127.0.0.1 instead of INADDR_ANY
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
MailProg=/bin/true
SlurmctldPort=$port
SlurmdPort=$((port + 1))
StateSaveLocation=$D/state/ctld
SlurmdSpoolDir=$D/state/d
TmpFS=$D/tmp
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups, no accounting
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
# Debian's Open MPI 4.1.4 only starts under srun --mpi=pmix (pmi2 and none fail in MPI_Init)
MpiDefault=pmix
ReturnToService=2
SchedulerType=sched/backfill
# start batch jobs at once: by default they wait for the next scheduling pass (batch_sched_delay=3 s)
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
InactiveLimit=0
KillWait=5
MinJobAge=600
SlurmdTimeout=60
JobRequeue=1
NodeName=$node NodeAddr=127.0.0.1 NodeHostname=$node CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
CONF
}

cmd_start() {
  local watch="" node=${SLURM_LOCAL_NODE:-localhost} cpus=${SLURM_LOCAL_CPUS:-8} t0 st port
  while [ $# -gt 0 ]; do
    case "$1" in --watch) watch=$2; shift 2 ;; *) die "unknown option $1" ;; esac
  done
  [ "$(id -u)" -eq 0 ] || die "needs root (the daemons run as root)"
  close_inherited_fds
  local b
  for b in munged slurmctld slurmd sinfo scontrol; do
    command -v "$b" >/dev/null 2>&1 || die "$b not found: run launch/cluster/install-cluster-deps.sh"
  done
  mkdir -p "$D"/{etc,munge,state/ctld,state/d,log,run,tmp}
  chmod 700 "$D/munge"
  if [ ! -s "$D/munge/munge.key" ]; then
    dd if=/dev/urandom of="$D/munge/munge.key" bs=1024 count=1 status=none
    chmod 600 "$D/munge/munge.key"
  fi
  if ! alive "$D/run/slurmctld.pid"; then
    port=$(pick_port)
    write_conf "$node" "$cpus" "$port"
  fi

  if ! alive "$D/munge/munged.pid"; then
    rm -f "$D/munge/munge.socket.2"*
    munged --force --key-file="$D/munge/munge.key" --socket="$D/munge/munge.socket.2" \
           --pid-file="$D/munge/munged.pid" --log-file="$D/log/munged.log" --seed-file="$D/munge/munged.seed"
    for _ in $(seq 50); do [ -S "$D/munge/munge.socket.2" ] && break; sleep 0.1; done
  fi
  alive "$D/run/slurmctld.pid" || slurmctld -f "$CONF" -i
  alive "$D/run/slurmd.pid" || slurmd -f "$CONF" -N "$node"

  if [ -n "$watch" ] && ! alive "$D/run/watch.pid"; then
    # Detached from our stdout/stderr, so a caller reading them does not wait for the watcher.
    setsid bash -c 'while kill -0 "$1" 2>/dev/null && [ -d "$3" ]; do sleep 1; done
                    "$2" stop "$3" >>"$3/log/watch.log" 2>&1' watch "$watch" "$(readlink -f "$0")" "$D" \
      </dev/null >/dev/null 2>&1 &
    echo $! > "$D/run/watch.pid"
  fi

  t0=$(date +%s)
  while :; do
    st=$(sinfo -h -n "$node" -o %t 2>/dev/null || true)
    case "$st" in
      idle|mix|alloc) break ;;
      down*|drain*|drng*) scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true ;;
    esac
    if [ $(( $(date +%s) - t0 )) -ge "${SLURM_LOCAL_TIMEOUT:-30}" ]; then
      log "node not idle after ${SLURM_LOCAL_TIMEOUT:-30} s (state '$st'); logs in $D/log"
      tail -n 5 "$D"/log/*.log >&2 || true
      exit 1
    fi
    sleep 0.2
  done
  log "node $node is $st; ports $(sed -n 's/^SlurmctldPort=//p' "$CONF")/$(sed -n 's/^SlurmdPort=//p' "$CONF"); $D"
  echo "export SLURM_CONF=$CONF"
}

# What jobs of this cluster left behind: the slurmstepds started by our slurmd (they inherit its
# SLURM_CONF=$CONF) and their descendants. Only those: a shell that merely exported SLURM_CONF to
# talk to this cluster is not touched.
leftover_pids() {
  local d pid stepds=() table
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    case "$(readlink "$d/exe" 2>/dev/null)" in */slurmstepd|*/slurmstepd-*) ;; *) continue ;; esac
    { tr '\0' '\n' < "$d/environ"; } 2>/dev/null | grep -qxF "SLURM_CONF=$CONF" && stepds+=("$pid")
  done
  [ ${#stepds[@]} -gt 0 ] || return 0
  table=$(ps -e -o pid=,ppid=)
  awk -v roots="${stepds[*]}" '
    { parent[$1] = $2 }
    END { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1
          changed = 1
          while (changed) { changed = 0
            for (p in parent) if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 } }
          for (p in keep) print p }' <<<"$table"
}

stop_pidfile() {  # name pidfile
  local name=$1 pf=$2 pid
  [ -s "$pf" ] || return 0
  pid=$(cat "$pf")
  if running "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do running "$pid" || break; sleep 0.1; done
    if running "$pid"; then kill -KILL "$pid" 2>/dev/null || true; log "$name ($pid) killed"; else log "$name ($pid) stopped"; fi
  fi
  rm -f "$pf"
}

cmd_stop() {
  local watcher pids
  [ -d "$D" ] || { log "$D does not exist"; return 0; }
  if alive "$D/run/slurmctld.pid"; then
    scancel --quiet --full --user="$(id -un)" 2>/dev/null || true
    for _ in $(seq 30); do [ -z "$(squeue -h -t R,CG 2>/dev/null)" ] && break; sleep 0.2; done
  fi
  stop_pidfile slurmd "$D/run/slurmd.pid"
  pids=$(leftover_pids)
  if [ -n "$pids" ]; then
    log "killing what the jobs left (slurmstepd of this cluster and descendants): $(echo $pids)"
    kill -KILL $pids 2>/dev/null || true
  fi
  stop_pidfile slurmctld "$D/run/slurmctld.pid"
  stop_pidfile munged "$D/munge/munged.pid"
  if [ -s "$D/run/watch.pid" ]; then
    watcher=$(cat "$D/run/watch.pid"); rm -f "$D/run/watch.pid"
    [ "$watcher" != "$PPID" ] && kill "$watcher" 2>/dev/null || true
  fi
  if [ "${1:-}" = --purge ]; then rm -rf "$D"; log "removed $D"; fi
}

cmd_status() {
  local n
  for n in run/slurmctld run/slurmd munge/munged run/watch; do
    if alive "$D/$n.pid"; then echo "${n#*/}: running ($(cat "$D/$n.pid"))"; else echo "${n#*/}: stopped"; fi
  done
  alive "$D/run/slurmctld.pid" && { sinfo; squeue; }
  return 0
}

case "$cmd" in
  start|stop|status) "cmd_$cmd" "$@" ;;
  *) usage ;;
esac
