/* remote.c — remote_pingpong and remote_throughput: two OS processes on 127.0.0.1.
 *
 * Not available until the UDP transport is in: both return BENCH_UNAVAILABLE (exit status 3,
 * nothing on stdout), which the runner shows as n/a.
 *
 * How they will be written (bench/README.md has the exact protocol):
 *   - the parent fork/execs /proc/self/exe as `aurum_bench --child <benchmark>` with stdout on a
 *     pipe; the child (PR_SET_PDEATHSIG = SIGKILL) starts a node bound to 127.0.0.1:0, spawns
 *     pong or the receiver under a name, and writes `PORT <p>` (from au_node_address);
 *   - the parent starts its own node on 127.0.0.1:0, forges the reference with au_forge, does
 *     one untimed hello round trip, then runs the timed phase; messages carry a sequence number,
 *     a 100-byte au_bytes payload and the reply-to reference (as the peers carry the sender);
 *   - remote_throughput: window 10,000 un-acked, cumulative ack every 1,000, then fin;
 *   - the child is killed on every failure path and from on_fatal_signal in main.c (keep its
 *     pid in a global there), and waited for up to 10 s after a clean stop. */
#include "bench.h"

int bench_remote_pingpong(uint64_t n) {
    (void)n;
    return BENCH_UNAVAILABLE;
}

int bench_remote_throughput(uint64_t n) {
    (void)n;
    return BENCH_UNAVAILABLE;
}
