/* test_cluster_misuse.c — more of the cluster as an adversarial user meets it, in deterministic
 * simulation (test_cluster_topology.c has the seed shapes, NULL arguments and knob ranges):
 *  - names and seeds at and beyond what parses: an empty or huge cluster name, port 0, an IPv6
 *    literal, an unresolvable host, a huge seed string, thousands of duplicate seeds; a refused
 *    start leaves nothing behind (a good one works after many refusals);
 *  - calls in the wrong order: subscribing one subscriber twice, leaving twice; unsubscribing
 *    (twice, never subscribed, back to back with a subscribe, after the actor stopped);
 *  - au_cluster_compat with NULL types;
 *  - au_ring_build with absurd virtual-node counts and odd members, and the readers at their
 *    edges.
 * Relies on cluster_sim_world.h (a cluster_world.h world on the simulator: a watcher per node
 * recording its member set and counting events). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <limits.h>
#include <cmocka.h>

#include "cluster/cluster_sim_world.h"
#include <aurum/layer.h>

/* ---- names and seeds -------------------------------------------------------------------------- */

/* An empty cluster name, or one longer than an actor name may be, is a bad configuration
 * (AU_EINVAL), not a taken name (AU_EEXIST); and each refusal leaves nothing attached: a good
 * start works after a hundred of them. */
static void bad_cluster_names_are_refused_and_leave_nothing_behind(void **st) {
    static world w;
    new_world(&w, 1, 131);
    static char huge[4096];
    memset(huge, 'c', sizeof huge - 1);
    au_cluster *c = NULL;
    for (int i = 0; i < 100; i++) {
        assert_int_equal(au_cluster_start(w.s[0].node, &(au_cluster_config){ .name = "" }, &c), AU_EINVAL);
        assert_int_equal(au_cluster_start(w.s[0].node, &(au_cluster_config){ .name = huge }, &c), AU_EINVAL);
    }
    assert_null(c);
    assert_int_equal(world_start_cluster(&w, 0, NULL), AU_OK);
    au_sim_run(w.sim, AU_MSEC(10));
    assert_int_equal(atomic_load(&w.s[0].alone), 1);
    end_world(&w);
}

/* au_cluster_start refused because the name is taken (a second start on one node, a common
 * slip) must not use up the node's layer slots: each refusal attached a layer that stayed, and
 * after AU_LAYERS_MAX of them nothing could attach one (a second cluster, CRDT sharing, the
 * device server all got AU_EFULL). */
static void a_taken_name_refused_many_times_leaves_the_layer_slots_free(void **st) {
    static world w;
    new_world(&w, 1, 135);
    assert_int_equal(world_start_cluster(&w, 0, NULL), AU_OK);
    au_cluster *c = NULL;
    for (int i = 0; i < 3 * AU_LAYERS_MAX; i++) {
        assert_int_equal(au_cluster_start(w.s[0].node, NULL, &c), AU_EEXIST);
        assert_null(c);
    }
    assert_int_equal(au_cluster_start(w.s[0].node, &(au_cluster_config){ .name = "other" }, &c), AU_OK);
    assert_non_null(c);
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(atomic_load(&w.s[0].alone), 1);
    end_world(&w);
}

/* Seeds that parse but name no node a cluster can reach: port 0 is refused (no node listens
 * there); an IPv6 literal, from an IPv4 node, is taken and goes nowhere (the node starts alone
 * after its join rounds, nothing crashes); an unresolvable host and a seed string longer than
 * any address are refused. */
static void odd_seeds_are_refused_or_go_nowhere(void **st) {
    static world w;
    new_world(&w, 2, 132);
    au_cluster *c = NULL;
    static char longseed[2048];
    memset(longseed, '1', sizeof longseed - 1);
    const char *bad[] = { "127.0.0.1:0", "no-such-host.invalid:4000", longseed, ":4000", "[::1]:0" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *seeds[] = { bad[i] };
        assert_int_equal(au_cluster_start(w.s[0].node, &(au_cluster_config){ .seeds = seeds, .nseeds = 1 }, &c),
                         AU_EINVAL);
        assert_null(c);
    }
    const char *v6[] = { "[::1]:4000" };
    au_cluster_config q = quick(v6, 1);
    assert_int_equal(world_start_cluster(&w, 0, &q), AU_OK);
    au_sim_run(w.sim, AU_SEC(2));
    assert_int_equal(atomic_load(&w.s[0].alone), 1);
    /* and the node is a seed others can join */
    const char *s0[] = { w.s[0].addr };
    q = quick(s0, 1);
    assert_int_equal(world_start_cluster(&w, 1, &q), AU_OK);
    converge(&w, AU_SEC(5));
    end_world(&w);
}

/* Ten thousand copies of one seed (and of this node's own address) cost one join. */
static void thousands_of_duplicate_seeds_join_once(void **st) {
    static world w;
    new_world(&w, 2, 133);
    assert_int_equal(world_start_cluster(&w, 0, NULL), AU_OK);
    enum { N = 10000 };
    const char **seeds = calloc(N, sizeof *seeds);
    assert_non_null(seeds);
    for (int i = 0; i < N; i++) seeds[i] = i % 2 ? w.s[0].addr : w.s[1].addr;
    au_cluster_config q = quick(seeds, N);
    assert_int_equal(world_start_cluster(&w, 1, &q), AU_OK);
    free(seeds); /* copied */
    converge(&w, AU_SEC(5));
    au_sim_run(w.sim, AU_SEC(2));
    assert_int_equal(atomic_load(&w.s[0].added), 1);
    assert_int_equal(atomic_load(&w.s[1].joined), 1);
    assert_int_equal(atomic_load(&w.s[1].removed), 0);
    au_cluster_stats cs;
    au_cluster_stats_get(w.s[1].cluster, &cs);
    assert_true(cs.messages_sent < 1000);
    end_world(&w);
}

/* ---- wrong order ------------------------------------------------------------------------------- */

typedef struct counter { _Atomic int updates, added, alone, joined, left; } counter;
typedef struct counter_ref { counter *k; } counter_ref;
static void counter_recv(au_ctx *ctx, counter_ref *self, watcher_msg *m) {
    (void)ctx;
    counter *k = self->k;
    atomic_fetch_add(&k->updates, 1);
    for (uint32_t i = 0; i < m->update.events.len; i++) {
        int32_t kind = m->update.events.ptr[i].kind;
        if (kind == AU_CLUSTER_ADDED) atomic_fetch_add(&k->added, 1);
        if (kind == AU_CLUSTER_ALONE) atomic_fetch_add(&k->alone, 1);
        if (kind == AU_CLUSTER_JOINED) atomic_fetch_add(&k->joined, 1);
        if (kind == AU_CLUSTER_LEFT) atomic_fetch_add(&k->left, 1);
    }
}
AU_ACTOR(counter_actor, counter_ref, watcher_msg, .recv = counter_recv);

/* A subscriber subscribed twice is one subscriber: it gets every event once (a second copy of
 * each update told it every member joined twice). Leaving twice tells it LEFT once. */
static void subscribing_twice_and_leaving_twice_count_once(void **st) {
    static world w;
    new_world(&w, 2, 134);
    assert_int_equal(world_start_cluster(&w, 0, NULL), AU_OK);
    static counter k;
    memset(&k, 0, sizeof k);
    watcher_msg_lref l = au_spawn(w.s[0].node, counter_actor, NULL, &(counter_ref){ &k });
    au_cluster_update_lref sub = au_narrow_local(watcher_msg, au_cluster_update, l);
    assert_int_equal(au_cluster_subscribe(w.s[0].cluster, sub), AU_OK);
    assert_int_equal(au_cluster_subscribe(w.s[0].cluster, sub), AU_OK);
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(atomic_load(&k.alone), 1);
    assert_int_equal(atomic_load(&k.updates), 1);
    const char *s0[] = { w.s[0].addr };
    au_cluster_config q = quick(s0, 1);
    assert_int_equal(world_start_cluster(&w, 1, &q), AU_OK);
    converge(&w, AU_SEC(5));
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(atomic_load(&k.added), 1);
    assert_int_equal(au_cluster_leave(w.s[0].cluster), AU_OK);
    (void)au_cluster_leave(w.s[0].cluster); /* queued behind the first, or refused: either way */
    w.s[0].live = false;
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(atomic_load(&k.left), 1);
    assert_int_not_equal(au_cluster_leave(w.s[0].cluster), AU_OK); /* the actor is gone */
    assert_int_not_equal(au_cluster_subscribe(w.s[0].cluster, sub), AU_OK);
    end_world(&w);
}

/* au_cluster_unsubscribe: once it has returned AU_OK the subscriber gets no further update (a
 * member joining, then the leave's LEFT, reach the other subscriber only); a second call, a ref
 * never subscribed, is AU_ENOTFOUND, NULL AU_EINVAL; subscribing again gives a first update
 * again, also when unsubscribe and subscribe come back to back before the actor has run (the
 * actor's old entry is not taken for the new subscription); and once the actor has stopped,
 * AU_ESTOPPED. Before it existed the only way to stop the updates was to stop the subscriber. */
static void unsubscribe_stops_updates_and_resubscribing_starts_afresh(void **st) {
    static world w;
    new_world(&w, 2, 136);
    assert_int_equal(world_start_cluster(&w, 0, NULL), AU_OK);
    static counter k, other;
    memset(&k, 0, sizeof k);
    memset(&other, 0, sizeof other);
    watcher_msg_lref l = au_spawn(w.s[0].node, counter_actor, NULL, &(counter_ref){ &k });
    watcher_msg_lref lo = au_spawn(w.s[0].node, counter_actor, NULL, &(counter_ref){ &other });
    au_cluster_update_lref sub = au_narrow_local(watcher_msg, au_cluster_update, l);
    au_cluster_update_lref never = au_narrow_local(watcher_msg, au_cluster_update, lo);
    assert_int_equal(au_cluster_unsubscribe(NULL, sub), AU_EINVAL);
    assert_int_equal(au_cluster_unsubscribe(w.s[0].cluster, (au_cluster_update_lref){ 0 }), AU_EINVAL);
    assert_int_equal(au_cluster_unsubscribe(w.s[0].cluster, never), AU_ENOTFOUND);
    assert_int_equal(au_cluster_subscribe(w.s[0].cluster, sub), AU_OK);
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(atomic_load(&k.alone), 1);
    assert_int_equal(atomic_load(&k.updates), 1);

    assert_int_equal(au_cluster_unsubscribe(w.s[0].cluster, sub), AU_OK);
    assert_int_equal(au_cluster_unsubscribe(w.s[0].cluster, sub), AU_ENOTFOUND);
    const char *s0[] = { w.s[0].addr };
    au_cluster_config q = quick(s0, 1);
    assert_int_equal(world_start_cluster(&w, 1, &q), AU_OK);
    converge(&w, AU_SEC(5));
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(atomic_load(&w.s[0].added), 1); /* the world's watcher is still subscribed */
    assert_int_equal(atomic_load(&k.updates), 1);
    assert_int_equal(atomic_load(&k.added), 0);

    /* subscribed again: a first update (JOINED: node 0 is in a cluster of two) */
    assert_int_equal(au_cluster_subscribe(w.s[0].cluster, sub), AU_OK);
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(atomic_load(&k.updates), 2);
    assert_int_equal(atomic_load(&k.joined), 1);
    /* unsubscribed and subscribed back to back, the actor's entry still there: a new first
     * update all the same */
    assert_int_equal(au_cluster_unsubscribe(w.s[0].cluster, sub), AU_OK);
    assert_int_equal(au_cluster_subscribe(w.s[0].cluster, sub), AU_OK);
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(atomic_load(&k.updates), 3);
    assert_int_equal(atomic_load(&k.joined), 2);
    /* and subscribed then unsubscribed before the actor ran: nothing at all */
    assert_int_equal(au_cluster_unsubscribe(w.s[0].cluster, sub), AU_OK);
    assert_int_equal(au_cluster_subscribe(w.s[0].cluster, never), AU_OK);
    assert_int_equal(au_cluster_unsubscribe(w.s[0].cluster, never), AU_OK);
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(atomic_load(&other.updates), 0);
    assert_int_equal(atomic_load(&k.updates), 3);

    /* the leave's LEFT goes to the subscribed only; once the actor is gone: AU_ESTOPPED */
    assert_int_equal(au_cluster_subscribe(w.s[0].cluster, sub), AU_OK);
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(atomic_load(&k.updates), 4);
    assert_int_equal(au_cluster_unsubscribe(w.s[0].cluster, sub), AU_OK);
    assert_int_equal(au_cluster_leave(w.s[0].cluster), AU_OK);
    w.s[0].live = false;
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(atomic_load(&w.s[0].left), 1);
    assert_int_equal(atomic_load(&k.left), 0);
    assert_int_equal(atomic_load(&k.updates), 4);
    assert_int_equal(au_cluster_unsubscribe(w.s[0].cluster, sub), AU_ESTOPPED);
    end_world(&w);
}

/* ---- compat and the ring ----------------------------------------------------------------------- */

AU_RECORD(misuse_a, (uint32_t, x));
AU_RECORD(misuse_b, (uint64_t, y));

/* au_cluster_compat read through a NULL type table, and through a NULL entry in one. A NULL
 * table (any n) is no types: the seed; NULL entries are skipped. */
static void compat_with_null_types_is_the_seed(void **st) {
    au_type *some[] = { &au_type_misuse_a, NULL, &au_type_misuse_b };
    au_type *same[] = { &au_type_misuse_a, &au_type_misuse_b };
    assert_int_equal(au_cluster_compat(7, NULL, 3), 7);
    assert_int_equal(au_cluster_compat(7, NULL, 0), 7);
    assert_int_equal(au_cluster_compat(7, some, 3), au_cluster_compat(7, same, 2));
    assert_int_not_equal(au_cluster_compat(7, same, 2), 7);
}

/* au_ring_build with a member asking for billions of positions would try to allocate and hash
 * them (tens of GiB, or under ASan an allocation that does not fail and a loop of 2^32): refused
 * above AU_RING_MAX_VNODES, the cluster's own bound; at the bound it builds. */
static void ring_refuses_absurd_virtual_node_counts(void **st) {
    au_cluster_member ms[2] = { { au_str_lit("127.0.0.1:1"), 1, UINT32_MAX },
                                { au_str_lit("127.0.0.1:2"), 2, 1 } };
    assert_null(au_ring_build(ms, 2, 2));
    ms[0].vnodes = AU_RING_MAX_VNODES + 1;
    assert_null(au_ring_build(ms, 2, 2));
    ms[0].vnodes = AU_RING_MAX_VNODES;
    au_ring *r = au_ring_build(ms, 2, 2);
    assert_non_null(r);
    assert_int_equal(au_ring_size(r), 2);
    au_ring_release(r);
}

/* Odd members (NULL and empty addresses, duplicates, the same address with two ids) and the
 * readers at their edges. */
static void ring_readers_at_their_edges(void **st) {
    au_cluster_member ms[5] = { { { NULL, 0, 0 }, 5, 1 }, { au_str_lit(""), 6, 1 },
                                { au_str_lit("b:2"), 1, 3 }, { au_str_lit("a:1"), 2, 0 },
                                { au_str_lit("b:2"), 9, 1 } };
    au_ring *r = au_ring_build(ms, 5, 0);
    assert_non_null(r);
    assert_int_equal(au_ring_replication_factor(r), 2);
    assert_int_equal(au_ring_size(r), 3); /* "" once, "a:1", "b:2" once (the first) */
    assert_null(au_ring_member(r, 3));
    assert_null(au_ring_member(r, SIZE_MAX));
    assert_int_equal(au_ring_find(r, "b:2"), 2);
    assert_int_equal(au_ring_member(r, 2)->id, 1);
    assert_int_equal(au_ring_find(r, ""), 0);
    assert_int_equal(au_ring_find(r, NULL), -1);
    const au_cluster_member *out[4];
    assert_int_equal(au_ring_replicas(r, "k", 1, out, 0), 0);
    assert_int_equal(au_ring_replicas(r, "k", 1, out, SIZE_MAX), 3); /* bounded by the members */
    assert_int_equal(au_ring_managers(r, "a:1", out, 0), 0);
    assert_int_equal(au_ring_charges(r, "a:1", out, 0), 0);
    assert_true(au_ring_retain(r) == r);
    au_ring_release(r);
    assert_null(au_ring_retain(NULL));
    /* one member: it owns everything and manages nobody */
    au_ring *one = au_ring_build(ms + 3, 1, 5);
    assert_non_null(one);
    assert_int_equal(au_ring_owner(one, "x", 1)->id, 2);
    assert_int_equal(au_ring_managers(one, "a:1", out, 4), 0);
    assert_int_equal(au_ring_charges(one, "a:1", out, 4), 0);
    au_ring_release(one);
    au_ring_release(r);
}

int main(void) {
    (void)world_kill; /* cluster_world.h's, unused here */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_cluster_names_are_refused_and_leave_nothing_behind),
        cmocka_unit_test(a_taken_name_refused_many_times_leaves_the_layer_slots_free),
        cmocka_unit_test(odd_seeds_are_refused_or_go_nowhere),
        cmocka_unit_test(thousands_of_duplicate_seeds_join_once),
        cmocka_unit_test(subscribing_twice_and_leaving_twice_count_once),
        cmocka_unit_test(unsubscribe_stops_updates_and_resubscribing_starts_afresh),
        cmocka_unit_test(compat_with_null_types_is_the_seed),
        cmocka_unit_test(ring_refuses_absurd_virtual_node_counts),
        cmocka_unit_test(ring_readers_at_their_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
