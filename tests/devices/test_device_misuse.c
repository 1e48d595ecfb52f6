/* test_device_misuse.c — the device server as an adversarial user meets it, in the
 * deterministic simulator: NULL and absurd arguments and knobs (error codes, never a crash or a
 * hang), subscriber and receiver limits, a second server on one node, the table bounds under an
 * announce flood, hostile announces, hostile messages to the servers' peer endpoint (the node's
 * own messages from the network, forged hand-overs, fields out of range), a deadline beyond 64
 * bits, devices that never answer, downlinks beyond the mtu, and au_node_stop while devices are
 * being polled (run under ASan / valgrind: everything freed). The devices are a small model of the device half of the
 * protocol (one actor on a host node answering every request it gets, as test_device_sim's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <aurum/aurum.h>
#include <aurum/cluster.h>
#include <aurum/crdt_share.h>
#include <aurum/device_server.h>
#include <aurum/layer.h>
#include <aurum/sim.h>
#include <aurum/testkit.h>

enum { NS = 3, ND = 40 };

typedef struct world {
    au_sim *sim;
    au_driver drv;
    au_node *node[NS];
    au_cluster *cl[NS];
    au_device_server *ds[NS];
    char addr[NS][64];
    au_node *host;
    au_device_down_ref fleet;
    int answered;
    uint32_t hb_clock;   /* the clock the model devices' heartbeats carry (0: 1) */
    au_device_request last; /* the last request a model device got */
    uint64_t mute_inc;   /* requests naming this device incarnation go unanswered (0: none) */
} world;

/* ---- the model devices: announce on demand, answer every request ------------------------------ */

typedef struct fleet_state { world *w; } fleet_state;
static void fleet_recv(au_ctx *ctx, fleet_state *self, au_device_down *m) {
    char from[64];
    if (m->tag != au_device_down_request || !au_ctx_origin(ctx, from, sizeof from)) return;
    au_device_request *r = &m->request;
    if (self->w && self->w->mute_inc && r->incarnation == self->w->mute_inc) return;
    au_device_up_ref back =
        au_forge(au_device_up, au_device_up, au_ctx_node(ctx), AU_DEVICE_SERVER_NAME, from);
    au_send(back, ((au_device_up){ .tag = au_device_up_heartbeat,
                                   .heartbeat = { .device = r->device, .incarnation = r->incarnation,
                                                  .request = r->request,
                                                  .clock = self->w && self->w->hb_clock
                                                               ? self->w->hb_clock : 1 } }));
    if (self->w) self->w->answered++, self->w->last = *r;
}
AU_ACTOR(fleet_actor, fleet_state, au_device_down, .recv = fleet_recv);

static void announce(world *w, int server, uint64_t device, uint32_t interval_ms) {
    au_device_up_ref to =
        au_forge(au_device_up, au_device_up, w->host, AU_DEVICE_SERVER_NAME, w->addr[server]);
    au_send(to, ((au_device_up){ .tag = au_device_up_announce,
                                 .announce = { .device = device, .incarnation = 1, .clock = 1,
                                               .interval_ms = interval_ms, .owner = 0,
                                               .max_datagram = 512 } }));
}

static void announce_clock(world *w, int server, uint64_t device, uint64_t inc, uint32_t clock,
                           uint32_t interval_ms) {
    au_device_up_ref to =
        au_forge(au_device_up, au_device_up, w->host, AU_DEVICE_SERVER_NAME, w->addr[server]);
    au_send(to, ((au_device_up){ .tag = au_device_up_announce,
                                 .announce = { .device = device, .incarnation = inc, .clock = clock,
                                               .interval_ms = interval_ms, .owner = 0,
                                               .max_datagram = 512 } }));
}

static void start_world(world *w, uint64_t seed, int ns, const au_device_server_config *cfg) {
    memset(w, 0, sizeof *w);
    assert_int_equal(au_sim_create(&(au_sim_config){ .seed = seed }, &w->sim), AU_OK);
    w->drv = au_sim_driver(w->sim);
    for (int i = 0; i < ns; i++) {
        assert_int_equal(au_node_start(&(au_node_config){ .driver = &w->drv }, &w->node[i]), AU_OK);
        snprintf(w->addr[i], sizeof w->addr[i], "%s", au_node_address(w->node[i]));
        const char *seeds[1] = { w->addr[0] };
        assert_int_equal(au_cluster_start(w->node[i], &(au_cluster_config){ .seeds = i ? seeds : NULL,
                                                                            .nseeds = i ? 1 : 0,
                                                                            .ping_timeout = AU_MSEC(50),
                                                                            .no_leave_on_stop = true },
                                          &w->cl[i]), AU_OK);
        if (cfg) assert_int_equal(au_device_server_start(w->node[i], w->cl[i], cfg, &w->ds[i]), AU_OK);
    }
    assert_int_equal(au_node_start(&(au_node_config){ .driver = &w->drv }, &w->host), AU_OK);
    w->fleet = au_spawn(w->host, fleet_actor, AU_DEVICE_CLIENT_NAME, &(fleet_state){ w });
    assert_false(au_ref_is_null(w->fleet.raw));
    au_sim_run(w->sim, AU_SEC(2)); /* the cluster forms */
}

static void stop_world(world *w) {
    for (int i = 0; i < NS; i++)
        if (w->node[i]) au_node_stop(w->node[i]);
    if (w->host) au_node_stop(w->host);
    au_sim_destroy(w->sim);
}

static int owners(world *w, uint64_t device) {
    int n = 0;
    for (int i = 0; i < NS; i++)
        if (w->ds[i] && au_device_server_polls(w->ds[i], device)) n++;
    return n;
}

/* ---- arguments -------------------------------------------------------------------------------- */

AU_LOCAL_ROOT(ev_msg, (event, au_device_event, AU_LOCAL), (message, au_device_message, AU_LOCAL));
typedef struct sink { int unused; } sink;
static void sink_recv(au_ctx *ctx, sink *self, ev_msg *m) { (void)ctx, (void)self, (void)m; }
AU_ACTOR(sink_actor, sink, ev_msg, .recv = sink_recv);

static void null_and_bad_arguments_get_error_codes(void **st) {
    static world w;
    start_world(&w, 301, 1, NULL);
    au_device_server *ds = NULL;
    char name65[66];
    memset(name65, 'n', 65);
    name65[65] = 0;
    assert_int_equal(au_device_server_start(NULL, w.cl[0], NULL, &ds), AU_EINVAL);
    assert_int_equal(au_device_server_start(w.node[0], NULL, NULL, &ds), AU_EINVAL);
    assert_int_equal(au_device_server_start(w.node[0], w.cl[0], NULL, NULL), AU_EINVAL);
    assert_int_equal(
        au_device_server_start(w.node[0], w.cl[0], &(au_device_server_config){ .name = name65 }, &ds),
        AU_EINVAL);
    assert_int_equal(
        au_device_server_start(w.node[0], w.cl[0], &(au_device_server_config){ .down_after = 1 }, &ds),
        AU_EINVAL);
    assert_int_equal(
        au_device_server_start(w.node[0], w.cl[0], &(au_device_server_config){ .replica_copies = 4 }, &ds),
        AU_EINVAL);
    assert_int_equal(
        au_device_server_start(w.node[0], w.cl[0], &(au_device_server_config){ .shards = 65 }, &ds),
        AU_EINVAL);
    /* another node's cluster: it would poll under that node's id */
    au_node *other;
    au_cluster *other_cl;
    assert_int_equal(au_node_start(&(au_node_config){ .driver = &w.drv }, &other), AU_OK);
    assert_int_equal(au_cluster_start(other, NULL, &other_cl), AU_OK);
    assert_int_equal(au_device_server_start(w.node[0], other_cl, NULL, &ds), AU_EINVAL);
    assert_int_equal(au_device_server_start(other, w.cl[0], NULL, &ds), AU_EINVAL);
    assert_null(ds);
    assert_int_equal(au_device_server_start(w.node[0], w.cl[0], NULL, &ds), AU_OK);
    au_device_server *again = NULL;
    assert_int_not_equal(au_device_server_start(w.node[0], w.cl[0], NULL, &again), AU_OK);
    assert_int_not_equal(
        au_device_server_start(w.node[0], w.cl[0], &(au_device_server_config){ .no_table = true }, &again),
        AU_OK);
    assert_null(again);

    /* calls on NULL and with bad values */
    assert_int_equal(au_device_server_subscribe(NULL, (au_device_event_lref){ 0 }), AU_EINVAL);
    assert_int_equal(au_device_server_subscribe(ds, (au_device_event_lref){ 0 }), AU_EINVAL);
    assert_int_equal(au_device_server_receive(NULL, (au_device_message_lref){ 0 }), AU_EINVAL);
    assert_int_equal(au_device_server_receive(ds, (au_device_message_lref){ 0 }), AU_EINVAL);
    assert_int_equal(au_device_server_send(NULL, 1, 1, "x", 1), AU_EINVAL);
    assert_int_equal(au_device_server_send(ds, 0, 1, "x", 1), AU_EINVAL);
    assert_int_equal(au_device_server_send(ds, 1, 1, NULL, 1), AU_EINVAL);
    assert_int_equal(au_device_server_send(ds, 12345, 1, "x", 1), AU_OK); /* unknown: dropped there */
    /* a payload no datagram can carry (65,507 less the frame's 140) is refused at once, not
     * copied and sent to the owner to be dropped there */
    static uint8_t huge[1 << 20];
    assert_int_equal(au_device_server_send(ds, 12345, 1, huge, 65507 - 140), AU_OK);
    assert_int_equal(au_device_server_send(ds, 12345, 1, huge, 65507 - 140 + 1), AU_ETOOBIG);
    assert_int_equal(au_device_server_send(ds, 12345, 1, huge, sizeof huge), AU_ETOOBIG);
    assert_int_equal(au_device_message_decode_(NULL, NULL, NULL), AU_EINVAL);
    assert_int_equal(au_device_send_(NULL, 1, NULL, NULL), AU_EINVAL);
    assert_int_equal(au_device_server_owner_of(NULL, 1), 0);
    assert_false(au_device_server_polls(NULL, 1));
    assert_int_equal(au_device_server_state(NULL, 1), 0);
    assert_null(au_device_server_table(NULL));
    au_device_server_stats s;
    memset(&s, 0xff, sizeof s);
    au_device_server_stats_get(NULL, &s);
    assert_int_equal(s.owned, 0);
    au_device_server_stats_get(NULL, NULL); /* nowhere to write: nothing written */
    au_device_server_stats_get(ds, NULL);
    au_device_entry e;
    uint8_t bytes[AU_DEVICE_ENTRY_SIZE] = { 0 };
    assert_false(au_device_entry_decode(NULL, AU_DEVICE_ENTRY_SIZE, &e));
    assert_false(au_device_entry_decode(bytes, AU_DEVICE_ENTRY_SIZE - 1, &e));
    assert_false(au_device_entry_decode(bytes, AU_DEVICE_ENTRY_SIZE, NULL));
    /* all zeros (what au_device_entry_encode writes for a NULL entry) and every state byte but
     * up and down are no entry: refused, *out left as it was */
    e = (au_device_entry){ .owner = 42 };
    assert_false(au_device_entry_decode(bytes, AU_DEVICE_ENTRY_SIZE, &e));
    assert_int_equal(e.owner, 42);
    for (unsigned b = 0; b < 256; b++) {
        bytes[20] = (uint8_t)b;
        bool ok = au_device_entry_decode(bytes, AU_DEVICE_ENTRY_SIZE, &e);
        assert_int_equal(ok, b == AU_DEVICE_UP || b == AU_DEVICE_DOWN);
        if (ok) assert_int_equal(e.state, b);
    }
    assert_int_equal(e.owner, 0); /* decoded (the last good one: down) */

    /* at most 16 subscribers and 16 receivers (distinct ones: one given again is there already
     * and takes no second slot) */
    ev_msg_lref l[17], l2[17];
    for (int i = 0; i < 17; i++) l[i] = au_spawn(w.node[0], sink_actor, NULL, NULL);
    for (int i = 0; i < 16; i++) {
        assert_int_equal(au_device_server_subscribe(ds, au_narrow_local(ev_msg, au_device_event, l[i])), AU_OK);
        assert_int_equal(au_device_server_receive(ds, au_narrow_local(ev_msg, au_device_message, l[i])), AU_OK);
    }
    assert_int_equal(au_device_server_subscribe(ds, au_narrow_local(ev_msg, au_device_event, l[16])), AU_EFULL);
    assert_int_equal(au_device_server_receive(ds, au_narrow_local(ev_msg, au_device_message, l[16])), AU_EFULL);
    assert_int_equal(au_device_server_subscribe(ds, au_narrow_local(ev_msg, au_device_event, l[3])), AU_OK);
    assert_int_equal(au_device_server_receive(ds, au_narrow_local(ev_msg, au_device_message, l[3])), AU_OK);
    for (int i = 0; i < 17; i++) au_stop(l[i]); /* stopped subscribers: events to them go nowhere */
    w.ds[0] = ds;
    announce(&w, 0, 77, 100);
    au_sim_run(w.sim, AU_SEC(1));
    assert_true(au_device_server_polls(ds, 77));
    /* the stopped ones' slots are free again: new subscribers and receivers fit (they were
     * refused with AU_EFULL for good once 16 subscribers had come and gone) */
    for (int i = 0; i < 17; i++) l2[i] = au_spawn(w.node[0], sink_actor, NULL, NULL);
    for (int i = 0; i < 16; i++) {
        assert_int_equal(au_device_server_subscribe(ds, au_narrow_local(ev_msg, au_device_event, l2[i])), AU_OK);
        assert_int_equal(au_device_server_receive(ds, au_narrow_local(ev_msg, au_device_message, l2[i])), AU_OK);
    }
    assert_int_equal(au_device_server_subscribe(ds, au_narrow_local(ev_msg, au_device_event, l2[16])), AU_EFULL);
    assert_int_equal(au_device_server_receive(ds, au_narrow_local(ev_msg, au_device_message, l2[16])), AU_EFULL);
    au_node_stop(other);
    stop_world(&w);
}

/* A second device server on a node is refused, whatever its endpoint name; refused many times, it must not use up the
 * node's layer slots (each refusal without the table attached a layer that stayed: after a few,
 * nothing could attach one, a second cluster got AU_EFULL). An empty endpoint name is refused. */
static void a_second_server_refused_many_times_leaves_the_layer_slots_free(void **st) {
    static world w;
    start_world(&w, 309, 1, &(au_device_server_config){ 0 });
    au_device_server *again = NULL;
    for (int i = 0; i < 3 * AU_LAYERS_MAX; i++) {
        assert_int_equal(au_device_server_start(w.node[0], w.cl[0],
                                                &(au_device_server_config){ .no_table = true }, &again),
                         AU_EEXIST);
        assert_null(again);
    }
    assert_int_equal(au_device_server_start(w.node[0], w.cl[0],
                                            &(au_device_server_config){ .name = "", .no_table = true },
                                            &again),
                     AU_EINVAL);
    /* nor under another endpoint name: one device server per node */
    assert_int_equal(au_device_server_start(w.node[0], w.cl[0],
                                            &(au_device_server_config){ .name = "au.devices2",
                                                                        .no_table = true },
                                            &again),
                     AU_EEXIST);
    assert_null(again);
    au_cluster *other = NULL;
    assert_int_equal(au_cluster_start(w.node[0], &(au_cluster_config){ .name = "other" }, &other), AU_OK);
    announce(&w, 0, 78, 100);
    au_sim_run(w.sim, AU_SEC(1));
    assert_true(au_device_server_polls(w.ds[0], 78));
    stop_world(&w);
}

static uint64_t live_actors(au_node *node) {
    au_node_stats st;
    au_node_stats_get(node, &st);
    return st.actors_live;
}

/* Refused starts leave nothing running: a second server of the same name with several shards
 * (its shard actors used to be spawned before the name clash showed, and stayed, each refusal
 * holding a layer slot), and a server on a cluster that has left (AU_ESTOPPED; its actors used
 * to stay until the node stopped, polling for a ring that never came). */
static void refused_starts_leave_no_actor_running(void **st) {
    static world w;
    start_world(&w, 311, 1, &(au_device_server_config){ .no_table = true });
    uint64_t before = live_actors(w.node[0]);
    au_device_server *again = NULL;
    for (int i = 0; i < 2 * AU_LAYERS_MAX; i++) {
        assert_int_equal(au_device_server_start(w.node[0], w.cl[0],
                                                &(au_device_server_config){ .no_table = true,
                                                                            .shards = 4 },
                                                &again),
                         AU_EEXIST);
        assert_null(again);
    }
    au_sim_run(w.sim, AU_MSEC(100));
    assert_int_equal(live_actors(w.node[0]), before);
    /* the node still has layer slots: a second cluster starts */
    au_cluster *other = NULL;
    assert_int_equal(au_cluster_start(w.node[0], &(au_cluster_config){ .name = "other" }, &other), AU_OK);

    /* a node whose cluster has left: the server is refused and nothing of it keeps running */
    au_node *lone = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .driver = &w.drv }, &lone), AU_OK);
    au_cluster *gone = NULL;
    assert_int_equal(au_cluster_start(lone, &(au_cluster_config){ .no_leave_on_stop = true }, &gone), AU_OK);
    au_sim_run(w.sim, AU_MSEC(100));
    assert_int_equal(au_cluster_leave(gone), AU_OK);
    au_sim_run(w.sim, AU_SEC(1));
    uint64_t lone_before = live_actors(lone);
    assert_int_equal(au_device_server_start(lone, gone,
                                            &(au_device_server_config){ .no_table = true, .shards = 3 },
                                            &again),
                     AU_ESTOPPED);
    assert_null(again);
    au_sim_run(w.sim, AU_MSEC(100));
    assert_int_equal(live_actors(lone), lone_before);
    au_node_stop(lone);
    announce(&w, 0, 79, 100); /* the first server still works */
    au_sim_run(w.sim, AU_SEC(1));
    assert_true(au_device_server_polls(w.ds[0], 79));
    stop_world(&w);
}

/* A start refused (here on a cluster that has left) does not count as the node's one server: the
 * node's next cluster gets one. The refused server had stayed listed until the node stopped,
 * so every later start on the node was refused as a second server (AU_EEXIST). */
static void a_refused_start_leaves_room_for_the_nodes_server(void **st) {
    (void)st;
    static world w;
    start_world(&w, 313, 1, NULL);
    au_node *lone = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .driver = &w.drv }, &lone), AU_OK);
    au_cluster *gone = NULL;
    assert_int_equal(au_cluster_start(lone, &(au_cluster_config){ .no_leave_on_stop = true }, &gone), AU_OK);
    au_sim_run(w.sim, AU_MSEC(100));
    assert_int_equal(au_cluster_leave(gone), AU_OK);
    au_sim_run(w.sim, AU_SEC(1));
    au_device_server *ds = NULL;
    assert_int_equal(au_device_server_start(lone, gone, &(au_device_server_config){ .no_table = true }, &ds),
                     AU_ESTOPPED);
    assert_null(ds);
    au_cluster *next = NULL;
    assert_int_equal(au_cluster_start(lone, &(au_cluster_config){ .no_leave_on_stop = true }, &next), AU_OK);
    /* the refused server's actors stop asynchronously: its names may be taken for a moment */
    au_err err = AU_EEXIST;
    for (int i = 0; i < 50 && err == AU_EEXIST; i++) {
        au_sim_run(w.sim, AU_MSEC(100));
        err = au_device_server_start(lone, next, &(au_device_server_config){ .no_table = true }, &ds);
    }
    assert_int_equal(err, AU_OK);
    assert_non_null(ds);
    /* and it serves */
    au_device_up_ref to = au_forge(au_device_up, au_device_up, w.host, AU_DEVICE_SERVER_NAME,
                                   au_node_address(lone));
    au_send(to, ((au_device_up){ .tag = au_device_up_announce,
                                 .announce = { .device = 83, .incarnation = 1, .clock = 1,
                                               .interval_ms = 100, .owner = 0,
                                               .max_datagram = 512 } }));
    au_nanos t0 = au_sim_now(w.sim);
    while (!au_device_server_polls(ds, 83) && au_sim_now(w.sim) - t0 < AU_SEC(5))
        au_sim_run(w.sim, AU_MSEC(50));
    assert_true(au_device_server_polls(ds, 83));
    /* a second one is still refused */
    au_device_server *again = NULL;
    assert_int_equal(au_device_server_start(lone, next, &(au_device_server_config){ .no_table = true,
                                                                                    .name = "other" },
                                            &again),
                     AU_EEXIST);
    (void)au_unforge(to);
    au_node_stop(lone);
    stop_world(&w);
}

/* A server whose min_interval_ms is longer than a device takes (AU_DC_MAX_GRANT_MS: 60 s for
 * one asking for 100 ms) polls it at that, not at its minimum: the device counts a longer grant
 * as that, so it had taken its owner for lost between polls ten minutes apart. */
static void a_minimum_interval_longer_than_a_device_takes_is_capped(void **st) {
    (void)st;
    static world w;
    start_world(&w, 317, 1, &(au_device_server_config){ .no_table = true, .min_interval_ms = 600000 });
    w.answered = 0;
    announce(&w, 0, 97, 100);
    au_nanos t0 = au_sim_now(w.sim);
    while (w.answered == 0 && au_sim_now(w.sim) - t0 < AU_SEC(5)) au_sim_run(w.sim, AU_MSEC(50));
    assert_int_equal(w.answered, 1);
    au_sim_run(w.sim, AU_SEC(200)); /* polled at 60 s, 120 s and 180 s */
    assert_true(w.answered >= 4);
    assert_true(w.answered <= 5);
    assert_true(au_device_server_polls(w.ds[0], 97));
    stop_world(&w);
}

/* A tick below a millisecond is refused: one of a nanosecond was accepted and then polled as
 * fast as the clock allowed, so the simulation never got past the first virtual millisecond
 * (and a real node spun its CPU). The finest allowed tick polls without spinning. */
static void a_tick_below_a_millisecond_is_refused_and_the_finest_does_not_spin(void **st) {
    static world w;
    start_world(&w, 302, 2, NULL);
    au_device_server *ds = NULL;
    assert_int_equal(au_device_server_start(w.node[0], w.cl[0], &(au_device_server_config){ .tick = 1 }, &ds),
                     AU_EINVAL);
    assert_int_equal(
        au_device_server_start(w.node[0], w.cl[0], &(au_device_server_config){ .tick = AU_MSEC(1) - 1 }, &ds),
        AU_EINVAL);
    assert_null(ds);
    for (int i = 0; i < 2; i++)
        assert_int_equal(au_device_server_start(
                             w.node[i], w.cl[i],
                             &(au_device_server_config){ .tick = AU_MSEC(1), .no_table = true }, &w.ds[i]),
                         AU_OK);
    au_sim_run(w.sim, AU_SEC(1));
    announce(&w, 0, 5, 100);
    uint64_t e0 = au_sim_events(w.sim);
    au_sim_run(w.sim, AU_SEC(2));
    uint64_t events = au_sim_events(w.sim) - e0;
    fprintf(stderr, "2 s with a 1 ms tick: %llu events\n", (unsigned long long)events);
    assert_true(events < 200000);
    assert_int_equal(owners(&w, 5), 1);
    stop_world(&w);
}

static void absurd_knobs_neither_hang_nor_crash(void **st) {
    static world w;
    start_world(&w, 303, 2, &(au_device_server_config){ .tick = UINT64_MAX / 2, .forget_after = UINT64_MAX,
                                                        .min_interval_ms = UINT32_MAX,
                                                        .max_devices = UINT32_MAX,
                                                        .new_per_second = UINT32_MAX,
                                                        .down_after = UINT32_MAX });
    announce(&w, 0, 6, 1);
    au_sim_run(w.sim, AU_SEC(3));
    stop_world(&w);
}

/* A large down_after (any is accepted from 2 up) times a long interval a device may ask for
 * (here a day: 100,193,601 ms) is more nanoseconds than 64 bits hold: the down deadline wrapped
 * to 1.4 ms past the last echo, and the device, answering every request, was declared down at
 * once. The span saturates now: the device stays up. */
static void a_down_deadline_beyond_64_bits_does_not_wrap(void **st) {
    static world w;
    start_world(&w, 306, 1, &(au_device_server_config){ .down_after = 184111, .no_table = true });
    announce(&w, 0, 9, 100193601);
    au_sim_run(w.sim, AU_SEC(2));
    assert_true(w.answered >= 1);
    assert_int_equal(au_device_server_state(w.ds[0], 9), AU_DEVICE_UP);
    au_device_server_stats s;
    au_device_server_stats_get(w.ds[0], &s);
    assert_int_equal(s.ups, 1);
    assert_int_equal(s.downs, 0);
    stop_world(&w);
}

/* ---- bounds under hostile announces --------------------------------------------------------- */

static void an_announce_flood_is_bounded_by_the_table_and_the_rate(void **st) {
    static world w;
    start_world(&w, 304, 1,
                &(au_device_server_config){ .max_devices = 10, .new_per_second = 1000, .no_table = true,
                                            .shards = 4 }); /* both bounds are the node's */
    for (uint64_t d = 1; d <= 500; d++) announce(&w, 0, d, 1000);
    /* and announces that are not valid at all */
    announce(&w, 0, 0, 1000);  /* device 0 */
    announce(&w, 0, 9999, 0);  /* interval 0 */
    au_sim_run(w.sim, AU_SEC(1));
    au_device_server_stats s;
    au_device_server_stats_get(w.ds[0], &s);
    assert_int_equal(s.owned + s.standby, 10);
    assert_true(s.drops_table_full >= 490);
    assert_true(s.drops_invalid >= 2);
    stop_world(&w);

    start_world(&w, 305, 1, &(au_device_server_config){ .new_per_second = 20, .no_table = true,
                                                         .shards = 4 });
    for (uint64_t d = 1; d <= 500; d++) announce(&w, 0, d, 1000);
    au_sim_run(w.sim, AU_MSEC(500));
    au_device_server_stats_get(w.ds[0], &s);
    assert_true(s.owned <= 40); /* one second's burst, plus what the bucket refilled */
    assert_true(s.drops_rate >= 400);
    stop_world(&w);
}

/* Devices that lie: absurd announce fields, heartbeats and data for devices nobody owns or for
 * past incarnations, forged conflict reports naming made-up owners, a device that re-announces
 * with a new incarnation thousands of times. Each is counted or taken in stride; the table holds
 * one record per device id; an honest device among them is polled and up, and stays owned by
 * exactly one node. */
static void lying_devices_are_counted_and_do_not_disturb_an_honest_one(void **st) {
    static world w;
    start_world(&w, 310, NS, &(au_device_server_config){ .no_table = true });
    au_device_up_ref to =
        au_forge(au_device_up, au_device_up, w.host, AU_DEVICE_SERVER_NAME, w.addr[0]);
    /* absurd announces: every field at its edge */
    au_send(to, ((au_device_up){ .tag = au_device_up_announce,
                                 .announce = { .device = 100, .incarnation = UINT64_MAX, .clock = UINT32_MAX,
                                               .interval_ms = UINT32_MAX, .owner = UINT64_MAX,
                                               .max_datagram = 0 } }));
    au_send(to, ((au_device_up){ .tag = au_device_up_announce,
                                 .announce = { .device = 101, .incarnation = 0, .clock = 0,
                                               .interval_ms = 1, .owner = 12345, .max_datagram = 1 } }));
    /* one device re-announcing with ever newer incarnations */
    for (uint64_t inc = 1; inc <= 2000; inc++)
        au_send(to, ((au_device_up){ .tag = au_device_up_announce,
                                     .announce = { .device = 102, .incarnation = inc, .clock = 1,
                                                   .interval_ms = 50, .max_datagram = 512 } }));
    /* heartbeats, data and conflicts nobody asked for */
    static uint8_t blob[60000];
    for (uint64_t d = 1000; d < 1200; d++) {
        au_send(to, ((au_device_up){ .tag = au_device_up_heartbeat,
                                     .heartbeat = { .device = d, .incarnation = 1, .request = d, .clock = 1 } }));
        au_send(to, ((au_device_up){ .tag = au_device_up_conflict,
                                     .conflict = { .device = d, .incarnation = 1, .owner = d * 7,
                                                   .other = UINT64_MAX } }));
    }
    au_send(to, ((au_device_up){ .tag = au_device_up_data,
                                 .data = { .device = 1000, .incarnation = 1, .type = 9,
                                           .payload = { blob, sizeof blob, 0 } } }));
    announce(&w, 1, 77, 100); /* the honest one */
    au_sim_run(w.sim, AU_SEC(3));
    /* a conflict report for the honest device naming made-up servers, and a heartbeat echoing
     * a request number it was never sent */
    au_send(to, ((au_device_up){ .tag = au_device_up_conflict,
                                 .conflict = { .device = 77, .incarnation = 1, .owner = 1, .other = 2 } }));
    au_send(to, ((au_device_up){ .tag = au_device_up_heartbeat,
                                 .heartbeat = { .device = 77, .incarnation = 1, .request = UINT64_MAX,
                                                .clock = 1 } }));
    au_sim_run(w.sim, AU_SEC(3));
    assert_int_equal(owners(&w, 77), 1);
    uint64_t owned = 0, standby = 0, drops = 0;
    int up77 = 0;
    for (int i = 0; i < NS; i++) {
        au_device_server_stats s;
        au_device_server_stats_get(w.ds[i], &s);
        owned += s.owned;
        standby += s.standby;
        drops += s.drops_unsolicited + s.drops_not_owned + s.drops_stale + s.drops_invalid;
        if (au_device_server_state(w.ds[i], 77) == AU_DEVICE_UP) up77++;
    }
    assert_int_equal(up77, 1);
    assert_true(owned <= 4);            /* 100, 101, 102, 77 at most: one record per id */
    assert_true(standby <= 4 * 3);
    assert_true(drops >= 200);          /* the unsolicited heartbeats at least */
    assert_true(w.answered > 0);
    stop_world(&w);
}

/* Plain: announces naming the device's incarnation with a forged interval clock. 2^32 - 1 (and
 * a short interval) used to be taken, and no announce of the device's could beat it again: the
 * server polled at the forger's interval for the rest of the device's run. Now clocks compare
 * by difference (2^32 - 1 is just behind 1), a clock more than AU_DC_CLOCK_WINDOW from the
 * record's is dropped, counted and logged, and one within it is taken, but the
 * device's heartbeats carry its own clock and the record goes back behind it, so the device's
 * next announce wins. A device that really is that far ahead gets there the same way, and a
 * device that rebooted (a new incarnation, its clock at 1 again) is taken at once. */
static void a_forged_interval_clock_does_not_pin_the_devices_interval(void **st) {
    (void)st;
    static world w;
    start_world(&w, 320, NS, &(au_device_server_config){ .no_table = true });
    const uint64_t dev = 88;
    announce_clock(&w, 0, dev, 1, 1, 100);
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(owners(&w, dev), 1);
    assert_int_equal(w.last.interval_ms, 100);
    /* 20 ms at 2^32 - 1 (2 behind 1, now: an older announce, reordered) and at 2^30 (far
     * ahead: dropped), to every server */
    for (int i = 0; i < NS; i++) {
        announce_clock(&w, i, dev, 1, UINT32_MAX, 20);
        announce_clock(&w, i, dev, 1, 1u << 30, 20);
    }
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(w.last.interval_ms, 100);
    assert_int_equal(w.last.clock, 1);
    uint64_t far = 0;
    for (int i = 0; i < NS; i++) {
        au_device_server_stats s;
        au_device_server_stats_get(w.ds[i], &s);
        far += s.drops_clock_far;
    }
    assert_true(far >= 1);
    /* Within the window (clock 6, 20 ms): taken, until the device's heartbeats (clock 1) put
     * the record behind it; the device then announces its own and is polled at it again. */
    announce_clock(&w, 0, dev, 1, 6, 20);
    au_sim_run(w.sim, AU_MSEC(500));
    assert_int_equal(w.last.clock, 0);
    announce_clock(&w, 0, dev, 1, 1, 100);
    au_sim_run(w.sim, AU_MSEC(500));
    assert_int_equal(w.last.interval_ms, 100);
    assert_int_equal(w.last.clock, 1);
    /* A device really far ahead (70,000 interval changes whose announces were all lost): its
     * announce is dropped, its heartbeats move the record, and its next announce is taken. */
    w.hb_clock = 70001;
    announce_clock(&w, 0, dev, 1, 70001, 120);
    au_sim_run(w.sim, AU_MSEC(500));
    assert_int_equal(w.last.interval_ms, 100);
    assert_int_equal(w.last.clock, 70000);
    announce_clock(&w, 0, dev, 1, 70001, 120);
    au_sim_run(w.sim, AU_MSEC(500));
    assert_int_equal(w.last.interval_ms, 120);
    assert_int_equal(w.last.clock, 70001);
    /* The device reboots: a new incarnation, its clock at 1 again. */
    w.hb_clock = 1;
    announce_clock(&w, 0, dev, 2, 1, 150);
    au_sim_run(w.sim, AU_MSEC(500));
    assert_true(w.last.incarnation == 2);
    assert_int_equal(w.last.interval_ms, 150);
    assert_int_equal(w.last.clock, 1);
    assert_int_equal(owners(&w, dev), 1);
    stop_world(&w);
}

static uint64_t sum_stat(world *w, size_t offset) {
    uint64_t n = 0;
    for (int i = 0; i < NS; i++) {
        au_device_server_stats s;
        au_device_server_stats_get(w->ds[i], &s);
        n += *(const uint64_t *)(const void *)((const char *)&s + offset);
    }
    return n;
}
#define SUM(w, field) sum_stat((w), offsetof(au_device_server_stats, field))

static int up_count(world *w, uint64_t device) {
    int n = 0;
    for (int i = 0; i < NS; i++)
        if (au_device_server_state(w->ds[i], device) == AU_DEVICE_UP) n++;
    return n;
}

/* Plain: an announce naming a higher device incarnation, from another address. It used to
 * replace the owner's record: the owner polled the forger's address at the forged incarnation,
 * refused the device's own announces as stale, and the device was declared down and only taken
 * back once the forged record was forgotten (forget_after, 60 s here, per forged datagram). Now
 * it is a claim: the owner probes the claimed address at the claimed incarnation (no answer
 * from a forger) and keeps polling the device's run, which answers. A real reboot (a new
 * incarnation answering the probe from its address) is taken within a round trip; one whose
 * probe goes unanswered, once the run polled has been silent for down_after intervals. */
static void a_forged_device_incarnation_does_not_replace_the_live_run(void **st) {
    (void)st;
    static world w;
    start_world(&w, 330, NS, &(au_device_server_config){ .no_table = true });
    au_node *forger;
    assert_int_equal(au_node_start(&(au_node_config){ .driver = &w.drv }, &forger), AU_OK);
    const uint64_t dev = 91;
    announce_clock(&w, 0, dev, 5, 1, 100);
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(owners(&w, dev), 1);
    assert_int_equal(up_count(&w, dev), 1);
    assert_true(w.last.incarnation == 5);
    /* the forger names incarnations 2^64 - 1 and 6 for it, to every server, every 50 ms for
     * 3 s: 30 intervals of the device's, ten times as long as a down takes */
    for (int k = 0; k < 60; k++) {
        for (int i = 0; i < NS; i++) {
            au_device_up_ref to =
                au_forge(au_device_up, au_device_up, forger, AU_DEVICE_SERVER_NAME, w.addr[i]);
            uint64_t inc = k % 2 ? 6 : UINT64_MAX;
            au_send(to, ((au_device_up){ .tag = au_device_up_announce,
                                         .announce = { .device = dev, .incarnation = inc,
                                                       .clock = 1, .interval_ms = 20,
                                                       .max_datagram = 512 } }));
        }
        au_sim_run(w.sim, AU_MSEC(50));
    }
    int answered = w.answered;
    announce_clock(&w, 1, dev, 5, 1, 100); /* the device's own announce is not refused */
    au_sim_run(w.sim, AU_SEC(1));
    assert_true(w.answered >= answered + 8); /* still polled (failed before the fix) */
    assert_true(w.last.incarnation == 5);
    assert_int_equal(w.last.interval_ms, 100);
    assert_int_equal(up_count(&w, dev), 1);
    assert_int_equal(owners(&w, dev), 1);
    assert_true(SUM(&w, claims) >= 30);
    assert_true(SUM(&w, claims_taken) == 0);
    assert_true(SUM(&w, downs) == 0);
    /* The device reboots (incarnation 7, above the claim 6 held): its announce is a claim too,
     * but it answers the probe, and is polled at 7 within a round trip of the simulator. */
    announce_clock(&w, 0, dev, 7, 1, 100);
    au_sim_run(w.sim, AU_MSEC(60));
    assert_true(w.last.incarnation == 7);
    assert_true(SUM(&w, claims_taken) == 1);
    au_sim_run(w.sim, AU_MSEC(500));
    assert_int_equal(up_count(&w, dev), 1);
    /* A reboot whose probe is never answered (here: announced from an address that does not
     * answer, while incarnation 7 falls silent): taken once 7 has been silent for down_after
     * (3) intervals, 300 ms, and not before; no down is declared for the run left. */
    w.mute_inc = 7;
    au_sim_run(w.sim, AU_MSEC(150)); /* 7's last echo was at most one interval ago */
    au_device_up_ref to =
        au_forge(au_device_up, au_device_up, forger, AU_DEVICE_SERVER_NAME, w.addr[0]);
    au_send(to, ((au_device_up){ .tag = au_device_up_announce,
                                 .announce = { .device = dev, .incarnation = 9, .clock = 1,
                                               .interval_ms = 100, .max_datagram = 512 } }));
    au_sim_run(w.sim, AU_MSEC(40));
    assert_true(SUM(&w, claims_taken) == 1); /* 7 answered 150 ms ago at most: still live */
    au_sim_run(w.sim, AU_MSEC(300));
    assert_true(SUM(&w, claims_taken) == 2); /* bounded by 7's silence: at most 300 ms */
    assert_true(SUM(&w, downs) == 0);
    au_node_stop(forger);
    stop_world(&w);
}

/* An announce from an address where no device answers (plain: a spoofed source address, or a
 * forged peer record naming any address) made the owner poll that address for forget_after:
 * about 24 requests until the down deadline (a request, a retry after a quarter interval, then
 * one every eighth), then one per interval for 60 s, 600 requests per announce at 100 ms (6,000
 * at the 10 ms minimum), to an address that never asked for them. A device that never answered
 * is forgotten at its down deadline now (forgotten_silent): it announces again if it is there.
 * A device that did answer, and then fell silent, is still polled until forget_after. */
static void a_device_that_never_answers_is_forgotten_at_its_down_deadline(void **st) {
    static world w;
    start_world(&w, 307, 1, &(au_device_server_config){ .no_table = true });
    w.mute_inc = 9;
    announce_clock(&w, 0, 5, 9, 1, 100); /* never answered */
    announce(&w, 0, 6, 100);              /* answers, then falls silent */
    au_sim_run(w.sim, AU_SEC(1));
    assert_false(au_device_server_polls(w.ds[0], 5));
    assert_int_equal(au_device_server_state(w.ds[0], 6), AU_DEVICE_UP);
    au_device_server_stats s0, s1;
    au_device_server_stats_get(w.ds[0], &s0);
    assert_int_equal(s0.forgotten_silent, 1);
    assert_int_equal(s0.downs, 0);
    assert_int_equal(s0.owned, 1);
    w.mute_inc = 1; /* device 6 falls silent: down, and polled until forget_after */
    au_sim_run(w.sim, AU_SEC(5));
    assert_int_equal(au_device_server_state(w.ds[0], 6), AU_DEVICE_DOWN);
    au_device_server_stats_get(w.ds[0], &s1);
    assert_int_equal(s1.downs, 1);
    assert_int_equal(s1.forgotten_silent, 1);
    assert_true(au_device_server_polls(w.ds[0], 6));
    fprintf(stderr, "  requests in 1 s: %llu (2 devices), in the next 5 s: %llu (1 device)\n",
            (unsigned long long)s0.requests_sent,
            (unsigned long long)(s1.requests_sent - s0.requests_sent));
    assert_true(s0.requests_sent <= 40);
    stop_world(&w);
}

/* A device may announce a max_datagram larger than the owner node's mtu (its receive buffer is
 * its own business); a downlink message within max_datagram but not within the mtu was sent,
 * counted in messages_out, and went out as fragments, which a device refuses (it has no memory
 * for reassembly: drop_malformed), so it was lost without a count on the server. It is dropped
 * and counted there now (drops_too_big), as one larger than max_datagram is. */
static void a_downlink_beyond_the_nodes_mtu_is_dropped_and_counted(void **st) {
    static world w;
    start_world(&w, 308, 1, &(au_device_server_config){ .no_table = true });
    au_device_up_ref to = au_forge(au_device_up, au_device_up, w.host, AU_DEVICE_SERVER_NAME, w.addr[0]);
    au_send(to, ((au_device_up){ .tag = au_device_up_announce,
                                 .announce = { .device = 12, .incarnation = 1, .clock = 1,
                                               .interval_ms = 100, .max_datagram = 60000 } }));
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(au_device_server_state(w.ds[0], 12), AU_DEVICE_UP);
    static uint8_t big[1400]; /* within 60,000, not within the default mtu (1400) with the frame */
    static uint8_t small[1400 - 140];
    assert_int_equal(au_device_server_send(w.ds[0], 12, 7, big, sizeof big), AU_OK);
    assert_int_equal(au_device_server_send(w.ds[0], 12, 7, small, sizeof small), AU_OK);
    au_sim_run(w.sim, AU_MSEC(200));
    au_device_server_stats s;
    au_device_server_stats_get(w.ds[0], &s);
    assert_int_equal(s.drops_too_big, 1);
    assert_int_equal(s.messages_out, 1);
    stop_world(&w);
}

/* ---- hostile messages to the servers' peer endpoint ------------------------------------------ */

/* The servers' own protocol, as src/devices/server/server.c declares it (a copy: the same schema
 * text gives the same type id; the counts asserted below prove the forged messages arrive). */
AU_RECORD(ds_record, (int32_t, why), (int32_t, hops), (uint64_t, device), (uint64_t, incarnation),
          (uint32_t, clock), (uint32_t, interval_ms), (uint32_t, max_datagram), (au_str, address),
          (uint64_t, from), (int32_t, up), (uint64_t, claim_incarnation), (uint32_t, claim_clock),
          (uint32_t, claim_interval_ms), (uint32_t, claim_max_datagram), (au_str, claim_address));
AU_RECORD(ds_uplink, (au_str, from), (au_device_up, up));
AU_RECORD(ds_send, (uint64_t, device), (uint64_t, type), (au_bytes, payload), (int32_t, hops));
AU_ROOT(ds_msg, (uplink, ds_uplink, AU_PLAIN), (record, ds_record, AU_PLAIN),
        (send, ds_send, AU_PLAIN), (message, au_device_message, AU_PLAIN),
        (tick, au_unit, AU_PLAIN), (update, au_cluster_update, AU_REMOTE),
        (ring, au_unit, AU_PLAIN));

/* The peer endpoint ("au.devices.peer") takes the servers' records, sends and messages from the
 * network; its other messages are the node's own (the cluster's ring updates, the endpoint's
 * uplinks, the polling timer's ticks) and come only from the node itself. From the network
 * (plain: from anyone who knows a server's address) a forged ring update naming one made-up
 * member made the server hand every device it polled to that address, until its next real ring
 * change; every forged tick started one more polling timer for good (1,000 of them: 1,000 ticks
 * per tick period, never stopping); a forged uplink named any source address it liked. Each is
 * dropped now, counted (drops_invalid) and logged. */
static void the_nodes_own_messages_are_refused_from_the_network(void **st) {
    static world w;
    start_world(&w, 321, NS, &(au_device_server_config){ .no_table = true, .shards = 2 });
    announce(&w, 0, 77, 100);
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(owners(&w, 77), 1);
    int k = 0;
    while (!au_device_server_polls(w.ds[k], 77)) k++;
    au_device_server_stats s0, s1;
    au_device_server_stats_get(w.ds[k], &s0);
    ds_msg_ref peer = au_forge(ds_msg, ds_msg, w.host, AU_DEVICE_SERVER_NAME ".peer", w.addr[k]);
    assert_false(au_ref_is_null(peer.raw));
    /* a ring of one made-up member */
    au_cluster_member fake = { au_str_view("10.9.9.9:9"), 0xbadull, 100 };
    au_ring *ring = au_ring_build(&fake, 1, 3);
    assert_non_null(ring);
    au_send(peer, ((ds_msg){ .tag = ds_msg_update, .update = { .ring = { ring } } }));
    /* ticks, ring notices, and an uplink from an address of the forger's choice */
    enum { TICKS = 1000 };
    for (int i = 0; i < TICKS; i++) au_send(peer, ((ds_msg){ .tag = ds_msg_tick }));
    au_send(peer, ((ds_msg){ .tag = ds_msg_ring }));
    au_send(peer, ((ds_msg){ .tag = ds_msg_uplink,
                             .uplink = { .from = au_str_dup("10.9.9.9:9", 10),
                                         .up = { .tag = au_device_up_announce,
                                                 .announce = { .device = 78, .incarnation = 1,
                                                               .clock = 1, .interval_ms = 100,
                                                               .max_datagram = 512 } } } }));
    au_sim_run(w.sim, AU_MSEC(500));
    uint64_t e0 = au_sim_events(w.sim);
    au_sim_run(w.sim, AU_SEC(1));
    uint64_t events = au_sim_events(w.sim) - e0;
    au_device_server_stats_get(w.ds[k], &s1);
    fprintf(stderr, "  after the forged messages: %llu events in 1 s, drops_invalid +%llu\n",
            (unsigned long long)events, (unsigned long long)(s1.drops_invalid - s0.drops_invalid));
    assert_true(au_device_server_polls(w.ds[k], 77));
    assert_int_equal(au_device_server_owner_of(w.ds[k], 77), au_cluster_id(w.cl[k]));
    assert_int_equal(s1.handovers, s0.handovers);
    assert_false(au_device_server_polls(w.ds[k], 78));
    assert_int_equal(s1.drops_invalid - s0.drops_invalid, TICKS + 3);
    assert_true(events < 5000); /* the extra timers: 8,515 events (2,683 without them) */
    assert_int_equal(owners(&w, 77), 1);
    stop_world(&w);
}

/* Requests reaching a node that is no device: counted, never answered. */
static int victim_requests;
typedef struct victim_state { int unused; } victim_state;
static void victim_recv(au_ctx *ctx, victim_state *self, au_device_down *m) {
    (void)ctx, (void)self;
    if (m->tag == au_device_down_request) victim_requests++;
}
AU_ACTOR(victim_actor, victim_state, au_device_down, .recv = victim_recv);

/* Plain: a claim whose run polled keeps answering is false (a forger's, or a second device with
 * the same id): it stood for as long as the run answered, and its probe went with every poll,
 * to an address of the claimant's choosing — an announce's own source address, but a forged
 * hand-over (a claim too) names any: one forged record had the owner send a request to that
 * address every interval for good. A claim not taken within down_after intervals (as long as
 * the run polled may be silent before it gives way) is dropped now. */
static void a_claim_the_live_run_outlasts_is_dropped(void **st) {
    (void)st;
    static world w;
    start_world(&w, 324, NS, &(au_device_server_config){ .no_table = true });
    const uint64_t dev = 94;
    announce_clock(&w, 0, dev, 5, 1, 100);
    au_sim_run(w.sim, AU_SEC(1));
    int k = 0;
    while (!au_device_server_polls(w.ds[k], dev)) k++;
    au_node *victim, *forger;
    assert_int_equal(au_node_start(&(au_node_config){ .driver = &w.drv }, &victim), AU_OK);
    assert_int_equal(au_node_start(&(au_node_config){ .driver = &w.drv }, &forger), AU_OK);
    assert_false(au_ref_is_null(au_spawn(victim, victim_actor, AU_DEVICE_CLIENT_NAME, NULL).raw));
    victim_requests = 0;
    ds_msg_ref peer = au_forge(ds_msg, ds_msg, forger, AU_DEVICE_SERVER_NAME ".peer", w.addr[k]);
    const char *at = au_node_address(victim);
    au_send(peer, ((ds_msg){ .tag = ds_msg_record,
                             .record = { .why = 1 /* WHY_HANDOVER */, .device = dev,
                                         .incarnation = 6, .clock = 1, .interval_ms = 100,
                                         .max_datagram = 512, .address = au_str_dup(at, strlen(at)),
                                         .from = 12345, .up = 1 } }));
    au_sim_run(w.sim, AU_SEC(5)); /* 50 intervals of the device's */
    fprintf(stderr, "  requests to the claimed address in 5 s: %d\n", victim_requests);
    assert_true(SUM(&w, claims) == 1);
    assert_true(victim_requests >= 1);  /* probed */
    assert_true(victim_requests <= 8);  /* for down_after intervals, not for good */
    assert_true(SUM(&w, claims_taken) == 0);
    assert_int_equal(up_count(&w, dev), 1);
    assert_true(w.last.incarnation == 5);
    au_node_stop(victim);
    au_node_stop(forger);
    stop_world(&w);
}

/* Peer records and sends whose fields are out of range: a negative hop count (it bounds how often
 * a record or a send is passed on between nodes whose views differ: -2^31 was let through as
 * "fewer than 2"), a reason or a state that is none, a sender that is the receiver itself.
 * Dropped and counted (drops_invalid). */
static void peer_messages_out_of_range_are_dropped_and_counted(void **st) {
    (void)st;
    static world w;
    start_world(&w, 323, NS, &(au_device_server_config){ .no_table = true });
    au_device_server_stats s0, s1;
    au_device_server_stats_get(w.ds[0], &s0);
    ds_msg_ref peer = au_forge(ds_msg, ds_msg, w.host, AU_DEVICE_SERVER_NAME ".peer", w.addr[0]);
    const char *at = au_node_address(w.host);
    struct { int32_t why, hops, up; } bad[] = { { 0, INT32_MIN, 0 }, { 0, -1, 0 }, { 1, -5, 1 },
                                                { 7, 0, 0 }, { -1, 0, 0 }, { 2, 0, 3 },
                                                { 1, 0, -1 } };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        au_send(peer, ((ds_msg){ .tag = ds_msg_record,
                                 .record = { .why = bad[i].why, .hops = bad[i].hops,
                                             .device = 200 + i, .incarnation = 1, .clock = 1,
                                             .interval_ms = 100, .max_datagram = 512,
                                             .address = au_str_dup(at, strlen(at)), .from = 1,
                                             .up = bad[i].up } }));
    au_send(peer, ((ds_msg){ .tag = ds_msg_send,
                             .send = { .device = 300, .type = 1, .hops = INT32_MIN,
                                       .payload = au_bytes_dup("x", 1) } }));
    /* forwarded announces naming server 0 itself as the node that took them (it sends itself
     * none): it kept them for re-sending, as its own, filling the 1,024 kept for real ones */
    enum { SELF = 50 };
    uint64_t self = au_cluster_id(w.cl[0]);
    for (uint64_t d = 400; d < 400 + SELF; d++)
        au_send(peer, ((ds_msg){ .tag = ds_msg_record,
                                 .record = { .why = 0, .hops = 0, .device = d, .incarnation = 1,
                                             .clock = 1, .interval_ms = 100, .max_datagram = 512,
                                             .address = au_str_dup(at, strlen(at)), .from = self } }));
    au_sim_run(w.sim, AU_MSEC(500));
    au_device_server_stats_get(w.ds[0], &s1);
    assert_int_equal(s1.drops_invalid - s0.drops_invalid, sizeof bad / sizeof bad[0] + 1 + SELF);
    assert_int_equal(s1.forwarded, s0.forwarded);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) assert_int_equal(owners(&w, 200 + i), 0);
    stop_world(&w);
}

/* Plain: a hand-over record naming a higher incarnation of a device the receiver polls, live,
 * sent to its peer endpoint by a forger (plain: anyone). The claim rule (§4.3) held only for
 * forwarded announces: the hand-over replaced the record's incarnation and address at once, and
 * the owner polled the forger's address, the device's own announces refused as stale. A
 * hand-over of another incarnation than the live one polled is a claim now, as an announce is:
 * probed, and the device's run, which answers, kept. (A hand-over also carries sequence
 * numbers of none of this: records, not datagrams, are what the peer endpoint takes.) */
static void a_forged_hand_over_does_not_replace_the_live_run(void **st) {
    (void)st;
    static world w;
    start_world(&w, 322, NS, &(au_device_server_config){ .no_table = true });
    const uint64_t dev = 93;
    announce_clock(&w, 0, dev, 5, 1, 100);
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(owners(&w, dev), 1);
    int k = 0;
    while (!au_device_server_polls(w.ds[k], dev)) k++;
    au_node *forger;
    assert_int_equal(au_node_start(&(au_node_config){ .driver = &w.drv }, &forger), AU_OK);
    ds_msg_ref peer = au_forge(ds_msg, ds_msg, forger, AU_DEVICE_SERVER_NAME ".peer", w.addr[k]);
    const char *at = au_node_address(forger);
    for (int i = 0; i < 20; i++) {
        au_send(peer, ((ds_msg){ .tag = ds_msg_record,
                                 .record = { .why = 1 /* WHY_HANDOVER */, .device = dev,
                                             .incarnation = UINT64_MAX - (uint64_t)i % 2,
                                             .clock = 1, .interval_ms = 20, .max_datagram = 512,
                                             .address = au_str_dup(at, strlen(at)),
                                             .from = 12345, .up = 1 } }));
        au_sim_run(w.sim, AU_MSEC(50));
    }
    int answered = w.answered;
    announce_clock(&w, k, dev, 5, 1, 100);
    au_sim_run(w.sim, AU_SEC(1));
    assert_true(w.answered >= answered + 8); /* still polled at its own run */
    assert_true(w.last.incarnation == 5);
    assert_int_equal(up_count(&w, dev), 1);
    assert_true(SUM(&w, claims) >= 20); /* proves the forged records arrived */
    assert_true(SUM(&w, claims_taken) == 0);
    assert_true(SUM(&w, downs) == 0);
    au_node_stop(forger);
    stop_world(&w);
}

/* The server's actors have known names ("au.devices", "au.devices.peer"): without a cluster
 * key one forged Term to either stopped it, and the devices it polled were polled by no one
 * (its members still saw the node in the ring). They take Term from their own node only
 * (AU_TERM_LOCAL): the remote ones are refused and counted, and the server goes on polling and
 * taking announces. */
static void a_forged_term_to_a_servers_actors_stops_nothing(void **st) {
    static world w;
    start_world(&w, 322, NS, &(au_device_server_config){ .no_table = true, .shards = 2 });
    announce(&w, 0, 77, 100);
    au_sim_run(w.sim, AU_SEC(1));
    assert_int_equal(owners(&w, 77), 1);
    int k = 0;
    while (!au_device_server_polls(w.ds[k], 77)) k++;
    ds_msg_ref peer = au_forge(ds_msg, ds_msg, w.host, AU_DEVICE_SERVER_NAME ".peer", w.addr[k]);
    au_device_up_ref ep = au_forge(au_device_up, au_device_up, w.host, AU_DEVICE_SERVER_NAME,
                                   w.addr[k]);
    assert_false(au_ref_is_null(peer.raw));
    assert_false(au_ref_is_null(ep.raw));
    assert_int_equal(au_stop(peer), AU_OK);
    assert_int_equal(au_stop(ep), AU_OK);
    au_sim_run(w.sim, AU_SEC(1));
    au_node_stats ns;
    au_node_stats_get(w.node[k], &ns);
    assert_true(ns.drops_term_refused >= 2);
    au_device_server_stats s0, s1;
    au_device_server_stats_get(w.ds[k], &s0);
    announce(&w, 0, 79, 100); /* a new device is taken */
    au_sim_run(w.sim, AU_SEC(1));
    au_device_server_stats_get(w.ds[k], &s1);
    assert_true(s1.requests_sent > s0.requests_sent); /* the server still polls */
    assert_int_equal(owners(&w, 79), 1);
    au_unforge(peer);
    au_unforge(ep);
    stop_world(&w);
}

/* ---- stopping while devices are polled -------------------------------------------------------- */

static void stopping_servers_while_polling_frees_everything(void **st) {
    static world w;
    start_world(&w, 306, NS, &(au_device_server_config){ 0 });
    for (uint64_t d = 1; d <= ND; d++) announce(&w, (int)(d % NS), d, 50);
    au_sim_run(w.sim, AU_SEC(2));
    int owned = 0;
    for (uint64_t d = 1; d <= ND; d++) owned += owners(&w, d) == 1;
    assert_int_equal(owned, ND);
    assert_true(w.answered > 0);
    /* one server stops with requests, hand-overs and table deltas in flight; then the rest */
    au_node_stop(w.node[1]), w.node[1] = NULL, w.ds[1] = NULL;
    au_sim_run(w.sim, AU_MSEC(7));
    stop_world(&w);
}

/* Real UDP on 127.0.0.1 port 0, real threads: three nodes with a cluster, a shared counter and
 * a device server each, stopped while the joins, the counter's dispersal and the polling of
 * devices (announced from a fourth node) are all under way: at once, and after 50 ms. */
static void stopping_real_nodes_with_every_layer_busy_frees_everything(void **st) {
    for (int round = 0; round < 2; round++) {
        au_node *n[4] = { 0 };
        au_cluster *c[3];
        au_share *sh[3];
        au_device_server *ds[3];
        char addr[3][64];
        for (int i = 0; i < 4; i++)
            assert_int_equal(
                au_node_start(&(au_node_config){ .bind = "127.0.0.1:0", .workers = 1, .no_spin = true },
                              &n[i]),
                AU_OK);
        for (int i = 0; i < 3; i++) snprintf(addr[i], sizeof addr[i], "%s", au_node_address(n[i]));
        const char *seeds[] = { addr[0], addr[1] };
        for (int i = 0; i < 3; i++) {
            assert_int_equal(
                au_cluster_start(
                    n[i], &(au_cluster_config){ .seeds = seeds, .nseeds = 2, .ping_timeout = AU_MSEC(20) },
                    &c[i]),
                AU_OK);
            assert_int_equal(
                au_share_start(n[i], c[i], &au_pncounter_type, &(au_share_config){ .name = "busy" }, &sh[i]),
                AU_OK);
            assert_int_equal(au_device_server_start(n[i], c[i], NULL, &ds[i]), AU_OK);
            for (int k = 0; k < 20; k++) au_share_pncounter_add((au_share_pncounter){ sh[i] }, k);
        }
        au_spawn(n[3], fleet_actor, AU_DEVICE_CLIENT_NAME, &(fleet_state){ NULL });
        for (uint64_t d = 1; d <= 20; d++) {
            au_device_up_ref to =
                au_forge(au_device_up, au_device_up, n[3], AU_DEVICE_SERVER_NAME, addr[d % 3]);
            au_send(to, ((au_device_up){ .tag = au_device_up_announce,
                                         .announce = { .device = d,
                                                       .incarnation = 1,
                                                       .clock = 1,
                                                       .interval_ms = 20,
                                                       .max_datagram = 512 } }));
        }
        if (round == 1) nanosleep(&(struct timespec){ 0, 50000000 }, NULL);
        for (int i = 0; i < 3; i++) au_share_pncounter_add((au_share_pncounter){ sh[i] }, 1);
        for (int i = 0; i < 4; i++) au_node_stop(n[i]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(null_and_bad_arguments_get_error_codes),
        cmocka_unit_test(a_second_server_refused_many_times_leaves_the_layer_slots_free),
        cmocka_unit_test(refused_starts_leave_no_actor_running),
        cmocka_unit_test(a_refused_start_leaves_room_for_the_nodes_server),
        cmocka_unit_test(a_minimum_interval_longer_than_a_device_takes_is_capped),
        cmocka_unit_test(a_tick_below_a_millisecond_is_refused_and_the_finest_does_not_spin),
        cmocka_unit_test(absurd_knobs_neither_hang_nor_crash),
        cmocka_unit_test(a_down_deadline_beyond_64_bits_does_not_wrap),
        cmocka_unit_test(an_announce_flood_is_bounded_by_the_table_and_the_rate),
        cmocka_unit_test(lying_devices_are_counted_and_do_not_disturb_an_honest_one),
        cmocka_unit_test(a_forged_interval_clock_does_not_pin_the_devices_interval),
        cmocka_unit_test(a_forged_device_incarnation_does_not_replace_the_live_run),
        cmocka_unit_test(the_nodes_own_messages_are_refused_from_the_network),
        cmocka_unit_test(a_forged_term_to_a_servers_actors_stops_nothing),
        cmocka_unit_test(a_downlink_beyond_the_nodes_mtu_is_dropped_and_counted),
        cmocka_unit_test(a_device_that_never_answers_is_forgotten_at_its_down_deadline),
        cmocka_unit_test(a_forged_hand_over_does_not_replace_the_live_run),
        cmocka_unit_test(peer_messages_out_of_range_are_dropped_and_counted),
        cmocka_unit_test(a_claim_the_live_run_outlasts_is_dropped),
        cmocka_unit_test(stopping_servers_while_polling_frees_everything),
        cmocka_unit_test(stopping_real_nodes_with_every_layer_busy_frees_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
