/* test_watch_churn.c — a watch ends when its watcher stops: short-lived actors watching a
 * long-lived one leave its list (the local_watches gauge comes back to what is still watched),
 * however many come and go, and the ones still watching are told when it stops. Waits allow
 * 30 s and are on conditions (the gauge, the stop counter, a recorder). */
#include <aurum/aurum.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "support/recorder.h"

enum { EV_MSG = 2, EV_TERMINATED = 5 };
#define EV(kind, v) ((int64_t)(kind) * 1000 + (v))

AU_ROOT(probe_msg,
        (value, int64_t, AU_PLAIN),
        (watch, probe_msg_ref, AU_PLAIN),
        (unwatch, probe_msg_ref, AU_PLAIN));

typedef struct probe {
    recorder *log;
    probe_msg_ref targets[4]; /* watched in pre_start */
    size_t ntargets;
    bool self_watch;          /* also watches itself */
    bool stop_at_once;        /* stops itself in pre_start, after watching */
} probe;

static void probe_pre_start(au_ctx *ctx, probe *self) {
    for (size_t i = 0; i < self->ntargets; i++)
        assert_int_equal(au_watch(ctx, self->targets[i]), AU_OK);
    if (self->self_watch) assert_int_equal(au_watch(ctx, au_self(ctx, probe_msg)), AU_OK);
    if (self->stop_at_once) au_stop_self(ctx);
}

static void probe_recv(au_ctx *ctx, probe *self, probe_msg *msg) {
    switch (msg->tag) {
    case probe_msg_value:
        if (self->log) recorder_add(self->log, EV(EV_MSG, msg->value));
        break;
    case probe_msg_watch:
        assert_int_equal(au_watch(ctx, msg->watch), AU_OK);
        break;
    case probe_msg_unwatch:
        assert_int_equal(au_unwatch(ctx, msg->unwatch), AU_OK);
        break;
    }
}

static void probe_terminated(au_ctx *ctx, probe *self, au_ref who) {
    if (self->log) recorder_add(self->log, EV(EV_TERMINATED, 0));
}

AU_ACTOR(probe_actor, probe, probe_msg, .pre_start = probe_pre_start, .recv = probe_recv,
         .terminated = probe_terminated);

/* For watches through a remote reference: a remotely reachable root, and a watcher that watches
 * one such reference in pre_start (and stops at once, unless it is a keeper). */
AU_ROOT(job_msg, (ping, int64_t, AU_REMOTE));
typedef struct job { int unused; } job;
static void job_recv(au_ctx *ctx, job *self, job_msg *m) {}
AU_ACTOR(job_actor, job, job_msg, .recv = job_recv);

typedef struct rwatcher {
    recorder *log;
    job_msg_ref target;
    bool stop_at_once;
} rwatcher;
static void rwatcher_pre_start(au_ctx *ctx, rwatcher *self) {
    assert_int_equal(au_watch(ctx, self->target), AU_OK);
    if (self->log) recorder_add(self->log, EV(EV_MSG, 0));
    if (self->stop_at_once) au_stop_self(ctx);
}
static void rwatcher_recv(au_ctx *ctx, rwatcher *self, job_msg *m) {}
static void rwatcher_terminated(au_ctx *ctx, rwatcher *self, au_ref who) {
    if (self->log) recorder_add(self->log, EV(EV_TERMINATED, 0));
}
AU_ACTOR(rwatcher_actor, rwatcher, job_msg, .pre_start = rwatcher_pre_start,
         .recv = rwatcher_recv, .terminated = rwatcher_terminated);

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

typedef struct want {
    au_node *node;
    uint64_t stopped;  /* actors_stopped at least */
    uint64_t watches;  /* local_watches exactly */
} want;

static bool reached(void *arg) {
    const want *w = arg;
    au_node_stats st = stats_of(w->node);
    return st.actors_stopped >= w->stopped && st.local_watches == w->watches;
}

/* 3,000 actors watch one that runs on, then stop: none of them stays in its list. Before, each
 * left an entry there until the watched actor stopped (the gauge would read 3,000). */
static void watchers_that_stop_leave_the_watched_actors_list(void **s) {
    recorder keep_log;
    recorder_init(&keep_log);
    au_node *node = start_node();
    probe_msg_ref server = au_spawn(node, probe_actor, NULL, &(probe){ 0 });
    probe_msg_ref other = au_spawn(node, probe_actor, NULL, &(probe){ 0 });
    /* One that keeps watching both, to be told at the end. */
    probe_msg_ref keeper = au_spawn(node, probe_actor, NULL,
                                    &(probe){ .log = &keep_log, .targets = { server, other },
                                              .ntargets = 2 });
    au_send(keeper, ((probe_msg){ .tag = probe_msg_value, .value = 1 }));
    assert_true(recorder_wait(&keep_log, 1, 30000)); /* after pre_start: its watches are in */
    assert_true(wait_until(reached, &(want){ node, 0, 2 }, 30000));

    enum { CHURN = 3000 };
    for (int i = 0; i < CHURN; i++) {
        probe st = { .targets = { server, other, server }, .ntargets = 3, /* a repeat: one watch */
                     .self_watch = i % 7 == 0, .stop_at_once = true };
        probe_msg_ref w = au_spawn(node, probe_actor, NULL, &st);
        assert_non_null(w.raw.target);
    }
    assert_true(wait_until(reached, &(want){ node, CHURN, 2 }, 30000));

    /* The keeper still watches: the server's stop reaches it, and only it. */
    au_stop(server);
    assert_true(recorder_wait(&keep_log, 2, 30000));
    assert_int_equal(recorder_at(&keep_log, 1), EV(EV_TERMINATED, 0));
    assert_true(wait_until(reached, &(want){ node, CHURN + 1, 1 }, 30000));
    /* And the keeper's own stop ends its watch of `other`. */
    au_stop(keeper);
    assert_true(wait_until(reached, &(want){ node, CHURN + 2, 0 }, 30000));
    au_node_stop(node);
    assert_int_equal(recorder_count(&keep_log), 2);
    recorder_destroy(&keep_log);
}

/* au_unwatch takes the watch out of the gauge; watching again puts it back once. */
static void unwatch_and_rewatch_are_counted_once(void **s) {
    recorder log;
    recorder_init(&log);
    au_node *node = start_node();
    probe_msg_ref target = au_spawn(node, probe_actor, NULL, &(probe){ 0 });
    probe_msg_ref w = au_spawn(node, probe_actor, NULL, &(probe){ .log = &log });
    for (int round = 0; round < 50; round++) {
        au_send(w, ((probe_msg){ .tag = probe_msg_watch, .watch = target }));
        au_send(w, ((probe_msg){ .tag = probe_msg_watch, .watch = target }));
        au_send(w, ((probe_msg){ .tag = probe_msg_value, .value = round }));
        assert_true(recorder_wait(&log, (size_t)(2 * round + 1), 30000));
        assert_int_equal(stats_of(node).local_watches, 1);
        au_send(w, ((probe_msg){ .tag = probe_msg_unwatch, .unwatch = target }));
        au_send(w, ((probe_msg){ .tag = probe_msg_value, .value = round }));
        assert_true(recorder_wait(&log, (size_t)(2 * round + 2), 30000));
        assert_int_equal(stats_of(node).local_watches, 0);
    }
    /* Unwatched: the target's stop tells nobody. */
    au_stop(target);
    assert_true(wait_until(reached, &(want){ node, 1, 0 }, 30000));
    au_send(w, ((probe_msg){ .tag = probe_msg_value, .value = 99 }));
    assert_true(recorder_wait(&log, 101, 30000));
    assert_int_equal(recorder_at(&log, 100), EV(EV_MSG, 99));
    au_node_stop(node);
    recorder_destroy(&log);
}

/* A watcher spawned into the slot of a stopped watcher is not told of its predecessor's
 * watches, and the watched actor's list holds only the live one. */
static void a_reused_slot_does_not_inherit_watches(void **s) {
    au_node *node = start_node();
    probe_msg_ref target = au_spawn(node, probe_actor, NULL, &(probe){ 0 });
    for (int i = 0; i < 200; i++)
        au_spawn(node, probe_actor, NULL,
                 &(probe){ .targets = { target }, .ntargets = 1, .stop_at_once = true });
    assert_true(wait_until(reached, &(want){ node, 200, 0 }, 30000));
    recorder log;
    recorder_init(&log);
    probe_msg_ref fresh[8];
    for (int i = 0; i < 8; i++)
        fresh[i] = au_spawn(node, probe_actor, NULL, &(probe){ .log = &log });
    au_send(fresh[0], ((probe_msg){ .tag = probe_msg_watch, .watch = target }));
    for (int i = 0; i < 8; i++)
        au_send(fresh[i], ((probe_msg){ .tag = probe_msg_value, .value = i }));
    assert_true(recorder_wait(&log, 8, 30000));
    assert_int_equal(stats_of(node).local_watches, 1);
    au_stop(target);
    assert_true(recorder_wait(&log, 9, 30000));
    for (int i = 0; i < 8; i++)
        au_send(fresh[i], ((probe_msg){ .tag = probe_msg_value, .value = 10 + i }));
    assert_true(recorder_wait(&log, 17, 30000));
    size_t told = 0;
    for (size_t i = 0; i < recorder_count(&log); i++)
        told += recorder_at(&log, i) == EV(EV_TERMINATED, 0);
    assert_int_equal(told, 1);
    assert_int_equal(stats_of(node).local_watches, 0);
    au_node_stop(node);
    recorder_destroy(&log);
}


/* Watchers on another node of the process (a local reference from au_spawn there) leave the
 * watched actor's list when they stop too. Before, they stayed until the watched actor stopped:
 * the gauge of its node would read 1,001. */
static void watchers_of_another_node_that_stop_leave_the_list(void **s) {
    recorder keep_log;
    recorder_init(&keep_log);
    au_node *home = start_node(), *other = start_node();
    probe_msg_ref server = au_spawn(home, probe_actor, NULL, &(probe){ 0 });
    probe_msg_ref keeper = au_spawn(other, probe_actor, NULL,
                                    &(probe){ .log = &keep_log, .targets = { server }, .ntargets = 1 });
    au_send(keeper, ((probe_msg){ .tag = probe_msg_value, .value = 1 }));
    assert_true(recorder_wait(&keep_log, 1, 30000));
    assert_true(wait_until(reached, &(want){ home, 0, 1 }, 30000));

    enum { CHURN = 1000 };
    for (int i = 0; i < CHURN; i++) {
        /* half of them also watch an actor of their own node */
        probe st = { .targets = { server, keeper }, .ntargets = i % 2 ? 2 : 1, .stop_at_once = true };
        assert_non_null(au_spawn(other, probe_actor, NULL, &st).raw.target);
    }
    assert_true(wait_until(reached, &(want){ other, CHURN, 0 }, 30000));
    assert_true(wait_until(reached, &(want){ home, 0, 1 }, 30000));

    /* The keeper is still told, once; its own stop then empties the list. */
    au_stop(server);
    assert_true(recorder_wait(&keep_log, 2, 30000));
    assert_int_equal(recorder_at(&keep_log, 1), EV(EV_TERMINATED, 0));
    assert_true(wait_until(reached, &(want){ home, 1, 0 }, 30000));
    probe_msg_ref server2 = au_spawn(home, probe_actor, NULL, &(probe){ 0 });
    au_send(keeper, ((probe_msg){ .tag = probe_msg_watch, .watch = server2 }));
    assert_true(wait_until(reached, &(want){ home, 1, 1 }, 30000));
    au_stop(keeper);
    assert_true(wait_until(reached, &(want){ home, 1, 0 }, 30000));
    /* The watching node stopped first: a later watcher stop there has nothing to reach. */
    probe_msg_ref late = au_spawn(other, probe_actor, NULL, &(probe){ .targets = { server2 }, .ntargets = 1 });
    assert_non_null(late.raw.target);
    assert_true(wait_until(reached, &(want){ home, 1, 1 }, 30000));
    au_node_stop(home);
    au_node_stop(other);
    assert_int_equal(recorder_count(&keep_log), 2);
    recorder_destroy(&keep_log);
}

static au_node *start_networked(void) {
    au_node *node = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 2, .bind = "127.0.0.1:0" }, &node),
                     AU_OK);
    return node;
}

typedef struct want_remote {
    au_node *via, *target;
    uint64_t watches, watched;
} want_remote;

static bool remote_reached(void *arg) {
    const want_remote *w = arg;
    return stats_of(w->via).remote_watches == w->watches &&
           stats_of(w->target).remote_watched == w->watched;
}

/* Watchers on one node watching through a remote reference of another node of the process end
 * those watches when they stop: the node the reference sends through unwatches once the last
 * one has gone, and the target's node forgets the watch. Before, they stayed in that node's
 * table until the watched actor stopped, and the watch with them. */
static void remote_watches_through_another_node_end_with_their_watchers(void **s) {
    au_node *target = start_networked(), *via = start_networked(), *home = start_node();
    job_msg_ref server = au_spawn(target, job_actor, "job", NULL);
    assert_non_null(server.raw.target);
    job_msg_ref remote = au_forge(job_msg, job_msg, via, "job", au_node_address(target));
    assert_false(au_ref_is_null(remote.raw));

    enum { CHURN = 300 };
    for (int i = 0; i < CHURN; i++)
        assert_non_null(au_spawn(home, rwatcher_actor, NULL,
                                 &(rwatcher){ .target = remote, .stop_at_once = true }).raw.target);
    assert_true(wait_until(reached, &(want){ home, CHURN, 0 }, 30000));
    assert_true(wait_until(remote_reached, &(want_remote){ via, target, 0, 0 }, 30000));

    /* A watcher that stays is still told when the actor stops. */
    recorder log;
    recorder_init(&log);
    assert_non_null(au_spawn(home, rwatcher_actor, NULL,
                             &(rwatcher){ .log = &log, .target = remote }).raw.target);
    assert_true(recorder_wait(&log, 1, 30000));
    assert_true(wait_until(remote_reached, &(want_remote){ via, target, 1, 1 }, 30000));
    assert_int_equal(au_stop(server), AU_OK);
    assert_true(recorder_wait(&log, 2, 30000));
    assert_int_equal(recorder_at(&log, 1), EV(EV_TERMINATED, 0));
    assert_true(wait_until(remote_reached, &(want_remote){ via, target, 0, 0 }, 30000));
    au_node_stop(home);
    au_node_stop(via);
    au_node_stop(target);
    recorder_destroy(&log);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(watchers_that_stop_leave_the_watched_actors_list),
        cmocka_unit_test(unwatch_and_rewatch_are_counted_once),
        cmocka_unit_test(a_reused_slot_does_not_inherit_watches),
        cmocka_unit_test(watchers_of_another_node_that_stop_leave_the_list),
        cmocka_unit_test(remote_watches_through_another_node_end_with_their_watchers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
