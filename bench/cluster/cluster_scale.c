/* cluster_scale.c — the cluster at scale in deterministic simulation (part of `make bench`).
 *
 *   cluster_scale N [--minutes M] [--hb-ms H] [--seed S]
 *
 * N nodes start together, all seeding the first three, on one simulation (virtual time, one
 * thread). Measured, and printed as RESULT lines:
 *   form_s          virtual seconds until every node's member set has all N (one agreed view)
 *   settle_s        virtual seconds after forming until every node's dissemination queue is
 *                   empty (au_cluster_stats.queued): the N joins' news, spent
 *   settle_bps      bytes sent per node per virtual second meanwhile
 *   steady_bps      bytes sent per node per virtual second over the next 10 s (steady state)
 *   crash_p50_s / crash_p99_s / crash_max_s
 *                   after one node crashes: when each live node saw it removed (percentiles
 *                   over the nodes; 20 ms resolution)
 *   join_all_s      a new node joins: until every node counts it
 *   steady_bps_late bytes per node per second over the last 10 s of the M-minute soak
 *   senders_per_node the transport's per-sender replay state each node holds
 *   peers_per_node  the transport's per-peer send state each node holds (au_node_stats.peers)
 *   cpu_s, wall_s, peak_rss_mib
 *                   the simulator's own cost for the whole run (setup, M simulated minutes);
 *                   wall time includes whatever else the machine runs, CPU time does not
 * With AU_SCALE_STATS=1 it also prints the node and cluster counters that moved during the steady
 * window, per node per second (where the bytes go).
 * Reads membership through au_cluster_stats (no subscribers: at this size an update per event
 * per node would dominate). */
#include <aurum/aurum.h>
#include <aurum/cluster.h>
#include <aurum/testkit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double wall(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void cpu_model(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            printf("# cpu:%s", strchr(line, ':') + 1);
            break;
        }
    if (f) fclose(f);
}

static int n;
static au_node **nodes;
static au_cluster **clusters;
static bool *live;

static uint64_t members_of(int i) {
    au_cluster_stats st;
    au_cluster_stats_get(clusters[i], &st);
    return st.members;
}

static bool all_have(uint64_t want) {
    for (int i = 0; i < n; i++)
        if (live[i] && members_of(i) != want) return false;
    return true;
}

static uint64_t bytes_sent(void) {
    uint64_t b = 0;
    for (int i = 0; i < n; i++)
        if (live[i]) {
            au_node_stats st;
            au_node_stats_get(nodes[i], &st);
            b += st.bytes_sent;
        }
    return b;
}

/* The node and cluster statistics summed over the live nodes: where steady-state bytes go. */
/* The longest dissemination queue of any live node (au_cluster_stats.queued). */
static uint64_t most_queued(void) {
    uint64_t most = 0;
    for (int i = 0; i < n; i++) {
        if (!live[i]) continue;
        au_cluster_stats st;
        au_cluster_stats_get(clusters[i], &st);
        if (st.queued > most) most = st.queued;
    }
    return most;
}

static au_node_stats sum_stats(void) {
    au_node_stats sum = { 0 };
    for (int i = 0; i < n; i++) {
        if (!live[i]) continue;
        au_node_stats st;
        au_node_stats_get(nodes[i], &st);
        for (size_t k = 0; k < AU_NODE_STATS_COUNT; k++)
            ((uint64_t *)(void *)&sum)[k] += au_node_stats_value(&st, k);
    }
    return sum;
}

static au_cluster_stats sum_cluster_stats(void) {
    au_cluster_stats sum = { 0 };
    for (int i = 0; i < n; i++) {
        if (!live[i]) continue;
        au_cluster_stats st;
        au_cluster_stats_get(clusters[i], &st);
        sum.messages_sent += st.messages_sent;
        sum.suspicions += st.suspicions;
        sum.refutations += st.refutations;
        sum.removals += st.removals;
        sum.answers_withheld += st.answers_withheld;
        sum.reconnects += st.reconnects;
    }
    return sum;
}

/* With AU_SCALE_STATS=1: the counters that moved over a window, per node per second. */
static void print_deltas(const au_node_stats *b, const au_cluster_stats *cb, double secs) {
    if (!getenv("AU_SCALE_STATS")) return;
    au_node_stats a = sum_stats();
    au_cluster_stats ca = sum_cluster_stats();
    for (size_t k = 0; k < AU_NODE_STATS_COUNT; k++) {
        const au_node_stats_field *f = au_node_stats_describe(k);
        uint64_t d = au_node_stats_value(&a, k) - au_node_stats_value(b, k);
        if (!f->gauge && d) printf("# stat %s %.1f /s/node\n", f->name, (double)d / secs / n);
    }
    printf("# cluster messages_sent %.1f suspicions %.2f refutations %.2f removals %.2f "
           "withheld %.2f reconnects %.2f /s/node\n",
           (double)(ca.messages_sent - cb->messages_sent) / secs / n,
           (double)(ca.suspicions - cb->suspicions) / secs / n,
           (double)(ca.refutations - cb->refutations) / secs / n,
           (double)(ca.removals - cb->removals) / secs / n,
           (double)(ca.answers_withheld - cb->answers_withheld) / secs / n,
           (double)(ca.reconnects - cb->reconnects) / secs / n);
}

static double cpu_now(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* A progress line during formation: the fewest and the mean members a node counts. */
static void progress(au_nanos elapsed, double t0) {
    uint64_t lo = UINT64_MAX;
    double sum = 0, peers = 0;
    for (int i = 0; i < n; i++) {
        uint64_t m = members_of(i);
        if (m < lo) lo = m;
        sum += (double)m;
        au_node_stats st;
        au_node_stats_get(nodes[i], &st);
        peers += (double)st.peers;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("# forming: %.0f s simulated, members per node min %llu mean %.0f of %d, peers per node "
           "%.0f; %.1f s CPU, %.1f s wall, peak RSS %.0f MiB\n",
           (double)elapsed / 1e9, (unsigned long long)lo, sum / n, n, peers / n, cpu_now(),
           wall() - t0, (double)ru.ru_maxrss / 1024.0);
    fflush(stdout);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s N [--minutes M] [--hb-ms H] [--seed S]\n", argv[0]);
        return 2;
    }
    n = atoi(argv[1]);
    double minutes = 1;
    unsigned hb_ms = 0;
    uint64_t seed = 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--minutes")) minutes = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--hb-ms")) hb_ms = (unsigned)atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], NULL, 0);
    }
    cpu_model();
    au_log_set_level(AU_LOG_NET, AU_LOG_ERROR);
    au_log_set_level(AU_LOG_CLUSTER, AU_LOG_ERROR);
    double t0 = wall();
    au_sim *sim;
    au_sim_create(&(au_sim_config){ .seed = seed }, &sim);
    nodes = calloc((size_t)n + 1, sizeof *nodes);
    clusters = calloc((size_t)n + 1, sizeof *clusters);
    live = calloc((size_t)n + 1, sizeof *live);
    au_driver d = au_sim_driver(sim);
    for (int i = 0; i <= n; i++)
        if (au_node_start(&(au_node_config){ .driver = &d, .max_peers = 65536 }, &nodes[i])) return 1;
    const char *seeds[3] = { au_node_address(nodes[0]), au_node_address(nodes[1]), au_node_address(nodes[2]) };
    au_cluster_config cfg = { .seeds = seeds, .nseeds = 3, .no_leave_on_stop = true,
                              .hb_interval = AU_MSEC(hb_ms) };
    for (int i = 0; i < n; i++) {
        if (au_cluster_start(nodes[i], &cfg, &clusters[i])) return 1;
        live[i] = true;
    }
    printf("# N=%d hb_interval=%u ms (0: default), %.1f simulated minutes\n", n, hb_ms, minutes);

    au_nanos start = au_sim_now(sim), t, next_progress = start + AU_SEC(5);
    while (!all_have((uint64_t)n) && au_sim_now(sim) - start < AU_SEC(300)) {
        au_sim_run(sim, AU_MSEC(100));
        if (au_sim_now(sim) >= next_progress) { /* how far a long formation got, if it is stopped */
            next_progress += AU_SEC(5);
            progress(au_sim_now(sim) - start, t0);
        }
    }
    printf("RESULT form_s %.2f s%s\n", (double)(au_sim_now(sim) - start) / 1e9,
           all_have((uint64_t)n) ? "" : " (not formed)");
    fflush(stdout);
    /* the joins' dissemination: every node queued each of the N joins for retransmit_mult ·
     * ⌈log10(N+2)⌉ sends, which ride gossip and heartbeats until they are spent; the steady
     * state begins when every queue is empty */
    au_nanos settle_t0 = au_sim_now(sim);
    uint64_t settle_b0 = bytes_sent();
    while (most_queued() > 0 && au_sim_now(sim) - settle_t0 < AU_SEC(600)) au_sim_run(sim, AU_SEC(1));
    double settle_s = (double)(au_sim_now(sim) - settle_t0) / 1e9;
    printf("RESULT settle_s %.0f s%s\n", settle_s, most_queued() ? " (not drained)" : "");
    printf("RESULT settle_bps %.0f B/s/node\n",
           settle_s > 0 ? (double)(bytes_sent() - settle_b0) / settle_s / n : 0.0);
    fflush(stdout);

    uint64_t b0 = bytes_sent();
    au_node_stats before = sum_stats();
    au_cluster_stats cbefore = sum_cluster_stats();
    au_sim_run(sim, AU_SEC(10));
    printf("RESULT steady_bps %.0f B/s/node\n", (double)(bytes_sent() - b0) / 10.0 / n);
    print_deltas(&before, &cbefore, 10.0);
    fflush(stdout);

    /* a crash: when does each live node see it removed? */
    int victim = n / 2;
    au_node_stop(nodes[victim]);
    live[victim] = false;
    double *seen = calloc((size_t)n, sizeof *seen);
    int pending = n - 1;
    t = au_sim_now(sim);
    while (pending > 0 && au_sim_now(sim) - t < AU_SEC(30)) {
        au_sim_run(sim, AU_MSEC(20));
        for (int i = 0; i < n; i++)
            if (live[i] && seen[i] == 0 && members_of(i) == (uint64_t)n - 1)
                seen[i] = (double)(au_sim_now(sim) - t) / 1e9, pending--;
    }
    double *v = calloc((size_t)n, sizeof *v);
    int k = 0;
    for (int i = 0; i < n; i++)
        if (live[i]) v[k++] = seen[i] ? seen[i] : 99;
    qsort(v, (size_t)k, sizeof *v, cmp_d);
    printf("RESULT crash_p50_s %.2f s\nRESULT crash_p99_s %.2f s\nRESULT crash_max_s %.2f s\n",
           v[k / 2], v[(k * 99) / 100], v[k - 1]);
    fflush(stdout);

    /* a join: until every node counts the newcomer */
    live[n] = true;
    t = au_sim_now(sim);
    au_cluster_start(nodes[n], &cfg, &clusters[n]);
    n++;
    while (!all_have((uint64_t)n - 1) && au_sim_now(sim) - t < AU_SEC(30)) au_sim_run(sim, AU_MSEC(20));
    printf("RESULT join_all_s %.2f s\n", (double)(au_sim_now(sim) - t) / 1e9);
    fflush(stdout);

    au_nanos soak = (au_nanos)(minutes * 60e9);
    au_nanos elapsed = au_sim_now(sim) - start;
    if (soak > elapsed + AU_SEC(10)) au_sim_run(sim, soak - elapsed - AU_SEC(10));
    b0 = bytes_sent();
    au_sim_run(sim, AU_SEC(10));
    printf("RESULT steady_bps_late %.0f B/s/node\n", (double)(bytes_sent() - b0) / 10.0 / (n - 1));
    /* where the memory goes: the transport state each node keeps per peer it has talked to */
    double senders = 0, peers = 0;
    for (int i = 0; i < n; i++)
        if (live[i]) {
            au_node_stats st;
            au_node_stats_get(nodes[i], &st);
            senders += (double)st.senders;
            peers += (double)st.peers;
        }
    printf("RESULT senders_per_node %.0f senders\n", senders / (n - 1));
    printf("RESULT peers_per_node %.0f peers\n", peers / (n - 1));
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("RESULT cpu_s %.1f s\n", (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
    printf("RESULT wall_s %.1f s\nRESULT peak_rss_mib %.0f MiB\nRESULT sim_minutes %.1f min\n",
           wall() - t0, (double)ru.ru_maxrss / 1024.0, (double)(au_sim_now(sim) - start) / 60e9);
    fflush(stdout);
    for (int i = 0; i < n; i++)
        if (i != victim) au_node_stop(nodes[i]);
    au_sim_destroy(sim);
    free(seen);
    free(v);
    return 0;
}
