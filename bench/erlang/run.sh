#!/usr/bin/env bash
# Erlang/OTP peer of `make bench`.
#
#   bench/erlang/run.sh <benchmark> [N]     run one benchmark
#   bench/erlang/run.sh --build             only compile
#   bench/erlang/run.sh --info              versions and flags (INFO lines)
#
# Compiles erlang_bench.erl with erlc into $ERL_BENCH_BUILD_DIR (default
# build-bench/peers/erlang, never the source tree) when the .beam is missing
# or older than the source, then starts one VM with default flags (+S = number
# of CPUs).  Extra flags, per benchmark:
#   fjcreate  +P 4194304   (process-count limit; the default 262144 is lower
#                           than the number of live workers the driver can
#                           reach while spawning 1,000,000)
#   remote_*  -name erlbench_<pid>@127.0.0.1 -setcookie bench and
#             -kernel inet_dist_use_interface {127,0,0,1}: distribution on
#             loopback only, on an OS-chosen port; epmd (started by erl if it
#             is not running) listens on 127.0.0.1 only (ERL_EPMD_ADDRESS).
#             The program starts the second node itself (OTP's peer module);
#             it halts when this node goes away.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${ERL_BENCH_BUILD_DIR:-$repo/build-bench/peers/erlang}
src=$here/erlang_bench.erl
beam=$build/erlang_bench.beam

if [ ! -f "$beam" ] || [ "$src" -nt "$beam" ]; then
  mkdir -p "$build"
  tmp=$(mktemp -d "$build/.erlc.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  erlc +warnings_as_errors -o "$tmp" "$src"
  mv -f "$tmp/erlang_bench.beam" "$beam"
  rm -rf "$tmp"
  trap - EXIT
fi

if [ "${1:-}" = "--build" ]; then
  exit 0
fi
if [ "${1:-}" = "--info" ]; then
  echo "INFO erlang flags erl -noinput (VM defaults); fjcreate adds +P 4194304;" \
       "remote_* add -name erlbench_<pid>@127.0.0.1 -setcookie bench" \
       "-kernel inet_dist_use_interface {127,0,0,1}; erlc +warnings_as_errors"
  # erl would take "--info" for one of its own flags: the module gets "info"
  exec erl -noinput -pa "$build" -run erlang_bench main info
fi
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 <benchmark> [N] | --build | --info" >&2
  exit 2
fi

flags=()
case "$1" in
  fjcreate)
    flags+=(+P 4194304) ;;
  remote_*)
    export ERL_EPMD_ADDRESS=127.0.0.1
    flags+=(-name "erlbench_$$@127.0.0.1" -setcookie bench
            -kernel inet_dist_use_interface '{127,0,0,1}') ;;
esac

exec erl -noinput "${flags[@]}" -pa "$build" -run erlang_bench main "$@"
