#!/usr/bin/env bash
# check_man.sh — every subcommand `aurum --help` lists has a man page man/aurum-<cmd>.1, and every
# page under man/ renders with groff without a warning (-ww: all of them).
#   check_man.sh <aurum> <man dir>
# Exit status: 0 pass, 1 fail, 2 usage, 77 skipped (no groff).
set -u -o pipefail
[[ $# -eq 2 ]] || { echo "usage: $0 <aurum> <man dir>" >&2; exit 2; }
aurum=$1 dir=$2 rc=0
command -v groff >/dev/null || { echo "skipping: groff not found"; exit 77; }
for cmd in $("$aurum" --help | sed -n 's/^  \([a-z]*\) .*/\1/p'); do
    [[ -f $dir/aurum-$cmd.1 ]] && echo "ok: aurum-$cmd.1" || { echo "FAIL: no man page aurum-$cmd.1"; rc=1; }
done
[[ -f $dir/aurum.1 ]] || { echo "FAIL: no aurum.1"; rc=1; }
for page in "$dir"/*.1; do
    out=$(groff -man -ww -z "$page" 2>&1)
    [[ -z $out ]] && echo "ok: $(basename "$page") renders cleanly" || { echo "FAIL: $page: $out"; rc=1; }
done
exit $rc
