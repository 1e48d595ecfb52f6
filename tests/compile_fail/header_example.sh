#!/usr/bin/env bash
# header_example.sh — the example in a public header's opening comment compiles as it stands.
#
#   header_example.sh <compiler> <include-dir> <header>
#       Takes the code lines of the header's first comment (those starting " *   ": the comment's
#       star, then an indent of three spaces; " *" alone is a blank line), prefixes them with
#       <stdio.h> and <aurum/aurum.h>, and compiles the result (-fsyntax-only) with no
#       diagnostic under the default flags and under -Wall -Wextra -Wpedantic -Werror. Prints the extracted
#       program when it fails. Exit status: 0 pass, 1 fail, 2 usage or no example found.
set -u

if [[ $# -ne 3 ]]; then
    echo "usage: $0 <compiler> <include-dir> <header>" >&2
    exit 2
fi
cc=$1 inc=$2 header=$3
export LC_ALL=C LANG=C LANGUAGE=
unset GCC_COLORS

src=$(mktemp --suffix=.c) || exit 2
trap 'rm -f "$src"' EXIT
{
    echo '#include <stdio.h>'
    echo '#include <aurum/aurum.h>'
    awk '/\*\//{ exit } /^ \*   /{ print substr($0, 6); next } /^ \*$/{ print "" }' "$header"
} >"$src"
if ! grep -q '[^[:space:]]' <(tail -n +3 "$src"); then
    echo "header_example.sh: no example in the opening comment of $header" >&2
    exit 2
fi

name=${header##*/}
for flags in "" "-Wall -Wextra -Wpedantic -Werror"; do
    # shellcheck disable=SC2086 # flags is a list of words
    out=$("$cc" -std=c11 -fsyntax-only "-I$inc" $flags "$src" 2>&1)
    if [[ $? -ne 0 || -n $out ]]; then
        printf 'FAIL: the example of %s does not compile cleanly with %s %s:\n%s\n--- the example:\n' \
            "$name" "$cc" "$flags" "$out"
        cat -n "$src"
        exit 1
    fi
done
echo "ok: the example of $name compiles cleanly with $cc (default flags, and -Wall -Wextra -Werror)"
