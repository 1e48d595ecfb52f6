/* device_world.h — test scaffolding for the device server on real UDP: server nodes (node,
 * cluster, device server, probes for events and user messages) and in-process device clients
 * on the POSIX adapter, whose uplink can be lossy and delayed like the servers' traffic (the
 * fault driver shapes only what the nodes send). Everything device-side runs on the test's
 * thread: dw_pump drives every live client, so the clients are never touched concurrently.
 * Also the seed's device-convergence condition (§7.6): every live device is owned by exactly one
 * live server, the one it believes owns it and the one every live server's ring names; no dead
 * device is held up by anyone. Static functions: include it from one test file. */
#ifndef TESTS_DEVICES_DEVICE_WORLD_H
#define TESTS_DEVICES_DEVICE_WORLD_H

#include <aurum/aurum.h>
#include <aurum/cluster.h>
#include <aurum/crdt.h>
#include <aurum/crdt_share.h>
#include <aurum/device_client.h>
#include <aurum/device_client_posix.h>
#include <aurum/device_server.h>
#include <aurum/faults.h>
#include <aurum/testkit.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

enum { DW_SERVERS = 8, DW_DEVICES = 64, DW_QUEUE = 32, DW_BUF = 512 };

typedef struct dw_pending {
    uint32_t due;
    au_dc_addr to;
    size_t len;
    uint8_t bytes[DW_BUF];
} dw_pending;

typedef struct dw_device {
    au_dc dc;
    au_dc_config cfg;
    au_dc_posix io;
    au_dc_platform posix;
    au_dc_addr seeds[DW_SERVERS];
    uint8_t rx[DW_BUF], tx[DW_BUF];
    bool live;
    double drop;
    uint32_t delay_min, delay_max;
    uint64_t rng;
    dw_pending q[DW_QUEUE];
    size_t nq;
    int messages;          /* user messages received */
    uint64_t last_type;
    uint64_t last_value;
} dw_device;

typedef struct dw_server {
    au_node *node;
    au_cluster *cluster;
    au_device_server *ds;
    au_probe *events, *messages;
    char addr[64];
    uint64_t id;
    bool live;
} dw_server;

typedef struct dw_world {
    dw_server s[DW_SERVERS];
    int ns;
    dw_device d[DW_DEVICES];
    int nd;
    au_faults faults;
    au_driver drv;
    au_node_config node_cfg; /* the servers' node settings (keys, device keys); driver, workers
                                and no_spin are set by dw_server_start */
} dw_world;

static uint32_t dw_now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint32_t)((uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u);
}

static uint64_t dw_rand(dw_device *d) {
    d->rng ^= d->rng << 13;
    d->rng ^= d->rng >> 7;
    d->rng ^= d->rng << 17;
    return d->rng;
}

static int dw_send(void *ctx, const au_dc_addr *to, const uint8_t *data, size_t len) {
    dw_device *d = ctx;
    if (d->drop > 0 && (double)(dw_rand(d) % 1000000) / 1e6 < d->drop) return 0;
    if (!d->delay_max) return d->posix.send(d->posix.ctx, to, data, len);
    if (d->nq == DW_QUEUE || len > DW_BUF) return 0; /* a full queue drops, like a network */
    dw_pending *p = &d->q[d->nq++];
    p->due = dw_now_ms() + d->delay_min + (uint32_t)(dw_rand(d) % (d->delay_max - d->delay_min + 1));
    p->to = *to;
    p->len = len;
    memcpy(p->bytes, data, len);
    return 0;
}

static int dw_recv(void *ctx, au_dc_addr *from, uint8_t *buf, size_t cap) {
    dw_device *d = ctx;
    return d->posix.recv(d->posix.ctx, from, buf, cap);
}

static uint32_t dw_clock(void *ctx) { (void)ctx; return dw_now_ms(); }

static void dw_on_message(void *user, uint64_t server, uint64_t type, const uint8_t *payload,
                          size_t len) {
    (void)server;
    dw_device *d = user;
    d->messages++;
    d->last_type = type;
    au_dc_cbor_in r = { payload, payload + len, 0 };
    if (au_dc_cbor_get_array(&r) == 1) d->last_value = au_dc_cbor_get_uint(&r, UINT64_MAX);
}

/* Starts device i (id 1000 + i) announcing to the given seeds (server indices). */
static AU_UNUSED_ void dw_device_start(dw_world *w, int i, const int *seeds, int nseeds, uint32_t interval_ms) {
    dw_device *d = &w->d[i];
    memset(d, 0, sizeof *d);
    assert_int_equal(au_dc_posix_open(&d->io, "127.0.0.1", 0), 0);
    d->posix = au_dc_posix_platform(&d->io);
    for (int k = 0; k < nseeds; k++) {
        const char *a = w->s[seeds[k]].addr;
        const char *colon = strrchr(a, ':');
        assert_non_null(colon);
        assert_int_equal(au_dc_posix_addr(&d->seeds[k], "127.0.0.1", (uint16_t)atoi(colon + 1)), 0);
    }
    d->drop = w->faults.drop;
    d->delay_min = (uint32_t)(w->faults.delay_min / 1000000u);
    d->delay_max = (uint32_t)(w->faults.delay_max / 1000000u);
    d->rng = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
    d->cfg = (au_dc_config){ .device = 1000u + (uint64_t)i, .incarnation = au_dc_posix_incarnation(),
                             .interval_ms = interval_ms, .nseeds = (uint8_t)nseeds,
                             .seeds = d->seeds, .rx_buf = d->rx, .rx_cap = sizeof d->rx,
                             .tx_buf = d->tx, .tx_cap = sizeof d->tx,
                             .platform = { .send = dw_send, .recv = dw_recv, .now_ms = dw_clock,
                                           .ctx = d },
                             .on_message = dw_on_message, .user = d };
    assert_int_equal(au_dc_init(&d->dc, &d->cfg), AU_DC_OK);
    d->live = true;
    if (i >= w->nd) w->nd = i + 1;
}

static AU_UNUSED_ void dw_device_kill(dw_world *w, int i) {
    w->d[i].live = false;
    au_dc_posix_close(&w->d[i].io);
}

/* One round of every live device: delayed datagrams that are due, then the client. */
static void dw_pump(dw_world *w) {
    uint32_t now = dw_now_ms();
    for (int i = 0; i < w->nd; i++) {
        dw_device *d = &w->d[i];
        if (!d->live) continue;
        for (size_t k = 0; k < d->nq;) {
            if ((int32_t)(now - d->q[k].due) >= 0) {
                d->posix.send(d->posix.ctx, &d->q[k].to, d->q[k].bytes, d->q[k].len);
                d->q[k] = d->q[--d->nq];
            } else {
                k++;
            }
        }
        au_dc_poll(&d->dc);
    }
}

/* Pumps the devices until pred(w) holds (true) or timeout_ms passes (false). */
static bool dw_wait(dw_world *w, bool (*pred)(dw_world *), uint32_t timeout_ms) {
    uint32_t t0 = dw_now_ms();
    for (;;) {
        dw_pump(w);
        if (pred(w)) return true;
        if (dw_now_ms() - t0 > timeout_ms) return false;
        nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
    }
}

static void dw_server_start(dw_world *w, int i, int seed, const au_device_server_config *dcfg) {
    dw_server *s = &w->s[i];
    memset(s, 0, sizeof *s);
    au_node_config ncfg = w->node_cfg;
    ncfg.driver = &w->drv;
    /* Servers with 1, 2 and 3 shards side by side (unless dcfg says), the sharded ones on two
     * workers, so that shards poll concurrently. */
    au_device_server_config dc = dcfg ? *dcfg : (au_device_server_config){ 0 };
    if (!dc.shards) dc.shards = 1 + (unsigned)i % 3;
    ncfg.workers = dc.shards > 1 ? 2 : 1;
    ncfg.no_spin = true;
    assert_int_equal(au_node_start(&ncfg, &s->node), AU_OK);
    snprintf(s->addr, sizeof s->addr, "%s", au_node_address(s->node));
    if (w->faults.drop > 0 || w->faults.delay_max)
        assert_int_equal(au_faults_set(s->node, NULL, &w->faults), AU_OK);
    au_faults_seed(s->node, 77 + (uint64_t)i);
    const char *seeds[1] = { seed >= 0 ? w->s[seed].addr : NULL };
    assert_int_equal(au_cluster_start(s->node, &(au_cluster_config){
                                          .seeds = seed >= 0 ? seeds : NULL,
                                          .nseeds = seed >= 0 ? 1 : 0, .vnodes = 100,
                                          .num_pings = 20, .ping_timeout = AU_MSEC(200),
                                          .req_tries = 1, .req_timeout = AU_MSEC(200),
                                          .no_leave_on_stop = true }, &s->cluster),
                     AU_OK);
    s->id = au_cluster_id(s->cluster);
    assert_int_equal(au_device_server_start(s->node, s->cluster, &dc, &s->ds), AU_OK);
    s->events = au_probe_new_with(s->node, au_device_event, &(au_probe_opts){ .capacity = 100000 });
    s->messages = au_probe_new(s->node, au_device_message);
    assert_int_equal(au_device_server_subscribe(s->ds, au_probe_lref(s->events, au_device_event)), AU_OK);
    assert_int_equal(au_device_server_receive(s->ds, au_probe_lref(s->messages, au_device_message)), AU_OK);
    s->live = true;
    if (i >= w->ns) w->ns = i + 1;
}

static void dw_server_kill(dw_world *w, int i) {
    dw_server *s = &w->s[i];
    s->live = false;
    au_node_stop(s->node);
    au_probe_free(s->events);
    au_probe_free(s->messages);
    s->node = NULL;
}

static int dw_live_servers(dw_world *w) {
    int n = 0;
    for (int i = 0; i < w->ns; i++) n += w->s[i].live;
    return n;
}

static bool dw_cluster_converged(dw_world *w) {
    int n = dw_live_servers(w);
    for (int i = 0; i < w->ns; i++) {
        if (!w->s[i].live) continue;
        au_cluster_stats st;
        au_cluster_stats_get(w->s[i].cluster, &st);
        if (st.members != (uint64_t)n) return false;
    }
    return true;
}

/* Device i's state: which live server holds it up (-1 none, -2 several). */
static int dw_holder(dw_world *w, int i) {
    int holder = -1;
    for (int k = 0; k < w->ns; k++) {
        if (!w->s[k].live) continue;
        if (au_device_server_state(w->s[k].ds, w->d[i].cfg.device) == AU_DEVICE_UP)
            holder = holder == -1 ? k : -2;
    }
    return holder;
}

/* The seed's device convergence (and the ring's word on it). */
static bool dw_devices_converged(dw_world *w) {
    for (int i = 0; i < w->nd; i++) {
        dw_device *d = &w->d[i];
        int h = dw_holder(w, i);
        if (!d->live) {
            if (h != -1) return false;
            continue;
        }
        if (h < 0 || au_dc_owner(&d->dc) != w->s[h].id) return false;
        for (int k = 0; k < w->ns; k++) {
            if (!w->s[k].live) continue;
            if (au_device_server_owner_of(w->s[k].ds, d->cfg.device) != w->s[h].id) return false;
            if (k != h && au_device_server_polls(w->s[k].ds, d->cfg.device)) return false;
        }
    }
    return true;
}

/* The Devices CRDT: every live server's replica equal, naming each live device's holder (up)
 * and no dead device as up. */
static bool dw_tables_converged(dw_world *w) {
    au_lwwmap *first = NULL;
    bool ok = true;
    for (int k = 0; k < w->ns && ok; k++) {
        if (!w->s[k].live) continue;
        void *snap = NULL;
        if (au_share_snapshot(au_device_server_table(w->s[k].ds), &snap) != AU_OK) return false;
        au_lwwmap *m = snap;
        if (!first) {
            first = m;
            for (int i = 0; i < w->nd && ok; i++) {
                uint8_t key[8];
                for (int b = 0; b < 8; b++) key[b] = (uint8_t)(w->d[i].cfg.device >> (8 * b));
                au_crdt_bytes v;
                au_device_entry e = { 0 };
                bool present = au_lwwmap_get(m, key, sizeof key, &v) &&
                               au_device_entry_decode(v.ptr, v.len, &e);
                int h = dw_holder(w, i);
                if (w->d[i].live) ok = present && h >= 0 && e.owner == w->s[h].id && e.state == AU_DEVICE_UP;
                else ok = !present || e.state == AU_DEVICE_DOWN;
            }
            continue;
        }
        ok = au_lwwmap_equal(first, m);
        au_lwwmap_free(m);
    }
    if (first) au_lwwmap_free(first);
    return ok;
}

static AU_UNUSED_ bool dw_all_converged(dw_world *w) {
    return dw_cluster_converged(w) && dw_devices_converged(w) && dw_tables_converged(w);
}

static bool dw_tables_converged(dw_world *w);

static AU_UNUSED_ void dw_print(dw_world *w, const char *what) {
    fprintf(stderr, "%s: cluster %d devices %d tables %d\n", what, dw_cluster_converged(w),
            dw_devices_converged(w), dw_tables_converged(w));
    for (int k = 0; k < w->ns; k++) {
        if (!w->s[k].live) continue;
        au_cluster_stats cs;
        au_device_server_stats st;
        au_cluster_stats_get(w->s[k].cluster, &cs);
        au_device_server_stats_get(w->s[k].ds, &st);
        fprintf(stderr, "  server %d %s id %016llx members %llu owned %llu standby %llu ups %llu "
                        "downs %llu moves %llu hb %llu req %llu unsolicited %llu not_owned %llu handovers %llu "
                        "forwarded %llu retries %llu announces %llu conflicts %llu stale %llu rate %llu "
                        "invalid %llu\n",
                k, w->s[k].addr, (unsigned long long)w->s[k].id, (unsigned long long)cs.members,
                (unsigned long long)st.owned, (unsigned long long)st.standby,
                (unsigned long long)st.ups, (unsigned long long)st.downs,
                (unsigned long long)st.moves, (unsigned long long)st.heartbeats,
                (unsigned long long)st.requests_sent, (unsigned long long)st.drops_unsolicited,
                (unsigned long long)st.drops_not_owned, (unsigned long long)st.handovers,
                (unsigned long long)st.forwarded, (unsigned long long)st.forward_retries,
                (unsigned long long)st.announces,
                (unsigned long long)st.conflicts, (unsigned long long)st.drops_stale,
                (unsigned long long)st.drops_rate, (unsigned long long)st.drops_invalid);
        au_node_stats ns;
        au_node_stats_get(w->s[k].node, &ns);
        au_faults_stats fs;
        au_faults_stats_get(w->s[k].node, &fs);
        fprintf(stderr, "    node: sent %llu received %llu dup %llu decode %llu unknown_actor %llu "
                        "mailbox %llu send_failed %llu malformed %llu; faults dropped %llu\n",
                (unsigned long long)ns.datagrams_sent, (unsigned long long)ns.datagrams_received,
                (unsigned long long)ns.drops_duplicate, (unsigned long long)ns.drops_decode,
                (unsigned long long)ns.drops_unknown_actor,
                (unsigned long long)ns.drops_mailbox_newest, (unsigned long long)ns.drops_send_failed,
                (unsigned long long)ns.drops_malformed, (unsigned long long)fs.dropped);
    }
    for (int i = 0; i < w->nd; i++)
        fprintf(stderr, "  device %d live %d owner %016llx holder %d announces %u owner_lost %u "
                        "received %u accepted %u drops malformed/integrity/replayed/not_mine "
                        "%u/%u/%u/%u\n", i, w->d[i].live,
                (unsigned long long)au_dc_owner(&w->d[i].dc), dw_holder(w, i),
                w->d[i].dc.stats.announces, w->d[i].dc.stats.owner_lost, w->d[i].dc.stats.received,
                w->d[i].dc.stats.accepted, w->d[i].dc.stats.drop_malformed,
                w->d[i].dc.stats.drop_integrity, w->d[i].dc.stats.drop_replayed,
                w->d[i].dc.stats.drop_not_mine);
}

static void dw_stop(dw_world *w) {
    for (int i = 0; i < w->nd; i++)
        if (w->d[i].live) dw_device_kill(w, i);
    for (int k = 0; k < w->ns; k++)
        if (w->s[k].live) dw_server_kill(w, k);
}

#endif
