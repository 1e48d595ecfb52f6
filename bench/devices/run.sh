#!/usr/bin/env bash
# bench/devices/run.sh — the device server's benchmarks of `make bench` (docs/benchmarks.md,
# "Devices"): detection times in simulation (device_detect: 3 servers, 1,000 devices, 10 virtual
# minutes at 5 % loss), then one node's capacity on real UDP (device_capacity: N real clients at
# a 1 s interval in one child process, sharing SOCKETS UDP sockets, each device with its own
# 127/8 address). Environment: BIN (default build-bench/bench), DEVICES (the device counts to
# run, default "10000 50000 100000"; LEASE_DEVICES those run again with leases of 4, default
# "100000"), WINDOW (seconds measured, default 20), SOCKETS (default 4).
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${BIN:-$repo/build-bench/bench}
if [[ ! -x $bin/device_detect || ! -x $bin/device_capacity ]]; then
  cmake -S "$repo" -B "$repo/build-bench" -DCMAKE_BUILD_TYPE=Release -DAU_BUILD_BENCH=ON >/dev/null &&
    cmake --build "$repo/build-bench" -j2 --target device_detect device_capacity >/dev/null || exit 1
fi
echo "== devices: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores"
"$bin/device_detect" 10 || exit 1
LEASE=4 "$bin/device_detect" 10 || exit 1
for n in ${DEVICES:-10000 50000 100000}; do
  "$bin/device_capacity" "$n" "${WINDOW:-20}" "${SOCKETS:-4}" 2> >(grep -v WARN >&2) || exit 1
done
# With leases of 4 heartbeats per request (au_device_server_config.lease): the server's sends
# fall to a quarter.
for n in ${LEASE_DEVICES:-100000}; do
  LEASE=4 "$bin/device_capacity" "$n" "${WINDOW:-20}" "${SOCKETS:-4}" 2> >(grep -v WARN >&2) || exit 1
done
