#!/usr/bin/env bash
# capability.sh WHAT — a ctest test that passes when this machine has WHAT and otherwise prints
# "skipping: <why>" and exits 77 (skipped), so that a missing capability is reported by name
# instead of only as a configure-time status line. Under AU_REQUIRE_ALL=1 (CI) the tally of
# `make test` turns the skip into a failure (tests/support/results.sh).
#
#   clang   the second compiler of the compile-fail suite, and the fuzz harnesses' compiler:
#           without it their clang half is not registered at all
set -euo pipefail
skip() {
    echo "skipping: $*"
    exit 77
}
case ${1:-} in
clang)
    command -v clang >/dev/null 2>&1 || skip "clang not found: no clang compile-fail twins, no fuzzing"
    echo 'int main(void) { return 0; }' | clang -x c -fsyntax-only - ||
        skip "clang is installed but cannot compile C"
    echo "ok: $(clang --version | head -1)"
    ;;
*)
    echo "usage: capability.sh clang" >&2
    exit 2
    ;;
esac
