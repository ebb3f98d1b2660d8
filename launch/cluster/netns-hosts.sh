#!/usr/bin/env bash
# netns-hosts.sh -- a multi-host cluster on one machine made of network namespaces, so that Open
# MPI runs "across hosts" over real TCP (its TCP BTL and out-of-band channel) with no ssh.
#
# Topology (every name starts with $NETNS_PREFIX, default "dtc"):
#   ${P}sw        "switch" namespace holding the bridge br0; the root namespace has no link to it
#   ${P}h0..hN-1  "hosts": lo + eth0 (a veth whose peer ${P}vI sits on br0), address SUBNET.(10+I)/24
#   root namespace: only the route `unreachable SUBNET.0/24`. No address of the subnet exists
#                 outside the namespaces, and a client started by mistake in the root namespace
#                 (mpirun, scontrol...) fails at once instead of sending the packets off the
#                 machine through the default route. `up` claims the subnet by adding this route
#                 (`ip route add` is atomic): if it exists, the subnet is taken (exit 3).
#
#   netns-hosts.sh up [N] [--watch PID]   create N hosts (default 3); --watch PID: tear everything
#                                         down when PID ends (a crashed test leaves nothing behind)
#   netns-hosts.sh down                   kill the processes left in the namespaces, delete the
#                                         namespaces (and so the veths and the bridge), the route
#   netns-hosts.sh status                 hosts, addresses, qdiscs
#   netns-hosts.sh hostfile [SLOTS]       an Open MPI hostfile: "SUBNET.(10+I) slots=SLOTS" per host
#   netns-hosts.sh exec I CMD...          run CMD on host I (own network + UTS namespace, hostname ${P}hI)
#   netns-hosts.sh mpirun [ARGS...]       mpirun on host 0 with, before ARGS:
#        --allow-run-as-root (as root) --hostfile <NETNS_SLOTS per host> --mca plm_rsh_agent "<this> agent"
#        --mca plm_rsh_no_tree_spawn 1 --mca btl self,vader,tcp (unless ARGS name btl)
#        --mca btl_tcp_if_include SUBNET.0/24 --mca oob_tcp_if_include SUBNET.0/24
#        --mca mpi_yield_when_idle 1 (when hosts x slots > cores: the hosts share this machine's cores)
#      Always run it under `timeout -k GRACE LIMIT`: a wedged mpirun can ignore a plain SIGTERM, and
#      Open MPI's TCP wire-up between namespaces occasionally hangs (see docs/reliability.md).
#   netns-hosts.sh rate RATE              tbf on every host's eth0 egress (each packet between hosts
#                                         crosses exactly one), e.g. rate 1gbit, rate 100mbit
#   netns-hosts.sh unshape                remove it
#   netns-hosts.sh agent [OPTS] HOST CMD  the ssh replacement mpirun calls (plm_rsh_agent)
#
# Env: NETNS_PREFIX (dtc), NETNS_SUBNET (10.251.0: three octets), NETNS_SLOTS (1), NETNS_STATE_DIR
#      (/tmp/${P}-netns: hostfile, watcher). Needs root, iproute2 and util-linux (unshare).
# Every host sees the same file system: the binary, data and --out paths are the same everywhere.
# Open MPI names its shared-memory files (/dev/shm/vader_segment.<hostname>.*, /tmp/ompi.<hostname>.*)
# after the hostname, and /dev/shm and /tmp are shared, hence one UTS namespace per host.
set -euo pipefail
P=${NETNS_PREFIX:-dtc}
NET=${NETNS_SUBNET:-10.251.0}
SELF=$(readlink -f "$0")
STATE=${NETNS_STATE_DIR:-/tmp/${P}-netns}
export NETNS_PREFIX=$P NETNS_SUBNET=$NET NETNS_STATE_DIR=$STATE

log() { echo "[netns-hosts] $*" >&2; }
ns_exists() { ip netns list | awk '{print $1}' | grep -qx "$1"; }
hosts() { ip netns list | awk '{print $1}' | grep -E "^${P}h[0-9]+$" | sort -V || true; }

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

cmd_up() {
  local n=3 watch="" i h v
  while [ $# -gt 0 ]; do
    case "$1" in --watch) watch=$2; shift 2 ;; [0-9]*) n=$1; shift ;; *) log "unknown argument $1"; exit 2 ;; esac
  done
  [ "$(id -u)" -eq 0 ] || { log "needs root"; exit 1; }
  close_inherited_fds
  if ip -4 -o addr show | grep -q " inet $NET\."; then
    log "$NET.0/24 has an address in the root namespace; pick another NETNS_SUBNET"; exit 3
  fi
  if ! ip route add unreachable "$NET.0/24" 2>/dev/null; then
    log "$NET.0/24 already has a route in the root namespace (another cluster?); pick another NETNS_SUBNET"; exit 3
  fi
  mkdir -p "$STATE"
  ns_exists "${P}sw" || ip netns add "${P}sw"
  ip -n "${P}sw" link set lo up
  ip -n "${P}sw" link show br0 >/dev/null 2>&1 || ip -n "${P}sw" link add br0 type bridge
  ip -n "${P}sw" link set br0 up
  for i in $(seq 0 $((n - 1))); do
    h="${P}h$i" v="${P}v$i"
    ns_exists "$h" && continue
    ip netns add "$h"
    ip -n "$h" link set lo up
    ip link add "$v" type veth peer name eth0 netns "$h"   # created in the root ns, moved at once
    ip link set "$v" netns "${P}sw"
    ip -n "${P}sw" link set "$v" master br0 up
    ip -n "$h" addr add "$NET.$((10 + i))/24" dev eth0
    ip -n "$h" link set eth0 up
  done
  if [ -n "$watch" ]; then
    setsid bash -c 'while kill -0 "$1" 2>/dev/null && [ -d "$3" ]; do sleep 1; done
                    [ -d "$3" ] && "$2" down >>"/tmp/${NETNS_PREFIX}-netns-watch.log" 2>&1' \
      watch "$watch" "$SELF" "$STATE" </dev/null >/dev/null 2>&1 &
    echo $! > "$STATE/watch.pid"
  fi
  cmd_status
}

cmd_down() {
  local h pids w
  for h in $(hosts) "${P}sw"; do
    ns_exists "$h" || continue
    pids=$(ip netns pids "$h" 2>/dev/null || true)
    if [ -n "$pids" ]; then log "killing what is left in $h: $(echo $pids)"; kill -KILL $pids 2>/dev/null || true; fi
  done
  for h in $(hosts); do ip netns del "$h"; done       # deleting a namespace deletes its veth end
  ns_exists "${P}sw" && ip netns del "${P}sw"
  ip route del unreachable "$NET.0/24" 2>/dev/null || true
  if [ -s "$STATE/watch.pid" ]; then
    w=$(cat "$STATE/watch.pid")
    [ "$w" != "$PPID" ] && kill "$w" 2>/dev/null || true
  fi
  rm -rf "$STATE"
  log "removed ${P}h*, ${P}sw and the route to $NET.0/24"
}

cmd_status() {
  local h
  for h in $(hosts); do
    printf '%-8s %-16s qdisc: %s\n' "$h" "$(ip -n "$h" -4 -o addr show dev eth0 | awk '{print $4}')" \
      "$(tc -n "$h" qdisc show dev eth0 | head -1)"
  done
}

cmd_hostfile() {
  local slots=${1:-${NETNS_SLOTS:-1}} h
  for h in $(hosts); do echo "$NET.$((10 + ${h#"${P}h"})) slots=$slots"; done
}

cmd_exec() {
  local i=$1; shift
  exec ip netns exec "${P}h$i" unshare --uts /bin/sh -c 'hostname "$0"; exec "$@"' "${P}h$i" "$@"
}

# plm_rsh_agent: called like ssh, `agent [ssh options] HOST WORDS...`; the words are one shell
# command line, as with ssh.
cmd_agent() {
  while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done
  local host=$1 i; shift
  case "$host" in
    "$NET".*) i=$(( ${host##*.} - 10 )) ;;
    "${P}h"[0-9]*) i=${host#"${P}h"} ;;
    *) echo "netns-hosts agent: unknown host $host" >&2; exit 255 ;;
  esac
  ns_exists "${P}h$i" || { echo "netns-hosts agent: no host ${P}h$i" >&2; exit 255; }
  exec ip netns exec "${P}h$i" unshare --uts /bin/sh -c "hostname ${P}h$i; $*"
}

cmd_mpirun() {
  local slots=${NETNS_SLOTS:-1} n cores args=()
  n=$(hosts | wc -l)
  [ "$n" -gt 0 ] || { log "no hosts: run '$0 up' first"; exit 1; }
  mkdir -p "$STATE"
  cmd_hostfile "$slots" > "$STATE/hostfile"
  [ "$(id -u)" -eq 0 ] && args+=(--allow-run-as-root)
  args+=(--hostfile "$STATE/hostfile" --mca plm_rsh_agent "$SELF agent" --mca plm_rsh_no_tree_spawn 1)
  case " $* " in *" btl "*) ;; *) args+=(--mca btl 'self,vader,tcp') ;; esac
  args+=(--mca btl_tcp_if_include "$NET.0/24" --mca oob_tcp_if_include "$NET.0/24")
  cores=$(nproc 2>/dev/null || echo 1)
  if [ $((n * slots)) -gt "$cores" ]; then args+=(--mca mpi_yield_when_idle 1); fi
  exec ip netns exec "${P}h0" unshare --uts /bin/sh -c 'hostname "$0"; exec "$@"' "${P}h0" \
    mpirun "${args[@]}" "$@"
}

cmd_rate() {
  local rate=${1:?rate RATE, e.g. 1gbit} h
  for h in $(hosts); do tc -n "$h" qdisc replace dev eth0 root tbf rate "$rate" burst 256kb latency 50ms; done
  cmd_status
}

cmd_unshape() {
  local h
  for h in $(hosts); do tc -n "$h" qdisc del dev eth0 root 2>/dev/null || true; done
  cmd_status
}

c=${1:-}; shift || true
case "$c" in
  up|down|status|hostfile|exec|agent|mpirun|rate|unshape) "cmd_$c" "$@" ;;
  *) sed -n '2,/^set -euo/p' "$SELF" | sed '$d' | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
