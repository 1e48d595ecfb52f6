#!/usr/bin/env bash
# check.sh — driver of the layer-boundary tests (called by ctest, usable by hand).
#
#   check.sh <compiler> <case.c> [<include-dir>...]
#       Compiles the case (-std=gnu11 -fsyntax-only) with exactly the given include directories:
#       ctest passes those of one layer's object library. A case whose top has a line
#       `// expect: <header>` must fail, and one of the compiler's error lines must name that
#       header (it was not found: the layer may not include it). A case without one must
#       compile with no diagnostic under -Wall -Wextra -Werror.
#   check.sh --no-climbing <src-dir>
#       Passes iff no file under <src-dir> includes a quoted path with a "..": a path that
#       climbs out of the including file's folder would reach headers past its layer's
#       include path.
# Exit status: 0 pass, 1 fail, 2 usage or malformed case.
set -u
export LC_ALL=C LANG=C LANGUAGE=
unset GCC_COLORS

if [[ ${1-} == --no-climbing ]]; then
    [[ $# -eq 2 && -d $2 ]] || { echo "usage: $0 --no-climbing <src-dir>" >&2; exit 2; }
    hits=$(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[^"]*\.\.' "$2" \
               --include='*.c' --include='*.h')
    if [[ -n $hits ]]; then
        printf 'FAIL: includes that climb out of their folder (write "<folder>/x.h"):\n%s\n' "$hits"
        exit 1
    fi
    echo "ok: no include under $2 climbs out of its folder"
    exit 0
fi

if [[ $# -lt 2 ]]; then
    echo "usage: $0 <compiler> <case.c> [<include-dir>...] | $0 --no-climbing <src-dir>" >&2
    exit 2
fi
cc=$1 src=$2
shift 2
flags=(-std=gnu11 -fsyntax-only)
for dir in "$@"; do flags+=("-I$dir"); done
name=${src##*/}

expect=
while IFS= read -r line || [[ -n $line ]]; do
    [[ $line == //* ]] || break
    if [[ $line == "// expect:"* ]]; then
        expect=${line#"// expect:"}
        expect=${expect#"${expect%%[![:space:]]*}"}
        expect=${expect%"${expect##*[![:space:]]}"}
    fi
done <"$src"

out=$("$cc" "${flags[@]}" -Wall -Wextra -Werror "$src" 2>&1)
rc=$?
if [[ -z $expect ]]; then
    if [[ $rc -ne 0 || -n $out ]]; then
        printf 'FAIL: %s must compile cleanly with %s %s:\n%s\n' "$name" "$cc" "${flags[*]}" "$out"
        exit 1
    fi
    echo "ok: $name compiles with the layer's include path"
    exit 0
fi
if [[ $rc -eq 0 ]]; then
    printf 'FAIL: %s includes %s and compiles with %s %s, but must not.\n%s\n' \
        "$name" "$expect" "$cc" "${flags[*]}" "$out"
    exit 1
fi
while IFS= read -r line; do
    if [[ $line == *error* && $line == *"$expect"* ]]; then
        echo "ok: $name does not build: $line"
        exit 0
    fi
done <<<"$out"
printf 'FAIL: %s fails with %s, but no error line names %s:\n%s\n' "$name" "$cc" "$expect" "$out"
exit 1
