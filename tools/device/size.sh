#!/usr/bin/env bash
# size.sh — builds the device client alone (src/devices/client/ without posix.c, plus the
# proto/ headers and xxhash.h: nothing else) with -Os, and prints its .text/.data/.bss and its
# state (sizeof(au_dc)) for each target and variant. `make size` runs it; ctest runs it with
# --check for x86-64 (device_client_size).
#
#   size.sh [--check] [--targets "x86-64 cortex-m4"] <source-dir> <work-dir>
#
# Targets: x86-64 (the host gcc) and cortex-m4 (arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb, when
# installed; skipped with a note otherwise). Variants: plain (AU_DC_SEALING=0), plain+sealed
# (the default build) and sealed (AU_DC_PLAIN=0: no XXH3). The sizes are those of the archive,
# every function included (a firmware linked with --gc-sections keeps only what it calls); .text
# includes read-only data. Built without unwind tables, as firmware is (x86-64's .eh_frame would
# otherwise count as code: about 1.8 KiB). Receive and send buffers are the caller's and not counted: their size
# is the largest datagram the device accepts and sends (docs/devices.md §6).
#
# Also fails when the archive needs a symbol it does not define other than memset/memcpy (which
# GCC may emit for any freestanding code and every C runtime provides): a client that needs
# libc, malloc or anything of aurum does not build alone.
# With --check, fails when a goal of issue 13 is missed: plain <= 8 KiB code and <= 512 B state,
# sealed <= 16 KiB and <= 2 KiB.
set -euo pipefail

check=0
targets="x86-64 cortex-m4"
while [[ $# -gt 0 && $1 == --* ]]; do
    case $1 in
    --check) check=1; shift ;;
    --targets) targets=$2; shift 2 ;;
    *) echo "size.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
[[ $# -eq 2 ]] || { echo "usage: $0 [--check] [--targets T] <source-dir> <work-dir>" >&2; exit 2; }
src=$(cd "$1" && pwd)
work=$2
rm -rf "$work" && mkdir -p "$work/tree/devices" "$work/xinc"
work=$(cd "$work" && pwd)
# The include tree of the layer, made the same way (symlinks): only proto/ and the client.
ln -s "$src/src/proto" "$work/tree/proto"
ln -s "$src/src/devices/client" "$work/tree/devices/client"
# xxhash.h alone, so that a cross compiler does not see the host's libc headers.
xxh=$(echo '#include <xxhash.h>' | cpp -H -o /dev/null 2>&1 | awk '/xxhash.h$/ { print $2; exit }')
[[ -n $xxh ]] || { echo "size.sh: xxhash.h not found (libxxhash-dev)" >&2; exit 1; }
ln -s "$xxh" "$work/xinc/xxhash.h"

sources=()
for f in "$src"/src/devices/client/*.c; do
    [[ ${f##*/} == posix.c ]] || sources+=("$f")
done

fail=0
printf '%-10s %-13s %7s %6s %6s %7s %7s   %s\n' target variant .text .data .bss state code/goal state/goal
for target in $targets; do
    case $target in
    x86-64) cc=gcc; ar=ar; sz=size; nm=nm; flags=() ;;
    cortex-m4)
        cc=arm-none-eabi-gcc; ar=arm-none-eabi-ar; sz=arm-none-eabi-size; nm=arm-none-eabi-nm
        flags=(-mcpu=cortex-m4 -mthumb)
        if ! command -v $cc >/dev/null; then
            echo "cortex-m4: skipped, arm-none-eabi-gcc not installed (apt-get install gcc-arm-none-eabi)"
            continue
        fi ;;
    *) echo "size.sh: unknown target $target" >&2; exit 2 ;;
    esac
    for variant in plain plain+sealed sealed; do
        case $variant in
        plain) defs=(-DAU_DC_SEALING=0); code_goal=8192; state_goal=512 ;;
        plain+sealed) defs=(); code_goal=16384; state_goal=2048 ;;
        sealed) defs=(-DAU_DC_PLAIN=0); code_goal=16384; state_goal=2048 ;;
        esac
        out=$work/$target-$variant
        mkdir -p "$out"
        objs=()
        for f in "${sources[@]}"; do
            o=$out/$(basename "${f%.c}").o
            $cc -std=c11 -Os -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables -fno-unwind-tables -Wall -Wextra -Werror \
                "${flags[@]}" "${defs[@]}" -I"$src/include" -I"$work/tree" -I"$work/xinc" \
                -c "$f" -o "$o"
            objs+=("$o")
        done
        rm -f "$out/libaurum_device_client.a"
        $ar rcs "$out/libaurum_device_client.a" "${objs[@]}"
        read -r text data bss _ < <($sz -t "$out/libaurum_device_client.a" | tail -1)
        printf '#include <aurum/device_client.h>\nchar au_dc_state[sizeof(au_dc)];\n' >"$out/state.c"
        $cc -std=c11 -Os -fno-common "${flags[@]}" "${defs[@]}" -I"$src/include" -c "$out/state.c" -o "$out/state.o"
        read -r _ _ state _ < <($sz "$out/state.o" | tail -1)
        total_state=$((state + data + bss))

        # Undefined symbols the archive does not define itself.
        undefined=$(comm -23 <($nm -u "$out/libaurum_device_client.a" | awk 'NF == 2 { print $2 }' | sort -u) \
                             <($nm --defined-only "$out/libaurum_device_client.a" | awk 'NF == 3 { print $3 }' | sort -u) |
                    grep -vxE 'memset|memcpy' || true)
        verdict=ok
        if [[ -n $undefined ]]; then
            verdict="needs: $(echo $undefined)"
            fail=1
        fi
        if (( text > code_goal || total_state > state_goal )); then
            verdict="over goal"
            (( check )) && fail=1
        fi
        printf '%-10s %-13s %7d %6d %6d %7d %7s %7s   %s\n' "$target" "$variant" "$text" "$data" "$bss" \
            "$state" "$((text * 100 / code_goal))%" "$((total_state * 100 / state_goal))%" "$verdict"
    done
done
echo "state = sizeof(au_dc); goals: plain 8192 B code / 512 B state, sealed 16384 / 2048 (issue 13)"
exit $fail
