/* test_cluster_adversary.c — failures and shapes the other suites do not cover, in deterministic
 * simulation: half the cluster leaving at once, nodes leaving one after another down to one, a
 * leave made while the node is partitioned from most of the cluster (and a start again before
 * the heal), a link that flaps, a subscription made after au_cluster_leave, seeds spelled as
 * host names (mutual seeds started at once; the reconnect rounds once joined), a node restarted
 * into another cluster, and a star whose hub crashes right after the joins (also with its
 * answer to the last joiner lost), a leave under 30 % loss, a seed in a cluster formed later,
 * a leave while still joining after the seed admitted the joiner, and every node leaving and
 * starting again at once.
 * Relies on cluster_sim_world.h. Every scenario runs on virtual time with a fixed seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "cluster/cluster_sim_world.h"

#define FAULTY(sim) ((au_driver[]){ au_faults_driver(SIMULATED(sim)) })

/* n nodes on faulty simulated drivers, all seeding node 0, formed */
static void formed(world *w, int n, uint64_t seed) {
    static const char *seeds[1];
    memset(w, 0, sizeof *w);
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = seed }, &w->sim), AU_OK);
    for (int i = 0; i < n; i++) assert_int_equal(world_start_node(w, i, FAULTY(w->sim), NULL), AU_OK);
    seeds[0] = w->s[0].addr;
    for (int i = 0; i < n; i++) {
        au_cluster_config c = quick(seeds, 1);
        assert_int_equal(world_start_cluster(w, i, &c), AU_OK);
    }
    converge(w, AU_SEC(10));
}

/* Three of six leave at the same instant: the other three see three graceful leaves (no
 * failure), converge, and are no minority (a graceful leave shrinks the membership they
 * count a majority of). */
static void half_the_cluster_leaving_at_once_leaves_the_rest_a_majority(void **st) {
    static world w;
    formed(&w, 6, 401);
    for (int i = 3; i < 6; i++) {
        assert_int_equal(au_cluster_leave(w.s[i].cluster), AU_OK);
        w.s[i].live = false;
    }
    converge(&w, AU_SEC(5));
    au_sim_run(w.sim, AU_SEC(10));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(atomic_load(&w.s[i].members), 0x7ull);
        assert_int_equal(atomic_load(&w.s[i].removed_left), 3);
        assert_int_equal(atomic_load(&w.s[i].removed_failed), 0);
        assert_int_equal(atomic_load(&w.s[i].minority), 0);
    }
    for (int i = 3; i < 6; i++) assert_int_equal(atomic_load(&w.s[i].left), 1);
    end_world(&w);
}

/* Five nodes leave one after another, each once the rest has seen the one before go: the last
 * one is alone, never a minority, and nobody saw a failure. */
static void leaving_one_by_one_down_to_one_is_never_a_minority(void **st) {
    static world w;
    formed(&w, 6, 402);
    for (int i = 5; i >= 1; i--) {
        assert_int_equal(au_cluster_leave(w.s[i].cluster), AU_OK);
        w.s[i].live = false;
        converge(&w, AU_SEC(5));
    }
    au_sim_run(w.sim, AU_SEC(10));
    assert_int_equal(atomic_load(&w.s[0].members), 0x1ull);
    assert_int_equal(WORLD_SUM(&w, removed_failed), 0);
    assert_int_equal(WORLD_SUM(&w, minority), 0);
    end_world(&w);
}

/* Node 1 leaves while it and node 0 are cut off from nodes 2..4. The far side removes both
 * (they failed, as far as it can tell); after the heal node 0 is back everywhere, node 1 stays
 * out everywhere, and nobody keeps a member that is gone. */
static void a_leave_during_a_partition_is_not_undone_by_the_heal(void **st) {
    static world w;
    formed(&w, 5, 403);
    au_node *a[] = { w.s[0].node, w.s[1].node }, *b[] = { w.s[2].node, w.s[3].node, w.s[4].node };
    assert_int_equal(au_faults_partition(a, 2, b, 3), AU_OK);
    au_sim_run(w.sim, AU_MSEC(200));
    assert_int_equal(au_cluster_leave(w.s[1].cluster), AU_OK);
    w.s[1].live = false;
    au_sim_run(w.sim, AU_SEC(10));
    assert_int_equal(atomic_load(&w.s[0].members), 0x1ull);
    for (int i = 2; i < 5; i++) assert_int_equal(atomic_load(&w.s[i].members), 0x1cull);
    au_node *all[] = { w.s[0].node, w.s[1].node, w.s[2].node, w.s[3].node, w.s[4].node };
    assert_int_equal(au_faults_heal(all, 5), AU_OK);
    converge(&w, AU_SEC(20));
    au_sim_run(w.sim, AU_SEC(20));
    assert_true(world_converged(&w));
    end_world(&w);
}

/* The link between nodes 0 and 1 goes down and up every 400 ms (both ways) for 20 s, then stays
 * up: the others keep both (they reach both directly), and at the end all five agree. */
static void a_flapping_link_settles_into_one_cluster(void **st) {
    static world w;
    formed(&w, 5, 404);
    for (int k = 0; k < 50; k++) {
        bool down = (k % 2) == 0;
        assert_int_equal(au_faults_block(w.s[0].node, w.s[1].addr, down), AU_OK);
        assert_int_equal(au_faults_block(w.s[1].node, w.s[0].addr, down), AU_OK);
        au_sim_run(w.sim, AU_MSEC(400));
    }
    assert_int_equal(au_faults_block(w.s[0].node, w.s[1].addr, false), AU_OK);
    assert_int_equal(au_faults_block(w.s[1].node, w.s[0].addr, false), AU_OK);
    converge(&w, AU_SEC(20));
    au_sim_run(w.sim, AU_SEC(10));
    assert_true(world_converged(&w));
    for (int i = 2; i < 5; i++) assert_int_equal(atomic_load(&w.s[i].removed_mask), 0);
    end_world(&w);
}

/* A subscriber added after au_cluster_leave was called, but before the cluster actor handled the
 * leave: the call must not say AU_OK for a subscription that is never served (the actor stops
 * when it handles the leave, and the subscription queued behind it was dropped unseen). */
static void subscribing_after_leave_is_refused_or_served(void **st) {
    static world w;
    new_world(&w, 1, 405);
    au_cluster_config c = quick(NULL, 0);
    assert_int_equal(world_start_cluster(&w, 0, &c), AU_OK);
    au_sim_run(w.sim, AU_MSEC(10));
    assert_int_equal(atomic_load(&w.s[0].alone), 1);
    slot *late = &w.s[1]; /* a watcher's counters, for no node of the world */
    memset(late, 0, sizeof *late);
    late->w = &w;
    assert_int_equal(au_cluster_leave(w.s[0].cluster), AU_OK);
    watcher_msg_lref wl = au_spawn(w.s[0].node, watcher_actor, NULL, &(watcher){ late });
    au_err e = au_cluster_subscribe(w.s[0].cluster, au_narrow_local(watcher_msg, au_cluster_update, wl));
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(atomic_load(&w.s[0].left), 1);
    if (e == AU_OK) assert_int_equal(atomic_load(&late->left), 1);
    else assert_int_equal(e, AU_ESTOPPED);
    /* once it has stopped: refused */
    assert_int_equal(au_cluster_subscribe(w.s[0].cluster, au_narrow_local(watcher_msg, au_cluster_update, wl)),
                     AU_ESTOPPED);
    end_world(&w);
}

/* Node i's address spelled as a host name ("localhost:P"), or, where localhost is not 127.0.0.1,
 * as "127.000.000.001:P" (another spelling that resolves to it). */
static void spelled_otherwise(world *w, int i, char *out, size_t size) {
    struct sockaddr_storage a, b;
    socklen_t la, lb;
    const char *port = strrchr(w->s[i].addr, ':');
    snprintf(out, size, "localhost%s", port);
    assert_int_equal(au_address_resolve(w->s[i].addr, &a, &la), AU_OK);
    if (au_address_resolve(out, &b, &lb) != AU_OK || !au_address_equal((struct sockaddr *)&a, (struct sockaddr *)&b))
        snprintf(out, size, "127.000.000.001%s", port);
}

/* Two nodes that seed each other by another spelling of their addresses, started at the same
 * instant: each admits the other's join as a seed's (as with the addresses spelled as the nodes
 * advertise them, test_cluster_churn), so both say JOINED within a join round, not ALONE after
 * all of them. */
static void two_nodes_seeding_each_other_by_name_form_one_cluster_at_once(void **st) {
    static world w;
    new_world(&w, 2, 406);
    char n0[80], n1[80];
    spelled_otherwise(&w, 0, n0, sizeof n0);
    spelled_otherwise(&w, 1, n1, sizeof n1);
    const char *s0[] = { n1 }, *s1[] = { n0 };
    au_cluster_config c0 = quick(s0, 1), c1 = quick(s1, 1);
    assert_int_equal(world_start_cluster(&w, 0, &c0), AU_OK);
    assert_int_equal(world_start_cluster(&w, 1, &c1), AU_OK);
    converge(&w, AU_MSEC(100)); /* one ping_timeout (50 ms), and the answers */
    assert_int_equal(WORLD_SUM(&w, alone), 0);
    assert_int_equal(WORLD_SUM(&w, joined), 2);
    end_world(&w);
}

/* Cluster messages two nodes send in 20 s once formed, node 1 seeding node 0 by `seed`. */
static uint64_t sent_in_20_s(bool by_name) {
    static world w;
    new_world(&w, 2, 407);
    char name[80];
    spelled_otherwise(&w, 0, name, sizeof name);
    const char *seeds[] = { by_name ? name : w.s[0].addr };
    au_cluster_config c0 = quick(NULL, 0), c1 = quick(seeds, 1);
    assert_int_equal(world_start_cluster(&w, 0, &c0), AU_OK);
    assert_int_equal(world_start_cluster(&w, 1, &c1), AU_OK);
    converge(&w, AU_SEC(5));
    au_sim_run(w.sim, AU_SEC(5));
    uint64_t before = 0, after = 0;
    au_cluster_stats cs;
    for (int i = 0; i < 2; i++) au_cluster_stats_get(w.s[i].cluster, &cs), before += cs.messages_sent;
    au_sim_run(w.sim, AU_SEC(20));
    for (int i = 0; i < 2; i++) au_cluster_stats_get(w.s[i].cluster, &cs), after += cs.messages_sent;
    assert_true(world_converged(&w));
    end_world(&w);
    return after - before;
}

/* A seed spelled otherwise than its node advertises itself is still a member once joined: the
 * reconnect rounds, meant for seeds that are not members, must not contact it (and be answered)
 * every reconnect_interval for good — two nodes send about as much as with the seed spelled as
 * advertised (it was 40 more messages in 20 s: a reconnect and its reply a second). */
static void a_seed_spelled_by_name_is_not_reconnected_to_once_a_member(void **st) {
    uint64_t exact = sent_in_20_s(false), named = sent_in_20_s(true);
    if (named > exact + 4) fprintf(stderr, "sent in 20 s: %llu with the seed spelled as advertised, %llu by name\n",
                                   (unsigned long long)exact, (unsigned long long)named);
    assert_true(named <= exact + 4);
}

/* Two clusters, {0,1,2} and {3,4,5}; node 2 crashes and comes back on its port seeding node 3
 * only. X still holds node 2's old run as removed and contacts its address: the new run, in
 * Y, does not know the contacting node, so the two clusters merge into one of six. */
static void a_node_restarted_into_another_cluster_merges_the_two(void **st) {
    static world w;
    new_world(&w, 6, 408);
    const char *sx[] = { w.s[0].addr }, *sy[] = { w.s[3].addr };
    for (int i = 0; i < 6; i++) {
        au_cluster_config c = quick(i < 3 ? sx : sy, 1);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    au_sim_run(w.sim, AU_SEC(3));
    for (int i = 0; i < 6; i++) assert_int_equal(atomic_load(&w.s[i].members), i < 3 ? 0x7ull : 0x38ull);
    char addr[64];
    snprintf(addr, sizeof addr, "%s", w.s[2].addr);
    world_kill(&w, 2);
    au_sim_run(w.sim, AU_MSEC(500));
    assert_int_equal(world_start_node_at(&w, 2, SIMULATED(w.sim), NULL, addr), AU_OK);
    au_cluster_config c = quick(sy, 1);
    assert_int_equal(world_start_cluster(&w, 2, &c), AU_OK);
    converge(&w, AU_SEC(30));
    end_world(&w);
}

/* Node 1 leaves while cut off from 2..4 with node 0, and starts its cluster again (same run)
 * before the heal: after the heal all five are one cluster again. */
static void a_leave_and_start_again_during_a_partition_heal_into_one(void **st) {
    static world w;
    formed(&w, 5, 409);
    au_node *a[] = { w.s[0].node, w.s[1].node }, *b[] = { w.s[2].node, w.s[3].node, w.s[4].node };
    assert_int_equal(au_faults_partition(a, 2, b, 3), AU_OK);
    au_sim_run(w.sim, AU_MSEC(200));
    assert_int_equal(au_cluster_leave(w.s[1].cluster), AU_OK);
    au_sim_run(w.sim, AU_SEC(1));
    const char *seeds[] = { w.s[0].addr };
    au_cluster_config c = quick(seeds, 1);
    assert_int_equal(world_start_cluster(&w, 1, &c), AU_OK);
    au_sim_run(w.sim, AU_SEC(10));
    au_node *all[] = { w.s[0].node, w.s[1].node, w.s[2].node, w.s[3].node, w.s[4].node };
    assert_int_equal(au_faults_heal(all, 5), AU_OK);
    converge(&w, AU_SEC(20));
    au_sim_run(w.sim, AU_SEC(20));
    assert_true(world_converged(&w));
    end_world(&w);
}

static bool spokes_joined(void *arg) {
    world *w = arg;
    for (int i = 1; i < w->n; i++)
        if (!atomic_load(&w->s[i].joined)) return false;
    return true;
}

/* Eight nodes start at once seeding node 0 only; node 0 crashes as soon as the last of them has
 * joined, before it gossiped any of the joins on: the early joiners knew only of those who came
 * before them, yet the seven become one cluster. */
static void a_hub_crashing_right_after_the_joins_leaves_one_cluster(void **st) {
    static world w;
    new_world(&w, 8, 410);
    const char *hub[] = { w.s[0].addr };
    for (int i = 0; i < 8; i++) {
        au_cluster_config c = quick(i ? hub : NULL, i ? 1 : 0);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    assert_int_equal(au_sim_run_until(w.sim, spokes_joined, &w, AU_SEC(5)), AU_OK);
    world_kill(&w, 0);
    converge(&w, AU_SEC(30));
    end_world(&w);
}

static bool others_joined(void *arg) {
    world *w = arg;
    for (int i = 1; i < w->n - 1; i++)
        if (!atomic_load(&w->s[i].joined)) return false;
    return true;
}

/* The same, but the hub's answer to the last joiner is lost (the hub admitted it, and told the
 * others of it): the last joiner starts alone after its join rounds, and still ends in the one
 * cluster with the others, who hold it a member. */
static void a_joiner_admitted_by_a_hub_that_crashed_before_answering_ends_in_the_cluster(void **st) {
    static world w;
    memset(&w, 0, sizeof w);
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 411 }, &w.sim), AU_OK);
    for (int i = 0; i < 6; i++) assert_int_equal(world_start_node(&w, i, FAULTY(w.sim), NULL), AU_OK);
    const char *hub[] = { w.s[0].addr };
    assert_int_equal(au_faults_block(w.s[0].node, w.s[5].addr, true), AU_OK);
    for (int i = 0; i < 6; i++) {
        au_cluster_config c = quick(i ? hub : NULL, i ? 1 : 0);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    assert_int_equal(au_sim_run_until(w.sim, others_joined, &w, AU_SEC(5)), AU_OK);
    au_sim_run(w.sim, AU_MSEC(150)); /* the hub gossips node 5's join */
    world_kill(&w, 0);
    converge(&w, AU_SEC(30));
    end_world(&w);
}

/* A leave under 30 % loss: the leaving node's one direct round reaches only some; the rest learn
 * it from them (gossip), so every node sees a graceful leave, none a failure. */
static void a_leave_under_loss_is_seen_as_a_leave_everywhere(void **st) {
    static world w;
    formed(&w, 8, 412);
    for (int i = 0; i < 8; i++) {
        au_faults_seed(w.s[i].node, (uint64_t)i + 1);
        assert_int_equal(au_faults_set(w.s[i].node, NULL, &(au_faults){ .drop = 0.3 }), AU_OK);
    }
    au_sim_run(w.sim, AU_SEC(5));
    assert_int_equal(WORLD_SUM(&w, removed), 0);
    assert_int_equal(au_cluster_leave(w.s[7].cluster), AU_OK);
    w.s[7].live = false;
    converge(&w, AU_SEC(10));
    au_sim_run(w.sim, AU_SEC(5));
    for (int i = 0; i < 7; i++) {
        if (atomic_load(&w.s[i].removed_failed)) world_print(&w, "leave under loss");
        assert_int_equal(atomic_load(&w.s[i].removed_left), 1);
        assert_int_equal(atomic_load(&w.s[i].removed_failed), 0);
    }
    end_world(&w);
}

/* Node 0 lists node 3 as a second seed, down when {0,1,2} forms; {3,4,5} forms later on its
 * own. Node 0's reconnect rounds reach its seed that is no member: the clusters merge. */
static void a_seed_in_a_cluster_formed_later_merges_the_two(void **st) {
    static world w;
    new_world(&w, 6, 414);
    const char *s0[] = { w.s[1].addr, w.s[3].addr }, *sx[] = { w.s[0].addr }, *sy[] = { w.s[3].addr };
    for (int i = 0; i < 3; i++) {
        au_cluster_config c = i ? quick(sx, 1) : quick(s0, 2);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    for (int i = 3; i < 6; i++) w.s[i].live = false;
    converge(&w, AU_SEC(5));
    for (int i = 3; i < 6; i++) {
        au_cluster_config c = i > 3 ? quick(sy, 1) : quick(NULL, 0);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    converge(&w, AU_SEC(30));
    end_world(&w);
}

/* A joiner that leaves while still joining, after its seed admitted it (the answer to its join
 * is lost): the seed holds it a member, so it must be told of the leave (REMOVED, LEAVING), not
 * find it failed seconds later. */
static void a_leave_while_joining_after_being_admitted_is_a_leave_for_the_seed(void **st) {
    static world w;
    memset(&w, 0, sizeof w);
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 415 }, &w.sim), AU_OK);
    for (int i = 0; i < 3; i++) assert_int_equal(world_start_node(&w, i, FAULTY(w.sim), NULL), AU_OK);
    const char *seeds[] = { w.s[0].addr };
    for (int i = 0; i < 2; i++) {
        au_cluster_config c = quick(seeds, 1);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    converge(&w, AU_SEC(5));
    assert_int_equal(au_faults_block(w.s[0].node, w.s[2].addr, true), AU_OK); /* answers lost */
    au_cluster_config c = quick(seeds, 1);
    c.num_pings = 100;
    assert_int_equal(world_start_cluster(&w, 2, &c), AU_OK);
    w.s[2].live = false;
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(atomic_load(&w.s[0].members), 0x7ull); /* admitted by the seed */
    assert_int_equal(atomic_load(&w.s[2].updates), 0);       /* still joining */
    assert_int_equal(au_cluster_leave(w.s[2].cluster), AU_OK);
    converge(&w, AU_SEC(10));
    for (int i = 0; i < 2; i++) {
        assert_int_equal(atomic_load(&w.s[i].removed_failed), 0);
        assert_int_equal(atomic_load(&w.s[i].removed_left), 1);
    }
    end_world(&w);
}

/* Every node leaves at the same instant and starts its cluster again at once (same runs, past
 * the incarnations the others hold them LEFT at): one cluster of five again. */
static void everyone_leaving_and_starting_again_at_once_forms_one_cluster(void **st) {
    static world w;
    formed(&w, 5, 416);
    for (int i = 0; i < 5; i++) assert_int_equal(au_cluster_leave(w.s[i].cluster), AU_OK);
    au_sim_run(w.sim, 0);
    const char *seeds[] = { w.s[0].addr };
    for (int i = 0; i < 5; i++) {
        au_cluster_config c = quick(seeds, 1);
        atomic_store(&w.s[i].members, 0);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    converge(&w, AU_SEC(20));
    au_sim_run(w.sim, AU_SEC(10));
    assert_true(world_converged(&w));
    end_world(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(half_the_cluster_leaving_at_once_leaves_the_rest_a_majority),
        cmocka_unit_test(leaving_one_by_one_down_to_one_is_never_a_minority),
        cmocka_unit_test(a_leave_during_a_partition_is_not_undone_by_the_heal),
        cmocka_unit_test(a_flapping_link_settles_into_one_cluster),
        cmocka_unit_test(subscribing_after_leave_is_refused_or_served),
        cmocka_unit_test(two_nodes_seeding_each_other_by_name_form_one_cluster_at_once),
        cmocka_unit_test(a_seed_spelled_by_name_is_not_reconnected_to_once_a_member),
        cmocka_unit_test(a_node_restarted_into_another_cluster_merges_the_two),
        cmocka_unit_test(a_leave_and_start_again_during_a_partition_heal_into_one),
        cmocka_unit_test(a_hub_crashing_right_after_the_joins_leaves_one_cluster),
        cmocka_unit_test(a_joiner_admitted_by_a_hub_that_crashed_before_answering_ends_in_the_cluster),
        cmocka_unit_test(a_leave_under_loss_is_seen_as_a_leave_everywhere),
        cmocka_unit_test(a_seed_in_a_cluster_formed_later_merges_the_two),
        cmocka_unit_test(a_leave_while_joining_after_being_admitted_is_a_leave_for_the_seed),
        cmocka_unit_test(everyone_leaving_and_starting_again_at_once_forms_one_cluster),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
