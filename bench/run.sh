#!/usr/bin/env bash
# Runs the `make bench` comparison: aurum-c against CAF 0.17 and Erlang/OTP
# on the same machine, in the same run.  See bench/README.md.
#
#   bench/run.sh [--quick] [--runs K] [--only b1,b2,...]
#                [--frameworks aurum,caf,erlang] [--no-install] [--help]
#
# Every benchmark program is invoked as `<program> <benchmark> N` and must
# print one line `RESULT <benchmark> <value> <unit>` on stdout and exit 0;
# anything else counts as a failed run (n/a).  Each benchmark runs K times per
# framework (5, or 3 with --quick, which also uses reduced sizes), the runs of
# the frameworks interleaved; the table shows medians and is also written to
# bench/results/latest.csv.
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

usage() { sed -n '2,24p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

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

# benchmark  unit  better_is  full-N  quick-N
benchmarks="\
pingpong          ns/rt        lower   1000000   100000
count             msg/s        higher  10000000  1000000
threadring        ns/hop       lower   10000000  1000000
fjcreate          actors/s     higher  1000000   100000
fjthrput          msg/s        higher  100000    10000
idle              bytes/actor  lower   100000    20000
remote_pingpong   us/rt        lower   100000    10000
remote_throughput msg/s        higher  1000000   100000"

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

# ---------------------------------------------------------------- runs --

median() { # values... -> median or n/a
  printf '%s\n' "$@" | awk '
    $1 != "" { v[n++] = $1 + 0 }
    END {
      if (n == 0) { print "n/a"; exit }
      for (i = 1; i < n; i++) {            # insertion sort, n is tiny
        x = v[i]; j = i - 1
        while (j >= 0 && v[j] > x) { v[j + 1] = v[j]; j-- }
        v[j + 1] = x
      }
      m = (n % 2) ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
      printf "%.2f\n", m
    }'
}

# run_one FRAMEWORK BENCH N UNIT -> prints the value, or nothing on failure
run_one() {
  local fw=$1 bench=$2 n=$3 unit=$4 out rc val got_unit
  out=$(BENCH_TIMEOUT=$run_timeout timeout -k 10 $((run_timeout + 15)) \
          "${prog[$fw]}" "$bench" "$n" 2>>"$log")
  rc=$?
  printf '[%s %s %s] rc=%s %s\n' "$fw" "$bench" "$n" "$rc" "$(grep '^RESULT' <<<"$out")" >>"$log"
  [ "$rc" -eq 0 ] || return 0
  read -r val got_unit < <(awk -v b="$bench" '$1 == "RESULT" && $2 == b { v = $3; u = $4 }
                                             END { if (v != "") print v, u }' <<<"$out")
  if [ -z "${val:-}" ]; then return 0; fi
  if [ "$got_unit" != "$unit" ]; then
    note "warning: $fw $bench reported unit '$got_unit', expected '$unit'; ignored"
    return 0
  fi
  case "$val" in *[!0-9.eE+-]*) return 0 ;; esac
  printf '%s\n' "$val"
}

fws=(aurum caf erlang)
declare -A med=()
rows=()

note "bench/run.sh: $( [ "$quick" = 1 ] && echo quick || echo full ) run, $runs runs each," \
     "nproc=$(nproc), $(date -u '+%Y-%m-%d %H:%M UTC')"
have_pkg libcaf-dev && note "CAF $(dpkg-query -W -f='${Version}' libcaf-dev)"
command -v erl >/dev/null && note "Erlang/OTP $(erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().' 2>/dev/null)"
note "aurum: ${prog[aurum]:-n/a}"

while read -r bench unit better full_n quick_n; do
  [ -n "$bench" ] || continue
  if [ -n "$only" ] && [[ ",$only," != *",$bench,"* ]]; then continue; fi
  if [ "$quick" = 1 ]; then n=$quick_n; else n=$full_n; fi
  declare -A vals=([aurum]="" [caf]="" [erlang]="")
  for ((r = 1; r <= runs; r++)); do
    line="$bench N=$n run $r/$runs:"
    for fw in "${fws[@]}"; do
      want "$fw" || continue
      v=""
      [ -n "${prog[$fw]:-}" ] && v=$(run_one "$fw" "$bench" "$n" "$unit")
      [ -n "$v" ] && vals[$fw]+="$v "
      line+=" $fw=${v:-n/a}"
    done
    note "$line"
  done
  for fw in "${fws[@]}"; do
    # shellcheck disable=SC2086
    med[$bench.$fw]=$(median ${vals[$fw]})
  done
  rows+=("$bench $unit $better")
done <<<"$benchmarks"

# --------------------------------------------------------------- table --

csv=$results_dir/latest.csv
{
  echo "benchmark,unit,aurum,caf,erlang,better_is"
  for row in "${rows[@]}"; do
    read -r bench unit better <<<"$row"
    echo "$bench,$unit,${med[$bench.aurum]},${med[$bench.caf]},${med[$bench.erlang]},$better"
  done
} >"$csv"

echo
awk -F, '
  NR == 1 { next }
  {
    a = $3; best = "n/a"
    for (i = 4; i <= 5; i++) {
      if ($i == "n/a") continue
      if (best == "n/a" || ($6 == "lower" && $i + 0 < best + 0) ||
          ($6 == "higher" && $i + 0 > best + 0)) best = $i
    }
    ratio = (a == "n/a" || best == "n/a" || best + 0 == 0) ? "n/a" : sprintf("%.2f", a / best)
    row[NR] = sprintf("%-18s| %-12s| %14s | %14s | %14s | %s", $1, $2, a, $4, $5, ratio " (" $6 " is better)")
    last = NR
  }
  END {
    printf "%-18s| %-12s| %14s | %14s | %14s | %s\n", "benchmark", "unit", "aurum", "caf", "erlang", "aurum/best-peer"
    printf "%s\n", "------------------+-------------+----------------+----------------+----------------+---------------------------"
    for (i = 2; i <= last; i++) print row[i]
  }' "$csv"
echo
echo "medians of $runs runs; written to ${csv#"$repo"/}; log in ${log#"$repo"/}"
