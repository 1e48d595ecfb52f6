/* Specification of the device client (aurum/device_client.h) against the library's own wire
 * format, seal and codec (library_side.h), driven by a fake platform: datagrams sent are
 * recorded, datagrams received are queued by the test, and the clock moves only when the test
 * says so. Every scenario is deterministic: no sockets, no sleeping.
 *
 * Covers: the messages' type ids; announcing, answering requests, owner changes, losing the
 * owner and re-announcing with backoff, interleaved owners, stale intervals, user messages both
 * ways, plain and sealed; and every kind of bad input dropped, counted under its reason, with
 * nothing sent and nothing called back. */
#include "library_side.h"

#include <stdio.h>
#include <xxhash.h>

#define DEVICE 0xD00D0001ull
#define INCARNATION 0x1000ull
#define SERVER_A 0xA1ull
#define SERVER_B 0xB2ull
#define INTERVAL 100u

static const uint8_t SECRET[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                    17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 };

/* ---- the fake platform -------------------------------------------------------------------- */

typedef struct sent {
    au_dc_addr to;
    uint8_t bytes[LIB_DGRAM_MAX];
    size_t len;
} sent;

typedef struct fake {
    uint32_t now;
    sent out[64];
    size_t nout;
    int fail_sends;
    /* one queued datagram for recv */
    uint8_t in[2000];
    int in_len; /* 0: none */
    au_dc_addr in_from;
    /* callbacks */
    uint64_t owners[16];
    size_t nowners;
    uint64_t msg_server, msg_type;
    uint8_t msg[256];
    size_t msg_len, nmsgs;
} fake;

static int fake_send(void *ctx, const au_dc_addr *to, const uint8_t *data, size_t len) {
    fake *f = ctx;
    if (f->fail_sends) return -1;
    assert_true(f->nout < sizeof f->out / sizeof f->out[0]);
    assert_true(len <= LIB_DGRAM_MAX);
    f->out[f->nout].to = *to;
    memcpy(f->out[f->nout].bytes, data, len);
    f->out[f->nout].len = len;
    f->nout++;
    return 0;
}

static int fake_recv(void *ctx, au_dc_addr *from, uint8_t *buf, size_t cap) {
    fake *f = ctx;
    if (!f->in_len) return 0;
    int n = f->in_len;
    memcpy(buf, f->in, (size_t)n < cap ? (size_t)n : cap);
    *from = f->in_from;
    f->in_len = 0;
    return n;
}

static uint32_t fake_now(void *ctx) { return ((fake *)ctx)->now; }

static void on_owner(void *user, uint64_t owner) {
    fake *f = user;
    assert_true(f->nowners < 16);
    f->owners[f->nowners++] = owner;
}

static void on_message(void *user, uint64_t server, uint64_t type, const uint8_t *p, size_t n) {
    fake *f = user;
    f->msg_server = server;
    f->msg_type = type;
    assert_true(n <= sizeof f->msg);
    memcpy(f->msg, p, n);
    f->msg_len = n;
    f->nmsgs++;
}

/* ---- a device under test ------------------------------------------------------------------- */

typedef struct rig {
    fake f;
    au_dc_addr seeds[2];
    au_dc_addr addr_a, addr_b; /* where servers A and B send from */
    uint8_t rx[512], tx[512];
    au_dc_config cfg;
    au_dc dc;
    lib_server a, b;
    int sealed;
} rig;

static void addr(au_dc_addr *a, uint8_t tag) {
    memset(a, 0, sizeof *a);
    a->len = 7;
    a->bytes[0] = 4;
    a->bytes[1] = 0x1c;
    a->bytes[2] = tag;
    a->bytes[3] = 127;
    a->bytes[6] = tag;
}

static rig *rig_new(int sealed) {
    rig *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->sealed = sealed;
    addr(&r->seeds[0], 1);
    addr(&r->seeds[1], 2);
    r->addr_a = r->seeds[0]; /* A is a seed */
    addr(&r->addr_b, 9);     /* B is not */
    r->f.now = 5000;
    r->cfg = (au_dc_config){
        .device = DEVICE, .incarnation = INCARNATION, .interval_ms = INTERVAL,
        .announce_max_ms = 800, .nseeds = 2, .seeds = r->seeds, .server_name = AU_DC_SERVER_NAME,
        .key = sealed ? SECRET : NULL, .key_id = 7,
        .nonce_random = { 9, 8, 7, 6, 5, 4, 3 },
        .rx_buf = r->rx, .rx_cap = sizeof r->rx, .tx_buf = r->tx, .tx_cap = sizeof r->tx,
        .platform = { fake_send, fake_recv, fake_now, &r->f },
        .on_message = on_message, .on_owner = on_owner, .user = &r->f,
    };
    assert_int_equal(au_dc_init(&r->dc, &r->cfg), AU_DC_OK);
    lib_server_init(&r->a, SERVER_A, 0x5000, sealed ? SECRET : NULL, 7);
    lib_server_init(&r->b, SERVER_B, 0x6000, sealed ? SECRET : NULL, 7);
    return r;
}

static void rig_free(rig *r) {
    lib_server_destroy(&r->a);
    lib_server_destroy(&r->b);
    free(r);
}

/* Decodes sent datagram i as the library would, checking it went to `to`. */
static au_device_up sent_msg(rig *r, size_t i, const au_dc_addr *to) {
    assert_true(i < r->f.nout);
    if (to) {
        assert_int_equal(r->f.out[i].to.len, to->len);
        assert_memory_equal(r->f.out[i].to.bytes, to->bytes, to->len);
    }
    au_device_up m;
    lib_open_up(&r->a, r->f.out[i].bytes, r->f.out[i].len, AU_DC_SERVER_NAME, &m);
    return m;
}

/* Delivers the datagram server s last built, from address `from`. */
static void deliver(rig *r, lib_server *s, const au_dc_addr *from) {
    uint8_t copy[LIB_DGRAM_MAX];
    memcpy(copy, s->out, s->out_len);
    au_dc_input(&r->dc, from, copy, s->out_len);
}

static void request(rig *r, lib_server *s, const au_dc_addr *from, uint64_t n) {
    au_device_down m = lib_request(DEVICE, INCARNATION, s->id, n, r->dc.clock, r->dc.interval_ms);
    lib_build(s, &m);
    deliver(r, s, from);
}

/* Runs the client to time t, 10 ms at a time, as a main loop would. */
static void run_until(rig *r, uint32_t t) {
    while ((int32_t)(t - r->f.now) > 0) {
        r->f.now += 10;
        au_dc_poll(&r->dc);
    }
}

static size_t count_announces(rig *r, size_t from) {
    size_t n = 0;
    for (size_t i = from; i < r->f.nout; i++) {
        au_device_up m = sent_msg(r, i, NULL);
        n += m.tag == au_device_up_announce;
        au_value_free(&au_type_au_device_up, &m);
    }
    return n;
}

/* ---- the contract ------------------------------------------------------------------------- */

static void type_ids_are_those_of_the_protocol_schema(void **state) {
    (void)state;
    assert_true(au_type_id(&au_type_au_device_up) == AU_DC_UP_TYPE_ID);
    assert_true(au_type_id(&au_type_au_device_down) == AU_DC_DOWN_TYPE_ID);
    assert_string_equal(AU_DC_SERVER_NAME, AU_DEVICE_SERVER_NAME);
    assert_string_equal(AU_DC_CLIENT_NAME, AU_DEVICE_CLIENT_NAME);
}

static void init_refuses_incomplete_or_inconsistent_configs(void **state) {
    (void)state;
    rig *r = rig_new(0);
    au_dc dc;
    au_dc_config c = r->cfg;
    c.device = 0;
    assert_int_equal(au_dc_init(&dc, &c), AU_DC_EINVAL);
    c = r->cfg, c.incarnation = 0;
    assert_int_equal(au_dc_init(&dc, &c), AU_DC_EINVAL);
    c = r->cfg, c.nseeds = 0;
    assert_int_equal(au_dc_init(&dc, &c), AU_DC_EINVAL);
    c = r->cfg, c.interval_ms = 5;
    assert_int_equal(au_dc_init(&dc, &c), AU_DC_EINVAL);
    c = r->cfg, c.lost_after = 1;
    assert_int_equal(au_dc_init(&dc, &c), AU_DC_EINVAL);
    c = r->cfg, c.tx_buf = r->rx + 100; /* overlaps rx */
    assert_int_equal(au_dc_init(&dc, &c), AU_DC_EINVAL);
    c = r->cfg, c.rx_cap = AU_DC_RX_MIN - 1;
    assert_int_equal(au_dc_init(&dc, &c), AU_DC_EINVAL);
    c = r->cfg, c.tx_cap = AU_DC_TX_MIN(0, strlen(AU_DC_SERVER_NAME)) - 1;
    assert_int_equal(au_dc_init(&dc, &c), AU_DC_EINVAL);
    c.tx_cap++;
    assert_int_equal(au_dc_init(&dc, &c), AU_DC_OK);
    c = r->cfg, c.platform.send = NULL;
    assert_int_equal(au_dc_init(&dc, &c), AU_DC_EINVAL);
    c = r->cfg, c.server_name = "";
    assert_int_equal(au_dc_init(&dc, &c), AU_DC_EINVAL);
    c = r->cfg, c.server_name = NULL; /* the default */
    assert_int_equal(au_dc_init(&dc, &c), AU_DC_OK);
    rig_free(r);
}

/* ---- announcing ----------------------------------------------------------------------------- */

static void first_tick_announces_to_every_seed(int sealed) {
    rig *r = rig_new(sealed);
    assert_int_equal(r->f.nout, 0); /* init sends nothing */
    au_dc_poll(&r->dc);
    assert_int_equal(r->f.nout, 2);
    for (size_t i = 0; i < 2; i++) {
        au_device_up m;
        au_wire_header h = lib_open_up(&r->a, r->f.out[i].bytes, r->f.out[i].len,
                                       AU_DC_SERVER_NAME, &m);
        assert_memory_equal(r->f.out[i].to.bytes, r->seeds[i].bytes, r->seeds[i].len);
        assert_true(h.incarnation == INCARNATION);
        assert_true(h.seq == i);
        assert_int_equal(h.flags, sealed ? AU_WIRE_FLAG_SEALED : 0);
        if (sealed) { /* the nonce names the device and the key id */
            assert_true(h.sender == DEVICE);
            assert_int_equal(h.key_id, 7);
        }
        assert_int_equal(m.tag, au_device_up_announce);
        assert_true(m.announce.device == DEVICE);
        assert_true(m.announce.incarnation == INCARNATION);
        assert_int_equal(m.announce.clock, 1);
        assert_int_equal(m.announce.interval_ms, INTERVAL);
        assert_true(m.announce.owner == 0);
        assert_int_equal(m.announce.max_datagram, sizeof r->rx);
    }
    assert_int_equal(r->dc.stats.announces, 2);
    rig_free(r);
}
static void first_tick_announces_to_every_seed_plain(void **s) { (void)s; first_tick_announces_to_every_seed(0); }
static void first_tick_announces_to_every_seed_sealed(void **s) { (void)s; first_tick_announces_to_every_seed(1); }

static void request_is_answered_and_its_sender_becomes_owner(int sealed) {
    rig *r = rig_new(sealed);
    au_dc_poll(&r->dc);
    size_t before = r->f.nout;
    request(r, &r->a, &r->addr_a, 41);
    assert_int_equal(r->dc.stats.accepted, 1);
    assert_int_equal(r->f.nout, before + 1);
    au_device_up m = sent_msg(r, before, &r->addr_a);
    assert_int_equal(m.tag, au_device_up_heartbeat);
    assert_true(m.heartbeat.device == DEVICE);
    assert_true(m.heartbeat.request == 41);
    assert_int_equal(m.heartbeat.clock, 1);
    assert_true(au_dc_owner(&r->dc) == SERVER_A);
    assert_int_equal(r->f.nowners, 1);
    assert_true(r->f.owners[0] == SERVER_A);
    /* A second request: answered, no owner change reported. */
    request(r, &r->a, &r->addr_a, 42);
    m = sent_msg(r, before + 1, &r->addr_a);
    assert_true(m.heartbeat.request == 42);
    assert_int_equal(r->f.nowners, 1);
    assert_int_equal(r->dc.stats.heartbeats, 2);
    /* Every uplink datagram takes a fresh sequence number: a node's replay window takes all. */
    au_replay_window w;
    au_replay_window_init(&w);
    for (size_t i = 0; i < r->f.nout; i++) {
        au_device_up u;
        au_wire_header h = lib_open_up(&r->a, r->f.out[i].bytes, r->f.out[i].len, AU_DC_SERVER_NAME, &u);
        assert_int_equal(au_replay_window_accept(&w, h.seq), AU_WIRE_OK);
    }
    rig_free(r);
}
static void request_answered_plain(void **s) { (void)s; request_is_answered_and_its_sender_becomes_owner(0); }
static void request_answered_sealed(void **s) { (void)s; request_is_answered_and_its_sender_becomes_owner(1); }

/* A request granting a lease of `beats` from server s, with the given interval. */
static void lease_request(rig *r, lib_server *s, const au_dc_addr *from, uint64_t n, uint32_t beats,
                          uint32_t interval) {
    au_device_down m = lib_request(DEVICE, INCARNATION, s->id, n, r->dc.clock, interval);
    m.request.beats = beats;
    lib_build(s, &m);
    deliver(r, s, from);
}

/* Steps the clock 1 ms at a time to t; every datagram sent meanwhile must be a heartbeat of
 * request `req` to `to`, and the k-th (beat first_beat + k) go out at exactly at[k]. Returns
 * how many were sent. */
static size_t expect_beats(rig *r, uint32_t t, const au_dc_addr *to, uint64_t req,
                           uint32_t first_beat, const uint32_t *at, size_t max) {
    size_t n = 0;
    while ((int32_t)(t - r->f.now) > 0) {
        size_t before = r->f.nout;
        r->f.now += 1;
        au_dc_poll(&r->dc);
        for (size_t i = before; i < r->f.nout; i++) {
            au_device_up m = sent_msg(r, i, to);
            assert_int_equal(m.tag, au_device_up_heartbeat);
            assert_true(m.heartbeat.request == req);
            assert_true(n < max);
            assert_int_equal(m.heartbeat.beat, first_beat + n);
            assert_int_equal(r->f.now, at[n]);
            n++;
        }
    }
    return n;
}

/* A lease of 3: the answer (beat 0), then beats 1 and 2 unprompted, one interval apart, to the
 * owner, and nothing more; the owner is taken for lost lost_after intervals past the lease's
 * end, not lost_after intervals after its request. */
static void a_lease_is_answered_by_beats_one_interval_apart(int sealed) {
    rig *r = rig_new(sealed);
    au_dc_poll(&r->dc);
    size_t before = r->f.nout;
    lease_request(r, &r->b, &r->addr_b, 5, 3, INTERVAL);
    uint32_t t0 = r->f.now;
    assert_int_equal(r->f.nout, before + 1);
    au_device_up m = sent_msg(r, before, &r->addr_b);
    assert_int_equal(m.tag, au_device_up_heartbeat);
    assert_true(m.heartbeat.request == 5);
    assert_int_equal(m.heartbeat.beat, 0);
    const uint32_t at[] = { t0 + INTERVAL, t0 + 2 * INTERVAL };
    /* (3 - 1) + lost_after (3) intervals of silence before the owner is lost. */
    assert_int_equal(expect_beats(r, t0 + 5 * INTERVAL - 1, &r->addr_b, 5, 1, at, 2), 2);
    assert_true(au_dc_owner(&r->dc) == SERVER_B);
    assert_int_equal(r->dc.stats.owner_lost, 0);
    assert_int_equal(r->dc.stats.heartbeats, 3);
    r->f.now += 1;
    au_dc_poll(&r->dc);
    assert_int_equal(r->dc.stats.owner_lost, 1);
    assert_true(au_dc_owner(&r->dc) == 0);
    /* Lost, the device announces; no beat goes out any more. */
    size_t n = r->f.nout;
    run_until(r, r->f.now + 10 * INTERVAL);
    assert_int_equal(count_announces(r, n), r->f.nout - n);
    rig_free(r);
}
static void a_lease_plain(void **s) { (void)s; a_lease_is_answered_by_beats_one_interval_apart(0); }
static void a_lease_sealed(void **s) { (void)s; a_lease_is_answered_by_beats_one_interval_apart(1); }

/* A new request replaces the lease (its beats count from it); a hostile or careless request
 * cannot make the device beat for ever or faster than MIN_INTERVAL_MS (10 ms): at most
 * AU_DC_MAX_BEATS heartbeats per request. A request from another server moves the lease to it. */
static void a_new_request_replaces_the_lease_and_leases_are_bounded(void **state) {
    (void)state;
    rig *r = rig_new(0);
    au_dc_poll(&r->dc);
    lease_request(r, &r->a, &r->addr_a, 1, 4, INTERVAL);
    uint32_t t0 = r->f.now;
    const uint32_t at1[] = { t0 + INTERVAL };
    assert_int_equal(expect_beats(r, t0 + INTERVAL + 50, &r->addr_a, 1, 1, at1, 1), 1);
    lease_request(r, &r->a, &r->addr_a, 2, 2, INTERVAL); /* at t0 + 150 */
    uint32_t t1 = r->f.now;
    const uint32_t at2[] = { t1 + INTERVAL };
    assert_int_equal(expect_beats(r, t1 + 4 * INTERVAL - 1, &r->addr_a, 2, 1, at2, 1), 1);

    /* Beats 1 000 000 at interval 1 ms: 16 in all, 10 ms apart (and the device announces, as
     * for any request whose interval is not its own). */
    lease_request(r, &r->a, &r->addr_a, 3, 1000000, 1);
    uint32_t t2 = r->f.now;
    size_t from = r->f.nout, beats = 0;
    uint32_t last = t2;
    for (uint32_t t = 0; t < 2 * INTERVAL * AU_DC_MAX_BEATS; t++) {
        size_t b = r->f.nout;
        r->f.now += 1;
        au_dc_poll(&r->dc);
        for (size_t i = b; i < r->f.nout; i++) {
            au_device_up m = sent_msg(r, i, NULL);
            if (m.tag != au_device_up_heartbeat) continue;
            assert_true(m.heartbeat.request == 3);
            assert_true(r->f.now - last >= 10);
            last = r->f.now;
            beats++;
        }
    }
    assert_int_equal(beats, AU_DC_MAX_BEATS - 1);
    assert_true(r->f.nout > from);

    /* Mid-lease, server B polls: B is the owner and the beats go to B, numbered from its request. */
    lease_request(r, &r->a, &r->addr_a, 4, 3, INTERVAL);
    uint32_t t3 = r->f.now;
    r->f.now += 20;
    au_dc_poll(&r->dc);
    lease_request(r, &r->b, &r->addr_b, 1, 3, INTERVAL);
    assert_true(au_dc_owner(&r->dc) == SERVER_B);
    const uint32_t at3[] = { t3 + 20 + INTERVAL, t3 + 20 + 2 * INTERVAL };
    assert_int_equal(expect_beats(r, t3 + 20 + 3 * INTERVAL, &r->addr_b, 1, 1, at3, 2), 2);
    rig_free(r);
}

/* A request overtaken by a later one of the same owner (reordered on the way) is answered, and
 * the lease stays the later request's: its beats keep their times and its number. */
static void a_reordered_older_request_keeps_the_later_lease(void **state) {
    (void)state;
    rig *r = rig_new(1);
    au_dc_poll(&r->dc);
    au_device_down m2 = lib_request(DEVICE, INCARNATION, SERVER_A, 2, r->dc.clock, INTERVAL);
    m2.request.beats = 3;
    lib_build(&r->a, &m2);
    uint8_t old[LIB_DGRAM_MAX];
    size_t old_len = r->a.out_len;
    memcpy(old, r->a.out, old_len);
    lease_request(r, &r->a, &r->addr_a, 3, 3, INTERVAL);
    uint32_t t0 = r->f.now;
    r->f.now += 30;
    size_t before = r->f.nout;
    au_dc_input(&r->dc, &r->addr_a, old, old_len);
    assert_int_equal(r->f.nout, before + 1);
    au_device_up m = sent_msg(r, before, &r->addr_a);
    assert_int_equal(m.tag, au_device_up_heartbeat);
    assert_true(m.heartbeat.request == 2);
    assert_int_equal(m.heartbeat.beat, 0);
    const uint32_t at[] = { t0 + INTERVAL, t0 + 2 * INTERVAL };
    assert_int_equal(expect_beats(r, t0 + 4 * INTERVAL, &r->addr_a, 3, 1, at, 2), 2);
    assert_int_equal(r->dc.stats.drop_replayed, 0);
    rig_free(r);
}

/* A request overtaken by a data message of the owner's (sent after it, arriving first) is still
 * the newest request: it starts its lease. */
static void a_request_overtaken_by_data_starts_its_lease(void **state) {
    (void)state;
    rig *r = rig_new(0);
    au_dc_poll(&r->dc);
    lease_request(r, &r->a, &r->addr_a, 1, 3, INTERVAL);
    r->f.now += 30;
    au_dc_poll(&r->dc);
    au_device_down m2 = lib_request(DEVICE, INCARNATION, SERVER_A, 2, r->dc.clock, INTERVAL);
    m2.request.beats = 3;
    lib_build(&r->a, &m2);
    uint8_t req[LIB_DGRAM_MAX];
    size_t req_len = r->a.out_len;
    memcpy(req, r->a.out, req_len);
    au_device_down data = lib_data(DEVICE, INCARNATION, SERVER_A, 3, (const uint8_t *)"\xf6", 1);
    lib_build(&r->a, &data);
    deliver(r, &r->a, &r->addr_a); /* the data first */
    uint32_t t0 = r->f.now;
    au_dc_input(&r->dc, &r->addr_a, req, req_len);
    assert_true(r->dc.lease_request == 2);
    const uint32_t at[] = { t0 + INTERVAL, t0 + 2 * INTERVAL };
    assert_int_equal(expect_beats(r, t0 + 3 * INTERVAL, &r->addr_a, 2, 1, at, 2), 2);
    rig_free(r);
}

/* The platform's clock jumps back mid-lease: the next beat comes one interval from the jump, not
 * after the size of the jump. */
static void a_clock_jumping_back_does_not_hold_the_beats(void **state) {
    (void)state;
    rig *r = rig_new(0);
    au_dc_poll(&r->dc);
    lease_request(r, &r->a, &r->addr_a, 1, 4, INTERVAL);
    r->f.now -= 60000;
    uint32_t t0 = r->f.now;
    au_dc_poll(&r->dc); /* notices the jump */
    size_t from = r->f.nout;
    uint32_t first = 0;
    for (uint32_t t = 0; t < 2 * INTERVAL && !first; t++) {
        r->f.now += 1;
        au_dc_poll(&r->dc);
        for (size_t i = from; i < r->f.nout && !first; i++) {
            au_device_up m = sent_msg(r, i, &r->addr_a);
            if (m.tag == au_device_up_heartbeat && m.heartbeat.beat == 1) first = r->f.now;
        }
    }
    assert_true(first != 0);
    assert_true(first - t0 <= INTERVAL);
    assert_true(au_dc_owner(&r->dc) == SERVER_A);
    rig_free(r);
}

/* Steps the clock 1 ms at a time from `prev` (the last announce) and checks n re-announcements:
 * the k-th comes expect[k] ms after the one before it, plus at most 25 % jitter; each is a burst
 * of announces only, of exactly `each` datagrams unless `each` is 0. */
static void expect_resends(rig *r, uint32_t prev, const uint32_t *expect, size_t n, size_t each) {
    for (size_t k = 0; k < n; k++) {
        size_t before = r->f.nout;
        while (r->f.nout == before) {
            r->f.now += 1;
            au_dc_poll(&r->dc);
            assert_true(r->f.now - prev <= expect[k] + expect[k] / 4 + 1);
        }
        assert_true(r->f.now - prev >= expect[k]);
        if (each) assert_int_equal(r->f.nout, before + each);
        assert_int_equal(count_announces(r, before), r->f.nout - before);
        prev = r->f.now;
    }
}

static void silent_owner_is_lost_and_device_reannounces_with_backoff(void **state) {
    (void)state;
    rig *r = rig_new(0);
    au_dc_poll(&r->dc);
    request(r, &r->b, &r->addr_b, 1); /* B, not a seed, owns the device */
    uint32_t heard = r->f.now;
    size_t before = r->f.nout;
    /* Requests stop. Nothing happens before lost_after (3) intervals... */
    run_until(r, heard + 3 * INTERVAL - 10);
    assert_int_equal(r->f.nout, before);
    assert_true(au_dc_owner(&r->dc) == SERVER_B);
    /* ...then the owner is lost and everyone hears from the device: the two seeds and B. */
    run_until(r, heard + 3 * INTERVAL);
    assert_int_equal(r->dc.stats.owner_lost, 1);
    assert_true(au_dc_owner(&r->dc) == 0);
    assert_true(r->f.owners[r->f.nowners - 1] == 0);
    assert_int_equal(r->f.nout, before + 3);
    assert_int_equal(count_announces(r, before), 3);
    au_device_up m = sent_msg(r, before + 2, &r->addr_b);
    assert_int_equal(m.tag, au_device_up_announce);
    assert_true(m.announce.owner == 0);

    /* Re-announcements: after 1, 2, 4, 8 intervals (each + up to 25 % jitter), capped at
     * announce_max (800 ms). */
    const uint32_t expect[] = { 100, 200, 400, 800, 800 };
    expect_resends(r, r->f.now, expect, sizeof expect / sizeof expect[0], 3); /* seeds and B again */
    /* A request ends it: no more announcements while the owner polls. */
    request(r, &r->a, &r->addr_a, 7);
    assert_true(au_dc_owner(&r->dc) == SERVER_A);
    size_t n = r->f.nout;
    for (int i = 0; i < 20; i++) {
        run_until(r, r->f.now + INTERVAL);
        request(r, &r->a, &r->addr_a, 8 + (uint64_t)i);
    }
    assert_int_equal(count_announces(r, n), 0);
    rig_free(r);
}

/* Without announce_max_ms the cap is 8 intervals (here 800 ms), not a fixed 30 s: a device that
 * no server answers keeps announcing every 800..1000 ms once the doubling reaches it, so under
 * loss it still finds an owner within seconds. */
static void by_default_an_unanswered_device_announces_every_8_intervals_at_most(void **state) {
    rig *r = rig_new(0);
    r->cfg.announce_max_ms = 0; /* the default (the client reads its config in place) */
    au_dc_poll(&r->dc);          /* the first announce, to both seeds */
    const uint32_t expect[] = { 100, 200, 400, 800, 800, 800, 800 };
    expect_resends(r, r->f.now, expect, sizeof expect / sizeof expect[0], 0);
    assert_true(au_dc_owner(&r->dc) == 0);
    rig_free(r);
}

static void poll_returns_the_time_to_the_next_deadline(void **state) {
    (void)state;
    rig *r = rig_new(0);
    uint32_t wait = au_dc_poll(&r->dc);
    assert_true(wait >= INTERVAL * 3 / 4 && wait <= INTERVAL); /* capped at one interval */
    request(r, &r->a, &r->addr_a, 1);
    r->f.now += 250;
    assert_int_equal(au_dc_poll(&r->dc), 50); /* lost at 300 */
    rig_free(r);
}

static void handover_is_not_a_conflict_but_interleaving_is(void **state) {
    (void)state;
    rig *r = rig_new(1);
    au_dc_poll(&r->dc);
    request(r, &r->a, &r->addr_a, 1);
    r->f.now += 50;
    request(r, &r->b, &r->addr_b, 1); /* B takes over: a hand-over */
    assert_true(au_dc_owner(&r->dc) == SERVER_B);
    assert_int_equal(r->dc.stats.conflicts, 0);
    r->f.now += 50;
    request(r, &r->b, &r->addr_b, 2);
    assert_int_equal(r->dc.stats.conflicts, 0);
    size_t before = r->f.nout;
    r->f.now += 50;
    request(r, &r->a, &r->addr_a, 2); /* A again while B polls: interleaved */
    assert_int_equal(r->dc.stats.conflicts, 1);
    assert_true(au_dc_owner(&r->dc) == SERVER_A);
    /* Both servers hear of it, then A's request is answered. */
    assert_int_equal(r->f.nout, before + 3);
    au_device_up c1 = sent_msg(r, before, &r->addr_a), c2 = sent_msg(r, before + 1, &r->addr_b);
    assert_int_equal(c1.tag, au_device_up_conflict);
    assert_int_equal(c2.tag, au_device_up_conflict);
    assert_true(c1.conflict.owner == SERVER_A && c1.conflict.other == SERVER_B);
    assert_true(c2.conflict.owner == SERVER_A && c2.conflict.other == SERVER_B);
    au_device_up hb = sent_msg(r, before + 2, &r->addr_a);
    assert_int_equal(hb.tag, au_device_up_heartbeat);
    /* B after A had gone silent for lost_after intervals: a hand-over back, no conflict. */
    r->f.now += 3 * INTERVAL;
    request(r, &r->b, &r->addr_b, 3);
    assert_int_equal(r->dc.stats.conflicts, 1);
    assert_true(au_dc_owner(&r->dc) == SERVER_B);
    rig_free(r);
}

static void stale_interval_in_a_request_makes_the_device_announce(void **state) {
    (void)state;
    rig *r = rig_new(0);
    au_dc_poll(&r->dc);
    size_t before = r->f.nout;
    /* The server polls at 2000 ms with clock 4 (from an older announcement). */
    au_device_down m = lib_request(DEVICE, INCARNATION, SERVER_A, 1, 4, 2000);
    lib_build(&r->a, &m);
    deliver(r, &r->a, &r->addr_a);
    assert_int_equal(r->f.nout, before + 2);
    au_device_up a = sent_msg(r, before + 1, &r->addr_a);
    assert_int_equal(a.tag, au_device_up_announce);
    assert_int_equal(a.announce.clock, 5); /* past the server's, so that it wins */
    assert_int_equal(a.announce.interval_ms, INTERVAL);
    assert_true(a.announce.owner == SERVER_A);
    /* Polled with the right interval and clock now: nothing but the heartbeat. */
    before = r->f.nout;
    request(r, &r->a, &r->addr_a, 2);
    assert_int_equal(r->f.nout, before + 1);
    rig_free(r);
}

static void set_interval_advances_the_clock_and_tells_the_owner(void **state) {
    (void)state;
    rig *r = rig_new(0);
    assert_int_equal(au_dc_set_interval(&r->dc, 5), AU_DC_EINVAL);
    au_dc_poll(&r->dc);
    request(r, &r->b, &r->addr_b, 1);
    size_t before = r->f.nout;
    assert_int_equal(au_dc_set_interval(&r->dc, 250), AU_DC_OK);
    assert_int_equal(r->f.nout, before + 1);
    au_device_up a = sent_msg(r, before, &r->addr_b);
    assert_int_equal(a.tag, au_device_up_announce);
    assert_int_equal(a.announce.clock, 2);
    assert_int_equal(a.announce.interval_ms, 250);
    rig_free(r);
}

/* Announces among the datagrams recorded, which are then forgotten (the record holds 64). */
static size_t announces_then_clear(rig *r) {
    size_t n = count_announces(r, 0);
    r->f.nout = 0;
    return n;
}

/* A request from s at the device's own clock, granting `interval` and `beats`. */
static void granted_request(rig *r, lib_server *s, const au_dc_addr *from, uint64_t n,
                            uint32_t interval, uint32_t beats) {
    au_device_down m = lib_request(DEVICE, INCARNATION, s->id, n, r->dc.clock, interval);
    m.request.beats = beats;
    lib_build(s, &m);
    deliver(r, s, from);
}

/* The device asks for 100 ms; the server polls no faster than 300 ms (its min_interval_ms) and
 * says so in every request, at the device's clock. The device takes the 300 ms: no announce for
 * the difference (each had moved its clock on and been granted 300 ms again), and no owner lost
 * between requests 300 ms apart (its silence counted 3 × 100 ms). */
static void an_interval_granted_longer_than_asked_is_taken(void **state) {
    (void)state;
    rig *r = rig_new(0);
    au_dc_poll(&r->dc);
    announces_then_clear(r);
    uint32_t clock = r->dc.clock;
    for (uint64_t n = 1; n <= 20; n++) {
        granted_request(r, &r->a, &r->addr_a, n, 300, 1);
        assert_int_equal(announces_then_clear(r), 0);
        run_until(r, r->f.now + 300);
        announces_then_clear(r);
    }
    assert_int_equal(r->dc.stats.owner_lost, 0);
    assert_int_equal(r->dc.clock, clock);
    assert_true(au_dc_owner(&r->dc) == SERVER_A);
    assert_int_equal(r->f.nowners, 1);
    /* The owner stops: lost after 3 of the granted intervals, not 3 of its own. */
    granted_request(r, &r->a, &r->addr_a, 21, 300, 1);
    uint32_t heard = r->f.now;
    run_until(r, heard + 3 * 300 - 10);
    assert_int_equal(r->dc.stats.owner_lost, 0);
    run_until(r, heard + 3 * 300);
    assert_int_equal(r->dc.stats.owner_lost, 1);
    rig_free(r);
}

/* 1000 ms, then au_dc_set_interval(100) half an interval after a request: the owner still polls
 * at 1000 ms until it has the announcement, so the device keeps it (it had taken the owner for
 * lost at once: 3 × 100 ms had passed since its last request). Then the owner polls at 100 ms. */
static void a_shorter_interval_keeps_the_owner_until_it_polls_at_it(void **state) {
    (void)state;
    rig *r = rig_new(0);
    assert_int_equal(au_dc_set_interval(&r->dc, 1000), AU_DC_OK);
    au_dc_poll(&r->dc);
    granted_request(r, &r->a, &r->addr_a, 1, 1000, 1);
    uint32_t t0 = r->f.now;
    run_until(r, t0 + 500);
    announces_then_clear(r);
    uint32_t old_clock = r->dc.clock;
    assert_int_equal(au_dc_set_interval(&r->dc, 100), AU_DC_OK);
    assert_int_equal(announces_then_clear(r), 1); /* to the owner */
    run_until(r, t0 + 1000);
    assert_int_equal(r->dc.stats.owner_lost, 0);
    /* The owner's next request, sent before it had the announcement: old clock, 1000 ms. The
     * device tells it again. */
    au_device_down m = lib_request(DEVICE, INCARNATION, SERVER_A, 2, old_clock, 1000);
    lib_build(&r->a, &m);
    deliver(r, &r->a, &r->addr_a);
    assert_int_equal(announces_then_clear(r), 1);
    run_until(r, r->f.now + 100);
    for (uint64_t n = 3; n < 30; n++) { /* then at 100 ms */
        granted_request(r, &r->a, &r->addr_a, n, 100, 1);
        run_until(r, r->f.now + 100);
    }
    assert_int_equal(announces_then_clear(r), 0);
    assert_int_equal(r->dc.stats.owner_lost, 0);
    assert_true(au_dc_owner(&r->dc) == SERVER_A);
    rig_free(r);
}

/* A lease of 4 at 50 ms, then au_dc_set_interval(400): the owner, once it has the announcement,
 * sends its next request at the end of the lease in the new interval (4 × 400 ms less a little).
 * The device keeps its owner until then (it had counted its silence from the old lease's beats:
 * 3 × 400 + 3 × 50 ms, and lost the owner before the request). */
static void a_longer_interval_during_a_lease_keeps_the_owner(void **state) {
    (void)state;
    rig *r = rig_new(0);
    assert_int_equal(au_dc_set_interval(&r->dc, 50), AU_DC_OK);
    au_dc_poll(&r->dc);
    granted_request(r, &r->a, &r->addr_a, 1, 50, 4);
    uint32_t t0 = r->f.now;
    run_until(r, t0 + 20);
    assert_int_equal(au_dc_set_interval(&r->dc, 400), AU_DC_OK);
    run_until(r, t0 + 4 * 400 - 50);
    assert_int_equal(r->dc.stats.owner_lost, 0);
    granted_request(r, &r->a, &r->addr_a, 2, 400, 4);
    run_until(r, r->f.now + 4 * 400 - 50);
    granted_request(r, &r->a, &r->addr_a, 3, 400, 4);
    assert_int_equal(r->dc.stats.owner_lost, 0);
    assert_true(au_dc_owner(&r->dc) == SERVER_A);
    rig_free(r);
}

/* ---- user messages -------------------------------------------------------------------------- */

AU_RECORD(reading, (int32_t, celsius), (au_str, where), (uint64_t, at), (bool, alarm));

static void user_messages_travel_both_ways(int sealed) {
    rig *r = rig_new(sealed);
    au_dc_poll(&r->dc);
    /* Device -> cluster before any owner: to every seed. Encoded with the client's CBOR helpers,
     * decoded by the library's codec as the schema type. */
    uint8_t buf[64];
    au_dc_cbor_out w = { buf, 0, sizeof buf, 0 };
    au_dc_cbor_put_array(&w, 4);
    au_dc_cbor_put_int(&w, -40);
    au_dc_cbor_put_text(&w, "attic", 5);
    au_dc_cbor_put_uint(&w, 1700000000000ull);
    au_dc_cbor_put_bool(&w, 1);
    assert_int_equal(w.err, 0);
    uint64_t type = au_type_id(&au_type_reading);
    size_t before = r->f.nout;
    assert_int_equal(au_dc_send(&r->dc, type, buf, w.len), AU_DC_OK);
    assert_int_equal(r->f.nout, before + 2);
    au_device_up m = sent_msg(r, before + 1, &r->seeds[1]);
    assert_int_equal(m.tag, au_device_up_data);
    assert_true(m.data.device == DEVICE && m.data.type == type);
    reading rd;
    assert_int_equal(au_decode(&au_type_reading, &rd, m.data.payload.ptr, m.data.payload.len, NULL, NULL), AU_OK);
    assert_int_equal(rd.celsius, -40);
    assert_string_equal(rd.where.ptr, "attic");
    assert_true(rd.at == 1700000000000ull && rd.alarm);
    au_value_free(&au_type_reading, &rd);
    au_value_free(&au_type_au_device_up, &m);

    /* With an owner: to it alone. */
    request(r, &r->b, &r->addr_b, 1);
    before = r->f.nout;
    assert_int_equal(au_dc_send(&r->dc, type, buf, w.len), AU_DC_OK);
    assert_int_equal(r->f.nout, before + 1);
    m = sent_msg(r, before, &r->addr_b);
    au_value_free(&au_type_au_device_up, &m);
    assert_int_equal(r->dc.stats.messages_out, 2);

    /* Cluster -> device: encoded by the library's codec, read with the client's helpers. */
    reading out = { 21, au_str_lit("cellar"), 42, false };
    au_buf enc = { 0 };
    assert_int_equal(au_encode(&au_type_reading, &out, &enc, NULL), AU_OK);
    au_device_down d = lib_data(DEVICE, INCARNATION, SERVER_A, type, enc.data, enc.len);
    lib_build(&r->a, &d);
    deliver(r, &r->a, &r->addr_a);
    au_buf_free(&enc);
    assert_int_equal(r->f.nmsgs, 1);
    assert_true(r->f.msg_server == SERVER_A && r->f.msg_type == type);
    au_dc_cbor_in in = { r->f.msg, r->f.msg + r->f.msg_len, 0 };
    assert_int_equal(au_dc_cbor_get_array(&in), 4);
    assert_int_equal(au_dc_cbor_get_int(&in), 21);
    size_t n;
    const char *where = au_dc_cbor_get_text(&in, &n);
    assert_int_equal(n, 6);
    assert_memory_equal(where, "cellar", 6);
    assert_true(au_dc_cbor_get_uint(&in, UINT64_MAX) == 42);
    assert_int_equal(au_dc_cbor_get_bool(&in), 0);
    assert_int_equal(au_dc_cbor_end(&in), 0);
    /* Data does not make its sender the owner. */
    assert_true(au_dc_owner(&r->dc) == SERVER_B);
    rig_free(r);
}
static void user_messages_plain(void **s) { (void)s; user_messages_travel_both_ways(0); }
static void user_messages_sealed(void **s) { (void)s; user_messages_travel_both_ways(1); }

static void a_message_larger_than_the_tx_buffer_is_refused(void **state) {
    (void)state;
    rig *r = rig_new(1);
    static uint8_t big[600];
    size_t before = r->f.nout;
    assert_int_equal(au_dc_send(&r->dc, 1, big, sizeof big), AU_DC_ETOOBIG);
    assert_int_equal(r->f.nout, before);
    /* The largest that fits does go out, and opens. */
    size_t room = sizeof r->tx - AU_DC_OVERHEAD_SEALED - strlen(AU_DC_SERVER_NAME) - (3 + 4 * 9);
    assert_int_equal(au_dc_send(&r->dc, 1, big, room), AU_DC_OK);
    au_device_up m = sent_msg(r, before, NULL);
    assert_int_equal(m.data.payload.len, room);
    au_value_free(&au_type_au_device_up, &m);
    r->f.fail_sends = 1;
    assert_int_equal(au_dc_send(&r->dc, 1, big, 10), AU_DC_ESEND);
    assert_true(r->dc.stats.send_errors >= 2);
    rig_free(r);
}

/* With a tx buffer of 4000 bytes, a user message is still refused when its datagram would be
 * larger than AU_DC_MAX_DATAGRAM (1400: the nodes' mtu, above which every server drops it
 * unread), nothing sent; what fits makes datagrams of 1400 bytes at most. */
static void a_message_larger_than_the_nodes_mtu_is_refused(void **state) {
    (void)state;
    rig *r = rig_new(0);
    static uint8_t tx[4000], big[2000];
    r->cfg.tx_buf = tx;
    r->cfg.tx_cap = sizeof tx;
    assert_int_equal(au_dc_init(&r->dc, &r->cfg), AU_DC_OK);
    au_dc_poll(&r->dc);
    request(r, &r->a, &r->addr_a, 1); /* an owner: one datagram per send */
    size_t largest = 0;
    for (size_t len = 1200; len <= 1500; len++) {
        r->f.nout = 0;
        int rc = au_dc_send(&r->dc, 1, big, len);
        if (rc == AU_DC_ETOOBIG) {
            assert_int_equal(r->f.nout, 0);
            continue;
        }
        assert_int_equal(rc, AU_DC_OK);
        assert_int_equal(r->f.nout, 1);
        assert_true(r->f.out[0].len <= AU_DC_MAX_DATAGRAM);
        largest = len;
    }
    assert_true(largest > 1300); /* within a few bytes (integers counted at their largest) */
    r->f.nout = 0;
    assert_int_equal(au_dc_send(&r->dc, 1, big, largest + 1), AU_DC_ETOOBIG);
    assert_int_equal(au_dc_send(&r->dc, 1, big, 1400), AU_DC_ETOOBIG);
    assert_int_equal(r->f.nout, 0);
    rig_free(r);
}

/* AU_DC_TX_MIN is one expression: usable inside others. */
static void tx_min_is_one_expression(void **state) {
    (void)state;
    assert_int_equal(2 * AU_DC_TX_MIN(0, 10), 2 * (AU_DC_OVERHEAD_PLAIN + 10 + 45));
    assert_int_equal(AU_DC_TX_MIN(1, 10) * 2, (AU_DC_OVERHEAD_SEALED + 10 + 45) * 2);
}

/* ---- bad input ----------------------------------------------------------------------------- */

/* Delivers bytes and checks that exactly one counter moved and that nothing was sent or called. */
static void expect_drop(rig *r, uint8_t *bytes, size_t len, const uint32_t *counter) {
    au_dc_stats before = r->dc.stats;
    size_t nout = r->f.nout, nmsgs = r->f.nmsgs, nowners = r->f.nowners;
    uint32_t expected = *counter + 1;
    au_dc_input(&r->dc, &r->addr_a, bytes, len);
    assert_int_equal(*counter, expected);
    assert_int_equal(r->dc.stats.received, before.received + 1);
    assert_int_equal(r->dc.stats.accepted, before.accepted);
    assert_int_equal(r->dc.stats.drop_malformed + r->dc.stats.drop_integrity +
                         r->dc.stats.drop_replayed + r->dc.stats.drop_not_mine,
                     before.drop_malformed + before.drop_integrity + before.drop_replayed +
                         before.drop_not_mine + 1);
    assert_int_equal(r->f.nout, nout);
    assert_int_equal(r->f.nmsgs, nmsgs);
    assert_int_equal(r->f.nowners, nowners);
}

/* A valid request datagram from A, built fresh, into buf. */
static size_t good_request(rig *r, uint8_t *buf, uint64_t n) {
    au_device_down m = lib_request(DEVICE, INCARNATION, SERVER_A, n, 1, INTERVAL);
    lib_build(&r->a, &m);
    memcpy(buf, r->a.out, r->a.out_len);
    return r->a.out_len;
}

/* Rewrites the checksum of a plain datagram after a deliberate change. */
static void fix_checksum(uint8_t *buf, size_t len) {
    uint64_t h = XXH3_64bits(buf, len - 8);
    for (int i = 0; i < 8; i++) buf[len - 8 + i] = (uint8_t)(h >> (56 - 8 * i));
}

static void malformed_datagrams_are_dropped_and_counted(void **state) {
    (void)state;
    rig *r = rig_new(0);
    au_dc_stats *s = &r->dc.stats;
    uint8_t buf[LIB_DGRAM_MAX];
    size_t len = good_request(r, buf, 1);

    expect_drop(r, buf, 10, &s->drop_malformed);                          /* truncated */
    len = good_request(r, buf, 1), buf[0] ^= 1, expect_drop(r, buf, len, &s->drop_malformed);  /* magic */
    len = good_request(r, buf, 1), buf[2] = 2, fix_checksum(buf, len);
    expect_drop(r, buf, len, &s->drop_malformed);                          /* version */
    len = good_request(r, buf, 1), buf[3] |= 0x80, fix_checksum(buf, len);
    expect_drop(r, buf, len, &s->drop_malformed);                          /* reserved flag */
    len = good_request(r, buf, 1), buf[len - 20] ^= 0x40;
    expect_drop(r, buf, len, &s->drop_integrity);                          /* corrupted */
    len = good_request(r, buf, 1);
    expect_drop(r, buf, 28, &s->drop_integrity);                           /* cut: checksum no longer matches */
    {   /* header and checksum, no frames */
        uint8_t empty[28];
        memcpy(empty, buf, 20);
        fix_checksum(empty, sizeof empty);
        expect_drop(r, empty, sizeof empty, &s->drop_malformed);
    }
    /* A frame type that does not exist; a fragment (valid aurum, but a device cannot reassemble). */
    len = good_request(r, buf, 1), buf[20] = 9, fix_checksum(buf, len);
    expect_drop(r, buf, len, &s->drop_malformed);
    len = good_request(r, buf, 1), buf[20] = AU_WIRE_FRAME_FRAGMENT, fix_checksum(buf, len);
    expect_drop(r, buf, len, &s->drop_malformed);
    /* A body length past the frames; a name length past the body. */
    len = good_request(r, buf, 1), buf[21] = 0xff, fix_checksum(buf, len);
    expect_drop(r, buf, len, &s->drop_malformed);
    len = good_request(r, buf, 1), buf[24] = 0xf0, fix_checksum(buf, len);
    expect_drop(r, buf, len, &s->drop_malformed);
    /* Trailing CBOR (one more byte inside the body) and a wrong record arity. */
    {
        au_device_down m = lib_request(DEVICE, INCARNATION, SERVER_A, 1, 1, INTERVAL);
        au_buf enc = { 0 };
        assert_int_equal(au_encode(&au_type_au_device_down, &m, &enc, NULL), AU_OK);
        au_wire_dest dest = { 0, (const uint8_t *)AU_DC_CLIENT_NAME, strlen(AU_DC_CLIENT_NAME),
                              AU_DC_DOWN_TYPE_ID, AU_DC_DOWN_TYPE_ID };
        uint8_t payload[128];
        memcpy(payload, enc.data, enc.len);
        payload[enc.len] = 0x00;
        assert_int_equal(au_wire_packer_add(&r->a.packer, &dest, payload, enc.len + 1), AU_WIRE_OK);
        au_wire_packer_flush(&r->a.packer);
        memcpy(buf, r->a.out, r->a.out_len);
        expect_drop(r, buf, r->a.out_len, &s->drop_malformed);
        payload[2] = 0x85; /* the request record as 5 fields */
        assert_int_equal(au_wire_packer_add(&r->a.packer, &dest, payload, enc.len), AU_WIRE_OK);
        au_wire_packer_flush(&r->a.packer);
        memcpy(buf, r->a.out, r->a.out_len);
        expect_drop(r, buf, r->a.out_len, &s->drop_malformed);
        au_buf_free(&enc);
    }
    /* Nothing was acted on: the device has no owner, and the good request still works. */
    assert_true(au_dc_owner(&r->dc) == 0);
    len = good_request(r, buf, 1);
    au_dc_input(&r->dc, &r->addr_a, buf, len);
    assert_true(au_dc_owner(&r->dc) == SERVER_A);
    rig_free(r);
}

static void messages_for_someone_else_are_dropped_and_counted(void **state) {
    (void)state;
    rig *r = rig_new(0);
    au_dc_stats *s = &r->dc.stats;
    au_device_down m = lib_request(DEVICE, INCARNATION, SERVER_A, 1, 1, INTERVAL);
    /* Another name, another root, another interface, a signal. */
    lib_add(&r->a, &m, "au.devicf", AU_DC_DOWN_TYPE_ID, AU_DC_DOWN_TYPE_ID, 0);
    au_wire_packer_flush(&r->a.packer);
    expect_drop(r, r->a.out, r->a.out_len, &s->drop_not_mine);
    lib_add(&r->a, &m, AU_DC_CLIENT_NAME, AU_DC_UP_TYPE_ID, AU_DC_DOWN_TYPE_ID, 0);
    au_wire_packer_flush(&r->a.packer);
    expect_drop(r, r->a.out, r->a.out_len, &s->drop_not_mine);
    lib_add(&r->a, &m, AU_DC_CLIENT_NAME, AU_DC_DOWN_TYPE_ID, AU_DC_DOWN_TYPE_ID ^ 1, 0);
    au_wire_packer_flush(&r->a.packer);
    expect_drop(r, r->a.out, r->a.out_len, &s->drop_not_mine);
    lib_add(&r->a, &m, AU_DC_CLIENT_NAME, AU_DC_DOWN_TYPE_ID, AU_DC_DOWN_TYPE_ID, AU_WIRE_KIND_SIGNAL);
    au_wire_packer_flush(&r->a.packer);
    expect_drop(r, r->a.out, r->a.out_len, &s->drop_not_mine);
    /* Another device; this device's previous incarnation (a request captured before a reboot). */
    m.request.device = DEVICE + 1;
    lib_build(&r->a, &m);
    expect_drop(r, r->a.out, r->a.out_len, &s->drop_not_mine);
    m.request.device = DEVICE;
    m.request.incarnation = INCARNATION - 1;
    lib_build(&r->a, &m);
    expect_drop(r, r->a.out, r->a.out_len, &s->drop_not_mine);
    /* A datagram with a good message and a bad one is dropped whole: nothing is answered. */
    au_device_down good = lib_request(DEVICE, INCARNATION, SERVER_A, 5, 1, INTERVAL);
    lib_add(&r->a, &good, AU_DC_CLIENT_NAME, AU_DC_DOWN_TYPE_ID, AU_DC_DOWN_TYPE_ID, 0);
    lib_add(&r->a, &m, AU_DC_CLIENT_NAME, AU_DC_DOWN_TYPE_ID, AU_DC_DOWN_TYPE_ID, 0);
    au_wire_packer_flush(&r->a.packer);
    expect_drop(r, r->a.out, r->a.out_len, &s->drop_not_mine);
    assert_true(au_dc_owner(&r->dc) == 0);
    /* Two good messages in one datagram are both acted on. */
    au_device_down data = lib_data(DEVICE, INCARNATION, SERVER_A, 3, (const uint8_t *)"\xf6", 1);
    lib_add(&r->a, &good, AU_DC_CLIENT_NAME, AU_DC_DOWN_TYPE_ID, AU_DC_DOWN_TYPE_ID, 0);
    lib_add(&r->a, &data, AU_DC_CLIENT_NAME, AU_DC_DOWN_TYPE_ID, AU_DC_DOWN_TYPE_ID, 0);
    au_wire_packer_flush(&r->a.packer);
    deliver(r, &r->a, &r->addr_a);
    assert_true(au_dc_owner(&r->dc) == SERVER_A);
    assert_int_equal(r->f.nmsgs, 1);
    rig_free(r);
}

static void forged_and_replayed_datagrams_are_dropped_and_counted(void **state) {
    (void)state;
    rig *r = rig_new(1);
    au_dc_stats *s = &r->dc.stats;
    uint8_t buf[LIB_DGRAM_MAX];
    size_t len;

    /* Plain to a sealed device. */
    lib_server plain;
    lib_server_init(&plain, SERVER_A, 0x5000, NULL, 0);
    au_device_down m = lib_request(DEVICE, INCARNATION, SERVER_A, 1, 1, INTERVAL);
    lib_build(&plain, &m);
    expect_drop(r, plain.out, plain.out_len, &s->drop_integrity);
    lib_server_destroy(&plain);
    /* Sealed with another key. */
    uint8_t other[32];
    memset(other, 0x55, sizeof other);
    lib_server forger;
    lib_server_init(&forger, SERVER_A, 0x5000, other, 7);
    lib_build(&forger, &m);
    expect_drop(r, forger.out, forger.out_len, &s->drop_integrity);
    lib_server_destroy(&forger);
    /* Any byte changed: ciphertext, tag, nonce, header (associated data). */
    size_t where[] = { 50, 0, 21, 30, 4, 12 };
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        len = good_request(r, buf, 1);
        size_t at = where[i] ? where[i] : len - 3;
        buf[at] ^= 0x01;
        expect_drop(r, buf, len, &s->drop_integrity);
    }
    /* A member of the fleet (it has the key) posing as server A: its nonce names another sender. */
    lib_server poser;
    lib_server_init(&poser, 0xBADull, 0x5000, SECRET, 7);
    lib_build(&poser, &m); /* the message says SERVER_A */
    expect_drop(r, poser.out, poser.out_len, &s->drop_integrity);
    lib_server_destroy(&poser);
    assert_true(au_dc_owner(&r->dc) == 0);

    /* Replays: the same datagram twice; an older one after a newer; A's previous incarnation. */
    len = good_request(r, buf, 1);
    uint8_t first[LIB_DGRAM_MAX];
    memcpy(first, buf, len);
    size_t first_len = len;
    au_dc_input(&r->dc, &r->addr_a, buf, len);
    assert_true(au_dc_owner(&r->dc) == SERVER_A);
    memcpy(buf, first, first_len);
    expect_drop(r, buf, first_len, &s->drop_replayed);
    uint8_t second[LIB_DGRAM_MAX];
    size_t second_len = good_request(r, second, 2);
    uint8_t third[LIB_DGRAM_MAX];
    size_t third_len = good_request(r, third, 3);
    au_dc_input(&r->dc, &r->addr_a, third, third_len); /* out of order: accepted */
    au_dc_input(&r->dc, &r->addr_a, second, second_len);
    assert_int_equal(s->heartbeats, 3);
    memcpy(buf, first, first_len);
    expect_drop(r, buf, first_len, &s->drop_replayed);
    lib_server old;
    lib_server_init(&old, SERVER_A, 0x4000, SECRET, 7); /* A before its restart */
    lib_build(&old, &m);
    expect_drop(r, old.out, old.out_len, &s->drop_replayed);
    lib_server_destroy(&old);
    /* A after a restart: a new window, accepted. */
    lib_server restarted;
    lib_server_init(&restarted, SERVER_A, 0x7000, SECRET, 7);
    lib_build(&restarted, &m);
    au_dc_input(&r->dc, &r->addr_a, restarted.out, restarted.out_len);
    assert_int_equal(s->heartbeats, 4);
    lib_server_destroy(&restarted);
    rig_free(r);
}

static void a_datagram_cut_by_the_receive_buffer_is_dropped(void **state) {
    (void)state;
    rig *r = rig_new(0);
    memset(r->f.in, 0, sizeof r->f.in);
    r->f.in_len = (int)sizeof r->rx + 1; /* recv reports the real length (MSG_TRUNC) */
    r->f.in_from = r->addr_a;
    au_dc_poll(&r->dc);
    assert_int_equal(r->dc.stats.received, 1);
    assert_int_equal(r->dc.stats.drop_malformed, 1);
    /* Through recv, a good datagram is handled like au_dc_input's. */
    r->f.in_len = (int)good_request(r, r->f.in, 1);
    au_dc_poll(&r->dc);
    assert_true(au_dc_owner(&r->dc) == SERVER_A);
    rig_free(r);
}

/* ---- CBOR helpers --------------------------------------------------------------------------- */

/* NULL where a reader or a length belongs: the error value, never a write through it. */
static void cbor_reader_takes_nulls(void **state) {
    (void)state;
    const uint8_t text[] = { 0x62, 'h', 'i' }, bytes[] = { 0x42, 1, 2 };
    au_dc_cbor_in r = { text, text + sizeof text, 0 };
    assert_null(au_dc_cbor_get_text(&r, NULL));
    assert_int_not_equal(r.err, 0);
    assert_true(r.pos == text); /* nothing read */
    r = (au_dc_cbor_in){ bytes, bytes + sizeof bytes, 0 };
    assert_null(au_dc_cbor_get_bytes(&r, NULL));
    assert_int_not_equal(au_dc_cbor_end(&r), 0);
    size_t n = 99;
    assert_null(au_dc_cbor_get_bytes(NULL, &n));
    assert_int_equal(n, 0);
    assert_int_equal(au_dc_cbor_get_array(NULL), 0);
    assert_int_equal(au_dc_cbor_get_uint(NULL, UINT64_MAX), 0);
    assert_int_equal(au_dc_cbor_get_int(NULL), 0);
    assert_int_equal(au_dc_cbor_get_bool(NULL), 0);
    au_dc_cbor_get_null(NULL);
    assert_int_not_equal(au_dc_cbor_end(NULL), 0);
    /* and with a place for the length, the same input reads */
    r = (au_dc_cbor_in){ text, text + sizeof text, 0 };
    const char *t = au_dc_cbor_get_text(&r, &n);
    assert_int_equal(n, 2);
    assert_memory_equal(t, "hi", 2);
    assert_int_equal(au_dc_cbor_end(&r), 0);
}

static void cbor_reader_refuses_what_the_codec_refuses(void **state) {
    (void)state;
    static const struct { const char *bytes; size_t len; } bad[] = {
        { "\x9f", 1 },          /* indefinite array */
        { "\x1c", 1 },          /* reserved additional information */
        { "\x19\x01", 2 },      /* head cut */
        { "\x43\x01\x02", 3 },  /* byte string past the end */
        { "\xf9\x00\x14", 3 },  /* a half float is not a bool */
        { "\xf8\x14", 2 },      /* a one-byte simple value is not a bool */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const uint8_t *p = (const uint8_t *)bad[i].bytes;
        au_dc_cbor_in r = { p, p + bad[i].len, 0 };
        switch (i) {
        case 0: au_dc_cbor_get_array(&r); break;
        case 1: case 2: au_dc_cbor_get_uint(&r, UINT64_MAX); break;
        case 3: { size_t n; au_dc_cbor_get_bytes(&r, &n); } break;
        default: au_dc_cbor_get_bool(&r); break;
        }
        assert_int_not_equal(au_dc_cbor_end(&r), 0);
    }
    /* Range and sign: 300 is not a u8; -1 is not a uint; INT64_MIN round-trips. */
    uint8_t buf[16];
    au_dc_cbor_out w = { buf, 0, sizeof buf, 0 };
    au_dc_cbor_put_uint(&w, 300);
    au_dc_cbor_in r = { buf, buf + w.len, 0 };
    au_dc_cbor_get_uint(&r, 255);
    assert_int_not_equal(r.err, 0);
    w.len = 0;
    au_dc_cbor_put_int(&w, INT64_MIN);
    r = (au_dc_cbor_in){ buf, buf + w.len, 0 };
    assert_true(au_dc_cbor_get_int(&r) == INT64_MIN);
    assert_int_equal(au_dc_cbor_end(&r), 0);
    /* The writer stops at cap and says so. */
    au_dc_cbor_out small = { buf, 0, 3, 0 };
    au_dc_cbor_put_bytes(&small, (const uint8_t *)"abcd", 4);
    assert_int_not_equal(small.err, 0);
    assert_true(small.len <= 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(type_ids_are_those_of_the_protocol_schema),
        cmocka_unit_test(init_refuses_incomplete_or_inconsistent_configs),
        cmocka_unit_test(first_tick_announces_to_every_seed_plain),
        cmocka_unit_test(first_tick_announces_to_every_seed_sealed),
        cmocka_unit_test(request_answered_plain),
        cmocka_unit_test(request_answered_sealed),
        cmocka_unit_test(silent_owner_is_lost_and_device_reannounces_with_backoff),
        cmocka_unit_test(by_default_an_unanswered_device_announces_every_8_intervals_at_most),
        cmocka_unit_test(poll_returns_the_time_to_the_next_deadline),
        cmocka_unit_test(handover_is_not_a_conflict_but_interleaving_is),
        cmocka_unit_test(stale_interval_in_a_request_makes_the_device_announce),
        cmocka_unit_test(set_interval_advances_the_clock_and_tells_the_owner),
        cmocka_unit_test(an_interval_granted_longer_than_asked_is_taken),
        cmocka_unit_test(a_shorter_interval_keeps_the_owner_until_it_polls_at_it),
        cmocka_unit_test(a_longer_interval_during_a_lease_keeps_the_owner),
        cmocka_unit_test(user_messages_plain),
        cmocka_unit_test(user_messages_sealed),
        cmocka_unit_test(a_message_larger_than_the_tx_buffer_is_refused),
        cmocka_unit_test(a_message_larger_than_the_nodes_mtu_is_refused),
        cmocka_unit_test(tx_min_is_one_expression),
        cmocka_unit_test(malformed_datagrams_are_dropped_and_counted),
        cmocka_unit_test(messages_for_someone_else_are_dropped_and_counted),
        cmocka_unit_test(forged_and_replayed_datagrams_are_dropped_and_counted),
        cmocka_unit_test(a_datagram_cut_by_the_receive_buffer_is_dropped),
        cmocka_unit_test(cbor_reader_refuses_what_the_codec_refuses),
        cmocka_unit_test(cbor_reader_takes_nulls),
        cmocka_unit_test(a_lease_plain),
        cmocka_unit_test(a_lease_sealed),
        cmocka_unit_test(a_new_request_replaces_the_lease_and_leases_are_bounded),
        cmocka_unit_test(a_reordered_older_request_keeps_the_later_lease),
        cmocka_unit_test(a_request_overtaken_by_data_starts_its_lease),
        cmocka_unit_test(a_clock_jumping_back_does_not_hold_the_beats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
