#!/usr/bin/env bash
# netns.sh — network namespaces for multi-node tests: a bash library (source it) and a CLI.
#
# One run (identified by NETNS_ID, unique per run so parallel runs never collide) owns:
#   au-<id>-br              a namespace holding only the bridge br0
#   au-<id>-0 … au-<id>-N-1 one namespace per node; its interface eth0 is one end of a veth pair
#                           whose other end, v<i>, is a port of br0
# eth0 of namespace i has 10.77.<NETNS_SUBNET>.<i+1>/24 (NETNS_SUBNET defaults to 0; every run has
# its own bridge, so equal addresses in two runs never meet). Nothing is created in the host's
# namespace: its interfaces, routes and addresses are untouched.
#
# Library (bash):
#   source tests/netns/netns.sh
#   netns_require                  exit 77 (ctest's skip code) unless root and `ip netns` works
#   netns_setup N                  create the run; installs EXIT/INT/TERM/HUP traps that clean up
#   netns_name I / netns_ip I      namespace name / IPv4 address of node I
#   netns_exec I CMD...            run CMD inside namespace I, in the foreground
#   netns_run I CMD...             run CMD inside namespace I in the background; its pid is left in
#                                  NETNS_LAST_PID and it is killed at cleanup if still running
#   netns_cut I / netns_restore I  partition node I from every other node, both directions, and
#                                  heal it: its port leaves / rejoins the bridge. Silent, like a
#                                  failure beyond the first hop: node I keeps its carrier, sends
#                                  still succeed locally, the packets vanish
#   netns_link_down I / netns_link_up I
#                                  the same through a lost carrier (node I's eth0 goes NO-CARRIER)
#   netns_netem I ARGS...          tc netem on node I's egress (e.g. `loss 20% delay 10ms`);
#                                  returns 77 if the kernel has no netem; netns_netem_clear I
#   netns_reachable I J            node I reaches node J now: one ping (1 s); without ping, a
#                                  TCP connect to a closed port that must be refused (2 s)
#   netns_wait_reachable I J SECS  … within SECS seconds (polled; for links that just came up)
#   netns_cleanup                  kill what netns_run started, delete every namespace of the run
# Commands run inside a namespace see AU_NETNS_INDEX, AU_NETNS_IP (their own address) and
# AU_NETNS_IPS (every node's address, space separated) in their environment.
# To run cleanup of your own as well, define netns_on_cleanup(); it is called first.
# Under ctest, AU_BUILD_DIR is the build tree (tests/netns/CMakeLists.txt sets it), so a test finds
# the binaries it runs inside the namespaces there.
#
# CLI:
#   netns.sh check                 exit 0 if usable, else print why and exit 77
#   netns.sh with N CMD...         set up N namespaces, run CMD in the host namespace with
#                                  NETNS_ID, NETNS_COUNT and NETNS_SH exported, clean up, exit with
#                                  CMD's status (so a test in any language can drive a run:
#                                  "$NETNS_SH" cut "$NETNS_ID" 1)
#   netns.sh exec|run|cut|restore|link-down|link-up|netem|netem-clear|ip|reachable ID I [ARGS...]
#                                  the library calls above on an existing run
#   netns.sh gc                    delete namespaces left by runs whose process is gone (SIGKILL)
#
# Invariants: every name this file creates contains the run id; cleanup is idempotent and runs on
# any exit of the process that called netns_setup (success, failure, Ctrl-C, TERM).

NETNS_SUBNET=${NETNS_SUBNET:-0}
NETNS_ID=${NETNS_ID:-}
NETNS_COUNT=${NETNS_COUNT:-0}
NETNS_PIDS=()
NETNS_LAST_PID=
_NETNS_OWNER=0   # 1 in the process that created the run: only it cleans up

netns_skip() {
    echo "skipping: $*" >&2
    exit 77
}

# Exits 77 unless this process can create namespaces; installs iproute2 when `ip` is missing.
netns_require() {
    if [[ $EUID -ne 0 ]]; then
        netns_skip "needs root (CAP_NET_ADMIN)"
    fi
    if ! command -v ip >/dev/null 2>&1; then
        echo "netns: installing iproute2" >&2
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2; } \
            >/dev/null 2>&1 ||
            netns_skip "needs root (CAP_NET_ADMIN) and iproute2, which could not be installed"
    fi
    local probe="au-check-$$-$RANDOM"
    if ! ip netns add "$probe" >/dev/null 2>&1; then
        netns_skip "needs root (CAP_NET_ADMIN): 'ip netns add' does not work here"
    fi
    if ! ip -n "$probe" link add br0 type bridge >/dev/null 2>&1; then
        ip netns del "$probe" >/dev/null 2>&1
        netns_skip "the kernel cannot create a bridge inside a network namespace"
    fi
    ip netns del "$probe" >/dev/null 2>&1
    return 0
}

netns_name() { echo "au-${NETNS_ID}-$1"; }
netns_bridge_name() { echo "au-${NETNS_ID}-br"; }
netns_ip() { echo "10.77.${NETNS_SUBNET}.$(($1 + 1))"; }

netns_all_ips() {
    local i ips=()
    for ((i = 0; i < NETNS_COUNT; i++)); do ips+=("$(netns_ip "$i")"); done
    echo "${ips[*]}"
}

_netns_check_index() {
    if [[ -z $NETNS_ID || ! $1 =~ ^[0-9]+$ ]] || (($1 >= NETNS_COUNT)); then
        echo "netns: no node $1 in run '${NETNS_ID}' (of ${NETNS_COUNT})" >&2
        return 2
    fi
}

# Creates the run: the bridge namespace, N node namespaces, their links and addresses.
netns_setup() {
    local n=$1 i
    if [[ ! $n =~ ^[0-9]+$ ]] || ((n < 1 || n > 250)); then
        echo "netns_setup: N must be 1..250" >&2
        return 2
    fi
    netns_gc >/dev/null # leftovers of runs that were killed too hard to clean up after themselves
    # The id names the creating process (for `gc`) plus randomness (for parallel runs).
    while :; do
        NETNS_ID="$$x$(printf '%04x' $((RANDOM % 65536)))"
        [[ -e /run/netns/au-${NETNS_ID}-br ]] || break
    done
    NETNS_COUNT=$n
    _NETNS_OWNER=1
    trap 'netns_cleanup' EXIT
    trap '_netns_on_signal 130' INT
    trap '_netns_on_signal 143' TERM
    trap '_netns_on_signal 129' HUP
    export NETNS_ID NETNS_COUNT NETNS_SUBNET

    local br ns
    br=$(netns_bridge_name)
    if ! { ip netns add "$br" &&
        ip -n "$br" link set lo up &&
        ip -n "$br" link add br0 type bridge &&
        ip -n "$br" link set br0 up; }; then
        echo "netns_setup: bridge namespace failed" >&2
        return 1
    fi
    for ((i = 0; i < n; i++)); do
        ns=$(netns_name "$i")
        # The veth is created inside the namespaces directly: the host never sees either end.
        if ! { ip netns add "$ns" &&
            ip -n "$ns" link set lo up &&
            ip -n "$br" link add "v$i" type veth peer name eth0 netns "$ns" &&
            ip -n "$br" link set "v$i" master br0 &&
            ip -n "$br" link set "v$i" up &&
            ip -n "$ns" addr add "$(netns_ip "$i")/24" dev eth0 &&
            ip -n "$ns" link set eth0 up; }; then
            echo "netns_setup: node $i failed" >&2
            return 1
        fi
    done
    return 0
}

# The command line that runs "$@" inside namespace $1, into the array _NETNS_CMD.
_netns_cmd() {
    local i=$1
    shift
    _NETNS_CMD=(ip netns exec "$(netns_name "$i")"
        env AU_NETNS_INDEX="$i" AU_NETNS_IP="$(netns_ip "$i")" AU_NETNS_IPS="$(netns_all_ips)" "$@")
}

netns_exec() {
    _netns_check_index "$1" || return
    _netns_cmd "$@"
    "${_NETNS_CMD[@]}"
}

netns_run() {
    _netns_check_index "$1" || return
    _netns_cmd "$@"
    # exec: the pid we record is the command itself (ip netns exec and env exec into it), so
    # `wait $NETNS_LAST_PID` gives its status and killing it needs no process-group tricks.
    (exec "${_NETNS_CMD[@]}") &
    NETNS_LAST_PID=$!
    NETNS_PIDS+=("$NETNS_LAST_PID")
}

# Leaving the bridge also flushes the bridge's forwarding entries for the port, so nothing
# cached can still reach node I.
netns_cut() {
    _netns_check_index "$1" || return
    ip -n "$(netns_bridge_name)" link set "v$1" nomaster
}

netns_restore() {
    _netns_check_index "$1" || return
    ip -n "$(netns_bridge_name)" link set "v$1" master br0 &&
        ip -n "$(netns_bridge_name)" link set "v$1" up
}

netns_link_down() {
    _netns_check_index "$1" || return
    ip -n "$(netns_bridge_name)" link set "v$1" down
}

netns_link_up() {
    _netns_check_index "$1" || return
    ip -n "$(netns_bridge_name)" link set "v$1" up
}

netns_netem() {
    _netns_check_index "$1" || return
    local i=$1 out
    shift
    if ! out=$(ip netns exec "$(netns_name "$i")" \
        tc qdisc replace dev eth0 root netem "$@" 2>&1); then
        if [[ $out == *"unknown"* || $out == *"No such file"* ]]; then
            echo "netns: this kernel has no netem qdisc (sch_netem): $out" >&2
            return 77
        fi
        echo "netns: tc netem $*: $out" >&2
        return 1
    fi
}

netns_netem_clear() {
    _netns_check_index "$1" || return
    ip netns exec "$(netns_name "$1")" tc qdisc del dev eth0 root >/dev/null 2>&1 || true
}

# One probe from node I to node J. With ping: an ICMP echo. Without it: a TCP connect to a port
# nobody listens on, from bash itself; "connection refused" means the peer's kernel answered.
netns_reachable() {
    _netns_check_index "$1" && _netns_check_index "$2" || return
    local ip
    ip=$(netns_ip "$2")
    if command -v ping >/dev/null 2>&1; then
        netns_exec "$1" ping -n -q -c1 -W1 "$ip" >/dev/null 2>&1
        return
    fi
    local out
    out=$(netns_exec "$1" timeout 2 bash -c "exec 3<>/dev/tcp/$ip/9" 2>&1)
    [[ $out == *"refused"* ]]
}

netns_wait_reachable() {
    local deadline=$((SECONDS + $3))
    until netns_reachable "$1" "$2"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1 # a failed probe can return at once (no route yet): do not spin
    done
}

_netns_kill() {
    local pid=$1 t
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((t = 0; t < 20; t++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

netns_cleanup() {
    [[ $_NETNS_OWNER == 1 ]] || return 0
    _NETNS_OWNER=0
    if declare -F netns_on_cleanup >/dev/null; then netns_on_cleanup || true; fi
    local pid ns i live
    # Only pids still in this shell's job table: a pid already waited for may have been reused
    # by a process that is not ours.
    live=" $(jobs -p | tr '\n' ' ') "
    for pid in "${NETNS_PIDS[@]}"; do
        [[ $live == *" $pid "* ]] || continue
        _netns_kill "$pid"
        wait "$pid" 2>/dev/null || true
    done
    NETNS_PIDS=()
    for ((i = 0; i < NETNS_COUNT; i++)); do
        ns=$(netns_name "$i")
        # Anything still running inside our namespace was started by this run.
        for pid in $(ip netns pids "$ns" 2>/dev/null); do _netns_kill "$pid"; done
        ip netns del "$ns" 2>/dev/null || true
    done
    ip netns del "$(netns_bridge_name)" 2>/dev/null || true
    return 0
}

_netns_on_signal() {
    trap - INT TERM HUP
    netns_cleanup
    trap - EXIT
    exit "$1"
}

# Deletes the namespaces of runs whose creating process no longer exists.
netns_gc() {
    local f name pid p
    for f in /run/netns/au-*; do
        [[ -e $f ]] || continue
        name=${f##*/}
        [[ $name =~ ^au-([0-9]+)x[0-9a-f]{4}-(br|[0-9]+)$ ]] || continue
        pid=${BASH_REMATCH[1]}
        if ! kill -0 "$pid" 2>/dev/null; then
            for p in $(ip netns pids "$name" 2>/dev/null); do _netns_kill "$p"; done
            ip netns del "$name" 2>/dev/null && echo "netns: removed stale $name"
        fi
    done
    return 0
}

# Attaches this process to an existing run (CLI subcommands), without owning it.
_netns_attach() {
    NETNS_ID=$1
    [[ -e /run/netns/au-${NETNS_ID}-br ]] || { echo "netns: no run '$NETNS_ID'" >&2; return 2; }
    NETNS_COUNT=0
    while [[ -e /run/netns/au-${NETNS_ID}-${NETNS_COUNT} ]]; do
        NETNS_COUNT=$((NETNS_COUNT + 1))
    done
}

_netns_usage() {
    sed -n '/^# CLI:/,/^# Invariants/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

_netns_main() {
    local cmd=${1:-}
    shift || true
    case $cmd in
    check) netns_require ;;
    gc) netns_gc ;;
    with)
        [[ $# -ge 2 ]] || _netns_usage
        netns_require
        netns_setup "$1" || exit 1
        shift
        export NETNS_SH
        NETNS_SH=$(realpath "${BASH_SOURCE[0]}")
        local rc=0
        "$@" || rc=$?
        exit "$rc"
        ;;
    exec | run | cut | restore | link-down | link-up | netem | netem-clear | ip | reachable)
        [[ $# -ge 2 ]] || _netns_usage
        _netns_attach "$1" || exit
        shift
        case $cmd in
        exec) netns_exec "$@" ;;
        run) netns_run "$@" && echo "$NETNS_LAST_PID" ;;
        cut) netns_cut "$@" ;;
        restore) netns_restore "$@" ;;
        link-down) netns_link_down "$@" ;;
        link-up) netns_link_up "$@" ;;
        netem) netns_netem "$@" ;;
        netem-clear) netns_netem_clear "$@" ;;
        ip) netns_ip "$@" ;;
        reachable) netns_reachable "$@" ;;
        esac
        ;;
    *) _netns_usage ;;
    esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    _netns_main "$@"
fi
