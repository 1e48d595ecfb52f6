#!/usr/bin/env bash
# check_readme.sh — every C code block of README.md compiles against the build tree, and every one
# whose expected output the README shows runs and prints exactly that.
#
#   check_readme.sh <cc> <include-dir> <libaurum.a> <README.md> [<flag>...]
#
# Blocks: a fence "```c" opens a C block, which must be a whole translation unit (its own
# #includes). It is compiled with -Wall -Wextra -Wno-unused-parameter -Werror (the project's
# warnings: hooks take parameters they need not use) and the extra <flag>s (the build's sanitizer
# flags), and, if it defines main, linked with the static library and its dependencies
# (pkg-config). A fence "```text output" after a C block (with only prose between) holds what
# that program prints on stdout: the program is run (30 s at most) and its stdout must be exactly
# that text. At least one block must run (the quickstart). Header examples are compiled by
# tests/compile_fail/header_example.sh. Exit status: 0 pass, 1 fail, 2 usage or setup error.
set -u -o pipefail
if [[ $# -lt 4 ]]; then
    echo "usage: $0 <cc> <include-dir> <libaurum.a> <README.md> [<flag>...]" >&2
    exit 2
fi
cc=$1 inc=$2 lib=$3 readme=$4
shift 4
extra=("$@")
export LC_ALL=C
unset GCC_COLORS
work=$(mktemp -d) || exit 2
trap 'rm -rf "$work"' EXIT
if ! deps=$(pkg-config --libs libuv libcbor libsodium libxxhash); then
    echo "check_readme.sh: pkg-config does not know the library's dependencies" >&2
    exit 2
fi

# Split README.md: block_<n>.c for C blocks, block_<n>.out for the output of block n; lines.txt
# gives "n line" (where each C block starts) for messages.
awk -v dir="$work" '
    function close_block() { if (file != "") close(file); file = ""; in_block = 0 }
    /^```/ {
        if (in_block) { close_block(); next }
        info = substr($0, 4)
        in_block = 1
        if (info == "c") {
            n++; file = dir "/block_" n ".c"; last_c = n
            printf "" > file
            print n, NR >> (dir "/lines.txt")
        } else if (info == "text output" && last_c) {
            file = dir "/block_" last_c ".out"; printf "" > file; last_c = 0
        } else {
            file = ""; last_c = 0   # another block in between: the output marker is not for it
        }
        next
    }
    in_block && file != "" { print >> file }
' "$readme"

rc=0 compiled=0 ran=0
while read -r n line; do
    src=$work/block_$n.c
    where="README.md block at line $line"
    if grep -Eq '^(int|static int)[[:space:]]+main[[:space:]]*\(' "$src"; then
        out=$("$cc" "-I$inc" -Wall -Wextra -Wno-unused-parameter -Werror "${extra[@]}" "$src" \
                "$lib" $deps -lpthread -lm -o "$work/block_$n" 2>&1)
    else
        out=$("$cc" "-I$inc" -Wall -Wextra -Wno-unused-parameter -Werror "${extra[@]}" -c "$src" \
                -o "$work/block_$n.o" 2>&1)
    fi
    if [[ $? -ne 0 || -n $out ]]; then
        printf 'FAIL: %s does not compile cleanly with %s:\n%s\n--- the block:\n' "$where" "$cc" "$out"
        cat -n "$src"
        rc=1
        continue
    fi
    compiled=$((compiled + 1))
    [[ -f $work/block_$n.out ]] || continue
    if [[ ! -x $work/block_$n ]]; then
        echo "FAIL: $where has expected output but no main"
        rc=1
        continue
    fi
    got=$(cd "$work" && timeout 30 "./block_$n" 2>"$work/block_$n.err")
    status=$?
    if [[ $status -ne 0 ]]; then
        printf 'FAIL: %s exited %d; stderr:\n' "$where" "$status"
        cat "$work/block_$n.err"
        rc=1
    elif [[ $got != "$(cat "$work/block_$n.out")" ]]; then
        printf 'FAIL: %s printed:\n%s\n--- the README says it prints:\n' "$where" "$got"
        cat "$work/block_$n.out"
        rc=1
    else
        ran=$((ran + 1))
    fi
done <"$work/lines.txt" 2>/dev/null

if [[ $compiled -eq 0 && $rc -eq 0 ]]; then
    echo "FAIL: no C block found in $readme"
    exit 1
fi
if [[ $ran -eq 0 && $rc -eq 0 ]]; then
    echo "FAIL: no C block of $readme has its output shown (\`\`\`text output), so none was run"
    exit 1
fi
[[ $rc -eq 0 ]] && echo "ok: $compiled C blocks of README.md compile cleanly with $cc; $ran ran and printed what the README shows"
exit $rc
