/* test_crdt_share_size.c — CRDT sharing at the max_message limit, in the deterministic simulator:
 *  - a delta group above max_message is not sent: the peer gets the full state instead once it
 *    fits (a group of adds and removes keeps the removed elements as tombs, the state does
 *    not), so a peer that missed an oversized group catches up when the state shrinks, and is
 *    served deltas again afterwards; what could not be sent is counted in drops_too_big;
 *    likewise for a group the node's transport refuses (its max_message_size);
 *  - a group larger than the state (one element added 8000 times in one window) goes as the
 *    state; a state so sent that the transport refuses leaves the peer to the full state (big),
 *    as a refused group does, not served from the refused state's clock.
 * Conditions are checked every 100 ms of virtual time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "crdt/share_world.h"

static bool both_peered(void *arg) {
    sw *w = arg;
    return sw_stats(w, 0).peers == 1 && sw_stats(w, 1).peers == 1;
}

/* Node 1's ORSet holds exactly elements [lo, hi) of elem() and the named extras. */
typedef struct set_goal { sw *w; int lo, hi; const char *extra[2]; } set_goal;
static void elem(char *b, int k) { snprintf(b, 40, "element-%04d-xxxxxxxxxxxxxxxx", k); }
static bool node1_has(void *arg) {
    set_goal *g = arg;
    au_share_orset o = { g->w->sh[1] };
    size_t want = (size_t)(g->hi - g->lo);
    for (int i = 0; i < 2; i++) {
        if (!g->extra[i]) continue;
        want++;
        if (!au_share_orset_contains(o, g->extra[i], strlen(g->extra[i]))) return false;
    }
    if (au_share_orset_size(o) != want) return false;
    char b[40];
    for (int k = g->lo; k < g->hi; k++) {
        elem(b, k);
        if (!au_share_orset_contains(o, b, strlen(b))) return false;
    }
    return true;
}
static bool none_buffered(void *arg) {
    sw *w = arg;
    return sw_stats(w, 0).buffered == 0 && sw_stats(w, 1).buffered == 0;
}

/* Nodes 0 and 1 of a new world on sim seeded `seed`, sharing the OR-set "set" (its max_message:
 * max_message, 0 for the default); their transport takes messages of at most max_message_size
 * bytes (0: the default nodes of share_world.h). Node 0 has added "first", node 1 holds it and
 * nothing is buffered. Returns node 0's handle. */
static au_share_orset two_nodes_sharing_first(sw *w, au_sim **sim, uint64_t seed, uint32_t max_message_size,
                                              uint32_t max_message) {
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = seed }, sim), AU_OK);
    sw_init(w, *sim);
    for (int i = 0; i < 2; i++) {
        if (!max_message_size) {
            sw_node(w, i);
            continue;
        }
        assert_int_equal(au_node_start(&(au_node_config){ .driver = w->drv, .workers = 1,
                                                          .no_spin = true,
                                                          .max_message_size = max_message_size },
                                       &w->node[i]),
                         AU_OK);
        snprintf(w->addr[i], sizeof w->addr[i], "%s", au_node_address(w->node[i]));
        w->n = i + 1;
    }
    au_cluster_config cc = { .no_leave_on_stop = true };
    au_share_config sc = { .name = "set", .max_message = max_message };
    for (int i = 0; i < 2; i++) sw_start(w, i, &cc, &au_orset_type, &sc);
    assert_true(sw_run_until(w, both_peered, w, AU_SEC(20)));
    au_share_orset h0 = { w->sh[0] };
    assert_int_equal(au_share_orset_add(h0, "first", 5), AU_OK);
    set_goal g = { w, 0, 0, { "first" } };
    assert_true(sw_run_until(w, node1_has, &g, AU_SEC(5)));
    assert_true(sw_run_until(w, none_buffered, w, AU_SEC(5)));
    return h0;
}

/* Adds elements 0..99 (elem) to h. */
static void add_100(au_share_orset h) {
    char b[40];
    for (int k = 0; k < 100; k++) {
        elem(b, k);
        assert_int_equal(au_share_orset_add(h, b, strlen(b)), AU_OK);
    }
}

static void a_peer_that_missed_an_oversized_group_catches_up_when_the_state_shrinks(void **st) {
    (void)st;
    static sw w;
    au_sim *sim;
    au_share_orset h0 = two_nodes_sharing_first(&w, &sim, 31, 0, 1000);
    set_goal g;
    au_share_stats s0 = sw_stats(&w, 0);
    assert_int_equal(s0.drops_too_big, 0);

    /* 100 adds in one coalesce window: a group of ~4 KB, and a state as large: neither goes */
    add_100(h0);
    char b[40];
    au_sim_run(sim, AU_SEC(3));
    assert_int_equal(au_share_orset_size(h0), 101);
    assert_int_equal(au_share_orset_size((au_share_orset){ w.sh[1] }), 1);
    au_share_stats s1 = sw_stats(&w, 0);
    assert_true(s1.drops_too_big >= 2); /* the group, and the state tried instead */
    assert_int_equal(s1.states_sent, s0.states_sent);
    assert_int_equal(s1.buffered, 100); /* kept for the peer that lacks them */

    /* the state shrinks to 5 elements (~250 B); a group from node 1's ack would still hold the
     * 95 removed ones as tombs (above max_message): node 1 gets the full state */
    for (int k = 5; k < 100; k++) {
        elem(b, k);
        assert_int_equal(au_share_orset_remove(h0, b, strlen(b)), AU_OK);
    }
    g = (set_goal){ &w, 0, 5, { "first" } };
    assert_true(sw_run_until(&w, node1_has, &g, AU_SEC(10)));
    au_share_stats s2 = sw_stats(&w, 0);
    assert_true(s2.states_sent > s1.states_sent);
    assert_true(sw_run_until(&w, none_buffered, &w, AU_SEC(10)));

    /* and then it is served deltas again */
    uint64_t states = sw_stats(&w, 0).states_sent, deltas = sw_stats(&w, 0).deltas_sent;
    assert_int_equal(au_share_orset_add(h0, "later", 5), AU_OK);
    elem(b, 0);
    assert_int_equal(au_share_orset_remove(h0, b, strlen(b)), AU_OK);
    g = (set_goal){ &w, 1, 5, { "first", "later" } };
    assert_true(sw_run_until(&w, node1_has, &g, AU_SEC(5)));
    assert_int_equal(sw_stats(&w, 0).states_sent, states);
    assert_true(sw_stats(&w, 0).deltas_sent > deltas);
    sw_stop(&w);
    au_sim_destroy(sim);
}

/* The same with the node's transport as the limit: the share's max_message is the default
 * (16 MiB) but the nodes take messages of at most 3000 bytes, so au_send refuses the group
 * (AU_ETOOBIG). That refusal is counted and answered as one above max_message: nothing of it is
 * counted as sent, and the peer gets the full state once it fits. */
static void a_group_the_transport_refuses_falls_back_to_the_full_state(void **st) {
    (void)st;
    static sw w;
    au_sim *sim;
    au_share_orset h0 = two_nodes_sharing_first(&w, &sim, 32, 3000, 0);
    set_goal g;
    au_share_stats s0 = sw_stats(&w, 0);

    add_100(h0);
    char b[40];
    au_sim_run(sim, AU_SEC(3));
    assert_int_equal(au_share_orset_size((au_share_orset){ w.sh[1] }), 1);
    au_share_stats s1 = sw_stats(&w, 0);
    assert_true(s1.drops_too_big >= 2); /* the group, and the state tried instead */
    assert_int_equal(s1.deltas_sent, s0.deltas_sent); /* refused: not counted as sent */
    assert_int_equal(s1.states_sent, s0.states_sent);
    assert_int_equal(s1.bytes_sent, s0.bytes_sent);

    for (int k = 5; k < 100; k++) {
        elem(b, k);
        assert_int_equal(au_share_orset_remove(h0, b, strlen(b)), AU_OK);
    }
    g = (set_goal){ &w, 0, 5, { "first" } };
    assert_true(sw_run_until(&w, node1_has, &g, AU_SEC(10)));
    assert_true(sw_stats(&w, 0).states_sent > s1.states_sent);
    assert_true(sw_run_until(&w, none_buffered, &w, AU_SEC(10)));
    sw_stop(&w);
    au_sim_destroy(sim);
}

/* A group larger than the state goes as the state; when the node's transport refuses that state
 * too (3000-byte messages: a state of 100 elements, ~4 KB, behind a group of 3000 adds of one
 * element more, ~13 KB), the peer is served as after a group too big: the full state at its pace,
 * and no group from the clock of the refused state, which it never got (it would get a later
 * change without the earlier ones, as if the state had arrived). Once the state fits it catches up. */
static void a_state_sent_for_a_group_that_the_transport_refuses_falls_back_likewise(void **st) {
    (void)st;
    static sw w;
    au_sim *sim;
    au_share_orset h0 = two_nodes_sharing_first(&w, &sim, 34, 3000, 0);
    set_goal g;
    au_share_stats s0 = sw_stats(&w, 0);

    /* one window: the group (~13 KB) is larger than the state (~4 KB), which goes instead and
     * is refused (above 3000 bytes) */
    add_100(h0);
    char b[40];
    for (int k = 0; k < 3000; k++) assert_int_equal(au_share_orset_add(h0, "hot", 3), AU_OK);
    au_sim_run(sim, AU_MSEC(120)); /* the window closed at 100 ms: the state was tried */
    au_share_stats s1 = sw_stats(&w, 0);
    assert_true(s1.drops_too_big > s0.drops_too_big);
    assert_int_equal(s1.states_sent, s0.states_sent);

    /* a change right after: node 1 never got the state, so it is not sent this change alone
     * (a group from the refused state's clock); it waits for the full state */
    assert_int_equal(au_share_orset_add(h0, "later", 5), AU_OK);
    au_sim_run(sim, AU_SEC(3));
    au_share_stats s2 = sw_stats(&w, 0);
    assert_int_equal(s2.deltas_sent, s0.deltas_sent);
    assert_int_equal(s2.states_sent, s0.states_sent);
    assert_false(au_share_orset_contains((au_share_orset){ w.sh[1] }, "later", 5));
    assert_int_equal(au_share_orset_size((au_share_orset){ w.sh[1] }), 1);

    /* the state shrinks below the limit: node 1 gets it and has everything */
    for (int k = 5; k < 100; k++) {
        elem(b, k);
        assert_int_equal(au_share_orset_remove(h0, b, strlen(b)), AU_OK);
    }
    assert_int_equal(au_share_orset_remove(h0, "hot", 3), AU_OK);
    g = (set_goal){ &w, 0, 5, { "first", "later" } };
    assert_true(sw_run_until(&w, node1_has, &g, AU_SEC(10)));
    assert_true(sw_stats(&w, 0).states_sent > s2.states_sent);
    assert_true(sw_run_until(&w, none_buffered, &w, AU_SEC(10)));
    sw_stop(&w);
    au_sim_destroy(sim);
}

/* One element added 8000 times within one coalesce window: the group keeps a tomb per add (24 KB
 * encoded), the state only the element: the peer gets the state, a few dozen bytes. */
static void many_updates_of_one_element_in_a_window_cost_the_state_not_the_group(void **st) {
    (void)st;
    static sw w;
    au_sim *sim;
    au_share_orset h0 = two_nodes_sharing_first(&w, &sim, 33, 0, 0);
    set_goal g;
    au_share_stats s0 = sw_stats(&w, 0);
    for (int k = 0; k < 8000; k++) assert_int_equal(au_share_orset_add(h0, "hot", 3), AU_OK);
    g = (set_goal){ &w, 0, 0, { "first", "hot" } };
    assert_true(sw_run_until(&w, node1_has, &g, AU_SEC(5)));
    assert_true(sw_run_until(&w, none_buffered, &w, AU_SEC(5)));
    au_share_stats s1 = sw_stats(&w, 0);
    fprintf(stderr, "  8000 adds of one element: %llu bytes sent in %llu states and %llu groups\n",
            (unsigned long long)(s1.bytes_sent - s0.bytes_sent),
            (unsigned long long)(s1.states_sent - s0.states_sent),
            (unsigned long long)(s1.deltas_sent - s0.deltas_sent));
    assert_true(s1.bytes_sent - s0.bytes_sent <= 200); /* the group: 24 KB */
    assert_true(s1.states_sent > s0.states_sent);
    sw_stop(&w);
    au_sim_destroy(sim);
}

int main(void) {
    au_log_set_level(AU_LOG_NET, AU_LOG_ERROR);
    au_log_set_level(AU_LOG_CLUSTER, AU_LOG_ERROR);
    au_log_set_level(AU_LOG_CRDT, AU_LOG_ERROR); /* the drop warnings are expected here */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_peer_that_missed_an_oversized_group_catches_up_when_the_state_shrinks),
        cmocka_unit_test(a_group_the_transport_refuses_falls_back_to_the_full_state),
        cmocka_unit_test(a_state_sent_for_a_group_that_the_transport_refuses_falls_back_likewise),
        cmocka_unit_test(many_updates_of_one_element_in_a_window_cost_the_state_not_the_group),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
