#!/usr/bin/env bash
# test_netns_netem.sh — the netem helpers: a delay set with netns_netem shows in the round-trip
# time, total loss cuts the link, and netns_netem_clear removes both. A test of its own so that a
# kernel without netem (sch_netem) is reported as skipped (exit 77), not passed with a note.
# Also exits 77 without root or network namespaces.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR
source "$here/lib.sh"

# The round-trip time of one ping from node $1 to node $2, in whole milliseconds.
rtt_ms() {
    local out
    out=$(netns_exec "$1" ping -n -c1 -W5 "$(netns_ip "$2")" 2>&1) || return 1
    [[ $out =~ time=([0-9]+) ]] || return 1
    echo "${BASH_REMATCH[1]}"
}

netns_require
command -v ping >/dev/null 2>&1 || netns_skip "needs ping (iputils-ping) to measure round trips"
netns_setup 2
netns_wait_reachable 0 1 10 || fail "node 0 cannot reach node 1 after setup"

rc=0
netns_netem 0 delay 200ms || rc=$?
[[ $rc == 77 ]] && netns_skip "this kernel has no netem qdisc (sch_netem)"
[[ $rc == 0 ]] || fail "netns_netem failed ($rc)"
rtt=$(rtt_ms 0 1) || fail "no ping reply with 200 ms delay"
((rtt >= 200)) || fail "round trip ${rtt} ms with 200 ms of netem delay on node 0's egress"
pass "a 200 ms netem delay shows in the round trip (${rtt} ms)"

netns_netem 0 loss 100% || fail "netns_netem loss failed"
if netns_reachable 0 1; then fail "node 0 still reaches node 1 with 100 % loss"; fi
pass "100 % netem loss cuts the link"

netns_netem_clear 0
netns_wait_reachable 0 1 10 || fail "node 0 cannot reach node 1 after netem was cleared"
rtt=$(rtt_ms 0 1) || fail "no ping reply after netem was cleared"
((rtt < 200)) || fail "round trip still ${rtt} ms after netem was cleared"
pass "netns_netem_clear removes delay and loss (${rtt} ms)"
echo "$passed passed, 0 failed"
