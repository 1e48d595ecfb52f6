/* test_device_server.c — the device server on real UDP over 127.0.0.1 (port 0 everywhere):
 *   - the seed's devices scenario (§7.6): 3 servers, 12 in-process device clients, 25 % drop and
 *     20–50 ms delay on every datagram (servers through the fault driver, devices through their
 *     platform layer); kill 2 devices, then 1 server; after each step the device convergence
 *     holds (each live device owned by exactly one live server, which the device agrees on and
 *     every live ring names; the dead devices held by nobody);
 *   - re-balancing: a fourth server joins and the devices its ring position gives it move to it;
 *   - user messages, typed, to a device from a server that does not own it, and from a device
 *     to the receivers of every server;
 *   - forged and replayed device datagrams rejected and counted; an announce flood of unknown
 *     devices bounded by max_devices and new_per_second. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "device_world.h"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "library_side.h"
#pragma GCC diagnostic pop

AU_RECORD(reading, (uint32_t, value));

static dw_world W;

static void wait_or_fail(dw_world *w, bool (*pred)(dw_world *), uint32_t ms, const char *what) {
    if (!dw_wait(w, pred, ms)) {
        dw_print(w, what);
        fail_msg("%s: not within %u ms", what, ms);
    }
}

static bool got_message_everywhere(dw_world *w) {
    for (int k = 0; k < w->ns; k++)
        if (w->s[k].live && au_probe_count(w->s[k].messages) == 0) return false;
    return true;
}

static int owner_index(dw_world *w, int dev) {
    int h = dw_holder(w, dev);
    assert_true(h >= 0);
    return h;
}

/* Requests sent per heartbeat heard in the scenario without leases (0: not run). */
static double g_requests_per_heartbeat_unleased;

static void run_scenario(unsigned lease) {
    dw_world *w = &W;
    memset(w, 0, sizeof *w);
    w->faults = (au_faults){ .drop = 0.25, .delay_min = AU_MSEC(20), .delay_max = AU_MSEC(50) };
    w->drv = au_faults_driver(NULL);
    const au_device_server_config dcfg = { .lease = lease };
    dw_server_start(w, 0, -1, &dcfg);
    dw_server_start(w, 1, 0, &dcfg);
    dw_server_start(w, 2, 0, &dcfg);
    wait_or_fail(w, dw_cluster_converged, 30000, "3 servers: cluster convergence");

    for (int i = 0; i < 12; i++) dw_device_start(w, i, (int[]){ 0 }, 1, 300);
    wait_or_fail(w, dw_all_converged, 30000, "12 devices: device convergence");

    /* User messages: typed, from a server that does not own the device, through the owner. */
    int h = owner_index(w, 0);
    int other = (h + 1) % 3;
    for (int attempt = 0; attempt < 20 && w->d[0].messages == 0; attempt++) {
        assert_int_equal(au_device_send(w->s[other].ds, w->d[0].cfg.device, reading,
                                        &(reading){ .value = 4242 }), AU_OK);
        uint32_t t0 = dw_now_ms();
        while (w->d[0].messages == 0 && dw_now_ms() - t0 < 400) {
            dw_pump(w);
            nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
        }
    }
    assert_true(w->d[0].messages > 0);
    assert_true(w->d[0].last_type == au_type_id(&au_type_reading));
    assert_int_equal(w->d[0].last_value, 4242);

    /* From the device: every server's receivers get it, decoded as the type it names. */
    uint8_t cbor[8];
    au_dc_cbor_out o = { cbor, 0, sizeof cbor, 0 };
    au_dc_cbor_put_array(&o, 1);
    au_dc_cbor_put_uint(&o, 77);
    assert_int_equal(o.err, 0);
    for (int attempt = 0; attempt < 20 && !got_message_everywhere(w); attempt++) {
        assert_int_equal(au_dc_send(&w->d[1].dc, au_type_id(&au_type_reading), cbor, o.len), AU_DC_OK);
        uint32_t t0 = dw_now_ms();
        while (!got_message_everywhere(w) && dw_now_ms() - t0 < 400) {
            dw_pump(w);
            nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
        }
    }
    assert_true(got_message_everywhere(w));
    au_device_message m;
    assert_int_equal(au_probe_expect(w->s[other].messages, au_device_message, &m, AU_SEC(1)), AU_OK);
    assert_true(m.device == w->d[1].cfg.device);
    reading r;
    assert_int_equal(au_device_message_decode(&m, reading, &r), AU_OK);
    assert_int_equal(r.value, 77);
    assert_int_equal(au_device_message_decode(&m, uint64_t, &(uint64_t){ 0 }), AU_ETYPE);
    au_value_free(&au_type_au_device_message, &m);

    /* Kill two devices: their owners declare them down; nobody holds them up. */
    dw_device_kill(w, 2);
    dw_device_kill(w, 3);
    uint32_t t0 = dw_now_ms();
    wait_or_fail(w, dw_all_converged, 30000, "2 devices killed: device convergence");
    fprintf(stderr, "two dead devices down after %u ms (interval 300 ms)\n", dw_now_ms() - t0);

    /* Kill a server: its devices go to the members the ring now names. */
    dw_server_kill(w, 1);
    t0 = dw_now_ms();
    wait_or_fail(w, dw_cluster_converged, 30000, "server 1 killed: cluster convergence");
    uint32_t t1 = dw_now_ms();
    wait_or_fail(w, dw_all_converged, 30000, "server 1 killed: cluster and device convergence");
    fprintf(stderr, "server death: cluster converged after %u ms, devices re-owned %u ms later\n",
            t1 - t0, dw_now_ms() - t1);

    /* Re-balancing: a fourth server; the devices its ring gives it move to it. */
    au_device_server_stats before[4];
    for (int k = 0; k < 3; k++)
        if (w->s[k].live) au_device_server_stats_get(w->s[k].ds, &before[k]);
    dw_server_start(w, 3, 0, &dcfg);
    t0 = dw_now_ms();
    wait_or_fail(w, dw_all_converged, 30000, "fourth server: cluster and device convergence");
    uint32_t rebalanced = dw_now_ms() - t0;
    int moved = 0;
    for (int i = 0; i < w->nd; i++)
        if (w->d[i].live && dw_holder(w, i) == 3) moved++;
    /* Each of them is announced by an event from server 3: moved (hand-over), or up at its
     * first echo there (which 25 % loss may delay by a few requests). */
    au_device_server_stats st3;
    t0 = dw_now_ms();
    do {
        dw_pump(w);
        au_device_server_stats_get(w->s[3].ds, &st3);
    } while (st3.moves + st3.ups < (uint64_t)moved && dw_now_ms() - t0 < 5000);
    fprintf(stderr, "fourth server: %d devices moved to it, all converged after %u ms (moves %llu)\n",
            moved, rebalanced, (unsigned long long)st3.moves);
    if (getenv("DW_VERBOSE")) dw_print(w, "after re-balancing");
    assert_true(st3.owned >= (uint64_t)moved);
    assert_true(st3.moves + st3.ups >= (uint64_t)moved);
    /* And the hand-over was by the ring, not by devices re-announcing: the old owners handed
     * over at least those devices. */
    uint64_t handed = 0;
    for (int k = 0; k < 3; k++) {
        if (!w->s[k].live) continue;
        au_device_server_stats st;
        au_device_server_stats_get(w->s[k].ds, &st);
        handed += st.handovers - before[k].handovers;
    }
    assert_true(handed >= (uint64_t)moved);

    /* What a lease changes: heartbeats come unprompted (beats), and fewer requests go out per
     * heartbeat heard. Without one every heartbeat answers a request and, at 25 % loss each
     * way, more requests go out than heartbeats come back; with a lease of 4 fewer per
     * heartbeat than in the run without (2.3 against 1.4 when written; a late beat is
     * retried, so at this loss a lease rarely runs its course). */
    uint64_t requests = 0, heartbeats = 0, beats = 0;
    for (int k = 0; k < 4; k++) {
        if (!w->s[k].live) continue;
        au_device_server_stats st;
        au_device_server_stats_get(w->s[k].ds, &st);
        requests += st.requests_sent, heartbeats += st.heartbeats, beats += st.beats;
    }
    fprintf(stderr, "lease %u: %llu requests, %llu heartbeats (%llu beats)\n", lease,
            (unsigned long long)requests, (unsigned long long)heartbeats, (unsigned long long)beats);
    double per_heartbeat = (double)requests / (double)(heartbeats ? heartbeats : 1);
    if (lease > 1) {
        assert_true(beats > 0);
        if (g_requests_per_heartbeat_unleased > 0)
            assert_true(per_heartbeat < g_requests_per_heartbeat_unleased);
    } else {
        assert_int_equal(beats, 0);
        assert_true(requests > heartbeats);
        g_requests_per_heartbeat_unleased = per_heartbeat;
    }
    dw_stop(w);
}

static void scenario(void **state) {
    (void)state;
    run_scenario(1);
}

/* The same with a lease of 4 heartbeats per request: the same convergence after each step. */
static void scenario_with_leases(void **state) {
    (void)state;
    run_scenario(4);
}

/* ---- forged, replayed, flooded ---------------------------------------------------------------- */

static int udp(uint16_t *port) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    *port = ntohs(a.sin_port);
    return fd;
}

static void send_up(int fd, lib_server *s, uint16_t port, const au_device_up *msg) {
    au_buf buf = { 0 };
    assert_int_equal(au_encode(&au_type_au_device_up, msg, &buf, NULL), AU_OK);
    au_wire_dest dest = { .kind = AU_WIRE_KIND_MESSAGE, .name = (const uint8_t *)"au.devices",
                          .name_len = 10, .root_type = AU_DC_UP_TYPE_ID, .iface_type = AU_DC_UP_TYPE_ID };
    assert_int_equal(au_wire_packer_add(&s->packer, &dest, buf.data, buf.len), AU_WIRE_OK);
    au_wire_packer_flush(&s->packer);
    au_buf_free(&buf);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons(port) };
    assert_true(sendto(fd, s->out, s->out_len, 0, (struct sockaddr *)&a, sizeof a) == (ssize_t)s->out_len);
}

static uint16_t port_of(const char *addr) { return (uint16_t)atoi(strrchr(addr, ':') + 1); }

static uint8_t captured[DW_BUF];
static size_t captured_len;
static int capture_send(void *ctx, const au_dc_addr *to, const uint8_t *data, size_t len) {
    /* A heartbeat's CBOR starts [1, ...]: 0x82 0x01 after the name; keep the last one. */
    if (len <= sizeof captured && memmem(data, len, "au.devices", 10)) {
        const uint8_t *p = memmem(data, len, "au.devices", 10);
        size_t off = (size_t)(p - data) + 10;
        if (off + 2 <= len && data[off] == 0x82 && data[off + 1] == 0x01) {
            memcpy(captured, data, len);
            captured_len = len;
        }
    }
    return dw_send(ctx, to, data, len);
}

static bool one_device_up(dw_world *w) { return dw_devices_converged(w) && w->d[0].cfg.device; }

/* A new world of one server (config cfg) and one device (0, polled every interval_ms), up. */
static void one_server_one_device_up(dw_world *w, const au_device_server_config *cfg, uint32_t interval_ms) {
    memset(w, 0, sizeof *w);
    w->drv = *au_driver_default();
    dw_server_start(w, 0, -1, cfg);
    wait_or_fail(w, dw_cluster_converged, 10000, "one server");
    dw_device_start(w, 0, (int[]){ 0 }, 1, interval_ms);
    wait_or_fail(w, one_device_up, 10000, "one device up");
}

/* Pumps the world for ms milliseconds. */
static void pump_for(dw_world *w, uint32_t ms) {
    uint32_t t0 = dw_now_ms();
    while (dw_now_ms() - t0 < ms) {
        dw_pump(w);
        nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
    }
}

/* Beats a lease does not allow: past the lease, not after the last beat heard, of a request
 * never sent, a second answer. Each is dropped and counted; the device stays up. The lease is
 * 16 intervals of 1 s, so the request they name stays the last one while the test runs. */
static void beats_outside_the_lease_are_dropped_and_counted(void **state) {
    (void)state;
    dw_world *w = &W;
    one_server_one_device_up(w, &(au_device_server_config){ .lease = 16 }, 1000);
    au_device_server *ds = w->s[0].ds;
    au_device_server_stats st0, st1;
    uint32_t t0 = dw_now_ms();
    do {
        dw_pump(w);
        au_device_server_stats_get(ds, &st0);
    } while (st0.beats < 1 && dw_now_ms() - t0 < 5000);
    assert_true(st0.beats >= 1); /* beat 1 came, unprompted, one interval after the request */
    assert_int_equal(w->d[0].dc.beats, 16);
    uint64_t req = w->d[0].dc.lease_request, dev = w->d[0].cfg.device, inc = w->d[0].cfg.incarnation;

    uint16_t port = port_of(w->s[0].addr), myport;
    int fd = udp(&myport);
    lib_server forger;
    lib_server_init(&forger, 0, 99, NULL, 0);
    const struct { uint64_t request; uint32_t beat; } bad[] = {
        { req, 16 },     /* past the lease */
        { req, 1 },      /* heard already */
        { req + 1, 2 },  /* a request never sent */
        { req, 0 },      /* answered already */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        send_up(fd, &forger, port, &(au_device_up){ .tag = au_device_up_heartbeat,
                                                    .heartbeat = { .device = dev, .incarnation = inc,
                                                                   .request = bad[i].request,
                                                                   .clock = 1, .beat = bad[i].beat } });
    t0 = dw_now_ms();
    do {
        dw_pump(w);
        au_device_server_stats_get(ds, &st1);
    } while (st1.drops_unsolicited < st0.drops_unsolicited + 4 && dw_now_ms() - t0 < 3000);
    assert_true(st1.drops_unsolicited == st0.drops_unsolicited + 4);
    assert_int_equal(au_device_server_state(ds, dev), AU_DEVICE_UP);
    assert_int_equal(w->d[0].dc.lease_request, req); /* the premise: no new request meanwhile */
    lib_server_destroy(&forger);
    close(fd);
    dw_stop(w);
}

static void forged_and_replayed(void **state) {
    (void)state;
    dw_world *w = &W;
    memset(w, 0, sizeof *w);
    w->drv = *au_driver_default();
    dw_server_start(w, 0, -1, &(au_device_server_config){ .max_devices = 8, .new_per_second = 100 });
    wait_or_fail(w, dw_cluster_converged, 10000, "one server");
    dw_device_start(w, 0, (int[]){ 0 }, 1, 100);
    w->d[0].cfg.platform.send = capture_send;
    wait_or_fail(w, one_device_up, 10000, "one device up");
    uint32_t t0 = dw_now_ms();
    while (!captured_len && dw_now_ms() - t0 < 3000) dw_pump(w);
    assert_true(captured_len > 0);

    au_device_server *ds = w->s[0].ds;
    au_node_stats ns0, ns1;
    au_device_server_stats st0, st1;
    au_node_stats_get(w->s[0].node, &ns0);

    /* Replayed: the captured heartbeat datagram again, byte for byte, from the device's socket. */
    uint16_t port = port_of(w->s[0].addr);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons(port) };
    assert_true(sendto(w->d[0].io.fd, captured, captured_len, 0, (struct sockaddr *)&a, sizeof a) ==
                (ssize_t)captured_len);
    /* Altered: one bit of it flipped fails the checksum. */
    captured[captured_len / 2] ^= 0x10;
    assert_true(sendto(w->d[0].io.fd, captured, captured_len, 0, (struct sockaddr *)&a, sizeof a) ==
                (ssize_t)captured_len);
    t0 = dw_now_ms();
    do {
        dw_pump(w);
        au_node_stats_get(w->s[0].node, &ns1);
    } while ((ns1.drops_duplicate == ns0.drops_duplicate || ns1.drops_checksum == ns0.drops_checksum) &&
             dw_now_ms() - t0 < 3000);
    assert_true(ns1.drops_duplicate > ns0.drops_duplicate);
    assert_true(ns1.drops_checksum > ns0.drops_checksum);

    /* Forged: a well-formed heartbeat for the device from another socket, echoing a request
     * number the server never sent, and one for a device it does not know. */
    au_device_server_stats_get(ds, &st0);
    uint16_t myport;
    int fd = udp(&myport);
    lib_server forger;
    lib_server_init(&forger, 0, 99, NULL, 0);
    send_up(fd, &forger, port, &(au_device_up){ .tag = au_device_up_heartbeat,
                                                .heartbeat = { .device = w->d[0].cfg.device,
                                                               .incarnation = w->d[0].cfg.incarnation,
                                                               .request = 1u << 30, .clock = 1 } });
    send_up(fd, &forger, port, &(au_device_up){ .tag = au_device_up_heartbeat,
                                                .heartbeat = { .device = 5, .incarnation = 1,
                                                               .request = 1, .clock = 1 } });
    t0 = dw_now_ms();
    do {
        dw_pump(w);
        au_device_server_stats_get(ds, &st1);
    } while ((st1.drops_unsolicited == st0.drops_unsolicited || st1.drops_not_owned == st0.drops_not_owned) &&
             dw_now_ms() - t0 < 3000);
    assert_true(st1.drops_unsolicited > st0.drops_unsolicited);
    assert_true(st1.drops_not_owned > st0.drops_not_owned);
    assert_int_equal(au_device_server_state(ds, w->d[0].cfg.device), AU_DEVICE_UP);

    /* Flood: 200 announces of unknown devices: at most max_devices records, the rest counted. */
    for (int i = 0; i < 200; i++)
        send_up(fd, &forger, port, &(au_device_up){ .tag = au_device_up_announce,
                                                    .announce = { .device = 50000u + (uint64_t)i,
                                                                  .incarnation = 1, .clock = 1,
                                                                  .interval_ms = 1000,
                                                                  .max_datagram = 512 } });
    t0 = dw_now_ms();
    do {
        dw_pump(w);
        au_device_server_stats_get(ds, &st1);
    } while (st1.announces < st0.announces + 200 && dw_now_ms() - t0 < 5000);
    assert_true(st1.announces >= st0.announces + 200);
    assert_true(st1.owned + st1.standby <= 8);
    assert_true(st1.drops_rate + st1.drops_table_full >= 200 - 8);
    assert_true(st1.drops_table_full > 0); /* the burst of 100 fills the 8 records */
    assert_true(st1.drops_rate > 0);       /* and the rest exceeds the bucket */
    fprintf(stderr, "flood: owned %llu, drops rate %llu, table full %llu\n",
            (unsigned long long)st1.owned, (unsigned long long)st1.drops_rate,
            (unsigned long long)st1.drops_table_full);
    lib_server_destroy(&forger);
    close(fd);
    dw_stop(w);
}

/* Waits up to ms for a datagram on fd that carries a message for the device endpoint; whether
 * one came (the rest of what is pending is read too). */
static bool got_downlink(int fd, uint32_t ms) {
    uint32_t t0 = dw_now_ms();
    bool got = false;
    for (;;) {
        uint8_t b[2048];
        ssize_t n = recv(fd, b, sizeof b, MSG_DONTWAIT);
        if (n > 0) {
            if (memmem(b, (size_t)n, AU_DEVICE_CLIENT_NAME, strlen(AU_DEVICE_CLIENT_NAME))) got = true;
            continue;
        }
        if (got || dw_now_ms() - t0 > ms) return got;
        nanosleep(&(struct timespec){ 0, 500000 }, NULL);
    }
}

/* Sends device's first announce (plain, interval 10 ms, 512-byte datagrams) from fd. */
static void announce_once(int fd, lib_server *dev, uint16_t port, uint64_t device) {
    send_up(fd, dev, port, &(au_device_up){ .tag = au_device_up_announce,
                                           .announce = { .device = device, .incarnation = 1, .clock = 1,
                                                         .interval_ms = 10, .max_datagram = 512 } });
}

/* A server node whose tables hold 1,024 peers and 1,024 remote references sees 10,000 devices, each
 * from its own address, 16 at a time: each is polled (its first request reaches its address),
 * then goes silent, goes down and is forgotten — forgetting undoes the forge of its downlink
 * reference (au_unforge), so the tables never fill. Without that every forged reference kept its
 * slot and its peer, and after about 1,024 addresses no device was polled any more (and no new
 * cluster member reached). Then a real client still comes up. */
static void ten_thousand_device_addresses_over_time_keep_the_server_open(void **state) {
    (void)state;
    enum { ADDRESSES = 10000, AT_ONCE = 16, TABLE = 1024 };
    dw_world *w = &W;
    memset(w, 0, sizeof *w);
    w->drv = *au_driver_default();
    w->node_cfg = (au_node_config){ .max_peers = TABLE, .max_remote_refs = TABLE };
    dw_server_start(w, 0, -1, &(au_device_server_config){ .shards = 1, .min_interval_ms = 10,
                                                           .down_after = 2,
                                                           .forget_after = AU_MSEC(20),
                                                           .new_per_second = 1000000 });
    wait_or_fail(w, dw_cluster_converged, 10000, "one server");
    au_device_server *ds = w->s[0].ds;
    uint16_t port = port_of(w->s[0].addr);
    lib_server dev;
    lib_server_init(&dev, 0, 99, NULL, 0);
    int fds[AT_ONCE];
    uint16_t ports[AT_ONCE];
    int polled = 0;
    for (int i = 0; i < ADDRESSES; i += AT_ONCE) {
        for (int k = 0; k < AT_ONCE; k++) {
            fds[k] = udp(&ports[k]);
            announce_once(fds[k], &dev, port, 100000u + (uint64_t)(i + k));
        }
        for (int k = 0; k < AT_ONCE; k++) {
            /* A device repeats its announce until it is polled (as a real one does): the first
             * may come before the server's shard holds its first ring, which drops it. */
            bool got = false;
            for (int tries = 0; tries < 12 && !(got = got_downlink(fds[k], 250)); tries++)
                announce_once(fds[k], &dev, port, 100000u + (uint64_t)(i + k));
            if (got) polled++;
            else fail_msg("device %d (port %u) was never polled", i + k, ports[k]);
            close(fds[k]);
        }
    }
    assert_int_equal(polled, ADDRESSES);
    au_node_stats ns;
    au_node_stats_get(w->s[0].node, &ns);
    assert_true(ns.peers <= TABLE);
    assert_true(ns.remote_refs <= TABLE);
    au_device_server_stats st;
    au_device_server_stats_get(ds, &st);
    fprintf(stderr, "10,000 addresses: peers %llu evicted %llu, refs %llu evicted %llu, owned %llu\n",
            (unsigned long long)ns.peers, (unsigned long long)ns.peers_evicted,
            (unsigned long long)ns.remote_refs, (unsigned long long)ns.remote_refs_evicted,
            (unsigned long long)st.owned);
    assert_int_equal(st.drops_invalid, 0);
    lib_server_destroy(&dev);
    dw_device_start(w, 0, (int[]){ 0 }, 1, 100);
    wait_or_fail(w, one_device_up, 10000, "a real device up after them");
    dw_stop(w);
}

static bool five_messages(dw_world *w) { return w->d[0].messages >= 5; }

/* An actor on the server's node (of one worker) that sends five user messages to a device in
 * one turn: the shard then takes them in one turn of its own, and they leave together. */
typedef struct burst {
    au_device_server *ds;
    uint64_t device;
} burst;
AU_ROOT(burst_msg, (go, int64_t, AU_PLAIN));
static void burst_recv(au_ctx *ctx, burst *self, burst_msg *m) {
    (void)ctx, (void)m;
    for (uint32_t i = 0; i < 5; i++)
        au_device_send(self->ds, self->device, reading, &(reading){ .value = 70 + i });
}
AU_ACTOR(burst_actor, burst, burst_msg, .recv = burst_recv);

/* A device that takes datagrams of 200 bytes (its rx buffer) gets five small user messages sent
 * at once: each fits its max_datagram, and each arrives in a datagram of its own (the node's
 * packer had coalesced them up to its mtu of 1400, and the device dropped the datagram). */
static void small_downlinks_sent_at_once_each_fit_the_devices_datagram(void **state) {
    (void)state;
    dw_world *w = &W;
    memset(w, 0, sizeof *w);
    w->drv = *au_driver_default();
    dw_server_start(w, 0, -1, &(au_device_server_config){ .shards = 1 }); /* one worker */
    wait_or_fail(w, dw_cluster_converged, 10000, "one server");
    dw_device_start(w, 0, (int[]){ 0 }, 1, 1000);
    w->d[0].cfg.rx_cap = 200; /* its max_datagram */
    assert_int_equal(au_dc_init(&w->d[0].dc, &w->d[0].cfg), AU_DC_OK);
    wait_or_fail(w, one_device_up, 10000, "one device up");
    burst_msg_ref b = au_spawn(w->s[0].node, burst_actor, NULL,
                               &(burst){ w->s[0].ds, w->d[0].cfg.device });
    assert_false(au_ref_is_null(b.raw));
    assert_int_equal(au_send(b, ((burst_msg){ .tag = burst_msg_go, .go = 1 })), AU_OK);
    wait_or_fail(w, five_messages, 5000, "five messages");
    assert_int_equal(w->d[0].messages, 5);
    assert_int_equal(w->d[0].dc.stats.drop_malformed, 0);
    dw_stop(w);
}

/* A device asking for 10 ms from a server that polls at 50 ms at the fastest (min_interval_ms):
 * over a second and a half it keeps its owner and announces only at start (it had taken its
 * owner for lost after every 30 ms, and announced again at every request). */
static void a_device_below_the_minimum_interval_keeps_its_owner(void **state) {
    (void)state;
    dw_world *w = &W;
    one_server_one_device_up(w, &(au_device_server_config){ .shards = 1, .min_interval_ms = 50 }, 10);
    uint32_t announces = w->d[0].dc.stats.announces;
    pump_for(w, 1500);
    assert_int_equal(w->d[0].dc.stats.owner_lost, 0);
    assert_int_equal(w->d[0].dc.stats.announces, announces);
    assert_true(w->d[0].dc.stats.heartbeats >= 10); /* polled all along */
    assert_int_equal(au_device_server_state(w->s[0].ds, w->d[0].cfg.device), AU_DEVICE_UP);
    dw_stop(w);
}

/* Device 0's entry of server 0's Devices table, into *e; false if it has none. */
static bool table_entry(dw_world *w, au_device_entry *e) {
    void *snap = NULL;
    if (au_share_snapshot(au_device_server_table(w->s[0].ds), &snap) != AU_OK) return false;
    uint8_t key[8];
    for (int b = 0; b < 8; b++) key[b] = (uint8_t)(w->d[0].cfg.device >> (8 * b));
    au_crdt_bytes v;
    bool present = au_lwwmap_get(snap, key, sizeof key, &v) && au_device_entry_decode(v.ptr, v.len, e);
    au_lwwmap_free(snap);
    return present;
}

/* The interval in device 0's entry of server 0's Devices table (0: none). */
static uint32_t table_interval(dw_world *w) {
    au_device_entry e = { 0 };
    return table_entry(w, &e) ? e.interval_ms : 0;
}
static bool table_says_2000(dw_world *w) { return table_interval(w) == 2000; }
static bool table_says_1000(dw_world *w) { return table_interval(w) == 1000; }

/* au_dc_set_interval(2000) on a device polled at 1000 ms: the owner's Devices table has the new
 * interval within a second (it kept the old one until its next refresh, 10 intervals later). */
static void an_interval_change_reaches_the_devices_table(void **state) {
    (void)state;
    dw_world *w = &W;
    one_server_one_device_up(w, &(au_device_server_config){ .shards = 1 }, 1000);
    wait_or_fail(w, table_says_1000, 5000, "the table has the device at 1000 ms");
    assert_int_equal(au_dc_set_interval(&w->d[0].dc, 2000), AU_DC_OK);
    wait_or_fail(w, table_says_2000, 1000, "the table has the new interval");
    dw_stop(w);
}

static bool table_says_200(dw_world *w) { return table_interval(w) == 200; }

/* Plain, a real client on real UDP and announces forged in its name, with its incarnation: at
 * clock 2^32 - 1 and 20 ms, the server took them and polled at 20 ms for the rest of the
 * device's run (the device saturated at 2^32 - 1 and could not outrank it; the table said 20).
 * Now 2^32 - 1 is behind the device's clock and 2^30 far ahead (dropped, counted): the table
 * stays at the device's 200 ms and the device's clock at its own. One within the window is
 * taken, and undone within a few requests. */
static void a_forged_interval_clock_does_not_pin_a_real_devices_interval(void **state) {
    (void)state;
    dw_world *w = &W;
    one_server_one_device_up(w, &(au_device_server_config){ .shards = 1 }, 200);
    wait_or_fail(w, table_says_200, 5000, "the table has the device at 200 ms");
    uint64_t dev = w->d[0].cfg.device, inc = w->d[0].cfg.incarnation;
    uint32_t clock = w->d[0].dc.clock;
    uint16_t port = port_of(w->s[0].addr), myport;
    int fd = udp(&myport);
    lib_server forger;
    lib_server_init(&forger, 0, 99, NULL, 0);
    const uint32_t forged[] = { UINT32_MAX, 1u << 30 };
    for (size_t i = 0; i < 2; i++)
        send_up(fd, &forger, port, &(au_device_up){ .tag = au_device_up_announce,
                                                    .announce = { .device = dev, .incarnation = inc,
                                                                  .clock = forged[i], .interval_ms = 20,
                                                                  .max_datagram = 512 } });
    pump_for(w, 1500);
    assert_int_equal(table_interval(w), 200);
    assert_int_equal(w->d[0].dc.clock, clock);
    au_device_server_stats st;
    au_device_server_stats_get(w->s[0].ds, &st);
    assert_int_equal(st.drops_clock_far, 1);
    /* within the window */
    send_up(fd, &forger, port, &(au_device_up){ .tag = au_device_up_announce,
                                                .announce = { .device = dev, .incarnation = inc,
                                                              .clock = clock + 5, .interval_ms = 20,
                                                              .max_datagram = 512 } });
    pump_for(w, 100);
    wait_or_fail(w, table_says_200, 3000, "the table has the device at 200 ms again");
    wait_or_fail(w, one_device_up, 3000, "the device up");
    close(fd);
    lib_server_destroy(&forger);
    dw_stop(w);
}

/* The incarnation in device 0's entry of server 0's Devices table (0: none). */
static uint64_t table_incarnation(dw_world *w) {
    au_device_entry e = { 0 };
    return table_entry(w, &e) ? e.incarnation : 0;
}
static uint64_t expected_incarnation;
static bool table_has_the_incarnation(dw_world *w) {
    return table_incarnation(w) == expected_incarnation && one_device_up(w);
}

/* Plain, a real client on real UDP and announces forged in its name from another socket with
 * higher incarnations: the server used to take the first as the device's reboot, poll the
 * forger's address, refuse the device's own announces as stale and declare the device down,
 * until the forged record was forgotten. Now each is a claim, probed at the forger's address
 * (no answer): the device stays up at its own incarnation. When the device really reboots (a
 * new au_dc, a higher incarnation, another port) it answers the probe and is polled at the new
 * incarnation within a second. */
static void a_forged_device_incarnation_does_not_replace_a_real_devices_run(void **state) {
    (void)state;
    dw_world *w = &W;
    one_server_one_device_up(w, &(au_device_server_config){ .shards = 1 }, 200);
    uint64_t dev = w->d[0].cfg.device, inc = w->d[0].cfg.incarnation;
    expected_incarnation = inc;
    wait_or_fail(w, table_has_the_incarnation, 5000, "the table has the device's incarnation");
    uint16_t port = port_of(w->s[0].addr), myport;
    int fd = udp(&myport);
    lib_server forger;
    lib_server_init(&forger, 0, 99, NULL, 0);
    for (int k = 0; k < 20; k++) { /* 2 s: 10 of the device's intervals */
        send_up(fd, &forger, port, &(au_device_up){ .tag = au_device_up_announce,
                                                    .announce = { .device = dev,
                                                                  .incarnation = k % 2 ? UINT64_MAX
                                                                                       : inc + 1000000,
                                                                  .clock = 1, .interval_ms = 200,
                                                                  .max_datagram = 512 } });
        pump_for(w, 100);
    }
    assert_true(table_incarnation(w) == inc);
    assert_true(one_device_up(w));
    assert_int_equal(w->d[0].dc.stats.owner_lost, 0);
    au_device_server_stats st;
    au_device_server_stats_get(w->s[0].ds, &st);
    assert_true(st.claims >= 10);
    assert_int_equal(st.claims_taken, 0);
    assert_int_equal(st.downs, 0);
    /* the device reboots */
    dw_device_kill(w, 0);
    nanosleep(&(struct timespec){ 0, 2000000 }, NULL); /* a later CLOCK_REALTIME microsecond */
    dw_device_start(w, 0, (int[]){ 0 }, 1, 200);
    assert_true(w->d[0].cfg.incarnation > inc);
    expected_incarnation = w->d[0].cfg.incarnation;
    uint32_t t0 = dw_now_ms();
    wait_or_fail(w, table_has_the_incarnation, 1000, "the rebooted device polled at its new run");
    printf("reboot taken in %u ms\n", (unsigned)(dw_now_ms() - t0));
    au_device_server_stats_get(w->s[0].ds, &st);
    assert_int_equal(st.claims_taken, 1);
    close(fd);
    lib_server_destroy(&forger);
    dw_stop(w);
}

/* au_device_entry_encode given NULLs: a NULL entry is written as zeros, a NULL out gets nothing
 * (both crashed). The zeros are no entry (state 0): au_device_entry_decode refuses them. */
static void entry_encode_takes_nulls(void **state) {
    (void)state;
    /* au_device_entry_encode: a NULL entry is zeros, a NULL out writes nothing */
    uint8_t out[AU_DEVICE_ENTRY_SIZE];
    memset(out, 0xAA, sizeof out);
    au_device_entry_encode(NULL, out);
    for (size_t i = 0; i < sizeof out; i++) assert_int_equal(out[i], 0);
    au_device_entry back = { .owner = 9 };
    assert_false(au_device_entry_decode(out, sizeof out, &back)); /* state 0: no entry */
    assert_int_equal(back.owner, 9);
    au_device_entry e = { .owner = 5, .incarnation = 6, .interval_ms = 7, .state = AU_DEVICE_DOWN };
    au_device_entry_encode(&e, NULL);
    au_device_entry_encode(&e, out);
    assert_true(au_device_entry_decode(out, sizeof out, &back));
    assert_int_equal(back.owner, 5);
    assert_int_equal(back.incarnation, 6);
    assert_int_equal(back.interval_ms, 7);
    assert_int_equal(back.state, AU_DEVICE_DOWN);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forged_and_replayed),
        cmocka_unit_test(scenario),
        cmocka_unit_test(scenario_with_leases),
        cmocka_unit_test(beats_outside_the_lease_are_dropped_and_counted),
        cmocka_unit_test(ten_thousand_device_addresses_over_time_keep_the_server_open),
        cmocka_unit_test(small_downlinks_sent_at_once_each_fit_the_devices_datagram),
        cmocka_unit_test(a_device_below_the_minimum_interval_keeps_its_owner),
        cmocka_unit_test(an_interval_change_reaches_the_devices_table),
        cmocka_unit_test(a_forged_interval_clock_does_not_pin_a_real_devices_interval),
        cmocka_unit_test(a_forged_device_incarnation_does_not_replace_a_real_devices_run),
        cmocka_unit_test(entry_encode_takes_nulls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
