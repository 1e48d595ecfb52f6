/* fanin.c — fanin: FANIN_PRODUCERS (1,000) producer actors stream N messages in total to one
 * consumer, on one node without a socket (workers = cores). The same workload and checks as the
 * peers (bench/README.md, "fanin").
 *
 * Producer p sends (p, 0), (p, 1), ... (p, share(p) - 1), share(p) = N / 1000 plus one for the
 * first N mod 1000 producers. It streams: each turn sends at most FANIN_BURST (100) messages,
 * then a `more` message to itself, so the 1,000 producers take turns on the workers instead of
 * one producer sending its whole share in a single turn. The consumer checks that every
 * producer's sequence numbers arrive in order and complete, and reports once N have arrived.
 * Time: the driver's first `go` (producers and consumer are spawned before the clock) to the
 * consumer's report. Reported: N / seconds, and the process's peak RSS.
 *
 * The consumer's mailbox is unbounded. The two places a bounded mailbox and back-pressure touch
 * are kept apart on purpose: consumer_opts() (the spawn options of the consumer, where a bound
 * goes) and produce() (one send, whose result a producer acts on: today any error fails the
 * run). */
#include "bench.h"

#include <stdlib.h>

AU_RECORD(fanin_item, (uint32_t, producer), (uint64_t, seq));
AU_RECORD(fanin_summary, (uint64_t, count), (uint64_t, out_of_order), (uint64_t, incomplete));
AU_ROOT(fanin_consumer_msg, (item, fanin_item, AU_REMOTE));
AU_ROOT(fanin_producer_msg,
        (go, au_unit, AU_PLAIN),
        (more, au_unit, AU_PLAIN));

/* Messages producer p sends. */
static uint64_t share(uint64_t n, uint32_t p) {
    return n / FANIN_PRODUCERS + (p < n % FANIN_PRODUCERS ? 1 : 0);
}

/* ------------------------------------------------------------------------------ consumer --- */

typedef struct fanin_consumer_state {
    uint64_t n, count, out_of_order;
    fanin_summary_ref report;
    uint64_t next[FANIN_PRODUCERS]; /* the sequence number expected next from each producer */
} fanin_consumer_state;

static void consumer_recv(au_ctx *ctx, fanin_consumer_state *self, fanin_consumer_msg *msg) {
    uint32_t p = msg->item.producer;
    if (p >= FANIN_PRODUCERS || msg->item.seq != self->next[p])
        self->out_of_order++;
    else
        self->next[p]++;
    if (++self->count == self->n) {
        uint64_t incomplete = 0;
        for (uint32_t i = 0; i < FANIN_PRODUCERS; i++)
            if (self->next[i] != share(self->n, i)) incomplete++;
        au_send(self->report, ((fanin_summary){ .count = self->count,
                                                .out_of_order = self->out_of_order,
                                                .incomplete = incomplete }));
    }
}

AU_ACTOR(fanin_consumer_actor, fanin_consumer_state, fanin_consumer_msg, .recv = consumer_recv);

/* The consumer's spawn options: an unbounded mailbox (the node default). */
static const au_spawn_opts *consumer_opts(void) {
    static const au_spawn_opts opts = { .name = NULL };
    return &opts;
}

/* ------------------------------------------------------------------------------ producer --- */

typedef struct fanin_producer_state {
    uint32_t id;
    uint64_t share, sent;
    fanin_item_ref consumer;
} fanin_producer_state;

/* One message to the consumer. */
static void produce(fanin_producer_state *self) {
    au_err err = au_send(self->consumer, ((fanin_item){ .producer = self->id, .seq = self->sent }));
    if (err) bench_fail("fanin: producer %u: au_send: %s", (unsigned)self->id, au_strerror(err));
    self->sent++;
}

static void producer_recv(au_ctx *ctx, fanin_producer_state *self, fanin_producer_msg *msg) {
    /* go and more alike: one burst, then yield the worker until `more` comes round */
    for (unsigned k = 0; k < FANIN_BURST && self->sent < self->share; k++) produce(self);
    if (self->sent < self->share)
        au_send(au_self(ctx, fanin_producer_msg),
                ((fanin_producer_msg){ .tag = fanin_producer_msg_more }));
    else
        au_stop_self(ctx);
}

AU_ACTOR(fanin_producer_actor, fanin_producer_state, fanin_producer_msg, .recv = producer_recv);

/* ---------------------------------------------------------------------------- the driver --- */

int bench_fanin(uint64_t n) {
    if (n < FANIN_PRODUCERS) bench_fail("fanin: N must be at least %d", FANIN_PRODUCERS);
    au_node *node = bench_node_start();
    fanin_summary_promise p = au_promise_new(node, fanin_summary);
    if (!p.raw) bench_fail("au_promise_new: %s", au_strerror(au_last_error()));
    fanin_consumer_state *init = calloc(1, sizeof *init);
    if (!init) bench_fail("fanin: no memory");
    init->n = n;
    init->report = au_promise_ref(p, fanin_summary);
    fanin_consumer_msg_ref consumer =
        au_spawn_with(node, fanin_consumer_actor, consumer_opts(), init);
    free(init);
    if (au_ref_is_null(consumer.raw))
        bench_fail("spawning the consumer: %s", au_strerror(au_last_error()));
    fanin_item_ref to = au_narrow(fanin_consumer_msg, fanin_item, consumer);

    fanin_producer_msg_ref *producers = malloc(FANIN_PRODUCERS * sizeof *producers);
    if (!producers) bench_fail("fanin: no memory");
    for (uint32_t i = 0; i < FANIN_PRODUCERS; i++) {
        producers[i] = au_spawn(node, fanin_producer_actor, NULL,
                                &(fanin_producer_state){ .id = i, .share = share(n, i),
                                                         .consumer = to });
        if (au_ref_is_null(producers[i].raw))
            bench_fail("spawning a producer: %s", au_strerror(au_last_error()));
    }
    fanin_summary sum = { 0 };
    uint64_t t0 = bench_now_ns();
    for (uint32_t i = 0; i < FANIN_PRODUCERS; i++)
        au_send(producers[i], ((fanin_producer_msg){ .tag = fanin_producer_msg_go }));
    au_err err = au_promise_wait(p, fanin_summary, &sum, 0);
    uint64_t t1 = bench_now_ns();
    bench_window(t0, t1);
    if (err) bench_fail("fanin: waiting for the result: %s", au_strerror(err));
    if (sum.count != n || sum.out_of_order || sum.incomplete)
        bench_fail("fanin: %llu messages, %llu out of order, %llu producers incomplete",
                   (unsigned long long)sum.count, (unsigned long long)sum.out_of_order,
                   (unsigned long long)sum.incomplete);
    uint64_t peak = bench_peak_rss_bytes();
    au_node_stop(node);
    free(producers);
    bench_result("fanin", (double)n / ((double)(t1 - t0) / 1e9), "msg/s");
    bench_result("fanin_peak_rss", (double)peak / (1024.0 * 1024.0), "MiB");
    return 0;
}
