/* test_testkit_misuse.c — the test tools (aurum/testkit.h, sim.h, faults.h) and logging (log.h)
 * as a careless or hostile user meets them, each case held to what the header says:
 *  - simulations created with odd configurations (latency ranges up to [0, UINT64_MAX], a start
 *    at the end of time), run for 0 and for UINT64_MAX, paused for ever, destroyed while nodes
 *    still run, read through NULL; a blocking promise wait on a simulated node;
 *  - fault injection with rates outside [0, 1] (negative, above 1, NaN, infinite), inverted and
 *    huge delays, NULL and malformed destinations, NULL groups, nodes without the wrapper;
 *  - probes: NULL nodes and probes, bad names, wrong types, collect of 0 and beyond capacity,
 *    the longest timeout;
 *  - logging with modules and levels that are not ones, messages at AU_LOG_OFF, odd specs.
 * Relies on probes to observe real-time nodes and on actors to observe simulated ones. */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

AU_ROOT(tk_msg, (num, int64_t, AU_REMOTE));

/* Counts what it receives (in simulation: one thread, no atomics needed). */
typedef struct tally {
    int64_t *n;
} tally;
static void tally_recv(au_ctx *ctx, tally *self, tk_msg *m) {
    (void)ctx;
    (void)m;
    (*self->n)++;
}
AU_ACTOR(tally_actor, tally, tk_msg, .recv = tally_recv);

static au_node *sim_node(au_sim *sim) {
    au_node *node = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .driver = (au_driver[]){ au_sim_driver(sim) } }, &node),
                     AU_OK);
    return node;
}

/* Two simulated nodes, a counter on the second, a reference to it from the first. */
typedef struct pair {
    au_sim *sim;
    au_node *a, *b;
    int64_t got;
    tk_msg_ref to;
} pair;
static void pair_start(pair *p, const au_sim_config *cfg) {
    memset(p, 0, sizeof *p);
    assert_int_equal(au_sim_create(cfg, &p->sim), AU_OK);
    p->a = sim_node(p->sim);
    p->b = sim_node(p->sim);
    tk_msg_ref t = au_spawn(p->b, tally_actor, "tally", &(tally){ &p->got });
    assert_false(au_ref_is_null(t.raw));
    p->to = au_forge(tk_msg, tk_msg, p->a, "tally", au_node_address(p->b));
    assert_false(au_ref_is_null(p->to.raw));
}
static void pair_send(pair *p, int n) {
    for (int i = 0; i < n; i++) {
        tk_msg m = { .tag = tk_msg_num, .num = i };
        assert_int_equal(au_send(p->to, m), AU_OK);
    }
}
static void pair_end(pair *p) {
    au_node_stop(p->a);
    au_node_stop(p->b);
    au_sim_destroy(p->sim);
}
static bool got_all(void *arg) {
    pair *p = arg;
    return p->got >= 10;
}

/* ---- simulation ------------------------------------------------------------------------------ */

static void sim_create_with_odd_configs(void **s) {
    au_sim *sim = (au_sim *)(uintptr_t)1;
    assert_int_equal(au_sim_create(NULL, NULL), AU_EINVAL);
    assert_int_equal(au_sim_create(&(au_sim_config){ .latency_min = 5, .latency_max = 4 }, &sim), AU_EINVAL);
    assert_int_equal(au_sim_create(&(au_sim_config){ .latency_min = AU_SEC(1) }, &sim), AU_EINVAL);
    assert_int_equal(au_sim_create(NULL, &sim), AU_OK); /* every default */
    assert_int_equal(au_sim_now(sim), AU_SEC(1));
    au_sim_destroy(sim);
    au_sim_destroy(NULL);
    /* NULL simulations read as empty ones */
    assert_int_equal(au_sim_now(NULL), 0);
    assert_int_equal(au_sim_events(NULL), 0);
    assert_int_equal(au_sim_trace_hash(NULL), 0);
    assert_int_equal(au_sim_random(NULL), 0);
    assert_int_equal(au_sim_run(NULL, AU_SEC(1)), 0);
    assert_int_equal(au_sim_run_until(NULL, got_all, NULL, AU_SEC(1)), AU_EINVAL);
    assert_false(au_sim_paused(NULL, NULL));
    assert_int_equal(au_sim_pause(NULL, NULL, 1), AU_EINVAL);
    /* a driver for no simulation: refused */
    au_node *node = (au_node *)(uintptr_t)1;
    assert_int_not_equal(au_node_start(&(au_node_config){ .driver = (au_driver[]){ au_sim_driver(NULL) } }, &node),
                         AU_OK);
    assert_null(node);
}

/* The widest latency range ([0, UINT64_MAX]: max - min + 1 wraps to 0) and a fixed latency both
 * carry datagrams; the widest one takes its time but never crashes the draw. */
static void sim_latency_ranges_at_their_edges(void **s) {
    pair p;
    pair_start(&p, &(au_sim_config){ .seed = 1, .latency_min = AU_MSEC(2), .latency_max = AU_MSEC(2) });
    pair_send(&p, 10);
    assert_int_equal(au_sim_run_until(p.sim, got_all, &p, AU_SEC(1)), AU_OK);
    assert_int_equal(p.got, 10);
    pair_end(&p);

    pair_start(&p, &(au_sim_config){ .seed = 2, .latency_min = 0, .latency_max = UINT64_MAX });
    pair_send(&p, 10);
    au_sim_run(p.sim, AU_SEC(1)); /* arrivals drawn anywhere in 2^64 ns: almost surely later */
    assert_true(p.got <= 10);
    pair_end(&p);

    /* a start near the end of time: running saturates instead of wrapping to the past */
    pair_start(&p, &(au_sim_config){ .seed = 3, .start = UINT64_MAX - AU_SEC(10) });
    pair_send(&p, 10);
    assert_int_equal(au_sim_run_until(p.sim, got_all, &p, UINT64_MAX), AU_OK);
    au_sim_run(p.sim, UINT64_MAX);
    assert_true(au_sim_now(p.sim) >= UINT64_MAX - AU_SEC(10));
    pair_end(&p);
}

static void sim_runs_of_zero_and_of_ever(void **s) {
    pair p;
    pair_start(&p, &(au_sim_config){ .seed = 4 });
    au_nanos t0 = au_sim_now(p.sim);
    pair_send(&p, 10);
    au_sim_run(p.sim, 0); /* what is due now: the sends, not their arrivals */
    assert_int_equal(au_sim_now(p.sim), t0);
    assert_int_equal(p.got, 0);
    /* UINT64_MAX: until nothing is left (it used to wrap to a time in the past: nothing ran) */
    assert_true(au_sim_run(p.sim, UINT64_MAX) > 0);
    assert_int_equal(p.got, 10);
    /* run_until with 0: no time passes; done already holds */
    assert_int_equal(au_sim_run_until(p.sim, got_all, &p, 0), AU_OK);
    assert_int_equal(au_sim_run_until(p.sim, NULL, &p, AU_SEC(1)), AU_EINVAL);
    /* nothing left to do while done is false */
    p.got = 0;
    assert_int_equal(au_sim_run_until(p.sim, got_all, &p, AU_SEC(1)), AU_ESTATE);
    pair_end(&p);
}

static void sim_pause_misuse(void **s) {
    pair p;
    pair_start(&p, &(au_sim_config){ .seed = 5 });
    au_sim *other;
    assert_int_equal(au_sim_create(NULL, &other), AU_OK);
    assert_int_equal(au_sim_pause(p.sim, NULL, AU_SEC(1)), AU_EINVAL);
    assert_int_equal(au_sim_pause(p.sim, p.b, 0), AU_EINVAL);
    assert_int_equal(au_sim_pause(other, p.b, AU_SEC(1)), AU_EINVAL);
    au_node *real = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 1, .no_network = true }, &real), AU_OK);
    assert_int_equal(au_sim_pause(p.sim, real, AU_SEC(1)), AU_EINVAL);
    assert_false(au_sim_paused(p.sim, real));
    au_node_stop(real);
    /* paused for ever: it stays paused (the end used to wrap to the past, ending the pause) */
    assert_int_equal(au_sim_pause(p.sim, p.b, UINT64_MAX), AU_OK);
    assert_int_equal(au_sim_pause(p.sim, p.b, AU_SEC(1)), AU_ESTATE);
    pair_send(&p, 10);
    au_sim_run(p.sim, AU_SEC(10));
    assert_true(au_sim_paused(p.sim, p.b));
    assert_int_equal(p.got, 0);
    pair_end(&p); /* stopped while paused: what it held is dropped and freed */
    au_sim_destroy(other);
}

/* Destroying a simulation whose nodes still run would leave their au_node_stop with a freed
 * simulation: it frees nothing then (and logs), and works once they are stopped. */
static void sim_destroyed_with_nodes_still_running(void **s) {
    pair p;
    pair_start(&p, &(au_sim_config){ .seed = 6 });
    pair_send(&p, 10);
    au_sim_destroy(p.sim);
    assert_int_equal(au_sim_run_until(p.sim, got_all, &p, AU_SEC(1)), AU_OK); /* still usable */
    au_node_stop(p.a);
    au_sim_destroy(p.sim);
    au_node_stop(p.b);
    au_sim_destroy(p.sim);
}

/* A blocking wait on a simulated node could never end (nothing runs while it blocks). */
static void a_promise_wait_on_a_simulated_node_is_estate(void **s) {
    au_sim *sim;
    assert_int_equal(au_sim_create(NULL, &sim), AU_OK);
    au_node *node = sim_node(sim);
    int64_t_promise pr = au_promise_new(node, int64_t);
    assert_non_null(pr.raw);
    int64_t v = 0;
    assert_int_equal(au_promise_wait(pr, int64_t, &v, AU_SEC(1)), AU_ESTATE);
    /* the reply there already: taken */
    pr = au_promise_new(node, int64_t);
    assert_int_equal(au_send(au_promise_ref(pr, int64_t), (int64_t)9), AU_OK);
    au_sim_run(sim, AU_MSEC(1));
    assert_int_equal(au_promise_wait(pr, int64_t, &v, 0), AU_OK);
    assert_int_equal(v, 9);
    /* a dedicated actor runs like a pooled one; au_send_wait does not block */
    int64_t got = 0;
    tk_msg_ref t = au_spawn_with(node, tally_actor, au_opts(.dedicated = true, .capacity = 1), &(tally){ &got });
    tk_msg m = { .tag = tk_msg_num, .num = 1 };
    assert_int_equal(au_send(t, m), AU_OK);
    assert_int_equal(au_send_wait(t, 0, m), AU_ESTATE);
    au_sim_run(sim, AU_MSEC(1));
    assert_int_equal(got, 1);
    au_node_stop(node);
    au_sim_destroy(sim);
}

/* ---- fault injection --------------------------------------------------------------------------- */

static void faults_with_bad_rates_and_delays(void **s) {
    au_driver faulty = au_faults_driver(NULL);
    au_node *node = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 1, .driver = &faulty }, &node), AU_OK);
    double bad[] = { -0.1, 1.0000001, NAN, -NAN, INFINITY, -INFINITY, 2, -1e300 };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(au_faults_set(node, NULL, &(au_faults){ .drop = bad[i] }), AU_EINVAL);
        assert_int_equal(au_faults_set(node, NULL, &(au_faults){ .duplicate = bad[i] }), AU_EINVAL);
        assert_int_equal(au_faults_set(node, NULL, &(au_faults){ .reorder = bad[i] }), AU_EINVAL);
    }
    assert_int_equal(au_faults_set(node, NULL, &(au_faults){ .delay_min = 2, .delay_max = 1 }), AU_EINVAL);
    /* at the edges: accepted */
    assert_int_equal(au_faults_set(node, NULL, &(au_faults){ .drop = 0, .duplicate = 1, .reorder = 1 }), AU_OK);
    assert_int_equal(au_faults_set(node, NULL, &(au_faults){ .drop = 1 }), AU_OK);
    assert_int_equal(au_faults_set(node, NULL, NULL), AU_OK);
    assert_int_equal(au_faults_set(node, NULL, NULL), AU_OK); /* cleared twice */
    /* destinations */
    assert_int_equal(au_faults_set(node, "garbage", &(au_faults){ .drop = 0.5 }), AU_EINVAL);
    assert_int_equal(au_faults_set(node, "127.0.0.1:65536", &(au_faults){ .drop = 0.5 }), AU_EINVAL);
    assert_int_equal(au_faults_set(node, "host-that-does-not-resolve.invalid:1", &(au_faults){ .drop = 0.5 }),
                     AU_ERESOLVE);
    assert_int_equal(au_faults_block(node, NULL, true), AU_EINVAL);
    assert_int_equal(au_faults_block(node, "127.0.0.1:1", false), AU_OK); /* never blocked */
    /* NULL and wrapper-less nodes */
    assert_int_equal(au_faults_set(NULL, NULL, &(au_faults){ .drop = 0.5 }), AU_ESTATE);
    assert_int_equal(au_faults_block(NULL, "127.0.0.1:1", true), AU_ESTATE);
    au_faults_seed(NULL, 1);
    au_faults_stats fs;
    memset(&fs, 0xff, sizeof fs);
    au_faults_stats_get(NULL, &fs);
    assert_int_equal(fs.dropped + fs.duplicated + fs.delayed + fs.reordered + fs.blocked, 0);
    au_faults_stats_get(node, NULL);
    au_node *plain = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 1 }, &plain), AU_OK);
    assert_int_equal(au_faults_set(plain, NULL, &(au_faults){ .drop = 0.5 }), AU_ESTATE);
    au_faults_seed(plain, 1);
    /* groups */
    assert_int_equal(au_faults_partition(NULL, 2, NULL, 0), AU_EINVAL);
    assert_int_equal(au_faults_partition((au_node *[]){ node }, 1, NULL, 1), AU_EINVAL);
    assert_int_equal(au_faults_heal(NULL, 3), AU_EINVAL);
    assert_int_equal(au_faults_partition(NULL, 0, NULL, 0), AU_OK);
    assert_int_equal(au_faults_heal(NULL, 0), AU_OK);
    assert_int_equal(au_faults_partition((au_node *[]){ node }, 1, (au_node *[]){ plain }, 1), AU_ESTATE);
    assert_int_equal(au_faults_heal((au_node *[]){ node, NULL }, 2), AU_EINVAL); /* NULL's address: "" */
    au_node_stop(plain);
    au_node_stop(node);
}

/* Delays near the end of the clock (a uniform draw over [0, UINT64_MAX], whose width + 1 wraps,
 * and holds that add up past it): nothing crashes, and what is delayed for ever is freed at
 * stop. In simulation, per message and per datagram. */
static void faults_with_huge_delays(void **s) {
    for (int per_message = 0; per_message < 2; per_message++) {
        au_sim *sim;
        assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 7 }, &sim), AU_OK);
        au_driver inner = au_sim_driver(sim);
        au_driver faulty = au_faults_driver(&inner);
        au_node *a = NULL, *b = NULL;
        assert_int_equal(au_node_start(&(au_node_config){ .driver = &faulty }, &a), AU_OK);
        b = sim_node(sim);
        int64_t got = 0;
        au_spawn(b, tally_actor, "tally", &(tally){ &got });
        tk_msg_ref to = au_forge(tk_msg, tk_msg, a, "tally", au_node_address(b));
        au_faults_seed(a, 1);
        assert_int_equal(au_faults_set(a, NULL, &(au_faults){ .delay_min = UINT64_MAX - 1, .delay_max = UINT64_MAX,
                                                             .reorder = 1, .reorder_hold = UINT64_MAX,
                                                             .per_message = per_message }), AU_OK);
        for (int i = 0; i < 5; i++) {
            tk_msg m = { .tag = tk_msg_num, .num = i };
            assert_int_equal(au_send(to, m), AU_OK);
        }
        au_sim_run(sim, AU_SEC(5));
        assert_int_equal(got, 0); /* delayed to the end of time: not now */
        assert_int_equal(au_faults_set(a, NULL, &(au_faults){ .delay_min = 0, .delay_max = UINT64_MAX,
                                                             .per_message = per_message }), AU_OK);
        for (int i = 0; i < 5; i++) {
            tk_msg m = { .tag = tk_msg_num, .num = i };
            assert_int_equal(au_send(to, m), AU_OK);
        }
        au_sim_run(sim, AU_SEC(5));
        au_faults_stats fs;
        au_faults_stats_get(a, &fs);
        assert_true(fs.delayed >= 5);
        au_node_stop(a);
        au_node_stop(b);
        au_sim_destroy(sim);
    }
}

/* ---- probes -------------------------------------------------------------------------------------- */

typedef struct later { int64_t_ref to; } later;
static void *send_later(void *arg) {
    later *l = arg;
    usleep(50000);
    au_send(l->to, (int64_t)77);
    return NULL;
}
static bool never(const int64_t *m, void *arg) {
    (void)m;
    (void)arg;
    return false;
}

static void probe_misuse(void **s) {
    assert_null(au_probe_new(NULL, int64_t));
    assert_int_equal(au_last_error(), AU_EINVAL);
    au_probe_free(NULL);
    int64_t v = 0;
    assert_int_equal(au_probe_expect((au_probe *)NULL, int64_t, &v, 0), AU_EINVAL);
    assert_int_equal(au_probe_expect_none(NULL, 0), AU_EINVAL);
    assert_int_equal(au_probe_collect((au_probe *)NULL, int64_t, 1, &v, 0), AU_EINVAL);
    assert_int_equal(au_probe_count(NULL), 0);
    assert_int_equal(au_probe_dropped(NULL), 0);
    assert_true(au_ref_is_null(au_probe_ref((au_probe *)NULL, int64_t).raw));

    au_node *node = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 2, .no_network = true }, &node), AU_OK);
    assert_null(au_probe_new_with(node, int64_t, &(au_probe_opts){ .name = "" }));
    assert_int_equal(au_last_error(), AU_EINVAL);
    au_probe *named = au_probe_new_with(node, int64_t, &(au_probe_opts){ .name = "p" });
    assert_non_null(named);
    assert_null(au_probe_new_with(node, int64_t, &(au_probe_opts){ .name = "p" }));
    assert_int_equal(au_last_error(), AU_EEXIST);
    au_probe *p = au_probe_new_with(node, int64_t, &(au_probe_opts){ .capacity = 2 });
    assert_non_null(p);
    /* the wrong type */
    assert_true(au_ref_is_null(au_probe_ref(p, tk_msg).raw));
    tk_msg t;
    assert_int_equal(au_probe_expect(p, tk_msg, &t, 0), AU_ETYPE);
    assert_int_equal(au_probe_expect(p, int64_t, (int64_t *)NULL, 0), AU_EINVAL);
    assert_int_equal(au_probe_expect_match(p, int64_t, never, NULL, &v, 0), AU_ETIMEDOUT);
    /* collect: 0 is at once, beyond capacity never could be */
    int64_t out[3];
    assert_int_equal(au_probe_collect(p, int64_t, 0, out, AU_SEC(10)), AU_OK);
    assert_int_equal(au_probe_collect(p, int64_t, 3, out, AU_SEC(10)), AU_EINVAL);
    assert_int_equal(au_probe_collect(p, int64_t, SIZE_MAX, out, AU_SEC(10)), AU_EINVAL);
    /* overflowing the capacity: dropped and counted */
    int64_t_ref r = au_probe_ref(p, int64_t);
    for (int i = 0; i < 5; i++) assert_int_equal(au_send(r, (int64_t)i), AU_OK);
    for (int i = 0; i < 200 && au_probe_dropped(p) < 3; i++) usleep(1000);
    assert_int_equal(au_probe_dropped(p), 3);
    assert_int_equal(au_probe_collect(p, int64_t, 2, out, AU_SEC(5)), AU_OK);
    assert_int_equal(out[0], 0);
    assert_int_equal(out[1], 1);
    /* the longest timeout waits for what comes (it saturates, never an instant timeout) */
    later l = { r };
    pthread_t th;
    pthread_create(&th, NULL, send_later, &l);
    assert_int_equal(au_probe_expect(p, int64_t, &v, UINT64_MAX), AU_OK);
    assert_int_equal(v, 77);
    pthread_join(th, NULL);
    assert_int_equal(au_probe_expect_none(p, 0), AU_OK);
    /* the probe's actor stopped by a user: expect reports it, free still works */
    assert_int_equal(au_stop(r), AU_OK);
    assert_int_equal(au_probe_expect(p, int64_t, &v, AU_SEC(5)), AU_ESTOPPED);
    assert_int_equal(au_send(r, (int64_t)1), AU_ESTOPPED);
    au_probe_free(p);
    au_node_stop(node);
    au_probe_free(named); /* after its node: allowed */
}

/* ---- logging -------------------------------------------------------------------------------------- */

static int lines;
static au_log_level last_level;
static void count_sink(void *user, au_log_module module, au_log_level level, const char *file, int line,
                       const char *message) {
    (void)user;
    (void)module;
    (void)file;
    (void)line;
    (void)message;
    lines++;
    last_level = level;
}

static void log_misuse(void **s) {
    au_log_set_sink(count_sink, NULL);
    au_log_set_all_levels(AU_LOG_TRACE);
    /* modules and levels that are not ones: ignored, never an index out of bounds */
    au_log_set_level(AU_LOG_MODULES, AU_LOG_INFO);
    au_log_set_level((au_log_module)-1, AU_LOG_INFO);
    au_log_set_level(AU_LOG_USER, (au_log_level)99);
    au_log_set_level(AU_LOG_USER, (au_log_level)-1);
    assert_int_equal(au_log_get_level(AU_LOG_USER), AU_LOG_TRACE);
    assert_int_equal(au_log_get_level(AU_LOG_MODULES), AU_LOG_OFF);
    assert_int_equal(au_log_get_level((au_log_module)1000), AU_LOG_OFF);
    assert_string_equal(au_log_level_name((au_log_level)99), "?");
    assert_string_equal(au_log_level_name((au_log_level)-1), "?");
    assert_string_equal(au_log_level_name(AU_LOG_OFF), "OFF");
    assert_string_equal(au_log_module_name(AU_LOG_MODULES), "?");
    assert_string_equal(au_log_module_name((au_log_module)-1), "?");
    lines = 0;
    au_log(AU_LOG_MODULES, AU_LOG_ERROR, "no such module");
    au_log((au_log_module)-1, AU_LOG_ERROR, "no such module");
    au_log(AU_LOG_USER, (au_log_level)-1, "no such level");
    au_log(AU_LOG_USER, (au_log_level)99, "no such level");
    au_log(AU_LOG_USER, AU_LOG_OFF, "off is not a severity");
    assert_int_equal(lines, 0);
    /* a silenced module stays silent, whatever level a line claims */
    au_log_set_level(AU_LOG_USER, AU_LOG_OFF);
    au_log(AU_LOG_USER, AU_LOG_OFF, "silenced");
    au_log(AU_LOG_USER, AU_LOG_ERROR, "silenced");
    assert_int_equal(lines, 0);
    au_log_set_level(AU_LOG_USER, AU_LOG_TRACE);
    au_log(AU_LOG_USER, AU_LOG_TRACE, "%s", "a line");
    assert_int_equal(lines, 1);
    assert_int_equal(last_level, AU_LOG_TRACE);
    /* a message longer than the line buffer, and a format of %% only */
    static char big[10000];
    memset(big, 'b', sizeof big - 1);
    au_log(AU_LOG_USER, AU_LOG_INFO, "%s", big);
    au_log(AU_LOG_USER, AU_LOG_INFO, "%%");
    assert_int_equal(lines, 3);

    /* specs */
    assert_int_equal(au_log_configure(NULL), AU_EINVAL);
    assert_int_equal(au_log_configure(""), AU_OK);
    assert_int_equal(au_log_configure(" , ,, "), AU_OK);
    const char *bad[] = { "net=", "=debug", "net=debug=info", "nosuch=debug", "net=loud", "loud", "net",
                          "net==debug", "=", "net = de bug" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        lines = 0;
        assert_int_equal(au_log_configure(bad[i]), AU_EINVAL);
        assert_true(lines >= 1); /* the WARN naming the item */
    }
    /* a huge spec: every item applies, nothing overflows */
    size_t n = 20000;
    char *spec = malloc(n * 11 + 1);
    assert_non_null(spec);
    size_t len = 0;
    for (size_t i = 0; i < n; i++) len += (size_t)sprintf(spec + len, "%s", i % 2 ? "net=error," : "core=info,");
    assert_int_equal(au_log_configure(spec), AU_OK);
    free(spec);
    assert_int_equal(au_log_get_level(AU_LOG_NET), AU_LOG_ERROR);
    assert_int_equal(au_log_get_level(AU_LOG_CORE), AU_LOG_INFO);
    /* back to the default sink, quietly */
    au_log_set_all_levels(AU_LOG_OFF);
    au_log_set_sink(NULL, NULL);
    au_log(AU_LOG_USER, (au_log_level)99, "nothing");
}

int main(void) {
    /* Refusals log ERROR lines (destroying a live simulation, ...); only failures matter. */
    if (!getenv("AU_LOG")) au_log_set_all_levels(AU_LOG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sim_create_with_odd_configs),
        cmocka_unit_test(sim_latency_ranges_at_their_edges),
        cmocka_unit_test(sim_runs_of_zero_and_of_ever),
        cmocka_unit_test(sim_pause_misuse),
        cmocka_unit_test(sim_destroyed_with_nodes_still_running),
        cmocka_unit_test(a_promise_wait_on_a_simulated_node_is_estate),
        cmocka_unit_test(faults_with_bad_rates_and_delays),
        cmocka_unit_test(faults_with_huge_delays),
        cmocka_unit_test(probe_misuse),
        cmocka_unit_test(log_misuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
