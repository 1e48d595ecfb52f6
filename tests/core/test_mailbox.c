/* test_mailbox.c — bounded mailboxes and back-pressure (core/actor.c "bounded mailboxes",
 * core/ref.c): every policy under a flood from four threads (delivered + dropped or refused =
 * sent, exactly; per-sender order; memory bounded), control messages that pass a full mailbox
 * (Term, death-watch notifications, ask replies and timeouts, au_send_control), the exact semantics of each policy on a
 * held consumer, and senders that wait for room (a plain thread with au_send_wait, an actor with
 * au_send_or_notify and its writable hook) delivering everything with no drop.
 *
 * FLOOD messages per flood: 1,000,000, or AU_TEST_FLOOD_N from the environment (the Makefile
 * sets a smaller one for the valgrind and TSan runs). */
#include <aurum/aurum.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <cmocka.h>

#include "support/recorder.h"

#define SENDERS 4
#define CAPACITY 1024

static uint64_t flood_n(void) {
    const char *e = getenv("AU_TEST_FLOOD_N");
    uint64_t n = e ? strtoull(e, NULL, 10) : 0;
    return n >= SENDERS ? n - n % SENDERS : 1000000;
}

static au_node *start_node(void) {
    au_node *node = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 2, .no_network = true }, &node),
                     AU_OK);
    return node;
}

static au_node_stats stats_of(au_node *node) {
    au_node_stats st;
    au_node_stats_get(node, &st);
    return st;
}

/* ---- the consumer ------------------------------------------------------------------------- */

AU_ROOT(victim_msg, (nothing, au_unit, AU_PLAIN));
typedef struct victim {
    char unused;
} victim;
static void victim_recv(au_ctx *ctx, victim *self, victim_msg *msg) {}
AU_ACTOR(victim_actor, victim, victim_msg, .recv = victim_recv);

/* Keeps the reply reference it is given until told to answer. */
AU_ROOT(responder_msg, (request, int64_t_ref, AU_PLAIN), (answer, au_unit, AU_PLAIN));
typedef struct responder {
    int64_t_ref pending;
} responder;
static void responder_recv(au_ctx *ctx, responder *self, responder_msg *msg) {
    if (msg->tag == responder_msg_request)
        self->pending = msg->request;
    else
        au_send(self->pending, (int64_t)42);
}
AU_ACTOR(responder_actor, responder, responder_msg, .recv = responder_recv);

AU_RECORD(item, (uint32_t, sender), (uint64_t, seq));
AU_ROOT(sink_msg,
        (item, item, AU_REMOTE),
        (hold, au_unit, AU_PLAIN),      /* block this worker until the test releases the gate */
        (watch, victim_msg_ref, AU_PLAIN),
        (ask, responder_msg_ref, AU_PLAIN)); /* ask it; its reply or the timeout is logged */

/* What the consumer saw, shared with the test thread. */
typedef struct tally {
    _Atomic uint64_t delivered;
    _Atomic uint64_t out_of_order;
    uint64_t next[SENDERS];         /* consumer-only: the lowest sequence number still allowed */
    _Atomic int gate;               /* 1: hold blocks */
    _Atomic int holding;            /* the consumer is inside hold */
    unsigned spin;                  /* busy work per item, to be slower than the senders */
    recorder *log;                  /* items and notifications, when set */
    au_nanos ask_timeout;           /* of sink_msg_ask */
} tally;

typedef struct sink {
    tally *t;
} sink;

/* An ask's outcome: -3 the reply (42), -4 the timeout. */
static void on_answer(au_ctx *ctx, void *state, int64_t *reply, au_err err) {
    sink *self = state;
    if (self->t->log) recorder_add(self->t->log, err == AU_OK && *reply == 42 ? -3 : -4);
}

static void sink_recv(au_ctx *ctx, sink *self, sink_msg *msg) {
    tally *t = self->t;
    switch (msg->tag) {
    case sink_msg_item: {
        uint32_t s = msg->item.sender;
        if (s >= SENDERS || msg->item.seq < t->next[s])
            atomic_fetch_add(&t->out_of_order, 1);
        else
            t->next[s] = msg->item.seq + 1;
        for (volatile unsigned i = 0; i < t->spin; i++) {
        }
        if (t->log) recorder_add(t->log, (int64_t)msg->item.seq);
        atomic_fetch_add(&t->delivered, 1);
        break;
    }
    case sink_msg_hold:
        atomic_store(&t->holding, 1);
        while (atomic_load(&t->gate)) {
            struct timespec d = { 0, 100000 };
            nanosleep(&d, NULL);
        }
        atomic_store(&t->holding, 0);
        break;
    case sink_msg_watch:
        au_watch(ctx, msg->watch);
        break;
    case sink_msg_ask: {
        /* The promise outlives the answer only if the responder answers within 200 ms. */
        int64_t_ref r = au_ask(ctx, int64_t, t->ask_timeout, on_answer);
        au_send(msg->ask, ((responder_msg){ .tag = responder_msg_request, .request = r }));
        break;
    }
    }
}

static void sink_terminated(au_ctx *ctx, sink *self, au_ref who) {
    if (self->t->log) recorder_add(self->t->log, -1); /* a watched actor stopped */
}

static void sink_post_stop(au_ctx *ctx, sink *self) {
    if (self->t->log) recorder_add(self->t->log, -2);
}

AU_ACTOR(sink_actor, sink, sink_msg, .recv = sink_recv, .terminated = sink_terminated,
         .post_stop = sink_post_stop);

static sink_msg_ref spawn_sink(au_node *node, tally *t, uint32_t capacity,
                               au_mailbox_policy policy) {
    /* Dedicated: a held consumer blocks its own thread, not a worker that others need. */
    sink_msg_ref r = au_spawn_with(node, sink_actor,
                                   au_opts(.capacity = capacity, .policy = policy,
                                           .dedicated = t->log != NULL),
                                   &(sink){ t });
    assert_false(au_ref_is_null(r.raw));
    return r;
}

static item_ref item_of(sink_msg_ref r) { return au_narrow(sink_msg, item, r); }

/* Holds the consumer on a worker until release(): a control message, so it takes no room. */
static void hold(sink_msg_ref r, tally *t) {
    atomic_store(&t->gate, 1);
    assert_int_equal(au_send_control(r, ((sink_msg){ .tag = sink_msg_hold })), AU_OK);
    uint64_t deadline = test_now_ns() + 10000000000u;
    /* Sleeps between looks: a spinning thread can starve the consumer under valgrind, whose
     * threads share one lock that a busy loop keeps winning. */
    while (!atomic_load(&t->holding)) {
        assert_true(test_now_ns() < deadline);
        struct timespec d = { 0, 100000 };
        nanosleep(&d, NULL);
    }
}

static void release(tally *t) { atomic_store(&t->gate, 0); }

/* ---- memory ----------------------------------------------------------------------------- */

/* Sanitizers and valgrind bring allocators of their own (quarantines, no page reuse): the RSS
 * ceiling is checked only in the plain build. */
static bool rss_meaningful(void) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return false;
#else
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
    return false;
#endif
#endif
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    bool valgrind = false;
    while (f && fgets(line, sizeof line, f)) valgrind |= strstr(line, "vgpreload") != NULL;
    if (f) fclose(f);
    return !valgrind;
#endif
}

static uint64_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    uint64_t kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %llu kB", (unsigned long long *)&kb) == 1) break;
    if (f) fclose(f);
    return kb * 1024;
}

/* A thread that samples VmRSS every millisecond until stopped: the peak during a flood. */
typedef struct rss_watch {
    pthread_t thread;
    _Atomic int stop;
    uint64_t base, peak;
} rss_watch;

static void *rss_main(void *arg) {
    rss_watch *w = arg;
    while (!atomic_load(&w->stop)) {
        uint64_t r = rss_bytes();
        if (r > w->peak) w->peak = r;
        struct timespec d = { 0, 1000000 };
        nanosleep(&d, NULL);
    }
    return NULL;
}

static void rss_start(rss_watch *w) {
    memset(w, 0, sizeof *w);
    w->base = w->peak = rss_bytes();
    assert_int_equal(pthread_create(&w->thread, NULL, rss_main, w), 0);
}

/* Stops the sampler; fails if the RSS rose by more than ceiling over the flood. */
static void rss_check(rss_watch *w, uint64_t ceiling) {
    atomic_store(&w->stop, 1);
    pthread_join(w->thread, NULL);
    if (!rss_meaningful()) return;
    uint64_t grew = w->peak > w->base ? w->peak - w->base : 0;
    if (grew > ceiling)
        fail_msg("RSS grew by %llu MiB during the flood (ceiling %llu MiB)",
                 (unsigned long long)(grew >> 20), (unsigned long long)(ceiling >> 20));
}

/* ---- flooding threads --------------------------------------------------------------------- */

typedef enum { SEND_PLAIN, SEND_WAIT } send_how;

typedef struct sender {
    pthread_t thread;
    item_ref to;
    uint32_t id;
    uint64_t n;
    send_how how;
    uint64_t ok, full, other;
} sender;

static void *sender_main(void *arg) {
    sender *s = arg;
    for (uint64_t i = 0; i < s->n; i++) {
        item m = { .sender = s->id, .seq = i };
        au_err err = s->how == SEND_WAIT ? au_send_wait(s->to, AU_SEC(60), m) : au_send(s->to, m);
        if (err == AU_OK)
            s->ok++;
        else if (err == AU_EFULL)
            s->full++;
        else
            s->other++;
    }
    return NULL;
}

static void run_senders(sender *ss, item_ref to, uint64_t n, send_how how) {
    for (uint32_t i = 0; i < SENDERS; i++) {
        ss[i] = (sender){ .to = to, .id = i, .n = n / SENDERS, .how = how };
        assert_int_equal(pthread_create(&ss[i].thread, NULL, sender_main, &ss[i]), 0);
    }
    for (uint32_t i = 0; i < SENDERS; i++) pthread_join(ss[i].thread, NULL);
}

struct settled {
    au_node *node;
    tally *t;
    uint64_t want;
    uint64_t refused; /* counted by the senders */
};

/* Every message is accounted for: delivered, dropped by the mailbox, or refused to its sender. */
static bool all_accounted(void *arg) {
    struct settled *w = arg;
    au_node_stats st = stats_of(w->node);
    return atomic_load(&w->t->delivered) + st.drops_mailbox_newest + st.drops_mailbox_oldest +
               w->refused >= w->want &&
           st.mailbox_depth == 0;
}

/* ---- floods, one per policy ----------------------------------------------------------------- */

static void flood(au_mailbox_policy policy) {
    uint64_t n = flood_n();
    au_node *node = start_node();
    tally t = { .spin = 200 };
    sink_msg_ref r = spawn_sink(node, &t, CAPACITY, policy);
    rss_watch w;
    rss_start(&w);
    sender ss[SENDERS];
    run_senders(ss, item_of(r), n, SEND_PLAIN);
    uint64_t ok = 0, full = 0;
    for (int i = 0; i < SENDERS; i++) {
        assert_int_equal(ss[i].other, 0);
        ok += ss[i].ok;
        full += ss[i].full;
    }
    assert_int_equal(ok + full, n);
    struct settled s = { node, &t, n, full };
    assert_true(wait_until(all_accounted, &s, 120000));
    rss_check(&w, 32u << 20);

    au_node_stats st = stats_of(node);
    uint64_t delivered = atomic_load(&t.delivered);
    assert_int_equal(delivered + st.drops_mailbox_newest + st.drops_mailbox_oldest + full, n);
    assert_int_equal(atomic_load(&t.out_of_order), 0);
    assert_true(st.mailbox_high_water <= (policy == AU_MAILBOX_DROP_OLDEST ? 2 : 1) * CAPACITY);
    assert_true(st.mailbox_high_water > 0);
    switch (policy) {
    case AU_MAILBOX_REJECT:
        assert_int_equal(st.mailbox_refused, full);
        assert_int_equal(st.drops_mailbox_newest + st.drops_mailbox_oldest, 0);
        break;
    case AU_MAILBOX_DROP_NEWEST:
        assert_int_equal(full, 0);
        assert_int_equal(st.mailbox_refused + st.drops_mailbox_oldest, 0);
        break;
    case AU_MAILBOX_DROP_OLDEST:
        assert_int_equal(full, 0);
        assert_int_equal(st.mailbox_refused, 0);
        break;
    }
    /* The consumer was slower than four senders: the bound was reached, not just declared. */
    assert_true(delivered < n);
    au_node_stop(node);
}

static void flood_reject(void **s) { flood(AU_MAILBOX_REJECT); }
static void flood_drop_newest(void **s) { flood(AU_MAILBOX_DROP_NEWEST); }
static void flood_drop_oldest(void **s) { flood(AU_MAILBOX_DROP_OLDEST); }

/* ---- each policy on a held consumer: exactly which messages survive ------------------------ */

static void policy_on_held(au_mailbox_policy policy, const int64_t *want, size_t nwant,
                           uint64_t want_full) {
    au_node *node = start_node();
    recorder log;
    recorder_init(&log);
    tally t = { .log = &log };
    sink_msg_ref r = spawn_sink(node, &t, 8, policy);
    hold(r, &t);
    uint64_t full = 0;
    for (uint64_t i = 0; i < 16; i++) {
        au_err err = au_send(item_of(r), ((item){ .sender = 0, .seq = i }));
        if (err == AU_EFULL)
            full++;
        else
            assert_int_equal(err, AU_OK);
    }
    uint32_t depth = 0;
    assert_int_equal(au_mailbox_depth(r, &depth), AU_OK);
    assert_int_equal(depth, policy == AU_MAILBOX_DROP_OLDEST ? 16 : 8);
    assert_int_equal(full, want_full);
    release(&t);
    assert_true(recorder_wait(&log, nwant, 10000));
    struct settled s = { node, &t, 16, full };
    assert_true(wait_until(all_accounted, &s, 10000));
    assert_int_equal(recorder_count(&log), nwant);
    for (size_t i = 0; i < nwant; i++) assert_int_equal(recorder_at(&log, i), want[i]);
    au_node_stop(node);
    recorder_destroy(&log);
}

static void reject_refuses_beyond_capacity(void **s) {
    static const int64_t want[] = { 0, 1, 2, 3, 4, 5, 6, 7 };
    policy_on_held(AU_MAILBOX_REJECT, want, 8, 8);
}

static void drop_newest_keeps_the_first(void **s) {
    static const int64_t want[] = { 0, 1, 2, 3, 4, 5, 6, 7 };
    policy_on_held(AU_MAILBOX_DROP_NEWEST, want, 8, 0);
}

static void drop_oldest_keeps_the_latest(void **s) {
    static const int64_t want[] = { 8, 9, 10, 11, 12, 13, 14, 15 };
    policy_on_held(AU_MAILBOX_DROP_OLDEST, want, 8, 0);
}

/* ---- control messages pass a full mailbox ---------------------------------------------------- */

static bool victim_stopped(void *arg) { return stats_of(arg).actors_stopped >= 1; }

/* The consumer is held with a full mailbox: a death-watch notification and Term still get in,
 * and arrive after the messages queued before them. */
static void control_passes_a_full_mailbox(au_mailbox_policy policy) {
    au_node *node = start_node();
    recorder log;
    recorder_init(&log);
    tally t = { .log = &log };
    sink_msg_ref r = spawn_sink(node, &t, 4, policy);
    victim_msg_ref v = au_spawn(node, victim_actor, NULL, NULL);
    assert_false(au_ref_is_null(v.raw));
    /* The watch is a user message: sent first, while there is room; hold queues behind it. */
    assert_int_equal(au_send(r, ((sink_msg){ .tag = sink_msg_watch, .watch = v })), AU_OK);
    hold(r, &t);
    for (uint64_t i = 0; i < 4; i++)
        assert_int_equal(au_send(item_of(r), ((item){ .sender = 0, .seq = i })), AU_OK);
    assert_int_equal(au_try_send(item_of(r), ((item){ .sender = 0, .seq = 99 })), AU_EFULL);
    uint32_t depth = 0;
    assert_int_equal(au_mailbox_depth(r, &depth), AU_OK);
    assert_int_equal(depth, 4);

    au_stop(v);
    assert_true(wait_until(victim_stopped, node, 10000)); /* its notification is queued */
    assert_int_equal(au_stop(r), AU_OK);                  /* Term, into the full mailbox */
    release(&t);
    assert_true(recorder_wait(&log, 6, 10000));
    static const int64_t want[] = { 0, 1, 2, 3, -1, -2 };
    for (size_t i = 0; i < 6; i++) assert_int_equal(recorder_at(&log, i), want[i]);
    au_node_stop(node);
    recorder_destroy(&log);
}

static void control_messages_pass_a_full_mailbox(void **s) {
    control_passes_a_full_mailbox(AU_MAILBOX_REJECT);
    control_passes_a_full_mailbox(AU_MAILBOX_DROP_NEWEST);
    control_passes_a_full_mailbox(AU_MAILBOX_DROP_OLDEST);
}

struct stopped_count {
    au_node *node;
    uint64_t n;
};
static bool stopped_at_least(void *arg) {
    struct stopped_count *w = arg;
    return stats_of(w->node).actors_stopped >= w->n;
}

/* Ask outcomes are control messages too: a reply, and a timeout, reach a full asker. */
static void ask_outcome_passes_a_full_mailbox(bool timeout) {
    au_node *node = start_node();
    recorder log;
    recorder_init(&log);
    tally t = { .log = &log, .ask_timeout = timeout ? AU_MSEC(50) : AU_SEC(30) };
    sink_msg_ref r = spawn_sink(node, &t, 4, AU_MAILBOX_REJECT);
    responder_msg_ref q = au_spawn(node, responder_actor, NULL, NULL);
    assert_false(au_ref_is_null(q.raw));
    assert_int_equal(au_send(r, ((sink_msg){ .tag = sink_msg_ask, .ask = q })), AU_OK);
    hold(r, &t); /* queued behind the ask: the request has gone out */
    for (uint64_t i = 0; i < 4; i++)
        assert_int_equal(au_send(item_of(r), ((item){ .sender = 0, .seq = i })), AU_OK);
    assert_int_equal(au_try_send(item_of(r), ((item){ .sender = 0, .seq = 9 })), AU_EFULL);
    if (!timeout)
        assert_int_equal(au_send(q, ((responder_msg){ .tag = responder_msg_answer })), AU_OK);
    /* The promise actor stops once it has posted the outcome into the full mailbox; nothing
     * else on this node stops meanwhile. */
    struct stopped_count w = { node, 1 };
    assert_true(wait_until(stopped_at_least, &w, 10000));
    release(&t);
    assert_true(recorder_wait(&log, 5, 10000));
    for (size_t i = 0; i < 4; i++) assert_int_equal(recorder_at(&log, i), (int64_t)i);
    assert_int_equal(recorder_at(&log, 4), timeout ? -4 : -3);
    au_node_stop(node);
    recorder_destroy(&log);
}

/* Ask outcomes are control messages too: a reply, and a timeout, reach a full asker. */
static void ask_outcomes_pass_a_full_mailbox(void **s) {
    ask_outcome_passes_a_full_mailbox(false);
    ask_outcome_passes_a_full_mailbox(true);
}

/* An unbounded mailbox has no depth to ask for, and spawn refuses inconsistent options. */
static void depth_and_options(void **s) {
    au_node *node = start_node();
    tally t = { 0 };
    sink_msg_ref unbounded = au_spawn(node, sink_actor, NULL, &(sink){ &t });
    uint32_t depth = 7;
    assert_int_equal(au_mailbox_depth(unbounded, &depth), AU_ESTATE);
    assert_true(au_ref_is_null(au_spawn_with(node, sink_actor,
                                             au_opts(.capacity = 4, .low_water = 4), &(sink){ &t })
                                   .raw));
    assert_int_equal(au_last_error(), AU_EINVAL);
    assert_true(au_ref_is_null(
        au_spawn_with(node, sink_actor, au_opts(.policy = AU_MAILBOX_DROP_OLDEST), &(sink){ &t })
            .raw));
    /* Everything behaves like au_send into an unbounded mailbox. */
    assert_int_equal(au_try_send(item_of(unbounded), ((item){ 0, 0 })), AU_OK);
    assert_int_equal(au_send_wait(item_of(unbounded), 0, ((item){ 0, 1 })), AU_OK);
    au_node_stop(node);
}

/* ---- back-pressure: nothing lost -------------------------------------------------------------- */

static void thread_that_waits_for_room_loses_nothing(void **s) {
    uint64_t n = flood_n();
    au_node *node = start_node();
    tally t = { .spin = 200 };
    sink_msg_ref r = spawn_sink(node, &t, CAPACITY, AU_MAILBOX_DROP_NEWEST);
    rss_watch w;
    rss_start(&w);
    sender ss[SENDERS];
    run_senders(ss, item_of(r), n, SEND_WAIT);
    for (int i = 0; i < SENDERS; i++) {
        assert_int_equal(ss[i].ok, n / SENDERS);
        assert_int_equal(ss[i].full + ss[i].other, 0);
    }
    struct settled set = { node, &t, n, 0 };
    assert_true(wait_until(all_accounted, &set, 120000));
    rss_check(&w, 32u << 20);
    au_node_stats st = stats_of(node);
    assert_int_equal(atomic_load(&t.delivered), n);
    assert_int_equal(st.drops_mailbox_newest + st.drops_mailbox_oldest + st.mailbox_refused, 0);
    assert_int_equal(atomic_load(&t.out_of_order), 0);
    for (int i = 0; i < SENDERS; i++) assert_int_equal(t.next[i], n / SENDERS);
    assert_true(st.mailbox_full_waits > 0); /* the senders did wait */
    assert_true(st.mailbox_high_water <= CAPACITY);
    au_node_stop(node);
}

AU_ROOT(pump_msg, (go, au_unit, AU_PLAIN), (more, au_unit, AU_PLAIN));

typedef struct pump {
    item_ref to;
    uint32_t id;
    uint64_t n, sent;
    bool waiting;                /* refused: sends resume in the writable hook */
    _Atomic uint64_t *writable;  /* writable turns, all producers */
    _Atomic int *wait_refused;   /* au_send_wait inside a hook gave AU_ESTATE */
} pump;

#define BURST 64

static void pump_run(au_ctx *ctx, pump *self) {
    if (self->waiting) return;
    for (unsigned k = 0; k < BURST && self->sent < self->n; k++) {
        au_err err = au_send_or_notify(ctx, self->to, ((item){ self->id, self->sent }));
        if (err == AU_EFULL) {
            self->waiting = true; /* the message is still ours: sent again from `sent` */
            return;
        }
        assert_int_equal(err, AU_OK);
        self->sent++;
    }
    if (self->sent < self->n)
        au_send(au_self(ctx, pump_msg), ((pump_msg){ .tag = pump_msg_more }));
}

static void pump_recv(au_ctx *ctx, pump *self, pump_msg *msg) {
    if (msg->tag == pump_msg_go &&
        au_send_wait(self->to, AU_SEC(1), ((item){ UINT32_MAX, 0 })) == AU_ESTATE)
        atomic_fetch_add(self->wait_refused, 1);
    pump_run(ctx, self);
}

static void pump_writable(au_ctx *ctx, pump *self, au_ref target) {
    atomic_fetch_add(self->writable, 1);
    self->waiting = false;
    pump_run(ctx, self);
}

AU_ACTOR(pump_actor, pump, pump_msg, .recv = pump_recv, .writable = pump_writable);

static void actor_that_waits_for_room_loses_nothing(void **s) {
    uint64_t n = flood_n();
    au_node *node = start_node();
    tally t = { .spin = 200 };
    sink_msg_ref r = spawn_sink(node, &t, CAPACITY, AU_MAILBOX_REJECT);
    _Atomic uint64_t writable = 0;
    _Atomic int wait_refused = 0;
    rss_watch w;
    rss_start(&w);
    for (uint32_t i = 0; i < SENDERS; i++) {
        pump_msg_ref p = au_spawn(node, pump_actor, NULL,
                                  &(pump){ .to = item_of(r), .id = i, .n = n / SENDERS,
                                           .writable = &writable, .wait_refused = &wait_refused });
        assert_false(au_ref_is_null(p.raw));
        assert_int_equal(au_send(p, ((pump_msg){ .tag = pump_msg_go })), AU_OK);
    }
    struct settled set = { node, &t, n, 0 };
    assert_true(wait_until(all_accounted, &set, 120000));
    rss_check(&w, 32u << 20);
    au_node_stats st = stats_of(node);
    assert_int_equal(atomic_load(&t.delivered), n);
    assert_int_equal(st.drops_mailbox_newest + st.drops_mailbox_oldest + st.mailbox_refused, 0);
    assert_int_equal(atomic_load(&t.out_of_order), 0);
    for (int i = 0; i < SENDERS; i++) assert_int_equal(t.next[i], n / SENDERS);
    assert_int_equal(atomic_load(&wait_refused), SENDERS);
    assert_true(atomic_load(&writable) > 0); /* the producers did wait, and were resumed */
    assert_true(st.mailbox_high_water <= CAPACITY);
    au_node_stop(node);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(flood_reject),
        cmocka_unit_test(flood_drop_newest),
        cmocka_unit_test(flood_drop_oldest),
        cmocka_unit_test(reject_refuses_beyond_capacity),
        cmocka_unit_test(drop_newest_keeps_the_first),
        cmocka_unit_test(drop_oldest_keeps_the_latest),
        cmocka_unit_test(control_messages_pass_a_full_mailbox),
        cmocka_unit_test(ask_outcomes_pass_a_full_mailbox),
        cmocka_unit_test(depth_and_options),
        cmocka_unit_test(thread_that_waits_for_room_loses_nothing),
        cmocka_unit_test(actor_that_waits_for_room_loses_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
