/* test_watch_across_nodes.c — death watch through a local reference to an actor of another node
 * of the same process (au_spawn on that node): the watcher is told when the actor stops, or
 * when its node is stopped; a watcher's node stopped first is never reached afterwards. Waits
 * allow 30 s; nothing is raced: an absence is checked behind a message queued after it. */
#include <aurum/aurum.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "support/recorder.h"

/* Events: kind * 1000 + value. */
enum { EV_MSG = 2, EV_POST = 3, EV_TERMINATED = 5, EV_FAILED = 9 };
#define EV(kind, v) ((int64_t)(kind) * 1000 + (v))

AU_ROOT(probe_msg,
        (value, int64_t, AU_REMOTE),
        (watch, probe_msg_ref, AU_PLAIN),
        (unwatch, probe_msg_ref, AU_PLAIN));

typedef struct probe {
    recorder *log;
    const probe_msg_ref *known; /* `terminated` records who's index here (or 99) */
    size_t nknown;
} probe;

static void probe_recv(au_ctx *ctx, probe *self, probe_msg *msg) {
    switch (msg->tag) {
    case probe_msg_value:
        recorder_add(self->log, EV(EV_MSG, msg->value));
        break;
    case probe_msg_watch:
        if (au_watch(ctx, msg->watch) != AU_OK) recorder_add(self->log, EV(EV_FAILED, 0));
        break;
    case probe_msg_unwatch:
        if (au_unwatch(ctx, msg->unwatch) != AU_OK) recorder_add(self->log, EV(EV_FAILED, 1));
        break;
    }
}

static void probe_post_stop(au_ctx *ctx, probe *self) { recorder_add(self->log, EV(EV_POST, 0)); }

static void probe_terminated(au_ctx *ctx, probe *self, au_ref who) {
    size_t i = 0;
    while (i < self->nknown && !au_ref_equal(who, self->known[i].raw)) i++;
    recorder_add(self->log, EV(EV_TERMINATED, i < self->nknown ? (int64_t)i : 99));
}

AU_ACTOR(probe_actor, probe, probe_msg, .recv = probe_recv, .post_stop = probe_post_stop,
         .terminated = probe_terminated);

static au_node *start_node(void) {
    au_node *node = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 2, .no_network = true }, &node),
                     AU_OK);
    return node;
}

static void send_value(probe_msg_ref r, int64_t v) {
    assert_int_equal(au_send(au_narrow(probe_msg, int64_t, r), v), AU_OK);
}

static void send_watch(probe_msg_ref watcher, probe_msg_ref target) {
    assert_int_equal(au_send(watcher, ((probe_msg){ .tag = probe_msg_watch, .watch = target })),
                     AU_OK);
}

/* Sends v to the watcher and waits until the log holds n entries, the last being v: whatever
 * was queued to the watcher before it has been handled. */
static void sync_on(recorder *log, probe_msg_ref watcher, int64_t v, size_t n) {
    send_value(watcher, v);
    assert_true(recorder_wait(log, n, 30000));
    assert_int_equal(recorder_at(log, n - 1), EV(EV_MSG, v));
}

static void watcher_is_told_when_an_actor_of_another_node_stops(void **s) {
    recorder wlog, tlog;
    recorder_init(&wlog);
    recorder_init(&tlog);
    au_node *a = start_node(), *b = start_node();
    probe_msg_ref target = au_spawn(b, probe_actor, NULL, &(probe){ .log = &tlog });
    probe_msg_ref known[] = { target };
    probe_msg_ref watcher =
        au_spawn(a, probe_actor, NULL, &(probe){ .log = &wlog, .known = known, .nknown = 1 });
    send_watch(watcher, target);
    sync_on(&wlog, watcher, 1, 1); /* the watch is in place */
    assert_int_equal(au_stop(target), AU_OK);
    assert_true(recorder_wait(&wlog, 2, 30000));
    assert_int_equal(recorder_at(&wlog, 1), EV(EV_TERMINATED, 0));
    /* Watching it now that it is gone answers at once, as on one node. */
    send_watch(watcher, target);
    assert_true(recorder_wait(&wlog, 3, 30000));
    assert_int_equal(recorder_at(&wlog, 2), EV(EV_TERMINATED, 0));
    au_node_stop(b);
    au_node_stop(a);
    assert_int_equal(recorder_count(&wlog), 4); /* and its post_stop: nothing else */
    recorder_destroy(&wlog);
    recorder_destroy(&tlog);
}

static void stopping_the_watched_actors_node_tells_its_watchers_once_each(void **s) {
    recorder wlog, tlog;
    recorder_init(&wlog);
    recorder_init(&tlog);
    au_node *a = start_node(), *b = start_node();
    probe_msg_ref t0 = au_spawn(b, probe_actor, NULL, &(probe){ .log = &tlog });
    probe_msg_ref t1 = au_spawn(b, probe_actor, NULL, &(probe){ .log = &tlog });
    probe_msg_ref known[] = { t0, t1 };
    probe_msg_ref watcher =
        au_spawn(a, probe_actor, NULL, &(probe){ .log = &wlog, .known = known, .nknown = 2 });
    send_watch(watcher, t0);
    send_watch(watcher, t0); /* watched already: still one notice */
    send_watch(watcher, t1);
    assert_int_equal(au_send(watcher, ((probe_msg){ .tag = probe_msg_unwatch, .unwatch = t1 })),
                     AU_OK);
    sync_on(&wlog, watcher, 1, 1);
    au_node_stop(b); /* every notice of its stop is queued to the watcher once it returns */
    sync_on(&wlog, watcher, 2, 3);
    assert_int_equal(recorder_at(&wlog, 1), EV(EV_TERMINATED, 0)); /* t1 was unwatched */
    au_node_stop(a);
    recorder_destroy(&wlog);
    recorder_destroy(&tlog);
}

static void a_watcher_node_stopped_first_is_not_reached_by_the_later_stop(void **s) {
    recorder wlog, tlog, clog;
    recorder_init(&wlog);
    recorder_init(&tlog);
    recorder_init(&clog);
    au_node *a = start_node(), *b = start_node();
    probe_msg_ref target = au_spawn(b, probe_actor, NULL, &(probe){ .log = &tlog });
    probe_msg_ref watcher = au_spawn(a, probe_actor, NULL, &(probe){ .log = &wlog });
    send_watch(watcher, target);
    sync_on(&wlog, watcher, 1, 1);
    au_node_stop(a); /* frees the watcher's cell; b still holds the watch */
    assert_int_equal(recorder_count(&wlog), 2); /* its post_stop */
    /* A new node, perhaps in a's memory, with actors perhaps in its cells: none is told. */
    au_node *c = start_node();
    probe_msg_ref others[8];
    for (int i = 0; i < 8; i++) others[i] = au_spawn(c, probe_actor, NULL, &(probe){ .log = &clog });
    assert_int_equal(au_stop(target), AU_OK);
    assert_true(recorder_wait(&tlog, 1, 30000));
    au_node_stop(b); /* the stop's notices are all out once it returns */
    sync_on(&clog, others[0], 1, 1);
    for (int i = 1; i < 8; i++) sync_on(&clog, others[i], 1 + i, 1 + (size_t)i);
    au_node_stop(c);
    assert_int_equal(recorder_count(&clog), 16); /* 8 values, 8 post_stops: no terminated */
    for (size_t i = 0; i < 16; i++) assert_int_not_equal(recorder_at(&clog, i) / 1000, EV_TERMINATED);
    recorder_destroy(&wlog);
    recorder_destroy(&tlog);
    recorder_destroy(&clog);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(watcher_is_told_when_an_actor_of_another_node_stops),
        cmocka_unit_test(stopping_the_watched_actors_node_tells_its_watchers_once_each),
        cmocka_unit_test(a_watcher_node_stopped_first_is_not_reached_by_the_later_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
