/* test_probe.c — test probes: expecting messages within deadlines, expecting silence, fishing for
 * a match, collecting sequences, probes for roots (through narrowed interfaces), records and
 * local roots, capacity, and freeing with messages queued or in flight. */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "support/recorder.h"

static au_node *start_node(unsigned workers) {
    au_node *node = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .workers = workers, .no_network = true }, &node), AU_OK);
    return node;
}

/* ---- message types and a driver actor that sends to whatever reference it is given --------- */

AU_RECORD(reading, (au_str, sensor), (int64_t, value));
AU_ROOT(events,
        (count, int64_t, AU_REMOTE),
        (reading, reading, AU_REMOTE),
        (note, au_unit, AU_PLAIN));

AU_RECORD(count_job, (int64_t_ref, to), (int64_t, first), (int64_t, n));
AU_RECORD(reading_job, (reading_ref, to), (int64_t, n));
AU_ROOT(driver_msg,
        (count_job, count_job, AU_PLAIN),
        (reading_job, reading_job, AU_PLAIN));

typedef struct driver {
    int unused;
} driver;

/* Sends first, first+1, ... or n readings "s<i>" = i, from inside an actor. */
static void driver_recv(au_ctx *ctx, driver *self, driver_msg *m) {
    switch (m->tag) {
    case driver_msg_count_job:
        for (int64_t i = 0; i < m->count_job.n; i++)
            au_send(m->count_job.to, m->count_job.first + i);
        break;
    case driver_msg_reading_job:
        for (int64_t i = 0; i < m->reading_job.n; i++) {
            char name[32];
            int len = snprintf(name, sizeof name, "s%lld", (long long)i);
            reading r = { .sensor = au_str_dup(name, (size_t)len), .value = i };
            au_send(m->reading_job.to, r);
        }
        break;
    }
}
AU_ACTOR(driver_actor, driver, driver_msg, .recv = driver_recv);

/* Messages are built in variables first: clang rejects calls and non-constant operands inside
 * au_send's compile-time type check. */
static void drive_counts(driver_msg_ref d, int64_t_ref to, int64_t first, int64_t n) {
    driver_msg m = { .tag = driver_msg_count_job, .count_job = { .to = to, .first = first, .n = n } };
    assert_int_equal(au_send(d, m), AU_OK);
}

static void drive_readings(driver_msg_ref d, reading_ref to, int64_t n) {
    driver_msg m = { .tag = driver_msg_reading_job, .reading_job = { .to = to, .n = n } };
    assert_int_equal(au_send(d, m), AU_OK);
}

static void send_int(au_probe *p, int64_t v) {
    int64_t_ref r = au_probe_ref(p, int64_t);
    assert_int_equal(au_send(r, v), AU_OK);
}

/* Polled conditions for the few waits that have no event of their own. */
typedef struct count_at_least { au_probe *p; size_t n; } count_at_least;
static bool probe_has(void *arg) {
    count_at_least *c = arg;
    return au_probe_count(c->p) >= c->n;
}
static bool probe_dropped_two(void *arg) { return au_probe_dropped(arg) >= 2; }

/* ---- expect ------------------------------------------------------------------------------ */

static void expect_returns_the_next_message_within_the_deadline(void **s) {
    au_node *node = start_node(2);
    au_probe *p = au_probe_new(node, int64_t);
    assert_non_null(p);
    driver_msg_ref d = au_spawn(node, driver_actor, NULL, NULL);
    drive_counts(d, au_probe_ref(p, int64_t), 7, 2);
    int64_t got = 0;
    assert_int_equal(au_probe_expect(p, int64_t, &got, AU_SEC(30)), AU_OK);
    assert_int_equal(got, 7);
    assert_int_equal(au_probe_expect(p, int64_t, &got, AU_SEC(30)), AU_OK);
    assert_int_equal(got, 8);
    assert_int_equal(au_probe_count(p), 0);
    au_probe_free(p);
    au_node_stop(node);
}

static void expect_times_out_when_nothing_arrives_after_at_least_the_timeout(void **s) {
    au_node *node = start_node(2);
    au_probe *p = au_probe_new(node, int64_t);
    int64_t got = -1;
    uint64_t t0 = test_now_ns();
    assert_int_equal(au_probe_expect(p, int64_t, &got, AU_MSEC(50)), AU_ETIMEDOUT);
    assert_true(test_now_ns() - t0 >= AU_MSEC(50));
    assert_int_equal(got, -1); /* untouched */
    /* A zero timeout only looks. */
    assert_int_equal(au_probe_expect(p, int64_t, &got, 0), AU_ETIMEDOUT);
    au_probe_free(p);
    au_node_stop(node);
}

static void expect_with_another_type_than_the_probes_is_a_type_error(void **s) {
    au_node *node = start_node(1);
    au_probe *p = au_probe_new(node, int64_t);
    double d = 0;
    assert_int_equal(au_probe_expect(p, double, &d, 0), AU_ETYPE);
    assert_true(au_ref_is_null(au_probe_ref(p, double).raw));
    assert_false(au_ref_is_null(au_probe_ref(p, int64_t).raw));
    au_probe_free(p);
    au_node_stop(node);
}

static void expect_reports_stopped_once_the_probe_actor_is_gone_and_its_queue_empty(void **s) {
    au_node *node = start_node(2);
    au_probe *p = au_probe_new(node, int64_t);
    send_int(p, 1);
    send_int(p, 2);
    assert_int_equal(au_stop(au_probe_ref(p, int64_t)), AU_OK); /* after the two messages */
    int64_t got = 0;
    assert_int_equal(au_probe_expect(p, int64_t, &got, AU_SEC(30)), AU_OK);
    assert_int_equal(got, 1);
    assert_int_equal(au_probe_expect(p, int64_t, &got, AU_SEC(30)), AU_OK);
    assert_int_equal(got, 2);
    /* Nothing can arrive any more: said promptly rather than after the timeout. */
    uint64_t t0 = test_now_ns();
    assert_int_equal(au_probe_expect(p, int64_t, &got, AU_SEC(30)), AU_ESTOPPED);
    assert_true(test_now_ns() - t0 < AU_SEC(10));
    au_probe_free(p);
    au_node_stop(node);
}

/* ---- expect_none ----------------------------------------------------------------------------- */

static void expect_none_passes_when_nothing_arrives_for_the_whole_duration(void **s) {
    au_node *node = start_node(2);
    au_probe *p = au_probe_new(node, int64_t);
    uint64_t t0 = test_now_ns();
    assert_int_equal(au_probe_expect_none(p, AU_MSEC(50)), AU_OK);
    assert_true(test_now_ns() - t0 >= AU_MSEC(50));
    au_probe_free(p);
    au_node_stop(node);
}

/* Sends 5 to the probe a little later, from another thread. Whether it lands before or during
 * the wait, expect_none must fail; the delay only makes "during" the usual case. */
static void *send_five_later(void *arg) {
    struct timespec d = { 0, 20000000 };
    nanosleep(&d, NULL);
    int64_t_ref r = au_probe_ref((au_probe *)arg, int64_t);
    au_send(r, (int64_t)5);
    return NULL;
}

static void expect_none_fails_when_a_message_arrives_and_leaves_it_queued(void **s) {
    au_node *node = start_node(2);
    au_probe *p = au_probe_new(node, int64_t);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_five_later, p), 0);
    uint64_t t0 = test_now_ns();
    assert_int_equal(au_probe_expect_none(p, AU_SEC(30)), AU_ESTATE);
    assert_true(test_now_ns() - t0 < AU_SEC(10)); /* fails as soon as it arrives */
    pthread_join(t, NULL);
    assert_int_equal(au_probe_count(p), 1);
    /* Already queued: fails at once, and the message is still there to take. */
    t0 = test_now_ns();
    assert_int_equal(au_probe_expect_none(p, AU_SEC(30)), AU_ESTATE);
    assert_true(test_now_ns() - t0 < AU_SEC(10));
    int64_t got = 0;
    assert_int_equal(au_probe_expect(p, int64_t, &got, 0), AU_OK);
    assert_int_equal(got, 5);
    au_probe_free(p);
    au_node_stop(node);
}

/* ---- expect_match ------------------------------------------------------------------------- */

static bool multiple_of(const int64_t *v, void *arg) { return *v % *(int64_t *)arg == 0; }

static void expect_match_drops_the_non_matching_messages_before_the_match_only(void **s) {
    au_node *node = start_node(2);
    au_probe *p = au_probe_new(node, int64_t);
    driver_msg_ref d = au_spawn(node, driver_actor, NULL, NULL);
    drive_counts(d, au_probe_ref(p, int64_t), 1, 10);
    int64_t four = 4, got = 0;
    assert_int_equal(au_probe_expect_match(p, int64_t, multiple_of, &four, &got, AU_SEC(30)), AU_OK);
    assert_int_equal(got, 4);
    /* 1, 2, 3 are gone; 5 is next: what follows the match stays queued, in order. */
    assert_int_equal(au_probe_expect(p, int64_t, &got, AU_SEC(30)), AU_OK);
    assert_int_equal(got, 5);
    au_probe_free(p);
    au_node_stop(node);
}

static void expect_match_that_times_out_has_dropped_what_it_examined(void **s) {
    au_node *node = start_node(2);
    au_probe *p = au_probe_new(node, int64_t);
    for (int64_t i = 1; i <= 3; i++) send_int(p, i);
    assert_true(wait_until(probe_has, &(count_at_least){ p, 3 }, 30000));
    int64_t hundred = 100, got = -1;
    uint64_t t0 = test_now_ns();
    assert_int_equal(au_probe_expect_match(p, int64_t, multiple_of, &hundred, &got, AU_MSEC(50)),
                     AU_ETIMEDOUT);
    assert_true(test_now_ns() - t0 >= AU_MSEC(50));
    assert_int_equal(got, -1);
    assert_int_equal(au_probe_count(p), 0);
    au_probe_free(p);
    au_node_stop(node);
}

/* ---- collect -------------------------------------------------------------------------------- */

static void collect_returns_the_next_n_messages_in_arrival_order(void **s) {
    au_node *node = start_node(2);
    au_probe *p = au_probe_new(node, int64_t);
    driver_msg_ref d = au_spawn(node, driver_actor, NULL, NULL);
    enum { N = 1000 };
    drive_counts(d, au_probe_ref(p, int64_t), 0, N + 1);
    static int64_t got[N];
    assert_int_equal(au_probe_collect(p, int64_t, N, got, AU_SEC(10)), AU_OK);
    for (int64_t i = 0; i < N; i++) assert_int_equal(got[i], i);
    int64_t last = 0; /* the one after the n stays queued */
    assert_int_equal(au_probe_expect(p, int64_t, &last, AU_SEC(30)), AU_OK);
    assert_int_equal(last, N);
    au_probe_free(p);
    au_node_stop(node);
}

static void collect_that_times_out_takes_nothing(void **s) {
    au_node *node = start_node(2);
    au_probe *p = au_probe_new(node, int64_t);
    for (int64_t i = 1; i <= 3; i++) send_int(p, i);
    int64_t got[5] = { 0 };
    uint64_t t0 = test_now_ns();
    assert_int_equal(au_probe_collect(p, int64_t, 5, got, AU_MSEC(50)), AU_ETIMEDOUT);
    assert_true(test_now_ns() - t0 >= AU_MSEC(50));
    /* The three that came are all still there, first one first. */
    assert_int_equal(au_probe_collect(p, int64_t, 3, got, AU_SEC(30)), AU_OK);
    assert_int_equal(got[0], 1);
    assert_int_equal(got[1], 2);
    assert_int_equal(got[2], 3);
    assert_int_equal(au_probe_count(p), 0);
    au_probe_free(p);
    au_node_stop(node);
}

/* Several plain threads send at once: every message arrives, each sender's in its order. */
enum { SENDERS = 4, PER_SENDER = 5000 };
typedef struct sender_arg { au_probe *p; int64_t id; } sender_arg;
static void *sender_main(void *arg) {
    sender_arg *a = arg;
    int64_t_ref r = au_probe_ref(a->p, int64_t);
    for (int64_t i = 0; i < PER_SENDER; i++) au_send(r, a->id * 1000000 + i);
    return NULL;
}

static void collect_from_concurrent_senders_keeps_each_senders_order(void **s) {
    au_node *node = start_node(2);
    au_probe *p = au_probe_new(node, int64_t);
    pthread_t t[SENDERS];
    sender_arg args[SENDERS];
    for (int i = 0; i < SENDERS; i++) {
        args[i] = (sender_arg){ p, i };
        assert_int_equal(pthread_create(&t[i], NULL, sender_main, &args[i]), 0);
    }
    static int64_t got[SENDERS * PER_SENDER];
    assert_int_equal(au_probe_collect(p, int64_t, SENDERS * PER_SENDER, got, AU_SEC(30)), AU_OK);
    for (int i = 0; i < SENDERS; i++) pthread_join(t[i], NULL);
    int64_t next[SENDERS] = { 0 };
    for (size_t i = 0; i < SENDERS * PER_SENDER; i++) {
        int64_t id = got[i] / 1000000, seq = got[i] % 1000000;
        assert_true(id >= 0 && id < SENDERS);
        assert_int_equal(seq, next[id]);
        next[id]++;
    }
    assert_int_equal(au_probe_expect_none(p, AU_MSEC(20)), AU_OK);
    au_probe_free(p);
    au_node_stop(node);
}

/* ---- probes for roots, records and local roots ------------------------------------------- */

static void probe_for_a_root_receives_through_a_narrowed_interface_reference(void **s) {
    au_node *node = start_node(2);
    au_probe *p = au_probe_new(node, events);
    driver_msg_ref d = au_spawn(node, driver_actor, NULL, NULL);
    /* The driver only knows an int64_t_ref (and a reading_ref): both are the probe. */
    events_ref whole = au_probe_ref(p, events);
    drive_counts(d, au_narrow(events, int64_t, whole), 41, 1);
    events ev;
    assert_int_equal(au_probe_expect(p, events, &ev, AU_SEC(30)), AU_OK);
    assert_int_equal(ev.tag, events_count);
    assert_int_equal(ev.count, 41);
    drive_readings(d, au_narrow(events, reading, whole), 1);
    assert_int_equal(au_probe_expect(p, events, &ev, AU_SEC(30)), AU_OK);
    assert_int_equal(ev.tag, events_reading);
    assert_string_equal(ev.reading.sensor.ptr, "s0");
    au_value_free(&au_type_events, &ev); /* the moved string is ours now */
    /* And the whole root, plain variants included. */
    au_send(whole, ((events){ .tag = events_note }));
    assert_int_equal(au_probe_expect(p, events, &ev, AU_SEC(30)), AU_OK);
    assert_int_equal(ev.tag, events_note);
    au_probe_free(p);
    au_node_stop(node);
}

static void probe_for_a_record_owns_the_strings_moved_into_it(void **s) {
    au_node *node = start_node(2);
    au_probe *p = au_probe_new(node, reading);
    driver_msg_ref d = au_spawn(node, driver_actor, NULL, NULL);
    drive_readings(d, au_probe_ref(p, reading), 3);
    reading r[3];
    assert_int_equal(au_probe_collect(p, reading, 3, r, AU_SEC(30)), AU_OK);
    for (int i = 0; i < 3; i++) {
        char want[8];
        snprintf(want, sizeof want, "s%d", i);
        assert_string_equal(r[i].sensor.ptr, want);
        assert_int_equal(r[i].value, i);
        au_value_free(&au_type_reading, &r[i]);
    }
    au_probe_free(p);
    au_node_stop(node);
}

typedef int *int_ptr;
AU_LOCAL_TYPE(int_ptr);
AU_LOCAL_ROOT(local_events, (ptr, int_ptr, AU_LOCAL), (n, int64_t, AU_REMOTE));

static void probe_for_a_local_root_is_reached_through_its_local_reference(void **s) {
    au_node *node = start_node(2);
    au_probe *p = au_probe_new(node, local_events);
    local_events_lref r = au_probe_lref(p, local_events);
    assert_false(au_ref_is_null(r.raw));
    int x = 3;
    int_ptr_lref as_ptr = au_narrow_local(local_events, int_ptr, r);
    int64_t_ref as_n = au_narrow(local_events, int64_t, r);
    assert_int_equal(au_send(as_ptr, (int_ptr)&x), AU_OK);
    assert_int_equal(au_send(as_n, (int64_t)9), AU_OK);
    local_events got[2];
    assert_int_equal(au_probe_collect(p, local_events, 2, got, AU_SEC(30)), AU_OK);
    assert_int_equal(got[0].tag, local_events_ptr);
    assert_ptr_equal(got[0].ptr, &x);
    assert_int_equal(got[1].tag, local_events_n);
    assert_int_equal(got[1].n, 9);
    au_probe_free(p);
    au_node_stop(node);
}

static void named_probe_takes_its_name_like_any_actor(void **s) {
    au_node *node = start_node(1);
    au_probe *p = au_probe_new_with(node, int64_t, &(au_probe_opts){ .name = "answers" });
    assert_non_null(p);
    assert_null(au_probe_new_with(node, int64_t, &(au_probe_opts){ .name = "answers" }));
    assert_int_equal(au_last_error(), AU_EEXIST);
    au_probe_free(p);
    au_node_stop(node);
}

/* ---- capacity and freeing ----------------------------------------------------------------- */

static void full_probe_drops_and_counts_what_does_not_fit(void **s) {
    au_node *node = start_node(2);
    au_probe *p = au_probe_new_with(node, int64_t, &(au_probe_opts){ .capacity = 3 });
    au_log_set_level(AU_LOG_TESTKIT, AU_LOG_ERROR); /* the drop warning is expected here */
    for (int64_t i = 1; i <= 5; i++) send_int(p, i);
    assert_true(wait_until(probe_dropped_two, p, 30000));
    au_log_set_level(AU_LOG_TESTKIT, AU_LOG_WARN);
    assert_int_equal(au_probe_count(p), 3);
    assert_int_equal(au_probe_dropped(p), 2);
    int64_t got[4];
    assert_int_equal(au_probe_collect(p, int64_t, 4, got, 0), AU_EINVAL); /* can never fit */
    assert_int_equal(au_probe_collect(p, int64_t, 3, got, 0), AU_OK);
    assert_int_equal(got[0], 1);
    assert_int_equal(got[2], 3);
    /* Room again: the next message is queued. */
    send_int(p, 6);
    assert_int_equal(au_probe_expect(p, int64_t, &got[0], AU_SEC(30)), AU_OK);
    assert_int_equal(got[0], 6);
    au_probe_free(p);
    au_node_stop(node);
}

static void probe_freed_with_messages_queued_frees_them(void **s) {
    au_node *node = start_node(2);
    au_probe *p = au_probe_new(node, reading);
    driver_msg_ref d = au_spawn(node, driver_actor, NULL, NULL);
    drive_readings(d, au_probe_ref(p, reading), 500);
    assert_true(wait_until(probe_has, &(count_at_least){ p, 500 }, 30000));
    au_probe_free(p); /* 500 owned strings: LeakSanitizer checks they were freed */
    au_node_stop(node);
}

static void probe_freed_while_messages_are_in_flight_drops_them_cleanly(void **s) {
    au_node *node = start_node(2);
    au_probe *p = au_probe_new(node, reading);
    driver_msg_ref d = au_spawn(node, driver_actor, NULL, NULL);
    drive_readings(d, au_probe_ref(p, reading), 20000);
    assert_true(wait_until(probe_has, &(count_at_least){ p, 1 }, 30000));
    au_probe_free(p); /* the rest reach a closed probe or a stopped actor */
    au_node_stop(node);
}

static void probe_outlives_its_node_and_hands_over_what_it_had(void **s) {
    au_node *node = start_node(2);
    au_probe *p = au_probe_new(node, int64_t);
    send_int(p, 11);
    assert_true(wait_until(probe_has, &(count_at_least){ p, 1 }, 30000));
    au_node_stop(node);
    int64_t got = 0;
    assert_int_equal(au_probe_expect(p, int64_t, &got, AU_SEC(30)), AU_OK);
    assert_int_equal(got, 11);
    assert_int_equal(au_probe_expect(p, int64_t, &got, AU_SEC(30)), AU_ESTOPPED);
    au_probe_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(expect_returns_the_next_message_within_the_deadline),
        cmocka_unit_test(expect_times_out_when_nothing_arrives_after_at_least_the_timeout),
        cmocka_unit_test(expect_with_another_type_than_the_probes_is_a_type_error),
        cmocka_unit_test(expect_reports_stopped_once_the_probe_actor_is_gone_and_its_queue_empty),
        cmocka_unit_test(expect_none_passes_when_nothing_arrives_for_the_whole_duration),
        cmocka_unit_test(expect_none_fails_when_a_message_arrives_and_leaves_it_queued),
        cmocka_unit_test(expect_match_drops_the_non_matching_messages_before_the_match_only),
        cmocka_unit_test(expect_match_that_times_out_has_dropped_what_it_examined),
        cmocka_unit_test(collect_returns_the_next_n_messages_in_arrival_order),
        cmocka_unit_test(collect_that_times_out_takes_nothing),
        cmocka_unit_test(collect_from_concurrent_senders_keeps_each_senders_order),
        cmocka_unit_test(probe_for_a_root_receives_through_a_narrowed_interface_reference),
        cmocka_unit_test(probe_for_a_record_owns_the_strings_moved_into_it),
        cmocka_unit_test(probe_for_a_local_root_is_reached_through_its_local_reference),
        cmocka_unit_test(named_probe_takes_its_name_like_any_actor),
        cmocka_unit_test(full_probe_drops_and_counts_what_does_not_fit),
        cmocka_unit_test(probe_freed_with_messages_queued_frees_them),
        cmocka_unit_test(probe_freed_while_messages_are_in_flight_drops_them_cleanly),
        cmocka_unit_test(probe_outlives_its_node_and_hands_over_what_it_had),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
