/* test_cluster_amplify.c — a node without a cluster key is no traffic amplifier for spoofed
 * requests, in deterministic simulation: 150 nodes form a cluster; an attacker node (no cluster
 * of its own) sends one member ("the target") cluster messages that name a victim address — a
 * node it watches, with no cluster actor — as their sender: reconnects and full-table requests
 * (each answered, without a budget, with the whole table: 7 chunks of 24 entries), digests
 * and bucket replies at level 0 (each answered with 4 chunks of entries), then joins (each
 * answered with the whole table). Checked: what reaches the victim stays within the answer
 * budget (512 datagrams of burst, 128 per second) plus one small reply per reconnect or join,
 * and within twice the attacker's bytes plus the budget's; the target counts what it withheld
 * (answers_withheld); the cluster still agrees, and afterwards a new node joins through the
 * target and is seen by every member. Without the budget the victim gets 5,000 datagrams
 * (3.7 MB) in the first phase alone. And with a cluster key (60 members, the attacker a key
 * holder) nothing is withheld: every full-table request is answered.
 *
 * Relies on: the simulator (testkit), the cluster's wire protocol (cluster/protocol.h) to forge
 * the requests, node and cluster stats. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <aurum/aurum.h>
#include <aurum/cluster.h>
#include <aurum/testkit.h>

#include "cluster/protocol.h"

enum { N = 150, K = 250, BURST = 512, RATE = 128 };

static au_sim *sim;
static au_node *node[N + 4];
static au_cluster *cluster[N + 4];
static char addr[N + 4][64];
static int nlive;

static au_cluster_config config(void) {
    static const char *seeds[3];
    for (int i = 0; i < 3; i++) seeds[i] = addr[i];
    return (au_cluster_config){ .seeds = seeds, .nseeds = 3, .no_leave_on_stop = true,
                                .hb_interval = AU_SEC(1), .req_timeout = AU_SEC(2), .req_tries = 1 };
}

static const uint8_t *secret; /* NULL: unauthenticated */
static const uint8_t SECRET[32] = "amplify-test-secret-0123456789ab";

static au_node *start_node(int i) {
    au_driver d = au_sim_driver(sim);
    assert_int_equal(au_node_start(&(au_node_config){ .driver = &d, .workers = 1, .no_spin = true,
                                                      .secret = secret }, &node[i]),
                     AU_OK);
    snprintf(addr[i], sizeof addr[i], "%s", au_node_address(node[i]));
    return node[i];
}

static bool agreed(void *arg) {
    (void)arg;
    for (int i = 0; i < nlive; i++) {
        au_cluster_stats st;
        au_cluster_stats_get(cluster[i], &st);
        if (st.members != (uint64_t)nlive) return false;
    }
    return true;
}

static au_node_stats nstats(au_node *n) {
    au_node_stats st;
    au_node_stats_get(n, &st);
    return st;
}

static uint64_t withheld_at(int i) {
    au_cluster_stats st;
    au_cluster_stats_get(cluster[i], &st);
    return st.answers_withheld;
}

/* Sends K of each message `kinds` names to the target, spread over one second of virtual time,
 * every message claiming to come from `victim`; returns the virtual seconds it took. */
static double attack(cl_wire_ref to, const char *victim, uint64_t compat, bool joins) {
    au_nanos t0 = au_sim_now(sim);
    uint64_t wrong[1] = { 0x5eed };
    uint64_t bucket0[1] = { 0 };
    for (int k = 0; k < K; k++) {
        au_str from = au_str_view(victim);
        if (joins) {
            au_send(to, (cl_wire){ .tag = cl_wire_join, .join = { from, 0x1234567, 0, 1, compat, 0 } });
        } else {
            cl_sync base = { .from = from, .id = 0x1234567, .compat = compat };
            cl_sync y = base;
            y.flags = CL_SYNC_RECONNECT; /* from an unknown address: reply and a whole table */
            au_send(to, (cl_wire){ .tag = cl_wire_sync, .sync = y });
            y.flags = CL_SYNC_FULL_REQ; /* a whole table */
            au_send(to, (cl_wire){ .tag = cl_wire_sync, .sync = y });
            y.flags = CL_SYNC_DIGEST; /* level 0, one wrong hash: 96 entries */
            y.digest = (uint64_t_array){ wrong, 1, 0 };
            au_send(to, (cl_wire){ .tag = cl_wire_sync, .sync = y });
            y.flags = CL_SYNC_BUCKETS; /* "served bucket 0": push 96 entries */
            y.digest = (uint64_t_array){ bucket0, 1, 0 };
            au_send(to, (cl_wire){ .tag = cl_wire_sync, .sync = y });
        }
        au_sim_run(sim, AU_SEC(1) / K);
    }
    au_sim_run(sim, AU_MSEC(100)); /* what is in flight arrives */
    return (double)(au_sim_now(sim) - t0) / 1e9;
}

static void spoofed_requests_get_bounded_answers(void **state) {
    (void)state;
    au_log_set_level(AU_LOG_NET, AU_LOG_ERROR);
    au_log_set_level(AU_LOG_CLUSTER, AU_LOG_ERROR);
    uint64_t shift = getenv("CLUSTER_SEED") ? strtoull(getenv("CLUSTER_SEED"), NULL, 0) : 0;
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 8 + shift }, &sim), AU_OK);
    for (int i = 0; i < N; i++) start_node(i);
    au_node *attacker = start_node(N), *victim = start_node(N + 1), *victim2 = start_node(N + 2);
    for (int i = 0; i < N; i++) {
        au_cluster_config c = config();
        assert_int_equal(au_cluster_start(node[i], &c, &cluster[i]), AU_OK);
    }
    nlive = N;
    assert_int_equal(au_sim_run_until(sim, agreed, NULL, AU_SEC(60)), AU_OK);
    au_sim_run(sim, AU_SEC(5)); /* formation's traffic is over; the budgets are full again */

    int target = N / 2;
    au_type *own[] = { &au_type_cl_msg };
    uint64_t compat = au_cluster_compat(0, own, 1);
    cl_wire_ref to = au_forge(cl_msg, cl_wire, attacker, "cluster", addr[target]);
    assert_false(au_ref_is_null(to.raw));

    /* phase 1: reconnects, full requests, digests, bucket replies */
    au_node_stats a0 = nstats(attacker), v0 = nstats(victim);
    uint64_t w0 = withheld_at(target);
    double t = attack(to, addr[N + 1], compat, false);
    au_node_stats a1 = nstats(attacker), v1 = nstats(victim);
    uint64_t sent = a1.datagrams_sent - a0.datagrams_sent, sent_bytes = a1.bytes_sent - a0.bytes_sent;
    uint64_t got = v1.datagrams_received - v0.datagrams_received, got_bytes = v1.bytes_received - v0.bytes_received;
    uint64_t w1 = withheld_at(target);
    uint64_t budget = BURST + (uint64_t)(RATE * t) + 1;
    fprintf(stderr, "  requests: %llu datagrams, %llu bytes in %.2f s; the victim got %llu datagrams, %llu bytes; "
            "%llu withheld\n", (unsigned long long)sent, (unsigned long long)sent_bytes, t,
            (unsigned long long)got, (unsigned long long)got_bytes, (unsigned long long)(w1 - w0));
    assert_true(sent >= K); /* messages may share datagrams */
    /* one small reconnect reply per reconnect, plus what the budget pays */
    assert_true(got <= K + budget);
    assert_true(got_bytes <= 2 * sent_bytes + budget * 1400);
    assert_true(w1 - w0 >= (uint64_t)K * 16); /* of 22 chunks asked per round: 7 + 7 + 4 + 4 */

    /* phase 2: joins naming another victim (each would get the whole table) */
    a0 = nstats(attacker), v0 = nstats(victim2);
    t = attack(to, addr[N + 2], compat, true);
    a1 = nstats(attacker), v1 = nstats(victim2);
    sent_bytes = a1.bytes_sent - a0.bytes_sent;
    got = v1.datagrams_received - v0.datagrams_received, got_bytes = v1.bytes_received - v0.bytes_received;
    uint64_t w2 = withheld_at(target);
    budget = (uint64_t)(RATE * t) + 1; /* the burst was spent in phase 1 */
    fprintf(stderr, "  joins: %llu bytes; the victim got %llu datagrams, %llu bytes; %llu withheld\n",
            (unsigned long long)sent_bytes, (unsigned long long)got, (unsigned long long)got_bytes,
            (unsigned long long)(w2 - w1));
    /* one short answer per join, the budget, and the cluster's own traffic to a "member" that
     * the joins made it believe in (gossip to random members, ~30 datagrams a second here) */
    assert_true(got <= K + budget + 100);
    assert_true(got_bytes <= 2 * sent_bytes + (budget + 100) * 1400);
    assert_true(w2 > w1);

    /* and one heartbeat to every member claiming to come from that victim (its `from`; the
     * datagrams come from the attacker's address): not "heard from directly" either, so the
     * tombstone stays no reconnect target (when the claim counted, it got 70 datagrams in
     * phase 3) */
    for (int i = 0; i < N; i++) {
        cl_wire_ref each = au_forge(cl_msg, cl_wire, attacker, "cluster", addr[i]);
        au_send(each, (cl_wire){ .tag = cl_wire_hb,
                                 .hb = { au_str_view(addr[N + 2]), 0x1234567, { 0 } } });
    }
    au_sim_run(sim, AU_MSEC(100));

    /* the victim of the joins is removed as failed; everyone agrees on the 150 again */
    au_sim_run(sim, AU_SEC(20));
    assert_int_equal(au_sim_run_until(sim, agreed, NULL, AU_SEC(60)), AU_OK);

    /* phase 3: its tombstone draws no reconnect rounds (it was never heard from itself); before,
     * every node picked it about once a second until tombstone_ttl: ~150 datagrams a second */
    v0 = nstats(victim2);
    au_sim_run(sim, AU_SEC(10));
    v1 = nstats(victim2);
    got = v1.datagrams_received - v0.datagrams_received;
    fprintf(stderr, "  the removed victim got %llu datagrams in the next 10 s\n", (unsigned long long)got);
    assert_true(got <= 20);

    /* the budget refills: a new node joins through the target and every member sees it */
    static const char *seed_list[1];
    seed_list[0] = addr[target];
    start_node(N + 3);
    au_cluster_config c = config();
    c.seeds = seed_list, c.nseeds = 1;
    assert_int_equal(au_cluster_start(node[N + 3], &c, &cluster[N]), AU_OK);
    nlive = N + 1; /* agreed() reads cluster[0..nlive): the new one is cluster[N] */
    assert_int_equal(au_sim_run_until(sim, agreed, NULL, AU_SEC(30)), AU_OK);

    for (int i = 0; i < N + 4; i++) au_node_stop(node[i]);
    au_sim_destroy(sim);
}

/* With a cluster key only key holders reach the cluster actor, and they are trusted as before:
 * a key holder's full-table requests are all answered, whatever address they name. */
static void a_sealed_node_has_no_budget(void **state) {
    (void)state;
    enum { M = 60, R = 400 }; /* 3 chunks a request: 1,200 chunks in ~1 s, over the budget */
    secret = SECRET;
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 9 }, &sim), AU_OK);
    for (int i = 0; i < M + 2; i++) start_node(i);
    for (int i = 0; i < M; i++) {
        au_cluster_config c = config();
        assert_int_equal(au_cluster_start(node[i], &c, &cluster[i]), AU_OK);
    }
    nlive = M;
    assert_int_equal(au_sim_run_until(sim, agreed, NULL, AU_SEC(60)), AU_OK);
    au_sim_run(sim, AU_SEC(5));
    au_type *own[] = { &au_type_cl_msg };
    uint64_t compat = au_cluster_compat(0, own, 1);
    cl_wire_ref to = au_forge(cl_msg, cl_wire, node[M], "cluster", addr[0]);
    au_node_stats v0 = nstats(node[M + 1]);
    uint64_t w0 = withheld_at(0);
    for (int k = 0; k < R; k++) {
        cl_sync y = { .from = au_str_view(addr[M + 1]), .id = 0x1234567, .compat = compat,
                      .flags = CL_SYNC_FULL_REQ };
        au_send(to, (cl_wire){ .tag = cl_wire_sync, .sync = y });
        au_sim_run(sim, AU_SEC(1) / R);
    }
    au_sim_run(sim, AU_MSEC(100));
    au_node_stats v1 = nstats(node[M + 1]);
    uint64_t got_bytes = v1.bytes_received - v0.bytes_received;
    fprintf(stderr, "  sealed: the named address got %llu bytes for %d requests; %llu withheld\n",
            (unsigned long long)got_bytes, R, (unsigned long long)(withheld_at(0) - w0));
    assert_int_equal(withheld_at(0) - w0, 0);
    /* every request's whole table, ~1.9 KB (the budget would pay 653 of the 1,200 chunks) */
    assert_true(got_bytes >= (uint64_t)R * 1700);
    for (int i = 0; i < M + 2; i++) au_node_stop(node[i]);
    au_sim_destroy(sim);
    secret = NULL;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spoofed_requests_get_bounded_answers),
        cmocka_unit_test(a_sealed_node_has_no_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
