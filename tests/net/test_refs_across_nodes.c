/* test_refs_across_nodes.c — a reference to an actor of another node of this process (which
 * a local reference may name, aurum/actor.h), put into a message for a remote actor: it must
 * travel as that actor's node's reference, its address and its name, not as one of the sending
 * node, which would route every reply through the sender (lost once it stops) and leave an
 * entry in the sender's registry for a cell of another node. A reference to an actor of a node
 * without a network cannot travel at all: AU_EENCODE. */
#include <aurum/aurum.h>
#include <aurum/testkit.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_reference_to_another_nodes_actor_travels_as_that_nodes),
        cmocka_unit_test(a_reference_to_an_actor_of_a_local_node_does_not_travel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
