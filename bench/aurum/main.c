/* main.c — aurum_bench <benchmark> [N]: command line, time limit, dispatch (see bench.h).
 * `aurum_bench --child <benchmark>` is the second process of a remote benchmark (remote.c);
 * `aurum_bench --info` prints the build and threads for the runner's header. */
#include "bench.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct {
    const char *name;
    uint64_t default_n;
    int (*run)(uint64_t n);
} benches[] = {
    { "pingpong", 1000000, bench_pingpong },
    { "count", 10000000, bench_count },
    { "count_bounded", 10000000, bench_count_bounded },
    { "threadring", 10000000, bench_threadring },
    { "fjcreate", 1000000, bench_fjcreate },
    { "fjthrput", 100000, bench_fjthrput },
    { "idle", 100000, bench_idle },
    { "fanin", 10000000, bench_fanin },
    { "fanin_bounded", 10000000, bench_fanin_bounded },
    { "remote_pingpong", 100000, bench_remote_pingpong },
    { "remote_pingpong_nospin", 100000, bench_remote_pingpong_nospin },
    { "remote_throughput", 1000000, bench_remote_throughput },
    { "remote_pingpong_sealed", 100000, bench_remote_pingpong_sealed },
    { "remote_throughput_sealed", 1000000, bench_remote_throughput_sealed },
};

static void usage(void) {
    fprintf(stderr, "usage: aurum_bench <benchmark> [N] | --info\nbenchmarks:");
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        fprintf(stderr, " %s", benches[i].name);
    fprintf(stderr, "\n");
    exit(2);
}

static void on_fatal_signal(int sig) {
    /* A remote benchmark's second process goes too (async-signal-safe: kill only). */
    pid_t child = bench_child_pid;
    if (child > 0) kill(child, SIGKILL);
    static const char msg[] = "aurum_bench: timeout or signal, giving up\n";
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    _exit(sig == SIGALRM ? 124 : 128 + sig);
}

/* BENCH_TIMEOUT seconds (default 600, 0: none), then give up with status 124, as the peers. */
static void install_timeout(void) {
    unsigned secs = 600;
    const char *t = getenv("BENCH_TIMEOUT");
    if (t) secs = (unsigned)strtoul(t, NULL, 10);
    signal(SIGALRM, on_fatal_signal);
    signal(SIGTERM, on_fatal_signal);
    signal(SIGINT, on_fatal_signal);
    if (secs > 0) alarm(secs);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--child") == 0) {
        install_timeout();
        return bench_remote_child(argv[2]);
    }
    if (argc == 2 && strcmp(argv[1], "--info") == 0) return bench_info();
    if (argc < 2 || argc > 3) usage();
    size_t i = 0, count = sizeof benches / sizeof benches[0];
    while (i < count && strcmp(argv[1], benches[i].name) != 0) i++;
    if (i == count) usage();
    uint64_t n = benches[i].default_n;
    if (argc == 3) {
        char *end = NULL;
        n = strtoull(argv[2], &end, 10);
        if (!end || *end != '\0' || argv[2][0] == '-' || n == 0) usage();
    }
    install_timeout();
    int rc = benches[i].run(n);
    if (rc == BENCH_UNAVAILABLE)
        fprintf(stderr, "aurum_bench: %s is not available in this build\n", benches[i].name);
    return rc;
}
