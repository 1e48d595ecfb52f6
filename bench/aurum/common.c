/* common.c — helpers shared by the aurum-c benchmarks (see bench.h): clock, memory and CPU
 * readings, the result line, failure, node start, --info. Relies on glibc (mallinfo2). */
#include "bench.h"

#include <malloc.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Set by bench/CMakeLists.txt: the compiler and the flags the library and this program were
 * built with. */
#ifndef AU_BENCH_COMPILER
#define AU_BENCH_COMPILER "unknown"
#endif
#ifndef AU_BENCH_CFLAGS
#define AU_BENCH_CFLAGS "unknown"
#endif

uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bench_rss_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) bench_fail("cannot open /proc/self/status");
    char line[256];
    uint64_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = strtoull(line + 6, NULL, 10);
    fclose(f);
    if (kb == 0) bench_fail("no VmRSS in /proc/self/status");
    return kb * 1024;
}

uint64_t bench_peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) bench_fail("getrusage failed");
    return (uint64_t)ru.ru_maxrss * 1024; /* kB on Linux */
}

uint64_t bench_heap_bytes(void) {
    struct mallinfo2 mi = mallinfo2();
    return (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
}

uint64_t bench_cpu_ns(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) bench_fail("getrusage failed");
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

void bench_window(uint64_t t0, uint64_t t1) {
    if (!getenv("AU_BENCH_WINDOW")) return;
    fprintf(stderr, "aurum_bench: measured window %llu.%09llu,%llu.%09llu\n",
            (unsigned long long)(t0 / 1000000000u), (unsigned long long)(t0 % 1000000000u),
            (unsigned long long)(t1 / 1000000000u), (unsigned long long)(t1 % 1000000000u));
}

void bench_result(const char *bench, double value, const char *unit) {
    printf("RESULT %s %.2f %s\n", bench, value, unit);
    fflush(stdout);
}

void bench_fail(const char *fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(stderr, "aurum_bench: FAILED: %s\n", buf);
    fflush(stderr);
    /* _exit: worker threads may still be running hooks; nothing must run atexit handlers. */
    _exit(1);
}

au_node *bench_node_start(void) {
    au_node *node = NULL;
    au_err err = au_node_start(&(au_node_config){ .no_network = true }, &node);
    if (err) bench_fail("au_node_start: %s", au_strerror(err));
    return node;
}

void bench_wait_stopped(au_node *node, uint64_t n) {
    for (;;) {
        au_node_stats st;
        au_node_stats_get(node, &st);
        if (st.actors_stopped >= n) return;
        sched_yield();
    }
}

int bench_info(void) {
    printf("INFO aurum compiler %s\n", AU_BENCH_COMPILER);
    printf("INFO aurum flags %s\n", AU_BENCH_CFLAGS);
    printf("INFO aurum workers %ld (node default: one per online CPU) + 1 event-loop thread\n",
           sysconf(_SC_NPROCESSORS_ONLN));
    fflush(stdout);
    return 0;
}
