/* bench.h — the aurum-c side of `make bench`: what the benchmark files share.
 *
 *   aurum_bench <benchmark> [N]
 *   aurum_bench --info
 *
 * prints on stdout one line `RESULT <benchmark> <value> <unit>`, for some benchmarks further
 * `RESULT <benchmark>_<metric> <value> <unit>` lines (peak RSS, allocator view, CPU per
 * operation), and exits non-zero when the work was not done correctly; --info prints `INFO`
 * lines (compiler, flags, worker threads) for the runner's header. The workloads, sizes and
 * self-checks are those of the peers (bench/caf/caf_bench.cpp, bench/erlang/erlang_bench.erl);
 * bench/README.md describes them. Files:
 *
 *   main.c     command line, BENCH_TIMEOUT, the table of benchmarks
 *   common.c   clock, VmRSS, result line, failure, node start
 *   local.c    pingpong, count, threadring, fjcreate, fjthrput, idle
 *   fanin.c    fanin: 1,000 producers streaming to one consumer
 *   remote.c   remote_pingpong, remote_throughput: a second process, `aurum_bench --child <b>`
 *
 * A benchmark is `int fn(uint64_t n)`: it prints the RESULT line itself and returns 0, returns
 * BENCH_UNAVAILABLE (printing nothing on stdout), or calls bench_fail (exit status 1). */
#ifndef AURUM_BENCH_H
#define AURUM_BENCH_H

#include <aurum/aurum.h>

#include <stdint.h>
#include <sys/types.h>

/* Exit status of a benchmark this build cannot run; the runner shows n/a. */
#define BENCH_UNAVAILABLE 3

/* Parameters shared with the peers (bench/README.md). */
enum {
    RING_SIZE = 100,   /* threadring */
    FJ_WORKERS = 60,   /* fjthrput */
    IDLE_BATCH = 1000, /* idle: liveness pings in flight */
    FANIN_PRODUCERS = 1000, /* fanin: producer actors */
    FANIN_BURST = 100,      /* fanin: messages a producer sends per turn */
};

/* CLOCK_MONOTONIC, in nanoseconds. */
uint64_t bench_now_ns(void);
/* VmRSS of /proc/self/status, in bytes. */
uint64_t bench_rss_bytes(void);
/* The process's peak resident set (getrusage ru_maxrss), in bytes. */
uint64_t bench_peak_rss_bytes(void);
/* Bytes the process holds from malloc (mallinfo2: uordblks + hblkhd, all arenas). Every
 * allocation of the library goes through malloc (its message pool takes its chunks there). */
uint64_t bench_heap_bytes(void);
/* User + system CPU time of the whole process (getrusage RUSAGE_SELF), in nanoseconds
 * (microsecond resolution). */
uint64_t bench_cpu_ns(void);
/* With AU_BENCH_WINDOW set in the environment, prints the measured phase's CLOCK_MONOTONIC
 * bounds on stderr, for `perf record -k CLOCK_MONOTONIC` + `perf report --time <t0>,<t1>`. */
void bench_window(uint64_t t0, uint64_t t1);
/* Prints `RESULT <bench> <value> <unit>` (two decimals, like the peers) and flushes. */
void bench_result(const char *bench, double value, const char *unit);
/* Prints the reason on stderr and exits with status 1 (safe from an actor's hook). */
__attribute__((noreturn, format(printf, 1, 2))) void bench_fail(const char *fmt, ...);
/* A local node (no socket), workers = number of cores; fails the run if it cannot start. */
au_node *bench_node_start(void);
/* Waits (yielding the CPU between looks) until the node counts `n` stopped actors. */
void bench_wait_stopped(au_node *node, uint64_t n);
/* `aurum_bench --info`: INFO lines on stdout (build, worker threads). */
int bench_info(void);

/* The benchmarks (local.c, fanin.c, remote.c). */
int bench_pingpong(uint64_t n);
int bench_count(uint64_t n);
int bench_count_bounded(uint64_t n);
int bench_threadring(uint64_t n);
int bench_fjcreate(uint64_t n);
int bench_fjthrput(uint64_t n);
int bench_idle(uint64_t n);
int bench_fanin(uint64_t n);
int bench_fanin_bounded(uint64_t n);
int bench_remote_pingpong(uint64_t n);
int bench_remote_pingpong_nospin(uint64_t n);
int bench_remote_throughput(uint64_t n);
int bench_remote_pingpong_sealed(uint64_t n);
int bench_remote_throughput_sealed(uint64_t n);

/* remote.c: the second process of a remote benchmark (`aurum_bench --child <benchmark>`), and
 * the pid of the one this process started (-1: none), which main.c kills on a fatal signal. */
int bench_remote_child(const char *benchmark);
extern volatile pid_t bench_child_pid;

#endif
