#!/usr/bin/env bash
# results.sh — the tally of `make test`: every suite (a ctest run, the valgrind loop, the install
# consumers, the fuzz harnesses) records each of its tests as passed, failed or skipped, and the
# closing line counts them all, skips included, naming every skipped test.
#
#   results.sh reset                        start a new tally (make test does this first)
#   results.sh ctest SUITE BUILD_DIR ARGS…  run `ctest --test-dir BUILD_DIR ARGS…` and record
#                                           each test from its JUnit report; then close SUITE
#   results.sh record SUITE STATUS NAME [REASON]
#                                           record one test (STATUS: passed, failed, skipped)
#   results.sh close SUITE                  print "SUITE: N passed, F failed, K skipped" and the
#                                           skipped names; exit 1 if any failed, or if any was
#                                           skipped while AU_REQUIRE_ALL=1
#   results.sh summary                      the same over every suite of the tally:
#                                           "make test: N passed, F failed, K skipped"
#
# A test skips by exiting 77 (ctest's SKIP_RETURN_CODE, set for every test that may skip); its
# reason is the first output line that starts with "skipping:" (netns.sh, capability.sh and the
# C tests print one) or, for a compile-fail known hole, "KNOWN HOLE:". The tally lives in AU_TEST_RESULTS (default build/test-results): one file
# per suite and status, one "name<TAB>reason" a line.
#
# AU_REQUIRE_ALL=1 (set by .ci/run): a skip is a failure. A missing capability (root, netem,
# IPv6, clang) then fails the run instead of passing it silently. Two kinds of skip are still
# counted and listed but do not fail it: tests named in AU_ALLOW_SKIP (space separated), whose
# capability a machine is known to lack, and compile-fail cases marked `// known-hole:` in
# their source (check.sh prints "KNOWN HOLE:"), a gap declared in the code, not a capability.
set -euo pipefail
dir=${AU_TEST_RESULTS:-build/test-results}

count() { [[ -f $1 ]] && wc -l <"$1" | tr -d ' ' || echo 0; }

list_skipped() { # file…
    local f name reason
    for f in "$@"; do
        [[ -f $f ]] || continue
        while IFS=$'\t' read -r name reason; do
            echo "  skipped: $name${reason:+ — $reason}"
        done <"$f"
    done
}

list_failed() {
    local f name reason
    for f in "$@"; do
        [[ -f $f ]] || continue
        while IFS=$'\t' read -r name reason; do echo "  FAILED: $name"; done <"$f"
    done
}

# Prints the counts of the given suites; returns 1 on a failure or a forbidden skip.
report() { # label suite…
    local label=$1 s p=0 f=0 k=0
    shift
    local pf=() ff=() sf=()
    for s in "$@"; do
        pf+=("$dir/$s.passed") ff+=("$dir/$s.failed") sf+=("$dir/$s.skipped")
        p=$((p + $(count "$dir/$s.passed")))
        f=$((f + $(count "$dir/$s.failed")))
        k=$((k + $(count "$dir/$s.skipped")))
    done
    list_failed "${ff[@]}"
    list_skipped "${sf[@]}"
    if [[ ${AU_REQUIRE_ALL:-0} == 1 && $k -gt 0 ]]; then
        local name reason forbidden=0 file
        for file in "${sf[@]}"; do
            [[ -f $file ]] || continue
            while IFS=$'\t' read -r name reason; do
                if [[ " ${AU_ALLOW_SKIP:-} " == *" $name "* ]]; then
                    echo "  (skip of $name allowed by AU_ALLOW_SKIP)"
                elif [[ $reason == "known hole: "* ]]; then
                    echo "  (skip of $name allowed: a declared known hole, not a missing capability)"
                else
                    echo "  FAILED: $name skipped, and AU_REQUIRE_ALL=1 makes a skip a failure"
                    forbidden=$((forbidden + 1))
                fi
            done <"$file"
        done
        f=$((f + forbidden))
    fi
    echo "$label: $p passed, $f failed, $k skipped"
    [[ $f -eq 0 ]]
}

record() { # suite status name [reason]
    mkdir -p "$dir"
    case $2 in passed | failed | skipped) ;; *) echo "results.sh: bad status '$2'" >&2; exit 2 ;; esac
    printf '%s\t%s\n' "$3" "${4:-}" >>"$dir/$1.$2"
}

# Records every testcase of a ctest JUnit report under suite $1.
from_junit() { # suite file
    awk -v suite="$1" '
        function attr(line, key,   m) {
            if (match(line, key "=\"[^\"]*\"")) return substr(line, RSTART + length(key) + 2, RLENGTH - length(key) - 3)
            return ""
        }
        function emit() {
            if (name == "") return
            st = (status == "run") ? "passed" : (status == "fail") ? "failed" : "skipped"
            if (skipped && st != "failed") st = "skipped"
            gsub(/\t/, " ", reason)
            print suite "\t" st "\t" name "\t" reason
            name = ""
        }
        /<testcase / { emit(); name = attr($0, "name"); status = attr($0, "status"); skipped = 0; reason = "" }
        /<skipped/ { skipped = 1 }
        reason == "" && /skipping: / { reason = $0; sub(/.*skipping: /, "", reason) }
        reason == "" && /KNOWN HOLE: / { reason = $0; sub(/.*KNOWN HOLE: /, "known hole: ", reason) }
        /<\/testcase>/ { emit() }
        END { emit() }
    ' "$2" | while IFS=$'\t' read -r s st name reason; do record "$s" "$st" "$name" "$reason"; done
}

cmd=${1:-}
shift || true
case $cmd in
reset) rm -rf "$dir" && mkdir -p "$dir" ;;
record) record "$@" ;;
close) report "$1" "$1" ;;
ctest)
    suite=$1 build=$2
    shift 2
    mkdir -p "$dir"
    rm -f "$dir/$suite".{passed,failed,skipped}
    junit=$(realpath -m "$dir/$suite.junit.xml")
    rc=0
    ctest --test-dir "$build" --output-junit "$junit" "$@" || rc=$?
    if [[ ! -s $junit ]]; then
        echo "$suite: ctest wrote no report (exit $rc)"
        record "$suite" failed "ctest ($build)" "no report"
    else
        from_junit "$suite" "$junit"
        [[ $rc -eq 0 || -s $dir/$suite.failed ]] || record "$suite" failed "ctest ($build)" "exit $rc"
    fi
    report "$suite" "$suite"
    ;;
summary)
    suites=()
    for f in "$dir"/*.passed "$dir"/*.failed "$dir"/*.skipped; do
        [[ -e $f ]] || continue
        s=${f##*/}
        s=${s%.*}
        [[ " ${suites[*]-} " == *" $s "* ]] || suites+=("$s")
    done
    if [[ ${#suites[@]} -eq 0 ]]; then
        echo "make test: no suite recorded any test"
        echo "make test: 0 passed, 1 failed, 0 skipped"
        exit 1
    fi
    report "make test" "${suites[@]}"
    ;;
*)
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
