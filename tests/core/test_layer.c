/* test_layer.c — what library layers get from a node (aurum/layer.h): their place in the stop
 * order, the node's incarnation, peer events, and remote death watch ended by au_peer_gone. */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "support/recorder.h"

AU_ROOT(tick_msg, (tick, int64_t, AU_REMOTE));

/* ---- stop order ----------------------------------------------------------------------------- */

enum { USER = 1, LAYER1 = 10, LAYER2 = 20, STOPPING = 1, POST_STOP = 2, FREE = 3 };

typedef struct member {
    recorder *log;
    int64_t who;
    int64_t_ref goodbye; /* if set: post_stop sends here */
} member;

static void member_recv(au_ctx *ctx, member *self, tick_msg *m) {}
static void member_post_stop(au_ctx *ctx, member *self) {
    recorder_add(self->log, self->who + POST_STOP);
    if (!au_ref_is_null(self->goodbye.raw)) au_send(self->goodbye, self->who);
}
AU_ACTOR(member_actor, member, tick_msg, .recv = member_recv, .post_stop = member_post_stop);

typedef struct layer_state {
    recorder *log;
    int64_t who;
} layer_state;

static void layer_stopping(au_node *node, void *arg) {
    layer_state *l = arg;
    recorder_add(l->log, l->who + STOPPING);
}
static void layer_free(void *arg) {
    layer_state *l = arg;
    recorder_add(l->log, l->who + FREE);
}

static void node_stop_stops_user_actors_then_layers_last_attached_first(void **s) {
    recorder log;
    recorder_init(&log);
    au_node *node;
    assert_int_equal(au_node_start(&(au_node_config){ .no_network = true, .workers = 2 }, &node), AU_OK);
    layer_state s1 = { &log, LAYER1 }, s2 = { &log, LAYER2 };
    au_layer *l1 = au_layer_attach(node, &(au_layer_def){ .name = "one", .stopping = layer_stopping,
                                                           .free = layer_free, .arg = &s1 });
    au_layer *l2 = au_layer_attach(node, &(au_layer_def){ .name = "two", .stopping = layer_stopping,
                                                           .free = layer_free, .arg = &s2 });
    assert_non_null(l1);
    assert_non_null(l2);
    /* Spawned in an order unlike the stop order, several of each. */
    for (int i = 0; i < 3; i++) {
        assert_false(au_ref_is_null(au_spawn_with(node, member_actor, au_opts(.layer = l1),
                                                  &(member){ .log = &log, .who = LAYER1 }).raw));
        assert_false(au_ref_is_null(au_spawn_with(node, member_actor, NULL, &(member){ .log = &log, .who = USER }).raw));
        assert_false(au_ref_is_null(au_spawn_with(node, member_actor, au_opts(.layer = l2),
                                                  &(member){ .log = &log, .who = LAYER2 }).raw));
    }
    au_node_stop(node);
    int64_t expected[] = { USER + POST_STOP, USER + POST_STOP, USER + POST_STOP,
                           LAYER2 + STOPPING, LAYER2 + POST_STOP, LAYER2 + POST_STOP, LAYER2 + POST_STOP,
                           LAYER1 + STOPPING, LAYER1 + POST_STOP, LAYER1 + POST_STOP, LAYER1 + POST_STOP,
                           LAYER2 + FREE, LAYER1 + FREE };
    assert_int_equal(recorder_count(&log), sizeof expected / sizeof expected[0]);
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++)
        assert_int_equal(recorder_at(&log, i), expected[i]);
    recorder_destroy(&log);
}

static void a_layer_actor_can_still_send_remotely_while_its_node_stops(void **s) {
    recorder log;
    recorder_init(&log);
    au_node *a, *b;
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    assert_int_equal(au_node_start(NULL, &b), AU_OK);
    au_probe *p = au_probe_new_with(b, tick_msg, &(au_probe_opts){ .name = "inbox" });
    au_layer *l = au_layer_attach(a, &(au_layer_def){ .name = "cluster" });
    int64_t_ref inbox = au_forge(tick_msg, int64_t, a, "inbox", au_node_address(b));
    au_spawn_with(a, member_actor, au_opts(.layer = l),
                  &(member){ .log = &log, .who = LAYER1, .goodbye = inbox });
    au_node_stop(a); /* the goodbye leaves from post_stop, before a's transport closes */
    tick_msg got;
    assert_int_equal(au_probe_expect(p, tick_msg, &got, AU_SEC(10)), AU_OK);
    assert_int_equal(got.tick, LAYER1);
    au_probe_free(p);
    au_node_stop(b);
    recorder_destroy(&log);
}

static void layers_are_refused_beyond_the_limit_and_on_other_nodes(void **s) {
    au_node *a, *b;
    assert_int_equal(au_node_start(&(au_node_config){ .no_network = true }, &a), AU_OK);
    assert_int_equal(au_node_start(&(au_node_config){ .no_network = true }, &b), AU_OK);
    au_layer *first = NULL;
    for (int i = 0; i < AU_LAYERS_MAX; i++) {
        au_layer *l = au_layer_attach(a, &(au_layer_def){ .name = "l" });
        assert_non_null(l);
        if (!first) first = l;
    }
    assert_null(au_layer_attach(a, &(au_layer_def){ .name = "one too many" }));
    assert_int_equal(au_last_error(), AU_EFULL);
    /* A layer handle of node a cannot place an actor on node b. */
    assert_true(au_ref_is_null(au_spawn_with(b, member_actor, au_opts(.layer = first), NULL).raw));
    assert_int_equal(au_last_error(), AU_EINVAL);
    au_node_stop(a);
    au_node_stop(b);
}

/* ---- incarnation and peer events ---------------------------------------------------------- */

static void every_networked_node_has_its_own_incarnation(void **s) {
    au_node *a, *b, *local;
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    assert_int_equal(au_node_start(NULL, &b), AU_OK);
    assert_int_equal(au_node_start(&(au_node_config){ .no_network = true }, &local), AU_OK);
    assert_true(au_node_incarnation(a) != 0);
    assert_true(au_node_incarnation(a) != au_node_incarnation(b));
    assert_int_equal(au_node_incarnation(local), 0);
    au_node_stop(a);
    au_node_stop(b);
    au_node_stop(local);
}

typedef struct peer_log {
    pthread_mutex_t lock;
    recorder events; /* kinds */
    uint64_t incarnation, previous;
    char address[64];
} peer_log;

static void on_peer(au_node *node, const au_peer_event *ev, void *arg) {
    peer_log *l = arg;
    pthread_mutex_lock(&l->lock);
    l->incarnation = ev->incarnation;
    l->previous = ev->previous;
    snprintf(l->address, sizeof l->address, "%s", ev->address);
    pthread_mutex_unlock(&l->lock);
    recorder_add(&l->events, ev->kind);
}

static void send_tick(au_node *from, au_node *to, int64_t v) {
    assert_int_equal(au_send(au_forge(tick_msg, int64_t, from, "inbox", au_node_address(to)), v), AU_OK);
}

static void a_restarted_peer_is_reported_with_both_incarnations(void **s) {
    peer_log l = { .lock = PTHREAD_MUTEX_INITIALIZER };
    recorder_init(&l.events);
    au_node *a, *b;
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    assert_int_equal(au_peer_subscribe(a, on_peer, &l), AU_OK);
    au_probe *p = au_probe_new_with(a, tick_msg, &(au_probe_opts){ .name = "inbox" });
    tick_msg got;

    assert_int_equal(au_node_start(NULL, &b), AU_OK);
    char b_addr[64];
    snprintf(b_addr, sizeof b_addr, "%s", au_node_address(b));
    uint64_t first = au_node_incarnation(b);
    send_tick(b, a, 1);
    assert_int_equal(au_probe_expect(p, tick_msg, &got, AU_SEC(5)), AU_OK);
    assert_int_equal(recorder_count(&l.events), 0); /* first contact is no change */
    au_node_stop(b);

    /* The same address, a new process: a new incarnation. */
    assert_int_equal(au_node_start(&(au_node_config){ .bind = b_addr }, &b), AU_OK);
    send_tick(b, a, 2);
    assert_int_equal(au_probe_expect(p, tick_msg, &got, AU_SEC(5)), AU_OK);
    assert_true(recorder_wait(&l.events, 1, 5000));
    assert_int_equal(recorder_at(&l.events, 0), AU_PEER_INCARNATION);
    pthread_mutex_lock(&l.lock);
    assert_true(l.previous == first);
    assert_true(l.incarnation == au_node_incarnation(b));
    assert_string_equal(l.address, b_addr);
    pthread_mutex_unlock(&l.lock);

    au_probe_free(p);
    au_node_stop(b);
    au_node_stop(a);
    recorder_destroy(&l.events);
}

/* ---- remote death watch ---------------------------------------------------------------------- */

AU_ROOT(watcher_msg, (watch, tick_msg_ref, AU_PLAIN), (unwatch, tick_msg_ref, AU_PLAIN));

typedef struct watcher {
    int64_t_ref report; /* where results and terminated notices go */
} watcher;

static void watcher_recv(au_ctx *ctx, watcher *self, watcher_msg *m) {
    au_err err = m->tag == watcher_msg_watch ? au_watch(ctx, m->watch) : au_unwatch(ctx, m->unwatch);
    au_send(self->report, (int64_t)(err == AU_OK ? 100 : err));
}
static void watcher_terminated(au_ctx *ctx, watcher *self, au_ref who) {
    au_send(self->report, (int64_t)200);
}
AU_ACTOR(watcher_actor, watcher, watcher_msg, .recv = watcher_recv,
         .terminated = watcher_terminated);

typedef struct idle { int unused; } idle;
static void idle_recv(au_ctx *ctx, idle *self, tick_msg *m) {}
AU_ACTOR(idle_actor, idle, tick_msg, .recv = idle_recv);

/* The watched actors live (a watch on one that does not exist ends at once, see
 * tests/net/test_remote_watch.c): what ends these watches is their node declared gone. */
static void a_remote_watch_ends_in_terminated_when_its_node_is_declared_gone(void **s) {
    au_node *a, *b, *c;
    assert_int_equal(au_node_start(NULL, &a), AU_OK);
    assert_int_equal(au_node_start(NULL, &b), AU_OK);
    assert_int_equal(au_node_start(NULL, &c), AU_OK);
    assert_false(au_ref_is_null(au_spawn(b, idle_actor, "worker", NULL).raw));
    assert_false(au_ref_is_null(au_spawn(c, idle_actor, "worker", NULL).raw));
    au_probe *p = au_probe_new(a, tick_msg);
    watcher_msg_ref w = au_spawn(a, watcher_actor, NULL, &(watcher){ au_narrow(tick_msg, int64_t, au_probe_ref(p, tick_msg)) });
    tick_msg_ref on_b = au_forge(tick_msg, tick_msg, a, "worker", au_node_address(b));
    tick_msg_ref on_c = au_forge(tick_msg, tick_msg, a, "worker", au_node_address(c));
    tick_msg got;
    au_send(w, ((watcher_msg){ .tag = watcher_msg_watch, .watch = on_b }));
    au_send(w, ((watcher_msg){ .tag = watcher_msg_watch, .watch = on_c }));
    for (int i = 0; i < 2; i++) {
        assert_int_equal(au_probe_expect(p, tick_msg, &got, AU_SEC(5)), AU_OK);
        assert_int_equal(got.tick, 100);
    }
    /* Node c is declared gone: exactly the watch on c's actor ends. */
    assert_int_equal(au_peer_gone(a, au_node_address(c)), AU_OK);
    assert_int_equal(au_probe_expect(p, tick_msg, &got, AU_SEC(5)), AU_OK);
    assert_int_equal(got.tick, 200);
    assert_int_equal(au_probe_expect_none(p, AU_MSEC(100)), AU_OK);
    assert_int_equal(au_peer_gone(a, au_node_address(c)), AU_OK); /* once only */
    assert_int_equal(au_probe_expect_none(p, AU_MSEC(100)), AU_OK);
    /* An unwatched remote actor is not reported. */
    au_send(w, ((watcher_msg){ .tag = watcher_msg_unwatch, .unwatch = on_b }));
    assert_int_equal(au_probe_expect(p, tick_msg, &got, AU_SEC(5)), AU_OK);
    assert_int_equal(got.tick, 100);
    assert_int_equal(au_peer_gone(a, au_node_address(b)), AU_OK);
    assert_int_equal(au_probe_expect_none(p, AU_MSEC(100)), AU_OK);
    assert_int_equal(au_peer_gone(a, "not an address"), AU_EINVAL);
    au_probe_free(p);
    au_node_stop(a);
    au_node_stop(b);
    au_node_stop(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(node_stop_stops_user_actors_then_layers_last_attached_first),
        cmocka_unit_test(a_layer_actor_can_still_send_remotely_while_its_node_stops),
        cmocka_unit_test(layers_are_refused_beyond_the_limit_and_on_other_nodes),
        cmocka_unit_test(every_networked_node_has_its_own_incarnation),
        cmocka_unit_test(a_restarted_peer_is_reported_with_both_incarnations),
        cmocka_unit_test(a_remote_watch_ends_in_terminated_when_its_node_is_declared_gone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
