/* test_refs_across_nodes.c — a reference to an actor of another node of this process (which
 * a local reference may name, aurum/actor.h), put into a message for a remote actor: it must
 * travel as that actor's node's reference, its address and its name, not as one of the sending
 * node, which would route every reply through the sender (lost once it stops) and leave an
 * entry in the sender's registry for a cell of another node. A reference to an actor of a node
 * without a network cannot travel at all: AU_EENCODE. And a remote reference of another node
 * (forged there) watched by an actor of this one: the node whose transport runs the watch and
 * hears the notice keeps it, so that the notice reaches the watcher, and stopping that node
 * first leaves the watcher's node nothing of it to touch. */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

AU_ROOT(keep_msg, (keep, int64_t_ref, AU_REMOTE), (fire, int64_t, AU_PLAIN));

/* Keeps the last reference it was given; sends each fire's value to it. */
typedef struct keeper {
    int64_t_ref to;
} keeper;

static void keeper_recv(au_ctx *ctx, keeper *self, keep_msg *m) {
    (void)ctx;
    if (m->tag == keep_msg_keep) self->to = m->keep;
    else au_send(self->to, m->fire);
}
AU_ACTOR(keeper_actor, keeper, keep_msg, .recv = keeper_recv);

static au_node *udp_node(void) {
    au_node *n = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 1 }, &n), AU_OK);
    return n;
}

/* a sends b's keeper a reference to a probe of c; a stops; b's message reaches c all the
 * same. Both for an anonymous probe and a named one. */
static void a_reference_to_another_nodes_actor_travels_as_that_nodes(void **s) {
    (void)s;
    for (int named = 0; named < 2; named++) {
        au_node *a = udp_node(), *b = udp_node(), *c = udp_node();
        keep_msg_ref k = au_spawn(b, keeper_actor, "keeper", NULL);
        assert_false(au_ref_is_null(k.raw));
        au_probe *p = au_probe_new_with(c, int64_t, &(au_probe_opts){ .name = named ? "sink" : NULL });
        assert_non_null(p);
        keep_msg_ref far = au_forge(keep_msg, keep_msg, a, "keeper", au_node_address(b));
        assert_false(au_ref_is_null(far.raw));
        int64_t_ref to_c = au_probe_ref(p, int64_t); /* a local reference of c, used on a */
        assert_int_equal(au_send(far, ((keep_msg){ .tag = keep_msg_keep, .keep = to_c })), AU_OK);
        /* It arrived (a first value reaches c), then the node it was sent from stops. */
        int64_t got = 0;
        for (int tries = 0; tries < 300 && got != 1; tries++) {
            assert_int_equal(au_send(k, ((keep_msg){ .tag = keep_msg_fire, .fire = 1 })), AU_OK);
            if (au_probe_expect(p, int64_t, &got, AU_MSEC(100)) != AU_OK) got = 0;
        }
        assert_int_equal(got, 1);
        au_node_stats st;
        au_node_stats_get(c, &st);
        assert_true(st.messages_received_remote >= 1); /* from b to c, not through a */
        au_node_stop(a);
        assert_int_equal(au_send(k, ((keep_msg){ .tag = keep_msg_fire, .fire = 2 })), AU_OK);
        assert_int_equal(au_probe_expect(p, int64_t, &got, AU_SEC(30)), AU_OK);
        assert_int_equal(got, 2);
        au_probe_free(p);
        au_node_stop(b);
        au_node_stop(c);
    }
}

/* A node without a network has no address a reference could carry. */
static void a_reference_to_an_actor_of_a_local_node_does_not_travel(void **s) {
    (void)s;
    au_node *a = udp_node(), *b = udp_node(), *l = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .workers = 1, .no_network = true }, &l), AU_OK);
    keep_msg_ref k = au_spawn(b, keeper_actor, "keeper", NULL);
    assert_false(au_ref_is_null(k.raw));
    au_probe *p = au_probe_new(l, int64_t);
    assert_non_null(p);
    keep_msg_ref far = au_forge(keep_msg, keep_msg, a, "keeper", au_node_address(b));
    assert_false(au_ref_is_null(far.raw));
    au_node_stats before, after;
    au_node_stats_get(a, &before);
    assert_int_equal(au_send(far, ((keep_msg){ .tag = keep_msg_keep, .keep = au_probe_ref(p, int64_t) })),
                     AU_EENCODE);
    au_node_stats_get(a, &after);
    assert_int_equal(after.messages_sent_remote, before.messages_sent_remote);
    au_probe_free(p);
    au_node_stop(a);
    au_node_stop(b);
    au_node_stop(l);
}

/* ---- watching through another node's remote reference ---------------------------------- */

AU_ROOT(target_msg, (stop_now, int64_t, AU_REMOTE));
typedef struct nothing {
    int unused;
} nothing;
static void target_recv(au_ctx *ctx, nothing *self, target_msg *m) {
    (void)self, (void)m;
    au_stop_self(ctx);
}
AU_ACTOR(target_actor, nothing, target_msg, .recv = target_recv);

AU_ROOT(watcher_msg, (watch, target_msg_ref, AU_PLAIN));
typedef struct watcher {
    int64_t_ref report;
} watcher;
static void watcher_recv(au_ctx *ctx, watcher *self, watcher_msg *m) {
    au_send(self->report, (int64_t)(au_watch(ctx, m->watch) == AU_OK ? 1 : -1));
}
static void watcher_terminated(au_ctx *ctx, watcher *self, au_ref who) {
    (void)ctx, (void)who;
    au_send(self->report, (int64_t)2);
}
AU_ACTOR(watcher_actor, watcher, watcher_msg, .recv = watcher_recv, .terminated = watcher_terminated);

static uint64_t remote_watches_of(au_node *n) {
    au_node_stats st;
    au_node_stats_get(n, &st);
    return st.remote_watches;
}

/* Until node n watches `want` remote actors, 30 s at most. */
static void wait_remote_watches(au_node *n, uint64_t want) {
    for (int i = 0; i < 3000 && remote_watches_of(n) != want; i++) usleep(10000);
    assert_int_equal(remote_watches_of(n), want);
}

static void a_watch_through_another_nodes_remote_reference_is_kept_by_that_node(void **s) {
    (void)s;
    au_node *a = udp_node(), *b = udp_node(), *c = udp_node();
    au_probe *p = au_probe_new(a, int64_t);
    assert_non_null(p);
    watcher_msg_ref w = au_spawn(a, watcher_actor, "watcher", &(watcher){ au_probe_ref(p, int64_t) });
    assert_false(au_ref_is_null(w.raw));
    int64_t got = 0;
    /* The target stops: the watcher on a hears it through b's transport. */
    assert_false(au_ref_is_null(au_spawn(c, target_actor, "target", NULL).raw));
    target_msg_ref far = au_forge(target_msg, target_msg, b, "target", au_node_address(c));
    assert_false(au_ref_is_null(far.raw));
    assert_int_equal(au_send(w, ((watcher_msg){ .tag = watcher_msg_watch, .watch = far })), AU_OK);
    assert_int_equal(au_probe_expect(p, int64_t, &got, AU_SEC(30)), AU_OK);
    assert_int_equal(got, 1);
    wait_remote_watches(b, 1);
    assert_int_equal(au_send(far, ((target_msg){ .tag = target_msg_stop_now, .stop_now = 0 })), AU_OK);
    assert_int_equal(au_probe_expect(p, int64_t, &got, AU_SEC(30)), AU_OK);
    assert_int_equal(got, 2);
    wait_remote_watches(b, 0);
    /* A second watch, still on when b stops first, then a: nothing of b is touched by a. */
    assert_false(au_ref_is_null(au_spawn(c, target_actor, "target2", NULL).raw));
    target_msg_ref far2 = au_forge(target_msg, target_msg, b, "target2", au_node_address(c));
    assert_false(au_ref_is_null(far2.raw));
    assert_int_equal(au_send(w, ((watcher_msg){ .tag = watcher_msg_watch, .watch = far2 })), AU_OK);
    assert_int_equal(au_probe_expect(p, int64_t, &got, AU_SEC(30)), AU_OK);
    assert_int_equal(got, 1);
    wait_remote_watches(b, 1);
    au_node_stop(b);
    au_node_stop(a);
    au_probe_free(p);
    au_node_stop(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_reference_to_another_nodes_actor_travels_as_that_nodes),
        cmocka_unit_test(a_reference_to_an_actor_of_a_local_node_does_not_travel),
        cmocka_unit_test(a_watch_through_another_nodes_remote_reference_is_kept_by_that_node),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
