/* cluster_world.h — test scaffolding shared by the cluster suites: a world of nodes, each with a
 * cluster and a watcher that records the latest member set (as a bit set of world indices) and
 * counts events, plus the convergence check of the seed's scenarios: every live node's member set
 * equals the set of live nodes. Works on simulated nodes (run with au_sim_run_until) and on real
 * UDP (wait with world_wait). */
#ifndef CLUSTER_WORLD_H
#define CLUSTER_WORLD_H

#include <aurum/aurum.h>
#include <aurum/cluster.h>
#include <aurum/testkit.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

enum { WORLD_MAX = 64 };

typedef struct world world;

typedef struct slot {
    world *w;
    int index;
    au_node *node;
    au_cluster *cluster;
    bool live;
    char addr[64];
    _Atomic uint64_t members;    /* bit i: world node i is in this node's member set */
    _Atomic int updates, added, removed, removed_failed, removed_left, joined, alone, left,
        minority, majority, incompatible, bad_first;
    _Atomic uint64_t removed_mask;    /* bit i: world node i was removed at least once */
    _Atomic uint64_t last_removed_at; /* node clock of the latest REMOVED event */
} slot;

struct world {
    slot s[WORLD_MAX];
    int n;
    au_sim *sim; /* NULL: real UDP */
};

AU_LOCAL_ROOT(watcher_msg, (update, au_cluster_update, AU_LOCAL));
typedef struct watcher { slot *slot; } watcher;

static int world_index(world *w, const char *addr, uint32_t len) {
    for (int i = 0; i < w->n; i++)
        if (strlen(w->s[i].addr) == len && memcmp(w->s[i].addr, addr, len) == 0) return i;
    return -1;
}

static void watcher_recv(au_ctx *ctx, watcher *self, watcher_msg *m) {
    slot *sl = self->slot;
    au_cluster_update *u = &m->update;
    uint64_t mask = 0;
    for (uint32_t i = 0; i < u->members.len; i++) {
        int k = world_index(sl->w, u->members.ptr[i].address.ptr, u->members.ptr[i].address.len);
        if (k >= 0) mask |= 1ull << k;
    }
    if (atomic_fetch_add(&sl->updates, 1) == 0 && u->events.len) {
        int32_t last = u->events.ptr[u->events.len - 1].kind;
        if (last != AU_CLUSTER_ALONE && last != AU_CLUSTER_JOINED && last != AU_CLUSTER_INCOMPATIBLE)
            atomic_fetch_add(&sl->bad_first, 1);
    }
    for (uint32_t i = 0; i < u->events.len; i++) {
        switch (u->events.ptr[i].kind) {
        case AU_CLUSTER_ADDED: atomic_fetch_add(&sl->added, 1); break;
        case AU_CLUSTER_REMOVED:
            atomic_fetch_add(&sl->removed, 1);
            if (u->events.ptr[i].reason == AU_CLUSTER_FAILED) atomic_fetch_add(&sl->removed_failed, 1);
            if (u->events.ptr[i].reason == AU_CLUSTER_LEAVING) atomic_fetch_add(&sl->removed_left, 1);
            atomic_store(&sl->last_removed_at, au_node_now(au_ctx_node(ctx)));
            {
                int k = world_index(sl->w, u->events.ptr[i].member.address.ptr,
                                    u->events.ptr[i].member.address.len);
                if (k >= 0) atomic_fetch_or(&sl->removed_mask, 1ull << k);
            }
            break;
        case AU_CLUSTER_JOINED: atomic_fetch_add(&sl->joined, 1); break;
        case AU_CLUSTER_ALONE: atomic_fetch_add(&sl->alone, 1); break;
        case AU_CLUSTER_LEFT: atomic_fetch_add(&sl->left, 1); break;
        case AU_CLUSTER_MINORITY: atomic_fetch_add(&sl->minority, 1); break;
        case AU_CLUSTER_MAJORITY: atomic_fetch_add(&sl->majority, 1); break;
        case AU_CLUSTER_INCOMPATIBLE: atomic_fetch_add(&sl->incompatible, 1); break;
        }
    }
    atomic_store(&sl->members, mask);
}
AU_ACTOR(watcher_actor, watcher, watcher_msg, .recv = watcher_recv);

/* Starts node i of the world with the given driver and node config overrides (advertise NULL:
 * the bound address; else the address the node advertises, and its slot's address). */
static au_err world_start_node_advertising(world *w, int i, const au_driver *drv, const uint8_t *secret,
                                           const char *bind, const char *advertise) {
    slot *sl = &w->s[i];
    memset(sl, 0, sizeof *sl);
    sl->w = w;
    sl->index = i;
    au_err err = au_node_start(&(au_node_config){ .driver = drv, .secret = secret, .workers = 1,
                                                  .no_spin = true, .bind = bind,
                                                  .advertise = advertise }, &sl->node);
    if (err) return err;
    snprintf(sl->addr, sizeof sl->addr, "%s", au_node_address(sl->node));
    if (i >= w->n) w->n = i + 1;
    return AU_OK;
}

static au_err world_start_node_at(world *w, int i, const au_driver *drv, const uint8_t *secret,
                                  const char *bind) {
    return world_start_node_advertising(w, i, drv, secret, bind, NULL);
}

static AU_UNUSED_ au_err world_start_node(world *w, int i, const au_driver *drv, const uint8_t *secret) {
    return world_start_node_at(w, i, drv, secret, NULL);
}

/* Starts node i's cluster (its node must be started) and its watcher. */
static au_err world_start_cluster(world *w, int i, const au_cluster_config *cfg) {
    slot *sl = &w->s[i];
    au_err err = au_cluster_start(sl->node, cfg, &sl->cluster);
    if (err) return err;
    watcher_msg_lref wl = au_spawn(sl->node, watcher_actor, NULL, &(watcher){ sl });
    err = au_cluster_subscribe(sl->cluster, au_narrow_local(watcher_msg, au_cluster_update, wl));
    sl->live = true;
    return err;
}

static uint64_t world_live_mask(world *w) {
    uint64_t m = 0;
    for (int i = 0; i < w->n; i++)
        if (w->s[i].live) m |= 1ull << i;
    return m;
}

static bool world_converged(void *arg) {
    world *w = arg;
    uint64_t live = world_live_mask(w);
    for (int i = 0; i < w->n; i++)
        if (w->s[i].live && atomic_load(&w->s[i].members) != live) return false;
    return true;
}

/* Crashes node i: it stops without a word (its cluster was started with no_leave_on_stop). */
static AU_UNUSED_ void world_kill(world *w, int i) {
    w->s[i].live = false;
    au_node_stop(w->s[i].node);
    w->s[i].node = NULL;
}

/* Node i, started but not yet clustered, restarted with driver drv to advertise host:P on its own
 * port P (a stopped node's port is taken over) while bound at the address that host resolves to
 * first (as the transport resolves it: getaddrinfo, any family), so that datagrams sent to host:P
 * reach it; it sends from that address, never from "host:P" as it advertises. Returns both
 * addresses, to restart it the same way. */
typedef struct world_moved {
    char bind[96], adv[96]; /* the address it is bound at, and host:P */
} world_moved;
static AU_UNUSED_ world_moved world_advertise_as(world *w, int i, const au_driver *drv, const char *host) {
    world_moved mv;
    char port[8], ip[INET6_ADDRSTRLEN], *bind = mv.bind, *adv = mv.adv;
    snprintf(port, sizeof port, "%s", strrchr(w->s[i].addr, ':') + 1);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV },
                    *res = NULL;
    assert_int_equal(getaddrinfo(host, port, &hints, &res), 0);
    assert_int_equal(getnameinfo(res->ai_addr, res->ai_addrlen, ip, sizeof ip, NULL, 0, NI_NUMERICHOST), 0);
    snprintf(bind, sizeof mv.bind, res->ai_family == AF_INET6 ? "[%s]:%s" : "%s:%s", ip, port);
    freeaddrinfo(res);
    snprintf(adv, sizeof mv.adv, "%s:%s", host, port);
    world_kill(w, i);
    assert_int_equal(world_start_node_advertising(w, i, drv, NULL, bind, adv), AU_OK);
    assert_string_equal(w->s[i].addr, adv);
    return mv;
}

static void world_stop(world *w) {
    for (int i = 0; i < w->n; i++)
        if (w->s[i].node) au_node_stop(w->s[i].node), w->s[i].node = NULL;
}

static AU_UNUSED_ int world_sum(world *w, size_t offset) {
    int t = 0;
    for (int i = 0; i < w->n; i++) t += atomic_load((_Atomic int *)((char *)&w->s[i] + offset));
    return t;
}
#define WORLD_SUM(w, field) world_sum((w), offsetof(slot, field))

static AU_UNUSED_ void world_print(world *w, const char *what) {
    fprintf(stderr, "%s: live %016llx\n", what, (unsigned long long)world_live_mask(w));
    for (int i = 0; i < w->n; i++)
        if (w->s[i].live)
            fprintf(stderr, "  %2d %s members %016llx removed %d added %d\n", i, w->s[i].addr,
                    (unsigned long long)atomic_load(&w->s[i].members), atomic_load(&w->s[i].removed),
                    atomic_load(&w->s[i].added));
}

/* Real time: waits until pred(w) or timeout; true if it held. */
static AU_UNUSED_ bool world_wait(world *w, bool (*pred)(void *), au_nanos timeout) {
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (pred(w)) return true;
        clock_gettime(CLOCK_MONOTONIC, &t);
        au_nanos el = (au_nanos)(t.tv_sec - t0.tv_sec) * 1000000000u + (au_nanos)(t.tv_nsec - t0.tv_nsec);
        if (el > timeout) return false;
        nanosleep(&(struct timespec){ 0, 5000000 }, NULL);
    }
}

#endif
