/* cluster_sim_world.h — a cluster_world.h world on the deterministic simulator, for cmocka
 * suites: a world of n nodes on one simulation (new_world / end_world), the quick-join
 * configuration the topology and misuse suites use, and converge(), which fails the test (and
 * prints every member set) unless the world converges within the given virtual time. */
#ifndef CLUSTER_SIM_WORLD_H
#define CLUSTER_SIM_WORLD_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cluster/cluster_world.h"

/* A driver for one node on sim (a compound literal: valid in the enclosing block). */
#define SIMULATED(sim) ((au_driver[]){ au_sim_driver(sim) })

static void new_world(world *w, int n, uint64_t seed) {
    memset(w, 0, sizeof *w);
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = seed }, &w->sim), AU_OK);
    for (int i = 0; i < n; i++) assert_int_equal(world_start_node(w, i, SIMULATED(w->sim), NULL), AU_OK);
}

static void end_world(world *w) {
    world_stop(w);
    au_sim_destroy(w->sim);
}

/* fast joins: a short ping timeout, a few rounds */
static au_cluster_config quick(const char **seeds, size_t n) {
    return (au_cluster_config){ .seeds = seeds, .nseeds = n, .ping_timeout = AU_MSEC(50),
                                .num_pings = 4, .no_leave_on_stop = true };
}

static void converge(world *w, au_nanos within) {
    au_err e = au_sim_run_until(w->sim, world_converged, w, within);
    if (e != AU_OK) world_print(w, "not converged");
    assert_int_equal(e, AU_OK);
}

#endif
