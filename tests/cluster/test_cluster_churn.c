/* test_cluster_churn.c — the cluster under churn and odd shapes, in deterministic simulation:
 * a node that leaves and rejoins, or crashes and restarts on its port, again and again; every
 * seed crashed and a newcomer joining through a member that is no seed; every node restarted at
 * once; the smallest cluster (two nodes) crashing and restarting each side; a one-way link; nodes
 * with different timing, vnodes and replication settings in one cluster; a node paused past its
 * tombstone's life; subscribers that stop, and subscribers that call the cluster from their
 * handler. Relies on cluster_sim_world.h. Every scenario runs on virtual time with a fixed seed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "cluster/cluster_sim_world.h"

#define FAULTY(sim) ((au_driver[]){ au_faults_driver(SIMULATED(sim)) })

static au_err start(world *w, int i, const au_cluster_config *c);

static void restart_at(world *w, int i, const char *addr, const au_cluster_config *c) {
    char at[64];
    snprintf(at, sizeof at, "%s", addr);
    assert_int_equal(world_start_node_at(w, i, SIMULATED(w->sim), NULL, at), AU_OK);
    assert_string_equal(w->s[i].addr, at);
    assert_int_equal(start(w, i, c), AU_OK);
}


/* ---- a strict subscriber -------------------------------------------------------------------- */

/* Applies every update's events to the member set it knows and checks that the result is the
 * update's member set: no ADDED of a member it holds, no REMOVED of one it does not (by address
 * and id), the first update ending with ALONE or JOINED. ALONE and JOINED start from the update's
 * members. */
typedef struct strict {
    char addr[16][32];
    uint64_t id[16];
    int n, updates, errors;
} strict;
typedef struct strict_ref { strict *k; } strict_ref;
static int strict_find(strict *k, const au_cluster_member *m) {
    for (int i = 0; i < k->n; i++)
        if (strlen(k->addr[i]) == m->address.len && memcmp(k->addr[i], m->address.ptr, m->address.len) == 0)
            return i;
    return -1;
}
static void strict_bad(strict *k, const char *what, const au_cluster_member *m) {
    k->errors++;
    fprintf(stderr, "strict subscriber: %s %.*s id %llx\n", what, (int)m->address.len, m->address.ptr,
            (unsigned long long)m->id);
}
static void strict_recv(au_ctx *ctx, strict_ref *self, watcher_msg *msg) {
    strict *k = self->k;
    au_cluster_update *u = &msg->update;
    bool rebase = false;
    if (k->updates++ == 0) {
        int32_t last = u->events.len ? u->events.ptr[u->events.len - 1].kind : 0;
        /* LEFT: it left before it joined; INCOMPATIBLE: refused */
        if (last != AU_CLUSTER_ALONE && last != AU_CLUSTER_JOINED && last != AU_CLUSTER_LEFT &&
            last != AU_CLUSTER_INCOMPATIBLE) {
            k->errors++;
            fprintf(stderr, "strict subscriber: first update of %u events ends with kind %d\n",
                    (unsigned)u->events.len, (int)last);
        }
    }
    for (uint32_t i = 0; i < u->events.len; i++) {
        const au_cluster_event *e = &u->events.ptr[i];
        int at = strict_find(k, &e->member);
        switch (e->kind) {
        case AU_CLUSTER_ALONE: case AU_CLUSTER_JOINED: rebase = true; k->n = 0; break;
        case AU_CLUSTER_ADDED:
            if (rebase) break;
            if (at >= 0) { strict_bad(k, "added twice", &e->member); break; }
            if (k->n == 16) { k->errors++; break; }
            snprintf(k->addr[k->n], sizeof k->addr[0], "%.*s", (int)e->member.address.len, e->member.address.ptr);
            k->id[k->n++] = e->member.id;
            break;
        case AU_CLUSTER_REMOVED:
            if (rebase) break;
            if (at < 0 || k->id[at] != e->member.id) { strict_bad(k, "removed unknown", &e->member); break; }
            k->n--;
            memcpy(k->addr[at], k->addr[k->n], sizeof k->addr[0]);
            k->id[at] = k->id[k->n];
            break;
        case AU_CLUSTER_LEFT: rebase = false; k->n = 0; return;
        }
    }
    if (rebase) {
        k->n = 0;
        for (uint32_t i = 0; i < u->members.len && k->n < 16; i++) {
            snprintf(k->addr[k->n], sizeof k->addr[0], "%.*s", (int)u->members.ptr[i].address.len,
                     u->members.ptr[i].address.ptr);
            k->id[k->n++] = u->members.ptr[i].id;
        }
        return;
    }
    /* self is in the members but never ADDED: compare the others */
    int others = 0;
    const char *me = au_node_address(au_ctx_node(ctx));
    for (uint32_t i = 0; i < u->members.len; i++) {
        const au_cluster_member *m = &u->members.ptr[i];
        if (strlen(me) == m->address.len && memcmp(me, m->address.ptr, m->address.len) == 0) {
            if (strict_find(k, m) < 0) continue;
        }
        int at = strict_find(k, m);
        if (at < 0 || k->id[at] != m->id) strict_bad(k, "member without ADDED", m);
        else others++;
    }
    if (others != k->n) {
        k->errors++;
        fprintf(stderr, "strict subscriber: %d members after events, %d in the update\n", k->n, others);
    }
}
AU_ACTOR(strict_actor, strict_ref, watcher_msg, .recv = strict_recv);

static int strict_errors; /* of every strict subscriber since the last end_strict */
static strict strict_subs[WORLD_MAX];

static void subscribe_strict(world *w, int i, strict *k) {
    strict_errors += k->errors;
    memset(k, 0, sizeof *k);
    watcher_msg_lref l = au_spawn(w->s[i].node, strict_actor, NULL, &(strict_ref){ k });
    assert_int_equal(au_cluster_subscribe(w->s[i].cluster, au_narrow_local(watcher_msg, au_cluster_update, l)),
                     AU_OK);
}

/* world_start_cluster, with a strict subscriber on the node too */
static au_err start(world *w, int i, const au_cluster_config *c) {
    au_err e = world_start_cluster(w, i, c);
    if (e == AU_OK) subscribe_strict(w, i, &strict_subs[i]);
    return e;
}

/* end_world, failing if any strict subscriber saw an inconsistent update */
static void end_strict(world *w) {
    int errors = strict_errors, updates = 0;
    for (int i = 0; i < WORLD_MAX; i++) errors += strict_subs[i].errors, updates += strict_subs[i].updates;
    assert_true(updates > 0);
    end_world(w);
    strict_errors = 0;
    memset(strict_subs, 0, sizeof strict_subs);
    assert_int_equal(errors, 0);
}

/* A node that leaves and starts its cluster again, twelve times on the same node: every time the
 * others see it leave (REMOVED, LEAVING) and come back, and converge. */
static void a_node_leaving_and_rejoining_twelve_times_converges_every_time(void **st) {
    static world w;
    new_world(&w, 3, 301);
    const char *seeds[] = { w.s[0].addr };
    for (int i = 0; i < 3; i++) {
        au_cluster_config c = quick(seeds, 1);
        assert_int_equal(start(&w, i, &c), AU_OK);
    }
    converge(&w, AU_SEC(10));
    for (int k = 0; k < 12; k++) {
        assert_int_equal(au_cluster_leave(w.s[2].cluster), AU_OK);
        w.s[2].live = false;
        converge(&w, AU_SEC(5));
        int joined = atomic_load(&w.s[2].joined);
        au_cluster_config c = quick(seeds, 1);
        /* world_start_cluster resets nothing of the slot but spawns a new watcher */
        atomic_store(&w.s[2].updates, 0);
        assert_int_equal(start(&w, 2, &c), AU_OK);
        converge(&w, AU_SEC(10));
        assert_true(atomic_load(&w.s[2].joined) > joined);
    }
    for (int i = 0; i < 2; i++) {
        assert_int_equal(atomic_load(&w.s[i].removed_left), 12);
        assert_int_equal(atomic_load(&w.s[i].removed_mask), 1ull << 2);
    }
    assert_int_equal(WORLD_SUM(&w, bad_first), 0);
    end_strict(&w);
}

/* A node that crashes and restarts on the same port twelve times: each new run replaces the old
 * one at once (or after its failure is detected), and no other node is ever removed. */
static void a_node_crashing_and_restarting_twelve_times_on_its_port_converges(void **st) {
    static world w;
    new_world(&w, 4, 302);
    const char *seeds[] = { w.s[0].addr };
    for (int i = 0; i < 4; i++) {
        au_cluster_config c = quick(seeds, 1);
        assert_int_equal(start(&w, i, &c), AU_OK);
    }
    converge(&w, AU_SEC(10));
    char addr[64];
    snprintf(addr, sizeof addr, "%s", w.s[3].addr);
    for (int k = 0; k < 12; k++) {
        world_kill(&w, 3);
        if (k % 2) converge(&w, AU_SEC(10)); /* odd rounds: detected first; even: restarted at once */
        au_cluster_config c = quick(seeds, 1);
        restart_at(&w, 3, addr, &c);
        converge(&w, AU_SEC(15));
    }
    for (int i = 0; i < 3; i++) assert_int_equal(atomic_load(&w.s[i].removed_mask), 1ull << 3);
    end_strict(&w);
}

/* Both seeds crash while the others keep running; a newcomer seeding only a member that is no
 * seed joins through it. */
static void a_newcomer_joins_through_a_non_seed_after_every_seed_crashed(void **st) {
    static world w;
    new_world(&w, 6, 303);
    const char *seeds[] = { w.s[0].addr, w.s[1].addr };
    for (int i = 0; i < 5; i++) {
        au_cluster_config c = quick(seeds, 2);
        assert_int_equal(start(&w, i, &c), AU_OK);
    }
    converge(&w, AU_SEC(10));
    world_kill(&w, 0);
    world_kill(&w, 1);
    converge(&w, AU_SEC(15));
    const char *via[] = { w.s[3].addr };
    au_cluster_config c = quick(via, 1);
    assert_int_equal(start(&w, 5, &c), AU_OK);
    converge(&w, AU_SEC(10));
    assert_int_equal(atomic_load(&w.s[5].joined), 1);
    assert_int_equal(atomic_load(&w.s[5].alone), 0);
    for (int i = 2; i < 6; i++)
        assert_int_equal(atomic_load(&w.s[i].removed_mask) & ~3ull, 0); /* only the crashed seeds */
    end_strict(&w);
}

/* Every node crashes at once and restarts on its port, each seeding node 0: one cluster again. */
static void every_node_restarted_at_once_forms_one_cluster_again(void **st) {
    static world w;
    new_world(&w, 5, 304);
    const char *seeds[] = { w.s[0].addr };
    for (int i = 0; i < 5; i++) {
        au_cluster_config c = quick(seeds, 1);
        assert_int_equal(start(&w, i, &c), AU_OK);
    }
    converge(&w, AU_SEC(10));
    char addr[5][64];
    for (int i = 0; i < 5; i++) snprintf(addr[i], sizeof addr[i], "%s", w.s[i].addr);
    for (int i = 0; i < 5; i++) world_kill(&w, i);
    static char seed0[64];
    snprintf(seed0, sizeof seed0, "%s", addr[0]);
    const char *s0[] = { seed0 };
    for (int i = 0; i < 5; i++) {
        au_cluster_config c = quick(s0, 1);
        restart_at(&w, i, addr[i], &c);
    }
    converge(&w, AU_SEC(15));
    assert_int_equal(WORLD_SUM(&w, bad_first), 0);
    /* datagrams the old runs sent just before the crash still reach the new runs on their
     * ports: those may add an old run and replace it at once; nothing is removed as failed */
    assert_int_equal(WORLD_SUM(&w, removed_failed), 0);
    end_strict(&w);
}

/* The smallest cluster: two nodes. The joiner crashes and restarts on its port, then the seed
 * does (restarting with no seeds: the other finds it again through its tombstone). */
static void two_nodes_each_crashing_and_restarting_find_each_other_again(void **st) {
    static world w;
    new_world(&w, 2, 305);
    const char *seeds[] = { w.s[0].addr };
    au_cluster_config c0 = quick(NULL, 0);
    assert_int_equal(start(&w, 0, &c0), AU_OK);
    au_cluster_config c1 = quick(seeds, 1);
    assert_int_equal(start(&w, 1, &c1), AU_OK);
    converge(&w, AU_SEC(10));
    char a0[64], a1[64];
    snprintf(a0, sizeof a0, "%s", w.s[0].addr);
    snprintf(a1, sizeof a1, "%s", w.s[1].addr);
    world_kill(&w, 1);
    converge(&w, AU_SEC(10));
    assert_int_equal(atomic_load(&w.s[0].removed_failed), 1);
    restart_at(&w, 1, a1, &c1);
    converge(&w, AU_SEC(10));
    world_kill(&w, 0);
    converge(&w, AU_SEC(10));
    restart_at(&w, 0, a0, &c0);
    converge(&w, AU_SEC(15));
    assert_int_equal(WORLD_SUM(&w, bad_first), 0);
    end_strict(&w);
}

/* A one-way link: node 0 cannot send to node 1, node 1 still reaches node 0. Nobody may be
 * removed: indirect probes go around the link, and the gossip reaches node 1 through others. */
static void a_one_way_link_removes_no_live_node(void **st) {
    static world w;
    memset(&w, 0, sizeof w);
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 306 }, &w.sim), AU_OK);
    for (int i = 0; i < 5; i++) assert_int_equal(world_start_node(&w, i, FAULTY(w.sim), NULL), AU_OK);
    const char *seeds[] = { w.s[0].addr };
    for (int i = 0; i < 5; i++) {
        au_cluster_config c = quick(seeds, 1);
        assert_int_equal(start(&w, i, &c), AU_OK);
    }
    converge(&w, AU_SEC(10));
    assert_int_equal(au_faults_block(w.s[0].node, w.s[1].addr, true), AU_OK);
    au_sim_run(w.sim, AU_SEC(60));
    for (int i = 0; i < 5; i++) {
        if (atomic_load(&w.s[i].removed_mask)) world_print(&w, "one-way");
        assert_int_equal(atomic_load(&w.s[i].removed_mask), 0);
    }
    assert_true(world_converged(&w));
    end_strict(&w);
}

/* Nodes with different hb_interval, gossip, sync, vnodes and replication settings in one
 * cluster: they converge, run a minute without removing anyone, and see a crash. */
static void nodes_with_different_settings_form_one_cluster(void **st) {
    static world w;
    new_world(&w, 6, 307);
    const char *seeds[] = { w.s[0].addr };
    static const au_nanos hb[] = { AU_MSEC(10), AU_MSEC(50), AU_MSEC(200), AU_MSEC(50), AU_MSEC(30), AU_MSEC(100) };
    static const au_nanos gossip[] = { AU_MSEC(20), AU_MSEC(100), AU_MSEC(500), AU_MSEC(50), AU_MSEC(300), 0 };
    static const unsigned vn[] = { 1, 100, 7, 1, 50, 0 }, rf[] = { 1, 2, 4, 3, 2, 0 };
    for (int i = 0; i < 6; i++) {
        au_cluster_config c = quick(seeds, 1);
        c.hb_interval = hb[i];
        c.gossip_interval = gossip[i];
        c.vnodes = vn[i];
        c.replication_factor = rf[i];
        c.sync_interval = i % 2 ? AU_MSEC(500) : AU_SEC(5);
        assert_int_equal(start(&w, i, &c), AU_OK);
    }
    converge(&w, AU_SEC(15));
    au_sim_run(w.sim, AU_SEC(60));
    assert_true(world_converged(&w));
    assert_int_equal(WORLD_SUM(&w, removed), 0);
    world_kill(&w, 2);
    converge(&w, AU_SEC(20));
    for (int i = 0; i < 6; i++)
        if (w.s[i].live) assert_int_equal(atomic_load(&w.s[i].removed_mask), 1ull << 2);
    end_strict(&w);
}

/* A node paused for longer than the others keep its tombstone: when it resumes it is a member
 * again everywhere (its own view, the others', one set). */
static void a_node_paused_past_its_tombstone_ttl_rejoins(void **st) {
    static world w;
    new_world(&w, 4, 308);
    const char *seeds[] = { w.s[0].addr };
    for (int i = 0; i < 4; i++) {
        au_cluster_config c = quick(seeds, 1);
        c.tombstone_ttl = AU_SEC(3);
        assert_int_equal(start(&w, i, &c), AU_OK);
    }
    converge(&w, AU_SEC(10));
    assert_int_equal(au_sim_pause(w.sim, w.s[3].node, AU_SEC(15)), AU_OK);
    au_sim_run(w.sim, AU_SEC(14));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(atomic_load(&w.s[i].members), 0x7ull);
        au_cluster_stats cs;
        au_cluster_stats_get(w.s[i].cluster, &cs);
        assert_int_equal(cs.tombstones, 0); /* collected */
    }
    converge(&w, AU_SEC(15));
    assert_int_equal(atomic_load(&w.s[3].removed), 0);
    end_strict(&w);
}

/* ---- subscribers -------------------------------------------------------------------------------- */

/* A subscriber that stops itself at its first update, one that calls the cluster's functions
 * from its handler (stats, id, subscribing itself and another again), and an ordinary watcher:
 * the stopped one is dropped (no leak, under ASan), the others go on getting every event. */
typedef struct caller {
    au_cluster *c;
    au_cluster_update_lref me, other;
    int updates, added, removed;
    bool stop_at_first;
    bool leave_at;      /* leave from the handler at the first update of `leave_after` members */
    int leave_after, left;
    const au_cluster_config *restart; /* if set: start the cluster again from the LEFT update */
    au_err restart_err;
    au_cluster *restarted;
} caller;
typedef struct caller_ref { caller *k; } caller_ref;
static void caller_recv(au_ctx *ctx, caller_ref *self, watcher_msg *m) {
    caller *k = self->k;
    k->updates++;
    for (uint32_t i = 0; i < m->update.events.len; i++) {
        int32_t kind = m->update.events.ptr[i].kind;
        if (kind == AU_CLUSTER_ADDED) k->added++;
        if (kind == AU_CLUSTER_REMOVED) k->removed++;
        if (kind == AU_CLUSTER_LEFT) k->left++;
    }
    if (k->restart && k->left == 1 && !k->restarted) {
        k->restart_err = au_cluster_start(au_ctx_node(ctx), k->restart, &k->restarted);
        return;
    }
    if (k->stop_at_first) {
        au_stop_self(ctx);
        return;
    }
    au_cluster_stats cs;
    au_cluster_stats_get(k->c, &cs);
    assert_true(k->left ? cs.members == 0 : cs.members >= 1);
    assert_true(au_cluster_id(k->c) != 0);
    au_cluster_subscribe(k->c, k->me);
    au_cluster_subscribe(k->c, k->other);
    if (k->leave_at && (int)m->update.members.len >= k->leave_after && !k->left) au_cluster_leave(k->c);
}
AU_ACTOR(caller_actor, caller_ref, watcher_msg, .recv = caller_recv);

static au_cluster_update_lref spawn_caller(au_node *n, caller *k) {
    watcher_msg_lref l = au_spawn(n, caller_actor, NULL, &(caller_ref){ k });
    return au_narrow_local(watcher_msg, au_cluster_update, l);
}

static void stopped_subscribers_and_reentrant_handlers_break_nothing(void **st) {
    static world w;
    new_world(&w, 4, 309);
    const char *seeds[] = { w.s[0].addr };
    au_cluster_config c = quick(seeds, 1);
    assert_int_equal(start(&w, 0, &c), AU_OK);
    static caller dying[8], calling;
    memset(dying, 0, sizeof dying);
    memset(&calling, 0, sizeof calling);
    for (int i = 0; i < 8; i++) {
        dying[i].stop_at_first = true;
        assert_int_equal(au_cluster_subscribe(w.s[0].cluster, spawn_caller(w.s[0].node, &dying[i])), AU_OK);
    }
    calling.c = w.s[0].cluster;
    calling.me = spawn_caller(w.s[0].node, &calling);
    calling.other = calling.me;
    assert_int_equal(au_cluster_subscribe(w.s[0].cluster, calling.me), AU_OK);
    for (int i = 1; i < 4; i++) {
        au_cluster_config ci = quick(seeds, 1);
        assert_int_equal(start(&w, i, &ci), AU_OK);
    }
    converge(&w, AU_SEC(10));
    world_kill(&w, 3);
    converge(&w, AU_SEC(10));
    for (int i = 0; i < 8; i++) assert_int_equal(dying[i].updates, 1);
    assert_int_equal(calling.added, 3);   /* each once, though it subscribed itself each time */
    assert_int_equal(calling.removed, 1);
    assert_int_equal(atomic_load(&w.s[0].added), 3);
    end_strict(&w);
}

/* au_cluster_leave from a subscriber's own handler: subscribers get LEFT once, the others see it
 * leave, and the node can start a cluster again afterwards. */
static void leaving_from_a_subscribers_handler(void **st) {
    static world w;
    new_world(&w, 3, 310);
    const char *seeds[] = { w.s[0].addr };
    for (int i = 0; i < 2; i++) {
        au_cluster_config c = quick(seeds, 1);
        assert_int_equal(start(&w, i, &c), AU_OK);
    }
    au_cluster_config c2 = quick(seeds, 1);
    assert_int_equal(start(&w, 2, &c2), AU_OK);
    static caller k;
    memset(&k, 0, sizeof k);
    k.c = w.s[2].cluster;
    k.me = spawn_caller(w.s[2].node, &k);
    k.other = k.me;
    k.leave_at = true;
    k.leave_after = 3;
    au_cluster_config again = quick(seeds, 1);
    k.restart = &again;
    assert_int_equal(au_cluster_subscribe(w.s[2].cluster, k.me), AU_OK);
    /* it leaves once it sees all three, and starts again from its LEFT update */
    au_sim_run(w.sim, AU_SEC(10));
    assert_int_equal(k.left, 1);
    assert_int_equal(atomic_load(&w.s[2].left), 1);
    assert_int_equal(k.restart_err, AU_OK);
    assert_non_null(k.restarted);
    assert_int_equal(atomic_load(&w.s[0].removed_left), 1); /* node 1 may join after it left */
    for (int i = 0; i < 2; i++) assert_int_equal(atomic_load(&w.s[i].members), 0x7ull); /* back */
    end_strict(&w);
}

/* A seed name that does not resolve is refused at start (AU_EINVAL), whatever else is listed. */
static void an_unresolvable_seed_name_is_refused(void **st) {
    static world w;
    new_world(&w, 2, 311);
    const char *seeds[] = { w.s[1].addr, "no-such-host.invalid:4000" };
    au_cluster *c = NULL;
    assert_int_equal(au_cluster_start(w.s[0].node, &(au_cluster_config){ .seeds = seeds, .nseeds = 2 }, &c),
                     AU_EINVAL);
    assert_null(c);
    end_world(&w);
}


/* Leave and start again at once, twelve times: au_cluster_leave returns before the cluster
 * actor has left, so a start of the same name gets AU_EEXIST until the actor's leave has run
 * (what runs now, au_sim_run(0), is enough); the last run is the one member everywhere. */
static void leaving_and_starting_again_at_once_twelve_times_converges(void **st) {
    static world w;
    new_world(&w, 3, 312);
    const char *seeds[] = { w.s[0].addr };
    for (int i = 0; i < 3; i++) {
        au_cluster_config c = quick(seeds, 1);
        assert_int_equal(start(&w, i, &c), AU_OK);
    }
    converge(&w, AU_SEC(10));
    for (int k = 0; k < 12; k++) {
        assert_int_equal(au_cluster_leave(w.s[2].cluster), AU_OK);
        au_cluster_config c = quick(seeds, 1);
        atomic_store(&w.s[2].updates, 0);
        au_cluster *old = w.s[2].cluster;
        assert_int_equal(start(&w, 2, &c), AU_EEXIST);
        au_sim_run(w.sim, 0);
        assert_int_equal(au_cluster_leave(old), AU_ESTOPPED); /* its actor is gone */
        assert_int_equal(start(&w, 2, &c), AU_OK);
        au_sim_run(w.sim, AU_MSEC(k % 3));
    }
    converge(&w, AU_SEC(20));
    au_sim_run(w.sim, AU_SEC(10));
    assert_true(world_converged(&w));
    end_strict(&w);
}

/* Crash and restart on the same port twelve times within a few milliseconds each. */
static void crashing_and_restarting_within_milliseconds_twelve_times_converges(void **st) {
    static world w;
    new_world(&w, 4, 313);
    const char *seeds[] = { w.s[0].addr };
    for (int i = 0; i < 4; i++) {
        au_cluster_config c = quick(seeds, 1);
        assert_int_equal(start(&w, i, &c), AU_OK);
    }
    converge(&w, AU_SEC(10));
    char addr[64];
    snprintf(addr, sizeof addr, "%s", w.s[3].addr);
    for (int k = 0; k < 12; k++) {
        world_kill(&w, 3);
        au_cluster_config c = quick(seeds, 1);
        restart_at(&w, 3, addr, &c);
        au_sim_run(w.sim, AU_MSEC(k % 4 * 20));
    }
    converge(&w, AU_SEC(20));
    au_sim_run(w.sim, AU_SEC(10));
    assert_true(world_converged(&w));
    for (int i = 0; i < 3; i++) assert_int_equal(atomic_load(&w.s[i].removed_mask), 1ull << 3);
    end_strict(&w);
}

/* A joiner whose only seed is paused through all its join rounds starts alone; when the seed
 * resumes, the two merge (the joiner keeps contacting its seed). */
static void a_joiner_whose_seed_is_paused_merges_when_it_resumes(void **st) {
    static world w;
    new_world(&w, 3, 314);
    const char *seeds[] = { w.s[0].addr };
    au_cluster_config c0 = quick(NULL, 0);
    assert_int_equal(start(&w, 0, &c0), AU_OK);
    au_cluster_config c1 = quick(seeds, 1);
    assert_int_equal(start(&w, 1, &c1), AU_OK);
    converge(&w, AU_SEC(5));
    assert_int_equal(au_sim_pause(w.sim, w.s[0].node, AU_SEC(5)), AU_OK);
    au_cluster_config c2 = quick(seeds, 1);
    assert_int_equal(start(&w, 2, &c2), AU_OK);
    au_sim_run(w.sim, AU_SEC(4));
    assert_int_equal(atomic_load(&w.s[2].alone), 1);
    converge(&w, AU_SEC(20));
    assert_int_equal(atomic_load(&w.s[1].removed_mask) & ~1ull, 0);
    end_strict(&w);
}

/* A node bridging two clusters crashes right after joining: the two still merge. */
static void a_bridge_that_crashes_right_after_joining_still_merges_the_clusters(void **st) {
    static world w;
    new_world(&w, 7, 315);
    const char *sa[] = { w.s[0].addr }, *sb[] = { w.s[3].addr };
    for (int i = 0; i < 6; i++) {
        au_cluster_config c = quick(i < 3 ? sa : sb, 1);
        assert_int_equal(start(&w, i, &c), AU_OK);
    }
    au_sim_run(w.sim, AU_SEC(3));
    const char *both[] = { w.s[1].addr, w.s[4].addr };
    au_cluster_config c = quick(both, 2);
    assert_int_equal(start(&w, 6, &c), AU_OK);
    au_sim_run_until(w.sim, world_converged, &w, AU_SEC(1)); /* may or may not have merged yet */
    au_sim_run(w.sim, AU_MSEC(5));
    world_kill(&w, 6);
    converge(&w, AU_SEC(30));
    end_strict(&w);
}


/* Node 4 hears everyone but can send only to node 1: whatever becomes of node 4, no other node
 * is removed by anyone. */
static void a_node_that_can_send_to_only_one_peer_gets_no_other_node_removed(void **st) {
    static world w;
    memset(&w, 0, sizeof w);
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 316 }, &w.sim), AU_OK);
    for (int i = 0; i < 5; i++) assert_int_equal(world_start_node(&w, i, FAULTY(w.sim), NULL), AU_OK);
    const char *seeds[] = { w.s[0].addr };
    for (int i = 0; i < 5; i++) {
        au_cluster_config c = quick(seeds, 1);
        assert_int_equal(start(&w, i, &c), AU_OK);
    }
    converge(&w, AU_SEC(10));
    for (int i = 0; i < 4; i++)
        if (i != 1) assert_int_equal(au_faults_block(w.s[4].node, w.s[i].addr, true), AU_OK);
    au_sim_run(w.sim, AU_SEC(60));
    for (int i = 0; i < 5; i++) {
        if (atomic_load(&w.s[i].removed_mask) & 0xfull) world_print(&w, "send-to-one");
        assert_int_equal(atomic_load(&w.s[i].removed_mask) & 0xfull, 0);
    }
    end_strict(&w);
}

/* Two nodes that seed each other, started at the same instant: one cluster of two. */
static void two_nodes_seeding_each_other_at_once_form_one_cluster(void **st) {
    static world w;
    new_world(&w, 2, 317);
    const char *s0[] = { w.s[1].addr }, *s1[] = { w.s[0].addr };
    au_cluster_config c0 = quick(s0, 1), c1 = quick(s1, 1);
    assert_int_equal(start(&w, 0, &c0), AU_OK);
    assert_int_equal(start(&w, 1, &c1), AU_OK);
    converge(&w, AU_SEC(10));
    assert_int_equal(WORLD_SUM(&w, removed), 0);
    end_strict(&w);
}

/* A node restarted on its port with other vnodes and replication settings; replication factors
 * of 1 and of more than the cluster's size; the rings agree on the new vnodes. */
typedef struct ringcheck { uint32_t vnodes_of_2; int updates; } ringcheck;
typedef struct ringcheck_ref { ringcheck *k; world *w; } ringcheck_ref;
static void ringcheck_recv(au_ctx *ctx, ringcheck_ref *self, watcher_msg *m) {
    self->k->updates++;
    for (uint32_t i = 0; i < m->update.members.len; i++)
        if (strlen(self->w->s[2].addr) == m->update.members.ptr[i].address.len &&
            memcmp(self->w->s[2].addr, m->update.members.ptr[i].address.ptr, m->update.members.ptr[i].address.len) == 0)
            self->k->vnodes_of_2 = m->update.members.ptr[i].vnodes;
}
AU_ACTOR(ringcheck_actor, ringcheck_ref, watcher_msg, .recv = ringcheck_recv);

static void a_node_restarted_with_other_vnodes_is_seen_with_them(void **st) {
    static world w;
    new_world(&w, 3, 318);
    const char *seeds[] = { w.s[0].addr };
    for (int i = 0; i < 3; i++) {
        au_cluster_config c = quick(seeds, 1);
        c.replication_factor = i == 0 ? 1 : 10;
        c.vnodes = 3;
        assert_int_equal(start(&w, i, &c), AU_OK);
    }
    converge(&w, AU_SEC(10));
    static ringcheck k;
    memset(&k, 0, sizeof k);
    watcher_msg_lref l = au_spawn(w.s[0].node, ringcheck_actor, NULL, &(ringcheck_ref){ &k, &w });
    assert_int_equal(au_cluster_subscribe(w.s[0].cluster, au_narrow_local(watcher_msg, au_cluster_update, l)), AU_OK);
    au_sim_run(w.sim, AU_MSEC(10));
    assert_int_equal(k.vnodes_of_2, 3);
    char addr[64];
    snprintf(addr, sizeof addr, "%s", w.s[2].addr);
    world_kill(&w, 2);
    au_cluster_config c = quick(seeds, 1);
    c.vnodes = 40;
    c.replication_factor = 1;
    restart_at(&w, 2, addr, &c);
    converge(&w, AU_SEC(10));
    au_sim_run(w.sim, AU_SEC(30));
    assert_true(world_converged(&w));
    assert_int_equal(k.vnodes_of_2, 40);
    assert_int_equal(WORLD_SUM(&w, removed_failed), 0); /* replaced at once, not failed */
    end_strict(&w);
}

/* A subscriber with a one-message mailbox stopped while nodes join: it is dropped with whatever
 * it had waiting (no leak under ASan), the others go on. */
typedef struct stuck { int updates; } stuck;
typedef struct stuck_ref { stuck *k; } stuck_ref;
static void stuck_recv(au_ctx *ctx, stuck_ref *self, watcher_msg *m) { self->k->updates++; }
AU_ACTOR(stuck_actor, stuck_ref, watcher_msg, .recv = stuck_recv);

static void a_bounded_subscriber_stopped_while_nodes_join_is_dropped(void **st) {
    static world w;
    new_world(&w, 5, 319);
    const char *seeds[] = { w.s[0].addr };
    au_cluster_config c = quick(seeds, 1);
    assert_int_equal(start(&w, 0, &c), AU_OK);
    au_sim_run(w.sim, AU_MSEC(10));
    static stuck k;
    memset(&k, 0, sizeof k);
    watcher_msg_lref l = au_spawn_with(w.s[0].node, stuck_actor, au_opts(.capacity = 1), &(stuck_ref){ &k });
    assert_int_equal(au_cluster_subscribe(w.s[0].cluster, au_narrow_local(watcher_msg, au_cluster_update, l)), AU_OK);
    for (int i = 1; i < 5; i++) {
        au_cluster_config ci = quick(seeds, 1);
        assert_int_equal(start(&w, i, &ci), AU_OK);
    }
    au_sim_run(w.sim, AU_MSEC(2));
    au_stop(l);
    converge(&w, AU_SEC(10));
    world_kill(&w, 4);
    converge(&w, AU_SEC(10));
    end_strict(&w);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_node_leaving_and_rejoining_twelve_times_converges_every_time),
        cmocka_unit_test(a_node_crashing_and_restarting_twelve_times_on_its_port_converges),
        cmocka_unit_test(a_newcomer_joins_through_a_non_seed_after_every_seed_crashed),
        cmocka_unit_test(every_node_restarted_at_once_forms_one_cluster_again),
        cmocka_unit_test(two_nodes_each_crashing_and_restarting_find_each_other_again),
        cmocka_unit_test(a_one_way_link_removes_no_live_node),
        cmocka_unit_test(nodes_with_different_settings_form_one_cluster),
        cmocka_unit_test(a_node_paused_past_its_tombstone_ttl_rejoins),
        cmocka_unit_test(stopped_subscribers_and_reentrant_handlers_break_nothing),
        cmocka_unit_test(leaving_from_a_subscribers_handler),
        cmocka_unit_test(an_unresolvable_seed_name_is_refused),
        cmocka_unit_test(leaving_and_starting_again_at_once_twelve_times_converges),
        cmocka_unit_test(crashing_and_restarting_within_milliseconds_twelve_times_converges),
        cmocka_unit_test(a_joiner_whose_seed_is_paused_merges_when_it_resumes),
        cmocka_unit_test(a_bridge_that_crashes_right_after_joining_still_merges_the_clusters),
        cmocka_unit_test(a_node_that_can_send_to_only_one_peer_gets_no_other_node_removed),
        cmocka_unit_test(two_nodes_seeding_each_other_at_once_form_one_cluster),
        cmocka_unit_test(a_node_restarted_with_other_vnodes_is_seen_with_them),
        cmocka_unit_test(a_bounded_subscriber_stopped_while_nodes_join_is_dropped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
