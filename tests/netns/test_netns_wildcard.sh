#!/usr/bin/env bash
# test_netns_wildcard.sh — a member whose datagrams leave from another address than the one it
# advertises: it binds the wildcard (0.0.0.0) in its namespace and advertises a second address of
# its interface, so what it sends carries the interface's first address as source. Two checks:
#  1. killed (SIGKILL) and restarted on the same advertised address, it is a member again
#     everywhere without being removed in between (the new run replaces the old one): the others
#     confirm the new run by a probe to the advertised address whose nonce its answer echoes.
#     Before, a newer run was believed only from the address it names, so the others removed the
#     old run as failed and kept the new one out until its tombstone went (60 s).
#  2. as an incompatible seed it refuses a joiner, and the joiner believes it (INCOMPATIBLE): the
#     refusal echoes the join's nonce. Before, a refusal was believed only from the seed's
#     address as source, and the joiner ignored it.
# Exits 77 (skipped) without root or namespaces.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$here/lib.sh"

node_bin=${AU_BUILD_DIR:?AU_BUILD_DIR is set by ctest}/tests/netns/netns_cluster_node

start_namespaces 3 "$node_bin"
logs=$(mktemp -d)
# node 2's second address, the one it advertises; its first one stays the source of its sends
adv_ip="10.77.${NETNS_SUBNET}.102"
netns_exec 2 ip addr add "$adv_ip/24" dev eth0
netns_wait_reachable 0 2 10 || fail "namespace 0 cannot reach 2"
adv="$adv_ip:7500"

three_with() { # three_with LOG...: each log's latest list has 3 members, node 2's among them
    for l in "$@"; do
        local m; m=$(last_members "$l")
        [[ $m == 3\ * && $m == *"$adv"* ]] || return 1
    done
}

seeds="$(netns_ip 0):7500 $(netns_ip 1):7500"
for i in 0 1; do
    # shellcheck disable=SC2086
    netns_run "$i" "$node_bin" "$(netns_ip "$i"):7500" 60 $seeds >"$logs/n$i"
done
# shellcheck disable=SC2086
netns_run 2 "$node_bin" -a "$adv" 0.0.0.0:7500 60 $seeds >"$logs/n2"
first=$NETNS_LAST_PID
wait_for 30 three_with n0 n1 n2 || fail "the three did not form one cluster"
pass "a member bound to 0.0.0.0 advertising $adv (sending from $(netns_ip 2)) joins"

kill -KILL "$first"
wait "$first" 2>/dev/null || true
lines0=$(grep -c '^members' "$logs/n0")
lines1=$(grep -c '^members' "$logs/n1")
t0=$SECONDS
# shellcheck disable=SC2086
netns_run 2 "$node_bin" -a "$adv" 0.0.0.0:7500 60 $seeds >"$logs/n2b"
wait_for 10 three_with n0 n1 n2b || fail "the restarted member is not in every member list"
# past the old run's failure detection (well under 3 s): still a member, never dropped
sleep 4
three_with n0 n1 n2b || fail "the restarted member was dropped"
for l in n0:$lines0 n1:$lines1; do
    if tail -n +"$((${l#*:} + 1))" "$logs/${l%%:*}" | grep -q '^members 2 '; then
        fail "${l%%:*} removed the member instead of replacing its run"
    fi
done
pass "killed and restarted: the new run replaced the old one everywhere (within $((SECONDS - t0 - 4 + 1)) s), no removal"

# 2: an incompatible seed, bound to the wildcard, refuses a joiner
for p in "${NETNS_PIDS[@]}"; do { kill -KILL "$p" && wait "$p"; } 2>/dev/null || true; done
netns_run 2 "$node_bin" -a "$adv_ip:7501" -c 99 0.0.0.0:7501 30 >"$logs/seed"
sleep 0.5
netns_run 0 "$node_bin" "$(netns_ip 0):7501" 30 "$adv_ip:7501" >"$logs/joiner"
refused() { grep -q '^incompatible' "$logs/joiner"; }
wait_for 10 refused || fail "the joiner did not believe the incompatible seed's refusal"
pass "an incompatible seed bound to 0.0.0.0 refuses a joiner: INCOMPATIBLE"
rm -rf "$logs"
echo "$passed passed, 0 failed"
