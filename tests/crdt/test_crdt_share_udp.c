/* test_crdt_share_udp.c — CRDT sharing on real UDP over 127.0.0.1 (port 0), with fault injection:
 *  - the seed's scenario (§7.5): a GCounter on 4 nodes, increments on nodes 1,2,3,4,1,2 made at
 *    once (before the nodes have joined), every replica must reach exactly 6; then two late
 *    joiners each increment three times at once: every replica must reach exactly 12. 50 % of
 *    the messages dropped, 20–50 ms delay, dispersal timeout 200 ms; both selectors (OutOfDate
 *    with amount 1, and All).
 *  - an ORSet with concurrent adds and removes of the same elements on different nodes (each
 *    node cut off from the others while it mutates), converging to the add-wins result on every
 *    replica, checked element by element and against a local replay of the same operations.
 *  - an ORMap of PNCounters likewise (concurrent update and removal of one key keeps the key
 *    with the updater's contribution).
 * Deadlines are real time and generous (sanitizers, valgrind); steps end as soon as they hold. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "crdt/share_world.h"

static double deadline(void) { return sw_valgrind() ? 120.0 : 25.0; }

/* ---- the seed's GCounter scenario --------------------------------------------------------- */

typedef struct gc_goal { sw *w; int from, to; uint64_t want; } gc_goal;

static bool gc_all_equal(void *arg) {
    gc_goal *g = arg;
    for (int i = g->from; i < g->to; i++)
        if (au_share_gcounter_value((au_share_gcounter){ g->w->sh[i] }) != g->want) return false;
    return true;
}

static bool buffers_empty(void *arg) {
    gc_goal *g = arg;
    for (int i = g->from; i < g->to; i++) {
        au_share_stats st;
        au_share_stats_get(g->w->sh[i], &st);
        if (st.buffered) return false;
    }
    return true;
}

/* Per replica: the value and buffer, what it sent and received, the acks both ways and every
 * reason a delta is not acked (drops_untyped: no type hash from a sender not yet typed); per
 * node: the injected drops, so a buffer that is never collected can be told from bad luck. */
static void gc_print(sw *w, int n) {
    for (int i = 0; i < n; i++) {
        au_share_stats st;
        au_share_stats_get(w->sh[i], &st);
        au_faults_stats fs;
        au_faults_stats_get(w->node[i], &fs);
        fprintf(stderr, "  node %d value %llu clock %llu peers %llu buffered %llu sent %llu/%llu"
                " received %llu (redundant %llu) acks sent %llu received %llu drops untyped %llu"
                " invalid %llu decode %llu type %llu; faults dropped %llu\n", i,
                (unsigned long long)au_share_gcounter_value((au_share_gcounter){ w->sh[i] }),
                (unsigned long long)st.clock, (unsigned long long)st.peers,
                (unsigned long long)st.buffered, (unsigned long long)st.deltas_sent,
                (unsigned long long)st.states_sent, (unsigned long long)st.received,
                (unsigned long long)st.redundant, (unsigned long long)st.acks_sent,
                (unsigned long long)st.acks_received, (unsigned long long)st.drops_untyped,
                (unsigned long long)st.drops_invalid, (unsigned long long)st.drops_decode,
                (unsigned long long)st.drops_type, (unsigned long long)fs.dropped);
        if (st.buffered && getenv("SHARE_LOG")) {
            au_node_stats ns;
            au_node_stats_get(w->node[i], &ns);
            au_node_stats_print(&ns, stderr);
        }
    }
}

static void gcounter_scenario(au_share_selector sel) {
    static sw w;
    sw_init(&w, NULL);
    for (int i = 0; i < 6; i++) sw_node(&w, i);
    for (int i = 0; i < 6; i++) sw_faults(&w, i, 0.5, AU_MSEC(20), AU_MSEC(50));
    au_cluster_config cc = { .vnodes = 3, .num_pings = 20, .ping_timeout = AU_MSEC(200),
                             .no_leave_on_stop = true };
    au_share_config sc = { .name = "test-crdt-causal", .selector = sel, .amount = 1,
                           .timeout = AU_MSEC(200) };
    double t0 = sw_secs();
    for (int i = 0; i < 4; i++) sw_start(&w, i, &cc, &au_gcounter_type, &sc);
    static const int order[] = { 0, 1, 2, 3, 0, 1 };
    for (size_t k = 0; k < 6; k++)
        assert_int_equal(au_share_gcounter_inc((au_share_gcounter){ w.sh[order[k]] }, 1), AU_OK);
    gc_goal g = { &w, 0, 4, 6 };
    bool ok = sw_wait(gc_all_equal, &g, deadline());
    fprintf(stderr, "  4 nodes at 6: %s in %.2f s\n", ok ? "converged" : "DID NOT converge", sw_secs() - t0);
    if (!ok) gc_print(&w, 4);
    assert_true(ok);
    /* let every ack arrive, so the buffers are collected and the late joiners need full states */
    /* usually well under a second; if not, the replicas' debug log (each re-send with the
     * peer's ack state, each ack sent and taken) shows why for the rest of the wait. At 50 %
     * loss each way a re-send and its ack both arrive 1 time in 4, and a peer is re-sent to
     * every 2 × (timeout + ack_delay) = 0.8 s: about 31 tries in 25 s, so a buffer still held
     * at the deadline by loss alone has odds of 0.75^31 ≈ 1e-4 per peer */
    double t1 = sw_secs();
    ok = sw_wait(buffers_empty, &g, deadline() / 5);
    if (!ok) {
        fprintf(stderr, "  buffers not collected after %.0f s; CRDT debug log on:\n", deadline() / 5);
        gc_print(&w, 4);
        au_log_level was = au_log_get_level(AU_LOG_CRDT);
        au_log_set_level(AU_LOG_CRDT, AU_LOG_DEBUG);
        ok = sw_wait(buffers_empty, &g, deadline() - (sw_secs() - t1));
        au_log_set_level(AU_LOG_CRDT, was);
        fprintf(stderr, "  buffers %s after %.2f s\n", ok ? "collected" : "NOT collected",
                sw_secs() - t1);
        gc_print(&w, 4);
    }
    assert_true(ok);
    t0 = sw_secs();
    for (int i = 4; i < 6; i++) sw_start(&w, i, &cc, &au_gcounter_type, &sc);
    for (int k = 0; k < 3; k++)
        for (int i = 4; i < 6; i++)
            assert_int_equal(au_share_gcounter_inc((au_share_gcounter){ w.sh[i] }, 1), AU_OK);
    g = (gc_goal){ &w, 0, 6, 12 };
    ok = sw_wait(gc_all_equal, &g, deadline());
    fprintf(stderr, "  6 nodes at 12: %s in %.2f s\n", ok ? "converged" : "DID NOT converge", sw_secs() - t0);
    if (!ok) gc_print(&w, 6);
    assert_true(ok);
    /* nothing was dropped as bad input, and full states went to the late joiners */
    assert_int_equal(SW_STAT(&w, drops_decode) + SW_STAT(&w, drops_type) + SW_STAT(&w, drops_invalid), 0);
    assert_true(SW_STAT(&w, states_sent) >= 1);
    sw_stop(&w);
}

static void gcounter_on_six_nodes_out_of_date(void **s) { (void)s; gcounter_scenario(AU_SHARE_OUT_OF_DATE); }
static void gcounter_on_six_nodes_all(void **s) { (void)s; gcounter_scenario(AU_SHARE_ALL); }

/* ---- concurrent operations, each node cut off while it mutates ---------------------------------- */

static void isolate(sw *w, int n, bool on) {
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j) au_faults_block(w->node[i], w->addr[j], on);
}

typedef struct mut_goal { sw *w; int n; uint64_t want[8]; } mut_goal;
static bool mutations_applied(void *arg) {
    mut_goal *g = arg;
    for (int i = 0; i < g->n; i++) {
        au_share_stats st;
        au_share_stats_get(g->w->sh[i], &st);
        if (st.mutations + st.mutations_failed < g->want[i]) return false;
    }
    return true;
}
static void want_mutations(mut_goal *g, int i, uint64_t more) { g->want[i] += more; }

typedef struct eq_goal { sw *w; int n; const au_crdt_type *t; void *expect; } eq_goal;
static bool all_equal_expected(void *arg) {
    eq_goal *g = arg;
    for (int i = 0; i < g->n; i++) {
        void *snap = NULL;
        if (au_share_snapshot(g->w->sh[i], &snap) != AU_OK) return false;
        bool eq = g->t->equal(snap, g->expect);
        g->t->free(snap);
        if (!eq) return false;
    }
    return true;
}

static au_cluster_config quick_cluster(void) {
    return (au_cluster_config){ .num_pings = 20, .ping_timeout = AU_MSEC(100),
                                .no_leave_on_stop = true };
}

static char elem[16][8];
static const char *E(int k) { snprintf(elem[k], sizeof elem[k], "e%d", k); return elem[k]; }

static void orset_concurrent_adds_and_removes_are_add_wins_everywhere(void **st) {
    (void)st;
    static sw w;
    sw_init(&w, NULL);
    enum { N = 4 };
    for (int i = 0; i < N; i++) sw_node(&w, i);
    for (int i = 0; i < N; i++) sw_faults(&w, i, 0.2, AU_MSEC(1), AU_MSEC(10));
    au_cluster_config cc = quick_cluster();
    au_share_config sc = { .name = "orset", .selector = AU_SHARE_ALL, .timeout = AU_MSEC(50) };
    for (int i = 0; i < N; i++) sw_start(&w, i, &cc, &au_orset_type, &sc);
    au_share_orset h[N];
    for (int i = 0; i < N; i++) h[i] = (au_share_orset){ w.sh[i] };
    mut_goal mg = { &w, N, { 0 } };
    /* node 0 adds e0..e9; everyone converges */
    for (int k = 0; k < 10; k++) assert_int_equal(au_share_orset_add(h[0], E(k), 2), AU_OK);
    want_mutations(&mg, 0, 10);
    assert_true(sw_wait(mutations_applied, &mg, deadline()));
    au_orset *base = NULL;
    assert_int_equal(au_share_orset_snapshot(h[0], &base), AU_OK);
    eq_goal eg = { &w, N, &au_orset_type, base };
    assert_true(sw_wait(all_equal_expected, &eg, deadline()));

    /* concurrent: every node cut off, then
     *   node 1 removes e0..e4 and adds e6      node 2 re-adds e0..e2 and removes e6
     *   node 3 removes e5 and e7               node 0 removes e5 and adds e7 again */
    isolate(&w, N, true);
    for (int k = 0; k <= 4; k++) au_share_orset_remove(h[1], E(k), 2);
    au_share_orset_add(h[1], E(6), 2);
    for (int k = 0; k <= 2; k++) au_share_orset_add(h[2], E(k), 2);
    au_share_orset_remove(h[2], E(6), 2);
    au_share_orset_remove(h[3], E(5), 2);
    au_share_orset_remove(h[3], E(7), 2);
    au_share_orset_remove(h[0], E(5), 2);
    au_share_orset_add(h[0], E(7), 2);
    want_mutations(&mg, 1, 6);
    want_mutations(&mg, 2, 4);
    want_mutations(&mg, 3, 2);
    want_mutations(&mg, 0, 2);
    assert_true(sw_wait(mutations_applied, &mg, deadline()));

    /* the reference: the same operations on local copies of the common base, joined */
    au_orset *r[N], *expect = au_orset_new();
    for (int i = 0; i < N; i++) assert_int_equal(au_orset_copy(base, &r[i]), AU_OK);
    uint64_t id[N];
    for (int i = 0; i < N; i++) id[i] = au_share_replica(w.sh[i]);
    for (int k = 0; k <= 4; k++) au_orset_remove(r[1], NULL, E(k), 2);
    au_orset_add(r[1], NULL, id[1], E(6), 2);
    for (int k = 0; k <= 2; k++) au_orset_add(r[2], NULL, id[2], E(k), 2);
    au_orset_remove(r[2], NULL, E(6), 2);
    au_orset_remove(r[3], NULL, E(5), 2);
    au_orset_remove(r[3], NULL, E(7), 2);
    au_orset_remove(r[0], NULL, E(5), 2);
    au_orset_add(r[0], NULL, id[0], E(7), 2);
    for (int i = 0; i < N; i++) au_orset_join(expect, r[i]);
    /* add-wins, spelled out */
    static const bool in[10] = { 1, 1, 1, 0, 0, 0, 1, 1, 1, 1 };
    for (int k = 0; k < 10; k++) assert_int_equal(au_orset_contains(expect, E(k), 2), in[k]);

    isolate(&w, N, false);
    eg.expect = expect;
    double t0 = sw_secs();
    bool ok = sw_wait(all_equal_expected, &eg, deadline());
    fprintf(stderr, "  orset after heal: %s in %.2f s\n", ok ? "converged" : "DID NOT converge", sw_secs() - t0);
    assert_true(ok);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < 10; k++)
            assert_int_equal(au_share_orset_contains(h[i], E(k), 2), in[k]);
    for (int i = 0; i < N; i++) au_orset_free(r[i]);
    au_orset_free(expect);
    au_orset_free(base);
    sw_stop(&w);
}

static void ormap_of_pncounters_concurrent_update_and_remove(void **st) {
    (void)st;
    static sw w;
    sw_init(&w, NULL);
    enum { N = 4 };
    for (int i = 0; i < N; i++) sw_node(&w, i);
    for (int i = 0; i < N; i++) sw_faults(&w, i, 0.2, AU_MSEC(1), AU_MSEC(10));
    au_cluster_config cc = quick_cluster();
    au_share_config sc = { .name = "ormap", .timeout = AU_MSEC(50), .amount = 2 };
    for (int i = 0; i < N; i++) sw_start(&w, i, &cc, &au_ormap_pncounter_type, &sc);
    au_share_ormap_pncounter h[N];
    for (int i = 0; i < N; i++) h[i] = (au_share_ormap_pncounter){ w.sh[i] };
    mut_goal mg = { &w, N, { 0 } };
    const char *K[4] = { "k0", "k1", "k2", "k3" };
    for (int k = 0; k < 4; k++) assert_int_equal(au_share_ormap_pncounter_add(h[0], K[k], 2, 10), AU_OK);
    want_mutations(&mg, 0, 4);
    assert_true(sw_wait(mutations_applied, &mg, deadline()));
    au_ormap_pncounter base;
    assert_int_equal(au_share_ormap_pncounter_snapshot(h[0], &base), AU_OK);
    eq_goal eg = { &w, N, &au_ormap_pncounter_type, base.map };
    assert_true(sw_wait(all_equal_expected, &eg, deadline()));

    /* concurrent: node 1 removes k0 while node 2 adds 5 to it; nodes 1 and 3 both remove k1;
     * nodes 1 (+3) and 2 (-1) update k2; node 3 removes k3 while node 0 adds 2 to it */
    isolate(&w, N, true);
    au_share_ormap_pncounter_remove(h[1], "k0", 2);
    au_share_ormap_pncounter_add(h[2], "k0", 2, 5);
    au_share_ormap_pncounter_remove(h[1], "k1", 2);
    au_share_ormap_pncounter_remove(h[3], "k1", 2);
    au_share_ormap_pncounter_add(h[1], "k2", 2, 3);
    au_share_ormap_pncounter_add(h[2], "k2", 2, -1);
    au_share_ormap_pncounter_remove(h[3], "k3", 2);
    au_share_ormap_pncounter_add(h[0], "k3", 2, 2);
    want_mutations(&mg, 1, 3);
    want_mutations(&mg, 2, 2);
    want_mutations(&mg, 3, 2);
    want_mutations(&mg, 0, 1);
    assert_true(sw_wait(mutations_applied, &mg, deadline()));

    /* the expected result, by the rules of the type: a removal takes what the remover saw; an
     * update concurrent with it keeps the key with the updater's whole contribution */
    isolate(&w, N, false);
    typedef struct { bool in; int64_t v; } kv;
    static const kv want[4] = { { true, 5 }, { false, 0 }, { true, 12 }, { true, 12 } };
    double t0 = sw_secs();
    bool ok = false;
    while (sw_secs() - t0 < deadline()) {
        ok = true;
        for (int i = 0; i < N && ok; i++) {
            if (au_share_ormap_pncounter_size(h[i]) != 3) ok = false;
            for (int k = 0; k < 4 && ok; k++) {
                int64_t v = -1;
                bool in = au_share_ormap_pncounter_get(h[i], K[k], 2, &v);
                if (in != want[k].in || v != want[k].v) ok = false;
            }
        }
        if (ok) break;
        nanosleep(&(struct timespec){ 0, 5000000 }, NULL);
    }
    fprintf(stderr, "  ormap after heal: %s in %.2f s\n", ok ? "converged" : "DID NOT converge", sw_secs() - t0);
    assert_true(ok);
    /* and every replica is the same lattice element */
    au_ormap_pncounter first;
    assert_int_equal(au_share_ormap_pncounter_snapshot(h[0], &first), AU_OK);
    eg.expect = first.map;
    assert_true(all_equal_expected(&eg));
    au_ormap_pncounter_free(first);
    au_ormap_pncounter_free(base);
    sw_stop(&w);
}

int main(void) {
    au_log_set_level(AU_LOG_NET, AU_LOG_ERROR);
    au_log_set_level(AU_LOG_CLUSTER, AU_LOG_ERROR);
    if (getenv("SHARE_LOG")) au_log_set_level(AU_LOG_CRDT, AU_LOG_DEBUG);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gcounter_on_six_nodes_out_of_date),
        cmocka_unit_test(gcounter_on_six_nodes_all),
        cmocka_unit_test(orset_concurrent_adds_and_removes_are_add_wins_everywhere),
        cmocka_unit_test(ormap_of_pncounters_concurrent_update_and_remove),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
