/* test_crdt_share_prune.c — the pruning of departed members under churn, in the deterministic
 * simulator: one replica (a cluster of one) is handed membership updates of the test's making
 * (sh_actor, share_wire.h) removing 6,000 members that each had an entry in the shared GCounter:
 *  - each departure is pruned once (its count folded into the replica's own entry: the value
 *    stays), and one removed again while remembered is not pruned twice;
 *  - the ids remembered as pruned stay bounded (4,096, the most recent), and one forgotten and
 *    removed again is pruned again harmlessly: its entry is retired in the state, nothing
 *    changes, nothing is shipped.
 * Conditions are checked every 100 ms of virtual time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "crdt/share_wire.h"
#include "crdt/share_world.h"

enum { DEPARTED = 6000, BATCH = 250, REMEMBERED = 4096 };
#define FAKE_ID(k) (0x5eed000000000000ull + (uint64_t)(k) + 1)

/* An increment of another replica's entry: what a member that has since left had done. */
static au_err inc_as(au_gcounter *st, au_gcounter *d, uint64_t r, const void *a, size_t l) {
    (void)r;
    uint64_t id;
    if (l != sizeof id) return AU_EINVAL;
    memcpy(&id, a, sizeof id);
    return au_gcounter_inc(st, d, id, 1);
}

/* Hands replica 0 an update removing departed members [lo, hi) (LEAVING), the member set being
 * this node alone (as its cluster has it). */
static void remove_members(sw *w, int lo, int hi) {
    static au_cluster_event ev[BATCH];
    assert_true(hi - lo <= BATCH);
    for (int k = lo; k < hi; k++)
        ev[k - lo] = (au_cluster_event){ .kind = AU_CLUSTER_REMOVED, .reason = AU_CLUSTER_LEAVING,
                                         .member = { .address = au_str_view("10.0.0.1:1"),
                                                     .id = FAKE_ID(k), .vnodes = 1 } };
    au_cluster_member self = { .address = au_str_view(w->addr[0]),
                               .id = au_share_replica(w->sh[0]), .vnodes = 1 };
    au_cluster_update u = { .events = { ev, (uint32_t)(hi - lo), 0 },
                            .members = { &self, 1, 0 } };
    assert_int_equal(au_send(sh_actor(w->sh[0]), (sh_msg){ .tag = sh_msg_update, .update = u }),
                     AU_OK);
}

typedef struct prune_goal { sw *w; uint64_t pruned; } prune_goal;
static bool pruned_reach(void *arg) {
    prune_goal *g = arg;
    return sw_stats(g->w, 0).pruned >= g->pruned;
}

static void thousands_of_departures_are_pruned_once_each_in_a_bounded_table(void **st) {
    (void)st;
    static sw w;
    au_sim *sim;
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 51 }, &sim), AU_OK);
    sw_init(&w, sim);
    sw_node(&w, 0);
    au_cluster_config cc = { .no_leave_on_stop = true };
    au_share_config sc = { .name = "gc", .prune_delay = AU_MSEC(1) };
    sw_start(&w, 0, &cc, &au_gcounter_type, &sc);
    au_sim_run(sim, AU_SEC(3)); /* alone: the cluster of one */
    au_share_gcounter h = { w.sh[0] };

    for (int lo = 0; lo < DEPARTED; lo += BATCH) {
        for (int k = lo; k < lo + BATCH; k++) {
            uint64_t id = FAKE_ID(k);
            assert_int_equal(au_share_gcounter_mutate(h, inc_as, &id, sizeof id), AU_OK);
        }
        remove_members(&w, lo, lo + BATCH);
        prune_goal g = { &w, (uint64_t)(lo + BATCH) };
        assert_true(sw_run_until(&w, pruned_reach, &g, AU_SEC(5)));
        au_share_stats s = sw_stats(&w, 0);
        assert_int_equal(s.pruned, lo + BATCH); /* once per departure */
        assert_true(s.pruned_ids <= REMEMBERED);
        assert_int_equal(s.pruned_ids, lo + BATCH < REMEMBERED ? lo + BATCH : REMEMBERED);
    }
    /* every count folded into this replica's entry: the value stays */
    assert_int_equal(au_share_gcounter_value(h), DEPARTED);
    au_share_stats s0 = sw_stats(&w, 0);
    fprintf(stderr, "  %d departures: %llu pruned, %llu ids remembered\n", DEPARTED,
            (unsigned long long)s0.pruned, (unsigned long long)s0.pruned_ids);

    /* the remembered ones removed again (they came back and left): not pruned twice — the
     * 4,000 of the last 16 batches (within a batch the prune order is the table's, so the
     * 4,096 most recent end inside batch 7), found after the 1,904 oldest left the index */
    for (int lo = 8 * BATCH; lo < DEPARTED; lo += BATCH) remove_members(&w, lo, lo + BATCH);
    au_sim_run(sim, AU_SEC(2));
    assert_int_equal(sw_stats(&w, 0).pruned, DEPARTED);

    /* the oldest, forgotten, removed again: pruned again, which changes nothing (retired in the
     * state: nothing to fold) and ships nothing (the clock stays) */
    remove_members(&w, 0, BATCH);
    prune_goal g = { &w, DEPARTED + BATCH };
    assert_true(sw_run_until(&w, pruned_reach, &g, AU_SEC(5)));
    au_share_stats s1 = sw_stats(&w, 0);
    assert_int_equal(au_share_gcounter_value(h), DEPARTED);
    assert_int_equal(s1.clock, s0.clock);
    assert_true(s1.pruned_ids <= REMEMBERED);

    /* their stale entries arriving again are absorbed: an increment of a retired replica's entry
     * is refused, and the value stays */
    uint64_t id = FAKE_ID(0);
    assert_int_equal(au_share_gcounter_mutate(h, inc_as, &id, sizeof id), AU_OK);
    au_sim_run(sim, AU_SEC(1));
    assert_int_equal(au_share_gcounter_value(h), DEPARTED);
    sw_stop(&w);
    au_sim_destroy(sim);
}

int main(void) {
    au_log_set_level(AU_LOG_NET, AU_LOG_ERROR);
    au_log_set_level(AU_LOG_CLUSTER, AU_LOG_ERROR);
    au_log_set_level(AU_LOG_CRDT, AU_LOG_ERROR); /* a log line per prune */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(thousands_of_departures_are_pruned_once_each_in_a_bounded_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
