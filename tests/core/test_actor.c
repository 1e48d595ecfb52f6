/* test_actor.c — the local actor runtime: lifecycle, stop, receive timeouts, timers, death
 * watch, ask, dedicated threads, registry names, stale references, node stop. Timing is never
 * raced: a timeout measured against message spacing runs on the simulator's virtual clock, a
 * blocking actor blocks on a gate the test opens, and waits for what must happen allow 30 s. */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include <setjmp.h>
#include <stdarg.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "support/recorder.h"

/* Events recorded by the test actors: kind * 1000 + value. */
enum { EV_PRE = 1, EV_MSG = 2, EV_POST = 3, EV_TIMEOUT = 4, EV_TERMINATED = 5, EV_REPLY = 6,
       EV_ASK_TIMEOUT = 7 };
#define EV(kind, v) ((int64_t)(kind) * 1000 + (v))

static au_node *start_node(unsigned workers) {
    au_node *node = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .workers = workers, .no_network = true }, &node), AU_OK);
    return node;
}

/* ---- a recording actor -------------------------------------------------------------------- */

AU_ROOT(probe_msg,
        (value, int64_t, AU_REMOTE),
        (stop_now, au_unit, AU_PLAIN),
        (set_timeout, uint64_t, AU_PLAIN),
        (watch, probe_msg_ref, AU_PLAIN),
        (reply_to, int64_t_ref, AU_PLAIN),
        (ask, probe_msg_ref, AU_PLAIN),
        (set_ask_timeout, uint64_t, AU_PLAIN),
        (block, au_unit, AU_PLAIN));

/* A gate a dedicated actor blocks on until the test opens it: blocking for exactly as long as
 * the test needs, instead of a sleep the test has to outrun. */
typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool entered, open;
} gate;

static void gate_init(gate *g) {
    memset(g, 0, sizeof *g);
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->cond, NULL);
}

static void gate_destroy(gate *g) {
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->cond);
}

/* Blocks until the gate opens, or 60 s at most (so that a broken test cannot hang forever). */
static void gate_pass(gate *g) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 60;
    pthread_mutex_lock(&g->lock);
    g->entered = true;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        if (pthread_cond_timedwait(&g->cond, &g->lock, &until) != 0) break;
    pthread_mutex_unlock(&g->lock);
}

static void gate_open(gate *g) {
    pthread_mutex_lock(&g->lock);
    g->open = true;
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
}

static bool gate_entered(void *arg) {
    gate *g = arg;
    pthread_mutex_lock(&g->lock);
    bool e = g->entered;
    pthread_mutex_unlock(&g->lock);
    return e;
}

typedef struct probe {
    recorder *log;
    int64_t stop_at;         /* stop itself when it receives this value (0: never) */
    au_nanos initial_timeout;
    bool clear_timeout_in_hook;
    au_nanos ask_timeout;    /* of au_ask; default 30 s */
    gate *gate;              /* what `block` waits on */
} probe;

static void probe_pre_start(au_ctx *ctx, probe *self) {
    recorder_add(self->log, EV(EV_PRE, 0));
    if (self->initial_timeout) au_set_receive_timeout(ctx, self->initial_timeout);
}

static void on_answer(au_ctx *ctx, void *state, int64_t *reply, au_err err) {
    probe *self = state;
    if (err == AU_OK)
        recorder_add(self->log, EV(EV_REPLY, *reply));
    else
        recorder_add(self->log, EV(EV_ASK_TIMEOUT, err == AU_ETIMEDOUT));
}

static void probe_recv(au_ctx *ctx, probe *self, probe_msg *msg) {
    switch (msg->tag) {
    case probe_msg_value:
        recorder_add(self->log, EV(EV_MSG, msg->value));
        if (self->stop_at && msg->value == self->stop_at) au_stop_self(ctx);
        break;
    case probe_msg_stop_now:
        au_stop_self(ctx);
        break;
    case probe_msg_set_timeout:
        au_set_receive_timeout(ctx, msg->set_timeout);
        break;
    case probe_msg_watch:
        au_watch(ctx, msg->watch);
        break;
    case probe_msg_reply_to:
        au_send(msg->reply_to, (int64_t)42);
        break;
    case probe_msg_block:
        gate_pass(self->gate); /* blocking work: only for dedicated actors */
        recorder_add(self->log, EV(EV_MSG, -1));
        break;
    case probe_msg_set_ask_timeout:
        self->ask_timeout = msg->set_ask_timeout;
        break;
    case probe_msg_ask: {
        int64_t_ref r = au_ask(ctx, int64_t, self->ask_timeout ? self->ask_timeout : AU_SEC(30), on_answer);
        au_send(msg->ask, ((probe_msg){ .tag = probe_msg_reply_to, .reply_to = r }));
        break;
    }
    }
}

static void probe_post_stop(au_ctx *ctx, probe *self) { recorder_add(self->log, EV(EV_POST, 0)); }

static void probe_timeout(au_ctx *ctx, probe *self) {
    recorder_add(self->log, EV(EV_TIMEOUT, 0));
    if (self->clear_timeout_in_hook) au_set_receive_timeout(ctx, 0);
}

static void probe_terminated(au_ctx *ctx, probe *self, au_ref who) {
    recorder_add(self->log, EV(EV_TERMINATED, 0));
}

AU_ACTOR(probe_actor, probe, probe_msg, .pre_start = probe_pre_start, .recv = probe_recv,
         .post_stop = probe_post_stop, .timeout = probe_timeout, .terminated = probe_terminated);

static void send_value(probe_msg_ref r, int64_t v) {
    assert_int_equal(au_send(au_narrow(probe_msg, int64_t, r), v), AU_OK);
}

/* ---- lifecycle ------------------------------------------------------------------------------ */

static void hooks_run_in_order_pre_start_messages_post_stop(void **s) {
    recorder log;
    recorder_init(&log);
    au_node *node = start_node(2);
    probe_msg_ref p = au_spawn(node, probe_actor, NULL, &(probe){ .log = &log });
    assert_false(au_ref_is_null(p.raw));
    for (int i = 1; i <= 3; i++) send_value(p, i);
    assert_int_equal(au_stop(p), AU_OK);
    assert_true(recorder_wait(&log, 5, 30000));
    int64_t expect[] = { EV(EV_PRE, 0), EV(EV_MSG, 1), EV(EV_MSG, 2), EV(EV_MSG, 3), EV(EV_POST, 0) };
    for (size_t i = 0; i < 5; i++) assert_int_equal(recorder_at(&log, i), expect[i]);
    au_node_stop(node);
    assert_int_equal(recorder_count(&log), 5); /* post_stop did not run twice */
    recorder_destroy(&log);
}

static void term_is_processed_after_the_messages_queued_before_it(void **s) {
    recorder log;
    recorder_init(&log);
    au_node *node = start_node(2);
    probe_msg_ref p = au_spawn(node, probe_actor, NULL, &(probe){ .log = &log });
    for (int i = 1; i <= 100; i++) send_value(p, i);
    au_stop(p);
    assert_true(recorder_wait(&log, 102, 30000));
    assert_int_equal(recorder_at(&log, 100), EV(EV_MSG, 100));
    assert_int_equal(recorder_at(&log, 101), EV(EV_POST, 0));
    /* After the stop the reference is dead: sends fail and are counted, nothing is delivered. */
    assert_int_equal(au_send(au_narrow(probe_msg, int64_t, p), (int64_t)7), AU_ESTOPPED);
    au_node_stats st;
    au_node_stats_get(node, &st);
    assert_true(st.drops_dead_actor >= 1);
    au_node_stop(node);
    assert_int_equal(recorder_count(&log), 102);
    recorder_destroy(&log);
}

static void stop_self_drops_messages_still_queued(void **s) {
    recorder log;
    recorder_init(&log);
    au_node *node = start_node(1);
    probe_msg_ref p = au_spawn(node, probe_actor, NULL, &(probe){ .log = &log, .stop_at = 3 });
    /* Sends after the stop may already fail with AU_ESTOPPED: either way none is processed. */
    for (int i = 1; i <= 10; i++) au_send(au_narrow(probe_msg, int64_t, p), (int64_t)i);
    assert_true(recorder_wait(&log, 5, 30000)); /* pre, 1, 2, 3, post */
    assert_int_equal(recorder_at(&log, 3), EV(EV_MSG, 3));
    assert_int_equal(recorder_at(&log, 4), EV(EV_POST, 0));
    au_node_stop(node);
    assert_int_equal(recorder_count(&log), 5);
    recorder_destroy(&log);
}

/* ---- receive timeouts --------------------------------------------------------------------- */

static void receive_timeout_fires_after_inactivity_and_rearms(void **s) {
    recorder log;
    recorder_init(&log);
    au_node *node = start_node(2);
    uint64_t t0 = test_now_ns();
    au_spawn(node, probe_actor, NULL, &(probe){ .log = &log, .initial_timeout = AU_MSEC(20) });
    assert_true(recorder_wait(&log, 4, 30000)); /* pre + three timeouts */
    assert_int_equal(recorder_at(&log, 1), EV(EV_TIMEOUT, 0));
    assert_int_equal(recorder_at(&log, 3), EV(EV_TIMEOUT, 0));
    assert_true(test_now_ns() - t0 >= 3 * AU_MSEC(20)); /* never early */
    au_node_stop(node);
    recorder_destroy(&log);
}

/* On the simulator's virtual clock: a message every 5 ms against a 60 ms timeout is exact there,
 * whatever the load of the machine (real time would give a loaded valgrind run no margin). */
typedef struct log_goal { recorder *log; size_t n; } log_goal;
static bool log_reached(void *arg) {
    log_goal *g = arg;
    return recorder_count(g->log) >= g->n;
}

static void messages_postpone_the_receive_timeout(void **s) {
    recorder log;
    recorder_init(&log);
    au_sim *sim;
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 3 }, &sim), AU_OK);
    au_node *node;
    assert_int_equal(au_node_start(&(au_node_config){ .driver = (au_driver[]){ au_sim_driver(sim) } }, &node), AU_OK);
    probe_msg_ref p = au_spawn(node, probe_actor, NULL, &(probe){ .log = &log });
    au_send(p, ((probe_msg){ .tag = probe_msg_set_timeout, .set_timeout = AU_MSEC(60) }));
    au_sim_run(sim, AU_MSEC(1));
    /* Keep it busy with a message every 5 ms for 150 ms: no timeout may fire meanwhile. */
    au_nanos last = 0;
    for (int i = 1; i <= 30; i++) {
        send_value(p, i);
        last = au_sim_now(sim);
        au_sim_run(sim, AU_MSEC(5));
    }
    log_goal g = { &log, 32 };
    assert_int_equal(au_sim_run_until(sim, log_reached, &g, AU_SEC(10)), AU_OK);
    au_nanos fired_at = au_sim_now(sim);
    for (size_t i = 0; i < 31; i++) assert_int_not_equal(recorder_at(&log, i), EV(EV_TIMEOUT, 0));
    assert_int_equal(recorder_at(&log, 31), EV(EV_TIMEOUT, 0));
    print_message("timeout %llu us after the last message\n", (unsigned long long)((fired_at - last) / 1000));
    assert_true(fired_at - last >= AU_MSEC(60));         /* never early */
    assert_true(fired_at - last <= AU_MSEC(60) + AU_MSEC(1)); /* and not late: virtual time */
    /* With 55 ms between messages instead, it fires between each. */
    au_sim_run(sim, AU_MSEC(1));
    size_t before = recorder_count(&log);
    send_value(p, 100);
    au_sim_run(sim, AU_MSEC(55));
    assert_int_equal(recorder_count(&log), before + 1); /* the message, no timeout yet */
    au_sim_run(sim, AU_MSEC(10));
    assert_int_equal(recorder_count(&log), before + 2);
    assert_int_equal(recorder_at(&log, before + 1), EV(EV_TIMEOUT, 0));
    au_node_stop(node);
    au_sim_destroy(sim);
    recorder_destroy(&log);
}

static void a_hook_can_clear_the_receive_timeout(void **s) {
    recorder log;
    recorder_init(&log);
    au_node *node = start_node(2);
    probe_msg_ref p = au_spawn(node, probe_actor, NULL, &(probe){ .log = &log, .initial_timeout = AU_MSEC(10), .clear_timeout_in_hook = true });
    assert_true(recorder_wait(&log, 2, 30000));
    /* Expect no further timeout for 10 periods: a bounded wait for nothing, not a sleep-and-hope. */
    assert_false(recorder_wait(&log, 3, 100));
    send_value(p, 5); /* still alive and receiving */
    assert_true(recorder_wait(&log, 3, 30000));
    assert_int_equal(recorder_at(&log, 2), EV(EV_MSG, 5));
    au_node_stop(node);
    recorder_destroy(&log);
}

/* ---- timers --------------------------------------------------------------------------------- */

static void timer_delivers_after_its_delay(void **s) {
    recorder log;
    recorder_init(&log);
    au_node *node = start_node(2);
    probe_msg_ref p = au_spawn(node, probe_actor, NULL, &(probe){ .log = &log });
    uint64_t t0 = test_now_ns();
    au_timer t = au_send_after(au_narrow(probe_msg, int64_t, p), AU_MSEC(30), (int64_t)9);
    assert_true(t != 0);
    assert_true(recorder_wait(&log, 2, 30000));
    assert_true(test_now_ns() - t0 >= AU_MSEC(30));
    assert_int_equal(recorder_at(&log, 1), EV(EV_MSG, 9));
    assert_int_equal(au_timer_cancel(node, t), AU_ENOTFOUND); /* already fired */
    au_node_stop(node);
    recorder_destroy(&log);
}

static void cancelled_timer_never_delivers(void **s) {
    recorder log;
    recorder_init(&log);
    au_node *node = start_node(2);
    probe_msg_ref p = au_spawn(node, probe_actor, NULL, &(probe){ .log = &log });
    /* An hour away: cancelling it cannot race its firing however slow the machine is. */
    au_timer t = au_send_after(au_narrow(probe_msg, int64_t, p), AU_SEC(3600), (int64_t)1);
    au_send_after(au_narrow(probe_msg, int64_t, p), AU_MSEC(60), (int64_t)2);
    assert_int_equal(au_timer_cancel(node, t), AU_OK);
    assert_int_equal(au_timer_cancel(node, t), AU_ENOTFOUND);
    assert_true(recorder_wait(&log, 2, 30000));
    assert_int_equal(recorder_at(&log, 1), EV(EV_MSG, 2));
    au_node_stats st;
    au_node_stats_get(node, &st);
    assert_int_equal(st.timers_cancelled, 1);
    au_node_stop(node);
    recorder_destroy(&log);
}

static void pending_timers_are_freed_at_node_stop(void **s) {
    au_node *node = start_node(1);
    recorder log;
    recorder_init(&log);
    probe_msg_ref p = au_spawn(node, probe_actor, NULL, &(probe){ .log = &log });
    for (int i = 0; i < 100; i++)
        au_send_after(au_narrow(probe_msg, int64_t, p), AU_SEC(3600), (int64_t)i);
    au_node_stop(node); /* LeakSanitizer / valgrind check the rest */
    recorder_destroy(&log);
}

/* ---- death watch ------------------------------------------------------------------------------ */

static void watcher_is_told_when_the_watched_actor_stops(void **s) {
    recorder wlog, tlog;
    recorder_init(&wlog);
    recorder_init(&tlog);
    au_node *node = start_node(2);
    probe_msg_ref watcher = au_spawn(node, probe_actor, NULL, &(probe){ .log = &wlog });
    probe_msg_ref target = au_spawn(node, probe_actor, NULL, &(probe){ .log = &tlog });
    au_send(watcher, ((probe_msg){ .tag = probe_msg_watch, .watch = target }));
    send_value(watcher, 1); /* processed after the watch: the watch is in place */
    assert_true(recorder_wait(&wlog, 2, 30000));
    au_stop(target);
    assert_true(recorder_wait(&wlog, 3, 30000));
    assert_int_equal(recorder_at(&wlog, 2), EV(EV_TERMINATED, 0));
    /* Watching an actor that is already gone answers at once. */
    au_send(watcher, ((probe_msg){ .tag = probe_msg_watch, .watch = target }));
    assert_true(recorder_wait(&wlog, 4, 30000));
    assert_int_equal(recorder_at(&wlog, 3), EV(EV_TERMINATED, 0));
    au_node_stop(node);
    recorder_destroy(&wlog);
    recorder_destroy(&tlog);
}

/* ---- ask ------------------------------------------------------------------------------------------ */

static void ask_from_a_thread_gets_the_reply(void **s) {
    recorder log;
    recorder_init(&log);
    au_node *node = start_node(2);
    probe_msg_ref p = au_spawn(node, probe_actor, NULL, &(probe){ .log = &log });
    int64_t_promise pr = au_promise_new(node, int64_t);
    assert_non_null(pr.raw);
    au_send(p, ((probe_msg){ .tag = probe_msg_reply_to, .reply_to = au_promise_ref(pr, int64_t) }));
    int64_t answer = 0;
    assert_int_equal(au_promise_wait(pr, int64_t, &answer, AU_SEC(30)), AU_OK);
    assert_int_equal(answer, 42);
    au_node_stop(node);
    recorder_destroy(&log);
}

static void ask_from_a_thread_times_out_without_reply(void **s) {
    au_node *node = start_node(2);
    int64_t_promise pr = au_promise_new(node, int64_t);
    int64_t answer = -1;
    uint64_t t0 = test_now_ns();
    assert_int_equal(au_promise_wait(pr, int64_t, &answer, AU_MSEC(50)), AU_ETIMEDOUT);
    assert_true(test_now_ns() - t0 >= AU_MSEC(50));
    assert_int_equal(answer, -1);
    au_node_stop(node);
}

static void ask_from_an_actor_gets_reply_or_timeout(void **s) {
    recorder alog, blog;
    recorder_init(&alog);
    recorder_init(&blog);
    au_node *node = start_node(2);
    probe_msg_ref a = au_spawn(node, probe_actor, NULL, &(probe){ .log = &alog });
    probe_msg_ref b = au_spawn(node, probe_actor, NULL, &(probe){ .log = &blog });
    au_send(a, ((probe_msg){ .tag = probe_msg_ask, .ask = b })); /* b replies 42 */
    assert_true(recorder_wait(&alog, 2, 30000));
    assert_int_equal(recorder_at(&alog, 1), EV(EV_REPLY, 42));
    /* Now ask an actor that is gone: the callback reports the timeout. */
    au_stop(b);
    assert_true(recorder_wait(&blog, 2, 30000));
    /* The first ask had 30 s for its reply; this one, to nobody, times out after 200 ms. */
    au_send(a, ((probe_msg){ .tag = probe_msg_set_ask_timeout, .set_ask_timeout = AU_MSEC(200) }));
    au_send(a, ((probe_msg){ .tag = probe_msg_ask, .ask = b }));
    assert_true(recorder_wait(&alog, 3, 30000));
    assert_int_equal(recorder_at(&alog, 2), EV(EV_ASK_TIMEOUT, 1));
    au_node_stop(node);
    recorder_destroy(&alog);
    recorder_destroy(&blog);
}

/* ---- names, dedicated threads, stale references ----------------------------------------------- */

AU_ROOT(other_msg, (n, int64_t, AU_REMOTE));
static void other_recv(au_ctx *ctx, probe *self, other_msg *m) {}
AU_ACTOR(other_actor, probe, other_msg, .recv = other_recv);

static void names_are_unique_per_root_type(void **s) {
    recorder log;
    recorder_init(&log);
    au_node *node = start_node(1);
    probe_msg_ref a = au_spawn(node, probe_actor, "svc", &(probe){ .log = &log });
    assert_false(au_ref_is_null(a.raw));
    probe_msg_ref dup = au_spawn(node, probe_actor, "svc", &(probe){ .log = &log });
    assert_true(au_ref_is_null(dup.raw));
    assert_int_equal(au_last_error(), AU_EEXIST);
    other_msg_ref o = au_spawn(node, other_actor, "svc", NULL); /* another root type: allowed */
    assert_false(au_ref_is_null(o.raw));
    au_stop(a);
    assert_true(recorder_wait(&log, 2, 30000));
    /* The name is free again once its actor stopped. */
    probe_msg_ref again = au_spawn(node, probe_actor, "svc", &(probe){ .log = &log });
    assert_false(au_ref_is_null(again.raw));
    au_node_stop(node);
    recorder_destroy(&log);
}

static void dedicated_actor_may_block_without_stalling_others(void **s) {
    recorder blog, olog;
    recorder_init(&blog);
    recorder_init(&olog);
    gate g;
    gate_init(&g);
    au_node *node = start_node(1); /* one worker: a blocking pooled actor would stall it */
    probe_msg_ref blocker = au_spawn_with(node, probe_actor, au_opts(.dedicated = true),
                                          &(probe){ .log = &blog, .gate = &g });
    probe_msg_ref other = au_spawn(node, probe_actor, NULL, &(probe){ .log = &olog });
    assert_false(au_ref_is_null(blocker.raw));
    /* The dedicated actor blocks in its hook until the test opens the gate; meanwhile the
     * pooled one answers everything. */
    assert_true(recorder_wait(&blog, 1, 30000));
    au_send(blocker, ((probe_msg){ .tag = probe_msg_block }));
    assert_true(wait_until(gate_entered, &g, 30000));
    for (int i = 1; i <= 100; i++) send_value(other, i);
    assert_true(recorder_wait(&olog, 101, 30000));
    assert_int_equal(recorder_count(&blog), 1); /* still blocked: the gate is closed */
    for (int i = 1; i <= 3; i++) send_value(blocker, i);
    gate_open(&g);
    au_stop(blocker);
    assert_true(recorder_wait(&blog, 6, 30000)); /* pre, block, 1, 2, 3, post */
    assert_int_equal(recorder_at(&blog, 1), EV(EV_MSG, -1));
    assert_int_equal(recorder_at(&blog, 5), EV(EV_POST, 0));
    au_node_stop(node);
    gate_destroy(&g);
    recorder_destroy(&blog);
    recorder_destroy(&olog);
}

static bool no_actor_live(void *node) {
    au_node_stats st;
    au_node_stats_get(node, &st);
    return st.actors_live == 0;
}

static void stale_reference_never_reaches_a_reused_cell(void **s) {
    recorder a, b;
    recorder_init(&a);
    recorder_init(&b);
    au_node *node = start_node(1);
    probe_msg_ref old = au_spawn(node, probe_actor, NULL, &(probe){ .log = &a });
    au_stop(old);
    assert_true(recorder_wait(&a, 2, 30000));
    assert_true(wait_until(no_actor_live, node, 30000));
    /* The freed cell is reused by the next spawn of the same size. */
    probe_msg_ref fresh = au_spawn(node, probe_actor, NULL, &(probe){ .log = &b });
    assert_ptr_equal(fresh.raw.target, old.raw.target);
    assert_int_equal(au_send(au_narrow(probe_msg, int64_t, old), (int64_t)1), AU_ESTOPPED);
    send_value(fresh, 2);
    assert_true(recorder_wait(&b, 2, 30000));
    assert_int_equal(recorder_at(&b, 1), EV(EV_MSG, 2));
    au_node_stop(node);
    assert_int_equal(recorder_count(&a), 2);
    recorder_destroy(&a);
    recorder_destroy(&b);
}

/* ---- node stop ------------------------------------------------------------------------------- */

AU_ROOT(chatter_msg, (peer, chatter_msg_ref, AU_PLAIN), (n, int64_t, AU_REMOTE));
typedef struct chatter {
    chatter_msg_ref peer;
    _Atomic int *post_stops;
} chatter;
static void chatter_recv(au_ctx *ctx, chatter *self, chatter_msg *m) {
    if (m->tag == chatter_msg_peer) {
        self->peer = m->peer;
        for (int i = 0; i < 8; i++) au_send(au_narrow(chatter_msg, int64_t, self->peer), (int64_t)i);
    } else {
        au_send(au_narrow(chatter_msg, int64_t, self->peer), m->n + 1); /* forever */
    }
}
static void chatter_post_stop(au_ctx *ctx, chatter *self) { atomic_fetch_add(self->post_stops, 1); }
AU_ACTOR(chatter_actor, chatter, chatter_msg, .recv = chatter_recv, .post_stop = chatter_post_stop);

static void node_stop_with_busy_actors_runs_every_post_stop(void **s) {
    _Atomic int post_stops = 0;
    au_node *node = start_node(2);
    enum { N = 50 };
    chatter_msg_ref refs[N];
    for (int i = 0; i < N; i++) refs[i] = au_spawn(node, chatter_actor, NULL, &(chatter){ .post_stops = &post_stops });
    for (int i = 0; i < N; i++)
        au_send(refs[i], ((chatter_msg){ .tag = chatter_msg_peer, .peer = refs[(i + 1) % N] }));
    struct timespec d = { 0, 20000000 }; /* let them get busy; the assertion does not depend on it */
    nanosleep(&d, NULL);
    au_node_stop(node);
    assert_int_equal(atomic_load(&post_stops), N);
}

typedef struct waiter_arg { int64_t_promise p; au_err result; } waiter_arg;
static void *waiter_main(void *a) {
    waiter_arg *w = a;
    int64_t out;
    w->result = au_promise_wait(w->p, int64_t, &out, AU_SEC(3600));
    return NULL;
}

static void a_thread_waiting_on_a_promise_is_released_by_node_stop(void **s) {
    au_node *node = start_node(2);
    waiter_arg w = { .p = au_promise_new(node, int64_t), .result = AU_OK };
    pthread_t t;
    pthread_create(&t, NULL, waiter_main, &w);
    /* node.h: no thread may start using the node while it stops: stop once it waits */
    au_node_stats st = { 0 };
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (now = t0; !st.promise_waits && now.tv_sec - t0.tv_sec < 30; clock_gettime(CLOCK_MONOTONIC, &now)) {
        nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
        au_node_stats_get(node, &st);
    }
    assert_int_equal(st.promise_waits, 1);
    au_node_stop(node); /* the reply never comes; the hour-long wait must not outlive the node */
    pthread_join(t, NULL);
    assert_int_equal(w.result, AU_ESTOPPED);
}

/* Parents that keep spawning children while the node stops: every one of them must be stopped,
 * including those spawned after the stop began, or au_node_stop would wait forever. */
AU_ROOT(spawner_msg, (again, int64_t, AU_REMOTE));
typedef struct spawner { int unused; } spawner;
static void child_recv(au_ctx *ctx, spawner *self, spawner_msg *m) {}
AU_ACTOR(child_actor, spawner, spawner_msg, .recv = child_recv);
static void spawner_recv(au_ctx *ctx, spawner *self, spawner_msg *m) {
    for (int i = 0; i < 64; i++) au_spawn(au_ctx_node(ctx), child_actor, NULL, NULL);
    au_send(au_narrow(spawner_msg, int64_t, au_self(ctx, spawner_msg)), m->again + 1);
}
AU_ACTOR(spawner_actor, spawner, spawner_msg, .recv = spawner_recv);

static void node_stop_while_actors_keep_spawning_returns(void **s) {
    for (int round = 0; round < 20; round++) {
        au_node *node = start_node(2);
        for (int i = 0; i < 3; i++) {
            spawner_msg_ref p = au_spawn(node, spawner_actor, NULL, NULL);
            au_send(au_narrow(spawner_msg, int64_t, p), (int64_t)0);
        }
        au_node_stop(node); /* a hang here is the failure (ctest's timeout) */
    }
}

static void invalid_configuration_is_an_error_not_an_abort(void **s) {
    au_node *node = (au_node *)1;
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 100000, .no_network = true }, &node), AU_ECONFIG);
    assert_null(node);
    assert_int_equal(au_node_start(&(au_node_config){ .mtu = 10, .no_network = true }, &node), AU_ECONFIG);
    assert_int_equal(au_node_start(NULL, NULL), AU_EINVAL);
    assert_string_equal(au_strerror(AU_ECONFIG), "invalid configuration");
    assert_string_equal(au_strerror(12345), "unknown error");
}

int main(void) {
    au_log_set_level(AU_LOG_CORE, AU_LOG_OFF);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hooks_run_in_order_pre_start_messages_post_stop),
        cmocka_unit_test(term_is_processed_after_the_messages_queued_before_it),
        cmocka_unit_test(stop_self_drops_messages_still_queued),
        cmocka_unit_test(receive_timeout_fires_after_inactivity_and_rearms),
        cmocka_unit_test(messages_postpone_the_receive_timeout),
        cmocka_unit_test(a_hook_can_clear_the_receive_timeout),
        cmocka_unit_test(timer_delivers_after_its_delay),
        cmocka_unit_test(cancelled_timer_never_delivers),
        cmocka_unit_test(pending_timers_are_freed_at_node_stop),
        cmocka_unit_test(watcher_is_told_when_the_watched_actor_stops),
        cmocka_unit_test(ask_from_a_thread_gets_the_reply),
        cmocka_unit_test(ask_from_a_thread_times_out_without_reply),
        cmocka_unit_test(ask_from_an_actor_gets_reply_or_timeout),
        cmocka_unit_test(names_are_unique_per_root_type),
        cmocka_unit_test(dedicated_actor_may_block_without_stalling_others),
        cmocka_unit_test(stale_reference_never_reaches_a_reused_cell),
        cmocka_unit_test(node_stop_with_busy_actors_runs_every_post_stop),
        cmocka_unit_test(a_thread_waiting_on_a_promise_is_released_by_node_stop),
        cmocka_unit_test(node_stop_while_actors_keep_spawning_returns),
        cmocka_unit_test(invalid_configuration_is_an_error_not_an_abort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
