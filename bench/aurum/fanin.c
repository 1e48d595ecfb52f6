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
 * fanin: the consumer's mailbox is unbounded (as the peers'). fanin_bounded (aurum only): the
 * consumer's mailbox holds at most FANIN_CAPACITY messages, and producers send with
 * au_send_or_notify: a producer that finds it full stops, keeps its message, and resumes in its
 * writable hook once the consumer has drained to half. The two places that differ are
 * consumer_opts() (the bound) and produce() (what a full mailbox does). */
#include "bench.h"

#include <stdio.h>
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

/* fanin_bounded: the consumer's mailbox bound (messages), and the run's mode. */
#define FANIN_CAPACITY 4096
static bool bounded;

/* The consumer's spawn options: unbounded (the node default), or bounded with producers
 * waiting for room (a reject-policy mailbox: a plain au_send would be refused, never dropped). */
static const au_spawn_opts *consumer_opts(void) {
    static const au_spawn_opts unbounded_opts = { .name = NULL };
    static const au_spawn_opts bounded_opts = { .capacity = FANIN_CAPACITY,
                                                .policy = AU_MAILBOX_REJECT };
    return bounded ? &bounded_opts : &unbounded_opts;
}

/* ------------------------------------------------------------------------------ producer --- */

typedef struct fanin_producer_state {
    uint32_t id;
    uint64_t share, sent;
    fanin_item_ref consumer;
    bool waiting; /* bounded: refused, resumes in the writable hook */
} fanin_producer_state;

/* One message to the consumer; false when the bounded mailbox is full (the message was not
 * taken: it is sent again, from `sent`, once the writable hook runs). */
static bool produce(au_ctx *ctx, fanin_producer_state *self) {
    fanin_item item = { .producer = self->id, .seq = self->sent };
    au_err err = bounded ? au_send_or_notify(ctx, self->consumer, item)
                         : au_send(self->consumer, item);
    if (err == AU_EFULL && bounded) return false;
    if (err) bench_fail("fanin: producer %u: au_send: %s", (unsigned)self->id, au_strerror(err));
    self->sent++;
    return true;
}

/* One burst, then yield the worker until `more` comes round (or, when refused, until the
 * writable hook). */
static void producer_burst(au_ctx *ctx, fanin_producer_state *self) {
    if (self->waiting) return;
    for (unsigned k = 0; k < FANIN_BURST && self->sent < self->share; k++) {
        if (!produce(ctx, self)) {
            self->waiting = true;
            return;
        }
    }
    if (self->sent < self->share)
        au_send(au_self(ctx, fanin_producer_msg),
                ((fanin_producer_msg){ .tag = fanin_producer_msg_more }));
    else
        au_stop_self(ctx);
}

static void producer_recv(au_ctx *ctx, fanin_producer_state *self, fanin_producer_msg *msg) {
    producer_burst(ctx, self); /* go and more alike */
}

static void producer_writable(au_ctx *ctx, fanin_producer_state *self, au_ref target) {
    self->waiting = false;
    producer_burst(ctx, self);
}

AU_ACTOR(fanin_producer_actor, fanin_producer_state, fanin_producer_msg, .recv = producer_recv,
         .writable = producer_writable);

/* ---------------------------------------------------------------------------- the driver --- */

static int run_fanin(uint64_t n, const char *name) {
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
    char metric[64];
    bench_result(name, (double)n / ((double)(t1 - t0) / 1e9), "msg/s");
    snprintf(metric, sizeof metric, "%s_peak_rss", name);
    bench_result(metric, (double)peak / (1024.0 * 1024.0), "MiB");
    return 0;
}

int bench_fanin(uint64_t n) { return run_fanin(n, "fanin"); }

int bench_fanin_bounded(uint64_t n) {
    bounded = true;
    return run_fanin(n, "fanin_bounded");
}
