/* local.c — the six local benchmarks, on one node without a socket (workers = cores).
 *
 * The same workloads and checks as the peers (bench/README.md). Where CAF replies to the
 * implicit sender and Erlang sends its pid along ({ping, From, X}), aurum messages carry the
 * reply-to reference as a field. The driver is the main thread: it sends with au_send and waits
 * with au_promise_wait; where many replies are collected (fjcreate, fjthrput, idle), a collector
 * actor receives them and completes the promise once all are in — the peers use a collector
 * actor / process in the same places (bench/README.md, "Conventions"). The clock is
 * CLOCK_MONOTONIC around the measured phase only (node start, promise creation and node stop
 * are outside it). */
#include "bench.h"

#include <stdlib.h>

/* Waits for the reply (no deadline here: BENCH_TIMEOUT ends a stuck run, see main.c). */
#define WAIT(p, T, out)                                                                       \
    do {                                                                                      \
        au_err err_ = au_promise_wait((p), T, (out), 0);                                      \
        if (err_) bench_fail("waiting for the result: %s", au_strerror(err_));                \
    } while (0)

#define CHECK_PROMISE(p)                                                                      \
    do {                                                                                      \
        if (!(p).raw) bench_fail("au_promise_new: %s", au_strerror(au_last_error()));         \
    } while (0)

#define CHECK_SPAWN(ref, what)                                                                \
    do {                                                                                      \
        if (au_ref_is_null((ref).raw))                                                        \
            bench_fail("spawning %s: %s", (what), au_strerror(au_last_error()));             \
    } while (0)

/* The (count, sum) pair several benchmarks report. */
AU_RECORD(bench_total, (uint64_t, count), (uint64_t, sum));

/* ------------------------------------------------------------------------------ pingpong --- */

AU_RECORD(pp_ping, (uint64_t, seq), (uint64_t_ref, from));
AU_ROOT(pong_msg, (ping, pp_ping, AU_REMOTE));
AU_ROOT(ping_msg,
        (go, au_unit, AU_PLAIN),
        (reply, uint64_t, AU_REMOTE));

typedef struct pong_state {
    char unused_;
} pong_state;

static void pong_recv(au_ctx *ctx, pong_state *self, pong_msg *msg) {
    au_send(msg->ping.from, msg->ping.seq); /* the reply goes back to the sender */
}

AU_ACTOR(pong_actor, pong_state, pong_msg, .recv = pong_recv);

typedef struct ping_state {
    uint64_t n, got;
    pong_msg_ref pong;
    uint64_t_ref report;
    uint64_t_ref me; /* our reply interface, put into every ping */
} ping_state;

static void ping_pre_start(au_ctx *ctx, ping_state *self) {
    self->me = au_narrow(ping_msg, uint64_t, au_self(ctx, ping_msg));
}

static void ping_recv(au_ctx *ctx, ping_state *self, ping_msg *msg) {
    switch (msg->tag) {
    case ping_msg_go:
        au_send(self->pong, ((pong_msg){ .tag = pong_msg_ping, .ping = { 0, self->me } }));
        break;
    case ping_msg_reply:
        if (msg->reply != self->got) bench_fail("pingpong: out-of-order reply");
        if (++self->got == self->n) {
            au_send(self->report, self->got);
            au_stop_self(ctx);
            return;
        }
        au_send(self->pong, ((pong_msg){ .tag = pong_msg_ping, .ping = { self->got, self->me } }));
        break;
    }
}

AU_ACTOR(ping_actor, ping_state, ping_msg, .pre_start = ping_pre_start, .recv = ping_recv);

int bench_pingpong(uint64_t n) {
    au_node *node = bench_node_start();
    uint64_t_promise p = au_promise_new(node, uint64_t);
    CHECK_PROMISE(p);
    pong_msg_ref pong = au_spawn(node, pong_actor, NULL, NULL);
    CHECK_SPAWN(pong, "pong");
    ping_msg_ref ping = au_spawn(node, ping_actor, NULL,
                                 &(ping_state){ .n = n, .pong = pong,
                                                .report = au_promise_ref(p, uint64_t) });
    CHECK_SPAWN(ping, "ping");
    uint64_t got = 0;
    uint64_t t0 = bench_now_ns();
    au_send(ping, ((ping_msg){ .tag = ping_msg_go }));
    WAIT(p, uint64_t, &got);
    uint64_t t1 = bench_now_ns();
    bench_window(t0, t1);
    if (got != n) bench_fail("pingpong: wrong round-trip count %llu", (unsigned long long)got);
    au_stop(pong);
    au_node_stop(node);
    bench_result("pingpong", (double)(t1 - t0) / (double)n, "ns/rt");
    return 0;
}

/* --------------------------------------------------------------------------------- count --- */

AU_ROOT(counter_msg,
        (value, uint64_t, AU_REMOTE),
        (fin, bench_total_ref, AU_PLAIN)); /* reply (count, sum) to this reference */

typedef struct counter_state {
    uint64_t count, sum;
} counter_state;

static void counter_recv(au_ctx *ctx, counter_state *self, counter_msg *msg) {
    switch (msg->tag) {
    case counter_msg_value:
        self->count += 1;
        self->sum += msg->value;
        break;
    case counter_msg_fin:
        au_send(msg->fin, ((bench_total){ .count = self->count, .sum = self->sum }));
        au_stop_self(ctx);
        break;
    }
}

AU_ACTOR(counter_actor, counter_state, counter_msg, .recv = counter_recv);

/* The producer has no messages of its own: like the peers' producer it sends everything from
 * its first (and only) handler, then the fin, and ends.
 *
 * count_bounded (aurum only): the counter's mailbox holds at most COUNT_CAPACITY messages and
 * the producer streams with back-pressure: au_send_or_notify until the mailbox is full, then it
 * ends its turn and goes on in its writable hook once the counter has drained to half. */
AU_ROOT(producer_msg, (none, au_unit, AU_PLAIN));

#define COUNT_CAPACITY 65536

typedef struct producer_state {
    uint64_t n, next;
    counter_msg_ref counter;
    bench_total_ref report;
    bool bounded;
} producer_state;

static void producer_stream(au_ctx *ctx, producer_state *self) {
    if (self->bounded) {
        for (; self->next < self->n; self->next++) {
            au_err err = au_send_or_notify(
                ctx, self->counter, ((counter_msg){ .tag = counter_msg_value, .value = self->next }));
            if (err == AU_EFULL) return; /* resumed by producer_writable */
            if (err) bench_fail("count_bounded: au_send_or_notify: %s", au_strerror(err));
        }
    } else {
        for (uint64_t i = 0; i < self->n; i++)
            au_send(self->counter, ((counter_msg){ .tag = counter_msg_value, .value = i }));
    }
    au_send_control(self->counter, ((counter_msg){ .tag = counter_msg_fin, .fin = self->report }));
    au_stop_self(ctx);
}

static void producer_pre_start(au_ctx *ctx, producer_state *self) { producer_stream(ctx, self); }

static void producer_writable(au_ctx *ctx, producer_state *self, au_ref target) {
    producer_stream(ctx, self);
}

static void producer_recv(au_ctx *ctx, producer_state *self, producer_msg *msg) {}

AU_ACTOR(producer_actor, producer_state, producer_msg, .pre_start = producer_pre_start,
         .recv = producer_recv, .writable = producer_writable);

static int run_count(uint64_t n, bool bounded);

int bench_count(uint64_t n) { return run_count(n, false); }

int bench_count_bounded(uint64_t n) { return run_count(n, true); }

static int run_count(uint64_t n, bool bounded) {
    au_node *node = bench_node_start();
    bench_total_promise p = au_promise_new(node, bench_total);
    CHECK_PROMISE(p);
    bench_total total = { 0 };
    uint64_t t0 = bench_now_ns();
    counter_msg_ref counter =
        au_spawn_with(node, counter_actor, bounded ? au_opts(.capacity = COUNT_CAPACITY) : NULL, NULL);
    CHECK_SPAWN(counter, "counter");
    producer_msg_ref producer = au_spawn(
        node, producer_actor, NULL,
        &(producer_state){ .n = n, .counter = counter, .report = au_promise_ref(p, bench_total),
                           .bounded = bounded });
    CHECK_SPAWN(producer, "producer");
    WAIT(p, bench_total, &total);
    uint64_t t1 = bench_now_ns();
    bench_window(t0, t1);
    if (total.count != n || total.sum != n * (n - 1) / 2)
        bench_fail("count: wrong count or total (%llu, %llu)", (unsigned long long)total.count,
                   (unsigned long long)total.sum);
    uint64_t peak = bench_peak_rss_bytes();
    au_node_stop(node);
    bench_result(bounded ? "count_bounded" : "count", (double)n / ((double)(t1 - t0) / 1e9),
                 "msg/s");
    bench_result(bounded ? "count_bounded_peak_rss" : "count_peak_rss",
                 (double)peak / (1024.0 * 1024.0), "MiB");
    return 0;
}

/* ---------------------------------------------------------------------------- threadring --- */

AU_ROOT(ring_msg,
        (next, ring_msg_ref, AU_PLAIN), /* your successor */
        (token, uint64_t, AU_REMOTE));

typedef struct ring_state {
    uint32_t id;
    ring_msg_ref next;
    uint32_t_ref report;
} ring_state;

static void ring_recv(au_ctx *ctx, ring_state *self, ring_msg *msg) {
    switch (msg->tag) {
    case ring_msg_next:
        self->next = msg->next;
        break;
    case ring_msg_token:
        if (msg->token == 0)
            au_send(self->report, self->id);
        else
            au_send(self->next, ((ring_msg){ .tag = ring_msg_token, .token = msg->token - 1 }));
        break;
    }
}

AU_ACTOR(ring_actor, ring_state, ring_msg, .recv = ring_recv);

int bench_threadring(uint64_t n) {
    au_node *node = bench_node_start();
    uint32_t_promise p = au_promise_new(node, uint32_t);
    CHECK_PROMISE(p);
    uint32_t_ref report = au_promise_ref(p, uint32_t);
    ring_msg_ref ring[RING_SIZE];
    for (uint32_t i = 0; i < RING_SIZE; i++) {
        ring[i] = au_spawn(node, ring_actor, NULL, &(ring_state){ .id = i, .report = report });
        CHECK_SPAWN(ring[i], "a ring member");
    }
    for (uint32_t i = 0; i < RING_SIZE; i++)
        au_send(ring[i], ((ring_msg){ .tag = ring_msg_next, .next = ring[(i + 1) % RING_SIZE] }));
    uint32_t last = UINT32_MAX;
    uint64_t t0 = bench_now_ns();
    /* actor k receives token n-k; the one that receives 0 reports its index */
    au_send(ring[0], ((ring_msg){ .tag = ring_msg_token, .token = n }));
    WAIT(p, uint32_t, &last);
    uint64_t t1 = bench_now_ns();
    bench_window(t0, t1);
    for (uint32_t i = 0; i < RING_SIZE; i++) au_stop(ring[i]);
    if (last != n % RING_SIZE) bench_fail("threadring: token ended at actor %u", (unsigned)last);
    au_node_stop(node);
    bench_result("threadring", (double)(t1 - t0) / (double)n, "ns/hop");
    return 0;
}

/* ------------------------------------------------- collector: the driver's mailbox, counted --- */

/* Receives integers; once `expect` have arrived it reports (count, sum). It stays alive (the
 * node's stop ends it), so that the driver can wait for exactly the workers to be gone. */
AU_ROOT(collect_msg, (value, uint64_t, AU_REMOTE));

typedef struct collect_state {
    uint64_t expect, count, sum;
    bench_total_ref report;
} collect_state;

static void collect_recv(au_ctx *ctx, collect_state *self, collect_msg *msg) {
    self->count += 1;
    self->sum += msg->value;
    if (self->count == self->expect)
        au_send(self->report, ((bench_total){ .count = self->count, .sum = self->sum }));
}

AU_ACTOR(collect_actor, collect_state, collect_msg, .recv = collect_recv);

/* ------------------------------------------------------------------------------ fjcreate --- */

AU_RECORD(fj_job, (uint64_t, index), (uint64_t_ref, reply_to));
AU_ROOT(fj_msg, (job, fj_job, AU_REMOTE));

typedef struct fj_state {
    char unused_;
} fj_state;

static void fj_recv(au_ctx *ctx, fj_state *self, fj_msg *msg) {
    au_send(msg->job.reply_to, msg->job.index); /* one message, a reply, then the actor is gone */
    au_stop_self(ctx);
}

AU_ACTOR(fj_actor, fj_state, fj_msg, .recv = fj_recv);

int bench_fjcreate(uint64_t n) {
    au_node *node = bench_node_start();
    bench_total_promise p = au_promise_new(node, bench_total);
    CHECK_PROMISE(p);
    collect_msg_ref driver = au_spawn(node, collect_actor, NULL,
                                      &(collect_state){ .expect = n,
                                                        .report = au_promise_ref(p, bench_total) });
    CHECK_SPAWN(driver, "the collector");
    uint64_t_ref reply_to = au_narrow(collect_msg, uint64_t, driver);
    bench_total total = { 0 };
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        fj_msg_ref w = au_spawn(node, fj_actor, NULL, NULL);
        CHECK_SPAWN(w, "a worker");
        au_send(w, ((fj_msg){ .tag = fj_msg_job, .job = { .index = i, .reply_to = reply_to } }));
    }
    WAIT(p, bench_total, &total);
    bench_wait_stopped(node, n); /* every worker has exited (the collector is still alive) */
    uint64_t t1 = bench_now_ns();
    bench_window(t0, t1);
    if (total.count != n || total.sum != n * (n - 1) / 2)
        bench_fail("fjcreate: wrong number of terminated workers (%llu, sum %llu)",
                   (unsigned long long)total.count, (unsigned long long)total.sum);
    au_node_stop(node);
    bench_result("fjcreate", (double)n / ((double)(t1 - t0) / 1e9), "actors/s");
    return 0;
}

/* ------------------------------------------------------------------------------ fjthrput --- */

AU_ROOT(tp_msg, (value, uint64_t, AU_REMOTE));
AU_RECORD(tp_summary, (uint64_t, reports), (uint64_t, wrong), (uint64_t, sum));
AU_ROOT(tp_collect_msg, (report, bench_total, AU_REMOTE));

typedef struct tp_worker_state {
    uint64_t n, got, sum;
    bench_total_ref report;
} tp_worker_state;

static void tp_worker_recv(au_ctx *ctx, tp_worker_state *self, tp_msg *msg) {
    self->sum += msg->value;
    if (++self->got == self->n) {
        au_send(self->report, ((bench_total){ .count = self->got, .sum = self->sum }));
        au_stop_self(ctx);
    }
}

AU_ACTOR(tp_worker_actor, tp_worker_state, tp_msg, .recv = tp_worker_recv);

/* The sender sends 0 .. 60N-1 round-robin from its only handler, then ends. */
typedef struct tp_sender_state {
    const tp_msg_ref *workers;
    uint64_t per_worker;
} tp_sender_state;

static void tp_sender_pre_start(au_ctx *ctx, tp_sender_state *self) {
    uint64_t total = self->per_worker * FJ_WORKERS;
    for (uint64_t i = 0; i < total; i++)
        au_send(self->workers[i % FJ_WORKERS], ((tp_msg){ .tag = tp_msg_value, .value = i }));
    au_stop_self(ctx);
}

static void tp_sender_recv(au_ctx *ctx, tp_sender_state *self, producer_msg *msg) {}

AU_ACTOR(tp_sender_actor, tp_sender_state, producer_msg, .pre_start = tp_sender_pre_start,
         .recv = tp_sender_recv);

/* The driver's side: 60 reports, each checked (count = N) and summed. */
typedef struct tp_collect_state {
    uint64_t n, reports, wrong, sum;
    tp_summary_ref done;
} tp_collect_state;

static void tp_collect_recv(au_ctx *ctx, tp_collect_state *self, tp_collect_msg *msg) {
    if (msg->report.count != self->n) self->wrong++;
    self->sum += msg->report.sum;
    if (++self->reports == FJ_WORKERS) {
        au_send(self->done, ((tp_summary){ .reports = self->reports, .wrong = self->wrong,
                                           .sum = self->sum }));
        au_stop_self(ctx);
    }
}

AU_ACTOR(tp_collect_actor, tp_collect_state, tp_collect_msg, .recv = tp_collect_recv);

int bench_fjthrput(uint64_t n) {
    au_node *node = bench_node_start();
    uint64_t total = n * FJ_WORKERS;
    tp_summary_promise p = au_promise_new(node, tp_summary);
    CHECK_PROMISE(p);
    tp_collect_msg_ref driver = au_spawn(
        node, tp_collect_actor, NULL,
        &(tp_collect_state){ .n = n, .done = au_promise_ref(p, tp_summary) });
    CHECK_SPAWN(driver, "the collector");
    bench_total_ref report = au_narrow(tp_collect_msg, bench_total, driver);
    tp_msg_ref workers[FJ_WORKERS];
    tp_summary summary = { 0 };
    uint64_t t0 = bench_now_ns();
    for (uint32_t i = 0; i < FJ_WORKERS; i++) {
        workers[i] = au_spawn(node, tp_worker_actor, NULL,
                              &(tp_worker_state){ .n = n, .report = report });
        CHECK_SPAWN(workers[i], "a worker");
    }
    producer_msg_ref sender = au_spawn(node, tp_sender_actor, NULL,
                                       &(tp_sender_state){ .workers = workers, .per_worker = n });
    CHECK_SPAWN(sender, "the sender");
    WAIT(p, tp_summary, &summary);
    uint64_t t1 = bench_now_ns();
    bench_window(t0, t1);
    if (summary.wrong) bench_fail("fjthrput: a worker saw the wrong number of messages");
    if (summary.sum != total * (total - 1) / 2) bench_fail("fjthrput: wrong total");
    au_node_stop(node);
    bench_result("fjthrput", (double)total / ((double)(t1 - t0) / 1e9), "msg/s");
    return 0;
}

/* ---------------------------------------------------------------------------------- idle --- */

AU_RECORD(idle_ping, (uint64_t, index), (uint64_t_ref, reply_to));
AU_ROOT(idle_msg, (ping, idle_ping, AU_REMOTE));

typedef struct idle_state {
    char unused_;
} idle_state;

static void idle_recv(au_ctx *ctx, idle_state *self, idle_msg *msg) {
    au_send(msg->ping.reply_to, msg->ping.index);
}

AU_ACTOR(idle_actor, idle_state, idle_msg, .recv = idle_recv);

/* The driver's mailbox for one batch of liveness replies: counts `expect` integers, then
 * reports (count, sum); re-armed with a new promise for every batch. */
AU_RECORD(batch_arm, (uint64_t, expect), (bench_total_ref, report));
AU_ROOT(batch_msg,
        (value, uint64_t, AU_REMOTE),
        (arm, batch_arm, AU_PLAIN));

typedef struct batch_state {
    uint64_t left, count, sum;
    bench_total_ref report;
} batch_state;

static void batch_recv(au_ctx *ctx, batch_state *self, batch_msg *msg) {
    switch (msg->tag) {
    case batch_msg_arm:
        self->left = msg->arm.expect;
        self->count = self->sum = 0;
        self->report = msg->arm.report;
        break;
    case batch_msg_value:
        self->count += 1;
        self->sum += msg->value;
        if (--self->left == 0)
            au_send(self->report, ((bench_total){ .count = self->count, .sum = self->sum }));
        break;
    }
}

AU_ACTOR(batch_actor, batch_state, batch_msg, .recv = batch_recv);

int bench_idle(uint64_t n) {
    au_node *node = bench_node_start();
    batch_msg_ref driver = au_spawn(node, batch_actor, NULL, NULL);
    CHECK_SPAWN(driver, "the collector");
    uint64_t_ref reply_to = au_narrow(batch_msg, uint64_t, driver);

    uint64_t t0 = bench_now_ns(); /* for bench_window only */
    uint64_t before = bench_rss_bytes(), heap_before = bench_heap_bytes();
    /* The driver's handles (N references) are allocated after the first reading:
     * counted, as the peers' handle vector / pid list is (bench/README.md, "Conventions"). */
    idle_msg_ref *actors = malloc(n * sizeof *actors);
    if (!actors) bench_fail("idle: no memory for %llu handles", (unsigned long long)n);
    for (uint64_t i = 0; i < n; i++) {
        actors[i] = au_spawn(node, idle_actor, NULL, NULL);
        CHECK_SPAWN(actors[i], "an idle actor");
    }
    /* Liveness check in batches (at most IDLE_BATCH messages in flight, so that freed message
     * memory does not inflate the figure): every actor answers once and is then idle. */
    uint64_t sum = 0, answers = 0;
    for (uint64_t lo = 0; lo < n; lo += IDLE_BATCH) {
        uint64_t hi = lo + IDLE_BATCH < n ? lo + IDLE_BATCH : n;
        bench_total_promise p = au_promise_new(node, bench_total);
        CHECK_PROMISE(p);
        au_send(driver, ((batch_msg){ .tag = batch_msg_arm,
                                      .arm = { .expect = hi - lo,
                                               .report = au_promise_ref(p, bench_total) } }));
        for (uint64_t i = lo; i < hi; i++)
            au_send(actors[i], ((idle_msg){ .tag = idle_msg_ping,
                                            .ping = { .index = i, .reply_to = reply_to } }));
        bench_total got = { 0 };
        WAIT(p, bench_total, &got);
        answers += got.count;
        sum += got.sum;
    }
    uint64_t after = bench_rss_bytes(), heap_after = bench_heap_bytes();
    bench_window(t0, bench_now_ns());
    if (answers != n || sum != n * (n - 1) / 2) bench_fail("idle: not every actor answered");
    au_node_stop(node); /* stops every actor */
    free(actors);
    bench_result("idle", ((double)after - (double)before) / (double)n, "bytes/actor");
    bench_result("idle_alloc", ((double)heap_after - (double)heap_before) / (double)n,
                 "bytes/actor");
    return 0;
}
