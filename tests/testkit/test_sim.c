/* test_sim.c — the deterministic simulation: same seed, same run (trace hashes equal);
 * different seeds, different runs; virtual time; failure injection inside the simulated
 * network; a paused node (nothing of it runs, then everything late at once); and a thousand simulated nodes passing a token around, in seconds of real time. */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>
#include <cmocka.h>

/* A simulated node's driver, and one with fault injection wrapped around the simulation. */
#define SIMULATED(sim) ((au_driver[]){ au_sim_driver(sim) })
#define SIMULATED_FAULTY(sim) ((au_driver[]){ au_faults_driver(SIMULATED(sim)) })

/* ---- a gossip-ish workload: every node's driver fires hits at other nodes' counters -------- */

AU_ROOT(counter_msg, (hit, int64_t, AU_REMOTE));
typedef struct counter { int64_t *hits; } counter;
static void counter_recv(au_ctx *ctx, counter *self, counter_msg *m) { (*self->hits) += m->hit; }
AU_ACTOR(counter_actor, counter, counter_msg, .recv = counter_recv);

enum { MAX_NODES = 16 };

typedef struct driver {
    int64_t_ref targets[MAX_NODES];
    int n, index, rounds_left;
    uint64_t rng;
} driver;

static void driver_pre_start(au_ctx *ctx, driver *self) { au_set_receive_timeout(ctx, AU_MSEC(10)); }
static void driver_recv(au_ctx *ctx, driver *self, counter_msg *m) {}
static void driver_timeout(au_ctx *ctx, driver *self) {
    /* xorshift: the choice of target is part of the run, seeded per node by the test */
    self->rng ^= self->rng << 13;
    self->rng ^= self->rng >> 7;
    self->rng ^= self->rng << 17;
    au_send(self->targets[self->rng % (uint64_t)self->n], (int64_t)1);
    if (--self->rounds_left == 0) au_stop_self(ctx);
}
AU_ACTOR(driver_actor, driver, counter_msg, .pre_start = driver_pre_start, .recv = driver_recv,
         .timeout = driver_timeout);

typedef struct world {
    au_sim *sim;
    au_node *nodes[MAX_NODES];
    int64_t hits[MAX_NODES];
    int n;
    int64_t expected;
} world;

static int64_t total(world *w) {
    int64_t t = 0;
    for (int i = 0; i < w->n; i++) t += w->hits[i];
    return t;
}

static bool all_hits_in(void *arg) {
    world *w = arg;
    return total(w) >= w->expected;
}

/* Runs the workload; returns the trace hash. drop: injected message loss on every node. */
static uint64_t run_world(uint64_t seed, int n, double drop, int64_t *delivered) {
    world w = { .n = n, .expected = (int64_t)n * 50 };
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = seed }, &w.sim), AU_OK);
    for (int i = 0; i < n; i++) {
        assert_int_equal(au_node_start(&(au_node_config){ .driver = SIMULATED_FAULTY(w.sim) }, &w.nodes[i]), AU_OK);
        au_spawn(w.nodes[i], counter_actor, "counter", &(counter){ .hits = &w.hits[i] });
        if (drop > 0) au_faults_set(w.nodes[i], NULL, &(au_faults){ .drop = drop, .per_message = true });
    }
    for (int i = 0; i < n; i++) {
        driver d = { .n = n, .index = i, .rounds_left = 50, .rng = au_sim_random(w.sim) | 1 };
        for (int j = 0; j < n; j++)
            d.targets[j] = au_forge(counter_msg, int64_t, w.nodes[i], "counter", au_node_address(w.nodes[j]));
        au_spawn(w.nodes[i], driver_actor, NULL, &d);
    }
    au_err err = au_sim_run_until(w.sim, all_hits_in, &w, AU_SEC(10));
    if (drop == 0) assert_int_equal(err, AU_OK);
    au_sim_run(w.sim, AU_SEC(1)); /* let stragglers land */
    *delivered = total(&w);
    uint64_t h = au_sim_trace_hash(w.sim);
    for (int i = 0; i < n; i++) au_node_stop(w.nodes[i]);
    au_sim_destroy(w.sim);
    return h;
}

static void the_same_seed_gives_the_same_run(void **s) {
    int64_t d1, d2;
    uint64_t h1 = run_world(7, 8, 0.1, &d1);
    uint64_t h2 = run_world(7, 8, 0.1, &d2);
    assert_true(h1 == h2);
    assert_int_equal(d1, d2);
    assert_true(d1 < 8 * 50); /* the injected loss happened, identically */
}

static void different_seeds_give_different_runs(void **s) {
    int64_t d1, d2;
    uint64_t h1 = run_world(1, 8, 0.1, &d1);
    uint64_t h2 = run_world(2, 8, 0.1, &d2);
    assert_true(h1 != h2);
}

static void without_loss_every_message_arrives(void **s) {
    int64_t d;
    run_world(3, 6, 0, &d);
    assert_int_equal(d, 6 * 50);
}

/* ---- virtual time ------------------------------------------------------------------------------ */

typedef struct sleeper { int *timeouts; } sleeper;
static void sleeper_pre_start(au_ctx *ctx, sleeper *self) { au_set_receive_timeout(ctx, AU_SEC(3600)); }
static void sleeper_recv(au_ctx *ctx, sleeper *self, counter_msg *m) {}
static void sleeper_timeout(au_ctx *ctx, sleeper *self) { (*self->timeouts)++; }
AU_ACTOR(sleeper_actor, sleeper, counter_msg, .pre_start = sleeper_pre_start, .recv = sleeper_recv,
         .timeout = sleeper_timeout);

static bool two_timeouts(void *arg) { return *(int *)arg >= 2; }

static void timers_run_on_virtual_time(void **s) {
    au_sim *sim;
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 1 }, &sim), AU_OK);
    au_node *node;
    assert_int_equal(au_node_start(&(au_node_config){ .driver = SIMULATED(sim) }, &node), AU_OK);
    int timeouts = 0;
    au_spawn(node, sleeper_actor, NULL, &(sleeper){ .timeouts = &timeouts });
    au_nanos t0 = au_sim_now(sim);
    struct timespec r0, r1;
    clock_gettime(CLOCK_MONOTONIC, &r0);
    assert_int_equal(au_sim_run_until(sim, two_timeouts, &timeouts, AU_SEC(3 * 3600)), AU_OK);
    clock_gettime(CLOCK_MONOTONIC, &r1);
    assert_int_equal(au_sim_now(sim) - t0, 2 * AU_SEC(3600)); /* exactly two hours of virtual time */
    assert_int_equal(au_node_now(node), au_sim_now(sim));
    assert_true(r1.tv_sec - r0.tv_sec < 5); /* and almost no real time */
    au_node_stop(node);
    au_sim_destroy(sim);
}

/* A receive timeout of UINT64_MAX means "never" (actor.h): running virtual time to its very end
 * neither hangs nor fires it, and a send_after of UINT64_MAX stays pending too. */
typedef struct never_sleeper { int *timeouts; } never_sleeper;
static void never_pre_start(au_ctx *ctx, never_sleeper *self) { au_set_receive_timeout(ctx, UINT64_MAX); }
static void never_recv(au_ctx *ctx, never_sleeper *self, counter_msg *m) {}
static void never_timeout(au_ctx *ctx, never_sleeper *self) { (*self->timeouts)++; }
AU_ACTOR(never_actor, never_sleeper, counter_msg, .pre_start = never_pre_start, .recv = never_recv,
         .timeout = never_timeout);

static void a_timeout_of_forever_never_fires_even_at_the_end_of_time(void **s) {
    au_sim *sim;
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 1 }, &sim), AU_OK);
    au_node *node;
    assert_int_equal(au_node_start(&(au_node_config){ .driver = SIMULATED(sim) }, &node), AU_OK);
    int timeouts = 0;
    counter_msg_ref r = au_spawn(node, never_actor, NULL, &(never_sleeper){ .timeouts = &timeouts });
    assert_false(au_ref_is_null(r.raw));
    au_timer t = au_send_after(r, UINT64_MAX, (counter_msg){ 0 });
    assert_true(t != 0);
    au_sim_run(sim, AU_SEC(1));
    au_sim_run(sim, UINT64_MAX); /* returns: nothing is due before "never" */
    assert_int_equal(timeouts, 0);
    assert_int_equal(au_timer_cancel(node, t), AU_OK); /* still pending, so cancellable */
    au_node_stop(node);
    au_sim_destroy(sim);
}

/* Timer handles are unique across nodes: one node's handle cancels nothing on another. */
static void a_timer_handle_of_one_node_cancels_nothing_on_another(void **s) {
    au_sim *sim;
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 2 }, &sim), AU_OK);
    au_node *a, *b;
    assert_int_equal(au_node_start(&(au_node_config){ .driver = SIMULATED(sim) }, &a), AU_OK);
    assert_int_equal(au_node_start(&(au_node_config){ .driver = SIMULATED(sim) }, &b), AU_OK);
    int ta = 0, tb = 0;
    counter_msg_ref ra = au_spawn(a, never_actor, NULL, &(never_sleeper){ .timeouts = &ta });
    counter_msg_ref rb = au_spawn(b, never_actor, NULL, &(never_sleeper){ .timeouts = &tb });
    au_timer on_a = au_send_after(ra, AU_SEC(1), (counter_msg){ 0 });
    au_timer on_b = au_send_after(rb, AU_SEC(1), (counter_msg){ 0 });
    assert_true(on_a && on_b && on_a != on_b);
    assert_int_equal(au_timer_cancel(b, on_a), AU_ENOTFOUND);
    assert_int_equal(au_timer_cancel(a, on_b), AU_ENOTFOUND);
    assert_int_equal(au_timer_cancel(a, on_a), AU_OK);
    assert_int_equal(au_timer_cancel(b, on_b), AU_OK);
    au_node_stop(a);
    au_node_stop(b);
    au_sim_destroy(sim);
}

/* ---- a paused node ------------------------------------------------------------------------- */

typedef struct ticker { int *ticks; au_nanos *last; } ticker;
static void ticker_pre_start(au_ctx *ctx, ticker *self) { au_set_receive_timeout(ctx, AU_MSEC(100)); }
static void ticker_recv(au_ctx *ctx, ticker *self, counter_msg *m) {}
static void ticker_timeout(au_ctx *ctx, ticker *self) {
    (*self->ticks)++;
    *self->last = au_node_now(au_ctx_node(ctx));
}
AU_ACTOR(ticker_actor, ticker, counter_msg, .pre_start = ticker_pre_start, .recv = ticker_recv,
         .timeout = ticker_timeout);

/* A paused node runs nothing for the pause (no timer, no actor turn, no delivery); at its end,
 * at one instant, what arrived is handed over and the late timer fires once. The other node
 * runs on meanwhile. */
static void a_paused_node_runs_nothing_then_everything_late_at_once(void **s) {
    au_sim *sim;
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 5 }, &sim), AU_OK);
    au_node *a, *b;
    assert_int_equal(au_node_start(&(au_node_config){ .driver = SIMULATED(sim) }, &a), AU_OK);
    assert_int_equal(au_node_start(&(au_node_config){ .driver = SIMULATED_FAULTY(sim) }, &b), AU_OK);
    int ticks_a = 0, ticks_b = 0;
    au_nanos last_a = 0, last_b = 0;
    int64_t hits = 0;
    au_spawn(a, ticker_actor, NULL, &(ticker){ &ticks_a, &last_a });
    au_spawn(b, ticker_actor, NULL, &(ticker){ &ticks_b, &last_b });
    au_spawn(a, counter_actor, "counter", &(counter){ .hits = &hits });
    int64_t_ref to_a = au_forge(counter_msg, int64_t, b, "counter", au_node_address(a));
    au_sim_run(sim, AU_MSEC(250));
    assert_int_equal(ticks_a, 2);
    assert_int_equal(au_sim_pause(sim, a, 0), AU_EINVAL);
    assert_int_equal(au_sim_pause(sim, NULL, AU_SEC(1)), AU_EINVAL);
    au_nanos t0 = au_sim_now(sim);
    assert_int_equal(au_sim_pause(sim, a, AU_SEC(2)), AU_OK);
    assert_true(au_sim_paused(sim, a));
    assert_false(au_sim_paused(sim, b));
    for (int i = 0; i < 3; i++) au_send(to_a, (int64_t)1);
    au_sim_run(sim, AU_SEC(2) - 1);
    assert_int_equal(ticks_a, 2); /* its timer came due at t0 + 50 ms: held */
    assert_int_equal(hits, 0);    /* the datagrams arrived: held too */
    assert_true(ticks_b >= 2 + 19); /* the other node ran on */
    assert_true(au_sim_paused(sim, a));
    au_sim_run(sim, 1);
    assert_false(au_sim_paused(sim, a));
    assert_int_equal(hits, 3);
    assert_int_equal(ticks_a, 3); /* once, late, not once per missed period */
    assert_int_equal(last_a, t0 + AU_SEC(2));
    au_sim_run(sim, AU_MSEC(150));
    assert_int_equal(ticks_a, 4); /* and on its period again from there */
    /* stopped while paused: what it held goes with it (valgrind: nothing leaks) */
    assert_int_equal(au_sim_pause(sim, a, AU_SEC(1)), AU_OK);
    assert_int_equal(au_sim_pause(sim, a, AU_SEC(1)), AU_ESTATE);
    au_send(to_a, (int64_t)1);
    au_sim_run(sim, AU_MSEC(100));
    au_node_stop(a);
    au_sim_run(sim, AU_SEC(2));
    assert_int_equal(hits, 3);
    au_node_stop(b);
    au_sim_destroy(sim);
}

/* ---- partitions in the simulated network ----------------------------------------------------- */

static void a_partition_in_the_simulation_blocks_until_healed(void **s) {
    au_sim *sim;
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 5 }, &sim), AU_OK);
    au_node *a, *b;
    assert_int_equal(au_node_start(&(au_node_config){ .driver = SIMULATED_FAULTY(sim) }, &a), AU_OK);
    assert_int_equal(au_node_start(&(au_node_config){ .driver = SIMULATED_FAULTY(sim) }, &b), AU_OK);
    int64_t hits = 0;
    au_spawn(b, counter_actor, "counter", &(counter){ .hits = &hits });
    int64_t_ref to_b = au_forge(counter_msg, int64_t, a, "counter", au_node_address(b));
    assert_int_equal(au_faults_partition(&a, 1, &b, 1), AU_OK);
    au_send(to_b, (int64_t)1);
    au_sim_run(sim, AU_SEC(1));
    assert_int_equal(hits, 0);
    assert_int_equal(au_faults_heal((au_node *[]){ a, b }, 2), AU_OK);
    au_send(to_b, (int64_t)1);
    au_sim_run(sim, AU_SEC(1));
    assert_int_equal(hits, 1);
    au_node_stop(a);
    au_node_stop(b);
    au_sim_destroy(sim);
}

/* ---- a thousand nodes ------------------------------------------------------------------------ */

AU_ROOT(token_msg, (token, int64_t, AU_REMOTE));
typedef struct relay { int64_t_ref next; int64_t *last; int64_t laps_end; } relay;
static void relay_recv(au_ctx *ctx, relay *self, token_msg *m) {
    *self->last = m->token;
    if (m->token < self->laps_end) au_send(self->next, m->token + 1);
}
AU_ACTOR(relay_actor, relay, token_msg, .recv = relay_recv);

enum { THOUSAND = 1000, LAPS = 3 };
static bool token_done(void *arg) { return *(int64_t *)arg >= (int64_t)THOUSAND * LAPS; }

static void a_thousand_simulated_nodes_pass_a_token_around(void **s) {
    struct timespec r0, r1;
    clock_gettime(CLOCK_MONOTONIC, &r0);
    au_sim *sim;
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 99 }, &sim), AU_OK);
    static au_node *nodes[THOUSAND];
    for (int i = 0; i < THOUSAND; i++)
        assert_int_equal(au_node_start(&(au_node_config){ .driver = SIMULATED(sim) }, &nodes[i]), AU_OK);
    int64_t last = 0;
    for (int i = 0; i < THOUSAND; i++) {
        relay r = { .last = &last, .laps_end = (int64_t)THOUSAND * LAPS,
                    .next = au_forge(token_msg, int64_t, nodes[i], "relay",
                                     au_node_address(nodes[(i + 1) % THOUSAND])) };
        token_msg_ref self = au_spawn(nodes[i], relay_actor, "relay", &r);
        assert_false(au_ref_is_null(self.raw));
    }
    int64_t_ref first = au_forge(token_msg, int64_t, nodes[0], "relay", au_node_address(nodes[0]));
    au_send(first, (int64_t)1);
    assert_int_equal(au_sim_run_until(sim, token_done, &last, AU_SEC(600)), AU_OK);
    assert_int_equal(last, (int64_t)THOUSAND * LAPS);
    for (int i = 0; i < THOUSAND; i++) au_node_stop(nodes[i]);
    au_sim_destroy(sim);
    clock_gettime(CLOCK_MONOTONIC, &r1);
    double secs = (double)(r1.tv_sec - r0.tv_sec) + (double)(r1.tv_nsec - r0.tv_nsec) / 1e9;
    printf("1000 simulated nodes, %d hops: %.2f s real time\n", THOUSAND * LAPS, secs);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_same_seed_gives_the_same_run),
        cmocka_unit_test(different_seeds_give_different_runs),
        cmocka_unit_test(without_loss_every_message_arrives),
        cmocka_unit_test(timers_run_on_virtual_time),
        cmocka_unit_test(a_timeout_of_forever_never_fires_even_at_the_end_of_time),
        cmocka_unit_test(a_timer_handle_of_one_node_cancels_nothing_on_another),
        cmocka_unit_test(a_paused_node_runs_nothing_then_everything_late_at_once),
        cmocka_unit_test(a_partition_in_the_simulation_blocks_until_healed),
        cmocka_unit_test(a_thousand_simulated_nodes_pass_a_token_around),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
