#!/usr/bin/env bash
# bench/cluster/run.sh — the cluster benchmarks of `make bench` (docs/benchmarks.md):
#   1. side by side with Serf (and aurum with the defaults, and with hb_interval = 1.5 s) (Debian `serf`, real agents): N = 10 and 30 processes on the
#      loopback of a network namespace of their own (so its byte counters see only them), each
#      system in turn: join convergence (all N see N), steady-state bytes/s per node (lo's tx
#      bytes over 10 s / N), crash detection (kill -9 one; until every other process saw it
#      removed); RUNS runs each, median and spread.
#   2. scale in simulation: bench/cluster_scale at N = 1,000 (and 10,000 with SCALE_10K=1).
# Needs root (namespaces); exits 77 without. Environment: RUNS (default 3), BIN (the build's
# bench directory, default build-bench/bench), SCALE_MINUTES (default 1), SIZES (default "10 30"),
# SKIP_SCALE=1 (only the Serf comparison).
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${BIN:-$repo/build-bench/bench}
runs=${RUNS:-3}
[[ $(id -u) == 0 ]] || { echo "bench/cluster/run.sh: needs root for a network namespace"; exit 77; }
command -v serf >/dev/null || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq serf >/dev/null || exit 1; }
if [[ ! -x $bin/cluster_agent || ! -x $bin/cluster_scale ]]; then
  cmake -S "$repo" -B "$repo/build-bench" -DCMAKE_BUILD_TYPE=Release -DAU_BUILD_BENCH=ON >/dev/null &&
    cmake --build "$repo/build-bench" -j2 --target cluster_agent cluster_scale >/dev/null || exit 1
fi
ns=au-cbench-$$
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  wait 2>/dev/null
  ip netns del "$ns" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT INT TERM
ip netns add "$ns" && ip -n "$ns" link set lo up || exit 1
now() { date +%s.%N; }
lo_bytes() { ip netns exec "$ns" cat /sys/class/net/lo/statistics/tx_bytes; }
stop_all() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; wait 2>/dev/null; pids=(); }

# first_at FILE AWK-CONDITION AFTER: the first timestamp (column 1) after AFTER whose line matches.
first_at() { awk -v after="$3" "\$1 > after && ($2) { print \$1; exit }" "$1"; }

# wait_all SECS CMD: until CMD holds or SECS pass.
wait_all() {
  local end=$(( $(date +%s) + $1 )); shift
  while (( $(date +%s) < end )); do "$@" && return 0; sleep 0.1; done
  return 1
}

# KEEP_FAILED=1: a failed run's logs are copied to /tmp/cluster-bench-failed.<pid>.<time>
keep_failed() { [[ ${KEEP_FAILED:-0} == 1 ]] && cp -r "$dir" "/tmp/cluster-bench-failed.$$.$(date +%s)"; return 0; }

# not_started PREFIX N: after a join that did not complete, "RETRY k" when k agents wrote nothing
# at all (they never started: the harness's failure, and the run is made again), else "- - -"
# (a failure of the system under test, reported as such).
not_started() {
  local k=0
  for ((i = 0; i < $2; i++)); do
    [[ -s $dir/$1$i ]] && continue
    k=$((k + 1))
    [[ -s $dir/serr$i && $1 == s ]] && echo "# serf agent $i: $(grep -m1 -iE 'error|fail' "$dir/serr$i")" >&2
  done
  if ((k > 0)); then echo "RETRY $k -"; else echo "- - -"; fi
}

# ---- aurum ------------------------------------------------------------------------------
aurum_all_have() { # N COUNT AFTER [SKIP]
  for ((i = 0; i < $1; i++)); do
    [[ ${4:-} == "$i" ]] && continue
    [[ -n $(first_at "$dir/a$i" "\$3 == $2" "$3") ]] || return 1
  done
}
aurum_run() { # N -> "join_s bps detect_s"
  local n=$1 t0 b0 b1 tk worst=0
  t0=$(now)
  for ((i = 0; i < n; i++)); do
    ip netns exec "$ns" "$bin/cluster_agent" "127.0.0.1:$((20000 + i))" 127.0.0.1:20000 >"$dir/a$i" 2>/dev/null &
    pids+=($!)
  done
  wait_all 60 aurum_all_have "$n" "$n" 0 || { keep_failed; not_started a "$n"; stop_all; return; }
  for ((i = 0; i < n; i++)); do
    local t; t=$(first_at "$dir/a$i" "\$3 == $n" 0)
    worst=$(echo "$t - $t0" | bc -l | awk -v w="$worst" '{ print ($1 > w ? $1 : w) }')
  done
  local join=$worst
  sleep 5
  b0=$(lo_bytes); sleep 10; b1=$(lo_bytes)
  local bps=$(( (b1 - b0) / 10 / n ))
  local victim=$((n / 2))
  tk=$(now); kill -9 "${pids[$victim]}"
  wait_all 60 aurum_all_have "$n" "$((n - 1))" "$tk" "$victim" || { keep_failed; echo "$join $bps -"; stop_all; return; }
  worst=0
  for ((i = 0; i < n; i++)); do
    [[ $i == "$victim" ]] && continue
    local t; t=$(first_at "$dir/a$i" "\$3 == $((n - 1))" "$tk")
    worst=$(echo "$t - $tk" | bc -l | awk -v w="$worst" '{ print ($1 > w ? $1 : w) }')
  done
  echo "$join $bps $worst"
  stop_all
}

# the same with heartbeats every 1.5 s: the bandwidth of Serf's order (docs/benchmarks.md)
aurum_hb1500_run() {
  export CLUSTER_HB_MS=1500
  aurum_run "$@"
}

# ---- serf -------------------------------------------------------------------------------
cat >"$dir/handler.sh" <<'H'
#!/bin/sh
ts=$(date +%s.%N)
while read -r name rest; do echo "$ts $SERF_EVENT $name" >>"$SERF_BENCH_LOG"; done
H
chmod +x "$dir/handler.sh"
serf_count() { # FILE EVENT AFTER SELF -> distinct names other than SELF
  awk -v ev="$2" -v after="$3" -v self="$4" '$1 > after && $2 == ev && $3 != self && !($3 in s) { s[$3] = 1; c++ } END { print c + 0 }' "$1" 2>/dev/null
}
serf_all() { # N EVENT WANT AFTER [SKIP]
  for ((i = 0; i < $1; i++)); do
    [[ ${5:-} == "$i" ]] && continue
    local c; c=$(serf_count "$dir/s$i" "$2" "$4" "n$i")
    (( ${c:-0} >= $3 )) || return 1
  done
}
serf_last() { # FILE EVENT AFTER SELF WANT -> time the WANT-th distinct name appeared
  awk -v ev="$2" -v after="$3" -v self="$4" -v want="$5" \
    '$1 > after && $2 == ev && $3 != self && !($3 in s) { s[$3] = 1; if (++c == want) { print $1; exit } }' "$1"
}
serf_run() {
  local n=$1 t0 b0 b1 tk worst=0
  t0=$(now)
  for ((i = 0; i < n; i++)); do
    touch "$dir/s$i"
    local join=(); ((i > 0)) && join=(-join=127.0.0.1:21000)
    SERF_BENCH_LOG=$dir/s$i ip netns exec "$ns" serf agent -node="n$i" -bind="127.0.0.1:$((21000 + i))" \
      -rpc-addr="127.0.0.1:$((22000 + i))" "${join[@]}" -log-level=err \
      -event-handler="member-join,member-failed=$dir/handler.sh" >"$dir/serr$i" 2>&1 &
    pids+=($!)
  done
  wait_all 60 serf_all "$n" member-join "$((n - 1))" 0 || { keep_failed; not_started s "$n"; stop_all; rm -f "$dir"/s*; return; }
  for ((i = 0; i < n; i++)); do
    local t; t=$(serf_last "$dir/s$i" member-join 0 "n$i" "$((n - 1))")
    worst=$(echo "$t - $t0" | bc -l | awk -v w="$worst" '{ print ($1 > w ? $1 : w) }')
  done
  local join=$worst
  sleep 5
  b0=$(lo_bytes); sleep 10; b1=$(lo_bytes)
  local bps=$(( (b1 - b0) / 10 / n ))
  local victim=$((n / 2))
  tk=$(now); kill -9 "${pids[$victim]}"
  wait_all 90 serf_all "$n" member-failed 1 "$tk" "$victim" || { echo "$join $bps -"; stop_all; return; }
  worst=0
  for ((i = 0; i < n; i++)); do
    [[ $i == "$victim" ]] && continue
    local t; t=$(serf_last "$dir/s$i" member-failed "$tk" "n$i" 1)
    worst=$(echo "$t - $tk" | bc -l | awk -v w="$worst" '{ print ($1 > w ? $1 : w) }')
  done
  echo "$join $bps $worst"
  stop_all
  rm -f "$dir"/s*
}

stats() { # values... -> "median (min .. max)"
  printf '%s\n' "$@" | grep -v '^-$' | sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "-"; exit }
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.2f (%.2f .. %.2f, %d runs)", m, v[1], v[NR], NR }'
}

echo "# cluster benchmarks: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "# $(serf version | head -1) with its defaults (LAN profile); aurum with the cluster defaults, and with hb_interval 1.5 s"
printf '%-12s %-4s %-34s %-34s %-34s\n' system N "join convergence s" "steady bytes/s/node" "crash seen by all s"
for n in ${SIZES:-10 30}; do
  for sys in ${SYSTEMS:-aurum aurum_hb1500 serf}; do
    J=(); B=(); D=()
    for ((r = 0, retries = 0; r < runs; r++)); do
      read -r j b d < <(${sys}_run "$n")
      if [[ $j == RETRY ]]; then # agents that never started: run again, at most 3 times a row
        echo "# $sys N=$n run $((r + 1)): $b agent(s) wrote nothing (did not start); run again" >&2
        if ((++retries <= 3)); then r=$((r - 1)); continue; fi
        j=-; b=-; d=-
      fi
      retries=0
      J+=("$j"); B+=("$b"); D+=("$d")
    done
    printf '%-12s %-4s %-34s %-34s %-34s\n' "$sys" "$n" "$(stats "${J[@]}")" "$(stats "${B[@]}")" "$(stats "${D[@]}")"
  done
done

echo "# scale in simulation (virtual time; the simulator's own wall time and memory below)"
[[ ${SKIP_SCALE:-0} == 1 ]] || "$bin/cluster_scale" 1000 --minutes "${SCALE_MINUTES:-1}"
if [[ ${SCALE_10K:-0} == 1 ]]; then "$bin/cluster_scale" 10000 --minutes "${SCALE_MINUTES:-1}"; fi
