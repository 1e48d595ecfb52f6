/* test_cluster_udp.c — the seed's four cluster scenarios on real UDP over loopback, ten nodes in
 * this process: joined in two steps of five, then crashes of 1, 3 and 5 nodes; chain and cyclic
 * seeds; without loss, and with 50 % of the messages dropped and 20–50 ms of delay (fault
 * injection wrapping the UDP driver); the cyclic lossy variant with a cluster secret. Each step
 * must converge: every live node's member set equals the set of live nodes. Deadlines are
 * generous real time (the suite also runs under sanitizers and valgrind); steps end as soon as
 * they converge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "cluster/cluster_world.h"

static const uint8_t SECRET[32] = "cluster-udp-secret-0123456789abc";

typedef struct scenario { bool cyclic, lossy, secret; } scenario;

static void step(world *w, const char *what, au_nanos timeout) {
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    bool ok = world_wait(w, world_converged, timeout);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "  %-10s %s in %.2f s\n", what, ok ? "converged" : "DID NOT converge",
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    if (!ok) world_print(w, what);
    assert_true(ok);
}

static void run(const scenario *sc) {
    static world w;
    memset(&w, 0, sizeof w);
    au_driver faulty = au_faults_driver(NULL);
    for (int i = 0; i < 10; i++)
        assert_int_equal(world_start_node(&w, i, sc->lossy ? &faulty : NULL, sc->secret ? SECRET : NULL), AU_OK);
    if (sc->lossy)
        for (int i = 0; i < 10; i++) {
            au_faults_seed(w.s[i].node, (uint64_t)i + 1);
            au_faults_set(w.s[i].node, NULL, &(au_faults){ .drop = 0.5, .delay_min = AU_MSEC(20),
                                                           .delay_max = AU_MSEC(50), .per_message = true });
        }
    static const char *seeds[10][10];
    au_cluster_config cfg[10];
    for (int i = 0; i < 10; i++) {
        size_t n = 0;
        if (sc->cyclic) for (int j = 0; j < 10; j++) seeds[i][n++] = w.s[j].addr;
        else if (i > 0) seeds[i][n++] = w.s[i - 1].addr;
        cfg[i] = (au_cluster_config){ .seeds = seeds[i], .nseeds = n, .no_leave_on_stop = true,
                                      .num_pings = 20, .req_tries = 1,
                                      .ping_timeout = sc->lossy ? AU_MSEC(200) : AU_MSEC(50),
                                      .req_timeout = sc->lossy ? AU_MSEC(200) : AU_MSEC(50) };
    }
    au_nanos limit = sc->lossy ? AU_SEC(60) : AU_SEC(20);
    for (int i = 0; i < 5; i++) assert_int_equal(world_start_cluster(&w, i, &cfg[i]), AU_OK);
    step(&w, "first 5", limit);
    for (int i = 5; i < 10; i++) assert_int_equal(world_start_cluster(&w, i, &cfg[i]), AU_OK);
    step(&w, "all 10", limit);
    world_kill(&w, 0);
    step(&w, "killed 1", limit);
    for (int i = 1; i <= 3; i++) world_kill(&w, i);
    step(&w, "killed 3", limit);
    for (int i = 4; i <= 8; i++) world_kill(&w, i);
    step(&w, "killed 5", limit);
    assert_int_equal(WORLD_SUM(&w, bad_first), 0);
    world_stop(&w);
}

static void chain_seeds_without_loss(void **s) { run(&(scenario){ 0 }); }
static void chain_seeds_with_half_the_messages_lost(void **s) { run(&(scenario){ .lossy = true }); }
static void cyclic_seeds_without_loss(void **s) { run(&(scenario){ .cyclic = true }); }
static void cyclic_seeds_with_half_the_messages_lost_and_a_secret(void **s) {
    run(&(scenario){ .cyclic = true, .lossy = true, .secret = true });
}

int main(void) {
    au_log_set_level(AU_LOG_NET, AU_LOG_ERROR); /* the unauthenticated-traffic warnings */
    au_log_set_level(AU_LOG_CLUSTER, AU_LOG_ERROR); /* minority warnings as nodes die */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chain_seeds_without_loss),
        cmocka_unit_test(chain_seeds_with_half_the_messages_lost),
        cmocka_unit_test(cyclic_seeds_without_loss),
        cmocka_unit_test(cyclic_seeds_with_half_the_messages_lost_and_a_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
