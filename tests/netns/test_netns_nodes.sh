#!/usr/bin/env bash
# test_netns_nodes.sh — two aurum nodes in two network namespaces exchange messages over a real
# (virtual) link; after the link is cut no message passes; after it is restored they pass again.
# Exits 77 (skipped) without root or network namespaces.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$here/lib.sh"

node_bin=${AU_BUILD_DIR:?AU_BUILD_DIR is set by ctest}/tests/netns/netns_node

start_namespaces 2 "$node_bin"
server="$(netns_ip 0):7400"
netns_run 0 "$node_bin" serve "$server"

# The server may take a moment to bind: ask until it answers, within a deadline.
ok=0
for _ in $(seq 1 50); do
    if netns_exec 1 "$node_bin" ask "$(netns_ip 1):0" "$server" 20 1000 >/dev/null; then ok=1; break; fi
done
[[ $ok == 1 ]] || fail "no replies across the link"
pass "20 queries and 20 replies cross the link between the namespaces"

netns_cut 1
rc=0
out=$(netns_exec 1 "$node_bin" ask "$(netns_ip 1):0" "$server" 20 300) || rc=$?
[[ $rc == 2 ]] || fail "with the link cut: $out (exit $rc), expected no replies"
pass "with the link cut no message passes ($out)"

netns_restore 1
netns_wait_reachable 1 0 10 || fail "link not restored"
ok=0
for _ in $(seq 1 20); do
    if netns_exec 1 "$node_bin" ask "$(netns_ip 1):0" "$server" 20 1000 >/dev/null; then ok=1; break; fi
done
[[ $ok == 1 ]] || fail "no replies after the link was restored"
pass "after the link is restored messages pass again"
echo "$passed passed, 0 failed"
