#!/usr/bin/env bash
# run.sh — the installed package as a user meets it: every program in examples/ built out of
# tree against an installed prefix, with find_package(aurum) (tests/install/CMakeLists.txt,
# shared and static) and with pkg-config (`cc x.c $(pkg-config --cflags --libs aurum)`, and the
# static archive with its dependencies as the README shows), and
# each build run. What a run must show:
#   quickstart          prints the line "total 42"
#   pingpong            prints "<n> hits in" and both players' "stopping" lines
#   kv_server/kv_client run as a pair by tests/examples/test_kv.sh (answers, log, signals)
#   any other example   exits 0 (demo)
# Relies on: an installed prefix (cmake --install), cmake, cc, pkg-config. Each (way, example)
# is one test of the tally (tests/support/results.sh, suite "install") when TALLY is set to its
# command; else results are only printed.
#
#   run.sh <source-dir> <prefix> <work-dir>
# Exit status: 0 all passed, 1 some failed, 2 usage or a build that failed.
set -u -o pipefail
if [[ $# -ne 3 ]]; then
    echo "usage: $0 <source-dir> <prefix> <work-dir>" >&2
    exit 2
fi
src=$(cd "$1" && pwd) prefix=$(cd "$2" && pwd) work=$3
mkdir -p "$work" && work=$(cd "$work" && pwd)
rc=0
record() { # status name
    [[ -n ${TALLY-} ]] && $TALLY record install "$1" "$2"
    [[ $1 == passed ]] || rc=1
}

examples=()
for f in "$src"/examples/*.c; do examples+=("$(basename "$f" .c)"); done
[[ ${#examples[@]} -gt 0 ]] || { echo "install: no examples in $src/examples" >&2; exit 2; }

# find_package: one project, every example, shared and static.
if ! cmake -S "$src/tests/install" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" >"$work/cmake.log" 2>&1 ||
   ! cmake --build "$work/cmake" -j2 >>"$work/cmake.log" 2>&1; then
    tail -30 "$work/cmake.log"
    echo "install: the find_package build failed"
    for e in "${examples[@]}"; do record failed "find_package/$e"; done
    rc=1
fi
# pkg-config: as the README shows it, in strict ISO C11 with -Wpedantic (the headers' macros use
# only GNU extensions marked __extension__, and take the `;` written after them).
mkdir -p "$work/pc"
flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/share/pkgconfig" pkg-config --cflags --libs aurum) || {
    echo "install: pkg-config does not know aurum in $prefix"; exit 2; }
for e in "${examples[@]}"; do
    cc -std=c11 -Wall -Wpedantic -Werror "$src/examples/$e.c" -o "$work/pc/$e" $flags \
        >"$work/pc/$e.log" 2>&1 || { cat "$work/pc/$e.log"; echo "install: pkg-config build of $e failed"; }
done
# pkg-config, static: the archive named, its dependencies from their own .pc files (as the README
# shows it; `pkg-config --static --libs aurum` alone would still link libaurum.so).
mkdir -p "$work/pcs"
pcs() { PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/share/pkgconfig" pkg-config "$@"; }
sflags="$(pcs --cflags aurum) $(pcs --variable=libdir aurum)/libaurum.a $(pcs --libs libuv libcbor libsodium libxxhash) -lpthread -lm"
for e in "${examples[@]}"; do
    # shellcheck disable=SC2086
    cc -std=gnu11 -Wall -Werror "$src/examples/$e.c" -o "$work/pcs/$e" $sflags \
        >"$work/pcs/$e.log" 2>&1 || { cat "$work/pcs/$e.log"; echo "install: static pkg-config build of $e failed"; }
done

export LD_LIBRARY_PATH="$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# run <way> <name> <binary>: runs one example and checks what it must show.
run_one() {
    local way=$1 e=$2 bin=$3 out status ok=1
    if [[ ! -x $bin ]]; then
        echo "install: $way/$e was not built"
        record failed "$way/$e"
        return
    fi
    out=$(timeout 60 "$bin" 2>"$work/$way-$e.err")
    status=$?
    case $e in
    quickstart) grep -qx "total 42" <<<"$out" || ok=0 ;;
    pingpong) grep -Eq '^[0-9]+ hits in ' <<<"$out" && grep -q '^ping: stopping' <<<"$out" &&
                  grep -q '^pong: stopping' <<<"$out" || ok=0 ;;
    esac
    if [[ $status -eq 0 && $ok -eq 1 ]]; then
        record passed "$way/$e"
    else
        echo "install: $way/$e: exit $status; its output:"; echo "$out"; tail -20 "$work/$way-$e.err"
        record failed "$way/$e"
    fi
}
for way in find_package_shared find_package_static pkg_config pkg_config_static; do
    case $way in
    find_package_shared) dir=$work/cmake suffix=_shared ;;
    find_package_static) dir=$work/cmake suffix=_static ;;
    pkg_config) dir=$work/pc suffix= ;;
    pkg_config_static) dir=$work/pcs suffix= ;;
    esac
    for e in "${examples[@]}"; do
        case $e in
        kv_client) ;; # with kv_server
        kv_server)
            if [[ -x $dir/kv_server$suffix && -x $dir/kv_client$suffix ]] &&
               bash "$src/tests/examples/test_kv.sh" "$dir/kv_server$suffix" "$dir/kv_client$suffix" \
                   >"$work/$way-kv.log" 2>&1; then
                record passed "$way/kv_server+kv_client"
            else
                cat "$work/$way-kv.log" 2>/dev/null; echo "install: $way/kv_server+kv_client failed"
                record failed "$way/kv_server+kv_client"
            fi ;;
        *) run_one "$way" "$e" "$dir/$e$suffix" ;;
        esac
    done
done
# The binaries must use the installed library, not one of the build tree.
if ldd "$work/pc/quickstart" 2>/dev/null | grep -q "libaurum" &&
   ! ldd "$work/pc/quickstart" | grep "libaurum" | grep -q "$prefix/lib"; then
    echo "install: pkg_config/quickstart resolves libaurum outside $prefix:"; ldd "$work/pc/quickstart" | grep libaurum
    record failed "pkg_config/uses-installed-library"
fi
if [[ -x $work/pcs/quickstart ]] && ldd "$work/pcs/quickstart" 2>/dev/null | grep -q "libaurum"; then
    echo "install: pkg_config_static/quickstart loads a shared libaurum:"; ldd "$work/pcs/quickstart" | grep libaurum
    record failed "pkg_config_static/no-shared-libaurum"
fi
exit $rc
