/* test_device_keys.c — device keys (au_node_config.device_keys / device_master_key) on real UDP
 * over 127.0.0.1, port 0 everywhere:
 *   - plain nodes (no cluster key) with device keys: three servers; sealed devices, per-device
 *     keys and keys derived from a fleet master key, and plain devices side by side, announced,
 *     polled and converged; a typed user message down to a sealed device from a server that does
 *     not own it (the owner seals it with the device's key) and one up from a sealed device;
 *   - nodes with a cluster key and device keys: sealed devices converge, a plain device's
 *     datagrams are refused; the device key id may not be a cluster key's, at start or by
 *     rotation;
 *   - hostile datagrams to a server, each built by a real client and sent from a raw socket:
 *     sealed with a wrong key, by a device without a key, replayed, of a past incarnation, with a
 *     sender id the message
 *     contradicts, addressed to another actor (the server's own peer protocol), and plain for a
 *     device that has a key: each dropped and counted by its own counter, and none reaching the
 *     device server. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include "device_world.h"

AU_RECORD(reading, (uint32_t, value));

static dw_world W;

/* Per-device keys for 1000 and 1001; the master key covers 1002..1005. */
static au_device_key DEVICE_KEYS[2];
static uint8_t MASTER[AU_KEY_SIZE];

static void make_keys(void) {
    for (int i = 0; i < 2; i++) {
        DEVICE_KEYS[i].device = 1000u + (uint64_t)i;
        randombytes_buf(DEVICE_KEYS[i].bytes, AU_KEY_SIZE);
    }
    randombytes_buf(MASTER, sizeof MASTER);
}

/* The key a device id seals with in these tests. */
static void key_for(uint64_t device, uint8_t out[AU_KEY_SIZE]) {
    for (int i = 0; i < 2; i++)
        if (DEVICE_KEYS[i].device == device) {
            memcpy(out, DEVICE_KEYS[i].bytes, AU_KEY_SIZE);
            return;
        }
    assert_int_equal(au_device_key_derive(MASTER, device, out), AU_OK);
}

static uint8_t DKEY[DW_DEVICES][AU_KEY_SIZE];

/* Makes device i seal with its key (key id 0): the client is set up again before it ran. */
static void seal_device(dw_world *w, int i) {
    dw_device *d = &w->d[i];
    key_for(d->cfg.device, DKEY[i]);
    d->cfg.key = DKEY[i];
    d->cfg.key_id = 0;
    assert_int_equal(au_dc_posix_random(d->cfg.nonce_random, sizeof d->cfg.nonce_random), 0);
    assert_int_equal(au_dc_init(&d->dc, &d->cfg), AU_DC_OK);
}

static void wait_or_fail(dw_world *w, bool (*pred)(dw_world *), uint32_t ms, const char *what) {
    if (!dw_wait(w, pred, ms)) {
        dw_print(w, what);
        fail_msg("%s: not within %u ms", what, ms);
    }
}

static uint64_t device_drops(au_node *node) {
    au_node_stats st;
    au_node_stats_get(node, &st);
    return st.drops_device_unknown + st.drops_device_seal + st.drops_device_sender +
           st.drops_device_route + st.drops_device_plain;
}

static bool got_message_everywhere(dw_world *w) {
    for (int k = 0; k < w->ns; k++)
        if (w->s[k].live && au_probe_count(w->s[k].messages) == 0) return false;
    return true;
}

static void plain_nodes(void **state) {
    (void)state;
    dw_world *w = &W;
    memset(w, 0, sizeof *w);
    make_keys();
    w->drv = *au_driver_default();
    w->node_cfg = (au_node_config){ .device_keys = DEVICE_KEYS, .ndevice_keys = 2,
                                    .device_master_key = MASTER, .device_master_first = 1002,
                                    .device_master_last = 1005 };
    dw_server_start(w, 0, -1, NULL);
    dw_server_start(w, 1, 0, NULL);
    dw_server_start(w, 2, 0, NULL);
    wait_or_fail(w, dw_cluster_converged, 30000, "3 servers: cluster convergence");
    /* 1000..1005 sealed (two per-device keys, four derived), 1006 and 1007 plain. */
    for (int i = 0; i < 8; i++) {
        dw_device_start(w, i, (int[]){ i % 3 }, 1, 200);
        if (i < 6) seal_device(w, i);
    }
    wait_or_fail(w, dw_all_converged, 30000, "8 devices: device convergence");

    /* Downlink: typed, from a server that does not own the sealed device, through its owner. */
    int h = dw_holder(w, 0);
    assert_true(h >= 0);
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
    assert_int_equal(w->d[0].last_value, 4242);

    /* Uplink from a device whose key was derived from the master key. */
    uint8_t cbor[8];
    au_dc_cbor_out o = { cbor, 0, sizeof cbor, 0 };
    au_dc_cbor_put_array(&o, 1);
    au_dc_cbor_put_uint(&o, 77);
    for (int attempt = 0; attempt < 20 && !got_message_everywhere(w); attempt++) {
        assert_int_equal(au_dc_send(&w->d[3].dc, au_type_id(&au_type_reading), cbor, o.len), AU_DC_OK);
        uint32_t t0 = dw_now_ms();
        while (!got_message_everywhere(w) && dw_now_ms() - t0 < 400) {
            dw_pump(w);
            nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
        }
    }
    assert_true(got_message_everywhere(w));
    au_device_message m;
    assert_int_equal(au_probe_expect(w->s[other].messages, au_device_message, &m, AU_SEC(1)), AU_OK);
    assert_true(m.device == 1003);
    au_value_free(&au_type_au_device_message, &m);

    /* Nothing refused on the way, and no device refused anything. */
    for (int k = 0; k < 3; k++) assert_int_equal(device_drops(w->s[k].node), 0);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(w->d[i].dc.stats.drop_integrity, 0);
    }
    dw_stop(w);
}

static void sealed_nodes(void **state) {
    (void)state;
    dw_world *w = &W;
    memset(w, 0, sizeof *w);
    make_keys();
    w->drv = *au_driver_default();
    au_key cluster = { .id = 1 };
    randombytes_buf(cluster.bytes, sizeof cluster.bytes);

    /* The device key id may not be a cluster key's. */
    au_node *bad = NULL;
    assert_int_equal(au_node_start(&(au_node_config){ .keys = &cluster, .nkeys = 1,
                                                      .device_master_key = MASTER,
                                                      .device_key_id = 1, .workers = 1 }, &bad),
                     AU_ECONFIG);
    assert_null(bad);

    w->node_cfg = (au_node_config){ .keys = &cluster, .nkeys = 1, .device_keys = DEVICE_KEYS,
                                    .ndevice_keys = 2, .device_master_key = MASTER,
                                    .device_master_first = 1002, .device_master_last = 1005 };
    dw_server_start(w, 0, -1, NULL);
    dw_server_start(w, 1, 0, NULL);
    wait_or_fail(w, dw_cluster_converged, 30000, "2 sealed servers: cluster convergence");
    au_key clash = { .id = 0 };
    assert_int_equal(au_node_key_add(w->s[0].node, &clash), AU_EEXIST);

    for (int i = 0; i < 4; i++) {
        dw_device_start(w, i, (int[]){ i % 2 }, 1, 200);
        seal_device(w, i);
    }
    wait_or_fail(w, dw_all_converged, 30000, "4 sealed devices: device convergence");
    for (int k = 0; k < 2; k++) assert_int_equal(device_drops(w->s[k].node), 0);

    /* A plain device: a sealed node refuses its datagrams (counted), so nobody owns it. */
    au_node_stats before;
    au_node_stats_get(w->s[0].node, &before);
    dw_device_start(w, 4, (int[]){ 0 }, 1, 200);
    uint32_t t0 = dw_now_ms();
    au_node_stats now = before;
    while (now.drops_checksum == before.drops_checksum && dw_now_ms() - t0 < 10000) {
        dw_pump(w);
        nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
        au_node_stats_get(w->s[0].node, &now);
    }
    assert_true(now.drops_checksum > before.drops_checksum);
    for (int k = 0; k < 2; k++) assert_int_equal(au_device_server_state(w->s[k].ds, 1004), 0);
    dw_stop(w);
}

/* ---- hostile datagrams ------------------------------------------------------------------------ */

typedef struct capture {
    uint8_t bytes[DW_BUF];
    size_t len;
} capture;

static int capture_send(void *ctx, const au_dc_addr *to, const uint8_t *data, size_t len) {
    (void)to;
    capture *c = ctx;
    if (!c->len && len <= sizeof c->bytes) {
        memcpy(c->bytes, data, len);
        c->len = len;
    }
    return 0;
}

static int capture_recv(void *ctx, au_dc_addr *from, uint8_t *buf, size_t cap) {
    (void)ctx; (void)from; (void)buf; (void)cap;
    return 0;
}

/* The first datagram (an announce) a client of that device id, key (NULL: plain) and server
 * name sends. */
static void announce_inc(capture *c, uint64_t device, const uint8_t *key, const char *name,
                         uint64_t incarnation) {
    static au_dc dc;
    static au_dc_config cfg;
    static uint8_t rx[DW_BUF], tx[DW_BUF];
    static au_dc_addr seed;
    memset(c, 0, sizeof *c);
    seed = (au_dc_addr){ .len = 1 };
    cfg = (au_dc_config){ .device = device, .incarnation = incarnation,
                          .interval_ms = 200, .nseeds = 1, .seeds = &seed, .rx_buf = rx,
                          .rx_cap = sizeof rx, .tx_buf = tx, .tx_cap = sizeof tx, .key = key,
                          .server_name = name,
                          .platform = { .send = capture_send, .recv = capture_recv,
                                        .now_ms = dw_clock, .ctx = c } };
    if (key) assert_int_equal(au_dc_posix_random(cfg.nonce_random, sizeof cfg.nonce_random), 0);
    assert_int_equal(au_dc_init(&dc, &cfg), AU_DC_OK);
    au_dc_poll(&dc);
    assert_true(c->len > 0);
}

static void announce_of(capture *c, uint64_t device, const uint8_t *key, const char *name) {
    announce_inc(c, device, key, name, au_dc_posix_incarnation());
}

static int raw_fd = -1;
static struct sockaddr_in server_sa;

static void send_raw(const capture *c) {
    assert_int_equal(sendto(raw_fd, c->bytes, c->len, 0, (struct sockaddr *)&server_sa,
                            sizeof server_sa), (ssize_t)c->len);
}

/* Waits until the node's counter `field` reaches want; fails after 5 s. */
#define WAIT_STAT(node, field, want)                                                              \
    do {                                                                                          \
        uint32_t t0_ = dw_now_ms();                                                               \
        au_node_stats st_;                                                                        \
        for (;;) {                                                                                \
            au_node_stats_get(node, &st_);                                                        \
            if (st_.field >= (want)) break;                                                       \
            if (dw_now_ms() - t0_ > 5000) fail_msg(#field " = %llu, want %llu",                  \
                                                   (unsigned long long)st_.field,                 \
                                                   (unsigned long long)(want));                   \
            dw_pump(&W);                                                                          \
            nanosleep(&(struct timespec){ 0, 2000000 }, NULL);                                    \
        }                                                                                         \
    } while (0)

static void hostile(void **state) {
    (void)state;
    dw_world *w = &W;
    memset(w, 0, sizeof *w);
    make_keys();
    w->drv = *au_driver_default();
    w->node_cfg = (au_node_config){ .device_keys = DEVICE_KEYS, .ndevice_keys = 2,
                                    .device_master_key = MASTER, .device_master_first = 1002,
                                    .device_master_last = 1005 };
    dw_server_start(w, 0, -1, NULL);
    wait_or_fail(w, dw_cluster_converged, 30000, "1 server");
    dw_device_start(w, 0, (int[]){ 0 }, 1, 200);
    seal_device(w, 0);
    wait_or_fail(w, dw_all_converged, 30000, "a sealed device");

    au_node *node = w->s[0].node;
    const char *colon = strrchr(w->s[0].addr, ':');
    server_sa = (struct sockaddr_in){ .sin_family = AF_INET,
                                      .sin_port = htons((uint16_t)atoi(colon + 1)) };
    inet_pton(AF_INET, "127.0.0.1", &server_sa.sin_addr);
    raw_fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(raw_fd >= 0);
    struct sockaddr_in any = { .sin_family = AF_INET };
    inet_pton(AF_INET, "127.0.0.1", &any.sin_addr);
    assert_int_equal(bind(raw_fd, (struct sockaddr *)&any, sizeof any), 0);

    au_node_stats base;
    au_node_stats_get(node, &base);
    au_device_server_stats ds0;
    au_device_server_stats_get(w->s[0].ds, &ds0);
    capture c;
    uint8_t key[AU_KEY_SIZE];

    /* Forged: device 1000's announce sealed with a key that is not its own. */
    uint8_t wrong[AU_KEY_SIZE];
    randombytes_buf(wrong, sizeof wrong);
    announce_of(&c, 1000, wrong, NULL);
    send_raw(&c);
    WAIT_STAT(node, drops_device_seal, base.drops_device_seal + 1);

    /* A device no key is known for (outside the master key's range). */
    announce_of(&c, 5000, wrong, NULL);
    send_raw(&c);
    WAIT_STAT(node, drops_device_unknown, base.drops_device_unknown + 1);

    /* Replayed: a genuine announce of 1004 (derived key) is accepted once, then refused. */
    key_for(1004, key);
    announce_of(&c, 1004, key, NULL);
    send_raw(&c);
    uint32_t t0 = dw_now_ms();
    for (;;) {
        au_device_server_stats s;
        au_device_server_stats_get(w->s[0].ds, &s);
        if (s.announces > ds0.announces) break;
        if (dw_now_ms() - t0 > 5000) fail_msg("the genuine announce was not accepted");
        nanosleep(&(struct timespec){ 0, 2000000 }, NULL);
    }
    au_device_server_stats_get(w->s[0].ds, &ds0);
    au_node_stats_get(node, &base);
    send_raw(&c);
    WAIT_STAT(node, drops_duplicate, base.drops_duplicate + 1);

    /* A past run: an announce of 1002's incarnation 100, held back until one of its
     * incarnation 200 was accepted, is refused. */
    key_for(1002, key);
    capture past;
    announce_inc(&past, 1002, key, NULL, 100);
    announce_inc(&c, 1002, key, NULL, 200);
    send_raw(&c);
    WAIT_STAT(node, senders, base.senders + 1); /* accepted: 1002 has replay state now */
    send_raw(&past);
    WAIT_STAT(node, drops_stale_incarnation, base.drops_stale_incarnation + 1);

        /* A mismatched sender id: device 1003, holding its own key, seals an announce that names
     * device 1000 (nonce sender 1003, a valid tag). */
    key_for(1003, key);
    announce_of(&c, 1000, key, NULL);
    {
        enum { H = 20, N = 24, T = 16 };
        uint8_t *nonce = c.bytes + H, *ct = c.bytes + H + N;
        size_t ct_len = c.len - H - N - T;
        uint8_t plain[DW_BUF];
        assert_int_equal(crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
                             plain, NULL, ct, ct_len, ct + ct_len, c.bytes, H, nonce, key), 0);
        for (int b = 0; b < 8; b++) nonce[1 + b] = (uint8_t)((uint64_t)1003 >> (56 - 8 * b));
        unsigned long long tag_len = 0;
        assert_int_equal(crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
                             ct, ct + ct_len, &tag_len, plain, ct_len, c.bytes, H, NULL, nonce, key), 0);
    }
    send_raw(&c);
    WAIT_STAT(node, drops_device_sender, base.drops_device_sender + 1);

    /* Addressed to another actor: a genuine sealed datagram of 1005 to the server's own peer
     * protocol actor, which a device key must never reach. */
    key_for(1005, key);
    char peer_name[64];
    snprintf(peer_name, sizeof peer_name, "%s.peer", AU_DEVICE_SERVER_NAME);
    announce_of(&c, 1005, key, peer_name);
    send_raw(&c);
    WAIT_STAT(node, drops_device_route, base.drops_device_route + 1);

    /* Plain, naming a device that has a key: nobody may pose as it without the key. */
    announce_of(&c, 1001, NULL, NULL);
    send_raw(&c);
    WAIT_STAT(node, drops_device_plain, base.drops_device_plain + 1);

    /* None of them reached the device server or another actor; the real device is still up. */
    au_node_stats after;
    au_node_stats_get(node, &after);
    assert_int_equal(after.drops_wrong_root, base.drops_wrong_root);
    assert_int_equal(after.drops_unknown_actor, base.drops_unknown_actor);
    assert_int_equal(after.drops_device_seal + after.drops_device_unknown, 2);
    au_device_server_stats ds1;
    au_device_server_stats_get(w->s[0].ds, &ds1);
    assert_int_equal(ds1.announces, ds0.announces + 1); /* 1002's incarnation 200 only */
    assert_int_equal(ds1.drops_invalid, ds0.drops_invalid);
    assert_int_equal(au_device_server_state(w->s[0].ds, 1001), 0);
    assert_int_equal(au_device_server_state(w->s[0].ds, 1000), AU_DEVICE_UP);
    close(raw_fd);
    raw_fd = -1;
    dw_stop(w);
}

static void derive(void **state) {
    (void)state;
    uint8_t master[AU_KEY_SIZE], a[AU_KEY_SIZE], b[AU_KEY_SIZE], c[AU_KEY_SIZE];
    randombytes_buf(master, sizeof master);
    assert_int_equal(au_device_key_derive(master, 42, a), AU_OK);
    assert_int_equal(crypto_kdf_derive_from_key(b, sizeof b, 42, "audevice", master), 0);
    assert_memory_equal(a, b, sizeof a);
    assert_int_equal(au_device_key_derive(master, 43, c), AU_OK);
    assert_memory_not_equal(a, c, sizeof a);
    assert_int_equal(au_device_key_derive(master, 0, c), AU_EINVAL);
    assert_int_equal(au_device_key_derive(NULL, 1, c), AU_EINVAL);
}

int main(void) {
    if (sodium_init() < 0) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(derive),
        cmocka_unit_test(plain_nodes),
        cmocka_unit_test(sealed_nodes),
        cmocka_unit_test(hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
