/* test_driver.c — the node driver seam: one fault-injection scenario through the same wrapper on
 * real UDP and in simulation; node timers for library code (au_node_call_at); drivers the node
 * must refuse. */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "support/recorder.h"

AU_ROOT(count_msg, (add, int64_t, AU_REMOTE));

typedef struct counter {
    _Atomic int64_t *total;
    _Atomic int64_t *messages;
} counter;

static void counter_recv(au_ctx *ctx, counter *self, count_msg *m) {
    atomic_fetch_add(self->total, m->add);
    atomic_fetch_add(self->messages, 1);
}
AU_ACTOR(counter_actor, counter, count_msg, .recv = counter_recv);

/* ---- one scenario, two worlds ----------------------------------------------------------------- */

/* How a world waits: real time with a deadline, or virtual time in the simulation. */
typedef struct world {
    au_sim *sim; /* NULL: real UDP */
} world;

typedef struct until_count {
    _Atomic int64_t *messages;
    int64_t want;
} until_count;

static bool count_reached(void *arg) {
    until_count *u = arg;
    return atomic_load(u->messages) >= u->want;
}

static bool world_wait(world *w, until_count *u) {
    if (w->sim) return au_sim_run_until(w->sim, count_reached, u, AU_SEC(60)) == AU_OK;
    return wait_until(count_reached, u, 20000);
}

enum { SENT = 400 };

/* 400 messages from a to b with per-message loss of 40 % injected on a, seeded: the wrapper
 * drops some and delivers every other one exactly once, and says how many it dropped. */
static void lossy_stream_delivers_exactly_what_the_wrapper_did_not_drop(world *w) {
    au_driver inner = w->sim ? au_sim_driver(w->sim) : *au_driver_default();
    au_driver faulty = au_faults_driver(&inner);
    au_node *a, *b;
    assert_int_equal(au_node_start(&(au_node_config){ .driver = &faulty }, &a), AU_OK);
    assert_int_equal(au_node_start(&(au_node_config){ .driver = &inner }, &b), AU_OK);
    _Atomic int64_t total = 0, messages = 0;
    au_spawn(b, counter_actor, "counter", &(counter){ &total, &messages });
    au_faults_seed(a, 7);
    assert_int_equal(au_faults_set(a, NULL, &(au_faults){ .drop = 0.4, .per_message = true }), AU_OK);
    int64_t_ref far = au_forge(count_msg, int64_t, a, "counter", au_node_address(b));
    int64_t sum = 0;
    for (int64_t i = 1; i <= SENT; i++) {
        assert_int_equal(au_send(far, i), AU_OK);
        sum += i;
    }
    /* Per-message fates are decided on the sending thread, so the count is final now. */
    au_faults_stats fs;
    au_faults_stats_get(a, &fs);
    assert_true(fs.dropped > SENT / 5 && fs.dropped < SENT * 3 / 5);
    until_count u = { &messages, SENT - (int64_t)fs.dropped };
    assert_true(world_wait(w, &u));
    assert_int_equal(atomic_load(&messages), SENT - (int64_t)fs.dropped);
    assert_true(atomic_load(&total) < sum);
    au_node_stats st;
    au_node_stats_get(b, &st);
    assert_int_equal(st.messages_received_remote, SENT - fs.dropped);
    /* The node without the wrapper has no faults to set. */
    assert_int_equal(au_faults_set(b, NULL, &(au_faults){ .drop = 0.1 }), AU_ESTATE);
    au_node_stop(a);
    au_node_stop(b);
}

static void fault_scenario_on_real_udp(void **s) {
    world w = { NULL };
    lossy_stream_delivers_exactly_what_the_wrapper_did_not_drop(&w);
}

static void fault_scenario_in_simulation(void **s) {
    world w;
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 11 }, &w.sim), AU_OK);
    lossy_stream_delivers_exactly_what_the_wrapper_did_not_drop(&w);
    au_sim_destroy(w.sim);
}

/* ---- node timers for library code ------------------------------------------------------------- */

static recorder calls;

static void record_call(au_node *node, void *arg) { recorder_add(&calls, (int64_t)(intptr_t)arg); }
static void record_discard(void *arg) { recorder_add(&calls, -(int64_t)(intptr_t)arg); }

static void call_at_fires_cancel_discards_and_stop_discards_what_is_pending(void **s) {
    recorder_init(&calls);
    au_node *node;
    assert_int_equal(au_node_start(&(au_node_config){ .no_network = true }, &node), AU_OK);
    au_nanos now = au_node_now(node);
    assert_true(au_node_call_at(node, now + AU_MSEC(1), record_call, record_discard, (void *)1) != 0);
    au_timer cancelled = au_node_call_at(node, now + AU_SEC(30), record_call, record_discard, (void *)2);
    au_node_call_at(node, now + AU_SEC(30), record_call, record_discard, (void *)3);
    assert_true(recorder_wait(&calls, 1, 5000));
    assert_int_equal(recorder_at(&calls, 0), 1);
    assert_int_equal(au_timer_cancel(node, cancelled), AU_OK);
    assert_int_equal(recorder_at(&calls, 1), -2);            /* discarded on cancel */
    assert_int_equal(au_timer_cancel(node, cancelled), AU_ENOTFOUND);
    au_node_stop(node);
    assert_int_equal(recorder_count(&calls), 3);
    assert_int_equal(recorder_at(&calls, 2), -3);            /* discarded at stop */
    assert_int_equal(au_node_call_at(NULL, 0, record_call, NULL, NULL), 0);
    recorder_destroy(&calls);
}

static void simulated_timers_fire_on_virtual_time(void **s) {
    recorder_init(&calls);
    au_sim *sim;
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 1 }, &sim), AU_OK);
    au_driver d = au_sim_driver(sim);
    au_node *node;
    assert_int_equal(au_node_start(&(au_node_config){ .driver = &d, .no_network = true }, &node), AU_OK);
    au_nanos t0 = au_sim_now(sim);
    assert_true(au_node_now(node) == t0);
    au_node_call_at(node, t0 + AU_SEC(3600), record_call, NULL, (void *)5);
    au_node_call_at(node, t0 + AU_SEC(60), record_call, NULL, (void *)4);
    au_sim_run(sim, AU_SEC(59));
    assert_int_equal(recorder_count(&calls), 0);
    au_sim_run(sim, AU_SEC(2));
    assert_int_equal(recorder_count(&calls), 1);
    assert_int_equal(recorder_at(&calls, 0), 4);
    au_sim_run(sim, AU_SEC(3600));
    assert_int_equal(recorder_count(&calls), 2);
    assert_int_equal(recorder_at(&calls, 1), 5);
    au_node_stop(node);
    au_sim_destroy(sim);
    recorder_destroy(&calls);
}

/* ---- drivers the node refuses --------------------------------------------------------------- */

static void drivers_of_unknown_version_or_missing_ops_are_refused(void **s) {
    au_driver_ops future = *au_driver_default()->ops;
    future.version = AU_DRIVER_VERSION + 1;
    au_driver_ops incomplete = *au_driver_default()->ops;
    incomplete.send = NULL;
    au_driver_ops stepping_without_run_until = *au_driver_default()->ops;
    stepping_without_run_until.schedule = (void (*)(au_driver_node *, au_task *))1;
    const au_driver_ops *bad[] = { &future, &incomplete, &stepping_without_run_until };
    for (size_t i = 0; i < 3; i++) {
        au_node *node = (au_node *)1;
        au_driver d = { .ops = bad[i] };
        assert_int_equal(au_node_start(&(au_node_config){ .driver = &d }, &node), AU_ECONFIG);
        assert_null(node);
    }
    /* A chain deeper than the node keeps. */
    au_driver chain[6];
    chain[0] = *au_driver_default();
    for (int i = 1; i < 6; i++) chain[i] = au_faults_driver(&chain[i - 1]);
    au_node *node;
    assert_int_equal(au_node_start(&(au_node_config){ .driver = &chain[5] }, &node), AU_ECONFIG);
    /* Two wrappers are fine: faults around faults around UDP. */
    assert_int_equal(au_node_start(&(au_node_config){ .driver = &chain[2] }, &node), AU_OK);
    assert_int_equal(au_faults_set(node, NULL, &(au_faults){ .drop = 0.5 }), AU_OK);
    au_node_stop(node);
}

int main(void) {
    au_log_set_level(AU_LOG_CORE, AU_LOG_OFF); /* the refusals log errors on purpose */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fault_scenario_on_real_udp),
        cmocka_unit_test(fault_scenario_in_simulation),
        cmocka_unit_test(call_at_fires_cancel_discards_and_stop_discards_what_is_pending),
        cmocka_unit_test(simulated_timers_fire_on_virtual_time),
        cmocka_unit_test(drivers_of_unknown_version_or_missing_ops_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
