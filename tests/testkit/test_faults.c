/* test_faults.c — failure injection, knob by knob, measured on real UDP between two nodes: drop,
 * duplicate, delay and reorder, each per message and per datagram; the counters of injected
 * faults (exact where the outcome is); faults for one destination only; a one-way block; a
 * partition; the same seed giving the same decisions; and the remoting scenario under 25 % loss
 * with retries at the test level.
 *
 * Bursts are paced on counters: after each batch the test waits until the receiver has taken in
 * every datagram the sender put on the wire (caught_up), so no count depends on a receive
 * buffer large enough for the whole run (only root is granted 4 MiB). If that wait fails, the
 * kernel's receive-buffer drops are reported.
 * Every node is created by start_node(), the one place a node configuration is made here. */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "support/recorder.h"
#include "support/udp.h"

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
    bool datagram_faults; /* a's faults act per datagram (pace() must know) */
} pair;

/* The one function of this file that starts a node: cfg as given, with the fault-injection
 * driver, on 127.0.0.1 port 0 unless it has no network. */
static au_node *start_node(au_node_config cfg) {
    if (!cfg.no_network && !cfg.bind) cfg.bind = "127.0.0.1:0";
    cfg.driver = FAULTY;
    au_node *n = NULL;
    assert_int_equal(au_node_start(&cfg, &n), AU_OK);
    return n;
}

static void pair_start(pair *p, size_t mtu) {
    recorder_init(&p->seqs);
    recorder_init(&p->latency);
    p->datagram_faults = false;
    p->a = start_node((au_node_config){ .mtu = mtu });
    p->b = start_node((au_node_config){ .mtu = mtu });
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

/* How many datagrams b must have received once the wire is idle, at least: what a handed to its
 * driver, less what per-datagram faults dropped, blocked or still hold back, plus the copies
 * they added. Per-message faults act before packing, so then it is what a handed over. Read in
 * this order: a's count, then the fault counters (bumped before a counts), then b's. */
static bool caught_up(void *arg) {
    pair *p = arg;
    au_node_stats a, b;
    au_node_stats_get(p->a, &a);
    uint64_t expect = a.datagrams_sent;
    if (p->datagram_faults) {
        au_faults_stats fs;
        au_faults_stats_get(p->a, &fs);
        uint64_t gone = fs.dropped + fs.blocked + fs.delayed;
        expect = expect + fs.duplicated > gone ? expect + fs.duplicated - gone : 0;
    }
    au_node_stats_get(p->b, &b);
    return b.datagrams_received >= expect;
}

/* Waits until b has received every datagram a has put on the wire so far (a sends to b only),
 * so that the next batch finds an empty receive buffer. */
static void pace(pair *p, uint64_t kernel_before) {
    if (wait_until(caught_up, p, 30000)) return;
    au_node_stats a, b;
    au_node_stats_get(p->a, &a);
    au_node_stats_get(p->b, &b);
    fprintf(stderr, "pace: %llu datagrams handed to a's driver, %llu received by b\n",
            (unsigned long long)a.datagrams_sent, (unsigned long long)b.datagrams_received);
    udp_report_kernel_drops("pace", kernel_before);
    fail();
}

enum { PACE_BATCH = 100 };

/* Sends messages from .. from + n - 1 from a to b, pacing every PACE_BATCH messages. */
static void send_n(pair *p, uint32_t from, uint32_t n, size_t pad) {
    static uint8_t zeros[2048];
    uint64_t kernel_before = udp_rcvbuf_errors();
    for (uint32_t i = from; i < from + n; i++) {
        stamp s = { .seq = i, .sent_at = au_node_now(p->a),
                    .pad = pad ? au_bytes_dup(zeros, pad) : (au_bytes){ 0 } };
        assert_int_equal(au_send(p->to_b, s), AU_OK);
        if ((i - from + 1) % PACE_BATCH == 0) pace(p, kernel_before);
    }
}

/* Sends a last message with faults off and waits for it: everything sent before has arrived or
 * is lost for good (faults here never delay beyond that point, except where a test waits). */
static size_t drain(pair *p, uint32_t marker) {
    au_faults_set(p->a, NULL, NULL);
    send_n(p, marker, 1, 0);
    uint64_t deadline = test_now_ns() + AU_SEC(60);
    for (size_t seen = 0;;) {
        size_t n = recorder_count(&p->seqs);
        for (; seen < n; seen++)
            if (recorder_at(&p->seqs, seen) == marker) return seen; /* arrivals before it */
        assert_true(test_now_ns() < deadline);
        assert_true(recorder_wait(&p->seqs, n + 1, 30000));
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
    p.datagram_faults = true;
    send_n(&p, 0, 2000, 1000); /* paced: every 100 messages, b catches up */
    size_t delivered = drain(&p, 1000000);
    au_faults_stats fs;
    au_faults_stats_get(p.a, &fs);
    assert_int_equal(delivered + fs.dropped, 2000);
    assert_true(delivered > 880 && delivered < 1120);
    pair_stop(&p);
}

/* Arrivals among the first n that came after a message sent later than them. */
static size_t overtaken(recorder *seqs, size_t n) {
    size_t k = 0;
    int64_t highest = -1;
    for (size_t i = 0; i < n; i++) {
        int64_t v = recorder_at(seqs, i);
        if (v < highest) k++;
        highest = v > highest ? v : highest;
    }
    return k;
}

static void delays_stay_within_their_range(void **s) {
    pair p;
    pair_start(&p, 0);
    assert_int_equal(au_faults_set(p.a, NULL, &(au_faults){ .delay_min = AU_MSEC(20),
                                                             .delay_max = AU_MSEC(40),
                                                             .per_message = true }), AU_OK);
    send_n(&p, 0, 200, 0);
    assert_true(recorder_wait(&p.latency, 200, 30000));
    int64_t lo = INT64_MAX, hi = 0;
    for (size_t i = 0; i < 200; i++) {
        int64_t l = recorder_at(&p.latency, i);
        lo = l < lo ? l : lo;
        hi = l > hi ? l : hi;
    }
    assert_true(lo >= (int64_t)AU_MSEC(20));        /* never early */
    assert_true(hi < (int64_t)AU_MSEC(40 + 2000));  /* late only by scheduling (valgrind, TSan) */
    /* Spread over the range: the spread of measured latencies collapses when a loaded machine
     * runs late timers in one burst, but their order cannot: with independent delays some
     * message must arrive after one sent later. */
    assert_true(overtaken(&p.seqs, 200) > 0);
    au_faults_stats fs;
    au_faults_stats_get(p.a, &fs);
    assert_int_equal(fs.delayed, 200); /* every message, each once */
    assert_int_equal(fs.dropped + fs.duplicated + fs.reordered + fs.blocked, 0);
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
    p.datagram_faults = true;
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
    assert_true(recorder_wait(&p.seqs, 500, 30000));
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
    au_node *c = start_node((au_node_config){ 0 });
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
    assert_true(recorder_wait(&cseqs, 1, 30000));
    assert_false(recorder_wait(&p.seqs, 1, 200));
    assert_int_equal(recorder_count(&aseqs), 0);
    au_faults_stats fs;
    au_faults_stats_get(p.a, &fs);
    assert_true(fs.blocked >= 1);

    assert_int_equal(au_faults_heal((au_node *[]){ p.a, p.b, c }, 3), AU_OK);
    send_n(&p, 100, 1, 0);
    au_send(b_to_a, ((stamp){ .seq = 2 }));
    assert_true(recorder_wait(&p.seqs, 1, 30000));
    assert_int_equal(recorder_at(&p.seqs, 0), 100);
    assert_true(recorder_wait(&aseqs, 1, 30000));
    assert_int_equal(recorder_at(&aseqs, 0), 2);
    au_node_stop(c);
    pair_stop(&p); /* stops a and b before the recorders their actors write to go away */
    recorder_destroy(&cseqs);
    recorder_destroy(&clat);
    recorder_destroy(&aseqs);
    recorder_destroy(&alat);
}

static void bad_fault_settings_are_rejected(void **s) {
    au_node *n = start_node((au_node_config){ 0 });
    assert_int_equal(au_faults_set(n, NULL, &(au_faults){ .drop = 1.5 }), AU_EINVAL);
    assert_int_equal(au_faults_set(n, NULL, &(au_faults){ .delay_min = 2, .delay_max = 1 }), AU_EINVAL);
    assert_int_equal(au_faults_set(n, "no-such-host.invalid:1", &(au_faults){ .drop = 0.1 }), AU_ERESOLVE);
    au_node_stop(n);
    au_node *local = start_node((au_node_config){ .no_network = true });
    assert_int_equal(au_faults_set(local, NULL, &(au_faults){ .drop = 0.1 }), AU_ESTATE);
    au_node_stop(local);
}

/* ---- per datagram: delay and reorder ------------------------------------------------------ */

/* 1000-byte messages at mtu 1400: one message per datagram, so datagram faults map onto messages. */
enum { ONE_PER_DATAGRAM = 1000 };

static void delays_in_datagram_mode_stay_within_their_range(void **s) {
    pair p;
    pair_start(&p, 1400);
    assert_int_equal(au_faults_set(p.a, NULL, &(au_faults){ .delay_min = AU_MSEC(20),
                                                             .delay_max = AU_MSEC(40) }), AU_OK);
    p.datagram_faults = true;
    /* In batches of 20, each awaited: fewer than the receiver's 64-datagram window can overtake
     * one another, so none falls behind it (reordering_in_datagram_mode... covers that case). */
    for (uint32_t i = 0; i < 200; i += 20) {
        send_n(&p, i, 20, ONE_PER_DATAGRAM);
        assert_true(recorder_wait(&p.latency, i + 20, 30000));
    }
    int64_t lo = INT64_MAX, hi = 0;
    for (size_t i = 0; i < 200; i++) {
        int64_t l = recorder_at(&p.latency, i);
        lo = l < lo ? l : lo;
        hi = l > hi ? l : hi;
    }
    assert_true(lo >= (int64_t)AU_MSEC(20));
    assert_true(hi < (int64_t)AU_MSEC(40 + 2000));
    assert_true(overtaken(&p.seqs, 200) > 0); /* delays differ: see delays_stay_within_their_range */
    au_faults_stats fs;
    au_faults_stats_get(p.a, &fs);
    assert_int_equal(fs.delayed, 200); /* one datagram each, each delayed once */
    assert_int_equal(fs.dropped + fs.duplicated + fs.reordered + fs.blocked, 0);
    au_node_stats st;
    au_node_stats_get(p.a, &st);
    assert_int_equal(st.datagrams_sent, 200);
    au_node_stats_get(p.b, &st);
    assert_int_equal(st.drops_duplicate, 0);
    pair_stop(&p);
}

typedef struct all_sent { pair *p; uint64_t n; } all_sent;
static bool all_sent_and_received(void *arg) {
    all_sent *g = arg;
    au_node_stats a, b;
    au_node_stats_get(g->p->a, &a);
    au_node_stats_get(g->p->b, &b);
    return a.datagrams_sent >= g->n && b.datagrams_received >= a.datagrams_sent;
}

typedef struct count_goal { recorder *r; pair *p; uint64_t total; } count_goal;
static bool delivered_or_dropped(void *arg) {
    count_goal *g = arg;
    au_node_stats b;
    au_node_stats_get(g->p->b, &b);
    return recorder_count(g->r) + b.drops_duplicate >= g->total;
}

static void reordering_in_datagram_mode_lets_later_datagrams_overtake(void **s) {
    enum { N = 500 };
    pair p;
    pair_start(&p, 1400);
    assert_int_equal(au_faults_set(p.a, NULL, &(au_faults){ .reorder = 0.2, .reorder_hold = AU_MSEC(20) }),
                     AU_OK);
    p.datagram_faults = true;
    send_n(&p, 0, N, ONE_PER_DATAGRAM);
    /* Held-back datagrams leave up to 20 ms later: wait until all N are out and in. */
    all_sent g = { &p, N };
    assert_true(wait_until(all_sent_and_received, &g, 30000));
    count_goal c = { &p.seqs, &p, N };
    assert_true(wait_until(delivered_or_dropped, &c, 30000));
    au_faults_stats fs;
    au_faults_stats_get(p.a, &fs);
    au_node_stats b;
    au_node_stats_get(p.b, &b);
    size_t n = recorder_count(&p.seqs), overtaken = 0;
    int64_t highest = -1;
    bool seen[N] = { false };
    for (size_t i = 0; i < n; i++) {
        int64_t v = recorder_at(&p.seqs, i);
        assert_true(v >= 0 && v < N && !seen[v]); /* at most once each */
        seen[v] = true;
        if (v < highest) overtaken++;
        highest = v > highest ? v : highest;
    }
    print_message("%llu reordered, %zu delivered (%zu overtaken), %llu behind the receiver's window\n",
                  (unsigned long long)fs.reordered, n, overtaken, (unsigned long long)b.drops_duplicate);
    assert_true(fs.reordered > 60 && fs.reordered < 140);
    assert_int_equal(fs.delayed, fs.reordered); /* a reorder is a delay by the hold */
    /* A held-back datagram either overtaken arrives late or, once more than the receiver's
     * 64-datagram window has passed it, is dropped as a duplicate: never delivered twice, never
     * lost uncounted. */
    assert_int_equal(n + b.drops_duplicate, N);
    assert_true(b.drops_duplicate <= fs.reordered);
    assert_true(overtaken + b.drops_duplicate >= fs.reordered / 2);
    assert_true(overtaken > 0);
    pair_stop(&p);
}

/* ---- per destination, blocking ---------------------------------------------------------------- */

static void faults_for_one_destination_leave_the_others_to_the_default(void **s) {
    pair p;
    pair_start(&p, 0);
    au_node *c = start_node((au_node_config){ 0 });
    recorder cseqs, clat;
    recorder_init(&cseqs);
    recorder_init(&clat);
    au_spawn(c, sink_actor, "sink", &(sink){ .seqs = &cseqs, .latency = &clat });
    stamp_ref a_to_c = au_forge(sink_msg, stamp, p.a, "sink", au_node_address(c));
    /* b: everything dropped (its own rule); every other destination: everything duplicated. */
    assert_int_equal(au_faults_set(p.a, au_node_address(p.b), &(au_faults){ .drop = 1.0, .per_message = true }),
                     AU_OK);
    assert_int_equal(au_faults_set(p.a, NULL, &(au_faults){ .duplicate = 1.0, .per_message = true }), AU_OK);
    send_n(&p, 0, 50, 0);
    for (uint32_t i = 0; i < 50; i++) assert_int_equal(au_send(a_to_c, ((stamp){ .seq = 1000 + i })), AU_OK);
    assert_true(recorder_wait(&cseqs, 100, 30000)); /* c: each of the 50 twice */
    au_faults_stats fs;
    au_faults_stats_get(p.a, &fs);
    assert_int_equal(fs.dropped, 50);
    assert_int_equal(fs.duplicated, 50);
    /* b's rule removed: b falls back to the default rule and gets duplicates too. */
    assert_int_equal(au_faults_set(p.a, au_node_address(p.b), NULL), AU_OK);
    send_n(&p, 100, 10, 0);
    assert_true(recorder_wait(&p.seqs, 20, 30000));
    for (size_t i = 0; i < 20; i++) {
        int64_t v = recorder_at(&p.seqs, i);
        assert_true(v >= 100 && v < 110); /* none of the 50 dropped ones */
    }
    size_t delivered_to_b = drain(&p, 1000000);
    assert_int_equal(delivered_to_b, 20);
    assert_int_equal(recorder_count(&cseqs), 100);
    au_faults_stats_get(p.a, &fs);
    assert_int_equal(fs.dropped, 50);
    assert_int_equal(fs.duplicated, 60);
    au_node_stop(c);
    pair_stop(&p);
    recorder_destroy(&cseqs);
    recorder_destroy(&clat);
}

typedef struct blocked_goal { au_node *n; uint64_t blocked; } blocked_goal;
static bool blocked_reached(void *arg) {
    blocked_goal *g = arg;
    au_faults_stats fs;
    au_faults_stats_get(g->n, &fs);
    return fs.blocked >= g->blocked;
}

static void blocking_a_destination_is_one_way_and_undone_by_unblocking(void **s) {
    pair p;
    pair_start(&p, 1400);
    au_node *c = start_node((au_node_config){ 0 });
    recorder cseqs, clat, aseqs, alat;
    recorder_init(&cseqs);
    recorder_init(&clat);
    recorder_init(&aseqs);
    recorder_init(&alat);
    au_spawn(c, sink_actor, "sink", &(sink){ .seqs = &cseqs, .latency = &clat });
    au_spawn(p.a, sink_actor, "sink", &(sink){ .seqs = &aseqs, .latency = &alat });
    stamp_ref a_to_c = au_forge(sink_msg, stamp, p.a, "sink", au_node_address(c));
    stamp_ref b_to_a = au_forge(sink_msg, stamp, p.b, "sink", au_node_address(p.a));

    assert_int_equal(au_faults_block(p.a, au_node_address(p.b), true), AU_OK);
    p.datagram_faults = true; /* a block acts on datagrams */
    send_n(&p, 0, 20, ONE_PER_DATAGRAM);              /* a → b: blocked, one datagram each */
    blocked_goal g = { p.a, 20 };
    assert_true(wait_until(blocked_reached, &g, 30000));
    assert_int_equal(au_send(a_to_c, ((stamp){ .seq = 5 })), AU_OK); /* a → c: not blocked */
    assert_int_equal(au_send(b_to_a, ((stamp){ .seq = 6 })), AU_OK); /* b → a: one way only */
    assert_true(recorder_wait(&cseqs, 1, 30000));
    assert_true(recorder_wait(&aseqs, 1, 30000));
    au_faults_stats fs;
    au_faults_stats_get(p.a, &fs);
    assert_int_equal(fs.blocked, 20);
    au_node_stats st;
    au_node_stats_get(p.b, &st);
    assert_int_equal(st.datagrams_received, 0); /* counted as blocked means never sent */
    assert_int_equal(recorder_count(&p.seqs), 0);

    assert_int_equal(au_faults_block(p.a, au_node_address(p.b), false), AU_OK);
    send_n(&p, 100, 1, 0);
    assert_true(recorder_wait(&p.seqs, 1, 30000));
    assert_int_equal(recorder_at(&p.seqs, 0), 100);
    au_faults_stats_get(p.a, &fs);
    assert_int_equal(fs.blocked, 20);
    au_node_stop(c);
    pair_stop(&p);
    recorder_destroy(&cseqs);
    recorder_destroy(&clat);
    recorder_destroy(&aseqs);
    recorder_destroy(&alat);
}

/* ---- the same seed, the same decisions ----------------------------------------------------------- */

enum { REPRO_N = 400 };

/* One run over a fresh pair: how often each message arrived, and the fault counters. */
static void repro_run(uint64_t seed, bool per_message, uint8_t times[REPRO_N], au_faults_stats *fs) {
    pair p;
    pair_start(&p, 1400);
    au_faults_seed(p.a, seed);
    assert_int_equal(au_faults_set(p.a, NULL, &(au_faults){ .drop = 0.3, .duplicate = 0.2,
                                                             .per_message = per_message }), AU_OK);
    p.datagram_faults = !per_message;
    send_n(&p, 0, REPRO_N, per_message ? 0 : ONE_PER_DATAGRAM);
    size_t n = drain(&p, 1000000);
    memset(times, 0, REPRO_N);
    for (size_t i = 0; i < n; i++) {
        int64_t v = recorder_at(&p.seqs, i);
        assert_true(v >= 0 && v < REPRO_N);
        times[v]++;
    }
    au_faults_stats_get(p.a, fs);
    pair_stop(&p);
}

static void the_same_seed_gives_the_same_faults_over_udp(void **s) {
    for (int mode = 0; mode < 2; mode++) {
        bool per_message = mode == 0;
        uint8_t first[REPRO_N], again[REPRO_N], other[REPRO_N];
        au_faults_stats f1, f2, f3;
        repro_run(7, per_message, first, &f1);
        repro_run(7, per_message, again, &f2);
        repro_run(8, per_message, other, &f3);
        /* Per message every copy arrives; per datagram the receiver drops the second copy. */
        size_t got = 0;
        for (size_t i = 0; i < REPRO_N; i++) got += first[i];
        print_message("%s: seed 7 delivered %zu of %d (%llu dropped, %llu duplicated)\n",
                      per_message ? "per message" : "per datagram", got, REPRO_N,
                      (unsigned long long)f1.dropped, (unsigned long long)f1.duplicated);
        assert_memory_equal(first, again, REPRO_N);           /* message by message */
        assert_int_equal(f1.dropped, f2.dropped);
        assert_int_equal(f1.duplicated, f2.duplicated);
        assert_true(memcmp(first, other, REPRO_N) != 0);      /* another seed, other decisions */
        assert_true(f1.dropped > 80 && f1.dropped < 160);
        assert_int_equal(got, REPRO_N - f1.dropped + (per_message ? f1.duplicated : 0));
    }
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
    au_node *node = start_node((au_node_config){ 0 });
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
        cmocka_unit_test(delays_in_datagram_mode_stay_within_their_range),
        cmocka_unit_test(reordering_in_datagram_mode_lets_later_datagrams_overtake),
        cmocka_unit_test(faults_for_one_destination_leave_the_others_to_the_default),
        cmocka_unit_test(blocking_a_destination_is_one_way_and_undone_by_unblocking),
        cmocka_unit_test(a_partition_blocks_both_ways_until_healed),
        cmocka_unit_test(the_same_seed_gives_the_same_faults_over_udp),
        cmocka_unit_test(bad_fault_settings_are_rejected),
        cmocka_unit_test(remoting_under_25_percent_loss_completes_with_retries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
