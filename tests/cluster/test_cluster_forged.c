/* test_cluster_forged.c — the cluster against forged cluster messages (no cluster key: anyone can
 * send them), in deterministic simulation: a node outside the cluster writes what it likes
 * (accusations at the last incarnation, a newer run of a live member, refusals, phantom members)
 * and no live member is removed or locked out, and phantoms stop at max_members. Also: the
 * JOINED a refuted removal owes its subscribers, repeated start/leave on one node, a death
 * watch placed after a removal, suspicion timeouts at the end of time, a forged Term to the
 * cluster actor.
 * Relies on cluster_sim_world.h (a cluster_world.h world on the simulator). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <limits.h>
#include <cmocka.h>
#include <string.h>

#include "cluster/cluster_sim_world.h"
#include "cluster/protocol.h"

/* n clustered nodes seeding each other, formed, plus node n: a node with no cluster, the forger;
 * node `moved` (unless -1) advertises `host`:P (world_advertise_as). */
static void formed_moved(world *w, int n, uint64_t seed, const au_cluster_config *base, int moved,
                         const char *host) {
    static const char *seeds[WORLD_MAX];
    new_world(w, n + 1, seed);
    if (moved >= 0) world_advertise_as(w, moved, SIMULATED(w->sim), host);
    for (int i = 0; i < n; i++) seeds[i] = w->s[i].addr;
    for (int i = 0; i < n; i++) {
        au_cluster_config c = base ? *base : quick(NULL, 0);
        c.seeds = seeds;
        c.nseeds = (size_t)n;
        c.ping_timeout = AU_MSEC(50);
        c.no_leave_on_stop = true;
        assert_int_equal(world_start_cluster(w, i, &c), AU_OK);
    }
    converge(w, AU_SEC(10));
}

static void formed(world *w, int n, uint64_t seed, const au_cluster_config *base) {
    formed_moved(w, n, seed, base, -1, NULL);
}

/* The forger (node `from`) gossips updates to node `to`, naming itself as the sender. */
static void forge(world *w, int from, int to, cl_update *ups, uint32_t n) {
    cl_wire_ref r = au_forge(cl_msg, cl_wire, w->s[from].node, "cluster", w->s[to].addr);
    assert_int_equal(au_send(r, (cl_wire){ .tag = cl_wire_gossip,
                                           .gossip = { au_str_view(w->s[from].addr), 77, { ups, n, 0 } } }),
                     AU_OK);
}

static cl_update about(world *w, int i, uint64_t id, uint32_t inc, uint8_t state) {
    return (cl_update){ au_str_view(w->s[i].addr), id, inc, state, 1, 0 };
}

static uint64_t drops_invalid(world *w, int i) {
    au_cluster_stats st;
    au_cluster_stats_get(w->s[i].cluster, &st);
    return st.drops_invalid;
}

/* An accusation at incarnation UINT32_MAX could never be refuted (the refutation's inc + 1
 * wrapped to 0 and lost): one forged SUSPECT, DEAD or LEFT removed a live member for the
 * tombstone's lifetime. It is not believed (dropped and counted), nor is a jump of incarnations
 * no run of refutations makes; the member stays everywhere. */
static void an_accusation_at_the_last_incarnation_removes_no_live_member(void **st) {
    static world w;
    formed(&w, 3, 301, NULL);
    uint64_t id2 = au_cluster_id(w.s[2].cluster);
    cl_update ups[] = { about(&w, 2, id2, UINT32_MAX, CL_SUSPECT), about(&w, 2, id2, UINT32_MAX, CL_DEAD),
                        about(&w, 2, id2, UINT32_MAX, CL_LEFT), about(&w, 2, id2, 100000, CL_SUSPECT) };
    for (int to = 0; to < 3; to++) forge(&w, 3, to, ups, 4);
    au_sim_run(w.sim, AU_SEC(10));
    for (int i = 0; i < 3; i++) assert_true(drops_invalid(&w, i) >= 3);
    assert_int_equal(WORLD_SUM(&w, removed), 0);
    assert_true(world_converged(&w));
    /* an accusation it can refute is refuted as ever */
    cl_update now[] = { about(&w, 2, id2, 0, CL_SUSPECT) };
    forge(&w, 3, 0, now, 1);
    au_sim_run(w.sim, AU_SEC(5));
    au_cluster_stats s2;
    au_cluster_stats_get(w.s[2].cluster, &s2);
    assert_true(s2.refutations >= 1);
    assert_int_equal(WORLD_SUM(&w, removed), 0);
    assert_true(world_converged(&w));
    end_world(&w);
}

/* A node the others declared dead refutes and is a member again: its subscribers get JOINED
 * again (aurum/cluster.h: "whenever this node rejoins (after being removed) an update ends with
 * JOINED again"); the refutation had said nothing. */
static void a_node_declared_dead_that_refutes_tells_its_subscribers_joined(void **st) {
    static world w;
    formed(&w, 3, 302, NULL);
    assert_int_equal(atomic_load(&w.s[2].joined) + atomic_load(&w.s[2].alone), 1);
    uint64_t id2 = au_cluster_id(w.s[2].cluster);
    cl_update dead[] = { about(&w, 2, id2, 0, CL_DEAD) };
    forge(&w, 3, 2, dead, 1);
    au_sim_run(w.sim, AU_SEC(2));
    assert_int_equal(atomic_load(&w.s[2].joined) + atomic_load(&w.s[2].alone), 2);
    assert_true(world_converged(&w));
    end_world(&w);
}

/* A refusal ends a join for good (INCOMPATIBLE), so a forged one — naming the seed, from another
 * address, or with our own hash — made a joiner give up forever. It is believed only when it
 * echoes the nonce of the joiner's joins (sent to the seeds only) and with a hash that differs;
 * a real one still is. */
static void a_forged_refusal_does_not_end_a_join(void **st) {
    static world w;
    new_world(&w, 4, 303); /* 0: the seed, 1: the joiner, 2: the forger, 3: incompatible */
    const char *s0[] = { w.s[0].addr };
    au_cluster_config q = quick(s0, 1);
    q.num_pings = 40;
    assert_int_equal(world_start_cluster(&w, 1, &q), AU_OK);
    au_sim_run(w.sim, AU_MSEC(20));
    au_cluster *joiner = w.s[1].cluster;
    cl_wire_ref to = au_forge(cl_msg, cl_wire, w.s[2].node, "cluster", w.s[1].addr);
    /* naming the seed, another hash: without the joins' nonce (the forger never saw one) */
    au_send(to, (cl_wire){ .tag = cl_wire_refuse,
                           .refuse = { au_str_view(w.s[0].addr), 5, 0, 1, 0x1234, 0 } });
    /* naming itself (not a seed) */
    au_send(to, (cl_wire){ .tag = cl_wire_refuse,
                           .refuse = { au_str_view(w.s[2].addr), 5, 0, 1, 0x1234, 0 } });
    au_sim_run(w.sim, AU_MSEC(200));
    au_cluster_stats cs;
    au_cluster_stats_get(joiner, &cs);
    assert_int_equal(cs.drops_invalid, 2);
    assert_int_equal(atomic_load(&w.s[1].incompatible), 0);
    /* the seed comes up: the joiner joins */
    assert_int_equal(world_start_cluster(&w, 0, NULL), AU_OK);
    converge(&w, AU_SEC(5));
    assert_int_equal(atomic_load(&w.s[1].joined), 1);
    assert_int_equal(atomic_load(&w.s[1].incompatible), 0);
    /* a real refusal, from a seed with another hash, is believed */
    au_cluster_config other = quick(s0, 1);
    other.compat = 99;
    assert_int_equal(world_start_cluster(&w, 3, &other), AU_OK);
    w.s[3].live = false; /* not a member anywhere */
    au_sim_run(w.sim, AU_SEC(2));
    assert_int_equal(atomic_load(&w.s[3].incompatible), 1);
    assert_true(world_converged(&w));
    end_world(&w);
}

/* A forged update naming a live member's address with a newer run id (UINT64_MAX) replaced the
 * member (REPLACED) everywhere it was heard, and the member's real, smaller id then always
 * lost: locked out. A newer run heard of from others is only believed once it answers a probe
 * for its id (or speaks for itself), so nothing changes; a real restart is still taken at once. */
static void a_forged_newer_run_replaces_no_live_member(void **st) {
    static world w;
    formed(&w, 3, 304, NULL);
    cl_update claim[] = { about(&w, 2, UINT64_MAX, 0, CL_ALIVE), about(&w, 1, UINT64_MAX - 1, 5, CL_DEAD) };
    for (int k = 0; k < 3; k++) {
        forge(&w, 3, 0, claim, 2);
        forge(&w, 3, 1, claim, 1);
        au_sim_run(w.sim, AU_SEC(1));
    }
    au_sim_run(w.sim, AU_SEC(5));
    assert_int_equal(WORLD_SUM(&w, removed), 0);
    assert_true(world_converged(&w));
    /* the member is still watched with its real id: a crash of it is detected */
    world_kill(&w, 2);
    converge(&w, AU_SEC(10));
    assert_int_equal(atomic_load(&w.s[0].removed_failed), 1);
    assert_int_equal(atomic_load(&w.s[1].removed_failed), 1);
    /* and a real newer run at that address (a restart) joins and is taken everywhere */
    char addr[64];
    snprintf(addr, sizeof addr, "%s", w.s[2].addr);
    assert_int_equal(world_start_node_at(&w, 2, SIMULATED(w.sim), NULL, addr), AU_OK);
    assert_string_equal(w.s[2].addr, addr);
    const char *s0[] = { w.s[0].addr };
    au_cluster_config q = quick(s0, 1);
    assert_int_equal(world_start_cluster(&w, 2, &q), AU_OK);
    converge(&w, AU_SEC(10));
    assert_int_equal(WORLD_SUM(&w, removed), 2);
    end_world(&w);
}

/* After the forgeries (3 s later): nobody was removed, the cluster is whole and member 2 is held
 * at its real run (id2): its crash is detected by members 0 and 1. */
static void member_2_is_held_at_its_real_run(world *w, uint64_t id2) {
    au_sim_run(w->sim, AU_SEC(3));
    assert_int_equal(WORLD_SUM(w, removed), 0);
    assert_true(world_converged(w));
    assert_int_equal(au_cluster_id(w->s[2].cluster), id2);
    world_kill(w, 2);
    converge(w, AU_SEC(10));
    assert_int_equal(atomic_load(&w->s[0].removed_failed), 1);
    assert_int_equal(atomic_load(&w->s[1].removed_failed), 1);
}

/* A claimed newer run is asked by a confirmation probe to the member's address, and the answer
 * is believed for the nonce it echoes, not for its source address (a node may answer from
 * another address than it advertises). A forger off the path never sees the nonce: its
 * answers, right after its claim and with every nonce it could guess, replace nobody. */
static void a_forged_answer_to_a_confirmation_replaces_no_live_member(void **st) {
    static world w;
    formed(&w, 3, 305, NULL);
    uint64_t id2 = au_cluster_id(w.s[2].cluster);
    cl_update claim[] = { about(&w, 2, UINT64_MAX, 0, CL_ALIVE) };
    const uint64_t guesses[] = { 0, 1, 2, id2, UINT64_MAX, 0x0123456789abcdefull };
    for (int k = 0; k < 3; k++) {
        for (int to = 0; to < 2; to++) {
            forge(&w, 3, to, claim, 1); /* the claim: `to` asks member 2 to confirm it */
            cl_wire_ref r = au_forge(cl_msg, cl_wire, w.s[3].node, "cluster", w.s[to].addr);
            for (size_t g = 0; g < sizeof guesses / sizeof guesses[0]; g++) {
                cl_probe ack = { au_str_view(w.s[2].addr), UINT64_MAX, au_str_view(w.s[2].addr), UINT64_MAX,
                                 au_str_lit(""), 0, guesses[g], { claim, 1, 0 } };
                assert_int_equal(au_send(r, (cl_wire){ .tag = cl_wire_ack, .ack = ack }), AU_OK);
            }
        }
        au_sim_run(w.sim, AU_MSEC(300));
    }
    member_2_is_held_at_its_real_run(&w, id2);
    end_world(&w);
}

/* A member that advertises a host name sends from an IP address, which its `from` cannot be
 * compared with: its word about itself was believed anyway, so a forged gossip naming it as the
 * sender, with a newer run of it, replaced it at once everywhere (REPLACED, and the real run,
 * with its smaller id, always lost from then on). Its claims of itself are confirmed by nonce
 * now, as any unverified claim: the forged run never answers, nobody is replaced, and the member
 * is still held at its real run (its crash is detected). */
static void a_forged_restart_in_the_name_of_a_member_advertised_by_host_name_replaces_nobody(void **st) {
    static world w;
    formed_moved(&w, 3, 306, NULL, 2, "localhost");
    uint64_t id2 = au_cluster_id(w.s[2].cluster);
    cl_update claim[] = { about(&w, 2, UINT64_MAX, 0, CL_ALIVE) };
    for (int k = 0; k < 3; k++) {
        for (int to = 0; to < 2; to++) {
            cl_wire_ref r = au_forge(cl_msg, cl_wire, w.s[3].node, "cluster", w.s[to].addr);
            assert_int_equal(au_send(r, (cl_wire){ .tag = cl_wire_gossip,
                                                   .gossip = { au_str_view(w.s[2].addr), UINT64_MAX,
                                                               { claim, 1, 0 } } }),
                             AU_OK);
        }
        au_sim_run(w.sim, AU_SEC(1));
    }
    member_2_is_held_at_its_real_run(&w, id2);
    end_world(&w);
}

/* A member's incarnation more than INC_WINDOW past the one held was taken only from the member
 * itself at its own address, so a member that sends from another (here bound to 127.0.0.1:P and
 * advertising 127.1:P, or localhost:P) and really got that far (a forged accusation at 1,000,
 * refuted at 1,001) was held where it was: an accusation at that old incarnation, which it
 * rightly ignores, then removed it as failed. The claim is confirmed by a nonce probe now, and
 * the member's own answer is believed: the accusations lose, nobody is removed. */
static void a_member_far_ahead_that_sends_from_another_address_is_believed_when_it_answers(void **st) {
    static const char *hosts[] = { "127.1", "localhost" };
    for (int v = 0; v < 2; v++) {
        static world w;
        formed_moved(&w, 3, 316 + (uint64_t)v, NULL, 2, hosts[v]);
        uint64_t id2 = au_cluster_id(w.s[2].cluster);
        cl_update self[] = { about(&w, 2, id2, 1000, CL_SUSPECT) };
        forge(&w, 3, 2, self, 1);
        au_sim_run(w.sim, AU_SEC(2));
        au_cluster_stats s2;
        au_cluster_stats_get(w.s[2].cluster, &s2);
        assert_true(s2.refutations >= 1);
        for (uint32_t k = 0; k <= 8; k++) {
            cl_update acc[] = { about(&w, 2, id2, k, CL_SUSPECT) };
            forge(&w, 3, 0, acc, 1);
            forge(&w, 3, 1, acc, 1);
            au_sim_run(w.sim, AU_MSEC(1));
        }
        au_sim_run(w.sim, AU_SEC(20));
        if (WORLD_SUM(&w, removed)) world_print(&w, hosts[v]);
        assert_int_equal(WORLD_SUM(&w, removed), 0);
        assert_true(world_converged(&w));
        end_world(&w);
    }
}

static bool stopped_counted(void *arg) { return atomic_load((_Atomic int *)arg) > 0; }

/* Each au_cluster_start took one of the node's AU_LAYERS_MAX layer slots and a leave gave none
 * back: the ninth start after eight leaves failed with AU_EFULL. A left cluster's layer takes
 * the next start; every start works, and each time the node is a member (alone, then joined). */
static void a_cluster_left_and_started_again_twenty_times_starts_every_time(void **st) {
    static world w;
    new_world(&w, 2, 305);
    assert_int_equal(world_start_cluster(&w, 1, NULL), AU_OK);
    au_sim_run(w.sim, AU_MSEC(10));
    const char *s1[] = { w.s[1].addr };
    for (int k = 0; k < 20; k++) {
        au_cluster_config q = quick(s1, 1);
        assert_int_equal(world_start_cluster(&w, 0, &q), AU_OK);
        atomic_store(&w.s[0].joined, 0);
        assert_int_equal(au_sim_run_until(w.sim, stopped_counted, &w.s[0].joined, AU_SEC(5)), AU_OK);
        au_cluster_stats cs;
        au_cluster_stats_get(w.s[0].cluster, &cs);
        assert_int_equal(cs.members, 2);
        assert_int_equal(au_cluster_leave(w.s[0].cluster), AU_OK);
        atomic_store(&w.s[0].left, 0);
        au_sim_run(w.sim, AU_MSEC(50));
        assert_int_equal(atomic_load(&w.s[0].left), 1);
    }
    /* the handles of the clusters left stay readable until the node stops */
    au_cluster_stats cs;
    au_cluster_stats_get(w.s[0].cluster, &cs);
    assert_int_equal(cs.members, 0);
    end_world(&w);
}

/* A death watch placed after the cluster removed the watched actor's node: au_peer_gone ran
 * once, at the removal, and the watch's request was retransmitted for ever, `terminated` never
 * came. The cluster declares its removed members gone again while they stay silent, so the
 * late watch ends too. */
AU_ROOT(ping_msg, (ping, int64_t, AU_REMOTE));
typedef struct target { int unused; } target;
static void target_recv(au_ctx *ctx, target *self, ping_msg *m) {}
AU_ACTOR(target_actor, target, ping_msg, .recv = target_recv);
typedef struct watching { ping_msg_ref who; _Atomic int *terminated; } watching;
static void watching_pre_start(au_ctx *ctx, watching *self) { au_watch(ctx, self->who); }
static void watching_recv(au_ctx *ctx, watching *self, ping_msg *m) {}
static void watching_terminated(au_ctx *ctx, watching *self, au_ref who) { atomic_fetch_add(self->terminated, 1); }
AU_ACTOR(watching_actor, watching, ping_msg, .pre_start = watching_pre_start, .recv = watching_recv,
         .terminated = watching_terminated);

static void a_watch_placed_after_the_removal_of_its_node_is_terminated(void **st) {
    static world w;
    formed(&w, 4, 306, NULL);
    au_spawn(w.s[3].node, target_actor, "target", NULL);
    au_sim_run(w.sim, AU_MSEC(100));
    world_kill(&w, 3);
    assert_int_equal(au_sim_run_until(w.sim, stopped_counted, &w.s[0].removed, AU_SEC(10)), AU_OK);
    au_sim_run(w.sim, AU_SEC(1));
    static _Atomic int terminated;
    ping_msg_ref r = au_forge(ping_msg, ping_msg, w.s[0].node, "target", w.s[3].addr);
    au_spawn(w.s[0].node, watching_actor, NULL, &(watching){ r, &terminated });
    assert_int_equal(au_sim_run_until(w.sim, stopped_counted, &terminated, AU_SEC(3)), AU_OK);
    au_sim_run(w.sim, AU_SEC(3));
    assert_int_equal(atomic_load(&terminated), 1); /* once */
    end_world(&w);
}

/* Durations are taken however large (UINT64_MAX: never), but the suspicion timeout wrapped:
 * (au_nanos)2^64 and d·(1 + health) past 2^64 came out 0 or small, and a suspected member was
 * removed at the next tick instead of never. Now a suspicion with such timeouts stays until
 * it is refuted. */
static void a_suspicion_timeout_of_the_end_of_time_never_expires(void **st) {
    static world w;
    au_cluster_config c = quick(NULL, 0);
    c.suspicion_min = c.suspicion_max = UINT64_MAX;
    c.max_health = UINT_MAX;
    formed(&w, 3, 307, &c);
    uint64_t id2 = au_cluster_id(w.s[2].cluster);
    for (uint32_t inc = 0; inc < 8; inc++) { /* refuted each time; health rises */
        cl_update sus[] = { about(&w, 2, id2, inc, CL_SUSPECT) };
        forge(&w, 3, 0, sus, 1);
        forge(&w, 3, 1, sus, 1);
        au_sim_run(w.sim, AU_MSEC(500));
    }
    au_sim_run(w.sim, AU_SEC(5));
    assert_int_equal(WORLD_SUM(&w, removed), 0);
    assert_true(world_converged(&w));
    end_world(&w);
}

/* Without a cluster key any datagram can name members that do not exist; each was added, with
 * up to 4,096 ring positions, without bound (440 MB). The table stops at max_members, and the
 * refusals are counted; the real members are untouched. */
static void phantom_members_stop_at_max_members(void **st) {
    static world w;
    au_cluster_config c = quick(NULL, 0);
    c.max_members = 40;
    formed(&w, 3, 308, &c);
    static char names[640][32];
    static cl_update ph[64];
    for (int k = 0; k < 10; k++) {
        for (int i = 0; i < 64; i++) {
            snprintf(names[k * 64 + i], sizeof names[0], "10.9.%d.%d:7", k, i + 1);
            ph[i] = (cl_update){ au_str_view(names[k * 64 + i]), 5, 0, CL_ALIVE, AU_RING_MAX_VNODES, 0 };
        }
        forge(&w, 3, 0, ph, 64);
        au_sim_run(w.sim, AU_MSEC(100));
    }
    au_sim_run(w.sim, AU_SEC(2));
    for (int i = 0; i < 3; i++) {
        au_cluster_stats cs;
        au_cluster_stats_get(w.s[i].cluster, &cs);
        assert_true(cs.members + cs.tombstones <= 40);
    }
    au_cluster_stats cs;
    au_cluster_stats_get(w.s[0].cluster, &cs);
    assert_true(cs.members_refused >= 640 - 40);
    assert_int_equal(WORLD_SUM(&w, removed_left), 0);
    /* and the knob has a bound */
    au_cluster *x = NULL;
    assert_int_equal(au_cluster_start(w.s[3].node, &(au_cluster_config){ .max_members = AU_CLUSTER_MAX_MEMBERS + 1 }, &x),
                     AU_EINVAL);
    assert_null(x);
    end_world(&w);
}

/* One forged datagram naming a member 64 times, each accusation INC_WINDOW past the refutation
 * of the one before, made it refute 64 times (its incarnation up 4,160 at once, UINT32_MAX in a
 * million datagrams). A message names each member once: the second record of itself is dropped. */
static void a_message_naming_a_member_many_times_is_refuted_once(void **st) {
    static world w;
    formed(&w, 3, 314, NULL);
    uint64_t id2 = au_cluster_id(w.s[2].cluster);
    static cl_update many[64];
    for (uint32_t k = 0; k < 64; k++) many[k] = about(&w, 2, id2, k * 65, CL_DEAD);
    au_cluster_stats before, after;
    au_cluster_stats_get(w.s[2].cluster, &before);
    forge(&w, 3, 2, many, 64);
    au_sim_run(w.sim, AU_SEC(2));
    au_cluster_stats_get(w.s[2].cluster, &after);
    assert_int_equal(after.refutations - before.refutations, 1);
    assert_true(after.drops_invalid - before.drops_invalid >= 63);
    assert_int_equal(WORLD_SUM(&w, removed), 0);
    assert_true(world_converged(&w));
    end_world(&w);
}

/* The others can be pushed past a member's own incarnation, INC_WINDOW at a time, by forged
 * claims the member never hears; an accusation at what they then hold must still be refuted by
 * it (a claim of itself far ahead is dropped only in the top half of the range). And a message
 * naming another member many times moves it once: 64 claims, each INC_WINDOW past the one
 * before, had moved it 4,096 at once. */
static void a_member_the_others_hold_far_ahead_still_refutes(void **st) {
    static world w;
    formed(&w, 3, 315, NULL);
    uint64_t id2 = au_cluster_id(w.s[2].cluster);
    static cl_update many[64];
    for (uint32_t k = 0; k < 64; k++) many[k] = about(&w, 2, id2, (k + 1) * 64, CL_ALIVE);
    uint64_t d0 = drops_invalid(&w, 0);
    forge(&w, 3, 0, many, 64);
    au_sim_run(w.sim, AU_MSEC(1));
    assert_true(drops_invalid(&w, 0) >= d0 + 63);
    for (uint32_t k = 1; k <= 3; k++) { /* node 0 and 1 hold node 2 at 192; node 2 holds 0 */
        cl_update up[] = { about(&w, 2, id2, k * 64, CL_ALIVE) };
        forge(&w, 3, 0, up, 1);
        forge(&w, 3, 1, up, 1);
        au_sim_run(w.sim, AU_MSEC(1));
    }
    cl_update acc[] = { about(&w, 2, id2, 192, CL_SUSPECT) };
    forge(&w, 3, 0, acc, 1);
    forge(&w, 3, 1, acc, 1);
    au_sim_run(w.sim, AU_SEC(20));
    assert_int_equal(WORLD_SUM(&w, removed), 0);
    assert_true(world_converged(&w));
    end_world(&w);
}

/* A crash-restart at the same address (a new run id) while a forger keeps claiming another
 * newer run for that address, every 50 ms, to everyone. The real run's record, heard from the
 * seed, is confirmed by a probe; the wait between confirmations was per member, so the forged
 * claims, asked about first, kept the real one from being asked (24 nodes: 0.65 to 2 s where
 * 0.3 s is usual). The wait is per claimed run now: the restart is taken as fast as unforged. */
enum { RN = 24 }; /* 0..RN-2 stay, RN-1 restarts, RN forges */

static bool all_replaced(void *arg) {
    world *w = arg;
    for (int i = 0; i < RN - 1; i++) {
        slot *sl = &w->s[i];
        if (atomic_load(&sl->removed) - atomic_load(&sl->removed_failed) - atomic_load(&sl->removed_left) < 1)
            return false;
    }
    return world_converged(w);
}

static void a_restart_amid_forged_claims_of_newer_runs_is_taken_at_once(void **st) {
    for (uint64_t seed = 401; seed <= 404; seed++) {
        static world w;
        formed(&w, RN, seed, NULL);
        char addr[64];
        snprintf(addr, sizeof addr, "%s", w.s[RN - 1].addr);
        world_kill(&w, RN - 1);
        assert_int_equal(world_start_node_at(&w, RN - 1, SIMULATED(w.sim), NULL, addr), AU_OK);
        const char *s0[] = { w.s[0].addr };
        au_cluster_config q = quick(s0, 1);
        assert_int_equal(world_start_cluster(&w, RN - 1, &q), AU_OK);
        au_nanos t0 = au_sim_now(w.sim);
        cl_update claim[] = { about(&w, RN - 1, UINT64_MAX, 0, CL_ALIVE) };
        while (!all_replaced(&w) && au_sim_now(w.sim) - t0 < AU_SEC(30)) {
            for (int to = 0; to < RN - 1; to++) forge(&w, RN, to, claim, 1);
            au_sim_run_until(w.sim, all_replaced, &w, AU_MSEC(50));
        }
        assert_true(all_replaced(&w));
        assert_true(au_sim_now(w.sim) - t0 < AU_MSEC(500));
        end_world(&w);
    }
}

/* A member believed any accusation of itself at an incarnation above its own (the window of
 * INC_WINDOW applied to claims about others only): one forged DEAD at UINT32_MAX - 1, sent to
 * the member itself, made it refute at UINT32_MAX, where no accusation of it is believed by the
 * others any more; when it then crashed, the members that do not manage it kept it for good. A
 * claim of itself more than INC_WINDOW past its own incarnation, in the top half of the range, is
 * now dropped and counted. */
static void a_forged_claim_far_ahead_of_a_members_own_incarnation_is_not_taken(void **st) {
    static world w;
    formed(&w, 8, 313, NULL);
    uint64_t id7 = au_cluster_id(w.s[7].cluster);
    cl_update far[] = { about(&w, 7, id7, UINT32_MAX - 1, CL_DEAD), about(&w, 7, id7, UINT32_MAX - 1, CL_ALIVE) };
    uint64_t before = drops_invalid(&w, 7);
    forge(&w, 8, 7, far, 2);
    au_sim_run(w.sim, AU_SEC(2));
    assert_true(drops_invalid(&w, 7) >= before + 2);
    assert_true(world_converged(&w));
    world_kill(&w, 7);
    converge(&w, AU_SEC(20));
    for (int i = 0; i < 7; i++) assert_int_equal(atomic_load(&w.s[i].removed_failed), 1);
    end_world(&w);
}

/* A table full of tombstones (phantoms that died, kept for tombstone_ttl) refused every real
 * member until they were forgotten: a joiner was served by its seed but never made a member
 * there. A tombstone now gives way to a live newcomer. */
static void tombstones_filling_the_table_give_way_to_a_real_joiner(void **st) {
    static world w;
    new_world(&w, 5, 312); /* 0-2: the cluster, 3: the forger, 4: the joiner */
    static const char *seeds[3];
    for (int i = 0; i < 3; i++) seeds[i] = w.s[i].addr;
    au_cluster_config c = quick(seeds, 3);
    c.max_members = 10;
    c.tombstone_ttl = AU_SEC(600);
    for (int i = 0; i < 3; i++) assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    converge(&w, AU_SEC(10));
    static char names[7][32];
    cl_update ph[7];
    for (int i = 0; i < 7; i++) {
        snprintf(names[i], sizeof names[0], "10.7.0.%d:7", i + 1);
        ph[i] = (cl_update){ au_str_view(names[i]), 5, 0, CL_ALIVE, 1, 0 };
    }
    for (int to = 0; to < 3; to++) forge(&w, 3, to, ph, 7);
    au_sim_run(w.sim, AU_SEC(30)); /* the phantoms are found dead: 3 members, 7 tombstones */
    for (int i = 0; i < 3; i++) {
        au_cluster_stats cs;
        au_cluster_stats_get(w.s[i].cluster, &cs);
        assert_int_equal(cs.members, 3);
        assert_int_equal(cs.tombstones, 7);
    }
    const char *s0[] = { w.s[0].addr };
    au_cluster_config q = quick(s0, 1);
    q.max_members = 10;
    assert_int_equal(world_start_cluster(&w, 4, &q), AU_OK);
    converge(&w, AU_SEC(10));
    for (int i = 0; i < 3; i++) {
        au_cluster_stats cs;
        au_cluster_stats_get(w.s[i].cluster, &cs);
        assert_int_equal(cs.members, 4);
        assert_true(cs.members + cs.tombstones <= 10);
    }
    end_world(&w);
}

/* A claim of a newer run for a member is confirmed by a probe to that member: one forged
 * datagram names CL_MAX_UPDATES members, and each claim sent its own probe (with a piggyback),
 * so 20 datagrams of claims about 1,280 members sent 1,280 probes at once. Confirmations are
 * paid from the answer budget (burst 512): the rest are withheld and counted. */
static void claims_of_newer_runs_do_not_turn_a_node_into_an_amplifier(void **st) {
    static world w;
    formed(&w, 3, 311, NULL);
    static char names[1280][32];
    static cl_update ph[64];
    for (int k = 0; k < 20; k++) { /* 1,280 members node 0 holds (phantoms, without a key) */
        for (int i = 0; i < 64; i++) {
            snprintf(names[k * 64 + i], sizeof names[0], "10.8.%d.%d:7", k, i + 1);
            ph[i] = (cl_update){ au_str_view(names[k * 64 + i]), 5, 0, CL_ALIVE, 1, 0 };
        }
        forge(&w, 3, 0, ph, 64);
    }
    au_sim_run(w.sim, AU_SEC(5)); /* the answer budget refills */
    au_cluster_stats before, after;
    au_cluster_stats_get(w.s[0].cluster, &before);
    assert_true(before.members + before.tombstones >= 1280);
    for (int k = 0; k < 20; k++) { /* a newer run of each, claimed by the forger */
        for (int i = 0; i < 64; i++)
            ph[i] = (cl_update){ au_str_view(names[k * 64 + i]), 6, 0, CL_ALIVE, 1, 0 };
        forge(&w, 3, 0, ph, 64);
    }
    au_sim_run(w.sim, AU_MSEC(20));
    au_cluster_stats_get(w.s[0].cluster, &after);
    assert_true(after.messages_sent - before.messages_sent < 700);
    assert_true(after.answers_withheld - before.answers_withheld >= 1280 - 700);
    assert_int_equal(WORLD_SUM(&w, removed_left), 0);
    end_world(&w);
}

/* A seed whose node holds only 16 peers and 16 remote references serves joiners at ever new
 * addresses, each leaving again: the references it forges to answer them, and to reach them as
 * members, are given back (au_unforge) once they are gone, so the 49th joiner is served as the
 * first was (they had been kept for the node's life, and the 17th found the tables full). */
static bool joined_both(void *arg) {
    au_cluster **c = arg;
    au_cluster_stats a, b;
    au_cluster_stats_get(c[0], &a);
    au_cluster_stats_get(c[1], &b);
    return a.members == 2 && b.members == 2;
}
static bool seed_alone(void *arg) {
    au_cluster_stats a;
    au_cluster_stats_get(arg, &a);
    return a.members == 1 && a.tombstones == 0;
}

static void joiners_at_ever_new_addresses_leave_the_seeds_tables_open(void **st) {
    au_sim *sim;
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 77 }, &sim), AU_OK);
    au_node *a;
    assert_int_equal(au_node_start(&(au_node_config){ .driver = SIMULATED(sim), .workers = 1, .no_spin = true,
                                                      .max_peers = 16, .max_remote_refs = 16 }, &a),
                     AU_OK);
    au_cluster *ca;
    au_cluster_config ac = quick(NULL, 0);
    ac.tombstone_ttl = AU_SEC(1);
    assert_int_equal(au_cluster_start(a, &ac, &ca), AU_OK);
    const char *seeds[] = { au_node_address(a) };
    for (int i = 0; i < 49; i++) {
        au_node *b;
        assert_int_equal(au_node_start(&(au_node_config){ .driver = SIMULATED(sim), .workers = 1,
                                                          .no_spin = true }, &b), AU_OK);
        au_cluster *cb;
        au_cluster_config bc = quick(seeds, 1);
        bc.no_leave_on_stop = false;
        assert_int_equal(au_cluster_start(b, &bc, &cb), AU_OK);
        if (au_sim_run_until(sim, joined_both, (au_cluster *[]){ ca, cb }, AU_SEC(10)) != AU_OK)
            fail_msg("joiner %d was not served", i);
        assert_int_equal(au_cluster_leave(cb), AU_OK);
        assert_int_equal(au_sim_run_until(sim, seed_alone, ca, AU_SEC(10)), AU_OK);
        au_node_stop(b);
    }
    au_node_stats ns;
    au_node_stats_get(a, &ns);
    assert_true(ns.remote_refs <= 16);
    au_node_stop(a);
    au_sim_destroy(sim);
}

/* A member learned while this node's tables of peers and remote references were full (its
 * forge failed, AU_EFULL) is reached once room is made: the forge is tried again (it had been
 * given up for good, so the node never probed nor gossiped to that member again and kept
 * suspecting it). */
static uint64_t suspicions_of(au_cluster *c) {
    au_cluster_stats st;
    au_cluster_stats_get(c, &st);
    return st.suspicions;
}

static void a_member_whose_forge_failed_is_reached_once_there_is_room(void **st) {
    au_sim *sim;
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 78 }, &sim), AU_OK);
    au_node *n[3];
    au_cluster *c[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(au_node_start(&(au_node_config){ .driver = SIMULATED(sim), .workers = 1,
                                                          .no_spin = true, .max_peers = 8,
                                                          .max_remote_refs = 8 }, &n[i]),
                         AU_OK);
    const char *seed0[] = { au_node_address(n[0]) }, *seed1[] = { au_node_address(n[1]) };
    au_cluster_config cfg = quick(seed0, 1);
    assert_int_equal(au_cluster_start(n[0], &cfg, &c[0]), AU_OK);
    assert_int_equal(au_cluster_start(n[1], &cfg, &c[1]), AU_OK);
    assert_int_equal(au_sim_run_until(sim, joined_both, (au_cluster *[]){ c[0], c[1] }, AU_SEC(10)), AU_OK);
    /* node 0's tables filled with kept forges of its own */
    cl_wire_ref kept[16];
    int nkept = 0;
    for (int i = 0; i < 16; i++) {
        char addr[32];
        snprintf(addr, sizeof addr, "127.0.0.1:%d", 3000 + i);
        cl_wire_ref r = au_forge(cl_msg, cl_wire, n[0], "nobody", addr);
        if (au_ref_is_null(r.raw)) break;
        kept[nkept++] = r;
    }
    assert_true(nkept < 16);
    /* node 2 joins through node 1: node 0 hears of it and cannot forge a reference to it */
    cfg.seeds = seed1;
    assert_int_equal(au_cluster_start(n[2], &cfg, &c[2]), AU_OK);
    au_sim_run(sim, AU_SEC(5));
    for (int i = 0; i < nkept; i++) assert_int_equal(au_unforge(kept[i]), AU_OK);
    au_sim_run(sim, AU_SEC(5)); /* the retry: node 0 reaches node 2 from now on */
    /* node 1 crashes: nodes 0 and 2 have only each other, directly (no indirect probe, no relay) */
    au_node_stop(n[1]);
    n[1] = NULL;
    uint64_t before = suspicions_of(c[0]);
    au_sim_run(sim, AU_SEC(30));
    au_cluster_stats s0, s2;
    au_cluster_stats_get(c[0], &s0);
    au_cluster_stats_get(c[2], &s2);
    assert_int_equal(s0.members, 2);
    assert_int_equal(s2.members, 2);
    assert_true(s0.suspicions <= before + 1); /* node 1's, at most: never node 2's */
    assert_int_equal(s2.refutations, 0);
    for (int i = 0; i < 3; i++) if (n[i]) au_node_stop(n[i]);
    au_sim_destroy(sim);
}

/* Without a cluster key anyone can send Term to an actor with a registered name: a forged
 * reference to a member's cluster actor and au_stop through it stopped that actor, and with it
 * the member's membership (it left, for every node, from one datagram). The cluster actor takes
 * Term from its own node only (AU_TERM_LOCAL): the remote one is refused and counted, the
 * member stays; au_cluster_leave still leaves. */
static void a_forged_term_to_a_cluster_actor_stops_nothing(void **st) {
    static world w;
    formed(&w, 3, 321, NULL);
    cl_wire_ref r = au_forge(cl_msg, cl_wire, w.s[3].node, "cluster", w.s[0].addr);
    assert_int_equal(au_stop(r), AU_OK);
    au_sim_run(w.sim, AU_SEC(5));
    assert_int_equal(WORLD_SUM(&w, removed), 0);
    assert_int_equal(atomic_load(&w.s[0].left), 0);
    assert_true(world_converged(&w));
    au_node_stats ns;
    au_node_stats_get(w.s[0].node, &ns);
    assert_true(ns.drops_term_refused >= 1);
    assert_int_equal(au_cluster_leave(w.s[0].cluster), AU_OK);
    w.s[0].live = false;
    converge(&w, AU_SEC(5));
    end_world(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_accusation_at_the_last_incarnation_removes_no_live_member),
        cmocka_unit_test(a_node_declared_dead_that_refutes_tells_its_subscribers_joined),
        cmocka_unit_test(a_forged_refusal_does_not_end_a_join),
        cmocka_unit_test(a_forged_newer_run_replaces_no_live_member),
        cmocka_unit_test(a_forged_answer_to_a_confirmation_replaces_no_live_member),
        cmocka_unit_test(a_forged_restart_in_the_name_of_a_member_advertised_by_host_name_replaces_nobody),
        cmocka_unit_test(a_member_far_ahead_that_sends_from_another_address_is_believed_when_it_answers),
        cmocka_unit_test(a_cluster_left_and_started_again_twenty_times_starts_every_time),
        cmocka_unit_test(a_watch_placed_after_the_removal_of_its_node_is_terminated),
        cmocka_unit_test(a_suspicion_timeout_of_the_end_of_time_never_expires),
        cmocka_unit_test(phantom_members_stop_at_max_members),
        cmocka_unit_test(claims_of_newer_runs_do_not_turn_a_node_into_an_amplifier),
        cmocka_unit_test(a_member_the_others_hold_far_ahead_still_refutes),
        cmocka_unit_test(a_message_naming_a_member_many_times_is_refuted_once),
        cmocka_unit_test(a_forged_claim_far_ahead_of_a_members_own_incarnation_is_not_taken),
        cmocka_unit_test(a_restart_amid_forged_claims_of_newer_runs_is_taken_at_once),
        cmocka_unit_test(tombstones_filling_the_table_give_way_to_a_real_joiner),
        cmocka_unit_test(joiners_at_ever_new_addresses_leave_the_seeds_tables_open),
        cmocka_unit_test(a_member_whose_forge_failed_is_reached_once_there_is_room),
        cmocka_unit_test(a_forged_term_to_a_cluster_actor_stops_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
