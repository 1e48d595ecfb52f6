/* test_cluster_topology.c — the cluster as an adversarial user meets it, in deterministic
 * simulation: seed lists of every shape (only itself, duplicates, garbage, seeds that come up
 * late, star, chain, reverse chain, ring, all-to-all), two clusters formed apart and bridged by a
 * node seeding both, a restart on the same port with an incompatible type table, late and
 * stopped subscribers, NULL and absurd arguments and knobs, and au_node_stop while joins are in
 * flight. Relies on cluster_sim_world.h (a cluster_world.h world on the simulator: a watcher per
 * node recording its member set as a bit set).
 * Every scenario runs on virtual time with a fixed seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <limits.h>
#include <math.h>
#include <cmocka.h>

#include "cluster/cluster_sim_world.h"
#include <aurum/log.h>

/* ---- seed lists ------------------------------------------------------------------------------ */

static void a_node_seeding_only_itself_starts_alone(void **st) {
    static world w;
    new_world(&w, 1, 101);
    const char *seeds[] = { w.s[0].addr, w.s[0].addr };
    assert_int_equal(world_start_cluster(&w, 0, &(au_cluster_config){ .seeds = seeds, .nseeds = 2 }), AU_OK);
    au_sim_run(w.sim, AU_MSEC(10)); /* its own address is skipped: no join rounds to wait out */
    assert_int_equal(atomic_load(&w.s[0].alone), 1);
    assert_int_equal(atomic_load(&w.s[0].members), 1ull);
    assert_int_equal(WORLD_SUM(&w, bad_first), 0);
    end_world(&w);
}

/* Its own address spelled another way ("localhost:<port>") is still itself: skipped too, so it
 * starts alone at once instead of after every join round to itself, and does not go on
 * contacting itself as a seed that is not a member. */
static void a_node_seeding_itself_by_another_name_starts_alone_at_once(void **st) {
    static world w;
    new_world(&w, 1, 123);
    char self[64];
    struct sockaddr_storage a, b;
    socklen_t la, lb;
    snprintf(self, sizeof self, "localhost%s", strrchr(w.s[0].addr, ':'));
    assert_int_equal(au_address_resolve(w.s[0].addr, &a, &la), AU_OK);
    if (au_address_resolve(self, &b, &lb) != AU_OK ||
        !au_address_equal((struct sockaddr *)&a, (struct sockaddr *)&b))
        snprintf(self, sizeof self, "127.000.000.001%s",
                 strrchr(w.s[0].addr, ':')); /* localhost is ::1 here */
    const char *seeds[] = { self };
    assert_int_equal(world_start_cluster(&w, 0, &(au_cluster_config){ .seeds = seeds, .nseeds = 1 }), AU_OK);
    au_sim_run(w.sim, AU_MSEC(10));
    assert_int_equal(atomic_load(&w.s[0].alone), 1);
    au_cluster_stats cs;
    au_sim_run(w.sim, AU_SEC(5));
    au_cluster_stats_get(w.s[0].cluster, &cs);
    assert_int_equal(cs.messages_sent, 0);
    end_world(&w);
}

/* Its own address as an IPv4-mapped IPv6 literal ([::ffff:127.0.0.1]:<port>) or as the
 * unspecified address at its port (0.0.0.0:<port>, [::]:<port>: "this host") is itself too;
 * each was taken as another seed, so the node started alone only after its join rounds and
 * went on contacting itself. */
static void a_node_seeding_itself_as_mapped_or_unspecified_starts_alone_at_once(void **st) {
    const char *forms[] = { "[::ffff:127.0.0.1]", "0.0.0.0", "[::]" };
    for (size_t f = 0; f < sizeof forms / sizeof *forms; f++) {
        static world w;
        new_world(&w, 1, 124 + f);
        char self[64];
        snprintf(self, sizeof self, "%s%s", forms[f], strrchr(w.s[0].addr, ':'));
        const char *seeds[] = { self };
        assert_int_equal(world_start_cluster(&w, 0, &(au_cluster_config){ .seeds = seeds, .nseeds = 1 }), AU_OK);
        au_sim_run(w.sim, AU_MSEC(10));
        assert_int_equal(atomic_load(&w.s[0].alone), 1);
        au_cluster_stats cs;
        au_sim_run(w.sim, AU_SEC(5));
        au_cluster_stats_get(w.s[0].cluster, &cs);
        assert_int_equal(cs.messages_sent, 0);
        end_world(&w);
    }
}

static void garbage_seed_addresses_are_refused(void **st) {
    static world w;
    new_world(&w, 1, 102);
    const char *bad[][2] = { { "not an address", NULL }, { "127.0.0.1", NULL }, { "127.0.0.1:99999", NULL },
                             { "", NULL }, { w.s[0].addr, NULL } /* a NULL entry */ };
    au_cluster *c = NULL;
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(
            au_cluster_start(w.s[0].node, &(au_cluster_config){ .seeds = bad[i], .nseeds = 1 }, &c),
            AU_EINVAL);
    assert_int_equal(au_cluster_start(w.s[0].node, &(au_cluster_config){ .seeds = bad[4], .nseeds = 2 }, &c),
                     AU_EINVAL);
    assert_int_equal(au_cluster_start(w.s[0].node, &(au_cluster_config){ .seeds = NULL, .nseeds = 3 }, &c),
                     AU_EINVAL);
    assert_null(c);
    /* none of the refused starts left anything behind: a good one works after them */
    assert_int_equal(world_start_cluster(&w, 0, NULL), AU_OK);
    au_sim_run(w.sim, AU_MSEC(10));
    assert_int_equal(atomic_load(&w.s[0].alone), 1);
    end_world(&w);
}

static void duplicate_seeds_join_once(void **st) {
    static world w;
    new_world(&w, 3, 103);
    assert_int_equal(world_start_cluster(&w, 0, NULL), AU_OK);
    const char *seeds[] = { w.s[0].addr, w.s[0].addr, w.s[1].addr, w.s[0].addr, w.s[1].addr };
    for (int i = 1; i < 3; i++) {
        au_cluster_config c = quick(seeds, 5);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    converge(&w, AU_SEC(5));
    au_sim_run(w.sim, AU_SEC(2));
    assert_true(world_converged(&w));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(atomic_load(&w.s[i].removed), 0);
        assert_true(atomic_load(&w.s[i].added) <= 2); /* each other member once */
    }
    assert_int_equal(WORLD_SUM(&w, bad_first), 0);
    end_world(&w);
}

/* The seed's node exists, but its cluster starts only after the others gave up joining and
 * started alone: they merge with it (and through it) into one cluster. */
static void seeds_that_are_all_down_at_start_are_joined_when_they_come_up(void **st) {
    static world w;
    new_world(&w, 4, 104);
    const char *seeds[] = { w.s[0].addr, w.s[1].addr };
    for (int i = 2; i < 4; i++) {
        au_cluster_config c = quick(seeds, 2);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    au_sim_run(w.sim, AU_SEC(2));
    assert_int_equal(atomic_load(&w.s[2].alone), 1);
    assert_int_equal(atomic_load(&w.s[3].alone), 1);
    assert_int_equal(atomic_load(&w.s[2].members), 1ull << 2);
    /* now the seeds come up: 0 with no seeds at all, 1 seeding 0 */
    assert_int_equal(world_start_cluster(&w, 0, &(au_cluster_config){ .no_leave_on_stop = true }), AU_OK);
    au_cluster_config c1 = quick(seeds, 1);
    assert_int_equal(world_start_cluster(&w, 1, &c1), AU_OK);
    converge(&w, AU_SEC(20));
    assert_int_equal(WORLD_SUM(&w, bad_first), 0);
    end_world(&w);
}

/* A star whose hub crashes: the spokes stay one cluster; a late node seeding only the hub starts
 * alone; when the hub restarts on its port (a new run, seeding nobody) all three parts find one
 * another through it (the spokes contact its tombstone, the late node its seed) and merge. */
static void a_star_whose_hub_crashes_and_restarts_merges_everyone_again(void **st) {
    static world w;
    new_world(&w, 6, 124);
    const char *hub[] = { w.s[0].addr };
    assert_int_equal(world_start_cluster(&w, 0, &(au_cluster_config){ .no_leave_on_stop = true }), AU_OK);
    for (int i = 1; i < 5; i++) {
        au_cluster_config c = quick(hub, 1);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    w.s[5].live = false;
    converge(&w, AU_SEC(10));
    char addr[64];
    snprintf(addr, sizeof addr, "%s", w.s[0].addr);
    world_kill(&w, 0);
    converge(&w, AU_SEC(10));
    au_cluster_config c5 = quick(hub, 1);
    assert_int_equal(world_start_cluster(&w, 5, &c5), AU_OK);
    w.s[5].live = false; /* not part of the spokes' view yet */
    au_sim_run(w.sim, AU_SEC(2));
    assert_int_equal(atomic_load(&w.s[5].alone), 1);
    assert_int_equal(atomic_load(&w.s[5].members), 1ull << 5);
    assert_int_equal(world_start_node_at(&w, 0, SIMULATED(w.sim), NULL, addr), AU_OK);
    assert_int_equal(world_start_cluster(&w, 0, &(au_cluster_config){ .no_leave_on_stop = true }), AU_OK);
    w.s[5].live = true;
    converge(&w, AU_SEC(30));
    end_world(&w);
}

/* Two clusters formed apart, then one node that seeds a member of each: one cluster. */
static void two_clusters_bridged_by_one_node_merge_into_one(void **st) {
    static world w;
    new_world(&w, 7, 105);
    const char *sa[] = { w.s[0].addr }, *sb[] = { w.s[3].addr };
    for (int i = 0; i < 3; i++) {
        au_cluster_config c = quick(sa, 1);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    for (int i = 3; i < 6; i++) {
        au_cluster_config c = quick(sb, 1);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    au_sim_run(w.sim, AU_SEC(3));
    for (int i = 0; i < 3; i++) assert_int_equal(atomic_load(&w.s[i].members), 0x7ull);
    for (int i = 3; i < 6; i++) assert_int_equal(atomic_load(&w.s[i].members), 0x38ull);
    const char *both[] = { w.s[1].addr, w.s[4].addr };
    au_cluster_config c = quick(both, 2);
    assert_int_equal(world_start_cluster(&w, 6, &c), AU_OK);
    converge(&w, AU_SEC(20));
    for (int i = 0; i < 7; i++) assert_int_equal(atomic_load(&w.s[i].removed), 0);
    end_world(&w);
}

typedef enum shape { STAR, CHAIN, REVERSE_CHAIN, RING, ALL_TO_ALL } shape;

/* n nodes started at the same instant with seeds of the given shape. */
static void shape_converges(shape sh, int n, uint64_t seed) {
    static world w;
    static const char *seeds[WORLD_MAX][WORLD_MAX];
    new_world(&w, n, seed);
    for (int i = 0; i < n; i++) {
        size_t k = 0;
        switch (sh) {
        case STAR: if (i) seeds[i][k++] = w.s[0].addr; break;
        case CHAIN: if (i) seeds[i][k++] = w.s[i - 1].addr; break;
        case REVERSE_CHAIN: if (i < n - 1) seeds[i][k++] = w.s[i + 1].addr; break;
        case RING: seeds[i][k++] = w.s[(i + 1) % n].addr; break;
        case ALL_TO_ALL: for (int j = 0; j < n; j++) seeds[i][k++] = w.s[j].addr; break;
        }
        au_cluster_config c = quick(seeds[i], k);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    converge(&w, AU_SEC(30));
    au_sim_run(w.sim, AU_SEC(5)); /* and it stays so */
    assert_true(world_converged(&w));
    assert_int_equal(WORLD_SUM(&w, removed), 0);
    assert_int_equal(WORLD_SUM(&w, bad_first), 0);
    end_world(&w);
}

static void star_seeds_converge(void **st) { shape_converges(STAR, 12, 106); }
static void chain_seeds_converge(void **st) { shape_converges(CHAIN, 12, 107); }
static void reverse_chain_seeds_converge(void **st) { shape_converges(REVERSE_CHAIN, 12, 108); }
static void ring_seeds_where_nobody_is_a_seed_of_its_joiner_converge(void **st) {
    shape_converges(RING, 8, 109);
}
static void all_to_all_seeds_converge(void **st) { shape_converges(ALL_TO_ALL, 12, 110); }

/* ---- restart with another type table --------------------------------------------------------- */

static void a_restart_on_the_same_port_with_an_incompatible_type_table_is_refused(void **st) {
    static world w;
    new_world(&w, 4, 111);
    const char *seeds[] = { w.s[0].addr, w.s[1].addr };
    for (int i = 0; i < 4; i++) {
        au_cluster_config c = quick(seeds, 2);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    converge(&w, AU_SEC(10));
    char addr[64];
    snprintf(addr, sizeof addr, "%s", w.s[3].addr);
    world_kill(&w, 3);
    assert_int_equal(world_start_node_at(&w, 3, SIMULATED(w.sim), NULL, addr), AU_OK);
    assert_string_equal(w.s[3].addr, addr);
    au_type *app[] = { &au_type_watcher_msg };
    au_cluster_config c = quick(seeds, 2);
    c.compat = au_cluster_compat(0, app, 1);
    assert_int_equal(world_start_cluster(&w, 3, &c), AU_OK);
    w.s[3].live = false; /* not a member anywhere, itself included */
    converge(&w, AU_SEC(20)); /* the old run is removed from the others' view ... */
    au_sim_run(w.sim, AU_SEC(5));
    assert_true(world_converged(&w)); /* ... and the new run is never added */
    assert_int_equal(atomic_load(&w.s[3].incompatible), 1);
    assert_int_equal(atomic_load(&w.s[3].members), 0);
    assert_int_equal(atomic_load(&w.s[3].joined) + atomic_load(&w.s[3].alone), 0);
    for (int i = 0; i < 3; i++) assert_int_equal(atomic_load(&w.s[i].removed_mask), 1ull << 3);
    au_cluster_stats cs;
    au_cluster_stats_get(w.s[3].cluster, &cs);
    assert_int_equal(cs.members, 0);
    end_world(&w);
}

/* ---- subscribers ----------------------------------------------------------------------------- */

typedef struct first_seen {
    int updates;
    int32_t first_last_kind;
    uint32_t first_members;
} first_seen;
AU_LOCAL_ROOT(probe_msg, (update, au_cluster_update, AU_LOCAL));
typedef struct late_sub { first_seen *seen; } late_sub;
static void late_recv(au_ctx *ctx, late_sub *self, probe_msg *m) {
    if (self->seen->updates++ == 0) {
        self->seen->first_last_kind =
            m->update.events.len ? m->update.events.ptr[m->update.events.len - 1].kind : 0;
        self->seen->first_members = m->update.members.len;
    }
}
AU_ACTOR(late_actor, late_sub, probe_msg, .recv = late_recv);
static bool got_one(void *arg) { return ((first_seen *)arg)->updates > 0; }

static void a_subscriber_added_after_forming_gets_the_member_set_first(void **st) {
    static world w;
    new_world(&w, 5, 112);
    const char *seeds[] = { w.s[0].addr };
    for (int i = 0; i < 5; i++) {
        au_cluster_config c = quick(seeds, 1);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    converge(&w, AU_SEC(10));
    au_sim_run(w.sim, AU_SEC(1));
    for (int i = 0; i < 5; i++) {
        first_seen seen = { 0 };
        probe_msg_lref l = au_spawn(w.s[i].node, late_actor, NULL, &(late_sub){ &seen });
        assert_int_equal(
            au_cluster_subscribe(w.s[i].cluster, au_narrow_local(probe_msg, au_cluster_update, l)), AU_OK);
        assert_int_equal(au_sim_run_until(w.sim, got_one, &seen, AU_SEC(1)), AU_OK);
        assert_int_equal(seen.first_last_kind, i == 0 ? AU_CLUSTER_JOINED : AU_CLUSTER_JOINED);
        assert_int_equal(seen.first_members, 5);
        au_stop(l);
    }
    /* the stopped subscribers are dropped when the next events come; the others still hear */
    world_kill(&w, 4);
    converge(&w, AU_SEC(10));
    end_world(&w);
}

static void a_subscriber_of_a_lone_node_gets_alone_first(void **st) {
    static world w;
    new_world(&w, 1, 113);
    assert_int_equal(world_start_cluster(&w, 0, NULL), AU_OK);
    au_sim_run(w.sim, AU_SEC(1));
    first_seen seen = { 0 };
    probe_msg_lref l = au_spawn(w.s[0].node, late_actor, NULL, &(late_sub){ &seen });
    assert_int_equal(au_cluster_subscribe(w.s[0].cluster, au_narrow_local(probe_msg, au_cluster_update, l)),
                     AU_OK);
    assert_int_equal(au_sim_run_until(w.sim, got_one, &seen, AU_SEC(1)), AU_OK);
    assert_int_equal(seen.first_last_kind, AU_CLUSTER_ALONE);
    assert_int_equal(seen.first_members, 1);
    end_world(&w);
}

/* ---- misuse ---------------------------------------------------------------------------------- */

static void null_and_zero_arguments_get_error_codes(void **st) {
    static world w;
    new_world(&w, 1, 114);
    au_cluster *c = NULL;
    assert_int_equal(au_cluster_start(NULL, NULL, &c), AU_EINVAL);
    assert_int_equal(au_cluster_start(w.s[0].node, NULL, NULL), AU_EINVAL);
    assert_int_equal(au_cluster_subscribe(NULL, (au_cluster_update_lref){ 0 }), AU_EINVAL);
    assert_int_equal(au_cluster_leave(NULL), AU_EINVAL);
    assert_int_equal(au_cluster_id(NULL), 0);
    au_cluster_stats s;
    memset(&s, 0xff, sizeof s);
    au_cluster_stats_get(NULL, &s);
    assert_int_equal(s.members, 0);
    au_cluster_stats_get(NULL, NULL);
    assert_int_equal(au_cluster_start(w.s[0].node, NULL, &c), AU_OK);
    au_cluster_stats_get(c, NULL); /* nowhere to write: nothing written */
    assert_int_equal(au_cluster_subscribe(c, (au_cluster_update_lref){ 0 }), AU_EINVAL);
    au_cluster *c2 = NULL;
    assert_int_equal(au_cluster_start(w.s[0].node, NULL, &c2), AU_EEXIST); /* the name is taken */
    /* the ring's readers take NULL and empty rings */
    assert_int_equal(au_ring_size(NULL), 0);
    assert_null(au_ring_owner(NULL, "k", 1));
    assert_null(au_ring_member(NULL, 0));
    assert_int_equal(au_ring_find(NULL, "x"), -1);
    const au_cluster_member *out[4];
    assert_int_equal(au_ring_replicas(NULL, "k", 1, out, 4), 0);
    assert_int_equal(au_ring_managers(NULL, "x", out, 4), 0);
    assert_int_equal(au_ring_charges(NULL, "x", out, 4), 0);
    au_ring_release(NULL);
    au_ring *empty = au_ring_build(NULL, 0, 0);
    assert_non_null(empty);
    assert_null(au_ring_owner(empty, "k", 1));
    assert_int_equal(au_ring_replicas(empty, "k", 1, out, 4), 0);
    au_ring_release(empty);
    au_sim_run(w.sim, AU_MSEC(100));
    assert_int_equal(au_cluster_leave(c), AU_OK);
    au_sim_run(w.sim, AU_MSEC(100));
    /* after leaving, the actor is gone: calls say so and do not crash */
    assert_int_not_equal(au_cluster_leave(c), AU_OK);
    assert_int_not_equal(au_cluster_subscribe(c, au_narrow_local(watcher_msg, au_cluster_update,
                                                                 au_spawn(w.s[0].node, watcher_actor, NULL,
                                                                          &(watcher){ &w.s[0] }))), AU_OK);
    end_world(&w);
}

static void out_of_range_knobs_are_refused(void **st) {
    static world w;
    new_world(&w, 1, 115);
    au_cluster *c = NULL;
    const au_cluster_config bad[] = {
        { .phi = 1.5 }, { .phi = -0.5 }, { .phi = NAN }, { .replication_factor = 1000000 },
        { .vnodes = 1u << 30 }, { .capacity = 1u << 30 }, { .max_piggyback = 1u << 30 },
        { .suspicion_min = AU_SEC(10), .suspicion_max = AU_SEC(1) },
        /* accepted once, and then each request round sent probe requests until a random pick
         * happened to hit the silent member eight times in a row: millions of messages to
         * detect one crash in a six-node cluster */
        { .indirect_probes = UINT_MAX }, { .indirect_probes = 65 },
        /* UINT_MAX wrapped in the retransmit count: changes were re-sent nearly forever */
        { .retransmit_mult = UINT_MAX }, { .retransmit_mult = 65 },
        /* one past the bounds the header states */
        { .replication_factor = 17 }, { .capacity = 65 }, { .max_piggyback = 65 },
        { .vnodes = AU_RING_MAX_VNODES + 1 }, { .max_members = AU_CLUSTER_MAX_MEMBERS + 1 },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(au_cluster_start(w.s[0].node, &bad[i], &c), AU_EINVAL);
        assert_null(c);
    }
    /* and each bound itself is accepted */
    const au_cluster_config edge[] = {
        { .replication_factor = 16 }, { .capacity = 64 }, { .max_piggyback = 64 },
        { .indirect_probes = 64 }, { .retransmit_mult = 64 }, { .vnodes = AU_RING_MAX_VNODES },
        { .max_members = AU_CLUSTER_MAX_MEMBERS },
    };
    for (size_t i = 0; i < sizeof edge / sizeof *edge; i++) {
        au_cluster_config e = edge[i];
        e.name = "edge";
        assert_int_equal(au_cluster_start(w.s[0].node, &e, &c), AU_OK);
        assert_int_equal(au_cluster_leave(c), AU_OK);
        au_sim_run(w.sim, 0);
    }
    end_world(&w);
}

/* The log lines of the cluster module at ERROR (out_of_range_intervals_are_refused_and_named). */
static char interval_log[4096];
static int interval_errors;
static void interval_sink(void *user, au_log_module module, au_log_level level, const char *file,
                          int line, const char *message) {
    (void)user, (void)file, (void)line;
    if (module != AU_LOG_CLUSTER || level != AU_LOG_ERROR) return;
    interval_errors++;
    snprintf(interval_log, sizeof interval_log, "%s", message);
}

/* Periods and timeouts below AU_CLUSTER_MIN_INTERVAL (but not 0, the default) are refused with
 * AU_EINVAL and one ERROR line naming the field; the minimum itself is taken. A 1 ns
 * hb_interval was taken, and the node then sent a heartbeat at every tick. */
static void out_of_range_intervals_are_refused_and_named(void **st) {
    static world w;
    new_world(&w, 1, 117);
    static const struct { const char *name; size_t offset; } f[] = {
        { "ping_timeout", offsetof(au_cluster_config, ping_timeout) },
        { "hb_interval", offsetof(au_cluster_config, hb_interval) },
        { "req_timeout", offsetof(au_cluster_config, req_timeout) },
        { "gossip_interval", offsetof(au_cluster_config, gossip_interval) },
        { "sync_interval", offsetof(au_cluster_config, sync_interval) },
        { "reconnect_interval", offsetof(au_cluster_config, reconnect_interval) },
    };
    const au_nanos too_short[] = { 1, AU_USEC(1), AU_CLUSTER_MIN_INTERVAL - 1 };
    au_log_set_sink(interval_sink, NULL);
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        for (size_t k = 0; k < sizeof too_short / sizeof *too_short; k++) {
            au_cluster_config cfg = { .name = "iv" };
            memcpy((char *)&cfg + f[i].offset, &too_short[k], sizeof(au_nanos));
            au_cluster *c = NULL;
            interval_errors = 0;
            interval_log[0] = 0;
            assert_int_equal(au_cluster_start(w.s[0].node, &cfg, &c), AU_EINVAL);
            assert_null(c);
            assert_int_equal(interval_errors, 1);
            if (!strstr(interval_log, f[i].name)) fail_msg("%s: no field named in \"%s\"", f[i].name, interval_log);
        }
        au_cluster_config cfg = { .name = "iv" };
        au_nanos min = AU_CLUSTER_MIN_INTERVAL;
        memcpy((char *)&cfg + f[i].offset, &min, sizeof min);
        au_cluster *c = NULL;
        interval_errors = 0;
        assert_int_equal(au_cluster_start(w.s[0].node, &cfg, &c), AU_OK);
        assert_int_equal(interval_errors, 0);
        assert_int_equal(au_cluster_leave(c), AU_OK);
        au_sim_run(w.sim, 0);
    }
    au_log_set_sink(NULL, NULL);
    end_world(&w);
}

static uint64_t reconnects(world *w, int i) {
    au_cluster_stats cs;
    au_cluster_stats_get(w->s[i].cluster, &cs);
    return cs.reconnects;
}

/* A seed given by the address its node binds (an IP literal) while that node advertises a host
 * name ("localhost:P"): once the node's datagrams come from the seed's address it is known as
 * that seed, so the reconnect rounds leave it alone. Before, neither spelling of the seed
 * matched the member's address, and node 0 contacted it again every reconnect_interval for
 * good. */
static void a_seed_given_by_ip_that_advertises_a_host_name_is_not_reconnected_to(void **st) {
    static world w;
    new_world(&w, 2, 118);
    world_moved mv = world_advertise_as(&w, 1, SIMULATED(w.sim), "localhost");
    const char *s0[] = { mv.bind }, *s1[] = { w.s[0].addr };
    au_cluster_config q1 = quick(s1, 1), q0 = quick(s0, 1);
    assert_int_equal(world_start_cluster(&w, 1, &q1), AU_OK);
    assert_int_equal(world_start_cluster(&w, 0, &q0), AU_OK);
    converge(&w, AU_SEC(10));
    au_sim_run(w.sim, AU_SEC(3));
    uint64_t r0 = reconnects(&w, 0), r1 = reconnects(&w, 1);
    au_sim_run(w.sim, AU_SEC(10));
    assert_true(world_converged(&w));
    assert_int_equal(reconnects(&w, 0), r0);
    assert_int_equal(reconnects(&w, 1), r1);
    assert_int_equal(atomic_load(&w.s[0].removed), 0);
    end_world(&w);
}

/* Knobs at the far end of what is accepted must not hang or flood: a six-node cluster with them
 * forms and detects a crash with a bounded number of messages. */
static void absurd_but_accepted_knobs_neither_hang_nor_flood(void **st) {
    static world w;
    new_world(&w, 6, 116);
    const char *seeds[] = { w.s[0].addr };
    for (int i = 0; i < 6; i++) {
        au_cluster_config c = { .seeds = seeds, .nseeds = 1, .num_pings = 3, .ping_timeout = AU_MSEC(50),
                                .no_leave_on_stop = true, .indirect_probes = 64,
                                .gossip_fanout = UINT_MAX, .retransmit_mult = 64,
                                .req_tries = 2, .req_timeout = AU_MSEC(20), .max_health = UINT_MAX,
                                .times = UINT_MAX, .tombstone_ttl = UINT64_MAX };
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    converge(&w, AU_SEC(10));
    uint64_t sent0 = 0;
    au_cluster_stats cs;
    for (int i = 0; i < 5; i++) au_cluster_stats_get(w.s[i].cluster, &cs), sent0 += cs.messages_sent;
    world_kill(&w, 5);
    converge(&w, AU_SEC(20));
    uint64_t sent1 = 0;
    for (int i = 0; i < 5; i++) au_cluster_stats_get(w.s[i].cluster, &cs), sent1 += cs.messages_sent;
    fprintf(stderr, "cluster messages while detecting the crash: %llu\n",
            (unsigned long long)(sent1 - sent0));
    assert_true(sent1 - sent0 < 20000);
    end_world(&w);
}

static void huge_durations_neither_hang_nor_crash(void **st) {
    static world w;
    new_world(&w, 2, 117);
    const char *seeds[] = { w.s[0].addr };
    for (int i = 0; i < 2; i++) {
        au_cluster_config c = { .seeds = seeds, .nseeds = 1, .ping_timeout = UINT64_MAX / 2,
                                .hb_interval = UINT64_MAX, .gossip_interval = UINT64_MAX,
                                .sync_interval = UINT64_MAX, .reconnect_interval = UINT64_MAX,
                                .suspicion_min = UINT64_MAX / 4, .suspicion_max = UINT64_MAX / 2 };
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    au_sim_run(w.sim, AU_SEC(10));
    assert_true(atomic_load(&w.s[0].alone) == 1);
    end_world(&w);
}

/* Two clusters of different names on one node work side by side. */
static void two_clusters_of_different_names_on_the_same_nodes(void **st) {
    static world w;
    new_world(&w, 3, 119);
    const char *seeds[] = { w.s[0].addr };
    for (int i = 0; i < 3; i++) {
        au_cluster_config c = quick(seeds, 1);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    au_cluster *other[3];
    for (int i = 0; i < 3; i++) {
        au_cluster_config c = quick(i ? seeds : NULL, i ? 1 : 0);
        c.name = "other";
        assert_int_equal(au_cluster_start(w.s[i].node, &c, &other[i]), AU_OK);
    }
    converge(&w, AU_SEC(10));
    au_sim_run(w.sim, AU_SEC(2));
    au_cluster_stats cs;
    for (int i = 0; i < 3; i++) {
        au_cluster_stats_get(other[i], &cs);
        assert_int_equal(cs.members, 3);
    }
    end_world(&w);
}

/* A node that left (au_cluster_leave) and starts its cluster again rejoins: every member set
 * holds it again. */
static void a_node_that_left_and_starts_again_rejoins(void **st) {
    static world w;
    new_world(&w, 3, 120);
    const char *seeds[] = { w.s[0].addr };
    for (int i = 0; i < 3; i++) {
        au_cluster_config c = quick(seeds, 1);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    converge(&w, AU_SEC(10));
    assert_int_equal(au_cluster_leave(w.s[2].cluster), AU_OK);
    w.s[2].live = false;
    converge(&w, AU_SEC(5));
    uint64_t id = au_cluster_id(w.s[2].cluster);
    au_cluster_config c = quick(seeds, 1);
    au_err e = world_start_cluster(&w, 2, &c); /* the same node: a new watcher, live again */
    assert_int_equal(e, AU_OK);
    fprintf(stderr, "id before %016llx, after %016llx\n", (unsigned long long)id,
            (unsigned long long)au_cluster_id(w.s[2].cluster));
    converge(&w, AU_SEC(20));
    end_world(&w);
}

/* With a cluster key, a node without it (or with another) cannot join or change membership,
 * whatever it sends; the keyed nodes' view stays theirs. */
static void a_node_without_the_cluster_key_cannot_join_or_disturb(void **st) {
    static world w;
    static const uint8_t key[32] = "topology-test-key-0123456789abcd",
                         other[32] = "another-key-0123456789abcdefghij";
    memset(&w, 0, sizeof w);
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 121 }, &w.sim), AU_OK);
    for (int i = 0; i < 3; i++) assert_int_equal(world_start_node(&w, i, SIMULATED(w.sim), key), AU_OK);
    assert_int_equal(world_start_node(&w, 3, SIMULATED(w.sim), other), AU_OK);
    assert_int_equal(world_start_node(&w, 4, SIMULATED(w.sim), NULL), AU_OK);
    const char *seeds[] = { w.s[0].addr, w.s[1].addr };
    for (int i = 0; i < 5; i++) {
        au_cluster_config c = quick(seeds, 2);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    w.s[3].live = w.s[4].live = false; /* outsiders: each alone at most */
    au_sim_run(w.sim, AU_SEC(10));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(atomic_load(&w.s[i].members), 0x7ull);
        assert_int_equal(atomic_load(&w.s[i].removed), 0);
    }
    assert_int_equal(atomic_load(&w.s[3].members) & 0x7ull, 0);
    assert_int_equal(atomic_load(&w.s[4].members) & 0x7ull, 0);
    au_node_stats ns;
    au_node_stats_get(w.s[0].node, &ns);
    assert_true(ns.drops_checksum + ns.drops_unknown_key + ns.drops_malformed > 0); /* refused on arrival */
    end_world(&w);
}

/* au_cluster_leave promises subscribers LEFT; a node still joining (its seeds are not up) or
 * refused must keep that promise too, not stop silently. */
static void leaving_while_still_joining_or_refused_tells_subscribers_left(void **st) {
    static world w;
    new_world(&w, 4, 122);
    const char *seeds[] = { w.s[3].addr }; /* node 3 never starts a cluster */
    au_cluster_config c = quick(seeds, 1);
    c.num_pings = 1000;
    assert_int_equal(world_start_cluster(&w, 0, &c), AU_OK);
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(atomic_load(&w.s[0].updates), 0); /* joining: nothing to tell yet */
    assert_int_equal(au_cluster_leave(w.s[0].cluster), AU_OK);
    au_sim_run(w.sim, AU_MSEC(100));
    assert_int_equal(atomic_load(&w.s[0].left), 1);
    assert_int_equal(atomic_load(&w.s[0].members), 0);
    /* refused: another type table than its seed's */
    assert_int_equal(world_start_cluster(&w, 1, NULL), AU_OK);
    const char *s1[] = { w.s[1].addr };
    au_cluster_config r = quick(s1, 1);
    au_type *app[] = { &au_type_watcher_msg };
    r.compat = au_cluster_compat(0, app, 1);
    assert_int_equal(world_start_cluster(&w, 2, &r), AU_OK);
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(atomic_load(&w.s[2].incompatible), 1);
    assert_int_equal(au_cluster_leave(w.s[2].cluster), AU_OK);
    au_sim_run(w.sim, AU_MSEC(100));
    assert_int_equal(atomic_load(&w.s[2].left), 1);
    end_world(&w);
}

/* The ring is public for users' own sharding: hostile sizes are taken in stride. A NULL member
 * array is refused; a replication factor far above the member count costs no more than one of
 * the member count (each member has at most n - 1 managers). */
static void ring_builds_with_absurd_arguments(void **st) {
    assert_null(au_ring_build(NULL, 3, 2));
    au_cluster_member ms[3] = { { au_str_lit("127.0.0.1:1"), 1, 1 }, { au_str_lit("127.0.0.1:2"), 2, 1 },
                                { au_str_lit("127.0.0.1:3"), 3, 1 } };
    au_ring *r = au_ring_build(ms, 3, UINT_MAX);
    assert_non_null(r);
    assert_int_equal(au_ring_replication_factor(r), UINT_MAX);
    const au_cluster_member *out[8];
    assert_int_equal(au_ring_managers(r, "127.0.0.1:1", out, 8), 2);
    assert_int_equal(au_ring_charges(r, "127.0.0.1:1", out, 8), 2);
    assert_int_equal(au_ring_replicas(r, "k", 1, out, 8), 3);
    assert_int_equal(au_ring_managers(r, "127.0.0.1:9", out, 8), 0);
    assert_int_equal(au_ring_managers(r, NULL, out, 8), 0);
    /* NULL keys with a length, and nowhere to write: nothing, not a crash */
    assert_null(au_ring_owner(r, NULL, 8));
    assert_non_null(au_ring_owner(r, NULL, 0)); /* the empty key */
    assert_int_equal(au_ring_replicas(r, NULL, 8, out, 8), 0);
    assert_int_equal(au_ring_replicas(r, "k", 1, NULL, 8), 0);
    assert_int_equal(au_ring_managers(r, "127.0.0.1:1", NULL, 8), 0);
    assert_int_equal(au_ring_charges(r, "127.0.0.1:1", NULL, 8), 0);
    au_ring_release(r);
}

/* ---- stopping while things are in flight ------------------------------------------------------ */

static void stopping_nodes_while_they_join_frees_everything(void **st) {
    static world w;
    new_world(&w, 6, 118);
    const char *seeds[] = { w.s[0].addr, w.s[1].addr, w.s[5].addr };
    for (int i = 0; i < 5; i++) {
        au_cluster_config c = quick(seeds, 3);
        assert_int_equal(world_start_cluster(&w, i, &c), AU_OK);
    }
    /* node 5 never starts its cluster: its join rounds go nowhere; stop mid-join, mid-gossip */
    au_sim_run(w.sim, AU_MSEC(3));
    au_node_stop(w.s[2].node), w.s[2].node = NULL;
    au_sim_run(w.sim, AU_MSEC(40));
    au_node_stop(w.s[3].node), w.s[3].node = NULL;
    assert_int_equal(au_cluster_leave(w.s[4].cluster), AU_OK); /* leaving while joining */
    au_sim_run(w.sim, AU_MSEC(5));
    end_world(&w); /* the rest stop with timers, probes and pending updates in flight */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_node_seeding_only_itself_starts_alone),
        cmocka_unit_test(a_node_seeding_itself_by_another_name_starts_alone_at_once),
        cmocka_unit_test(a_node_seeding_itself_as_mapped_or_unspecified_starts_alone_at_once),
        cmocka_unit_test(garbage_seed_addresses_are_refused),
        cmocka_unit_test(duplicate_seeds_join_once),
        cmocka_unit_test(seeds_that_are_all_down_at_start_are_joined_when_they_come_up),
        cmocka_unit_test(a_star_whose_hub_crashes_and_restarts_merges_everyone_again),
        cmocka_unit_test(two_clusters_bridged_by_one_node_merge_into_one),
        cmocka_unit_test(star_seeds_converge),
        cmocka_unit_test(chain_seeds_converge),
        cmocka_unit_test(reverse_chain_seeds_converge),
        cmocka_unit_test(ring_seeds_where_nobody_is_a_seed_of_its_joiner_converge),
        cmocka_unit_test(all_to_all_seeds_converge),
        cmocka_unit_test(a_restart_on_the_same_port_with_an_incompatible_type_table_is_refused),
        cmocka_unit_test(a_subscriber_added_after_forming_gets_the_member_set_first),
        cmocka_unit_test(a_subscriber_of_a_lone_node_gets_alone_first),
        cmocka_unit_test(null_and_zero_arguments_get_error_codes),
        cmocka_unit_test(out_of_range_knobs_are_refused),
        cmocka_unit_test(out_of_range_intervals_are_refused_and_named),
        cmocka_unit_test(a_seed_given_by_ip_that_advertises_a_host_name_is_not_reconnected_to),
        cmocka_unit_test(absurd_but_accepted_knobs_neither_hang_nor_flood),
        cmocka_unit_test(huge_durations_neither_hang_nor_crash),
        cmocka_unit_test(two_clusters_of_different_names_on_the_same_nodes),
        cmocka_unit_test(a_node_that_left_and_starts_again_rejoins),
        cmocka_unit_test(a_node_without_the_cluster_key_cannot_join_or_disturb),
        cmocka_unit_test(leaving_while_still_joining_or_refused_tells_subscribers_left),
        cmocka_unit_test(ring_builds_with_absurd_arguments),
        cmocka_unit_test(stopping_nodes_while_they_join_frees_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
