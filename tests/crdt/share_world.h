/* share_world.h — test scaffolding for CRDT sharing: a world of up to SW_MAX nodes, each with a
 * cluster and one replica of a shared CRDT, on real UDP over 127.0.0.1 (wait with sw_wait, real
 * time, sleeping between looks) or in the simulator (sw_sim_wait, virtual time). Seeds: node i
 * seeds with the (up to) 3 lowest-numbered nodes other than itself, as the seed's scenario does.
 * Convergence predicates are the test's own (read every replica through the public API). */
#ifndef SHARE_WORLD_H
#define SHARE_WORLD_H

#include <aurum/aurum.h>
#include <aurum/cluster.h>
#include <aurum/crdt_share.h>
#include <aurum/faults.h>
#include <aurum/sim.h>
#include <aurum/testkit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { SW_MAX = 128 };

typedef struct sw {
    int n;
    au_sim *sim;                /* NULL: real UDP */
    au_driver drv[1];
    au_node *node[SW_MAX];
    au_cluster *cl[SW_MAX];
    au_share *sh[SW_MAX];
    char addr[SW_MAX][64];
    const char *seeds[SW_MAX][3];
} sw;

/* Starts node i (faulty driver over UDP or over the simulation), no cluster yet. */
static void sw_node(sw *w, int i) {
    w->node[i] = NULL;
    au_err e = au_node_start(&(au_node_config){ .driver = w->drv, .workers = 1, .no_spin = true },
                             &w->node[i]);
    if (e) { fprintf(stderr, "node %d: %s\n", i, au_strerror(e)); abort(); }
    snprintf(w->addr[i], sizeof w->addr[i], "%s", au_node_address(w->node[i]));
    au_faults_seed(w->node[i], (uint64_t)i * 7919 + 1);
    if (i >= w->n) w->n = i + 1;
}

static void sw_init(sw *w, au_sim *sim) {
    memset(w, 0, sizeof *w);
    w->sim = sim;
    if (sim) {
        static au_driver simd;
        simd = au_sim_driver(sim);
        w->drv[0] = au_faults_driver(&simd);
    } else {
        w->drv[0] = au_faults_driver(NULL);
    }
}

static AU_UNUSED_ void sw_faults(sw *w, int i, double drop, au_nanos dmin, au_nanos dmax) {
    au_faults f = { .drop = drop, .delay_min = dmin, .delay_max = dmax, .per_message = true };
    au_faults_set(w->node[i], NULL, drop > 0 || dmax > 0 ? &f : NULL);
}

/* Starts node i's cluster (cfg: knobs; seeds filled in) and its replica. */
static void sw_start(sw *w, int i, const au_cluster_config *base, const au_crdt_type *t,
                     const au_share_config *sc) {
    au_cluster_config c = base ? *base : (au_cluster_config){ 0 };
    size_t n = 0;
    for (int j = 0; j < w->n && n < 3; j++)
        if (j != i) w->seeds[i][n++] = w->addr[j];
    c.seeds = w->seeds[i];
    c.nseeds = n;
    au_err e = au_cluster_start(w->node[i], &c, &w->cl[i]);
    if (e) { fprintf(stderr, "cluster %d: %s\n", i, au_strerror(e)); abort(); }
    e = au_share_start(w->node[i], w->cl[i], t, sc, &w->sh[i]);
    if (e) { fprintf(stderr, "share %d: %s\n", i, au_strerror(e)); abort(); }
}

static void sw_stop(sw *w) {
    for (int i = 0; i < w->n; i++)
        if (w->node[i]) au_node_stop(w->node[i]), w->node[i] = NULL;
}

static double sw_secs(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Real time: waits until pred(arg) or timeout seconds; true if it held. Sleeps 5 ms between looks. */
static AU_UNUSED_ bool sw_wait(bool (*pred)(void *), void *arg, double timeout) {
    double t0 = sw_secs();
    for (;;) {
        if (pred(arg)) return true;
        if (sw_secs() - t0 > timeout) return false;
        nanosleep(&(struct timespec){ 0, 5000000 }, NULL);
    }
}

/* Virtual time: runs the simulation in 100 ms slices until pred(arg) holds or max passed. */
static AU_UNUSED_ bool sw_run_until(sw *w, bool (*pred)(void *), void *arg, au_nanos max) {
    au_nanos t0 = au_sim_now(w->sim);
    while (!pred(arg)) {
        if (au_sim_now(w->sim) - t0 > max) return false;
        au_sim_run(w->sim, AU_MSEC(100));
    }
    return true;
}

/* Replica i's statistics. */
static AU_UNUSED_ au_share_stats sw_stats(sw *w, int i) {
    au_share_stats st;
    au_share_stats_get(w->sh[i], &st);
    return st;
}

/* Replicas [from, to) all hold a G-Counter of value want (a predicate for the waits). */
typedef struct sw_gc_goal { sw *w; int from, to; uint64_t want; } sw_gc_goal;
static AU_UNUSED_ bool sw_gcounters_are(void *arg) {
    sw_gc_goal *g = arg;
    for (int i = g->from; i < g->to; i++)
        if (au_share_gcounter_value((au_share_gcounter){ g->w->sh[i] }) != g->want) return false;
    return true;
}

/* Sum of one statistic over every live replica. */
static AU_UNUSED_ uint64_t sw_stat(sw *w, size_t offset) {
    uint64_t t = 0;
    for (int i = 0; i < w->n; i++) {
        if (!w->sh[i] || !w->node[i]) continue;
        au_share_stats st;
        au_share_stats_get(w->sh[i], &st);
        t += *(uint64_t *)((char *)&st + offset);
    }
    return t;
}
#define SW_STAT(w, f) sw_stat((w), offsetof(au_share_stats, f))

/* True when running under valgrind (its preload library is mapped). */
static AU_UNUSED_ bool sw_valgrind(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    bool v = false;
    while (f && fgets(line, sizeof line, f)) v |= strstr(line, "vgpreload") != NULL;
    if (f) fclose(f);
    return v;
}

#endif
