#!/usr/bin/env bash
# check_config.sh — docs/configuration.md against the public headers, so the reference cannot
# drift: every configuration struct of include/aurum/*.h (each `typedef struct au_*_config`,
# `au_*_opts`, and au_faults) has a section "## `NAME`" in the document, and that section has
# one table row "| `field` | type | default | unit | meaning |" for every field of the struct,
# in the header's order, with the default and unit filled in, and no row for a field the struct
# does not have. (The defaults' values are the headers' doc comments; this checks the set of
# knobs and that each states one, not the wording.)
#
#   check_config.sh [--self-test] <include-dir> <configuration.md>
# Exit status: 0 agree, 1 drift (each difference listed), 2 usage. With --self-test the check
# is shown able to fail: a copy of the document without the row of au_node_config.batch, and
# one with the default of au_sim_config.start blanked, must both be refused (0 if they are).
set -u -o pipefail
if [[ ${1-} == --self-test ]]; then
    shift
    [[ $# -eq 2 ]] || { echo "usage: $0 --self-test <include-dir> <configuration.md>" >&2; exit 2; }
    t=$(mktemp -d) && trap 'rm -rf "$t"' EXIT
    grep -v '^| `batch` |' "$2" >"$t/missing.md"
    sed 's/^\(| `start` | `au_nanos` | \)[^|]*|/\1 |/' "$2" >"$t/blank.md"
    ok=0
    for m in missing blank; do
        if cmp -s "$2" "$t/$m.md"; then echo "self-test: the $m copy is unchanged"; ok=1; continue; fi
        out=$(bash "$0" "$1" "$t/$m.md") && { echo "self-test: the $m copy was accepted"; ok=1; }
        echo "self-test ($m): $out" | head -2
    done
    exit $ok
fi
if [[ $# -ne 2 ]]; then
    echo "usage: $0 <include-dir> <configuration.md>" >&2
    exit 2
fi
inc=$1 doc=$2
[[ -f $doc ]] || { echo "check_config.sh: no $doc"; exit 1; }
export LC_ALL=C
rc=0
fail() { echo "configuration.md: $*"; rc=1; }

# The fields of struct $1 as the headers declare them, one a line, in order. A field line is
# "<type> [*]name[...];" at the struct's top level (doc comments stripped first).
fields_of() {
    cat "$inc"/aurum/*.h | sed 's|/\*\*<.*||; s|/\*[^*].*\*/||' | awk -v name="$1" '
        $0 ~ "^typedef struct " name " \\{" { on = 1; next }
        on && $0 ~ "^} " name ";" { exit }
        on && /^    [A-Za-z_]/ && /;/ {
            line = $0; sub(/;.*/, "", line); sub(/\[.*\]/, "", line)
            n = split(line, w, /[ *]+/); print w[n]
        }'
}

structs=$(cat "$inc"/aurum/*.h | sed -n 's/^typedef struct \(au_[a-z_]*_config\|au_[a-z_]*_opts\|au_faults\) {.*/\1/p')
[[ -n $structs ]] || { echo "check_config.sh: no configuration struct found in $inc/aurum"; exit 1; }
documented=$(sed -n 's/^## `\(au_[a-z_]*\)`.*/\1/p' "$doc")
for s in $structs; do
    grep -qx "$s" <<<"$documented" || { fail "no section for $s (## \`$s\`)"; continue; }
    want=$(fields_of "$s")
    # The rows of the section: from its heading to the next "## ".
    rows=$(awk -v h="## \`$s\`" 'index($0, h) == 1 { on = 1; next } on && /^## / { exit } on && /^\| `/' "$doc")
    got=$(sed -n 's/^| `\([a-z_][a-z0-9_]*\)` |.*/\1/p' <<<"$rows")
    if [[ $want != "$got" ]]; then
        fail "$s: the table's fields differ from the header's (< header, > document):"
        diff <(echo "$want") <(echo "$got") | grep '^[<>]'
    fi
    while IFS= read -r row; do
        [[ -z $row ]] && continue
        IFS='|' read -r _ field type def unit meaning _ <<<"$row"
        for cell in type def unit meaning; do
            v=${!cell}; v=${v// /}
            [[ -n $v ]] || fail "$s.$(tr -d ' `' <<<"$field"): empty $cell cell"
        done
    done <<<"$rows"
done
for s in $documented; do
    grep -qx "$s" <<<"$structs" || fail "a section for $s, which is no configuration struct of the headers"
done
[[ $rc -eq 0 ]] && echo "configuration.md: $(wc -w <<<"$structs") structs, $(for s in $structs; do fields_of "$s"; done | wc -l) knobs, each with its default and unit, as the headers declare them"
exit $rc
