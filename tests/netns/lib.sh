#!/usr/bin/env bash
# lib.sh — what the namespace tests share: source it (it sources netns.sh) for
#   start_namespaces N [BIN]
#                        netns_require (exit 77, skipped, without root or namespaces), fail unless
#                        BIN (a program the test runs in the namespaces) is executable, set up N
#                        namespaces and wait (10 s at most) until each of them reaches node 0
#   pass MSG             count a passed check and print "ok: MSG"
#   fail MSG             print "FAIL: MSG", the last line of every file in $logs (if the test set
#                        logs), the count, and exit 1
#   wait_for SECS CMD... run CMD every 100 ms until it succeeds (return 0) or SECS seconds have
#                        passed (return 1)
#   last_members LOG     the latest member list ("3 a b c") a cluster node logged to $logs/LOG,
#                        or empty (netns_cluster_node prints one "members N ADDR..." per change)
# A test ends with `echo "$passed passed, 0 failed"`.
# shellcheck source-path=SCRIPTDIR
source "$(dirname "${BASH_SOURCE[0]}")/netns.sh"

passed=0
logs=${logs:-}

fail() {
    echo "FAIL: $*" >&2
    if [[ -n $logs && -d $logs ]]; then
        for f in "$logs"/*; do echo "$(basename "$f"): $(tail -1 "$f" 2>/dev/null)" >&2; done
    fi
    echo "$passed passed, 1 failed"
    exit 1
}

pass() {
    passed=$((passed + 1))
    echo "ok: $*"
}

wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    while ((SECONDS < deadline)); do "$@" && return 0; sleep 0.1; done
    return 1
}

start_namespaces() {
    netns_require
    [[ -z ${2:-} || -x $2 ]] || fail "missing $2"
    netns_setup "$1"
    local i
    for ((i = 0; i < $1; i++)); do netns_wait_reachable "$i" 0 10 || fail "namespace $i cannot reach 0"; done
}

last_members() { grep '^members' "$logs/$1" 2>/dev/null | tail -1 | cut -d' ' -f2-; }
