/* test_device_client_misuse.c — the device client (aurum/device_client.h) as an adversarial user
 * and a hostile network meet it, driven by a fake platform (no sockets, no sleeping; the clock
 * moves only when the test moves it):
 *  - NULL handles and arguments, and a client whose au_dc_init failed: error codes or nothing,
 *    never a crash;
 *  - au_dc_input with a sender address longer than an au_dc_addr holds, NULL sender or buffer;
 *  - au_dc_send with a NULL payload and a length;
 *  - a clock that wraps at 2^32 ms and one that jumps backwards;
 *  - a send function that always fails, a recv function that errs, floods or overstates;
 *  - random and truncated datagrams (checksums made valid, so the parser is reached): every one
 *    dropped and counted, nothing sent, nothing called back.
 * Relies on library_side.h (the cluster's end of the protocol built from the library's parts). */
#include "library_side.h"

#include <aurum/device_client_posix.h>

#include <errno.h>
#include <stdio.h>
#include <time.h>
#include <xxhash.h>

#define DEVICE 0xD00D0002ull
#define INCARNATION 0x2000ull
#define SERVER_A 0xA1ull
#define INTERVAL 100u

/* ---- the fake platform -------------------------------------------------------------------- */

typedef struct fake {
    uint32_t now;
    size_t nsent;
    au_dc_addr last_to;
    int fail_sends;
    int recv_mode; /* 0 none, 1 error, 2 flood of garbage, 3 overstated length, 4 long address */
    size_t nrecv;
    size_t nowners, nmsgs;
    uint64_t owner;
} fake;

static int fake_send(void *ctx, const au_dc_addr *to, const uint8_t *data, size_t len) {
    fake *f = ctx;
    (void)data;
    assert_true(to->len <= AU_DC_ADDR_MAX);
    assert_true(len <= LIB_DGRAM_MAX);
    if (f->fail_sends) return -1;
    f->last_to = *to;
    f->nsent++;
    return 0;
}

static int fake_recv(void *ctx, au_dc_addr *from, uint8_t *buf, size_t cap) {
    fake *f = ctx;
    f->nrecv++;
    switch (f->recv_mode) {
    case 1: return -5;
    case 2:
        memset(buf, 0xA5, cap < 64 ? cap : 64);
        from->len = 7;
        return 64;
    case 3: from->len = 7; return (int)cap + 1000;
    case 4:
        memset(buf, 0, 32);
        from->len = 200;
        return 32;
    default: return 0;
    }
}

static uint32_t fake_now(void *ctx) { return ((fake *)ctx)->now; }

static void on_owner(void *user, uint64_t owner) {
    fake *f = user;
    f->nowners++;
    f->owner = owner;
}

static void on_message(void *user, uint64_t server, uint64_t type, const uint8_t *p, size_t n) {
    (void)server, (void)type, (void)p, (void)n;
    ((fake *)user)->nmsgs++;
}

typedef struct rig {
    fake f;
    au_dc_addr seeds[1];
    uint8_t rx[512], tx[512];
    au_dc_config cfg;
    au_dc dc;
    lib_server a;
} rig;

static void addr(au_dc_addr *a, uint8_t tag) {
    memset(a, 0, sizeof *a);
    a->len = 7;
    a->bytes[0] = 4;
    a->bytes[2] = tag;
    a->bytes[3] = 127;
    a->bytes[6] = tag;
}

static rig *rig_new(uint32_t now) {
    rig *r = calloc(1, sizeof *r);
    assert_non_null(r);
    addr(&r->seeds[0], 1);
    r->f.now = now;
    r->cfg = (au_dc_config){
        .device = DEVICE, .incarnation = INCARNATION, .interval_ms = INTERVAL,
        .announce_max_ms = 800, .nseeds = 1, .seeds = r->seeds,
        .rx_buf = r->rx, .rx_cap = sizeof r->rx, .tx_buf = r->tx, .tx_cap = sizeof r->tx,
        .platform = { fake_send, fake_recv, fake_now, &r->f },
        .on_message = on_message, .on_owner = on_owner, .user = &r->f,
    };
    assert_int_equal(au_dc_init(&r->dc, &r->cfg), AU_DC_OK);
    lib_server_init(&r->a, SERVER_A, 0x5000, NULL, 0);
    return r;
}

static void rig_free(rig *r) {
    lib_server_destroy(&r->a);
    free(r);
}

static size_t good_request(rig *r, uint8_t *buf, uint64_t n) {
    au_device_down m = lib_request(DEVICE, INCARNATION, SERVER_A, n, r->dc.clock, r->dc.interval_ms);
    lib_build(&r->a, &m);
    memcpy(buf, r->a.out, r->a.out_len);
    return r->a.out_len;
}

static void request(rig *r, uint64_t n) {
    uint8_t buf[LIB_DGRAM_MAX];
    size_t len = good_request(r, buf, n);
    au_dc_input(&r->dc, &r->seeds[0], buf, len);
}

/* A rig whose device has announced and taken two requests of server A, its owner. */
static rig *rig_owned_by_a(void) {
    rig *r = rig_new(1000);
    au_dc_poll(&r->dc);
    request(r, 1);
    request(r, 2);
    assert_true(au_dc_owner(&r->dc) == SERVER_A);
    return r;
}

/* Gives the device again the last datagram server A built: a replay. */
static void replay_the_last(rig *r) {
    uint8_t buf[LIB_DGRAM_MAX];
    memcpy(buf, r->a.out, r->a.out_len);
    au_dc_input(&r->dc, &r->seeds[0], buf, r->a.out_len);
}

static void fix_checksum(uint8_t *buf, size_t len) {
    uint64_t h = XXH3_64bits(buf, len - 8);
    for (int i = 0; i < 8; i++) buf[len - 8 + i] = (uint8_t)(h >> (56 - 8 * i));
}

static uint32_t drops(const au_dc_stats *s) {
    return s->drop_malformed + s->drop_integrity + s->drop_replayed + s->drop_not_mine;
}

/* ---- NULL and uninitialised ---------------------------------------------------------------- */

/* Every call takes a NULL client, and a client whose au_dc_init failed (a caller that ignored the
 * result): they do nothing, return an error or 0, and poll/tick ask to be called again after a
 * second rather than at once (no busy loop). These crashed: au_dc_init(NULL, ..) zeroed through
 * NULL, and every other call read dc->cfg, NULL after a failed init. */
static void null_and_uninitialised_clients_get_error_codes(void **state) {
    (void)state;
    rig *r = rig_new(1000);
    assert_int_equal(au_dc_init(NULL, &r->cfg), AU_DC_EINVAL);
    assert_int_equal(au_dc_init(NULL, NULL), AU_DC_EINVAL);
    au_dc dc;
    assert_int_equal(au_dc_init(&dc, NULL), AU_DC_EINVAL);
    uint8_t buf[64] = { 0 };
    for (int round = 0; round < 2; round++) {
        au_dc *d = round ? &dc : NULL;
        assert_int_equal(au_dc_poll(d), 1000);
        assert_int_equal(au_dc_tick(d), 1000);
        au_dc_input(d, &r->seeds[0], buf, sizeof buf);
        assert_int_equal(au_dc_send(d, 1, buf, 1), AU_DC_EINVAL);
        assert_int_equal(au_dc_set_interval(d, 500), AU_DC_EINVAL);
        assert_int_equal(au_dc_owner(d), 0);
    }
    au_dc_config bad = r->cfg;
    bad.device = 0;
    assert_int_equal(au_dc_init(&dc, &bad), AU_DC_EINVAL);
    assert_int_equal(au_dc_poll(&dc), 1000);
    assert_int_equal(au_dc_send(&dc, 1, buf, 1), AU_DC_EINVAL);
    assert_int_equal(r->f.nsent, 0);
    rig_free(r);
}

/* au_dc_input promises that everything bad is dropped and counted. A sender address longer than
 * AU_DC_ADDR_MAX (possible only through au_dc_input, which pushed datagrams straight in: au_dc_poll
 * checks what recv returns) was taken as the owner's address: later compares and the platform's
 * send then read past the 19 bytes an au_dc_addr holds. */
static void input_with_bad_sender_or_buffer_is_dropped_and_counted(void **state) {
    (void)state;
    rig *r = rig_new(1000);
    au_dc_poll(&r->dc); /* the first announce */
    size_t sent0 = r->f.nsent;
    uint8_t buf[LIB_DGRAM_MAX];
    size_t len = good_request(r, buf, 1);
    au_dc_addr longer = r->seeds[0];
    longer.len = 200;
    au_dc_input(&r->dc, &longer, buf, len);
    assert_int_equal(r->dc.stats.received, 1);
    assert_int_equal(r->dc.stats.drop_malformed, 1);
    assert_int_equal(r->dc.stats.accepted, 0);
    assert_int_equal(au_dc_owner(&r->dc), 0);
    assert_int_equal(r->f.nsent, sent0);

    len = good_request(r, buf, 2);
    au_dc_input(&r->dc, NULL, buf, len);
    au_dc_input(&r->dc, &r->seeds[0], NULL, len);
    au_dc_input(&r->dc, &r->seeds[0], NULL, 0);
    au_dc_input(&r->dc, &r->seeds[0], buf, 0);
    assert_int_equal(r->dc.stats.received, 5);
    assert_int_equal(r->dc.stats.drop_malformed, 5);
    assert_int_equal(au_dc_owner(&r->dc), 0);
    assert_int_equal(r->f.nsent, sent0);

    /* the same datagram from a proper sender is taken */
    au_dc_input(&r->dc, &r->seeds[0], buf, len);
    assert_int_equal(r->dc.stats.accepted, 1);
    assert_int_equal(au_dc_owner(&r->dc), SERVER_A);
    rig_free(r);
}

/* A NULL payload with a length would be read through NULL: refused. The empty payload (NULL, 0)
 * is a payload like any other. */
static void a_null_payload_with_a_length_is_refused(void **state) {
    (void)state;
    rig *r = rig_new(1000);
    au_dc_poll(&r->dc);
    size_t sent0 = r->f.nsent;
    assert_int_equal(au_dc_send(&r->dc, 7, NULL, 5), AU_DC_EINVAL);
    assert_int_equal(r->f.nsent, sent0);
    assert_int_equal(au_dc_send(&r->dc, 7, NULL, 0), AU_DC_OK);
    assert_int_equal(r->f.nsent, sent0 + 1);
    assert_int_equal(r->dc.stats.messages_out, 1);
    /* absurd lengths: too big, not a wrap-around */
    uint8_t p[4] = { 0 };
    assert_int_equal(au_dc_send(&r->dc, 7, p, SIZE_MAX), AU_DC_ETOOBIG);
    assert_int_equal(au_dc_send(&r->dc, 7, p, SIZE_MAX - 20), AU_DC_ETOOBIG);
    assert_int_equal(au_dc_set_interval(&r->dc, 9), AU_DC_EINVAL);
    assert_int_equal(au_dc_set_interval(&r->dc, UINT32_MAX), AU_DC_EINVAL);
    rig_free(r);
}

/* ---- clocks -------------------------------------------------------------------------------- */

/* Runs the client to time t, 10 ms at a time, answering nothing. */
static void run_until(rig *r, uint32_t t) {
    while ((int32_t)(t - r->f.now) > 0) {
        r->f.now += 10;
        uint32_t wait = au_dc_poll(&r->dc);
        assert_true(wait <= r->dc.interval_ms);
    }
}

/* Across the wrap of the 32-bit millisecond clock: an owner polling every interval stays the
 * owner; one that falls silent is lost after lost_after intervals, as anywhere else; the
 * re-announcements keep their backoff. */
static void a_clock_wrapping_at_2_32_keeps_every_timer(void **state) {
    (void)state;
    rig *r = rig_new(UINT32_MAX - 1000);
    au_dc_poll(&r->dc);
    assert_int_equal(r->dc.stats.announces, 1);
    uint64_t n = 1;
    request(r, n++);
    assert_int_equal(au_dc_owner(&r->dc), SERVER_A);
    for (int i = 0; i < 20; i++) { /* 2 s of polling, through the wrap */
        run_until(r, r->f.now + INTERVAL);
        request(r, n++);
    }
    assert_true(r->f.now < 2000); /* wrapped */
    assert_int_equal(au_dc_owner(&r->dc), SERVER_A);
    assert_int_equal(r->dc.stats.owner_lost, 0);
    /* silent from just before the wrap */
    r->f.now = UINT32_MAX - 50;
    request(r, n++);
    run_until(r, (uint32_t)(r->f.now + 3 * INTERVAL - 20));
    assert_int_equal(r->dc.stats.owner_lost, 0);
    run_until(r, (uint32_t)(r->f.now + 30));
    assert_int_equal(r->dc.stats.owner_lost, 1);
    assert_int_equal(au_dc_owner(&r->dc), 0);
    /* backoff across the wrap: 100, 200, 400, 800, 800 ... (+ up to 25 %) */
    uint32_t a0 = r->dc.stats.announces;
    run_until(r, (uint32_t)(r->f.now + 5000));
    uint32_t got = r->dc.stats.announces - a0;
    assert_true(got >= 5 && got <= 9);
    rig_free(r);
}

/* A clock that jumps backwards (a platform whose "monotonic" clock was reset, a wrong epoch after
 * a reboot) must not silence the device for the size of the jump: timers count again from the
 * new time. With the owner lost when the clock jumped back an hour, the device waited an hour
 * before announcing; with an owner, an hour before noticing it was gone. */
static void a_clock_that_jumps_backwards_does_not_silence_the_device(void **state) {
    (void)state;
    rig *r = rig_new(10u * 3600 * 1000);
    au_dc_poll(&r->dc);
    request(r, 1);
    assert_int_equal(au_dc_owner(&r->dc), SERVER_A);
    r->f.now -= 3600 * 1000; /* an hour back */
    run_until(r, r->f.now + 3 * INTERVAL + 20);
    assert_int_equal(r->dc.stats.owner_lost, 1);
    assert_int_equal(au_dc_owner(&r->dc), 0);
    /* owner-less, the clock jumps back again: the next announce comes within the backoff */
    uint32_t a0 = r->dc.stats.announces;
    r->f.now -= 3600 * 1000;
    run_until(r, r->f.now + 1000 + 250);
    assert_true(r->dc.stats.announces > a0);
    rig_free(r);
}

/* ---- a hostile platform -------------------------------------------------------------------- */

/* A send that always fails: every failure counted, nothing retried in a loop, the calls report
 * AU_DC_ESEND, and the re-announce schedule stays the backoff's; sends that work again go out. */
/* A request granting an absurd interval (2^32 - 1 ms) and the longest lease, then nothing: the
 * device takes its owner for lost within (3 + 15) granted intervals of at most 60 s (64 of its
 * own, at least 60 s), not after the 12 days the span's bound alone allowed. */
static void a_request_granting_an_absurd_interval_cannot_hold_the_device_for_days(void **state) {
    (void)state;
    rig *r = rig_new(1000);
    au_dc_poll(&r->dc);
    au_device_down m = lib_request(DEVICE, INCARNATION, SERVER_A, 1, r->dc.clock, UINT32_MAX);
    m.request.beats = AU_DC_MAX_BEATS;
    lib_build(&r->a, &m);
    au_dc_input(&r->dc, &r->seeds[0], r->a.out, r->a.out_len);
    assert_true(au_dc_owner(&r->dc) == SERVER_A);
    uint32_t t0 = r->f.now, limit = (3 + AU_DC_MAX_BEATS - 1) * 60000u;
    while (r->dc.stats.owner_lost == 0 && r->f.now - t0 <= limit + 1000) {
        r->f.now += 1000;
        au_dc_poll(&r->dc);
    }
    assert_int_equal(r->dc.stats.owner_lost, 1);
    assert_true(r->f.now - t0 <= limit + 1000);
    rig_free(r);
}

/* Plain: a forged request naming the owner, its incarnation and a sequence number near 2^64
 * must not lock the owner out (its window was pushed there, and every real datagram after it
 * was refused as a replay, for the rest of the server's run). */
/* Sends request n from server (id, incarnation), plain, as if from `from`. */
static void request_as(rig *r, uint64_t id, uint64_t incarnation, const au_dc_addr *from,
                       uint64_t n, uint64_t seq) {
    lib_server s;
    lib_server_init(&s, id, incarnation, NULL, 0);
    s.packer.next_seq = seq;
    au_device_down m = lib_request(DEVICE, INCARNATION, id, n, r->dc.clock, r->dc.interval_ms);
    lib_build(&s, &m);
    au_dc_input(&r->dc, from, s.out, s.out_len);
    lib_server_destroy(&s);
}

/* Plain: a forged request naming the owner's id and incarnation with a sequence number 2^39
 * ahead of its window: under the 2^40 restart, so it used to move the window, and every real
 * datagram after it was refused as old (days of it at a million datagrams a second). Now a
 * number further ahead than a node can send in the time since the window last moved is
 * dropped and counted, and moves nothing; numbers ahead within that are taken (a busy node's
 * counter runs ahead between its datagrams to one device). A real server whose counter jumped
 * that far while silent here is taken once its window has been silent for as long as an owner
 * may be (lost_after intervals, 300 ms), and a number forged in such a silence is undone the
 * same way. */
static void a_forged_sequence_number_far_ahead_does_not_move_the_window(void **state) {
    (void)state;
    rig *r = rig_owned_by_a();
    uint64_t top = r->dc.servers[0].top;
    uint32_t replayed = r->dc.stats.drop_replayed;
    request_as(r, SERVER_A, 0x5000, &r->seeds[0], 3, top + (1ull << 39)); /* the owner's id */
    assert_int_equal(r->dc.stats.drop_replayed, replayed + 1);
    assert_true(r->dc.servers[0].top == top);
    uint32_t accepted = r->dc.stats.accepted, beats = r->dc.stats.heartbeats;
    for (uint64_t n = 4; n < 40; n++) { /* 3.6 s, the forger sending between the owner's */
        request(r, n);
        request_as(r, SERVER_A, 0x5000, &r->seeds[0], n, top + (1ull << 39) + n);
        r->f.now += INTERVAL;
        au_dc_poll(&r->dc);
    }
    assert_int_equal(r->dc.stats.accepted, accepted + 36); /* every one of the owner's */
    assert_int_equal(r->dc.stats.heartbeats, beats + 36);
    assert_int_equal(r->dc.stats.drop_replayed, replayed + 1 + 36);
    assert_int_equal(r->dc.stats.owner_lost, 0);
    /* ahead within the bound: 60,000 at once, and a busy node's 100,000 after 100 ms */
    top = r->dc.servers[0].top;
    r->a.packer.next_seq = top + 60000;
    request(r, 40);
    assert_int_equal(r->dc.stats.accepted, accepted + 37);
    r->f.now += INTERVAL;
    r->a.packer.next_seq = r->dc.servers[0].top + 100000;
    request(r, 41);
    assert_int_equal(r->dc.stats.accepted, accepted + 38);
    /* The owner's counter jumps 2^39 while it sends nothing here: dropped until the window
     * has been silent for 300 ms (lost_after intervals), taken then. */
    uint32_t last = r->f.now;
    r->a.packer.next_seq = r->dc.servers[0].top + (1ull << 39);
    r->f.now = last + 200;
    request(r, 42);
    assert_int_equal(r->dc.stats.accepted, accepted + 38);
    r->f.now = last + 300;
    request(r, 43);
    assert_int_equal(r->dc.stats.accepted, accepted + 39);
    assert_true(r->dc.servers[0].top == r->a.packer.next_seq - 1);
    /* A number forged in such a silence is taken, and undone by the next: the owner's own
     * numbers, behind it, are refused until the window has been silent again, then taken. */
    last = r->f.now;
    r->f.now = last + 400;
    uint64_t real = r->a.packer.next_seq;
    request_as(r, SERVER_A, 0x5000, &r->seeds[0], 44, real + (1ull << 39));
    assert_int_equal(r->dc.stats.accepted, accepted + 40);
    r->f.now += 10;
    request(r, 45);
    assert_int_equal(r->dc.stats.accepted, accepted + 40); /* behind: refused */
    r->f.now += 300;
    request(r, 46);
    assert_int_equal(r->dc.stats.accepted, accepted + 41);
    assert_true(r->dc.servers[0].top == r->a.packer.next_seq - 1);
    /* and a replay is still refused */
    replay_the_last(r);
    assert_int_equal(r->dc.stats.accepted, accepted + 41);
    rig_free(r);
}

static void a_forged_sequence_number_near_2_64_does_not_lock_out_the_owner(void **state) {
    (void)state;
    rig *r = rig_owned_by_a();
    lib_server forger;
    lib_server_init(&forger, SERVER_A, 0x5000, NULL, 0); /* the owner's id and incarnation */
    forger.packer.next_seq = UINT64_MAX - 3;
    au_device_down m = lib_request(DEVICE, INCARNATION, SERVER_A, 3, r->dc.clock, INTERVAL);
    lib_build(&forger, &m);
    au_dc_input(&r->dc, &r->seeds[0], forger.out, forger.out_len);
    uint32_t replayed = r->dc.stats.drop_replayed, accepted = r->dc.stats.accepted;
    for (uint64_t n = 4; n < 10; n++) {
        request(r, n);
        r->f.now += INTERVAL;
        au_dc_poll(&r->dc);
    }
    assert_int_equal(r->dc.stats.drop_replayed, replayed);
    assert_int_equal(r->dc.stats.accepted, accepted + 6);
    assert_int_equal(r->dc.stats.owner_lost, 0);
    /* A real replay is still refused. */
    replay_the_last(r);
    assert_int_equal(r->dc.stats.drop_replayed, replayed + 1);
    lib_server_destroy(&forger);
    rig_free(r);
}


/* Plain: a forged request naming the owner's id and a higher incarnation (2^64 - 1, then
 * another) must not lock the owner out. The device used to take it as the owner's restart and
 * refuse every real datagram after it as "an older incarnation", until its owner was lost, and
 * then still, the owner's slot keeping the forged incarnation. Now the claim is answered and
 * counted, the owner's run stays accepted (it keeps talking, so the claim is never confirmed),
 * and a replay of the owner's is still refused. */
static void a_forged_higher_server_incarnation_does_not_lock_out_the_owner(void **state) {
    (void)state;
    rig *r = rig_owned_by_a();
    au_dc_addr elsewhere;
    addr(&elsewhere, 66);
    request_as(r, SERVER_A, UINT64_MAX, &elsewhere, 3, 0);
    uint32_t replayed = r->dc.stats.drop_replayed, accepted = r->dc.stats.accepted;
    uint32_t beats = r->dc.stats.heartbeats;
    for (uint64_t n = 4; n < 40; n++) { /* 3.6 s: many times the owner's silence (300 ms) */
        request(r, n);
        assert_int_equal(r->dc.stats.heartbeats, beats + (n - 3) + (n > 20)); /* answered */
        assert_memory_equal(r->f.last_to.bytes, r->seeds[0].bytes, r->seeds[0].len);
        if (n == 20) request_as(r, SERVER_A, 0x5001, &elsewhere, 3, 0); /* a second claim */
        r->f.now += INTERVAL;
        au_dc_poll(&r->dc);
    }
    assert_int_equal(r->dc.stats.drop_replayed, replayed);
    assert_int_equal(r->dc.stats.accepted, accepted + 36 + 1);
    assert_int_equal(r->dc.stats.heartbeats, beats + 36 + 1);
    assert_int_equal(r->dc.stats.claims, 2);
    assert_int_equal(r->dc.stats.owner_lost, 0);
    assert_true(au_dc_owner(&r->dc) == SERVER_A);
    assert_true(r->dc.servers[0].incarnation == 0x5000); /* never confirmed */
    /* A real replay is still refused. */
    replay_the_last(r);
    assert_int_equal(r->dc.stats.drop_replayed, replayed + 1);
    rig_free(r);
}

/* A datagram whose header names server incarnation 0, which no node runs at (an incarnation is
 * its start's clock in the high bits, docs/wire-format.md), is no server's: plain, it was taken
 * as a claim, and since a claim of 0 meant "none", every copy of it restarted the claim's
 * window: one captured datagram replayed any number of times was answered every time. It is
 * dropped and counted as malformed, sealed as well, from the owner or from a server never
 * heard, and the owner stays. */
static void a_datagram_of_server_incarnation_0_is_dropped_and_counted(void **state) {
    (void)state;
    rig *r = rig_owned_by_a();
    au_dc_addr elsewhere;
    addr(&elsewhere, 66);
    lib_server zero;
    lib_server_init(&zero, SERVER_A, 0, NULL, 0);
    au_device_down m = lib_request(DEVICE, INCARNATION, SERVER_A, 3, r->dc.clock, r->dc.interval_ms);
    lib_build(&zero, &m);
    uint32_t accepted = r->dc.stats.accepted, beats = r->dc.stats.heartbeats;
    uint32_t malformed = r->dc.stats.drop_malformed;
    for (int i = 0; i < 5; i++) { /* the one datagram, five times */
        uint8_t buf[LIB_DGRAM_MAX];
        memcpy(buf, zero.out, zero.out_len);
        au_dc_input(&r->dc, i % 2 ? &elsewhere : &r->seeds[0], buf, zero.out_len);
    }
    assert_int_equal(r->dc.stats.accepted, accepted);
    assert_int_equal(r->dc.stats.heartbeats, beats);
    assert_int_equal(r->dc.stats.drop_malformed, malformed + 5);
    assert_int_equal(r->dc.stats.claims, 0);
    lib_server_destroy(&zero);
    /* a server never heard, at incarnation 0 */
    lib_server_init(&zero, 0xC3ull, 0, NULL, 0);
    m.request.server = 0xC3ull;
    lib_build(&zero, &m);
    au_dc_input(&r->dc, &elsewhere, zero.out, zero.out_len);
    assert_int_equal(r->dc.stats.drop_malformed, malformed + 6);
    lib_server_destroy(&zero);
    assert_true(au_dc_owner(&r->dc) == SERVER_A);
    assert_true(r->dc.servers[1].id == 0); /* nothing installed */
    request(r, 3);
    assert_int_equal(r->dc.stats.accepted, accepted + 1);
    rig_free(r);
}

/* Plain: a server that really restarted is answered from its first request, without an owner
 * change; its new incarnation is confirmed once the old run has been silent for as long as an
 * owner may be (claims stop being counted), and the old run's late datagrams are not taken for
 * a restart in their turn (they are recognised, a replay of one refused). */
static void a_restarted_server_is_answered_at_once_and_confirmed(void **state) {
    (void)state;
    rig *r = rig_new(1000);
    au_dc_poll(&r->dc);
    request(r, 1);
    uint8_t old[LIB_DGRAM_MAX];
    size_t old_len = good_request(r, old, 2);
    au_dc_input(&r->dc, &r->seeds[0], old, old_len);
    uint8_t late[LIB_DGRAM_MAX];
    size_t late_len = good_request(r, late, 3); /* sent by the old run, delivered late */
    size_t owners = r->f.nowners;
    uint32_t beats = r->dc.stats.heartbeats;
    lib_server restarted;
    lib_server_init(&restarted, SERVER_A, 0x7000, NULL, 0);
    for (uint64_t n = 1; n <= 10; n++) {
        r->f.now += INTERVAL;
        au_dc_poll(&r->dc);
        au_device_down m = lib_request(DEVICE, INCARNATION, SERVER_A, n, r->dc.clock, INTERVAL);
        lib_build(&restarted, &m);
        au_dc_input(&r->dc, &r->seeds[0], restarted.out, restarted.out_len);
        assert_int_equal(r->dc.stats.heartbeats, beats + n); /* answered at once */
    }
    assert_int_equal(r->f.nowners, owners); /* the same owner: no change, no loss */
    assert_int_equal(r->dc.stats.owner_lost, 0);
    assert_true(r->dc.servers[0].incarnation == 0x7000); /* confirmed */
    uint32_t claims = r->dc.stats.claims;
    assert_true(claims >= 3 && claims < 10);
    au_device_down m = lib_request(DEVICE, INCARNATION, SERVER_A, 11, r->dc.clock, INTERVAL);
    lib_build(&restarted, &m);
    au_dc_input(&r->dc, &r->seeds[0], restarted.out, restarted.out_len);
    assert_int_equal(r->dc.stats.claims, claims);
    /* The old run, late: recognised as the old run (a claim), and its replay refused. */
    uint32_t replayed = r->dc.stats.drop_replayed;
    au_dc_input(&r->dc, &r->seeds[0], late, late_len);
    assert_int_equal(r->dc.stats.claims, claims + 1);
    au_dc_input(&r->dc, &r->seeds[0], old, old_len);
    assert_int_equal(r->dc.stats.drop_replayed, replayed + 1);
    assert_true(r->dc.servers[0].incarnation == 0x7000);
    lib_server_destroy(&restarted);
    rig_free(r);
}

/* Plain: the node taking the device over after its owner crashed is accepted at once, even if
 * a forger named it first with an incarnation above its own (the device used to install it at
 * the forged incarnation and refuse the real node's every request). */
static void a_takeover_after_a_crash_is_accepted_even_after_a_forged_claim(void **state) {
    (void)state;
    rig *r = rig_new(1000);
    au_dc_poll(&r->dc);
    request(r, 1);
    assert_true(au_dc_owner(&r->dc) == SERVER_A);
    const uint64_t heir = 0xB2ull;
    au_dc_addr heir_addr, elsewhere;
    addr(&heir_addr, 9);
    addr(&elsewhere, 66);
    request_as(r, heir, UINT64_MAX, &elsewhere, 1, 0); /* the forger names the heir */
    request(r, 2); /* A is alive yet (the forged request made a conflict: counted) */
    /* A crashes; the heir polls, at its real incarnation. */
    uint32_t replayed = r->dc.stats.drop_replayed, beats = r->dc.stats.heartbeats;
    for (uint64_t n = 1; n <= 5; n++) {
        r->f.now += INTERVAL;
        au_dc_poll(&r->dc);
        request_as(r, heir, 0x6000, &heir_addr, n, n);
        assert_int_equal(r->dc.stats.heartbeats, beats + n);
        assert_memory_equal(r->f.last_to.bytes, heir_addr.bytes, heir_addr.len);
        assert_true(au_dc_owner(&r->dc) == heir);
    }
    assert_int_equal(r->dc.stats.drop_replayed, replayed);
    assert_true(r->dc.servers[0].incarnation == 0x6000);
    assert_int_equal(r->dc.stats.owner_lost, 0);
    rig_free(r);
}

/* The interval clock compares by difference and wraps: no clock (2^32 - 1 as a saturated one
 * was) beats every one the device can still reach. A request naming a clock further ahead
 * than AU_DC_CLOCK_WINDOW (plain, a forged one) is not taken: the device tells the server its
 * own. One within the window is, past 2^32 too, and au_dc_set_interval moves on through 0. */
static void the_interval_clock_wraps_and_a_far_ahead_one_is_not_taken(void **state) {
    (void)state;
    rig *r = rig_new(1000);
    au_dc_poll(&r->dc);
    uint32_t announces = r->dc.stats.announces;
    au_device_down m = lib_request(DEVICE, INCARNATION, SERVER_A, 1, UINT32_MAX, 2 * INTERVAL);
    lib_build(&r->a, &m);
    au_dc_input(&r->dc, &r->seeds[0], r->a.out, r->a.out_len);
    assert_int_equal(r->dc.clock, 1); /* not taken */
    assert_int_equal(r->dc.stats.announces, announces + 1); /* its own, to the server */
    assert_int_equal(r->dc.interval_ms, INTERVAL);
    m = lib_request(DEVICE, INCARNATION, SERVER_A, 2, 1 + AU_DC_CLOCK_WINDOW + 1, INTERVAL);
    lib_build(&r->a, &m);
    au_dc_input(&r->dc, &r->seeds[0], r->a.out, r->a.out_len);
    assert_int_equal(r->dc.clock, 1);
    assert_int_equal(r->dc.stats.announces, announces + 2);
    /* Within the window, step by step up to 2^32 - 10, then past 2^32. */
    uint64_t n = 3;
    while (r->dc.clock != UINT32_MAX - 9) {
        uint32_t step = UINT32_MAX - 9 - r->dc.clock;
        if (step > AU_DC_CLOCK_WINDOW) step = AU_DC_CLOCK_WINDOW;
        m = lib_request(DEVICE, INCARNATION, SERVER_A, n++, r->dc.clock + step, INTERVAL);
        lib_build(&r->a, &m);
        au_dc_input(&r->dc, &r->seeds[0], r->a.out, r->a.out_len);
    }
    m = lib_request(DEVICE, INCARNATION, SERVER_A, n++, 5, 3 * INTERVAL); /* 15 ahead */
    lib_build(&r->a, &m);
    au_dc_input(&r->dc, &r->seeds[0], r->a.out, r->a.out_len);
    assert_int_equal(r->dc.clock, 6); /* past it, to announce its own interval */
    assert_int_equal(au_dc_set_interval(&r->dc, 2 * INTERVAL), AU_DC_OK);
    assert_int_equal(r->dc.clock, 7);
    r->dc.clock = UINT32_MAX;
    assert_int_equal(au_dc_set_interval(&r->dc, 3 * INTERVAL), AU_DC_OK);
    assert_int_equal(r->dc.clock, 0);
    /* 2^32 - 1 is behind 0 now: the device tells the server its own again. */
    announces = r->dc.stats.announces;
    m = lib_request(DEVICE, INCARNATION, SERVER_A, n++, UINT32_MAX, 3 * INTERVAL);
    lib_build(&r->a, &m);
    au_dc_input(&r->dc, &r->seeds[0], r->a.out, r->a.out_len);
    assert_int_equal(r->dc.clock, 0);
    assert_int_equal(r->dc.stats.announces, announces + 1);
    rig_free(r);
}

/* au_dc_posix_wait on a closed socket fails at once (poll(2) ignores a negative descriptor and
 * had waited out the timeout, returning 0 as if nothing had come). */
static void waiting_on_a_closed_posix_socket_fails_at_once(void **state) {
    (void)state;
    au_dc_posix io;
    assert_int_equal(au_dc_posix_open(&io, "127.0.0.1", 0), 0);
    assert_int_equal(au_dc_posix_wait(&io, 0), 0); /* open, nothing pending */
    au_dc_posix_close(&io);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    errno = 0;
    assert_int_equal(au_dc_posix_wait(&io, 2000), -1);
    assert_int_equal(errno, EBADF);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_true(b.tv_sec - a.tv_sec < 1);
}

static void a_send_that_always_fails_is_counted_not_spun_on(void **state) {
    (void)state;
    rig *r = rig_new(1000);
    r->f.fail_sends = 1;
    run_until(r, 1000 + 10000);
    assert_int_equal(r->f.nsent, 0);
    assert_int_equal(r->dc.stats.sent, 0);
    assert_true(r->dc.stats.announces >= 10 && r->dc.stats.announces <= 20);
    assert_int_equal(r->dc.stats.send_errors, r->dc.stats.announces);
    assert_int_equal(au_dc_send(&r->dc, 1, (const uint8_t *)"x", 1), AU_DC_ESEND);
    assert_int_equal(au_dc_set_interval(&r->dc, 200), AU_DC_ESEND);
    assert_int_equal(r->dc.stats.messages_out, 0);
    /* a request still makes an owner (the heartbeat is lost like any datagram) */
    request(r, 1);
    assert_int_equal(au_dc_owner(&r->dc), SERVER_A);
    assert_int_equal(r->dc.stats.heartbeats, 0);
    r->f.fail_sends = 0;
    request(r, 2);
    assert_int_equal(r->dc.stats.heartbeats, 1);
    assert_true(r->f.nsent >= 1);
    rig_free(r);
}

/* recv that errs, floods, overstates the length or the address: au_dc_poll returns (at most 16
 * datagrams a call), counts each, and the timers still run. */
static void a_misbehaving_recv_is_bounded_and_counted(void **state) {
    (void)state;
    for (int mode = 1; mode <= 4; mode++) {
        rig *r = rig_new(1000);
        r->f.recv_mode = mode;
        for (int i = 0; i < 10; i++) {
            r->f.now += 10;
            assert_true(au_dc_poll(&r->dc) <= INTERVAL);
        }
        assert_true(r->dc.stats.announces >= 1); /* the timers ran */
        if (mode == 1) {
            assert_int_equal(r->f.nrecv, 10);
            assert_int_equal(r->dc.stats.received, 0);
        } else {
            assert_int_equal(r->f.nrecv, 160);
            assert_int_equal(r->dc.stats.received, 160);
            assert_int_equal(drops(&r->dc.stats), 160);
            assert_int_equal(r->dc.stats.accepted, 0);
        }
        assert_int_equal(au_dc_owner(&r->dc), 0);
        assert_int_equal(r->f.nmsgs, 0);
        rig_free(r);
    }
}

/* ---- hostile datagrams --------------------------------------------------------------------- */

static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Random bytes behind a valid header and checksum, every prefix of a valid request (re-checksummed)
 * and valid requests with bytes flipped (re-checksummed): each dropped and counted exactly once,
 * nothing sent, nothing called back, no owner. Run under ASan / valgrind. */
static void random_and_truncated_datagrams_are_dropped_and_counted(void **state) {
    (void)state;
    rig *r = rig_new(1000);
    au_dc_poll(&r->dc);
    size_t sent0 = r->f.nsent;
    uint64_t seed = 0x9E3779B97F4A7C15ull;
    uint8_t good[LIB_DGRAM_MAX], buf[LIB_DGRAM_MAX];
    size_t glen = good_request(r, good, 1);
    uint32_t expect = 0;
    for (int i = 0; i < 20000; i++) {
        size_t len = (size_t)(rnd(&seed) % sizeof r->rx);
        for (size_t k = 0; k < len; k++) buf[k] = (uint8_t)rnd(&seed);
        if (len >= 28 && i % 2) { /* a valid header, so the frames are parsed */
            memcpy(buf, good, 20);
            fix_checksum(buf, len);
        }
        au_dc_input(&r->dc, &r->seeds[0], buf, len);
        expect++;
    }
    for (size_t len = 0; len < glen; len++) {
        memcpy(buf, good, len);
        if (len >= 28) fix_checksum(buf, len);
        au_dc_input(&r->dc, &r->seeds[0], buf, len);
        expect++;
    }
    for (int i = 0; i < 5000; i++) {
        memcpy(buf, good, glen);
        size_t at = 20 + (size_t)(rnd(&seed) % (glen - 28));
        uint8_t flip = (uint8_t)(rnd(&seed) | 1);
        buf[at] ^= flip;
        fix_checksum(buf, glen);
        au_dc_stats before = r->dc.stats;
        au_dc_input(&r->dc, &r->seeds[0], buf, glen);
        expect++;
        if (r->dc.stats.accepted != before.accepted) { /* a flip the decoder cannot see (a request
                                                        * number, a clock): a valid request */
            expect--;
            r->dc.servers[0].id = 0; /* forget it again: keep counting drops */
            r->dc.servers[1].id = 0;
        }
    }
    assert_int_equal(drops(&r->dc.stats), expect);
    assert_int_equal(r->f.nmsgs, 0);
    fprintf(stderr, "dropped %u: malformed %u, integrity %u, replayed %u, not mine %u; accepted %u\n",
            drops(&r->dc.stats), r->dc.stats.drop_malformed, r->dc.stats.drop_integrity,
            r->dc.stats.drop_replayed, r->dc.stats.drop_not_mine, r->dc.stats.accepted);
    (void)sent0;
    rig_free(r);
}

int main(void) {
    (void)lib_data, (void)lib_open_up; /* library_side.h's, unused here */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(null_and_uninitialised_clients_get_error_codes),
        cmocka_unit_test(input_with_bad_sender_or_buffer_is_dropped_and_counted),
        cmocka_unit_test(a_null_payload_with_a_length_is_refused),
        cmocka_unit_test(a_clock_wrapping_at_2_32_keeps_every_timer),
        cmocka_unit_test(a_request_granting_an_absurd_interval_cannot_hold_the_device_for_days),
        cmocka_unit_test(a_forged_sequence_number_near_2_64_does_not_lock_out_the_owner),
        cmocka_unit_test(a_forged_sequence_number_far_ahead_does_not_move_the_window),
        cmocka_unit_test(a_forged_higher_server_incarnation_does_not_lock_out_the_owner),
        cmocka_unit_test(a_restarted_server_is_answered_at_once_and_confirmed),
        cmocka_unit_test(a_datagram_of_server_incarnation_0_is_dropped_and_counted),
        cmocka_unit_test(a_takeover_after_a_crash_is_accepted_even_after_a_forged_claim),
        cmocka_unit_test(the_interval_clock_wraps_and_a_far_ahead_one_is_not_taken),
        cmocka_unit_test(waiting_on_a_closed_posix_socket_fails_at_once),
        cmocka_unit_test(a_clock_that_jumps_backwards_does_not_silence_the_device),
        cmocka_unit_test(a_send_that_always_fails_is_counted_not_spun_on),
        cmocka_unit_test(a_misbehaving_recv_is_bounded_and_counted),
        cmocka_unit_test(random_and_truncated_datagrams_are_dropped_and_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
