/* test_crdt_share_silent.c — a member that never answers, in the deterministic simulator: a node
 * of the cluster that does not run the replica (it does not share this CRDT) is not sent the
 * join of every delta it has not acked every re-send wait, only ever less often, up to every
 * 64 re-send waits; if it starts the replica later, it catches up. With large deltas it holds
 * at most max_buffer bytes of the buffer (the oldest collected; it catches up by the full state).
 * Conditions are checked every 100 ms of virtual time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "crdt/share_world.h"

static bool peered(void *arg) {
    sw *w = arg;
    return sw_stats(w, 0).peers == 2 && sw_stats(w, 1).peers == 2;
}

/* Nodes 0..2 of a new world on sim seeded `seed`: 0 and 1 run the replica of type t (config sc),
 * node 2 is in their cluster without it; returns once 0 and 1 each see two peers. */
static void two_replicas_and_a_silent_member(sw *w, au_sim **sim, uint64_t seed, const au_crdt_type *t,
                                             const au_share_config *sc) {
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = seed }, sim), AU_OK);
    sw_init(w, *sim);
    for (int i = 0; i < 3; i++) sw_node(w, i);
    au_cluster_config cc = { .no_leave_on_stop = true };
    for (int i = 0; i < 2; i++) sw_start(w, i, &cc, t, sc);
    /* node 2: in the cluster, without the replica */
    au_cluster_config c2 = cc;
    w->seeds[2][0] = w->addr[0], w->seeds[2][1] = w->addr[1];
    c2.seeds = w->seeds[2];
    c2.nseeds = 2;
    assert_int_equal(au_cluster_start(w->node[2], &c2, &w->cl[2]), AU_OK);
    assert_true(sw_run_until(w, peered, w, AU_SEC(20)));
}


static void a_member_without_the_replica_is_sent_to_ever_less_often(void **st) {
    (void)st;
    static sw w;
    au_sim *sim;
    au_share_config sc = { .name = "gc" };
    two_replicas_and_a_silent_member(&w, &sim, 41, &au_gcounter_type, &sc);

    /* 300 increments on node 0, one every 200 ms (60 s) */
    au_share_gcounter h0 = { w.sh[0] };
    uint64_t sends_mid = 0, recv_mid = 0;
    for (int k = 0; k < 300; k++) {
        assert_int_equal(au_share_gcounter_inc(h0, 1), AU_OK);
        au_sim_run(sim, AU_MSEC(200));
        if (k == 149) {
            sends_mid = sw_stats(&w, 0).deltas_sent + sw_stats(&w, 0).states_sent;
            recv_mid = sw_stats(&w, 1).received; /* node 1 hears only node 0 (no loss) */
        }
    }
    sw_gc_goal g = { &w, 0, 2, 300 };
    assert_true(sw_run_until(&w, sw_gcounters_are, &g, AU_SEC(5)));
    au_sim_run(sim, AU_SEC(1));
    au_share_stats s0 = sw_stats(&w, 0);
    uint64_t to2 = s0.deltas_sent + s0.states_sent - sends_mid - (sw_stats(&w, 1).received - recv_mid);
    fprintf(stderr, "  node 0: %llu buffered; %llu sends to node 2 in the last 30 s\n",
            (unsigned long long)s0.buffered, (unsigned long long)to2);
    /* node 2 holds them in node 0's buffer (up to the buffer's 65,536 deltas) */
    assert_int_equal(s0.buffered, 300);
    /* once silent, node 2 is sent to every 64 re-send waits (11.2 s) at most: without the rule,
     * with every change window (~150 in 30 s) */
    assert_true(to2 <= 4);

    /* node 2 starts the replica: it catches up */
    assert_int_equal(au_share_start(w.node[2], w.cl[2], &au_gcounter_type, &sc, &w.sh[2]), AU_OK);
    g = (sw_gc_goal){ &w, 0, 3, 300 };
    assert_true(sw_run_until(&w, sw_gcounters_are, &g, AU_SEC(30)));
    assert_int_equal(au_share_gcounter_inc((au_share_gcounter){ w.sh[2] }, 1), AU_OK);
    g.want = 301;
    assert_true(sw_run_until(&w, sw_gcounters_are, &g, AU_SEC(5)));
    sw_stop(&w);
    au_sim_destroy(sim);
}

/* Every replica [from, to) holds the n elements of big_elem. */
enum { BIG_LEN = 1000 };
static void big_elem(char *b, int k) {
    memset(b, 'a' + k % 26, BIG_LEN);
    snprintf(b, 16, "e%05d", k);
}
typedef struct big_goal { sw *w; int from, to, n; } big_goal;
static bool big_all_have(void *arg) {
    big_goal *g = arg;
    char b[BIG_LEN];
    for (int i = g->from; i < g->to; i++) {
        au_share_orset o = { g->w->sh[i] };
        if (au_share_orset_size(o) != (size_t)g->n) return false;
        for (int k = 0; k < g->n; k++) {
            big_elem(b, k);
            if (!au_share_orset_contains(o, b, BIG_LEN)) return false;
        }
    }
    return true;
}

/* The same member that never answers, with deltas of 1 KB: it pins the buffer, which holds at
 * most max_buffer bytes of them (64 KiB here): beyond, the oldest are collected, and node 2 gets
 * the full state when it starts the replica. Node 1 (which acks) is served as usual. */
static void a_member_that_never_answers_holds_at_most_max_buffer_bytes(void **st) {
    (void)st;
    static sw w;
    au_sim *sim;
    au_share_config sc = { .name = "big", .max_buffer = 64 << 10 };
    two_replicas_and_a_silent_member(&w, &sim, 42, &au_orset_type, &sc);

    /* 300 adds of 1 KB elements on node 0, one every 200 ms: 300 KB of deltas node 2 never acks */
    au_share_orset h0 = { w.sh[0] };
    char b[BIG_LEN];
    uint64_t most = 0, most_n = 0;
    for (int k = 0; k < 300; k++) {
        big_elem(b, k);
        assert_int_equal(au_share_orset_add(h0, b, BIG_LEN), AU_OK);
        au_sim_run(sim, AU_MSEC(200));
        au_share_stats s = sw_stats(&w, 0);
        if (s.buffered_bytes > most) most = s.buffered_bytes;
        if (s.buffered > most_n) most_n = s.buffered;
    }
    big_goal g = { &w, 0, 2, 300 };
    assert_true(sw_run_until(&w, big_all_have, &g, AU_SEC(5)));
    au_share_stats s0 = sw_stats(&w, 0);
    fprintf(stderr, "  node 0: at most %llu bytes in %llu deltas buffered (now %llu in %llu); "
            "%llu collected unacked\n", (unsigned long long)most, (unsigned long long)most_n,
            (unsigned long long)s0.buffered_bytes, (unsigned long long)s0.buffered,
            (unsigned long long)s0.collected_unacked);
    /* without the bound: 300 deltas, over 300 KB */
    assert_true(most <= (64 << 10) + BIG_LEN + 100);
    assert_true(most_n < 70);
    assert_true(s0.buffered_bytes <= 64 << 10);
    assert_true(s0.collected_unacked >= 230);

    /* node 2 starts the replica: it catches up (by the full state) */
    uint64_t states = s0.states_sent;
    assert_int_equal(au_share_start(w.node[2], w.cl[2], &au_orset_type, &sc, &w.sh[2]), AU_OK);
    g = (big_goal){ &w, 0, 3, 300 };
    assert_true(sw_run_until(&w, big_all_have, &g, AU_SEC(30)));
    au_share_stats s1 = sw_stats(&w, 0), s1b = sw_stats(&w, 1);
    assert_true(s1.states_sent + s1b.states_sent > states);
    big_elem(b, 300);
    assert_int_equal(au_share_orset_add((au_share_orset){ w.sh[2] }, b, BIG_LEN), AU_OK);
    g.n = 301;
    assert_true(sw_run_until(&w, big_all_have, &g, AU_SEC(5)));
    sw_stop(&w);
    au_sim_destroy(sim);
}

int main(void) {
    au_log_set_level(AU_LOG_NET, AU_LOG_ERROR);
    au_log_set_level(AU_LOG_CLUSTER, AU_LOG_ERROR);
    au_log_set_level(AU_LOG_CRDT, AU_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_member_without_the_replica_is_sent_to_ever_less_often),
        cmocka_unit_test(a_member_that_never_answers_holds_at_most_max_buffer_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
