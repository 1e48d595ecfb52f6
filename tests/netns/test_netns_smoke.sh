#!/usr/bin/env bash
# test_netns_smoke.sh — the namespace helpers themselves: two nodes reach each other, a cut
# (or downed) link separates them, a restored one joins them again, commands run inside a
# namespace with its address, and nothing is left behind (netem: test_netns_netem.sh). Exits 77
# (skipped) without root or network namespaces.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$here/lib.sh"

netns_require
host_links_before=$(ip -o link show | awk -F': ' '{print $2}' | sort)

netns_setup 2
pass "set up run $NETNS_ID: $(netns_name 0)=$(netns_ip 0) $(netns_name 1)=$(netns_ip 1)"

# A command inside a namespace sees that namespace's address, and only its own interfaces.
[[ $(netns_exec 0 printenv AU_NETNS_IP) == "$(netns_ip 0)" ]] || fail "AU_NETNS_IP in node 0"
[[ $(netns_exec 1 printenv AU_NETNS_IPS) == "$(netns_ip 0) $(netns_ip 1)" ]] || fail "AU_NETNS_IPS"
netns_exec 0 ip -o -4 addr show dev eth0 | grep -q "inet $(netns_ip 0)/24" || fail "node 0 address"
pass "commands run inside a namespace with its address"

netns_wait_reachable 0 1 10 || fail "node 0 cannot reach node 1 after setup"
netns_reachable 1 0 || fail "node 1 cannot reach node 0 after setup"
pass "the two nodes reach each other"

netns_cut 1
if netns_reachable 0 1; then fail "node 0 still reaches node 1 through a cut link"; fi
if netns_reachable 1 0; then fail "node 1 still reaches node 0 through a cut link"; fi
pass "a cut link separates them, both ways"

netns_restore 1
netns_wait_reachable 0 1 10 || fail "node 0 cannot reach node 1 after the link was restored"
netns_wait_reachable 1 0 10 || fail "node 1 cannot reach node 0 after the link was restored"
pass "a restored link joins them again"

netns_link_down 0
if netns_reachable 0 1; then fail "node 0 still reaches node 1 without carrier"; fi
netns_exec 0 ip -o link show dev eth0 | grep -q NO-CARRIER || fail "node 0's eth0 kept its carrier"
netns_link_up 0
netns_wait_reachable 0 1 10 || fail "node 0 cannot reach node 1 once its carrier is back"
pass "a link taken down and up again separates and rejoins them"

# A background command is tracked, and its exit status can be waited for.
netns_run 1 bash -c 'exit 3'
rc=0
wait "$NETNS_LAST_PID" || rc=$?
[[ $rc == 3 ]] || fail "netns_run: exit status $rc, expected 3"
netns_run 0 sleep 600 # left running on purpose: cleanup must end it
sleeper=$NETNS_LAST_PID
pass "background commands run and report their status"

run=$NETNS_ID
netns_cleanup
for ns in "au-$run-br" "au-$run-0" "au-$run-1"; do
    [[ ! -e /run/netns/$ns ]] || fail "namespace $ns left behind"
done
if kill -0 "$sleeper" 2>/dev/null; then fail "background command survived cleanup"; fi
[[ $(ip -o link show | awk -F': ' '{print $2}' | sort) == "$host_links_before" ]] ||
    fail "the host's interfaces changed"
pass "cleanup removed every namespace and process; the host's interfaces are unchanged"
echo "$passed passed, 0 failed"
