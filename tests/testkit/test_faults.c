/* test_faults.c — failure injection, knob by knob, measured on real UDP between two nodes; and
 * the remoting scenario under 25 % loss with retries at the test level. */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "support/recorder.h"

/* Every node here runs on real UDP with the fault-injection driver wrapped around it. */
#define FAULTY ((au_driver[]){ au_faults_driver(NULL) })

AU_RECORD(stamp, (uint32_t, seq), (uint64_t, sent_at), (au_bytes, pad));
AU_ROOT(sink_msg, (item, stamp, AU_REMOTE));

typedef struct sink {
    recorder *seqs;     /* seq of every arrival, in order */
    recorder *latency;  /* nanoseconds from send to arrival */
} sink;

static void sink_recv(au_ctx *ctx, sink *self, sink_msg *m) {
    recorder_add(self->seqs, m->item.seq);
    recorder_add(self->latency, (int64_t)(au_node_now(au_ctx_node(ctx)) - m->item.sent_at));
}
AU_ACTOR(sink_actor, sink, sink_msg, .recv = sink_recv);

typedef struct pair {
    au_node *a, *b;
    recorder seqs, latency;
    stamp_ref to_b;
} pair;

static void pair_start(pair *p, size_t mtu) {
    recorder_init(&p->seqs);
    recorder_init(&p->latency);
    assert_int_equal(au_node_start(&(au_node_config){ .mtu = mtu, .driver = FAULTY }, &p->a), AU_OK);
    assert_int_equal(au_node_start(&(au_node_config){ .mtu = mtu, .driver = FAULTY }, &p->b), AU_OK);
    au_spawn(p->b, sink_actor, "sink", &(sink){ .seqs = &p->seqs, .latency = &p->latency });
    p->to_b = au_forge(sink_msg, stamp, p->a, "sink", au_node_address(p->b));
    au_faults_seed(p->a, 42);
}

static void pair_stop(pair *p) {
    au_node_stop(p->a);
    au_node_stop(p->b);
    recorder_destroy(&p->seqs);
    recorder_destroy(&p->latency);
}

static void send_n(pair *p, uint32_t from, uint32_t n, size_t pad) {
    static uint8_t zeros[2048];
    for (uint32_t i = from; i < from + n; i++) {
        stamp s = { .seq = i, .sent_at = au_node_now(p->a),
                    .pad = pad ? au_bytes_dup(zeros, pad) : (au_bytes){ 0 } };
        assert_int_equal(au_send(p->to_b, s), AU_OK);
    }
}

/* Sends a last message with faults off and waits for it: everything sent before has arrived or
 * is lost for good (faults here never delay beyond that point, except where a test waits). */
static size_t drain(pair *p, uint32_t marker) {
    au_faults_set(p->a, NULL, NULL);
    send_n(p, marker, 1, 0);
    for (size_t seen = 0;;) {
        size_t n = recorder_count(&p->seqs);
        for (; seen < n; seen++)
            if (recorder_at(&p->seqs, seen) == marker) return seen; /* arrivals before it */
        assert_true(recorder_wait(&p->seqs, n + 1, 5000));
    }
}

static void dropping_half_of_the_messages_delivers_half(void **s) {
    pair p;
    pair_start(&p, 0);
    assert_int_equal(au_faults_set(p.a, NULL, &(au_faults){ .drop = 0.5, .per_message = true }), AU_OK);
    send_n(&p, 0, 10000, 0);
    size_t delivered = drain(&p, 1000000);
    au_faults_stats fs;
    au_faults_stats_get(p.a, &fs);
    assert_int_equal(delivered + fs.dropped, 10000); /* every message either arrived or was dropped */
    assert_true(delivered > 4700 && delivered < 5300);
    pair_stop(&p);
}

static void dropping_datagrams_loses_whole_datagrams(void **s) {
    pair p;
    pair_start(&p, 1400);
    /* 1000-byte messages: one per datagram, so datagram loss is message loss. */
    assert_int_equal(au_faults_set(p.a, NULL, &(au_faults){ .drop = 0.5 }), AU_OK);
    for (uint32_t i = 0; i < 2000; i += 100) send_n(&p, i, 100, 1000);
    size_t delivered = drain(&p, 1000000);
    au_faults_stats fs;
    au_faults_stats_get(p.a, &fs);
    assert_int_equal(delivered + fs.dropped, 2000);
    assert_true(delivered > 880 && delivered < 1120);
    pair_stop(&p);
}

static void delays_stay_within_their_range(void **s) {
    pair p;
    pair_start(&p, 0);
    assert_int_equal(au_faults_set(p.a, NULL, &(au_faults){ .delay_min = AU_MSEC(20),
                                                             .delay_max = AU_MSEC(40),
                                                             .per_message = true }), AU_OK);
    send_n(&p, 0, 200, 0);
    assert_true(recorder_wait(&p.latency, 200, 5000));
    int64_t lo = INT64_MAX, hi = 0;
    for (size_t i = 0; i < 200; i++) {
        int64_t l = recorder_at(&p.latency, i);
        lo = l < lo ? l : lo;
        hi = l > hi ? l : hi;
    }
    assert_true(lo >= (int64_t)AU_MSEC(20));        /* never early */
    assert_true(hi < (int64_t)AU_MSEC(40 + 2000));  /* late only by scheduling (valgrind, TSan) */
    assert_true(hi - lo >= (int64_t)AU_MSEC(10));   /* spread over the range */
    pair_stop(&p);
}

static void duplicated_messages_arrive_twice(void **s) {
    pair p;
    pair_start(&p, 0);
    assert_int_equal(au_faults_set(p.a, NULL, &(au_faults){ .duplicate = 0.3, .per_message = true }), AU_OK);
    send_n(&p, 0, 1000, 0);
    size_t delivered = drain(&p, 1000000);
    au_faults_stats fs;
    au_faults_stats_get(p.a, &fs);
    assert_int_equal(delivered, 1000 + fs.duplicated);
    assert_true(fs.duplicated > 240 && fs.duplicated < 360);
    pair_stop(&p);
}

static void duplicated_datagrams_are_dropped_by_the_receiver(void **s) {
    pair p;
    pair_start(&p, 0);
    assert_int_equal(au_faults_set(p.a, NULL, &(au_faults){ .duplicate = 1.0 }), AU_OK);
    send_n(&p, 0, 50, 0);
    size_t delivered = drain(&p, 1000000);
    assert_int_equal(delivered, 50); /* at-most-once: the copies never reach the actor */
    au_node_stats st;
    au_node_stats_get(p.b, &st);
    au_faults_stats fs;
    au_faults_stats_get(p.a, &fs);
    assert_true(fs.duplicated > 0);
    assert_int_equal(st.drops_duplicate, fs.duplicated);
    pair_stop(&p);
}

static void reordering_lets_later_messages_overtake(void **s) {
    pair p;
    pair_start(&p, 0);
    assert_int_equal(au_faults_set(p.a, NULL, &(au_faults){ .reorder = 0.2, .reorder_hold = AU_MSEC(20),
                                                             .per_message = true }), AU_OK);
    send_n(&p, 0, 500, 0);
    assert_true(recorder_wait(&p.seqs, 500, 5000));
    size_t overtaken = 0; /* arrivals after a message sent later than them */
    int64_t highest = -1;
    bool seen[500] = { false };
    for (size_t i = 0; i < 500; i++) {
        int64_t v = recorder_at(&p.seqs, i);
        assert_true(v >= 0 && v < 500 && !seen[v]); /* each exactly once */
        seen[v] = true;
        if (v < highest) overtaken++;
        highest = v > highest ? v : highest;
    }
    au_faults_stats fs;
    au_faults_stats_get(p.a, &fs);
    assert_true(fs.reordered > 60 && fs.reordered < 140);
    assert_true(overtaken >= fs.reordered / 2); /* most held-back messages were overtaken */
    pair_stop(&p);
}

static void a_partition_blocks_both_ways_until_healed(void **s) {
    pair p;
    pair_start(&p, 0);
    au_node *c;
    assert_int_equal(au_node_start(&(au_node_config){ .driver = FAULTY }, &c), AU_OK);
    recorder cseqs, clat;
    recorder_init(&cseqs);
    recorder_init(&clat);
    au_spawn(c, sink_actor, "sink", &(sink){ .seqs = &cseqs, .latency = &clat });
    stamp_ref b_to_c = au_forge(sink_msg, stamp, p.b, "sink", au_node_address(c));
    stamp_ref b_to_a = au_forge(sink_msg, stamp, p.b, "sink", au_node_address(p.a));
    recorder aseqs, alat;
    recorder_init(&aseqs);
    recorder_init(&alat);
    au_spawn(p.a, sink_actor, "sink", &(sink){ .seqs = &aseqs, .latency = &alat });

    assert_int_equal(au_faults_partition((au_node *[]){ p.a }, 1, (au_node *[]){ p.b, c }, 2), AU_OK);
    send_n(&p, 0, 10, 0);                                  /* a → b: blocked */
    au_send(b_to_a, ((stamp){ .seq = 1 }));                /* b → a: blocked */
    au_send(b_to_c, ((stamp){ .seq = 7 }));                /* b → c: same side, passes */
    assert_true(recorder_wait(&cseqs, 1, 5000));
    assert_false(recorder_wait(&p.seqs, 1, 200));
    assert_int_equal(recorder_count(&aseqs), 0);
    au_faults_stats fs;
    au_faults_stats_get(p.a, &fs);
    assert_true(fs.blocked >= 1);

    assert_int_equal(au_faults_heal((au_node *[]){ p.a, p.b, c }, 3), AU_OK);
    send_n(&p, 100, 1, 0);
    au_send(b_to_a, ((stamp){ .seq = 2 }));
    assert_true(recorder_wait(&p.seqs, 1, 5000));
    assert_int_equal(recorder_at(&p.seqs, 0), 100);
    assert_true(recorder_wait(&aseqs, 1, 5000));
    assert_int_equal(recorder_at(&aseqs, 0), 2);
    au_node_stop(c);
    pair_stop(&p); /* stops a and b before the recorders their actors write to go away */
    recorder_destroy(&cseqs);
    recorder_destroy(&clat);
    recorder_destroy(&aseqs);
    recorder_destroy(&alat);
}

static void bad_fault_settings_are_rejected(void **s) {
    au_node *n;
    assert_int_equal(au_node_start(&(au_node_config){ .driver = FAULTY }, &n), AU_OK);
    assert_int_equal(au_faults_set(n, NULL, &(au_faults){ .drop = 1.5 }), AU_EINVAL);
    assert_int_equal(au_faults_set(n, NULL, &(au_faults){ .delay_min = 2, .delay_max = 1 }), AU_EINVAL);
    assert_int_equal(au_faults_set(n, "no-such-host.invalid:1", &(au_faults){ .drop = 0.1 }), AU_ERESOLVE);
    au_node_stop(n);
    au_node *local;
    assert_int_equal(au_node_start(&(au_node_config){ .no_network = true, .driver = FAULTY }, &local), AU_OK);
    assert_int_equal(au_faults_set(local, NULL, &(au_faults){ .drop = 0.1 }), AU_ESTATE);
    au_node_stop(local);
}

/* ---- the remoting scenario under 25 % loss --------------------------------------------------- */

AU_ROOT(remote_logger_msg, (info, au_str, AU_PLAIN), (warning, au_str, AU_REMOTE),
        (error, int32_t, AU_REMOTE));
typedef struct logger { recorder *log; } logger;
static void logger_recv(au_ctx *ctx, logger *self, remote_logger_msg *m) {
    int i = -1;
    switch (m->tag) {
    case remote_logger_msg_info: sscanf(m->info.ptr, "%d", &i); recorder_add(self->log, 1000 + i); break;
    case remote_logger_msg_warning: sscanf(m->warning.ptr, "%d", &i); recorder_add(self->log, 2000 + i); break;
    case remote_logger_msg_error: recorder_add(self->log, 3000 + m->error); break;
    }
}
AU_ACTOR(logger_actor, logger, remote_logger_msg, .recv = logger_recv);

static bool has(recorder *r, int64_t v) {
    size_t n = recorder_count(r);
    for (size_t i = 0; i < n; i++)
        if (recorder_at(r, i) == v) return true;
    return false;
}

static void remoting_under_25_percent_loss_completes_with_retries(void **s) {
    recorder log;
    recorder_init(&log);
    au_node *node;
    assert_int_equal(au_node_start(&(au_node_config){ .driver = FAULTY }, &node), AU_OK);
    au_spawn(node, logger_actor, "logger", &(logger){ .log = &log });
    const char *addr = au_node_address(node);
    remote_logger_msg_ref root = au_forge(remote_logger_msg, remote_logger_msg, node, "logger", addr);
    int32_t_ref errors = au_forge(remote_logger_msg, int32_t, node, "logger", addr);
    au_str_ref warnings = au_forge(remote_logger_msg, au_str, node, "logger", addr);
    au_faults_seed(node, 7);
    assert_int_equal(au_faults_set(node, NULL, &(au_faults){ .drop = 0.25, .per_message = true }), AU_OK);

    int rounds = 0;
    size_t distinct = 0;
    while (distinct < 45 && rounds < 50) {
        rounds++;
        char buf[32];
        for (int i = 0; i < 10; i++)
            if (!has(&log, 3000 + i)) au_send(errors, (int32_t)i);
        for (int i = 0; i < 15; i++)
            if (!has(&log, 2000 + i)) {
                snprintf(buf, sizeof buf, "%d", i);
                au_send(warnings, au_str_dup(buf, strlen(buf)));
            }
        for (int i = 0; i < 20; i++)
            if (!has(&log, 1000 + i)) {
                snprintf(buf, sizeof buf, "%d", i);
                au_send(root, ((remote_logger_msg){ .tag = remote_logger_msg_info,
                                                    .info = au_str_dup(buf, strlen(buf)) }));
            }
        recorder_wait(&log, 45, 300); /* a round's deadline; the loop goes on either way */
        distinct = 0;
        for (int i = 0; i < 20; i++) distinct += has(&log, 1000 + i);
        for (int i = 0; i < 15; i++) distinct += has(&log, 2000 + i);
        for (int i = 0; i < 10; i++) distinct += has(&log, 3000 + i);
    }
    assert_int_equal(distinct, 45);
    au_faults_stats fs;
    au_faults_stats_get(node, &fs);
    assert_true(fs.dropped > 0); /* the loss did reach the user's messages */
    assert_true(rounds > 1);
    au_node_stop(node);
    recorder_destroy(&log);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dropping_half_of_the_messages_delivers_half),
        cmocka_unit_test(dropping_datagrams_loses_whole_datagrams),
        cmocka_unit_test(delays_stay_within_their_range),
        cmocka_unit_test(duplicated_messages_arrive_twice),
        cmocka_unit_test(duplicated_datagrams_are_dropped_by_the_receiver),
        cmocka_unit_test(reordering_lets_later_messages_overtake),
        cmocka_unit_test(a_partition_blocks_both_ways_until_healed),
        cmocka_unit_test(bad_fault_settings_are_rejected),
        cmocka_unit_test(remoting_under_25_percent_loss_completes_with_retries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
