#!/usr/bin/env bash
# check.sh — the shared library exports exactly the public API: every symbol in its dynamic
# symbol table is declared by a public header, and every function or object a public header
# declares is exported (called by ctest, usable by hand).
#
#   check.sh [--expect-reject NAME] <libaurum.so> <gcc> <include-dir> [<extra-header>...]
#
# exported  the defined dynamic symbols (nm -D --defined-only), less the few the linker makes.
# declared  the functions that <include-dir>/aurum/*.h (and the extra headers) declare, as gcc
#           itself parses them (-aux-info; static inline functions are not declarations of the
#           library), and the objects they declare extern (au_type_int64_t, au_log_levels_),
#           from the preprocessed headers, so declarations made by macros count too.
# Fails, listing the names, on an exported symbol no public header declares (an internal function
# leaking: the library built without -fvisibility=hidden, or a stray visibility attribute) and on
# a declared one that is not exported (a declaration without AU_API, or one never defined).
# With --expect-reject NAME the verdict is inverted: it passes only if the check fails and names
# NAME (the suite uses this to show that the check can fail).
# Exit status: 0 pass, 1 fail, 2 usage or tool error.
set -u -o pipefail

expect=
if [[ ${1-} == --expect-reject ]]; then
    expect=$2
    shift 2
fi
if [[ $# -lt 3 ]]; then
    echo "usage: $0 [--expect-reject NAME] <libaurum.so> <gcc> <include-dir> [<header>...]" >&2
    exit 2
fi
lib=$1 cc=$2 inc=$3
shift 3
extra=("$@")
export LC_ALL=C

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Every public header (and the extra ones) in one translation unit.
{
    for h in "$inc"/aurum/*.h; do printf '#include <aurum/%s>\n' "${h##*/}"; done
    for h in "${extra[@]}"; do printf '#include "%s"\n' "$h"; done
} >"$work/all.c"

# Is a path one of the public headers? (-aux-info and linemarkers give paths as searched.)
public_re="^$(printf '%s' "$inc" | sed 's/[][\.*^$/]/\\&/g')/aurum/[^/]*\\.h\$"
for h in "${extra[@]}"; do public_re+="|^$(printf '%s' "$h" | sed 's/[][\.*^$/]/\\&/g')\$"; done

# Functions: gcc's own list of the prototypes it saw, "/* file:line:NC */ extern T name (...);".
if ! "$cc" -std=gnu11 -fsyntax-only "-I$inc" -aux-info "$work/aux.txt" "$work/all.c" \
        2>"$work/cc.log"; then
    echo "check.sh: the public headers do not compile:" >&2
    cat "$work/cc.log" >&2
    exit 2
fi
awk -v re="$public_re" '
    match($0, /^\/\* [^ ]+:[0-9]+:[A-Z]+ \*\//) {
        split(substr($0, 4, RLENGTH - 6), at, ":")
        if (at[1] !~ re || $0 ~ /\*\/ static /) next
        decl = substr($0, RLENGTH + 1)
        sub(/ *\(.*/, "", decl)          # the name is the last word before the parameter list
        n = split(decl, w, /[ *]+/)
        print w[n]
    }' "$work/aux.txt" >"$work/declared"

# Objects: "extern T name;" or "extern T name[N];" in the preprocessed public headers.
"$cc" -std=gnu11 -E "-I$inc" "$work/all.c" 2>>"$work/cc.log" | awk -v re="$public_re" '
    /^# [0-9]+ "/ { f = $3; gsub(/"/, "", f); public = (f ~ re); next }
    public { print }' | tr '\n' ' ' | grep -oE '(^|[^A-Za-z0-9_])extern [^;([]*[;[]' |
    sed -E 's/[[:space:]]*[;[]$//; s/.*[^A-Za-z0-9_]//' >>"$work/declared"
sort -u "$work/declared" -o "$work/declared"
if [[ ! -s $work/declared ]]; then
    echo "check.sh: found no declaration in $inc/aurum/*.h" >&2
    exit 2
fi

# Exported: defined dynamic symbols, less those the linker itself defines. An ASan build adds an
# ODR indicator beside each exported object NAME ("__odr_asan.NAME" from gcc, "__odr_asan_gen_NAME"
# from clang): it counts as NAME.
if ! nm -D --defined-only "$lib" >"$work/nm.txt" 2>"$work/nm.log"; then
    echo "check.sh: nm -D failed on $lib:" >&2
    cat "$work/nm.log" >&2
    exit 2
fi
awk 'NF >= 2 { name = $NF; sub(/@.*/, "", name); sub(/^__odr_asan(\.|_gen_)/, "", name)
                print name }' "$work/nm.txt" |
    grep -vxE '_init|_fini|_edata|_end|__bss_start' | sort -u >"$work/exported"

comm -23 "$work/exported" "$work/declared" >"$work/leaked"
comm -13 "$work/exported" "$work/declared" >"$work/missing"
rc=0
if [[ -s $work/leaked ]]; then
    echo "FAIL: ${lib##*/} exports symbols that no public header declares (internal ones leaking;"
    echo "      is it built with -fvisibility=hidden? does a .c file mark one AU_API?):"
    sed 's/^/  /' "$work/leaked"
    rc=1
fi
if [[ -s $work/missing ]]; then
    echo "FAIL: public headers declare symbols that ${lib##*/} does not export (a declaration"
    echo "      without AU_API, a definition that does not see its AU_API declaration, or none):"
    sed 's/^/  /' "$work/missing"
    rc=1
fi

if [[ -n $expect ]]; then
    if [[ $rc -ne 0 ]] && grep -qxF "$expect" "$work/leaked" "$work/missing"; then
        echo "ok: the check rejects ${lib##*/}, naming $expect"
        exit 0
    fi
    echo "FAIL: the check was expected to reject ${lib##*/} and name $expect, but did not"
    exit 1
fi
if [[ $rc -eq 0 ]]; then
    echo "ok: ${lib##*/} exports exactly the $(wc -l <"$work/exported") symbols that the public" \
         "headers declare"
fi
exit $rc
