/* test_device_sim.c — the device server at scale in the deterministic simulator: 10 servers and
 * 10,000 devices with churn (devices dying and coming back with a new incarnation, servers
 * crashing and new ones joining), 5 % loss on every datagram, converging after each step to the
 * seed's device condition (every live device owned by exactly one live server, which the device
 * agrees on and every live ring names; no dead device held up).
 *
 * The devices here are a model of the device half of the protocol (docs/devices.md §3–§5),
 * written as one actor per simulated host node serving many devices (all at the host's address;
 * downlink messages are told apart by device id): it answers every request to the address it
 * came from, takes the latest requester as owner, takes the owner for lost after 3 intervals
 * without a request, and then announces to every seed after one interval, doubling up to 30 s,
 * with 0–25 % jitter. The real client (src/devices/client) is exercised on real UDP by
 * test_device_server and test_device_procs; it has no platform layer on the simulator yet.
 *
 * The servers run without the Devices CRDT (see server_start). Under valgrind or sanitizers the
 * world shrinks to 4 servers and 400 devices.
 *
 * Also, without loss and with devices that announce only once: the node that accepted an announce
 * sends it on until the owner has it, when its one forward was lost (forward_lost) or went to an
 * owner that died before the node's ring said so (forward_to_dead_owner); and the announces it
 * keeps for that are bounded (pending_bounded). A claim (plain: another incarnation announced
 * while the one polled is live) held by an owner that crashes, or that hands the device to a
 * joining server, is probed by the next owner (a_claim_survives_*); a device its owner declared
 * down stays down at the heir that takes it over (a_down_device_stays_down_when_its_owner_crashes).
 * Two devices configured with one id, which take the record from each other (plain) or of
 * which one is dropped as stale at every announce (cluster key), are counted and logged
 * (two_*devices_with_one_id_are_counted_and_logged). */
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
#include <aurum/device_server.h>
#include <aurum/faults.h>
#include <aurum/layer.h>
#include <aurum/sim.h>
#include <aurum/testkit.h>

enum { MAX_SERVERS = 16, MAX_HOSTS = 32, MAX_DEVICES = 10000, SEEDS = 3 };

typedef struct model {
    uint64_t id, inc, owner;
    bool live;
    au_nanos last_req, announce_at, backoff;
    /* the owner's lease: beats 1 .. beats-1 of request lease_req, the next at beat_at */
    uint64_t lease_req;
    uint32_t beat, beats;
    au_nanos beat_at;
    au_device_up_ref owner_ref;
} model;

typedef struct server {
    au_node *node;
    au_cluster *cluster;
    au_device_server *ds;
    char addr[64];
    uint64_t id;
    bool live;
} server;

typedef struct world world;

typedef struct host {
    world *w;
    au_node *node;
    int first, n;
    struct { char addr[64]; au_device_up_ref ref; } refs[MAX_SERVERS * 2];
    int nrefs;
    uint64_t rng;
} host;

struct world {
    au_sim *sim;
    au_driver inner; /* the simulator's driver, under drv (the fault driver keeps a pointer) */
    au_driver drv;
    server s[MAX_SERVERS];
    int ns;
    host h[MAX_HOSTS];
    int nh;
    model d[MAX_DEVICES];
    int nd;
    char seeds[SEEDS][64]; /* what every device is configured with */
    uint32_t interval_ms;
    unsigned lease;        /* the servers' au_device_server_config.lease (0: its default) */
    bool announce_once;    /* a device announces once and then waits (an hour) to be polled */
    int inject;            /* host[1] sends `injected` to server 0 at its next tick, this often */
    au_device_up injected;
    uint64_t next_inc;
    bool isolate_new;      /* server_start blocks the new server's traffic to the others */
    const uint8_t *secret; /* the cluster key of every node (NULL: plain) */
    uint32_t new_per_second; /* the servers' au_device_server_config.new_per_second (0: default) */
};

static world W;

static bool slow_build(void) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return true;
#else
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
    return true;
#endif
#endif
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    bool valgrind = false;
    while (f && fgets(line, sizeof line, f)) valgrind |= strstr(line, "vgpreload") != NULL;
    if (f) fclose(f);
    return valgrind;
#endif
}

/* ---- the model devices ----------------------------------------------------------------------- */

static au_device_up_ref ref_to(host *h, const char *addr) {
    for (int i = 0; i < h->nrefs; i++)
        if (strcmp(h->refs[i].addr, addr) == 0) return h->refs[i].ref;
    au_device_up_ref r = au_forge(au_device_up, au_device_up, h->node, AU_DEVICE_SERVER_NAME, addr);
    if (h->nrefs < (int)(sizeof h->refs / sizeof h->refs[0])) {
        snprintf(h->refs[h->nrefs].addr, sizeof h->refs[0].addr, "%s", addr);
        h->refs[h->nrefs++].ref = r;
    }
    return r;
}

static uint64_t rnd(host *h) {
    h->rng ^= h->rng << 13;
    h->rng ^= h->rng >> 7;
    h->rng ^= h->rng << 17;
    return h->rng;
}

typedef struct fleet_state { host *h; } fleet_state;

static void announce(host *h, model *d, au_nanos now) {
    world *w = h->w;
    au_nanos iv = AU_MSEC(w->interval_ms);
    for (int k = 0; k < SEEDS; k++)
        au_send(ref_to(h, w->seeds[k]),
                ((au_device_up){ .tag = au_device_up_announce,
                                 .announce = { .device = d->id, .incarnation = d->inc, .clock = 1,
                                               .interval_ms = w->interval_ms, .owner = 0,
                                               .max_datagram = 512 } }));
    if (!d->backoff) d->backoff = iv;
    d->announce_at = now + d->backoff + d->backoff * (rnd(h) % 26) / 100;
    if (w->announce_once) d->announce_at = now + AU_SEC(3600);
    d->backoff = d->backoff * 2 > AU_SEC(30) ? AU_SEC(30) : d->backoff * 2;
}

static void fleet_tick(au_ctx *ctx, host *h) {
    world *w = h->w;
    au_nanos now = au_node_now(au_ctx_node(ctx));
    au_nanos iv = AU_MSEC(w->interval_ms);
    if (h == &w->h[1])
        for (; w->inject > 0; w->inject--) au_send(ref_to(h, w->s[0].addr), w->injected);
    for (int i = h->first; i < h->first + h->n; i++) {
        model *d = &w->d[i];
        if (!d->live) continue;
        if (d->owner && d->beat < d->beats && now >= d->beat_at) {
            au_send(d->owner_ref, ((au_device_up){ .tag = au_device_up_heartbeat,
                                                   .heartbeat = { .device = d->id, .incarnation = d->inc,
                                                                  .request = d->lease_req, .clock = 1,
                                                                  .beat = d->beat++ } }));
            d->beat_at += iv;
        }
        if (d->owner && now - d->last_req >= (d->beats + 2) * iv) {
            d->owner = 0;
            d->backoff = iv;
            d->announce_at = now + iv;
        }
        if (!d->owner && now >= d->announce_at) announce(h, d, now);
    }
}

static void fleet_recv(au_ctx *ctx, fleet_state *self, au_device_down *m) {
    host *h = self->h;
    char from[64];
    if (!au_ctx_origin(ctx, from, sizeof from)) { /* the tick, sent locally */
        fleet_tick(ctx, h);
        au_send_after(au_self(ctx, au_device_down), AU_MSEC(10),
                      ((au_device_down){ .tag = au_device_down_request }));
        return;
    }
    if (m->tag != au_device_down_request) return;
    au_device_request *r = &m->request;
    if (r->device < 1) return;
    /* device id i + 1 is model i, on the host that serves it; a model with another id (two
     * devices configured with one id, on two hosts) is looked for among the host's own */
    model *d = NULL;
    uint64_t i = r->device - 1;
    if (i >= (uint64_t)h->first && i < (uint64_t)(h->first + h->n) && h->w->d[i].id == r->device)
        d = &h->w->d[i];
    for (int k = h->first; !d && k < h->first + h->n; k++)
        if (h->w->d[k].id == r->device) d = &h->w->d[k];
    if (!d || !d->live || r->incarnation != d->inc) return;
    d->owner = r->server;
    d->last_req = au_node_now(au_ctx_node(ctx));
    d->owner_ref = ref_to(h, from);
    d->lease_req = r->request;
    d->beats = r->beats < 1 ? 1 : r->beats > 16 ? 16 : r->beats;
    d->beat = 1;
    d->beat_at = d->last_req + AU_MSEC(h->w->interval_ms);
    au_send(ref_to(h, from), ((au_device_up){ .tag = au_device_up_heartbeat,
                                              .heartbeat = { .device = d->id, .incarnation = d->inc,
                                                             .request = r->request, .clock = 1 } }));
}
AU_ACTOR(fleet_actor, fleet_state, au_device_down, .recv = fleet_recv);

/* ---- the world --------------------------------------------------------------------------------- */

static void server_start(world *w, int i) {
    server *s = &w->s[i];
    memset(s, 0, sizeof *s);
    assert_int_equal(au_node_start(&(au_node_config){ .driver = &w->drv, .max_peers = 65536,
                                                      .max_remote_refs = 65536, .secret = w->secret },
                                   &s->node), AU_OK);
    snprintf(s->addr, sizeof s->addr, "%s", au_node_address(s->node));
    au_faults_set(s->node, NULL, &(au_faults){ .drop = 0.05, .delay_min = AU_MSEC(1),
                                               .delay_max = AU_MSEC(10) });
    au_faults_seed(s->node, 1000 + (uint64_t)i);
    for (int k = 0; w->isolate_new && k < i; k++)
        assert_int_equal(au_faults_block(s->node, w->s[k].addr, true), AU_OK);
    const char *seeds[1] = { w->s[0].addr };
    assert_int_equal(au_cluster_start(s->node, &(au_cluster_config){
                                          .seeds = i ? seeds : NULL, .nseeds = i ? 1 : 0,
                                          .vnodes = 100, .no_leave_on_stop = true }, &s->cluster),
                     AU_OK);
    s->id = au_cluster_id(s->cluster);
    /* Without the Devices CRDT: with it the same run takes about 4 minutes instead of 17 s (the
     * dispersal of 10,000 entries among 10 replicas); test_device_server checks the table.
     * Servers with 1, 2 and 3 shards side by side, whatever the machine's cores: the shards of
     * one node and nodes sharded differently must make one device server. */
    assert_int_equal(au_device_server_start(s->node, s->cluster,
                                            &(au_device_server_config){
                                                .no_table = true, .shards = 1 + (unsigned)i % 3,
                                                .lease = w->lease, .new_per_second = w->new_per_second },
                                            &s->ds),
                     AU_OK);
    s->live = true;
    if (i >= w->ns) w->ns = i + 1;
}

static void host_start(world *w, int i, int first, int n) {
    host *h = &w->h[i];
    memset(h, 0, sizeof *h);
    h->w = w;
    h->first = first;
    h->n = n;
    h->rng = 0x2545f4914f6cdd1dull * (uint64_t)(i + 1);
    assert_int_equal(au_node_start(&(au_node_config){ .driver = &w->drv, .secret = w->secret }, &h->node),
                     AU_OK);
    au_faults_set(h->node, NULL, &(au_faults){ .drop = 0.05, .delay_min = AU_MSEC(1),
                                               .delay_max = AU_MSEC(10) });
    au_faults_seed(h->node, 2000 + (uint64_t)i);
    au_device_down_ref f = au_spawn(h->node, fleet_actor, AU_DEVICE_CLIENT_NAME, &(fleet_state){ h });
    assert_false(au_ref_is_null(f.raw));
    au_send(f, ((au_device_down){ .tag = au_device_down_request })); /* the first tick */
    if (i >= w->nh) w->nh = i + 1;
}

static int live_servers(world *w) {
    int n = 0;
    for (int i = 0; i < w->ns; i++) n += w->s[i].live;
    return n;
}

static bool cluster_converged(void *arg) {
    world *w = arg;
    int n = live_servers(w);
    for (int i = 0; i < w->ns; i++) {
        if (!w->s[i].live) continue;
        au_cluster_stats st;
        au_cluster_stats_get(w->s[i].cluster, &st);
        if (st.members != (uint64_t)n) return false;
    }
    return true;
}

static int bad_device = -1;

static bool devices_converged(world *w) {
    for (int i = 0; i < w->nd; i++) {
        model *d = &w->d[i];
        int holder = -1;
        for (int k = 0; k < w->ns; k++) {
            if (!w->s[k].live) continue;
            if (au_device_server_state(w->s[k].ds, d->id) == AU_DEVICE_UP)
                holder = holder == -1 ? k : -2;
        }
        bool ok;
        if (!d->live) {
            ok = holder == -1;
        } else {
            ok = holder >= 0 && d->owner == w->s[holder].id;
            for (int k = 0; ok && k < w->ns; k++)
                if (w->s[k].live && au_device_server_owner_of(w->s[k].ds, d->id) != w->s[holder].id)
                    ok = false;
        }
        if (!ok) {
            bad_device = i;
            return false;
        }
    }
    return true;
}

/* Runs in steps of one virtual second until everything converged; returns the virtual time. */
static double converge(world *w, const char *what, int max_seconds) {
    au_nanos t0 = au_sim_now(w->sim);
    for (int s = 0; s < max_seconds; s++) {
        au_sim_run(w->sim, AU_SEC(1));
        if (cluster_converged(w) && devices_converged(w)) {
            double t = (double)(au_sim_now(w->sim) - t0) / 1e9;
            fprintf(stderr, "  %-44s converged after %.0f s virtual\n", what, t);
            return t;
        }
    }
    fprintf(stderr, "%s: not converged; cluster %d, first bad device %d (live %d owner %016llx)\n",
            what, cluster_converged(w), bad_device, bad_device >= 0 ? w->d[bad_device].live : -1,
            bad_device >= 0 ? (unsigned long long)w->d[bad_device].owner : 0ull);
    for (int k = 0; k < w->ns; k++) {
        if (!w->s[k].live) continue;
        au_device_server_stats st;
        au_device_server_stats_get(w->s[k].ds, &st);
        fprintf(stderr, "  server %d id %016llx owned %llu standby %llu state(bad) %d\n", k,
                (unsigned long long)w->s[k].id, (unsigned long long)st.owned,
                (unsigned long long)st.standby,
                bad_device >= 0 ? au_device_server_state(w->s[k].ds, w->d[bad_device].id) : -1);
    }
    fail_msg("%s: not converged within %d virtual seconds", what, max_seconds);
    return -1;
}

static void kill_devices(world *w, int from, int step, int count) {
    for (int k = 0, i = from; k < count && i < w->nd; k++, i += step) w->d[i].live = false;
}

static void revive_devices(world *w, int from, int step, int count) {
    au_nanos now = au_sim_now(w->sim);
    for (int k = 0, i = from; k < count && i < w->nd; k++, i += step) {
        model *d = &w->d[i];
        d->live = true;
        d->inc = ++w->next_inc;
        d->owner = 0;
        d->backoff = 0;
        d->announce_at = now;
    }
}

static void run_scale(unsigned lease, bool small) {
    world *w = &W;
    memset(w, 0, sizeof *w);
    int nservers = small ? 4 : 10, ndevices = small ? 400 : 10000, nhosts = small ? 4 : 20;
    w->interval_ms = 1000;
    w->lease = lease;
    au_log_set_level(AU_LOG_NET, AU_LOG_ERROR);
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 7 }, &w->sim), AU_OK);
    au_driver inner = au_sim_driver(w->sim);
    w->drv = au_faults_driver(&inner);
    for (int i = 0; i < nservers; i++) server_start(w, i);
    assert_int_equal(au_sim_run_until(w->sim, cluster_converged, w, AU_SEC(60)), AU_OK);
    for (int k = 0; k < SEEDS; k++) snprintf(w->seeds[k], sizeof w->seeds[k], "%s", w->s[k].addr);

    w->nd = ndevices;
    w->next_inc = 1000;
    for (int i = 0; i < ndevices; i++)
        w->d[i] = (model){ .id = (uint64_t)i + 1, .inc = ++w->next_inc, .live = true,
                           .announce_at = au_sim_now(w->sim) + AU_MSEC(i % 2000) };
    for (int i = 0; i < nhosts; i++) host_start(w, i, i * (ndevices / nhosts), ndevices / nhosts);
    fprintf(stderr, "%d servers, %d devices:\n", nservers, ndevices);
    converge(w, "all devices registered", 120);

    /* Churn 1: a tenth of the devices die, a server crashes. */
    kill_devices(w, 0, 10, ndevices / 10);
    w->s[nservers - 1].live = false;
    au_node_stop(w->s[nservers - 1].node);
    converge(w, "10 % of the devices and one server dead", 120);

    /* Churn 2: half of the dead devices come back (new runs), two new servers join, another
     * server crashes, another 5 % of the devices die. */
    revive_devices(w, 0, 20, ndevices / 20);
    server_start(w, nservers);
    server_start(w, nservers + 1);
    w->s[1].live = false;
    au_node_stop(w->s[1].node);
    kill_devices(w, 3, 20, ndevices / 20);
    converge(w, "devices back, 2 servers joined, 1 crashed", 180);

    uint64_t moves = 0, handovers = 0, downs = 0, conflicts = 0;
    for (int k = 0; k < w->ns; k++) {
        if (!w->s[k].live) continue;
        au_device_server_stats st;
        au_device_server_stats_get(w->s[k].ds, &st);
        moves += st.moves;
        handovers += st.handovers;
        downs += st.downs;
        conflicts += st.id_conflicts;
    }
    fprintf(stderr, "  live servers' totals: moves %llu, handovers %llu, downs %llu; %llu events\n",
            (unsigned long long)moves, (unsigned long long)handovers, (unsigned long long)downs,
            (unsigned long long)au_sim_events(w->sim));
    assert_true(handovers > 0); /* the joiners took devices over from their old owners */
    /* devices that die and come back at a new incarnation, under loss and hand-overs, are no
     * two devices with one id */
    assert_int_equal(conflicts, 0);

    /* Quiet: a virtual minute at 5 % loss with nothing dying gives no down event at all. */
    uint64_t downs_before = downs, after = 0;
    au_sim_run(w->sim, AU_SEC(60));
    for (int k = 0; k < w->ns; k++) {
        if (!w->s[k].live) continue;
        au_device_server_stats st;
        au_device_server_stats_get(w->s[k].ds, &st);
        after += st.downs;
    }
    fprintf(stderr, "  a quiet virtual minute at 5 %% loss: %llu false downs\n",
            (unsigned long long)(after - downs_before));
    assert_true(after == downs_before);
    assert_true(devices_converged(w));
    if (lease > 1) { /* the devices beat out their leases: most heartbeats came unprompted */
        uint64_t beats = 0, heartbeats = 0;
        for (int k = 0; k < w->ns; k++) {
            if (!w->s[k].live) continue;
            au_device_server_stats st;
            au_device_server_stats_get(w->s[k].ds, &st);
            beats += st.beats, heartbeats += st.heartbeats;
        }
        fprintf(stderr, "  lease %u: %llu of %llu heartbeats were beats\n", lease,
                (unsigned long long)beats, (unsigned long long)heartbeats);
        assert_true(beats * 2 > heartbeats);
    }

    for (int i = 0; i < w->nh; i++) au_node_stop(w->h[i].node);
    for (int k = 0; k < w->ns; k++)
        if (w->s[k].live) au_node_stop(w->s[k].node);
    au_sim_destroy(w->sim);
}

static void scale(void **state) {
    (void)state;
    run_scale(1, slow_build());
}

/* The same churn with leases of 4 heartbeats per request, in the small world (4 servers, 400
 * devices): convergence after each step, no false down in a quiet minute. */
static void scale_with_leases(void **state) {
    (void)state;
    run_scale(4, true);
}

/* A server that is itself late holds downs back. One server and 200 devices; one device dies,
 * then the server stalls for 3.5 intervals (au_sim_pause: a stopped process, a long pause).
 * When it resumes every device's last echo is more than down_after (3) intervals old, and the
 * echoes of its first requests wait behind its own late tick: without the hold every device
 * would be declared down and up again. With it only the dead one goes down (late: within the
 * hold), the others stay up, and the server counted the downs it held back. */
static void run_paused_server(unsigned lease) {
    world *w = &W;
    memset(w, 0, sizeof *w);
    w->interval_ms = 1000;
    w->lease = lease;
    au_log_set_level(AU_LOG_NET, AU_LOG_ERROR);
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = 11 }, &w->sim), AU_OK);
    au_driver inner = au_sim_driver(w->sim);
    w->drv = au_faults_driver(&inner);
    server_start(w, 0);
    assert_int_equal(au_sim_run_until(w->sim, cluster_converged, w, AU_SEC(10)), AU_OK);
    for (int k = 0; k < SEEDS; k++) memcpy(w->seeds[k], w->s[0].addr, sizeof w->seeds[k]);
    w->nd = 200;
    w->next_inc = 1000;
    for (int i = 0; i < w->nd; i++)
        w->d[i] = (model){ .id = (uint64_t)i + 1, .inc = ++w->next_inc, .live = true,
                           .announce_at = au_sim_now(w->sim) + AU_MSEC(i * 5) };
    host_start(w, 0, 0, w->nd);
    converge(w, "200 devices registered", 30);
    au_sim_run(w->sim, AU_SEC(5));

    au_device_server_stats before, after;
    au_device_server_stats_get(w->s[0].ds, &before);
    kill_devices(w, 0, 1, 1);
    assert_int_equal(au_sim_pause(w->sim, w->s[0].node, AU_MSEC(3500)), AU_OK);
    au_sim_run(w->sim, AU_MSEC(3500) + AU_SEC(6));
    au_device_server_stats_get(w->s[0].ds, &after);
    fprintf(stderr, "  paused 3.5 s: downs %llu, downs held %llu, late now %.3f s\n",
            (unsigned long long)(after.downs - before.downs),
            (unsigned long long)(after.downs_held - before.downs_held), (double)after.late_ns / 1e9);
    assert_true(after.downs - before.downs == 1);          /* the dead device only */
    /* All of them would have been without leases; with them, the devices whose last beats came
     * just before the pause were not overdue yet (136 of 200 held when written). */
    assert_true(after.downs_held - before.downs_held >= (lease > 1 ? 100u : 199u));
    assert_int_equal(au_device_server_state(w->s[0].ds, w->d[0].id), AU_DEVICE_DOWN);
    assert_true(after.late_ns == 0); /* on time again: the hold decayed */
    assert_true(devices_converged(w));

    au_node_stop(w->h[0].node);
    au_node_stop(w->s[0].node);
    au_sim_destroy(w->sim);
}

static void paused_server(void **state) {
    (void)state;
    run_paused_server(1);
}

/* The same with leases of 4: the beats that came during the pause are read late, as echoes
 * are, and held the same way. */
static void paused_server_with_leases(void **state) {
    (void)state;
    run_paused_server(4);
}

/* ---- one announce, forwarded --------------------------------------------------------------- */

/* nservers servers without loss (1-10 ms delay), every device seeded with server 0 only, each
 * announcing once (then waiting an hour to be polled). */
static void lossless_world(world *w, uint64_t seed, int nservers, unsigned lease) {
    const uint8_t *secret = w->secret; /* the caller's, kept: a test that sets them clears them */
    uint32_t new_per_second = w->new_per_second;
    memset(w, 0, sizeof *w);
    w->secret = secret;
    w->new_per_second = new_per_second;
    w->interval_ms = 1000;
    w->lease = lease;
    w->announce_once = true;
    au_log_set_level(AU_LOG_NET, AU_LOG_ERROR);
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = seed }, &w->sim), AU_OK);
    w->inner = au_sim_driver(w->sim);
    w->drv = au_faults_driver(&w->inner);
    for (int i = 0; i < nservers; i++) {
        server_start(w, i);
        au_faults_set(w->s[i].node, NULL, &(au_faults){ .delay_min = AU_MSEC(1),
                                                         .delay_max = AU_MSEC(10) });
    }
    assert_int_equal(au_sim_run_until(w->sim, cluster_converged, w, AU_SEC(30)), AU_OK);
    au_sim_run(w->sim, AU_SEC(1)); /* every device server has its ring */
    for (int k = 0; k < SEEDS; k++) memcpy(w->seeds[k], w->s[0].addr, sizeof w->seeds[k]);
}

/* One device (id) on a lossless host, announcing once, now. */
static void one_device(world *w, uint64_t id) {
    w->nd = (int)id;
    for (int i = 0; i < w->nd; i++)
        w->d[i] = (model){ .id = (uint64_t)i + 1, .inc = 1000 + (uint64_t)i };
    w->d[id - 1].live = true;
    w->d[id - 1].announce_at = au_sim_now(w->sim);
    host_start(w, 0, 0, w->nd);
    au_faults_set(w->h[0].node, NULL, &(au_faults){ .delay_min = AU_MSEC(1),
                                                     .delay_max = AU_MSEC(10) });
}

/* The owner of id in the ring of the first n servers of `of`. */
static uint64_t owner_in(world *w, const int *of, size_t n, uint64_t id) {
    au_cluster_member m[MAX_SERVERS];
    for (size_t i = 0; i < n; i++)
        m[i] = (au_cluster_member){ au_str_view(w->s[of[i]].addr), w->s[of[i]].id, 100 };
    au_ring *r = au_ring_build(m, n, 3);
    assert_non_null(r);
    uint8_t key[8];
    for (int i = 0; i < 8; i++) key[i] = (uint8_t)(id >> (8 * i));
    uint64_t o = au_ring_owner(r, key, sizeof key)->id;
    au_ring_release(r);
    return o;
}

/* The owner of id in the ring of servers a and b alone. */
static uint64_t owner_among(world *w, int a, int b, uint64_t id) {
    return owner_in(w, (int[]){ a, b }, 2, id);
}

static void stop_world(world *w) {
    for (int i = 0; i < w->nh; i++) au_node_stop(w->h[i].node);
    for (int k = 0; k < w->ns; k++)
        if (w->s[k].live) au_node_stop(w->s[k].node);
    au_sim_destroy(w->sim);
}

/* The owner dies; before the seed's ring says so, a device announces to the seed, which forwards
 * the announce to the dead owner. The device does not announce again: the seed must send the
 * announce on to the owner of its new ring once it has one (server 2 here, never having had a
 * copy of the device). Without that the device stays unowned until its next announce, which
 * under loss and backoff was up to 30 s later (the devices scenario's rare failure). */
static void forward_to_dead_owner(void **state) {
    (void)state;
    world *w = &W;
    lossless_world(w, 13, 3, 0);
    uint64_t id = 1;
    while (au_device_server_owner_of(w->s[0].ds, id) != w->s[1].id ||
           owner_among(w, 0, 2, id) != w->s[2].id)
        id++;
    w->s[1].live = false;
    au_node_stop(w->s[1].node);
    one_device(w, id);
    au_sim_run(w->sim, AU_MSEC(100));
    au_device_server_stats st;
    au_device_server_stats_get(w->s[0].ds, &st);
    assert_int_equal(st.announces, SEEDS); /* one announce, to each seed entry (all server 0) */
    assert_true(st.forwarded >= 1);
    /* the seed still names the dead server: the announce went there */
    assert_true(au_device_server_owner_of(w->s[0].ds, id) == w->s[1].id);
    converge(w, "an announce forwarded to a dead owner", 30);
    assert_true(au_device_server_polls(w->s[2].ds, id));
    au_device_server_stats_get(w->s[0].ds, &st);
    assert_int_equal(st.announces, SEEDS); /* taken over from the one announce */
    assert_true(st.forward_retries >= 1);
    stop_world(w);
}

/* The one forwarded announce is lost (the seed's traffic to the owner blocked for 100 ms): the
 * seed sends it again after half an interval, and stops once the owner has acknowledged it. */
static void forward_lost(void **state) {
    (void)state;
    world *w = &W;
    lossless_world(w, 17, 2, 0);
    uint64_t id = 1;
    while (au_device_server_owner_of(w->s[0].ds, id) != w->s[1].id) id++;
    assert_int_equal(au_faults_block(w->s[0].node, w->s[1].addr, true), AU_OK);
    one_device(w, id);
    au_sim_run(w->sim, AU_MSEC(100));
    assert_int_equal(au_faults_block(w->s[0].node, w->s[1].addr, false), AU_OK);
    au_device_server_stats st;
    au_device_server_stats_get(w->s[0].ds, &st);
    assert_int_equal(st.announces, SEEDS); /* one announce, to each seed entry (all server 0) */
    assert_false(au_device_server_polls(w->s[1].ds, id)); /* it was lost */
    converge(w, "a lost forwarded announce", 10);
    assert_true(au_device_server_polls(w->s[1].ds, id));
    /* acknowledged: no more re-sends */
    au_device_server_stats_get(w->s[0].ds, &st);
    uint64_t retries = st.forward_retries;
    assert_true(retries >= 1);
    au_sim_run(w->sim, AU_SEC(20));
    au_device_server_stats_get(w->s[0].ds, &st);
    assert_true(st.forward_retries == retries);
    assert_int_equal(st.announces, SEEDS); /* one announce, to each seed entry (all server 0) */
    assert_true(devices_converged(w));
    stop_world(w);
}

/* Announces awaiting their owner are bounded: 3,000 devices announce once (over 750 ms) to
 * server 0 while its traffic to server 1 is blocked; of those server 1 owns, 1024 are kept for
 * re-sending, the rest are forwarded once and counted. Unblocked, the kept ones reach server 1. */
static void pending_bounded(void **state) {
    (void)state;
    world *w = &W;
    lossless_world(w, 19, 2, 0);
    assert_int_equal(au_faults_block(w->s[0].node, w->s[1].addr, true), AU_OK);
    w->nd = 3000;
    uint64_t theirs = 0;
    for (int i = 0; i < w->nd; i++) {
        w->d[i] = (model){ .id = (uint64_t)i + 1, .inc = 1000 + (uint64_t)i, .live = true,
                           .announce_at = au_sim_now(w->sim) + AU_MSEC(i % 750) };
        theirs += au_device_server_owner_of(w->s[0].ds, (uint64_t)i + 1) == w->s[1].id;
    }
    assert_true(theirs > 1024);
    host_start(w, 0, 0, w->nd);
    au_faults_set(w->h[0].node, NULL, &(au_faults){ .delay_min = AU_MSEC(1),
                                                     .delay_max = AU_MSEC(10) });
    au_sim_run(w->sim, AU_SEC(1));
    au_device_server_stats st;
    au_device_server_stats_get(w->s[0].ds, &st);
    assert_int_equal(st.announces, (uint64_t)SEEDS * 3000);
    /* each device's SEEDS announces: those beyond the bound are forwarded untracked each time */
    assert_int_equal(st.forwards_untracked, (uint64_t)SEEDS * (theirs - 1024));
    assert_int_equal(au_faults_block(w->s[0].node, w->s[1].addr, false), AU_OK);
    au_sim_run(w->sim, AU_SEC(2));
    au_device_server_stats_get(w->s[1].ds, &st);
    fprintf(stderr, "  %llu devices of server 1 announced while cut off: %llu owned after\n",
            (unsigned long long)theirs, (unsigned long long)st.owned);
    assert_true(st.owned >= 1024);
    stop_world(w);
}

typedef struct lease_wait { world *w; uint64_t request; } lease_wait;
static bool lease_reached(void *arg) {
    lease_wait *l = arg;
    return l->w->d[0].owner && l->w->d[0].lease_req >= l->request;
}

/* A beat of the request before last counts for liveness only: once (a second copy is dropped
 * and counted), and without moving the device's address — here the beat comes from another
 * node, and the owner's next request must still reach the device where it is. */
static void a_beat_of_the_previous_request_counts_once_and_keeps_the_address(void **state) {
    (void)state;
    world *w = &W;
    lossless_world(w, 23, 1, 4);
    one_device(w, 1);
    host_start(w, 1, 0, 0); /* the other node: no devices of its own */
    au_faults_set(w->h[1].node, NULL, &(au_faults){ .delay_min = AU_MSEC(1),
                                                     .delay_max = AU_MSEC(10) });
    model *d = &w->d[0];
    lease_wait l = { w, 1 };
    assert_int_equal(au_sim_run_until(w->sim, lease_reached, &l, AU_SEC(5)), AU_OK);
    d->beats = 2; /* of request 1's lease, only beat 1 goes out: beat 2 is late, a retry comes */
    l.request = 2;
    assert_int_equal(au_sim_run_until(w->sim, lease_reached, &l, AU_SEC(5)), AU_OK);
    au_nanos second = d->last_req;
    au_device_server_stats st0, st1, st2;
    au_device_server_stats_get(w->s[0].ds, &st0);
    w->injected = (au_device_up){ .tag = au_device_up_heartbeat,
                                  .heartbeat = { .device = d->id, .incarnation = d->inc,
                                                 .request = 1, .clock = 1, .beat = 2 } };
    w->inject = 1;
    au_sim_run(w->sim, AU_MSEC(100));
    au_device_server_stats_get(w->s[0].ds, &st1);
    assert_true(st1.beats == st0.beats + 1);
    assert_true(st1.drops_unsolicited == st0.drops_unsolicited);
    w->inject = 1; /* the same beat again */
    au_sim_run(w->sim, AU_MSEC(100));
    au_device_server_stats_get(w->s[0].ds, &st2);
    assert_true(st2.beats == st1.beats);
    assert_true(st2.drops_unsolicited == st1.drops_unsolicited + 1);
    /* Request 3 at the end of request 2's lease, to the device's own address. */
    l.request = 3;
    assert_int_equal(au_sim_run_until(w->sim, lease_reached, &l, AU_SEC(5)), AU_OK);
    assert_true(d->last_req - second <= AU_MSEC(4 * 1000 + 100));
    au_device_server_stats_get(w->s[0].ds, &st2);
    assert_true(st2.announces == st0.announces); /* it never lost its owner */
    assert_int_equal(au_device_server_state(w->s[0].ds, d->id), AU_DEVICE_UP);
    stop_world(w);
}

typedef struct standby_wait { world *w; int server; } standby_wait;
static bool has_standby(void *arg) {
    standby_wait *sw = arg;
    au_device_server_stats st;
    au_device_server_stats_get(sw->w->s[sw->server].ds, &st);
    return st.standby >= 1;
}

/* With a lease of 16 the owner's requests are 16 intervals apart; its standby copies are still
 * refreshed after 15 intervals at the latest: the first copy lost, the replica has one by then,
 * before the second request. */
static void standby_copies_are_refreshed_between_the_requests_of_a_long_lease(void **state) {
    (void)state;
    world *w = &W;
    lossless_world(w, 29, 2, 16);
    uint64_t id = 1;
    while (au_device_server_owner_of(w->s[0].ds, id) != w->s[0].id) id++;
    assert_int_equal(au_faults_block(w->s[0].node, w->s[1].addr, true), AU_OK);
    one_device(w, id);
    model *d = &w->d[id - 1];
    au_nanos t0 = au_sim_now(w->sim);
    while (!d->owner && au_sim_now(w->sim) - t0 < AU_SEC(5)) au_sim_run(w->sim, AU_MSEC(10));
    assert_true(d->owner == w->s[0].id);
    au_nanos owned = d->last_req;
    au_sim_run(w->sim, AU_MSEC(200)); /* the copy made when it was first owned is lost */
    assert_int_equal(au_faults_block(w->s[0].node, w->s[1].addr, false), AU_OK);
    standby_wait sw = { w, 1 };
    assert_false(has_standby(&sw));
    assert_int_equal(au_sim_run_until(w->sim, has_standby, &sw, AU_SEC(15)), AU_OK);
    au_nanos at = au_sim_now(w->sim) - owned;
    fprintf(stderr, "  standby copy after %.2f intervals (requests 16 apart)\n", (double)at / 1e9);
    assert_true(at <= AU_MSEC(15 * 1000 + 200)); /* REFRESH_MAX_INTERVALS, before request 2 */
    assert_true(d->lease_req == 1); /* the premise: no second request meanwhile */
    stop_world(w);
}

typedef struct owner_wait { world *w; model *d; int server; } owner_wait;
static bool polled_up_by(void *arg) {
    owner_wait *o = arg;
    return o->d->owner == o->w->s[o->server].id &&
           au_device_server_state(o->w->s[o->server].ds, o->d->id) == AU_DEVICE_UP;
}
/* ... and at the incarnation of a claim: the claim was taken */
static bool claim_taken_by(void *arg) {
    owner_wait *o = arg;
    au_device_server_stats st;
    au_device_server_stats_get(o->w->s[o->server].ds, &st);
    return st.claims_taken >= 1 && polled_up_by(arg);
}
static bool polls(void *arg) {
    owner_wait *o = arg;
    return au_device_server_polls(o->w->s[o->server].ds, o->d->id);
}

/* Plain: a device reboots (a new incarnation, announced once) while its owner, server 0, polls
 * its old run, which is live to the owner; the owner holds the announce as a claim, and its
 * probes to the device are lost. Then the device's owner changes: server 0 crashes and its heir
 * takes the device over from its standby copy (crash), or server 2 joins and is handed the
 * device. The new owner must go on with the claim: probe it at once, and poll the device at its
 * new incarnation one round trip later. Without the claim in the copy or the hand-over, the new
 * owner polled the old run until its down deadline (3 intervals of 10 s) and then had the
 * device down: the device, whose announce had been taken, was polled by no one. */
static void run_claim_survives_the_owner(uint64_t seed, bool crash, bool soon) {
    world *w = &W;
    lossless_world(w, seed, 2, 0);
    w->interval_ms = 10000; /* the old run stays live through the change of owner */
    int to = 1;
    uint64_t id = 1;
    if (crash) {
        while (au_device_server_owner_of(w->s[0].ds, id) != w->s[0].id) id++;
    } else { /* server 2 is started cut off from the others: its id is known before it joins */
        to = 2;
        w->isolate_new = true;
        server_start(w, 2);
        w->isolate_new = false;
        au_faults_set(w->s[2].node, NULL, &(au_faults){ .delay_min = AU_MSEC(1),
                                                         .delay_max = AU_MSEC(10) });
        while (owner_among(w, 0, 1, id) != w->s[0].id ||
               owner_in(w, (int[]){ 0, 1, 2 }, 3, id) != w->s[2].id)
            id++;
    }
    one_device(w, id);
    model *d = &w->d[id - 1];
    owner_wait ow = { w, d, 0 };
    assert_int_equal(au_sim_run_until(w->sim, polled_up_by, &ow, AU_SEC(5)), AU_OK);
    /* soon: within an eighth of an interval of the copy sent when server 0 took the device,
     * so that the copy with the claim waits (one per eighth of an interval) */
    if (!soon) au_sim_run(w->sim, AU_SEC(2));
    /* the device reboots; what server 0 sends it is lost from now on */
    assert_int_equal(au_faults_block(w->s[0].node, au_node_address(w->h[0].node), true), AU_OK);
    d->inc = 5000;
    d->owner = 0;
    d->backoff = 0;
    d->announce_at = au_sim_now(w->sim);
    au_sim_run(w->sim, AU_MSEC(300));
    au_device_server_stats st;
    au_device_server_stats_get(w->s[0].ds, &st);
    assert_true(st.claims >= 1);
    assert_int_equal(st.claims_taken, 0);
    assert_int_equal(au_device_server_state(w->s[0].ds, id), AU_DEVICE_UP); /* the old run */
    if (soon) au_sim_run(w->sim, AU_MSEC(1500)); /* the copy held back goes out meanwhile */
    if (crash) {
        w->s[0].live = false;
        au_node_stop(w->s[0].node);
    } else {
        for (int k = 0; k < 2; k++)
            assert_int_equal(au_faults_block(w->s[2].node, w->s[k].addr, false), AU_OK);
    }
    ow.server = to;
    assert_int_equal(au_sim_run_until(w->sim, polls, &ow, AU_SEC(20)), AU_OK);
    au_nanos t0 = au_sim_now(w->sim);
    au_err rc = au_sim_run_until(w->sim, claim_taken_by, &ow, AU_SEC(40));
    fprintf(stderr, "  %s: device polled at its new incarnation %.3f s after the take-over\n",
            crash ? "owner crashed" : "server joined", (double)(au_sim_now(w->sim) - t0) / 1e9);
    assert_int_equal(rc, AU_OK);
    assert_true(au_sim_now(w->sim) - t0 < AU_SEC(1)); /* a round trip or two, not a down deadline */
    /* polled at the new incarnation from then on: requests reach the device (the model takes
     * only requests of its incarnation), and it is never down */
    au_nanos taken = d->last_req;
    au_sim_run(w->sim, AU_SEC(25));
    assert_true(d->last_req > taken && d->owner == w->s[to].id);
    assert_int_equal(au_device_server_state(w->s[to].ds, id), AU_DEVICE_UP);
    au_device_server_stats_get(w->s[to].ds, &st);
    assert_int_equal(st.claims_taken, 1);
    assert_int_equal(st.downs, 0);
    if (!crash) {
        au_device_server_stats_get(w->s[0].ds, &st);
        assert_true(st.handovers >= 1);
    }
    stop_world(w);
}

static void a_claim_survives_its_owner_crashing(void **state) {
    (void)state;
    run_claim_survives_the_owner(31, true, false);
}

static void a_claim_made_just_after_a_copy_survives_its_owner_crashing(void **state) {
    (void)state;
    run_claim_survives_the_owner(43, true, true);
}

static void a_claim_survives_a_hand_over(void **state) {
    (void)state;
    run_claim_survives_the_owner(37, false, false);
}

/* A device dies; its owner, server 0, declares it down; then server 0 crashes. Its heir takes
 * the device over from its standby copy and must hold it down, as server 0 did ("keeps the
 * state it had there", docs/devices.md §5): the copy made when server 0 began to poll it said
 * "not yet up", and a later copy of the same incarnation left the state as it was, so the heir
 * reported the dead device up and declared it down a second time, 3 intervals later. */
static void a_down_device_stays_down_when_its_owner_crashes(void **state) {
    (void)state;
    world *w = &W;
    lossless_world(w, 41, 2, 0);
    uint64_t id = 1;
    while (au_device_server_owner_of(w->s[0].ds, id) != w->s[0].id) id++;
    one_device(w, id);
    model *d = &w->d[id - 1];
    owner_wait ow = { w, d, 0 };
    assert_int_equal(au_sim_run_until(w->sim, polled_up_by, &ow, AU_SEC(5)), AU_OK);
    au_sim_run(w->sim, AU_SEC(2));
    d->live = false;
    au_sim_run(w->sim, AU_SEC(5)); /* down after 3 intervals of 1 s */
    assert_int_equal(au_device_server_state(w->s[0].ds, id), AU_DEVICE_DOWN);
    au_device_server_stats st;
    au_device_server_stats_get(w->s[0].ds, &st);
    assert_int_equal(st.downs, 1);
    w->s[0].live = false;
    au_node_stop(w->s[0].node);
    ow.server = 1;
    assert_int_equal(au_sim_run_until(w->sim, polls, &ow, AU_SEC(20)), AU_OK);
    assert_int_equal(au_device_server_state(w->s[1].ds, id), AU_DEVICE_DOWN);
    au_sim_run(w->sim, AU_SEC(5));
    assert_int_equal(au_device_server_state(w->s[1].ds, id), AU_DEVICE_DOWN);
    au_device_server_stats_get(w->s[1].ds, &st);
    assert_int_equal(st.downs, 0); /* it was down already */
    assert_int_equal(st.ups, 0);
    assert_int_equal(st.moves, 1);
    stop_world(w);
}

/* A log sink that counts the id-conflict WARNs naming both addresses. */
typedef struct conflict_log { int lines; char a[64], b[64]; } conflict_log;
static conflict_log conflict_seen;
static void conflict_sink(void *user, au_log_module module, au_log_level level, const char *file,
                          int line, const char *message) {
    (void)user, (void)file, (void)line;
    if (module == AU_LOG_DEVICES && level == AU_LOG_WARN && strstr(message, "share this id") &&
        strstr(message, conflict_seen.a) && strstr(message, conflict_seen.b))
        conflict_seen.lines++;
}

/* Plain: two devices configured with one id, on two hosts, each with its own incarnation. The
 * owner polls one; the other, polled by no one, announces; its claim is probed and answered and
 * takes the record; the first, no longer polled, announces in its turn and takes it back, and so
 * on at every re-announce. Bounded, but it told no one: the server counts each return of the
 * record to the incarnation it had left (id_conflicts) and logs it (WARN, once per second at
 * most) naming the id and both addresses. A device that reboots, twice (each run replacing the
 * last for good), is no conflict. */
static void run_two_devices_with_one_id(bool sealed) {
    world *w = &W;
    static const uint8_t key[32] = { 9, 8, 7, 6, 5, 4, 3, 2, 1 };
    memset(w, 0, sizeof *w);
    w->secret = sealed ? key : NULL;
    lossless_world(w, 53, 1, 0);
    w->interval_ms = 100; /* a change of hands every half second or so: more than one a second */
    w->announce_once = !sealed; /* sealed, the loser is never polled: it announces at its backoff */
    w->nd = 3;
    au_nanos now = au_sim_now(w->sim);
    w->d[0] = (model){ .id = 1, .inc = 1000, .live = true, .announce_at = now };
    w->d[1] = (model){ .id = 1, .inc = 2000, .live = true, .announce_at = now + AU_SEC(1) };
    w->d[2] = (model){ .id = 3, .inc = 3000, .live = true, .announce_at = now };
    host_start(w, 0, 0, 1);
    host_start(w, 1, 1, 1);
    host_start(w, 2, 2, 1);
    for (int k = 0; k < 3; k++)
        au_faults_set(w->h[k].node, NULL, &(au_faults){ .delay_min = AU_MSEC(1),
                                                         .delay_max = AU_MSEC(10) });
    memset(&conflict_seen, 0, sizeof conflict_seen);
    snprintf(conflict_seen.a, sizeof conflict_seen.a, "%s", au_node_address(w->h[0].node));
    snprintf(conflict_seen.b, sizeof conflict_seen.b, "%s", au_node_address(w->h[1].node));
    au_log_set_sink(conflict_sink, NULL);
    /* device 3 reboots twice meanwhile, announcing each new run at once */
    for (int s = 0; s < 60; s++) {
        au_sim_run(w->sim, AU_SEC(1));
        if (s == 10 || s == 30) {
            w->d[2].inc += 100;
            w->d[2].owner = 0;
            w->d[2].backoff = 0;
            w->d[2].announce_at = au_sim_now(w->sim);
        }
    }
    au_log_set_sink(NULL, NULL);
    au_device_server_stats st;
    au_device_server_stats_get(w->s[0].ds, &st);
    fprintf(stderr, "  one id, two devices, 60 s%s: claims taken %llu, id conflicts %llu, %d WARNs, "
            "stale %llu\n", sealed ? " (cluster key)" : "", (unsigned long long)st.claims_taken,
            (unsigned long long)st.id_conflicts, conflict_seen.lines,
            (unsigned long long)st.drops_stale);
    if (sealed) {
        /* the higher incarnation keeps the record; the other announces at its backoff (up to
         * 30 s in the model: about 9 times in the minute), each dropped as stale, each but the
         * first counted, and logged at most once a second (the first few come faster);
         * device 3's reboots are not */
        assert_int_equal(st.claims_taken, 0);
        assert_true(st.id_conflicts >= 5 && st.id_conflicts <= 12);
        assert_true(conflict_seen.lines >= (int)st.id_conflicts - 3 &&
                    conflict_seen.lines <= (int)st.id_conflicts);
        assert_true(au_device_server_state(w->s[0].ds, 1) == AU_DEVICE_UP);
        assert_true(w->d[1].owner == w->s[0].id && !w->d[0].owner);
        assert_int_equal(au_device_server_state(w->s[0].ds, 3), AU_DEVICE_UP);
        stop_world(w);
        w->secret = NULL;
        return;
    }
    /* the record changed hands at every re-announce (4-5 intervals), each return counted, and
     * logged at most once a second */
    assert_true(st.id_conflicts >= 60);
    assert_true(st.claims_taken == st.id_conflicts + 3); /* + the first take and device 3's two */
    assert_true(conflict_seen.lines >= 30 && conflict_seen.lines <= 61);
    assert_int_equal(au_device_server_state(w->s[0].ds, 3), AU_DEVICE_UP);
    assert_int_equal(st.downs, 0);
    stop_world(w);
}

static void two_devices_with_one_id_are_counted_and_logged(void **state) {
    (void)state;
    run_two_devices_with_one_id(false);
}

/* With a cluster key the higher incarnation keeps the record, and the other device's announces
 * are dropped as stale at its every re-announce: counted and logged the same. */
static void two_sealed_devices_with_one_id_are_counted_and_logged(void **state) {
    (void)state;
    run_two_devices_with_one_id(true);
}

static int total_announces(world *w) {
    uint64_t n = 0;
    for (int k = 0; k < w->ns; k++) {
        if (!w->s[k].live) continue;
        au_device_server_stats st;
        au_device_server_stats_get(w->s[k].ds, &st);
        n += st.announces;
    }
    return (int)n;
}

/* With a cluster key (peer records authenticated), a server joins a cluster whose devices it
 * gets by hand-over and standby copy, more of them at once than its new-device bucket holds
 * (new_per_second 100, one second's burst). The bucket is for announces of devices not known
 * before ("announcements beyond either are dropped"); it took the hand-overs and copies too,
 * and those beyond the burst were dropped (drops_rate): the old owners had stopped polling
 * those devices, which were polled by no one until they noticed and announced again. Sealed,
 * hand-overs and copies are bounded by max_devices only. (Plain, anyone can send them: the
 * bucket still bounds them.) */
static void hand_overs_are_not_held_to_the_new_device_rate_with_a_cluster_key(void **state) {
    (void)state;
    world *w = &W;
    static const uint8_t key[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
    memset(w, 0, sizeof *w);
    w->secret = key;
    w->new_per_second = 100;
    lossless_world(w, 47, 2, 0);
    w->announce_once = false;
    w->nd = 300;
    au_nanos now = au_sim_now(w->sim);
    for (int i = 0; i < w->nd; i++)
        w->d[i] = (model){ .id = (uint64_t)i + 1, .inc = 1000 + (uint64_t)i, .live = true,
                           .announce_at = now + AU_MSEC(20) * (uint64_t)i }; /* 50 a second */
    host_start(w, 0, 0, w->nd);
    au_faults_set(w->h[0].node, NULL, &(au_faults){ .delay_min = AU_MSEC(1), .delay_max = AU_MSEC(10) });
    converge(w, "300 devices, 50 a second", 60);
    int before = total_announces(w);
    server_start(w, 2);
    au_faults_set(w->s[2].node, NULL, &(au_faults){ .delay_min = AU_MSEC(1), .delay_max = AU_MSEC(10) });
    converge(w, "a server joined", 60);
    au_device_server_stats st;
    au_device_server_stats_get(w->s[2].ds, &st);
    fprintf(stderr, "  joined: owned %llu standby %llu, dropped by the rate %llu; announces +%d\n",
            (unsigned long long)st.owned, (unsigned long long)st.standby,
            (unsigned long long)st.drops_rate, total_announces(w) - before);
    assert_true(st.owned > 50);
    assert_int_equal(st.drops_rate, 0);
    assert_int_equal(total_announces(w), before); /* taken over by the ring alone */
    stop_world(w);
    w->secret = NULL;
    w->new_per_second = 0;
}

int main(void) {
    const struct CMUnitTest tests[] = { cmocka_unit_test(forward_lost),
                                        cmocka_unit_test(forward_to_dead_owner),
                                        cmocka_unit_test(pending_bounded),
                                        cmocka_unit_test(a_beat_of_the_previous_request_counts_once_and_keeps_the_address),
                                        cmocka_unit_test(standby_copies_are_refreshed_between_the_requests_of_a_long_lease),
                                        cmocka_unit_test(a_claim_survives_its_owner_crashing),
                                        cmocka_unit_test(a_claim_made_just_after_a_copy_survives_its_owner_crashing),
                                        cmocka_unit_test(a_claim_survives_a_hand_over),
                                        cmocka_unit_test(a_down_device_stays_down_when_its_owner_crashes),
                                        cmocka_unit_test(hand_overs_are_not_held_to_the_new_device_rate_with_a_cluster_key),
                                        cmocka_unit_test(two_devices_with_one_id_are_counted_and_logged),
                                        cmocka_unit_test(two_sealed_devices_with_one_id_are_counted_and_logged),
                                        cmocka_unit_test(paused_server), cmocka_unit_test(paused_server_with_leases), cmocka_unit_test(scale),
                                        cmocka_unit_test(scale_with_leases) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
