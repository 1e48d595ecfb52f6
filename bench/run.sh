#!/usr/bin/env bash
# Runs the `make bench` comparison: aurum-c against CAF 0.17 and Erlang/OTP
# on the same machine, in the same run.  See bench/README.md.
#
#   bench/run.sh [--quick] [--runs K] [--only b1,b2,...]
#                [--frameworks aurum,caf,erlang] [--no-install] [--help]
#
# Every benchmark program is invoked as `<program> <benchmark> N` and must
# print `RESULT <metric> <value> <unit>` lines on stdout (the first metric is
# the benchmark itself, e.g. `count`; some have more, e.g. `count_peak_rss`)
# and exit 0; anything else counts as a failed run.  Each benchmark runs K
# times per framework (5, or 3 with --quick, which also uses reduced sizes),
# the runs of the frameworks interleaved.  The table shows per row the median
# of the successful runs, `(k/K ok)` when fewer than K succeeded (and then no
# ratio), and the spread (min .. max); it is also written to
# bench/results/latest.csv.  The header gives the CPU model, the worker
# threads and every framework's build flags.
#
# Environment:
#   AU_BENCH_BIN     aurum-c benchmark binary (default
#                    build-bench/bench/aurum_bench; when left unset and
#                    bench/CMakeLists.txt exists, it is built first with
#                    CMake, Release, in build-bench)
#   BENCH_BUILD_DIR  where the peers are built (default build-bench; the CAF
#                    binary goes to peers/caf, the Erlang .beam to
#                    peers/erlang)
#   BENCH_TIMEOUT    seconds one run may take before it is killed
#                    (default 300, 60 with --quick)
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BENCH_BUILD_DIR:-$repo/build-bench}
case "$build_dir" in /*) ;; *) build_dir=$repo/$build_dir ;; esac
results_dir=$repo/bench/results

quick=0
runs=""
only=""
frameworks="aurum,caf,erlang"
install=1

usage() { sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --runs) runs=${2:?--runs needs a number}; shift ;;
    --only) only=${2:?--only needs a list}; shift ;;
    --frameworks) frameworks=${2:?--frameworks needs a list}; shift ;;
    --no-install) install=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

if [ -z "$runs" ]; then
  if [ "$quick" = 1 ]; then runs=3; else runs=5; fi
fi
case "$runs" in ''|*[!0-9]*|0) echo "run.sh: --runs must be a positive integer" >&2; exit 2 ;; esac

# One line per benchmark program:
#   name  full-N  quick-N  who  metric:unit:better ...
# `who` is `all`, or `aurum<SRC`: only aurum runs it, and the peers' cells are
# their values from benchmark SRC (same metric names with SRC's prefix).
benchmarks="\
pingpong               1000000  100000  all                    pingpong:ns/rt:lower
count                  10000000 1000000 all                    count:msg/s:higher count_peak_rss:MiB:lower
count_bounded          10000000 1000000 aurum<count            count_bounded:msg/s:higher count_bounded_peak_rss:MiB:lower
threadring             10000000 1000000 all                    threadring:ns/hop:lower
fjcreate               1000000  100000  all                    fjcreate:actors/s:higher
fjthrput               100000   10000   all                    fjthrput:msg/s:higher
idle                   100000   20000   all                    idle:bytes/actor:lower idle_alloc:bytes/actor:lower
fanin                  10000000 1000000 all                    fanin:msg/s:higher fanin_peak_rss:MiB:lower
fanin_bounded          10000000 1000000 aurum<fanin            fanin_bounded:msg/s:higher fanin_bounded_peak_rss:MiB:lower
remote_pingpong        100000   10000   all                    remote_pingpong:us/rt:lower remote_pingpong_cpu:cpu-us/rt:lower
remote_pingpong_nospin 100000   10000   aurum<remote_pingpong  remote_pingpong_nospin:us/rt:lower remote_pingpong_nospin_cpu:cpu-us/rt:lower
remote_throughput      1000000  100000  all                    remote_throughput:msg/s:higher remote_throughput_cpu:cpu-us/msg:lower
remote_pingpong_sealed 100000   10000   aurum<remote_pingpong  remote_pingpong_sealed:us/rt:lower remote_pingpong_sealed_cpu:cpu-us/rt:lower
remote_throughput_sealed 1000000 100000 aurum<remote_throughput remote_throughput_sealed:msg/s:higher remote_throughput_sealed_cpu:cpu-us/msg:lower"

if [ -n "$only" ]; then
  for b in ${only//,/ }; do
    if ! awk -v b="$b" '$1 == b { f = 1 } END { exit !f }' <<<"$benchmarks"; then
      echo "run.sh: unknown benchmark: $b" >&2
      exit 2
    fi
  done
fi

run_timeout=${BENCH_TIMEOUT:-}
if [ -z "$run_timeout" ]; then
  if [ "$quick" = 1 ]; then run_timeout=60; else run_timeout=300; fi
fi

mkdir -p "$results_dir" "$build_dir"
log=$results_dir/latest.log
: >"$log"
note() { printf '%s\n' "$*" >&2; printf '%s\n' "$*" >>"$log"; }

# ------------------------------------------------------------ packages --

have_pkg() {
  dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'
}

ensure_packages() {
  local missing=() p sudo=()
  for p in "$@"; do have_pkg "$p" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  note "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! "${sudo[@]}" apt-get install -y "${missing[@]}" >>"$log" 2>&1; then
    "${sudo[@]}" apt-get update >>"$log" 2>&1
    "${sudo[@]}" apt-get install -y "${missing[@]}" >>"$log" 2>&1 || {
      note "warning: could not install ${missing[*]} (see $log)"
      return 1
    }
  fi
}

want() { case ",$frameworks," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

# -------------------------------------------------------------- builds --

declare -A prog=()

if want caf; then
  [ "$install" = 1 ] && ensure_packages libcaf-dev g++ make
  if make -s -C "$repo/bench/caf" BUILD="$build_dir/peers/caf" >>"$log" 2>&1; then
    prog[caf]=$build_dir/peers/caf/caf_bench
  else
    note "warning: CAF peer did not build (see $log); caf column is n/a"
  fi
fi

if want erlang; then
  [ "$install" = 1 ] && ensure_packages erlang-base
  export ERL_BENCH_BUILD_DIR=$build_dir/peers/erlang
  if "$repo/bench/erlang/run.sh" --build >>"$log" 2>&1; then
    prog[erlang]=$repo/bench/erlang/run.sh
  else
    note "warning: Erlang peer did not build (see $log); erlang column is n/a"
  fi
fi

if want aurum; then
  aurum_built=1
  if [ -z "${AU_BENCH_BIN:-}" ]; then
    AU_BENCH_BIN=$repo/build-bench/bench/aurum_bench
    if [ -f "$repo/bench/CMakeLists.txt" ] && command -v cmake >/dev/null; then
      note "building aurum_bench (Release) in build-bench"
      if [ ! -f "$repo/build-bench/CMakeCache.txt" ]; then
        cmake -S "$repo" -B "$repo/build-bench" -DCMAKE_BUILD_TYPE=Release \
          -DAU_BUILD_BENCH=ON >>"$log" 2>&1
      fi
      # A failed build leaves the previous binary in place: never run that stale one.
      if ! cmake --build "$repo/build-bench" --target aurum_bench -j "$(nproc)" >>"$log" 2>&1; then
        aurum_built=0
        note "warning: aurum_bench did not build (see $log); aurum column is n/a"
      fi
    fi
  fi
  if [ "$aurum_built" = 0 ]; then
    :
  elif [ -x "$AU_BENCH_BIN" ]; then
    prog[aurum]=$AU_BENCH_BIN
  else
    note "warning: $AU_BENCH_BIN not found; aurum column is n/a"
  fi
fi

# epmd is started by the Erlang remote benchmarks if it is not running; stop
# it again at the end in that case (epmd -kill refuses while nodes are
# registered, so this cannot hurt another user's node).
epmd_was_running=0
if command -v epmd >/dev/null && epmd -names >/dev/null 2>&1; then epmd_was_running=1; fi
cleanup() {
  if [ "$epmd_was_running" = 0 ] && command -v epmd >/dev/null; then
    epmd -kill >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------- machine, builds --

fws=(aurum caf erlang)
info=()
cpu_model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
info+=("cpu: ${cpu_model:-unknown}, nproc=$(nproc), kernel $(uname -r)")
for fw in "${fws[@]}"; do
  want "$fw" || continue
  if [ -z "${prog[$fw]:-}" ]; then info+=("$fw: not built"); continue; fi
  lines=$(timeout 60 "${prog[$fw]}" --info 2>>"$log" | sed -n 's/^INFO //p')
  if [ -z "$lines" ]; then info+=("$fw: no --info from ${prog[$fw]}"); continue; fi
  while IFS= read -r l; do info+=("$l"); done <<<"$lines"
done
have_pkg libcaf-dev && info+=("caf package: libcaf-dev $(dpkg-query -W -f='${Version}' libcaf-dev)")
have_pkg erlang-base && info+=("erlang package: erlang-base $(dpkg-query -W -f='${Version}' erlang-base)")
info+=("aurum binary: ${prog[aurum]:-n/a}")

# ---------------------------------------------------------------- runs --

# run_one FRAMEWORK BENCH N METRICS... -> prints "metric value" per valid
# RESULT line of an expected metric (with its expected unit); nothing when the
# run failed.
run_one() {
  local fw=$1 bench=$2 n=$3 out rc spec key unit val got_unit
  shift 3
  out=$(BENCH_TIMEOUT=$run_timeout timeout -k 10 $((run_timeout + 15)) \
          "${prog[$fw]}" "$bench" "$n" 2>>"$log")
  rc=$?
  printf '[%s %s %s] rc=%s %s\n' "$fw" "$bench" "$n" "$rc" \
    "$(grep '^RESULT' <<<"$out" | tr '\n' ' ')" >>"$log"
  [ "$rc" -eq 0 ] || return 0
  for spec in "$@"; do
    IFS=: read -r key unit _ <<<"$spec"
    read -r val got_unit < <(awk -v k="$key" '$1 == "RESULT" && $2 == k { v = $3; u = $4 }
                                              END { if (v != "") print v, u }' <<<"$out")
    [ -n "${val:-}" ] || continue
    if [ "$got_unit" != "$unit" ]; then
      note "warning: $fw $key reported unit '$got_unit', expected '$unit'; ignored"
      continue
    fi
    case "$val" in *[!0-9.eE+-]*) continue ;; esac
    printf '%s %s\n' "$key" "$val"
  done
}

declare -A vals=()   # [metric.fw] = successful values, space-separated
declare -A tried=()  # [metric.fw] = runs attempted (0 when the framework is not part of the row)
declare -A from=()   # [metric] = the metric the peers' cells come from ("" = their own)
rows=()

note "bench/run.sh: $( [ "$quick" = 1 ] && echo quick || echo full ) run, $runs runs each," \
     "$(date -u '+%Y-%m-%d %H:%M UTC')"
for l in "${info[@]}"; do printf '%s\n' "$l" >>"$log"; done

while read -r bench full_n quick_n who specs; do
  [ -n "$bench" ] || continue
  if [ -n "$only" ] && [[ ",$only," != *",$bench,"* ]]; then continue; fi
  if [ "$quick" = 1 ]; then n=$quick_n; else n=$full_n; fi
  # shellcheck disable=SC2206
  metrics=($specs)
  src=""
  case "$who" in "aurum<"*) src=${who#aurum<} ;; esac
  for spec in "${metrics[@]}"; do
    IFS=: read -r key unit better <<<"$spec"
    rows+=("$key $unit $better")
    from[$key]=""
    [ -n "$src" ] && from[$key]=$src${key#"$bench"}
    for fw in "${fws[@]}"; do vals[$key.$fw]=""; tried[$key.$fw]=0; done
  done
  for ((r = 1; r <= runs; r++)); do
    line="$bench N=$n run $r/$runs:"
    for fw in "${fws[@]}"; do
      want "$fw" || continue
      [ -n "$src" ] && [ "$fw" != aurum ] && continue
      got=""
      [ -n "${prog[$fw]:-}" ] && got=$(run_one "$fw" "$bench" "$n" "${metrics[@]}")
      for spec in "${metrics[@]}"; do
        key=${spec%%:*}
        t=${tried[$key.$fw]}
        tried[$key.$fw]=$((t + 1))
        v=$(awk -v k="$key" '$1 == k { print $2 }' <<<"$got")
        [ -n "$v" ] && vals[$key.$fw]+="$v "
        line+=" $fw:$key=${v:-n/a}"
      done
    done
    note "$line"
  done
done <<<"$benchmarks"

# The peers' cells of an aurum-only row are copies of their source row.
for row in "${rows[@]}"; do
  read -r key _ _ <<<"$row"
  s=${from[$key]}
  [ -n "$s" ] || continue
  for fw in caf erlang; do
    if [ -n "${tried[$s.$fw]:-}" ]; then
      vals[$key.$fw]=${vals[$s.$fw]}
      tried[$key.$fw]=${tried[$s.$fw]}
    fi
  done
done

# stats VALUES... -> "median min max count" (or "n/a n/a n/a 0")
stats() {
  printf '%s\n' "$@" | awk '
    $1 != "" { v[n++] = $1 + 0 }
    END {
      if (n == 0) { print "n/a n/a n/a 0"; exit }
      for (i = 1; i < n; i++) {            # insertion sort, n is tiny
        x = v[i]; j = i - 1
        while (j >= 0 && v[j] > x) { v[j + 1] = v[j]; j-- }
        v[j + 1] = x
      }
      m = (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
      printf "%.2f %.2f %.2f %d\n", m, v[0], v[n - 1], n
    }'
}

# --------------------------------------------------------------- table --

csv=$results_dir/latest.csv
{
  echo "benchmark,unit,aurum,caf,erlang,better_is,aurum_ok,caf_ok,erlang_ok,aurum_min,aurum_max,caf_min,caf_max,erlang_min,erlang_max,peers_from"
  for row in "${rows[@]}"; do
    read -r key unit better <<<"$row"
    declare -A m=() lo=() hi=() ok=()
    for fw in "${fws[@]}"; do
      # shellcheck disable=SC2086
      read -r m[$fw] lo[$fw] hi[$fw] k < <(stats ${vals[$key.$fw]})
      ok[$fw]="$k/${tried[$key.$fw]}"
    done
    echo "$key,$unit,${m[aurum]},${m[caf]},${m[erlang]},$better,${ok[aurum]},${ok[caf]},${ok[erlang]},${lo[aurum]},${hi[aurum]},${lo[caf]},${hi[caf]},${lo[erlang]},${hi[erlang]},${from[$key]}"
  done
} >"$csv"

echo
for l in "${info[@]}"; do printf '%s\n' "$l"; done
echo
awk -F, '
  function cell(med, ok,    k, t) {
    split(ok, p, "/"); k = p[1] + 0; t = p[2] + 0
    if (t == 0) return "-"
    if (k == 0) return "n/a (0/" t " ok)"
    if (k < t) return med " (" k "/" t " ok)"
    return med
  }
  function spread(lo, hi, ok) {
    split(ok, p, "/")
    if (p[2] + 0 == 0) return "-"
    if (p[1] + 0 == 0) return "n/a"
    return lo " .. " hi
  }
  function pad(s, w) { while (length(s) < w) s = " " s; return s }
  function padr(s, w) { while (length(s) < w) s = s " "; return s }
  NR == 1 { next }
  {
    r = NR - 1; nrow = r
    name[r] = $1; unit[r] = $2; better[r] = $6
    for (f = 0; f < 3; f++) {
      c[r, f] = cell($(3 + f), $(7 + f))
      s[r, f] = spread($(10 + 2 * f), $(11 + 2 * f), $(7 + f))
    }
    # The ratio needs every framework of the row to have succeeded in every run.
    ratio = ""; best = ""
    for (f = 0; f < 3; f++) {
      split($(7 + f), p, "/")
      if (p[2] + 0 > 0 && p[1] + 0 < p[2] + 0) ratio = "n/a (a run failed)"
    }
    if (ratio == "") {
      for (f = 1; f < 3; f++) {
        split($(7 + f), p, "/")
        if (p[2] + 0 == 0) continue
        v = $(3 + f)
        if (best == "" || ($6 == "lower" && v + 0 < best + 0) ||
            ($6 == "higher" && v + 0 > best + 0)) best = v
      }
      split($7, p, "/")
      if (p[2] + 0 == 0 || best == "" || best + 0 == 0) ratio = "n/a"
      else ratio = sprintf("%.2f", $3 / best)
    }
    rat[r] = (ratio ~ /^n\/a/) ? ratio : ratio " (" $6 " is better)"
    split($8, p, "/"); split($9, q, "/")
    note[r] = ($16 != "" && p[2] + q[2] > 0) ? "peers: their " $16 " runs" : ""
  }
  END {
    hdr[0] = "aurum"; hdr[1] = "caf"; hdr[2] = "erlang"
    wn = length("benchmark"); wu = length("unit")
    for (f = 0; f < 3; f++) { w[f] = length(hdr[f]); ws[f] = length(hdr[f]) }
    for (r = 1; r <= nrow; r++) {
      if (length(name[r]) > wn) wn = length(name[r])
      if (length(unit[r]) > wu) wu = length(unit[r])
      for (f = 0; f < 3; f++) {
        if (length(c[r, f]) > w[f]) w[f] = length(c[r, f])
        if (length(s[r, f]) > ws[f]) ws[f] = length(s[r, f])
      }
    }
    line = padr("benchmark", wn) " | " padr("unit", wu)
    for (f = 0; f < 3; f++) line = line " | " pad(hdr[f], w[f])
    print line " | aurum/best-peer"
    dash = ""; for (i = 0; i < length(line) + 18; i++) dash = dash "-"
    print dash
    for (r = 1; r <= nrow; r++) {
      line = padr(name[r], wn) " | " padr(unit[r], wu)
      for (f = 0; f < 3; f++) line = line " | " pad(c[r, f], w[f])
      line = line " | " rat[r]
      if (note[r] != "") line = line "; " note[r]
      print line
    }
    print ""
    print "spread of the successful runs (min .. max):"
    line = padr("benchmark", wn)
    for (f = 0; f < 3; f++) line = line " | " pad(hdr[f], ws[f])
    print line
    for (r = 1; r <= nrow; r++) {
      line = padr(name[r], wn)
      for (f = 0; f < 3; f++) line = line " | " pad(s[r, f], ws[f])
      print line
    }
  }' "$csv"
echo
echo "medians of $runs runs (of the successful ones; (k/$runs ok) when some failed, and then no ratio);"
echo "written to ${csv#"$repo"/}; log in ${log#"$repo"/}"
