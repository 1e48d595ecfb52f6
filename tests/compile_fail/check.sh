#!/usr/bin/env bash
# check.sh — driver of the compile-fail suite (called by ctest, usable by hand).
#
#   check.sh fail <compiler> <include-dir> <case.c>
#       Compiles the case with -DAU_SHOULD_FAIL under the compiler's default warning flags
#       (no -Werror). Passes iff the compiler fails AND one of its "error:" lines contains one of
#       the substrings declared in the case's `// expect: a|b|c` header line.
#   check.sh ok <compiler> <include-dir> <case.c>
#       Compiles the positive twin (no AU_SHOULD_FAIL). Passes iff it compiles with no
#       diagnostic at all under the default flags, and also under -Wall -Wextra -Werror.
#
# Header lines read from the top of a case (before the first line that is not a `//` comment):
#   // expect: <substring>[|<substring>...]   required; any one alternative must match
#   // known-hole: <text>                     the misuse still compiles (a known gap in the
#                                             macros): `fail` then exits 77 (ctest: skipped)
#                                             instead of failing, and says so.
#   // known-hole(<cc>): <text>               the same, only with compiler <cc> (gcc, clang;
#                                             matched against the start of the compiler's
#                                             file name); with the others the case must fail.
# Exit status: 0 pass, 1 fail, 2 usage or malformed case, 77 known hole still open.
set -u

if [[ $# -ne 4 || ( $1 != fail && $1 != ok ) ]]; then
    echo "usage: $0 fail|ok <compiler> <include-dir> <case.c>" >&2
    exit 2
fi
mode=$1 cc=$2 inc=$3 src=$4

# Stable, untranslated diagnostics with plain ASCII quotes.
export LC_ALL=C LANG=C LANGUAGE=
unset GCC_COLORS

expect= hole=
cc_name=${cc##*/}
while IFS= read -r line || [[ -n $line ]]; do
    [[ $line == //* ]] || break
    case $line in
        "// expect:"*) expect=${line#"// expect:"} ;;
        "// known-hole:"*) hole=${line#"// known-hole:"} ;;
        "// known-hole("*"):"*)
            which=${line#"// known-hole("} which=${which%%")"*}
            [[ -n $which && $cc_name == "$which"* ]] && hole=${line#*"):"} ;;
    esac
done <"$src"
# Trim the spaces around the whole list and around each alternative.
trim() { local s=$1; s=${s#"${s%%[![:space:]]*}"}; s=${s%"${s##*[![:space:]]}"}; printf '%s' "$s"; }
expect=$(trim "$expect")
if [[ $mode == fail && -z $expect ]]; then
    echo "check.sh: $src has no '// expect: ...' line at its top" >&2
    exit 2
fi

base=(-std=c11 -fsyntax-only "-I$inc")
name=${src##*/}

run() { # run <flags...>: sets out and rc
    out=$("$cc" "${base[@]}" "$@" "$src" 2>&1)
    rc=$?
}

if [[ $mode == ok ]]; then
    run
    if [[ $rc -ne 0 ]]; then
        printf 'FAIL: %s (positive twin) does not compile with %s:\n%s\n' "$name" "$cc" "$out"
        exit 1
    fi
    if [[ -n $out ]]; then
        printf 'FAIL: %s (positive twin) is not clean with %s (default flags):\n%s\n' "$name" "$cc" "$out"
        exit 1
    fi
    run -Wall -Wextra -Werror
    if [[ $rc -ne 0 ]]; then
        printf 'FAIL: %s (positive twin) is not warning-free with %s -Wall -Wextra -Werror:\n%s\n' \
            "$name" "$cc" "$out"
        exit 1
    fi
    echo "ok: $name compiles cleanly with $cc (default flags, and -Wall -Wextra -Werror)"
    exit 0
fi

run -DAU_SHOULD_FAIL
if [[ $rc -eq 0 ]]; then
    if [[ -n $hole ]]; then
        printf 'KNOWN HOLE: %s still compiles with %s:%s\n%s\n' "$name" "$cc" "$hole" "$out"
        exit 77
    fi
    printf 'FAIL: %s -DAU_SHOULD_FAIL compiles with %s, but must not.\n%s\n' "$name" "$cc" "$out"
    exit 1
fi

IFS='|' read -r -a alts <<<"$expect"
while IFS= read -r line; do
    [[ $line == *error:* ]] || continue
    for alt in "${alts[@]}"; do
        alt=$(trim "$alt")
        if [[ -n $alt && $line == *"$alt"* ]]; then
            echo "ok: $name is rejected by $cc: $line"
            [[ -n $hole ]] && echo "note: the known-hole line of $name is stale (the misuse is now rejected)"
            exit 0
        fi
    done
done <<<"$out"
printf 'FAIL: %s -DAU_SHOULD_FAIL fails with %s, but no error line contains any of: %s\n%s\n' \
    "$name" "$cc" "$expect" "$out"
exit 1
