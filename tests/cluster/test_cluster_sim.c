/* test_cluster_sim.c — the cluster in deterministic simulation: the seed's four scenarios (10
 * nodes joined in two steps, then crashes of 1, 3 and 5, with chain and cyclic seeds, without
 * and with 50 % loss and 20–50 ms delay), partitions that heal, graceful leave, restart on the
 * same address, long loss without false removals, a paused node, a node reachable by one peer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "cluster/cluster_world.h"
#include "cluster/protocol.h"

#define SIMULATED(sim) ((au_driver[]){ au_sim_driver(sim) })
#define SIMULATED_FAULTY(sim) ((au_driver[]){ au_faults_driver(SIMULATED(sim)) })

/* CLUSTER_SEED=k in the environment shifts every test's seed by k (to explore other runs). */
static uint64_t seed_shift(void) { return getenv("CLUSTER_SEED") ? strtoull(getenv("CLUSTER_SEED"), NULL, 0) : 0; }

static const uint8_t SECRET[32] = "cluster-test-secret-0123456789ab";

typedef struct scenario {
    bool cyclic, lossy, secret;
    au_nanos step_timeout; /* virtual time allowed per step */
} scenario;

static au_cluster_config scenario_config(world *w, const scenario *sc, int i, const char **seeds) {
    au_cluster_config c = { .no_leave_on_stop = true };
    size_t n = 0;
    if (sc->cyclic) {
        for (int j = 0; j < 10; j++) seeds[n++] = w->s[j].addr;
    } else if (i > 0) {
        seeds[n++] = w->s[i - 1].addr;
    }
    c.seeds = seeds;
    c.nseeds = n;
    if (sc->lossy) {
        c.num_pings = 20;
        c.ping_timeout = AU_MSEC(200);
        c.req_tries = 1;
        c.req_timeout = AU_MSEC(200);
    } else {
        c.num_pings = sc->cyclic ? 5 : 20;
        c.ping_timeout = AU_MSEC(50);
        c.req_tries = 1;
        c.req_timeout = AU_MSEC(50);
    }
    return c;
}

static void step(world *w, const char *what, au_nanos timeout) {
    au_nanos t0 = au_sim_now(w->sim);
    au_err err = au_sim_run_until(w->sim, world_converged, w, timeout);
    if (getenv("CLUSTER_STEPS"))
        fprintf(stderr, "  %-10s %.2f s virtual\n", what, (double)(au_sim_now(w->sim) - t0) / 1e9);
    if (err != AU_OK) world_print(w, what);
    assert_int_equal(err, AU_OK);
}

static void run_scenario(const scenario *sc, uint64_t seed) {
    if (getenv("CLUSTER_LOG")) au_log_set_level(AU_LOG_CLUSTER, AU_LOG_INFO);
    static world w;
    memset(&w, 0, sizeof w);
    seed += seed_shift() * 1000;
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = seed }, &w.sim), AU_OK);
    /* all ten nodes' addresses exist up front (cyclic seeds name them all); clusters start in
     * two steps of five */
    for (int i = 0; i < 10; i++)
        assert_int_equal(world_start_node(&w, i, SIMULATED_FAULTY(w.sim), sc->secret ? SECRET : NULL), AU_OK);
    for (int i = 0; i < 10; i++) {
        au_faults_seed(w.s[i].node, seed * 100 + (uint64_t)i);
        if (sc->lossy)
            au_faults_set(w.s[i].node, NULL, &(au_faults){ .drop = 0.5, .delay_min = AU_MSEC(20),
                                                           .delay_max = AU_MSEC(50), .per_message = true });
    }
    const char *seeds[10][10];
    for (int i = 0; i < 5; i++) {
        au_cluster_config c = scenario_config(&w, sc, i, seeds[i]);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    step(&w, "first five", sc->step_timeout);
    for (int i = 5; i < 10; i++) {
        au_cluster_config c = scenario_config(&w, sc, i, seeds[i]);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    step(&w, "all ten", sc->step_timeout);
    world_kill(&w, 0);
    step(&w, "killed 1", sc->step_timeout);
    for (int i = 1; i <= 3; i++) world_kill(&w, i);
    step(&w, "killed 3", sc->step_timeout);
    for (int i = 4; i <= 8; i++) world_kill(&w, i);
    step(&w, "killed 5", sc->step_timeout);
    assert_int_equal(WORLD_SUM(&w, bad_first), 0);
    world_stop(&w);
    au_sim_destroy(w.sim);
}

static void chain_seeds_without_loss_converge_at_every_step(void **s) {
    run_scenario(&(scenario){ .step_timeout = AU_SEC(30) }, 1);
}
static void chain_seeds_with_half_the_messages_lost_converge(void **s) {
    run_scenario(&(scenario){ .lossy = true, .step_timeout = AU_SEC(60) }, 2);
}
static void cyclic_seeds_without_loss_converge_at_every_step(void **s) {
    run_scenario(&(scenario){ .cyclic = true, .step_timeout = AU_SEC(30) }, 3);
}
static void cyclic_seeds_with_half_the_messages_lost_and_a_secret_converge(void **s) {
    run_scenario(&(scenario){ .cyclic = true, .lossy = true, .secret = true, .step_timeout = AU_SEC(60) }, 4);
}

/* ---- beyond the seed: partitions, leave, restart, loss, pauses, partial reachability -------- */

/* A world of n nodes, all seeding each other, with cfg's knobs (seeds filled in). */
static world *cyclic_world(int n, uint64_t seed, const au_cluster_config *base) {
    if (getenv("CLUSTER_LOG")) au_log_set_level(AU_LOG_CLUSTER, AU_LOG_INFO);
    static world w;
    static const char *seeds[WORLD_MAX];
    memset(&w, 0, sizeof w);
    seed += seed_shift() * 1000;
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = seed }, &w.sim), AU_OK);
    for (int i = 0; i < n; i++) {
        assert_int_equal(world_start_node(&w, i, SIMULATED_FAULTY(w.sim), NULL), AU_OK);
        au_faults_seed(w.s[i].node, seed * 1000 + (uint64_t)i);
        seeds[i] = w.s[i].addr;
    }
    for (int i = 0; i < n; i++) {
        au_cluster_config c = base ? *base : (au_cluster_config){ 0 };
        c.seeds = seeds;
        c.nseeds = (size_t)(n < 3 ? n : 3); /* the first three are everyone's seeds */
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    step(&w, "formed", AU_SEC(20));
    /* the transport's gauges are live on simulated nodes too: each node keeps send state for
     * at least its two managers, and for no one outside the cluster */
    for (int i = 0; i < n; i++) {
        au_node_stats st;
        au_node_stats_get(w.s[i].node, &st);
        assert_true(st.peers >= (uint64_t)(n - 1 < 2 ? n - 1 : 2));
        assert_true(st.peers <= (uint64_t)n - 1);
        assert_true(st.remote_refs >= st.peers);
    }
    return &w;
}

static void world_end(world *w) {
    world_stop(w);
    au_sim_destroy(w->sim);
}

typedef struct sides { world *w; uint64_t a, b; } sides;
static bool sides_converged(void *arg) {
    sides *x = arg;
    for (int i = 0; i < x->w->n; i++) {
        uint64_t want = (x->a >> i) & 1 ? x->a : x->b;
        if (atomic_load(&x->w->s[i].members) != want) return false;
    }
    return true;
}

static void a_partition_of_three_and_seven_heals_into_one_cluster(void **s) {
    world *w = cyclic_world(10, 11, NULL);
    au_node *a[3], *b[7];
    for (int i = 0; i < 3; i++) a[i] = w->s[i].node;
    for (int i = 0; i < 7; i++) b[i] = w->s[i + 3].node;
    assert_int_equal(au_faults_partition(a, 3, b, 7), AU_OK);
    sides x = { w, 0x7, 0x3f8 };
    assert_int_equal(au_sim_run_until(w->sim, sides_converged, &x, AU_SEC(30)), AU_OK);
    for (int i = 0; i < 3; i++) assert_true(atomic_load(&w->s[i].minority) >= 1); /* 3 of 10 */
    for (int i = 3; i < 10; i++) assert_int_equal(atomic_load(&w->s[i].minority), 0);
    au_node *all[10];
    for (int i = 0; i < 10; i++) all[i] = w->s[i].node;
    assert_int_equal(au_faults_heal(all, 10), AU_OK);
    au_nanos t0 = au_sim_now(w->sim);
    step(w, "healed", AU_SEC(30));
    au_sim_run(w->sim, AU_MSEC(500)); /* the minority check runs on the next ticks */
    fprintf(stderr, "partition healed in %.2f s of virtual time\n", (double)(au_sim_now(w->sim) - t0) / 1e9);
    for (int i = 0; i < 3; i++) assert_true(atomic_load(&w->s[i].majority) >= 1);
    world_end(w);
}

static void a_graceful_leave_is_seen_at_once_without_failure_detection(void **s) {
    world *w = cyclic_world(5, 12, NULL);
    au_nanos t0 = au_sim_now(w->sim);
    assert_int_equal(au_cluster_leave(w->s[4].cluster), AU_OK);
    w->s[4].live = false;
    step(w, "left", AU_SEC(5));
    au_nanos took = au_sim_now(w->sim) - t0;
    fprintf(stderr, "leave seen by all in %.1f ms\n", (double)took / 1e6);
    assert_true(took < AU_MSEC(100)); /* no detector, no suspicion: told directly */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(atomic_load(&w->s[i].removed_left), 1);
        assert_int_equal(atomic_load(&w->s[i].removed_failed), 0);
    }
    assert_int_equal(atomic_load(&w->s[4].left), 1);
    world_end(w);
}

static bool others_saw_a_removal(void *arg) {
    world *w = arg;
    for (int i = 0; i < w->n; i++)
        if (i != 3 && atomic_load(&w->s[i].removed) < 1) return false;
    return true;
}

static void a_crash_and_restart_on_the_same_port_joins_as_a_new_run_at_once(void **s) {
    world *w = cyclic_world(5, 13, &(au_cluster_config){ .no_leave_on_stop = true });
    static const char *seeds[3];
    for (int i = 0; i < 3; i++) seeds[i] = w->s[i].addr;
    char addr[64];
    snprintf(addr, sizeof addr, "%s", w->s[3].addr);
    uint64_t old_id = au_cluster_id(w->s[3].cluster);
    world_kill(w, 3);
    assert_int_equal(world_start_node_at(w, 3, SIMULATED_FAULTY(w->sim), NULL, addr), AU_OK);
    assert_string_equal(w->s[3].addr, addr);
    au_nanos t0 = au_sim_now(w->sim);
    assert_int_equal(world_start_cluster(w, 3, &(au_cluster_config){ .seeds = seeds, .nseeds = 3,
                                                                   .no_leave_on_stop = true }), AU_OK);
    assert_true(au_cluster_id(w->s[3].cluster) > old_id);
    /* every node's member set holds the address again, and every other node saw the old run
     * removed (REPLACED) before any failure detector could: within one join round trip */
    assert_int_equal(au_sim_run_until(w->sim, others_saw_a_removal, w, AU_SEC(5)), AU_OK);
    step(w, "restarted", AU_SEC(5));
    for (int i = 0; i < 5; i++) {
        if (i == 3) continue;
        assert_int_equal(atomic_load(&w->s[i].removed), 1);
        assert_int_equal(atomic_load(&w->s[i].removed_failed), 0);
    }
    au_nanos took = au_sim_now(w->sim) - t0;
    fprintf(stderr, "restart replaced the old run everywhere in %.1f ms\n", (double)took / 1e6);
    assert_true(took < AU_MSEC(500));
    world_end(w);
}

/* A node whose datagrams come from another address than the one it advertises: here it binds
 * 127.0.0.1:P and advertises "127.1:P", the same address spelled otherwise (as with a wildcard
 * bind, NAT, or ::ffff:a.b.c.d for a.b.c.d, the others see a source that is not its `from`).
 * Its crash and restart on the same address is believed as a normal node's is: the run it
 * claims is asked at the advertised address, and its answer proves it by echoing the probe's
 * nonce, whatever its source. Before, a newer run was believed only from the address it names:
 * never from this node, so its old run was removed as failed and the new one stayed out until
 * the tombstone was collected (tombstone_ttl, 60 s). */
static void restart_advertising(const char *host, uint64_t seed) {
    if (getenv("CLUSTER_LOG")) au_log_set_level(AU_LOG_CLUSTER, AU_LOG_INFO);
    static world w;
    static const char *seeds[3];
    memset(&w, 0, sizeof w);
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = seed }, &w.sim), AU_OK);
    for (int i = 0; i < 5; i++) assert_int_equal(world_start_node(&w, i, SIMULATED_FAULTY(w.sim), NULL), AU_OK);
    /* node 3 moves to "host:P" on its own port P, bound at the address host resolves to first */
    world_moved mv = world_advertise_as(&w, 3, SIMULATED_FAULTY(w.sim), host);
    for (int i = 0; i < 5; i++) au_faults_seed(w.s[i].node, seed * 1000 + (uint64_t)i);
    for (int i = 0; i < 3; i++) seeds[i] = w.s[i].addr;
    au_cluster_config c = { .seeds = seeds, .nseeds = 3, .no_leave_on_stop = true };
    for (int i = 0; i < 5; i++) assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    step(&w, "formed", AU_SEC(20));
    uint64_t old_id = au_cluster_id(w.s[3].cluster);
    world_kill(&w, 3);
    assert_int_equal(world_start_node_advertising(&w, 3, SIMULATED_FAULTY(w.sim), NULL, mv.bind, mv.adv), AU_OK);
    au_nanos t0 = au_sim_now(w.sim);
    assert_int_equal(world_start_cluster(&w, 3, &c), AU_OK);
    assert_true(au_cluster_id(w.s[3].cluster) > old_id);
    /* every other node replaces the old run (REPLACED, not FAILED) and holds the new one, within
     * a few round trips: as for a node heard from at its own address (the test above) */
    assert_int_equal(au_sim_run_until(w.sim, others_saw_a_removal, &w, AU_SEC(5)), AU_OK);
    step(&w, "restarted", AU_SEC(5));
    for (int i = 0; i < 5; i++) {
        if (i == 3) continue;
        assert_int_equal(atomic_load(&w.s[i].removed), 1);
        assert_int_equal(atomic_load(&w.s[i].removed_failed), 0);
    }
    au_nanos took = au_sim_now(w.sim) - t0;
    fprintf(stderr, "restart of a node advertising %s believed everywhere in %.1f ms\n", mv.adv,
            (double)took / 1e6);
    assert_true(took < AU_MSEC(500));
    world_end(&w);
}

static void a_restart_of_a_node_heard_from_another_source_address_is_believed_at_once(void **s) {
    restart_advertising("127.1", 21 + seed_shift() * 1000);
}

/* The same for a node that advertises a host name ("localhost:P"): its word about itself is no
 * longer believed for its `from` alone (a forged restart naming it was: test_cluster_forged), so
 * its restart is confirmed by nonce as above, and is believed as fast. */
static void a_restart_of_a_node_advertised_by_host_name_is_believed_at_once(void **s) {
    restart_advertising("localhost", 22 + seed_shift() * 1000);
}

static void thirty_percent_loss_for_ten_minutes_removes_no_live_node(void **s) {
    world *w = cyclic_world(10, 14, NULL);
    for (int i = 0; i < 10; i++)
        au_faults_set(w->s[i].node, NULL, &(au_faults){ .drop = 0.3, .per_message = true });
    au_sim_run(w->sim, AU_SEC(600));
    au_cluster_stats st;
    uint64_t suspicions = 0, refutations = 0;
    for (int i = 0; i < 10; i++) {
        au_cluster_stats_get(w->s[i].cluster, &st);
        suspicions += st.suspicions;
        refutations += st.refutations;
    }
    fprintf(stderr, "30%% loss, 600 s: %llu suspicions, %llu refutations, %d removals\n",
            (unsigned long long)suspicions, (unsigned long long)refutations, WORLD_SUM(w, removed));
    assert_int_equal(WORLD_SUM(w, removed), 0);
    assert_true(world_converged(w));
    world_end(w);
}

/* The node really stalls for 2 s (au_sim_pause: none of its actor turns, timers or datagram
 * deliveries run; what came due is held and runs at once, late, when it resumes). Under the
 * default timeouts it is removed and rejoins cleanly: the others' detectors (heartbeats every
 * 50 ms, requests and indirect probes of 100 ms, a suspicion of at most 1.5 s) remove a silent
 * node in well under the 2 s, and nothing distinguishes a stalled node from a crashed one from
 * outside. On resuming, its late tick sees the gap, counts a pause and restarts its own detectors
 * (so it suspects nobody for having been silent itself), learns it was removed from the held and
 * new messages, and refutes with a higher incarnation: it is added again everywhere, and no node
 * but it is removed by anyone. */
static void a_node_stalled_for_two_seconds_is_removed_and_rejoins_cleanly(void **s) {
    world *w = cyclic_world(10, 15, NULL);
    au_node *x = w->s[9].node;
    au_node_stats n0, n1;
    au_cluster_stats c0, c1;
    au_node_stats_get(x, &n0);
    au_cluster_stats_get(w->s[9].cluster, &c0);
    int updates = atomic_load(&w->s[9].updates);
    assert_int_equal(au_sim_pause(w->sim, x, AU_SEC(2)), AU_OK);
    assert_int_equal(au_sim_pause(w->sim, x, AU_SEC(2)), AU_ESTATE);
    au_sim_run(w->sim, AU_MSEC(1999));
    /* nothing of it ran: it sent nothing, handled nothing, told its watcher nothing ... */
    assert_true(au_sim_paused(w->sim, x));
    au_node_stats_get(x, &n1);
    au_cluster_stats_get(w->s[9].cluster, &c1);
    assert_int_equal(n1.datagrams_sent, n0.datagrams_sent);
    assert_int_equal(n1.datagrams_received, n0.datagrams_received);
    assert_int_equal(atomic_load(&w->s[9].updates), updates);
    /* ... while the others removed it */
    for (int i = 0; i < 9; i++) assert_int_equal(atomic_load(&w->s[i].removed_mask), 1ull << 9);
    au_sim_run(w->sim, AU_MSEC(2));
    assert_false(au_sim_paused(w->sim, x));
    au_node_stats_get(x, &n1);
    assert_true(n1.datagrams_received > n0.datagrams_received); /* the held datagrams, at once */
    step(w, "resumed", AU_SEC(10));
    au_cluster_stats_get(w->s[9].cluster, &c1);
    assert_int_equal(c1.pauses, c0.pauses + 1);           /* it noticed its own stall */
    assert_int_equal(atomic_load(&w->s[9].removed), 0);  /* and blamed nobody for it */
    for (int i = 0; i < 9; i++) {
        assert_int_equal(atomic_load(&w->s[i].removed), 1);
        assert_int_equal(atomic_load(&w->s[i].removed_mask), 1ull << 9);
    }
    world_end(w);
}

static void a_node_reachable_by_only_one_peer_causes_no_other_removal(void **s) {
    world *w = cyclic_world(10, 16, NULL);
    /* node 9 talks to node 0 only, both ways */
    for (int i = 1; i < 9; i++) {
        assert_int_equal(au_faults_block(w->s[9].node, w->s[i].addr, true), AU_OK);
        assert_int_equal(au_faults_block(w->s[i].node, w->s[9].addr, true), AU_OK);
    }
    au_sim_run(w->sim, AU_SEC(120));
    for (int i = 0; i < 9; i++) {
        uint64_t rm = atomic_load(&w->s[i].removed_mask);
        if (rm & ~(1ull << 9)) world_print(w, "partial");
        assert_int_equal(rm & ~(1ull << 9), 0);
    }
    world_end(w);
}

static void an_incompatible_node_is_refused_with_an_event(void **s) {
    static world w;
    memset(&w, 0, sizeof w);
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 17 }, &w.sim), AU_OK);
    for (int i = 0; i < 2; i++) assert_int_equal(world_start_node(&w, i, SIMULATED(w.sim), NULL), AU_OK);
    const char *seeds[] = { w.s[0].addr };
    assert_int_equal(world_start_cluster(&w, 0, NULL), AU_OK);
    au_type *app[] = { &au_type_watcher_msg };
    assert_int_equal(world_start_cluster(&w, 1, &(au_cluster_config){
        .seeds = seeds, .nseeds = 1, .compat = au_cluster_compat(0, app, 1) }), AU_OK);
    au_sim_run(w.sim, AU_SEC(5));
    assert_int_equal(atomic_load(&w.s[1].incompatible), 1);  /* the joiner is told, once */
    assert_true(atomic_load(&w.s[0].incompatible) >= 1);     /* the seed saw it too */
    assert_int_equal(atomic_load(&w.s[0].members), 1ull << 0); /* not half-joined anywhere */
    assert_int_equal(atomic_load(&w.s[1].members), 0);
    assert_int_equal(atomic_load(&w.s[1].joined) + atomic_load(&w.s[1].alone), 0);
    au_cluster_stats st;
    au_cluster_stats_get(w.s[0].cluster, &st);
    assert_true(st.drops_incompatible >= 1);
    world_stop(&w);
    au_sim_destroy(w.sim);
}

/* Remote death watch: an actor watching an actor on a node that stops gets `terminated` once:
 * from the watched actor's node as its actors stop (the watch protocol, net/watch.c), and not
 * again when the cluster then removes that node and declares it gone (au_peer_gone; that path
 * alone, with the actors still alive, is tests/core/test_layer.c's). */
AU_ROOT(ping_msg, (ping, int64_t, AU_REMOTE));
typedef struct target { int unused; } target;
static void target_recv(au_ctx *ctx, target *self, ping_msg *m) {}
AU_ACTOR(target_actor, target, ping_msg, .recv = target_recv);
typedef struct watching { ping_msg_ref who; int *terminated; } watching;
static void watching_pre_start(au_ctx *ctx, watching *self) { au_watch(ctx, self->who); }
static void watching_recv(au_ctx *ctx, watching *self, ping_msg *m) {}
static void watching_terminated(au_ctx *ctx, watching *self, au_ref who) { (*self->terminated)++; }
AU_ACTOR(watching_actor, watching, ping_msg, .pre_start = watching_pre_start, .recv = watching_recv,
         .terminated = watching_terminated);
static bool positive(void *arg) { return *(int *)arg > 0; }
static bool any_removed(void *arg) { return atomic_load((_Atomic int *)arg) > 0; }

static void watching_an_actor_on_a_removed_node_delivers_terminated(void **s) {
    world *w = cyclic_world(4, 18, &(au_cluster_config){ .no_leave_on_stop = true });
    au_spawn(w->s[3].node, target_actor, "target", NULL);
    int terminated = 0;
    ping_msg_ref r = au_forge(ping_msg, ping_msg, w->s[0].node, "target", w->s[3].addr);
    au_spawn(w->s[0].node, watching_actor, NULL, &(watching){ r, &terminated });
    au_sim_run(w->sim, AU_SEC(1));
    assert_int_equal(terminated, 0);
    world_kill(w, 3);
    assert_int_equal(au_sim_run_until(w->sim, positive, &terminated, AU_SEC(10)), AU_OK);
    assert_int_equal(au_sim_run_until(w->sim, any_removed, &w->s[0].removed, AU_SEC(10)), AU_OK);
    au_sim_run(w->sim, AU_MSEC(100)); /* the removal's au_peer_gone has run */
    assert_int_equal(terminated, 1);
    world_end(w);
}

/* Hostile input: malformed cluster messages are dropped and counted, and change nothing. */
static void malformed_cluster_messages_are_dropped_and_counted(void **s) {
    world *w = cyclic_world(3, 19, NULL);
    cl_wire_ref to = au_forge(cl_msg, cl_wire, w->s[1].node, "cluster", w->s[0].addr);
    cl_update bad[] = {
        { au_str_lit("not an address"), 7, 0, CL_ALIVE, 1, 0 },  /* bad address */
        { au_str_lit("127.0.0.1:9"), 0, 0, CL_ALIVE, 1, 0 },     /* id 0 */
        { au_str_lit("127.0.0.1:9"), 7, 0, 9, 1, 0 },            /* no such state */
        { au_str_view(w->s[0].addr), UINT64_MAX, 0, CL_DEAD, 1, 0 }, /* a "newer run" of the receiver */
    };
    au_send(to, (cl_wire){ .tag = cl_wire_gossip,
                           .gossip = { au_str_view(w->s[1].addr), 1, { bad, 4, 0 } } });
    static cl_update many[CL_MAX_UPDATES + 1];
    for (int i = 0; i <= CL_MAX_UPDATES; i++) many[i] = bad[0];
    au_send(to, (cl_wire){ .tag = cl_wire_gossip,
                           .gossip = { au_str_view(w->s[1].addr), 1, { many, CL_MAX_UPDATES + 1, 0 } } });
    au_send(to, (cl_wire){ .tag = cl_wire_hb, .hb = { au_str_lit(""), 1, { NULL, 0, 0 } } });
    au_sim_run(w->sim, AU_SEC(1));
    au_cluster_stats st;
    au_cluster_stats_get(w->s[0].cluster, &st);
    assert_int_equal(st.drops_invalid, 4 + 1 + 1);
    assert_int_equal(st.members, 3);
    assert_true(world_converged(w));
    assert_int_equal(WORLD_SUM(w, removed), 0);
    world_end(w);
}

static void tombstones_are_collected_after_their_ttl(void **s) {
    world *w = cyclic_world(5, 20, &(au_cluster_config){ .no_leave_on_stop = true,
                                                         .tombstone_ttl = AU_SEC(5) });
    world_kill(w, 4);
    step(w, "killed", AU_SEC(10));
    au_cluster_stats st;
    au_cluster_stats_get(w->s[0].cluster, &st);
    assert_int_equal(st.tombstones, 1);
    assert_int_equal(st.members, 4);
    au_sim_run(w->sim, AU_SEC(7));
    for (int i = 0; i < 4; i++) {
        au_cluster_stats_get(w->s[i].cluster, &st);
        assert_int_equal(st.tombstones, 0); /* forgotten: churn leaves no state behind */
        assert_int_equal(st.members, 4);
    }
    assert_true(world_converged(w));
    world_end(w);
}

/* The dissemination queue (au_cluster_stats.queued) drains to nothing once the news has gone
 * round, stays empty while nothing changes, and fills for a removal until that has gone round. */
static bool all_drained(void *arg) {
    world *w = arg;
    for (int i = 0; i < WORLD_MAX; i++) {
        if (!w->s[i].live) continue;
        au_cluster_stats st;
        au_cluster_stats_get(w->s[i].cluster, &st);
        if (st.queued) return false;
    }
    return true;
}

static uint64_t most_queued(world *w) {
    uint64_t most = 0;
    for (int i = 0; i < WORLD_MAX; i++) {
        if (!w->s[i].live) continue;
        au_cluster_stats st;
        au_cluster_stats_get(w->s[i].cluster, &st);
        if (st.queued > most) most = st.queued;
    }
    return most;
}

static void the_dissemination_queue_drains_at_steady_state(void **s) {
    world *w = cyclic_world(6, 21, &(au_cluster_config){ .no_leave_on_stop = true });
    assert_int_equal(au_sim_run_until(w->sim, all_drained, w, AU_SEC(10)), AU_OK);
    for (int k = 0; k < 100; k++) { /* 10 s of nothing new: nothing queued */
        au_sim_run(w->sim, AU_MSEC(100));
        assert_int_equal(most_queued(w), 0);
    }
    world_kill(w, 5);
    uint64_t peak = 0;
    au_nanos t0 = au_sim_now(w->sim);
    while (!world_converged(w) || !all_drained(w)) { /* removal seen everywhere, then gone round */
        assert_true(au_sim_now(w->sim) - t0 < AU_SEC(20));
        au_sim_run(w->sim, AU_MSEC(10));
        uint64_t q = most_queued(w);
        if (q > peak) peak = q;
    }
    assert_true(peak >= 1); /* the removal was queued somewhere before it drained */
    world_end(w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(chain_seeds_without_loss_converge_at_every_step),
        cmocka_unit_test(chain_seeds_with_half_the_messages_lost_converge),
        cmocka_unit_test(cyclic_seeds_without_loss_converge_at_every_step),
        cmocka_unit_test(cyclic_seeds_with_half_the_messages_lost_and_a_secret_converge),
        cmocka_unit_test(a_partition_of_three_and_seven_heals_into_one_cluster),
        cmocka_unit_test(a_graceful_leave_is_seen_at_once_without_failure_detection),
        cmocka_unit_test(a_crash_and_restart_on_the_same_port_joins_as_a_new_run_at_once),
        cmocka_unit_test(a_restart_of_a_node_heard_from_another_source_address_is_believed_at_once),
        cmocka_unit_test(a_restart_of_a_node_advertised_by_host_name_is_believed_at_once),
        cmocka_unit_test(thirty_percent_loss_for_ten_minutes_removes_no_live_node),
        cmocka_unit_test(a_node_stalled_for_two_seconds_is_removed_and_rejoins_cleanly),
        cmocka_unit_test(a_node_reachable_by_only_one_peer_causes_no_other_removal),
        cmocka_unit_test(an_incompatible_node_is_refused_with_an_event),
        cmocka_unit_test(watching_an_actor_on_a_removed_node_delivers_terminated),
        cmocka_unit_test(malformed_cluster_messages_are_dropped_and_counted),
        cmocka_unit_test(tombstones_are_collected_after_their_ttl),
        cmocka_unit_test(the_dissemination_queue_drains_at_steady_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
