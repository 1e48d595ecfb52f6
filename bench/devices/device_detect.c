/* device_detect.c — the device server's detection times, in the deterministic simulator
 * (docs/benchmarks.md, "Devices"): 3 servers, 1,000 devices at a 1 s interval, 5 % loss and
 * 1–10 ms delay on every datagram.
 *   1. false downs: 10 virtual minutes with nothing dying (goal: none);
 *   2. device death -> "down" event: 200 devices killed at spread-out instants; the latency of
 *      each one's DOWN event, in ms and in intervals (goal: <= 3 intervals);
 *   3. owner death -> every one of its devices polled by its new owner: one server crashes; the
 *      cluster's detection (its removal reaching the other servers' rings) and the time until
 *      each of its live devices has answered a request of its new owner (goal: <= detection +
 *      one interval).
 * The devices are the model of test_device_sim.c (the device half of the protocol as one actor
 * per simulated host), with leases (LEASE=k in the environment: the servers' lease; default 1).
 * Public API only. Usage: device_detect [minutes] (default 10). */
#include <aurum/aurum.h>
#include <aurum/cluster.h>
#include <aurum/device_server.h>
#include <aurum/faults.h>
#include <aurum/layer.h>
#include <aurum/sim.h>
#include <aurum/testkit.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NS = 3, ND = 1000, NH = 4, NKILL = 200 };
#define INTERVAL_MS 1000u

typedef struct model {
    uint64_t id, inc, owner;
    bool live;
    au_nanos last_req, announce_at, backoff, killed_at, down_at;
    /* the owner's lease: beats 1 .. beats-1 of request lease_req, the next at beat_at */
    uint64_t lease_req;
    uint32_t beat, beats;
    au_nanos beat_at;
    au_device_up_ref owner_ref;
} model;

typedef struct host {
    au_node *node;
    int first, n;
    struct { char addr[64]; au_device_up_ref ref; } refs[8];
    int nrefs;
    uint64_t rng;
} host;

static struct {
    au_sim *sim;
    au_driver drv;
    au_node *node[NS];
    au_cluster *cl[NS];
    au_device_server *ds[NS];
    uint64_t id[NS];
    bool live[NS];
    char addr[NS][64];
    host h[NH];
    model d[ND];
    uint64_t downs;
} W;

static au_device_up_ref ref_to(host *h, const char *addr) {
    for (int i = 0; i < h->nrefs; i++)
        if (strcmp(h->refs[i].addr, addr) == 0) return h->refs[i].ref;
    au_device_up_ref r = au_forge(au_device_up, au_device_up, h->node, AU_DEVICE_SERVER_NAME, addr);
    snprintf(h->refs[h->nrefs].addr, sizeof h->refs[0].addr, "%s", addr);
    h->refs[h->nrefs++].ref = r;
    return r;
}

typedef struct fleet_state { host *h; } fleet_state;

static void fleet_recv(au_ctx *ctx, fleet_state *self, au_device_down *m) {
    host *h = self->h;
    char from[64];
    au_nanos now = au_node_now(au_ctx_node(ctx)), iv = AU_MSEC(INTERVAL_MS);
    if (!au_ctx_origin(ctx, from, sizeof from)) {
        for (int i = h->first; i < h->first + h->n; i++) {
            model *d = &W.d[i];
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
            if (d->owner || now < d->announce_at) continue;
            for (int k = 0; k < NS; k++)
                au_send(ref_to(h, W.addr[k]),
                        ((au_device_up){ .tag = au_device_up_announce,
                                         .announce = { .device = d->id, .incarnation = d->inc,
                                                       .clock = 1, .interval_ms = INTERVAL_MS,
                                                       .max_datagram = 512 } }));
            if (!d->backoff) d->backoff = iv;
            h->rng ^= h->rng << 13, h->rng ^= h->rng >> 7, h->rng ^= h->rng << 17;
            d->announce_at = now + d->backoff + d->backoff * (h->rng % 26) / 100;
            d->backoff = d->backoff * 2 > AU_SEC(30) ? AU_SEC(30) : d->backoff * 2;
        }
        au_send_after(au_self(ctx, au_device_down), AU_MSEC(10),
                      ((au_device_down){ .tag = au_device_down_request }));
        return;
    }
    if (m->tag != au_device_down_request || m->request.device < 1 || m->request.device > ND) return;
    model *d = &W.d[m->request.device - 1];
    if (!d->live || m->request.incarnation != d->inc) return;
    d->owner = m->request.server;
    d->last_req = now;
    d->owner_ref = ref_to(h, from);
    d->lease_req = m->request.request;
    d->beats = m->request.beats < 1 ? 1 : m->request.beats > 16 ? 16 : m->request.beats;
    d->beat = 1;
    d->beat_at = now + iv;
    au_send(ref_to(h, from), ((au_device_up){ .tag = au_device_up_heartbeat,
                                              .heartbeat = { .device = d->id, .incarnation = d->inc,
                                                             .request = m->request.request,
                                                             .clock = 1 } }));
}
AU_ACTOR(fleet_actor, fleet_state, au_device_down, .recv = fleet_recv);

/* Records the virtual time of every DOWN event. */
AU_ROOT(rec_msg, (ev, au_device_event, AU_REMOTE));
typedef struct rec_state { int unused; } rec_state;
static void rec_recv(au_ctx *ctx, rec_state *self, rec_msg *m) {
    (void)self;
    au_device_event *e = &m->ev;
    if (e->kind != AU_DEVICE_DOWN || e->device < 1 || e->device > ND) return;
    W.downs++;
    model *d = &W.d[e->device - 1];
    if (!d->down_at) d->down_at = au_node_now(au_ctx_node(ctx));
}
AU_ACTOR(rec_actor, rec_state, rec_msg, .recv = rec_recv);

static const au_faults LOSS = { .drop = 0.05, .delay_min = AU_MSEC(1), .delay_max = AU_MSEC(10) };

static int members_ok(int n) {
    for (int k = 0; k < NS; k++) {
        if (!W.live[k]) continue;
        au_cluster_stats st;
        au_cluster_stats_get(W.cl[k], &st);
        if (st.members != (uint64_t)n) return 0;
    }
    return 1;
}

static bool cluster_done(void *arg) { (void)arg; return members_ok(NS); }

/* Every live device answered a live server that polls it. */
static int devices_ok(void) {
    for (int i = 0; i < ND; i++) {
        if (!W.d[i].live) continue;
        int ok = 0;
        for (int k = 0; k < NS; k++)
            if (W.live[k] && W.d[i].owner == W.id[k] && au_device_server_polls(W.ds[k], W.d[i].id)) ok = 1;
        if (!ok) return 0;
    }
    return 1;
}

static int cmp(const void *a, const void *b) {
    au_nanos x = *(const au_nanos *)a, y = *(const au_nanos *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int minutes = argc > 1 ? atoi(argv[1]) : 10;
    const char *lease_env = getenv("LEASE");
    unsigned lease = lease_env ? (unsigned)atoi(lease_env) : 1;
    au_log_set_level(AU_LOG_NET, AU_LOG_ERROR);
    au_sim_create(&(au_sim_config){ .seed = 11 }, &W.sim);
    au_driver inner = au_sim_driver(W.sim);
    W.drv = au_faults_driver(&inner);
    for (int k = 0; k < NS; k++) {
        au_node_start(&(au_node_config){ .driver = &W.drv }, &W.node[k]);
        snprintf(W.addr[k], sizeof W.addr[k], "%s", au_node_address(W.node[k]));
        au_faults_set(W.node[k], NULL, &LOSS);
        au_faults_seed(W.node[k], 100 + (uint64_t)k);
        const char *seeds[1] = { W.addr[0] };
        au_cluster_start(W.node[k], &(au_cluster_config){ .seeds = k ? seeds : NULL, .nseeds = k ? 1 : 0,
                                                          .vnodes = 100, .no_leave_on_stop = true },
                         &W.cl[k]);
        W.id[k] = au_cluster_id(W.cl[k]);
        au_device_server_start(W.node[k], W.cl[k], &(au_device_server_config){ .lease = lease }, &W.ds[k]);
        rec_msg_ref r = au_spawn(W.node[k], rec_actor, NULL, NULL);
        au_device_server_subscribe(W.ds[k], au_narrow_local(rec_msg, au_device_event,
                                                            ((rec_msg_lref){ .raw = r.raw })));
        W.live[k] = true;
    }
    if (au_sim_run_until(W.sim, cluster_done, NULL, AU_SEC(60)) != AU_OK) {
        fprintf(stderr, "cluster did not converge\n");
        return 1;
    }
    for (int i = 0; i < ND; i++)
        W.d[i] = (model){ .id = (uint64_t)i + 1, .inc = 1, .live = true,
                          .announce_at = au_sim_now(W.sim) + AU_MSEC(i % 1000) };
    for (int j = 0; j < NH; j++) {
        host *h = &W.h[j];
        h->first = j * (ND / NH), h->n = ND / NH, h->rng = 88172645463325252ull + (uint64_t)j;
        au_node_start(&(au_node_config){ .driver = &W.drv }, &h->node);
        au_faults_set(h->node, NULL, &LOSS);
        au_faults_seed(h->node, 200 + (uint64_t)j);
        au_device_down_ref f = au_spawn(h->node, fleet_actor, AU_DEVICE_CLIENT_NAME, &(fleet_state){ h });
        au_send(f, ((au_device_down){ .tag = au_device_down_request }));
    }
    int s;
    for (s = 0; s < 60 && !devices_ok(); s++) au_sim_run(W.sim, AU_SEC(1));
    printf("devices: %d servers, %d devices, interval %u ms, lease %u, 5 %% loss, 1-10 ms delay; "
           "registered in %d s virtual\n", NS, ND, INTERVAL_MS, lease ? lease : 1, s);

    /* 1. False downs, and what the polling sent meanwhile. */
    W.downs = 0;
    uint64_t req0 = 0, hb0 = 0, req1 = 0, hb1 = 0;
    for (int k = 0; k < NS; k++) {
        au_device_server_stats st;
        au_device_server_stats_get(W.ds[k], &st);
        req0 += st.requests_sent, hb0 += st.heartbeats;
    }
    au_sim_run(W.sim, AU_SEC(60) * (au_nanos)minutes);
    for (int k = 0; k < NS; k++) {
        au_device_server_stats st;
        au_device_server_stats_get(W.ds[k], &st);
        req1 += st.requests_sent, hb1 += st.heartbeats;
    }
    double dev_s = (double)ND * 60 * minutes;
    printf("false downs: %llu in %d virtual minutes (%d devices: %d device-intervals); per device "
           "and second: %.3f requests, %.3f heartbeats heard\n",
           (unsigned long long)W.downs, minutes, ND, ND * 60 * minutes, (double)(req1 - req0) / dev_s,
           (double)(hb1 - hb0) / dev_s);

    /* 2. Device death -> down. */
    au_nanos lat[NKILL];
    for (int k = 0; k < NKILL; k++) {
        au_sim_run(W.sim, AU_MSEC(37)); /* spread over the interval's phases */
        model *d = &W.d[k * (ND / NKILL)];
        d->live = false;
        d->killed_at = au_sim_now(W.sim);
        d->down_at = 0;
    }
    au_sim_run(W.sim, AU_SEC(10));
    int missing = 0;
    for (int k = 0; k < NKILL; k++) {
        model *d = &W.d[k * (ND / NKILL)];
        if (!d->down_at) missing++, lat[k] = (au_nanos)-1;
        else lat[k] = d->down_at - d->killed_at;
    }
    qsort(lat, NKILL, sizeof lat[0], cmp);
    printf("device death -> down: %d devices, min %.0f ms, median %.0f ms, p99 %.0f ms, max %.0f ms "
           "(%.2f intervals); %d without a down event\n",
           NKILL, lat[0] / 1e6, lat[NKILL / 2] / 1e6, lat[NKILL * 99 / 100] / 1e6,
           lat[NKILL - 1 - missing] / 1e6, lat[NKILL - 1 - missing] / 1e6 / INTERVAL_MS, missing);

    /* 3. Owner death -> all its devices polled by the new owner. */
    int victim = 1;
    int theirs = 0;
    static bool owned[ND];
    for (int i = 0; i < ND; i++)
        if (W.d[i].live && au_device_server_polls(W.ds[victim], W.d[i].id)) owned[i] = true, theirs++;
    for (int k = 0; k < NS; k++) {
        au_device_server_stats st;
        au_device_server_stats_get(W.ds[k], &st);
        fprintf(stderr, "server %d: owned %llu standby %llu\n", k, (unsigned long long)st.owned,
                (unsigned long long)st.standby);
    }
    au_nanos t0 = au_sim_now(W.sim), detect = 0, all = 0;
    W.live[victim] = false;
    au_node_stop(W.node[victim]);
    for (int step = 0; step < 6000 && !all; step++) {
        au_sim_run(W.sim, AU_MSEC(10));
        if (!detect && members_ok(NS - 1)) detect = au_sim_now(W.sim) - t0;
        int done = 1;
        for (int i = 0; i < ND && done; i++) {
            if (!owned[i] || !W.d[i].live) continue;
            int ok = 0;
            for (int k = 0; k < NS; k++)
                if (W.live[k] && W.d[i].owner == W.id[k] && au_device_server_polls(W.ds[k], W.d[i].id)) ok = 1;
            done = ok;
        }
        if (done && detect) all = au_sim_now(W.sim) - t0;
        if (getenv("TRACE") && step % 20 == 0) {
            int left = 0;
            for (int i = 0; i < ND; i++) {
                if (!owned[i] || !W.d[i].live) continue;
                int ok = 0;
                for (int k = 0; k < NS; k++)
                    if (W.live[k] && W.d[i].owner == W.id[k] && au_device_server_polls(W.ds[k], W.d[i].id)) ok = 1;
                left += !ok;
            }
            fprintf(stderr, "t=%d ms detect=%d left %d\n", step * 10, detect != 0, left);
        }
    }
    printf("owner death -> polled by the new owner: %d devices; cluster detection %.0f ms, all polled "
           "(and answering) after %.0f ms: detection + %.0f ms (%.2f intervals)\n",
           theirs, detect / 1e6, all / 1e6, (all - detect) / 1e6, (all - detect) / 1e6 / INTERVAL_MS);
    for (int j = 0; j < NH; j++) au_node_stop(W.h[j].node);
    for (int k = 0; k < NS; k++)
        if (W.live[k]) au_node_stop(W.node[k]);
    au_sim_destroy(W.sim);
    return 0;
}
