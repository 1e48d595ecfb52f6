#!/usr/bin/env bash
# demo.sh — the whole system on this machine, driven by the `aurum` command (make demo): 3 nodes
# and 6 devices as separate processes on 127.0.0.1 (ports the OS picks), a shared counter
# incremented from every node, one node killed, its removal and its devices' new owners, the
# counter still agreed, and a clean stop. Each step says what is happening, then shows the
# evidence from `aurum status` (read by tools/demo_view.py). Every wait has a deadline.
#
#   demo.sh <aurum>
# Exit status: 0 the demo ran as described, 1 a step did not happen in time (it says which).
set -u -o pipefail
aurum=${1:?usage: demo.sh <aurum>}
here=$(cd "$(dirname "$0")" && pwd)
view() { python3 "$here/demo_view.py" "$aurum" "$@" "${labels[@]}"; }
command -v python3 >/dev/null || { echo "demo: python3 is needed (make deps installs it)"; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted"; exit 130' INT TERM
t0=$SECONDS
step() { echo; echo "== $* [$((SECONDS - t0)) s]"; }
node_of_id() { # the node whose first line named this cluster id
    local i
    for i in 1 2 3; do grep -q " id=$1 " "$work/node$i.out" && { echo "node$i"; return; }; done
    echo "an unknown node"
}
say() { echo "   $*"; }
die() { echo "demo: $*"; exit 1; }

echo "aurum demo: a cluster of 3 nodes with 6 devices, on this machine (127.0.0.1)."
echo "Every process below is a real one; everything shown is read from the nodes with"
echo "'aurum status --json'. Logs: kept in $work while the demo runs."

# ---- nodes ------------------------------------------------------------------------------------
declare -A addr pid
labels=()
start_node() { # start_node <i> [seed]
    local args=(node --bind 127.0.0.1:0)
    [[ -n ${2:-} ]] && args+=(--seed "$2")
    "$aurum" "${args[@]}" >"$work/node$1.out" 2>"$work/node$1.err" &
    pid[$1]=$!
    pids+=($!)
    for _ in $(seq 500); do
        addr[$1]=$(sed -n 's/^aurum node: listening on \([^ ]*\) .*/\1/p' "$work/node$1.out" 2>/dev/null)
        [[ -n ${addr[$1]} ]] && break
        kill -0 "${pid[$1]}" 2>/dev/null || break
        sleep 0.02
    done
    [[ -n ${addr[$1]} ]] || { cat "$work/node$1.err"; die "node $1 did not start"; }
    labels+=("node$1=${addr[$1]}")
    say "node$1 is up at ${addr[$1]} (pid ${pid[$1]})$([[ -n ${2:-} ]] && echo ", joining through node1")"
}
step "1. Start 3 nodes: node1 alone, node2 and node3 join through it"
say "(each runs membership and failure detection, a device server and a shared counter)"
start_node 1
start_node 2 "${addr[1]}"
start_node 3 "${addr[1]}"
"$aurum" watch "${addr[1]}" >"$work/watch.out" 2>&1 &
watch_pid=$!
pids+=($watch_pid)
say "a watcher follows node1's membership events (shown at the end)"
view formed 3 "${addr[1]}" "${addr[2]}" "${addr[3]}" || die "the cluster did not form"

# ---- devices ----------------------------------------------------------------------------------
step "2. Start 6 simulated devices, each announcing itself to one of the nodes"
say "(the node forwards the announce to the device's owner: the ring owner of its id)"
devices=(thermo-1 thermo-2 meter-1 meter-2 valve-1 valve-2)
device_pids=()
for i in "${!devices[@]}"; do
    n=$((i % 3 + 1))
    "$aurum" device --server "${addr[$n]}" --name "${devices[$i]}" --interval 200 \
        >"$work/${devices[$i]}.out" 2>&1 &
    pids+=($!)
    device_pids+=($!)
done
say "6 device processes started: ${devices[*]}"
view devices 6 "${addr[1]}" "${addr[2]}" "${addr[3]}" || die "the devices were not all owned"

# ---- the shared counter -----------------------------------------------------------------------
step "3. Increment the shared counter from every node: +1 on node1, +2 on node2, +3 on node3"
say "(a PNCounter replicated on every node by causal delta dispersal: no node is in charge)"
for i in 1 2 3; do "$aurum" incr "${addr[$i]}" "$i" >/dev/null || die "incr on node$i failed"; done
view counter 6 "${addr[1]}" "${addr[2]}" "${addr[3]}" || die "the counter did not converge"

# ---- failure ----------------------------------------------------------------------------------
# The victim: the node (not node1, which the watcher follows) owning the most devices.
victim=2
n2=$(view owned-by "${addr[2]}" "${addr[1]}" | wc -l)
n3=$(view owned-by "${addr[3]}" "${addr[1]}" | wc -l)
((n3 > n2)) && victim=3
survivors=()
for i in 1 2 3; do [[ $i != "$victim" ]] && survivors+=("${addr[$i]}"); done
owned=$(view owned-by "${addr[$victim]}" "${addr[1]}" | tr '\n' ' ')
step "4. Kill node$victim with kill -9: no goodbye, the others must notice by themselves"
say "node$victim owns: ${owned:-no device}"
disown "${pid[$victim]}" # no "Killed" notice from the shell: the demo says it
kill -KILL "${pid[$victim]}"
for _ in $(seq 100); do kill -0 "${pid[$victim]}" 2>/dev/null || break; sleep 0.02; done
say "node$victim (pid ${pid[$victim]}) is dead; the survivors' failure detectors take it from here"
view removed "${addr[$victim]}" "${survivors[@]}" || die "node$victim was not removed"

step "5. The devices node$victim owned get new owners (the ring without it decides)"
view reowned "${addr[$victim]}" "${survivors[@]}" || die "the devices were not re-owned"
for d in $owned; do
    line=$(grep -E '^aurum device: .* owned by' "$work/$d.out" | tail -1)
    say "$d itself says: ${line#aurum device: $d } ($(node_of_id "${line##*id=}"))"
done

step "6. The counter survived the failure: still 6 on both survivors; +10 through one of them"
view counter 6 "${survivors[@]}" || die "the counter changed"
"$aurum" incr "${survivors[0]}" 10 >/dev/null || die "incr after the failure failed"
view counter 16 "${survivors[@]}" || die "the counter did not converge after the failure"

# ---- stop -------------------------------------------------------------------------------------
step "7. Stop everything: the devices, then the survivors with SIGTERM (they leave gracefully)"
for p in "${device_pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
for p in "${device_pids[@]}"; do wait "$p"; done
say "the 6 devices stopped"
for i in 3 2 1; do
    [[ $i == "$victim" ]] && continue
    kill -TERM "${pid[$i]}"
    for _ in $(seq 200); do kill -0 "${pid[$i]}" 2>/dev/null || break; sleep 0.05; done
    kill -0 "${pid[$i]}" 2>/dev/null && die "node$i did not stop within 10 s"
    wait "${pid[$i]}"; st=$?
    say "node$i: exit $st, \"$(tail -1 "$work/node$i.out")\""
done
# The watcher ends by itself once node1 says LEFT.
for _ in $(seq 100); do kill -0 "$watch_pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$watch_pid" 2>/dev/null && die "the watcher did not end after node1 left"
wait "$watch_pid"
say "what the watcher on node1 saw, from start to end:"
labels_sed=()
for i in 1 2 3; do
    id=$(sed -n 's/^aurum node: listening on [^ ]* id=\([0-9]*\) .*/\1/p' "$work/node$i.out")
    labels_sed+=(-e "s/${addr[$i]} id=$id/node$i/g" -e "s/${addr[$i]}/node$i/g" -e "s/id=$id/node$i/g")
done
sed "${labels_sed[@]}" -e 's/ id=0x[0-9a-f]*//' "$work/watch.out" | sed 's/^/     /'
echo
echo "Done in $((SECONDS - t0)) s: 3 nodes formed a cluster, 6 devices were each owned by one of"
echo "them, a counter incremented on every node converged, node$victim was killed and removed,"
echo "its devices were taken over, the counter stayed agreed, and the rest left cleanly."
echo "Try it by hand: aurum --help; man aurum (after make install). The in-process demo of the"
echo "actor runtime is still there: ./build/demo."
