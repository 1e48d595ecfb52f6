/* test_cluster_topology2.c — ring snapshots and member sets across survivors, in deterministic
 * simulation: two nodes crashing at once with replication factor 2, a seed list naming a
 * duplicate and the node itself besides the good seed, and a 3|2 partition held past suspicion
 * and then healed. Every update is checked: its ring holds exactly its member set (address, id,
 * vnodes) at the configured replication factor, and after convergence every survivor's ring
 * gives every key the same owner. Relies on cluster_sim_world.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cluster/cluster_sim_world.h"

#define FAULTY(sim) ((au_driver[]){ au_faults_driver(SIMULATED(sim)) })

/* A subscriber that keeps the latest ring and counts updates whose ring is not their members. */
typedef struct ringwatch { au_ring *ring; int updates, bad; } ringwatch;
typedef struct ringwatch_ref { ringwatch *k; } ringwatch_ref;
static void ringwatch_recv(au_ctx *ctx, ringwatch_ref *self, watcher_msg *m) {
    ringwatch *k = self->k;
    au_cluster_update *u = &m->update;
    k->updates++;
    au_ring *r = u->ring.ring;
    if (!r || au_ring_size(r) != u->members.len || au_ring_replication_factor(r) != 2) { k->bad++; return; }
    for (uint32_t i = 0; i < u->members.len; i++) {
        char a[64];
        snprintf(a, sizeof a, "%.*s", (int)u->members.ptr[i].address.len, u->members.ptr[i].address.ptr);
        long at = au_ring_find(r, a);
        if (at < 0 || au_ring_member(r, (size_t)at)->id != u->members.ptr[i].id ||
            au_ring_member(r, (size_t)at)->vnodes != u->members.ptr[i].vnodes)
            k->bad++;
    }
    au_ring_release(k->ring);
    k->ring = au_ring_retain(r);
}
AU_ACTOR(ringwatch_actor, ringwatch_ref, watcher_msg, .recv = ringwatch_recv);

static ringwatch rw[WORLD_MAX];

static void watch_ring(world *w, int i) {
    au_ring_release(rw[i].ring);
    memset(&rw[i], 0, sizeof rw[i]);
    watcher_msg_lref l = au_spawn(w->s[i].node, ringwatch_actor, NULL, &(ringwatch_ref){ &rw[i] });
    assert_int_equal(au_cluster_subscribe(w->s[i].cluster, au_narrow_local(watcher_msg, au_cluster_update, l)), AU_OK);
}

/* every live node's latest ring has the same members and gives 200 keys the same owners */
static void rings_agree(world *w) {
    int first = -1;
    for (int i = 0; i < w->n; i++) {
        if (!w->s[i].live) continue;
        assert_int_equal(rw[i].bad, 0);
        assert_non_null(rw[i].ring);
        if (first < 0) { first = i; continue; }
        au_ring *a = rw[first].ring, *b = rw[i].ring;
        assert_int_equal(au_ring_size(a), au_ring_size(b));
        for (size_t j = 0; j < au_ring_size(a); j++) {
            assert_string_equal(au_ring_member(a, j)->address.ptr, au_ring_member(b, j)->address.ptr);
            assert_true(au_ring_member(a, j)->id == au_ring_member(b, j)->id);
        }
        for (uint32_t key = 0; key < 200; key++)
            assert_true(au_ring_owner(a, &key, sizeof key)->id == au_ring_owner(b, &key, sizeof key)->id);
    }
}

static void end_rings(world *w) {
    end_world(w);
    for (int i = 0; i < WORLD_MAX; i++) au_ring_release(rw[i].ring);
    memset(rw, 0, sizeof rw);
}

static void formed(world *w, int n, uint64_t seed) {
    memset(w, 0, sizeof *w);
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = seed }, &w->sim), AU_OK);
    for (int i = 0; i < n; i++) {
        assert_int_equal(world_start_node(w, i, FAULTY(w->sim), NULL), AU_OK);
        au_faults_seed(w->s[i].node, seed * 100 + (uint64_t)i);
    }
    const char *seeds[] = { w->s[0].addr };
    for (int i = 0; i < n; i++) {
        au_cluster_config c = quick(seeds, 1);
        assert_int_equal(world_start_cluster(w, i, &c), AU_OK);
        watch_ring(w, i);
    }
    converge(w, AU_SEC(10));
}

/* With R = 2 two crashed nodes may be each other's only other manager: both are still found
 * failed, and the survivors' rings agree. */
static void two_nodes_crashing_at_once_are_both_removed_and_the_rings_agree(void **st) {
    static world w;
    formed(&w, 6, 901);
    world_kill(&w, 2);
    world_kill(&w, 3);
    converge(&w, AU_SEC(15));
    au_sim_run(w.sim, AU_SEC(1));
    rings_agree(&w);
    for (int i = 0; i < 6; i++)
        if (w.s[i].live) {
            assert_int_equal(atomic_load(&w.s[i].removed_mask), 0xcull);
            assert_int_equal(atomic_load(&w.s[i].removed_failed), 2);
        }
    assert_int_equal(WORLD_SUM(&w, bad_first), 0);
    end_rings(&w);
}

/* A seed list of the node itself, a duplicate of the good seed and the good seed: one join. */
static void a_seed_list_with_itself_and_a_duplicate_joins_through_the_good_seed(void **st) {
    static world w;
    formed(&w, 3, 902);
    assert_int_equal(world_start_node(&w, 3, FAULTY(w.sim), NULL), AU_OK);
    const char *seeds[] = { w.s[3].addr, w.s[1].addr, w.s[3].addr, w.s[1].addr };
    au_cluster_config c = quick(seeds, 4);
    assert_int_equal(world_start_cluster(&w, 3, &c), AU_OK);
    watch_ring(&w, 3);
    converge(&w, AU_SEC(5));
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(atomic_load(&w.s[3].joined), 1);
    assert_int_equal(atomic_load(&w.s[3].alone), 0);
    assert_int_equal(WORLD_SUM(&w, removed), 0);
    rings_agree(&w);
    end_rings(&w);
}

/* 3|2 for 10 s (far past suspicion_max), then healed: one cluster, the rings agree. */
typedef struct sides { world *w; uint64_t a, b; } sides;
static bool sides_converged(void *arg) {
    sides *x = arg;
    for (int i = 0; i < x->w->n; i++)
        if (atomic_load(&x->w->s[i].members) != ((x->a >> i) & 1 ? x->a : x->b)) return false;
    return true;
}
static void a_partition_of_three_and_two_held_past_suspicion_heals_into_one(void **st) {
    static world w;
    formed(&w, 5, 903);
    au_node *a[] = { w.s[0].node, w.s[1].node, w.s[2].node }, *b[] = { w.s[3].node, w.s[4].node };
    assert_int_equal(au_faults_partition(a, 3, b, 2), AU_OK);
    sides x = { &w, 0x7, 0x18 };
    assert_int_equal(au_sim_run_until(w.sim, sides_converged, &x, AU_SEC(20)), AU_OK);
    au_sim_run(w.sim, AU_SEC(10));
    assert_true(sides_converged(&x));
    au_node *all[5];
    for (int i = 0; i < 5; i++) all[i] = w.s[i].node;
    assert_int_equal(au_faults_heal(all, 5), AU_OK);
    converge(&w, AU_SEC(20));
    au_sim_run(w.sim, AU_SEC(3));
    assert_true(world_converged(&w));
    rings_agree(&w);
    for (int i = 3; i < 5; i++) assert_true(atomic_load(&w.s[i].minority) >= 1);
    assert_int_equal(WORLD_SUM(&w, bad_first), 0);
    end_rings(&w);
}

int main(void) {
    (void)new_world; /* of cluster_sim_world.h: these worlds use the fault driver */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_nodes_crashing_at_once_are_both_removed_and_the_rings_agree),
        cmocka_unit_test(a_seed_list_with_itself_and_a_duplicate_joins_through_the_good_seed),
        cmocka_unit_test(a_partition_of_three_and_two_held_past_suspicion_heals_into_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
