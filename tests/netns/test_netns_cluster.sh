#!/usr/bin/env bash
# test_netns_cluster.sh — five cluster members, one process each, in five network namespaces:
# they form one cluster; node 4 is cut off (its bridge port removed, silently, both ways) and the
# other four remove it; the link is restored and node 4 is a member again everywhere (it refutes
# its removal, or the others reconnect to it). Exits 77 (skipped) without root or namespaces.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$here/netns.sh"

node_bin=${AU_BUILD_DIR:?AU_BUILD_DIR is set by ctest}/tests/netns/netns_cluster_node
passed=0
logs=/nonexistent # set below; fail() may run before it is
fail() {
    echo "FAIL: $*" >&2
    for i in 0 1 2 3 4; do echo "node $i: $(tail -1 "$logs/$i" 2>/dev/null)" >&2; done
    echo "$passed passed, 1 failed"
    exit 1
}
pass() {
    passed=$((passed + 1))
    echo "ok: $*"
}

netns_require
[[ -x $node_bin ]] || fail "missing $node_bin"
logs=$(mktemp -d)
netns_setup 5
for i in 0 1 2 3 4; do netns_wait_reachable "$i" 0 10 || fail "namespace $i cannot reach 0"; done
seeds="$(netns_ip 0):7500 $(netns_ip 1):7500"
for i in 0 1 2 3 4; do
    # shellcheck disable=SC2086
    netns_run "$i" "$node_bin" "$(netns_ip "$i"):7500" 90 $seeds >"$logs/$i"
done

# last_members I: node I's latest member list ("5 a b c d e"), or empty.
last_members() { grep '^members' "$logs/$1" 2>/dev/null | tail -1 | cut -d' ' -f2-; }
# wait_for SECS PRED: polls PRED every 100 ms.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    while ((SECONDS < deadline)); do "$@" && return 0; sleep 0.1; done
    return 1
}
all_five() {
    for i in 0 1 2 3 4; do [[ $(last_members "$i") == 5\ * ]] || return 1; done
}
four_without_4() {
    local cut; cut="$(netns_ip 4):7500"
    for i in 0 1 2 3; do
        local m; m=$(last_members "$i")
        [[ $m == 4\ * && $m != *"$cut"* ]] || return 1
    done
}

wait_for 30 all_five || fail "the five did not form one cluster"
pass "five processes in five namespaces form one cluster"
t0=$SECONDS
netns_cut 4
wait_for 30 four_without_4 || fail "node 4 was not removed after the cut"
pass "node 4 cut off: the other four removed it (within $((SECONDS - t0 + 1)) s)"
t0=$SECONDS
netns_restore 4
wait_for 40 all_five || fail "node 4 did not rejoin after the link was restored"
pass "link restored: node 4 is a member everywhere again (within $((SECONDS - t0 + 1)) s)"
rm -rf "$logs"
echo "$passed passed, 0 failed"
