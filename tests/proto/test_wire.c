/* Specification of the UDP wire format: packer, parser, reassembly, sealing, replay window.
 *
 * The tests run a sender (au_wire_packer) into an in-memory list of datagrams and a receiver
 * (au_wire_datagram_open + au_reassembly) out of it, the way the transport will; malformed
 * datagrams are built by hand with a correct checksum so that each reaches the check it targets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <xxhash.h>

#include "proto/reassembly.h"
#include "proto/seal.h"
#include "proto/wire.h"

#define SECOND_NS 1000000000ull
#define INCARNATION 0x1122334455667788ull

/* ---- helpers: a deterministic PRNG ------------------------------------------------------- */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static void fill_pattern(uint8_t *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)((i * 31u + seed * 7u) ^ (i >> 8));
}

/* ---- helpers: the sending side, datagrams captured in memory ---------------------------- */

typedef struct dgram {
    uint8_t *bytes;
    size_t len;
} dgram;

typedef struct capture {
    dgram *list;
    size_t count, cap;
} capture;

static void capture_emit(void *user, const uint8_t *bytes, size_t len) {
    capture *c = user;
    if (c->count == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->list = realloc(c->list, c->cap * sizeof *c->list);
        assert_non_null(c->list);
    }
    c->list[c->count].bytes = malloc(len);
    assert_non_null(c->list[c->count].bytes);
    memcpy(c->list[c->count].bytes, bytes, len);
    c->list[c->count].len = len;
    c->count++;
}

static void capture_free(capture *c) {
    for (size_t i = 0; i < c->count; i++) free(c->list[i].bytes);
    free(c->list);
    *c = (capture){0};
}

static au_wire_dest dest_named(const char *name, uint8_t kind) {
    return (au_wire_dest){.kind = kind,
                          .name = (const uint8_t *)name,
                          .name_len = strlen(name),
                          .root_type = 0xAAAA000000000001ull,
                          .iface_type = 0xBBBB000000000002ull};
}

typedef struct sender {
    au_wire_ids ids;
    au_wire_packer packer;
    capture out;
} sender;

static void sender_init(sender *s, const au_wire_limits *limits, au_seal_key *key) {
    memset(s, 0, sizeof *s);
    au_wire_ids_init(&s->ids);
    assert_int_equal(au_wire_packer_init(&s->packer, limits, INCARNATION, &s->ids, key,
                                         capture_emit, &s->out),
                     AU_WIRE_OK);
}

static void sender_free(sender *s) {
    au_wire_packer_destroy(&s->packer);
    capture_free(&s->out);
}

/* ---- helpers: the receiving side --------------------------------------------------------- */

typedef struct received {
    uint8_t kind;
    char name[AU_WIRE_MAX_NAME + 1];
    uint64_t root_type, iface_type;
    uint8_t *payload;
    size_t payload_len;
} received;

typedef struct receiver {
    au_wire_limits limits;
    const au_seal_key *key;
    au_reassembly *reassembly;
    received *got;
    size_t count, cap;
    int last_status; /* of the last datagram or fragment that failed */
    size_t failures;
} receiver;

static void receiver_init(receiver *x, const au_wire_limits *limits, const au_seal_key *key) {
    memset(x, 0, sizeof *x);
    x->limits = *limits;
    x->key = key;
    assert_int_equal(au_reassembly_create(limits, &x->reassembly), AU_WIRE_OK);
}

static void receiver_free(receiver *x) {
    for (size_t i = 0; i < x->count; i++) free(x->got[i].payload);
    free(x->got);
    au_reassembly_destroy(x->reassembly);
}

static void keep(receiver *x, const au_wire_message *m) {
    if (x->count == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 16;
        x->got = realloc(x->got, x->cap * sizeof *x->got);
        assert_non_null(x->got);
    }
    received *r = &x->got[x->count++];
    r->kind = m->dest.kind;
    memcpy(r->name, m->dest.name, m->dest.name_len);
    r->name[m->dest.name_len] = 0;
    r->root_type = m->dest.root_type;
    r->iface_type = m->dest.iface_type;
    r->payload = malloc(m->payload_len ? m->payload_len : 1);
    assert_non_null(r->payload);
    if (m->payload_len) memcpy(r->payload, m->payload, m->payload_len);
    r->payload_len = m->payload_len;
}

/* What the transport does with one received datagram. Returns the datagram's open status. */
static int receive(receiver *x, uint8_t *bytes, size_t len, uint64_t now_ns) {
    au_wire_header h;
    au_wire_reader rd;
    int rc = au_wire_datagram_open(&x->limits, x->key, bytes, len, &h, &rd);
    if (rc != AU_WIRE_OK) {
        x->last_status = rc;
        x->failures++;
        return rc;
    }
    au_wire_frame f;
    while ((rc = au_wire_reader_next(&rd, &f)) > 0) {
        if (f.type == AU_WIRE_FRAME_MESSAGE) {
            keep(x, &f.as.message);
            continue;
        }
        au_reassembled done;
        int frc = au_reassembly_feed(x->reassembly, h.incarnation, &f.as.fragment, now_ns, &done);
        if (frc == AU_WIRE_OK) {
            keep(x, &done.msg);
            free(done.data);
        } else if (frc < 0) {
            x->last_status = frc;
            x->failures++;
        }
    }
    assert_int_equal(rc, 0); /* an opened datagram never fails half-way */
    return AU_WIRE_OK;
}

static void receive_all(receiver *x, capture *c, uint64_t now_ns) {
    for (size_t i = 0; i < c->count; i++) receive(x, c->list[i].bytes, c->list[i].len, now_ns);
}

/* ---- helpers: hand-made datagrams --------------------------------------------------------- */

static size_t put_be(uint8_t *p, uint64_t v, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return n;
}

/* Header + frames + a correct XXH3 trailer; returns the datagram length. */
static size_t plain_datagram(uint8_t *out, const uint8_t *frames, size_t frames_len) {
    au_wire_header h = {.version = AU_WIRE_VERSION, .incarnation = INCARNATION, .seq = 7};
    au_wire_header_encode(&h, out);
    if (frames_len) memcpy(out + AU_WIRE_HEADER_SIZE, frames, frames_len);
    size_t covered = AU_WIRE_HEADER_SIZE + frames_len;
    put_be(out + covered, XXH3_64bits(out, covered), 8);
    return covered + AU_WIRE_CHECKSUM_SIZE;
}

/* A message frame with the given declared body length and body bytes. */
static size_t message_frame(uint8_t *out, uint16_t declared_body_len, const uint8_t *body,
                            size_t body_len) {
    out[0] = AU_WIRE_FRAME_MESSAGE;
    put_be(out + 1, declared_body_len, 2);
    memcpy(out + 3, body, body_len);
    return 3 + body_len;
}

static size_t body_bytes(uint8_t *out, uint8_t kind, uint8_t name_len, const char *name,
                         size_t payload_len) {
    out[0] = kind;
    out[1] = name_len;
    put_be(out + 2, 1, 8);
    put_be(out + 10, 2, 8);
    memcpy(out + 18, name, strlen(name));
    memset(out + 18 + strlen(name), 0x5A, payload_len);
    return 18 + strlen(name) + payload_len;
}

static size_t fragment_frame(uint8_t *out, uint64_t msg_id, uint32_t total, uint32_t offset,
                             uint16_t declared_len, size_t actual_len) {
    out[0] = AU_WIRE_FRAME_FRAGMENT;
    put_be(out + 1, msg_id, 8);
    put_be(out + 9, total, 4);
    put_be(out + 13, offset, 4);
    put_be(out + 17, declared_len, 2);
    memset(out + 19, 0x33, actual_len);
    return 19 + actual_len;
}

static int open_plain(uint8_t *d, size_t len) {
    au_wire_limits l = au_wire_limits_default();
    au_wire_header h;
    au_wire_reader rd;
    return au_wire_datagram_open(&l, NULL, d, len, &h, &rd);
}

static au_wire_fragment fragment_of(const uint8_t *body, uint32_t total, uint64_t id,
                                    uint32_t off, uint32_t len) {
    return (au_wire_fragment){
        .msg_id = id, .total_len = total, .offset = off, .chunk = body + off, .chunk_len = len};
}

/* ---- header and limits -------------------------------------------------------------------- */

static void header_round_trips(void **state) {
    (void)state;
    uint8_t buf[AU_WIRE_HEADER_SIZE];
    au_wire_header in = {.version = AU_WIRE_VERSION,
                         .flags = AU_WIRE_FLAG_SEALED,
                         .incarnation = 0x0102030405060708ull,
                         .seq = 0xF0E0D0C0B0A09080ull};
    au_wire_header_encode(&in, buf);
    assert_int_equal(buf[0], 0x41);
    assert_int_equal(buf[1], 0x75);
    assert_int_equal(buf[4], 0x01); /* big-endian */
    au_wire_header out;
    assert_int_equal(au_wire_header_parse(buf, sizeof buf, &out), AU_WIRE_OK);
    assert_int_equal(out.version, AU_WIRE_VERSION);
    assert_int_equal(out.flags, AU_WIRE_FLAG_SEALED);
    assert_true(out.incarnation == in.incarnation);
    assert_true(out.seq == in.seq);
}

static void header_with_wrong_magic_version_or_flags_is_rejected(void **state) {
    (void)state;
    uint8_t buf[AU_WIRE_HEADER_SIZE];
    au_wire_header h = {.incarnation = 1, .seq = 2}, out;
    au_wire_header_encode(&h, buf);
    assert_int_equal(au_wire_header_parse(buf, AU_WIRE_HEADER_SIZE - 1, &out), AU_WIRE_TRUNCATED);
    buf[0] ^= 1;
    assert_int_equal(au_wire_header_parse(buf, sizeof buf, &out), AU_WIRE_BAD_MAGIC);
    buf[0] ^= 1;
    buf[2] = AU_WIRE_VERSION + 1;
    assert_int_equal(au_wire_header_parse(buf, sizeof buf, &out), AU_WIRE_BAD_VERSION);
    buf[2] = AU_WIRE_VERSION;
    buf[3] = 0x80;
    assert_int_equal(au_wire_header_parse(buf, sizeof buf, &out), AU_WIRE_BAD_FLAGS);
}

static void default_limits_are_valid_and_out_of_range_limits_are_not(void **state) {
    (void)state;
    au_wire_limits d = au_wire_limits_default();
    assert_int_equal(d.mtu, 1400);
    assert_int_equal(d.max_message, 16u << 20);
    assert_true(d.reassembly_timeout_ns == SECOND_NS);
    assert_int_equal(au_wire_limits_check(&d), AU_WIRE_OK);

    au_wire_limits l = d;
    l.mtu = AU_WIRE_MIN_MTU - 1;
    assert_int_equal(au_wire_limits_check(&l), AU_WIRE_BAD_LIMITS);
    l = d, l.mtu = AU_WIRE_MAX_MTU + 1;
    assert_int_equal(au_wire_limits_check(&l), AU_WIRE_BAD_LIMITS);
    l = d, l.max_name = 256;
    assert_int_equal(au_wire_limits_check(&l), AU_WIRE_BAD_LIMITS);
    l = d, l.max_message = (size_t)UINT32_MAX + 1;
    assert_int_equal(au_wire_limits_check(&l), AU_WIRE_BAD_LIMITS);
    l = d, l.max_partials = 0;
    assert_int_equal(au_wire_limits_check(&l), AU_WIRE_BAD_LIMITS);
    l = d, l.max_partials = AU_WIRE_MAX_PARTIALS + 1;
    assert_int_equal(au_wire_limits_check(&l), AU_WIRE_BAD_LIMITS);
    l = d, l.max_buffered = 0;
    assert_int_equal(au_wire_limits_check(&l), AU_WIRE_BAD_LIMITS);
    l = d, l.reassembly_timeout_ns = 0;
    assert_int_equal(au_wire_limits_check(&l), AU_WIRE_BAD_LIMITS);

    au_wire_packer p;
    au_wire_ids ids;
    au_wire_ids_init(&ids);
    l = d, l.mtu = 10;
    assert_int_equal(au_wire_packer_init(&p, &l, 1, &ids, NULL, capture_emit, NULL),
                     AU_WIRE_BAD_LIMITS);
    au_reassembly *r = NULL;
    assert_int_equal(au_reassembly_create(&l, &r), AU_WIRE_BAD_LIMITS);
    assert_null(r);
}

static void every_status_has_a_distinct_name(void **state) {
    (void)state;
    const char *seen[64];
    size_t n = 0;
    for (int s = AU_WIRE_UNKNOWN_KEY; s <= AU_WIRE_DUPLICATE; s++) {
        const char *name = au_wire_status_str(s);
        assert_string_not_equal(name, "unknown status");
        for (size_t i = 0; i < n; i++) assert_string_not_equal(seen[i], name);
        seen[n++] = name;
    }
    assert_string_equal(au_wire_status_str(AU_WIRE_UNKNOWN_KEY - 1), "unknown status");
    assert_string_equal(au_wire_status_str(AU_WIRE_DUPLICATE + 1), "unknown status");
}

/* ---- round trips -------------------------------------------------------------------------- */

static void one_small_message_round_trips_in_one_datagram(void **state) {
    (void)state;
    au_wire_limits l = au_wire_limits_default();
    sender s;
    sender_init(&s, &l, NULL);
    au_wire_dest d = dest_named("greeter", AU_WIRE_KIND_SIGNAL);
    const uint8_t payload[] = {0xA2, 0x01, 0x02, 0x03};
    assert_int_equal(au_wire_packer_add(&s.packer, &d, payload, sizeof payload), AU_WIRE_OK);
    assert_int_equal(s.out.count, 0); /* pending until flushed */
    au_wire_packer_flush(&s.packer);
    assert_int_equal(s.out.count, 1);
    assert_int_equal(s.out.list[0].len, AU_WIRE_HEADER_SIZE + 3 + 18 + 7 + 4 + 8);
    au_wire_packer_flush(&s.packer); /* nothing pending: nothing emitted */
    assert_int_equal(s.out.count, 1);

    receiver x;
    receiver_init(&x, &l, NULL);
    au_wire_header h;
    assert_int_equal(au_wire_header_parse(s.out.list[0].bytes, s.out.list[0].len, &h), AU_WIRE_OK);
    assert_true(h.incarnation == INCARNATION);
    assert_true(h.seq == 0);
    receive_all(&x, &s.out, 0);
    assert_int_equal(x.count, 1);
    assert_int_equal(x.got[0].kind, AU_WIRE_KIND_SIGNAL);
    assert_string_equal(x.got[0].name, "greeter");
    assert_true(x.got[0].root_type == d.root_type);
    assert_true(x.got[0].iface_type == d.iface_type);
    assert_int_equal(x.got[0].payload_len, sizeof payload);
    assert_memory_equal(x.got[0].payload, payload, sizeof payload);
    receiver_free(&x);
    sender_free(&s);
}

static void empty_name_and_empty_payload_round_trip(void **state) {
    (void)state;
    au_wire_limits l = au_wire_limits_default();
    sender s;
    sender_init(&s, &l, NULL);
    au_wire_dest d = dest_named("", AU_WIRE_KIND_MESSAGE);
    assert_int_equal(au_wire_packer_add(&s.packer, &d, NULL, 0), AU_WIRE_OK);
    au_wire_packer_flush(&s.packer);
    receiver x;
    receiver_init(&x, &l, NULL);
    receive_all(&x, &s.out, 0);
    assert_int_equal(x.count, 1);
    assert_string_equal(x.got[0].name, "");
    assert_int_equal(x.got[0].payload_len, 0);
    receiver_free(&x);
    sender_free(&s);
}

static void small_messages_are_coalesced_into_few_datagrams(void **state) {
    (void)state;
    au_wire_limits l = au_wire_limits_default();
    sender s;
    sender_init(&s, &l, NULL);
    enum { N = 1000, PAYLOAD = 40 };
    uint8_t payload[PAYLOAD];
    char name[16];
    for (uint32_t i = 0; i < N; i++) {
        snprintf(name, sizeof name, "actor-%04u", i);
        au_wire_dest d = dest_named(name, AU_WIRE_KIND_MESSAGE);
        fill_pattern(payload, PAYLOAD, i);
        assert_int_equal(au_wire_packer_add(&s.packer, &d, payload, PAYLOAD), AU_WIRE_OK);
    }
    au_wire_packer_flush(&s.packer);

    /* 3 + 18 + 10 + 40 = 71 bytes a frame, (1400 - 28) / 71 = 19 frames a datagram. */
    size_t per_datagram = (l.mtu - AU_WIRE_HEADER_SIZE - AU_WIRE_CHECKSUM_SIZE) / 71;
    assert_int_equal(s.out.count, (N + per_datagram - 1) / per_datagram);
    for (size_t i = 0; i < s.out.count; i++) {
        assert_true(s.out.list[i].len <= l.mtu);
        au_wire_header h;
        assert_int_equal(au_wire_header_parse(s.out.list[i].bytes, s.out.list[i].len, &h), 0);
        assert_true(h.seq == i); /* one sequence number per datagram, in order */
    }

    receiver x;
    receiver_init(&x, &l, NULL);
    receive_all(&x, &s.out, 0);
    assert_int_equal(x.count, N);
    for (uint32_t i = 0; i < N; i++) {
        snprintf(name, sizeof name, "actor-%04u", i);
        fill_pattern(payload, PAYLOAD, i);
        assert_string_equal(x.got[i].name, name);
        assert_memory_equal(x.got[i].payload, payload, PAYLOAD);
    }
    receiver_free(&x);
    sender_free(&s);
}

static void message_exactly_filling_a_datagram_is_not_fragmented(void **state) {
    (void)state;
    au_wire_limits l = au_wire_limits_default();
    size_t capacity = l.mtu - AU_WIRE_HEADER_SIZE - AU_WIRE_CHECKSUM_SIZE;
    size_t fits = capacity - AU_WIRE_MESSAGE_FRAME_HEADER - AU_WIRE_BODY_HEADER - 1;
    uint8_t *payload = calloc(1, fits + 1);
    au_wire_dest d = dest_named("a", AU_WIRE_KIND_MESSAGE);

    sender s;
    sender_init(&s, &l, NULL);
    assert_int_equal(au_wire_packer_add(&s.packer, &d, payload, fits), AU_WIRE_OK);
    au_wire_packer_flush(&s.packer);
    assert_int_equal(s.out.count, 1);
    assert_int_equal(s.out.list[0].len, l.mtu);
    au_wire_frame f;
    au_wire_header h;
    au_wire_reader rd;
    assert_int_equal(au_wire_datagram_open(&l, NULL, s.out.list[0].bytes, l.mtu, &h, &rd), 0);
    assert_int_equal(au_wire_reader_next(&rd, &f), 1);
    assert_int_equal(f.type, AU_WIRE_FRAME_MESSAGE);
    sender_free(&s);

    sender_init(&s, &l, NULL);
    assert_int_equal(au_wire_packer_add(&s.packer, &d, payload, fits + 1), AU_WIRE_OK);
    au_wire_packer_flush(&s.packer);
    assert_int_equal(s.out.count, 2); /* one byte more: two fragments */
    assert_int_equal(au_wire_datagram_open(&l, NULL, s.out.list[0].bytes, s.out.list[0].len, &h,
                                           &rd),
                     0);
    assert_int_equal(au_wire_reader_next(&rd, &f), 1);
    assert_int_equal(f.type, AU_WIRE_FRAME_FRAGMENT);
    sender_free(&s);
    free(payload);
}

static void message_not_fitting_the_pending_datagram_starts_a_new_one(void **state) {
    (void)state;
    au_wire_limits l = au_wire_limits_default();
    sender s;
    sender_init(&s, &l, NULL);
    au_wire_dest d = dest_named("x", AU_WIRE_KIND_MESSAGE);
    uint8_t payload[800] = {0};
    assert_int_equal(au_wire_packer_add(&s.packer, &d, payload, sizeof payload), AU_WIRE_OK);
    assert_int_equal(s.out.count, 0);
    assert_int_equal(au_wire_packer_add(&s.packer, &d, payload, sizeof payload), AU_WIRE_OK);
    assert_int_equal(s.out.count, 1); /* the first datagram went out whole */
    au_wire_packer_flush(&s.packer);
    assert_int_equal(s.out.count, 2);
    receiver x;
    receiver_init(&x, &l, NULL);
    receive_all(&x, &s.out, 0);
    assert_int_equal(x.count, 2);
    assert_int_equal(x.failures, 0);
    receiver_free(&x);
    sender_free(&s);
}

enum { BIG = 100 * 1024 };

/* Packs one 100 KB message between two small ones. */
static void pack_big_message(sender *s, uint8_t *big) {
    au_wire_dest small = dest_named("small", AU_WIRE_KIND_MESSAGE);
    au_wire_dest d = dest_named("bulk-receiver", AU_WIRE_KIND_MESSAGE);
    fill_pattern(big, BIG, 99);
    assert_int_equal(au_wire_packer_add(&s->packer, &small, (const uint8_t *)"one", 3), 0);
    assert_int_equal(au_wire_packer_add(&s->packer, &d, big, BIG), AU_WIRE_OK);
    assert_int_equal(au_wire_packer_add(&s->packer, &small, (const uint8_t *)"two", 3), 0);
    au_wire_packer_flush(&s->packer);
}

static void assert_big_message_received(receiver *x, const uint8_t *big) {
    assert_int_equal(x->failures, 0);
    assert_int_equal(x->count, 3);
    size_t found = 0;
    for (size_t i = 0; i < x->count; i++) {
        if (strcmp(x->got[i].name, "bulk-receiver") != 0) continue;
        found++;
        assert_int_equal(x->got[i].payload_len, BIG);
        assert_memory_equal(x->got[i].payload, big, BIG);
    }
    assert_int_equal(found, 1);
    assert_int_equal(au_reassembly_partials(x->reassembly), 0);
    assert_int_equal(au_reassembly_buffered(x->reassembly), 0);
}

/* Fixture of the large-message tests: the datagrams of a 100 KB message between two small ones,
 * and a receiver for them. */
typedef struct big_fixture {
    au_wire_limits limits;
    uint8_t *big;
    sender s;
    receiver x;
} big_fixture;

static int big_setup(void **state) {
    big_fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->limits = au_wire_limits_default();
    fx->big = malloc(BIG);
    assert_non_null(fx->big);
    sender_init(&fx->s, &fx->limits, NULL);
    pack_big_message(&fx->s, fx->big);
    receiver_init(&fx->x, &fx->limits, NULL);
    *state = fx;
    return 0;
}

static int big_teardown(void **state) {
    big_fixture *fx = *state;
    receiver_free(&fx->x);
    sender_free(&fx->s);
    free(fx->big);
    free(fx);
    return 0;
}

static void large_message_is_fragmented_and_reassembled_in_order(void **state) {
    big_fixture *fx = *state;
    capture *out = &fx->s.out;
    size_t mtu = fx->limits.mtu;
    assert_true(out->count >= BIG / mtu + 1);
    for (size_t i = 0; i < out->count; i++) assert_true(out->list[i].len <= mtu);
    /* The first fragment shares the datagram of the small message before it, and the small
     * message after it shares the last fragment's datagram: nothing is wasted. */
    size_t used = 0;
    for (size_t i = 0; i < out->count; i++) used += out->list[i].len;
    assert_true(used < out->count * mtu);
    assert_true(out->list[0].len > mtu - 100);

    receive_all(&fx->x, out, 0);
    assert_big_message_received(&fx->x, fx->big);
    assert_string_equal(fx->x.got[0].name, "small");
}
static void large_message_is_reassembled_from_reversed_datagrams(void **state) {
    big_fixture *fx = *state;
    for (size_t i = fx->s.out.count; i-- > 0;)
        receive(&fx->x, fx->s.out.list[i].bytes, fx->s.out.list[i].len, 0);
    assert_big_message_received(&fx->x, fx->big);
}
static void large_message_is_reassembled_from_shuffled_datagrams(void **state) {
    big_fixture *fx = *state;
    capture *out = &fx->s.out;
    for (int round = 0; round < 20; round++) {
        for (size_t i = out->count; i > 1; i--) {
            size_t j = rng() % i;
            dgram t = out->list[i - 1];
            out->list[i - 1] = out->list[j];
            out->list[j] = t;
        }
        receiver x;
        receiver_init(&x, &fx->limits, NULL);
        receive_all(&x, out, 0);
        assert_big_message_received(&x, fx->big);
        receiver_free(&x);
    }
}
static void make_key(au_seal_key *key, uint8_t fill);

static void check_tiny_mtu_fragments_every_message(au_seal_key *key) {
    au_wire_limits l = au_wire_limits_default();
    l.mtu = AU_WIRE_MIN_MTU;
    sender s;
    sender_init(&s, &l, key);
    char long_name[AU_WIRE_MAX_NAME + 1];
    memset(long_name, 'n', AU_WIRE_MAX_NAME);
    long_name[AU_WIRE_MAX_NAME] = 0;
    uint8_t payload[300];
    fill_pattern(payload, sizeof payload, 5);
    const char *names[] = {"a", "some-actor", long_name};
    for (size_t i = 0; i < 3; i++) {
        au_wire_dest d = dest_named(names[i], AU_WIRE_KIND_MESSAGE);
        assert_int_equal(au_wire_packer_add(&s.packer, &d, payload, sizeof payload), 0);
    }
    au_wire_packer_flush(&s.packer);
    for (size_t i = 0; i < s.out.count; i++) {
        assert_true(s.out.list[i].len <= l.mtu);
        au_wire_header h;
        au_wire_reader rd;
        au_wire_frame f;
        uint8_t copy[AU_WIRE_MIN_MTU]; /* opening a sealed datagram decrypts it in place */
        memcpy(copy, s.out.list[i].bytes, s.out.list[i].len);
        assert_int_equal(au_wire_datagram_open(&l, key, copy, s.out.list[i].len, &h, &rd), 0);
        while (au_wire_reader_next(&rd, &f) > 0) assert_int_equal(f.type, AU_WIRE_FRAME_FRAGMENT);
    }
    receiver x;
    receiver_init(&x, &l, key);
    receive_all(&x, &s.out, 0);
    assert_int_equal(x.failures, 0);
    assert_int_equal(x.count, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(x.got[i].name, names[i]);
        assert_memory_equal(x.got[i].payload, payload, sizeof payload);
    }
    receiver_free(&x);
    sender_free(&s);
}

static void tiny_mtu_fragments_every_message(void **state) {
    (void)state;
    check_tiny_mtu_fragments_every_message(NULL);
}

static void tiny_mtu_fragments_every_message_when_sealed(void **state) {
    (void)state;
    au_seal_key key;
    make_key(&key, 9);
    check_tiny_mtu_fragments_every_message(&key);
}

static void fragment_ids_are_unique_across_packers_of_one_node(void **state) {
    (void)state;
    au_wire_limits l = au_wire_limits_default();
    au_wire_ids ids;
    au_wire_ids_init(&ids);
    capture c = {0};
    au_wire_packer a, b;
    assert_int_equal(au_wire_packer_init(&a, &l, 1, &ids, NULL, capture_emit, &c), 0);
    assert_int_equal(au_wire_packer_init(&b, &l, 1, &ids, NULL, capture_emit, &c), 0);
    uint8_t payload[3000] = {0};
    au_wire_dest d = dest_named("x", AU_WIRE_KIND_MESSAGE);
    assert_int_equal(au_wire_packer_add(&a, &d, payload, sizeof payload), 0);
    assert_int_equal(au_wire_packer_add(&b, &d, payload, sizeof payload), 0);
    au_wire_packer_flush(&a);
    au_wire_packer_flush(&b);
    uint64_t first_id[2] = {0, 0};
    size_t seen = 0;
    for (size_t i = 0; i < c.count; i++) {
        au_wire_header h;
        au_wire_reader rd;
        au_wire_frame f;
        assert_int_equal(au_wire_datagram_open(&l, NULL, c.list[i].bytes, c.list[i].len, &h, &rd),
                         0);
        while (au_wire_reader_next(&rd, &f) > 0)
            if (f.as.fragment.offset == 0) first_id[seen++] = f.as.fragment.msg_id;
    }
    assert_int_equal(seen, 2);
    assert_true(first_id[0] != first_id[1]);
    au_wire_packer_destroy(&a);
    au_wire_packer_destroy(&b);
    capture_free(&c);
}

/* ---- reassembly --------------------------------------------------------------------------- */

/* A valid 1000-byte body to cut into fragments by hand. */
static uint8_t *make_body(uint32_t total) {
    uint8_t *body = malloc(total);
    body_bytes(body, AU_WIRE_KIND_MESSAGE, 4, "name", total - 22);
    return body;
}

static au_reassembly *small_reassembly(size_t max_partials, size_t max_buffered,
                                       size_t max_message) {
    au_wire_limits l = au_wire_limits_default();
    l.max_partials = max_partials;
    l.max_buffered = max_buffered;
    l.max_message = max_message;
    au_reassembly *r;
    assert_int_equal(au_reassembly_create(&l, &r), AU_WIRE_OK);
    return r;
}

/* Fixture of the reassembly tests: a valid 1000-byte body and a reassembler with room to spare.
 * A test that needs tighter limits swaps the reassembler with limit_reassembly(). */
typedef struct reassembly_fixture {
    uint8_t *body;
    au_reassembly *r;
} reassembly_fixture;

static int reassembly_setup(void **state) {
    reassembly_fixture *fx = calloc(1, sizeof *fx);
    assert_non_null(fx);
    fx->body = make_body(1000);
    fx->r = small_reassembly(4, 1 << 20, 1 << 20);
    *state = fx;
    return 0;
}

static int reassembly_teardown(void **state) {
    reassembly_fixture *fx = *state;
    au_reassembly_destroy(fx->r); /* frees any partial left: ASan checks */
    free(fx->body);
    free(fx);
    return 0;
}

static au_reassembly *limit_reassembly(reassembly_fixture *fx, size_t max_partials,
                                       size_t max_buffered, size_t max_message) {
    au_reassembly_destroy(fx->r);
    fx->r = small_reassembly(max_partials, max_buffered, max_message);
    return fx->r;
}

static void duplicate_fragment_is_ignored(void **state) {
    reassembly_fixture *fx = *state;
    uint8_t *body = fx->body;
    au_reassembly *r = fx->r;
    au_reassembled out;
    au_wire_fragment a = fragment_of(body, 1000, 1, 0, 400);
    au_wire_fragment b = fragment_of(body, 1000, 1, 400, 600);
    assert_int_equal(au_reassembly_feed(r, 9, &a, 0, &out), AU_WIRE_INCOMPLETE);
    assert_int_equal(au_reassembly_feed(r, 9, &a, 0, &out), AU_WIRE_DUPLICATE);
    assert_int_equal(au_reassembly_feed(r, 9, &a, 0, &out), AU_WIRE_DUPLICATE);
    au_wire_fragment inside = fragment_of(body, 1000, 1, 100, 50); /* already covered */
    assert_int_equal(au_reassembly_feed(r, 9, &inside, 0, &out), AU_WIRE_DUPLICATE);
    assert_int_equal(au_reassembly_feed(r, 9, &b, 0, &out), AU_WIRE_OK);
    assert_int_equal(out.len, 1000);
    assert_memory_equal(out.data, body, 1000);
    assert_int_equal(out.msg.payload_len, 1000 - 22);
    assert_memory_equal(out.msg.dest.name, "name", 4);
    free(out.data);
}

static void fragment_arriving_after_its_message_completed_is_ignored(void **state) {
    reassembly_fixture *fx = *state;
    uint8_t *body = fx->body;
    au_reassembly *r = fx->r;
    au_reassembled out;
    au_wire_fragment a = fragment_of(body, 1000, 1, 0, 500);
    au_wire_fragment b = fragment_of(body, 1000, 1, 500, 500);
    assert_int_equal(au_reassembly_feed(r, 9, &a, 0, &out), AU_WIRE_INCOMPLETE);
    assert_int_equal(au_reassembly_feed(r, 9, &b, 0, &out), AU_WIRE_OK);
    free(out.data);
    /* A network duplicate of the first fragment must not start a doomed new message. */
    assert_int_equal(au_reassembly_feed(r, 9, &a, 1, &out), AU_WIRE_DUPLICATE);
    assert_int_equal(au_reassembly_partials(r), 0);
    assert_int_equal(au_reassembly_buffered(r), 0);
}

static void duplicated_datagrams_deliver_each_message_once(void **state) {
    big_fixture *fx = *state;
    capture *out = &fx->s.out;
    au_replay_window w;
    au_replay_window_init(&w);
    for (size_t i = 0; i < out->count; i++) {
        for (int copy = 0; copy < 2; copy++) {
            au_wire_header h;
            assert_int_equal(au_wire_header_parse(out->list[i].bytes, out->list[i].len, &h), 0);
            if (au_replay_window_accept(&w, h.seq) != AU_WIRE_OK) continue;
            receive(&fx->x, out->list[i].bytes, out->list[i].len, 0);
        }
    }
    assert_big_message_received(&fx->x, fx->big);
}
static void partial_message_expires_after_timeout(void **state) {
    reassembly_fixture *fx = *state;
    uint8_t *body = fx->body;
    au_reassembly *r = fx->r;
    au_reassembled out;
    au_wire_fragment a = fragment_of(body, 1000, 1, 0, 500);
    uint64_t t0 = 5 * SECOND_NS;
    assert_int_equal(au_reassembly_feed(r, 9, &a, t0, &out), AU_WIRE_INCOMPLETE);
    assert_int_equal(au_reassembly_partials(r), 1);
    assert_true(au_reassembly_buffered(r) >= 1000);
    assert_int_equal(au_reassembly_expire(r, t0 + SECOND_NS - 1), 0);
    assert_int_equal(au_reassembly_expire(r, t0 - 1), 0); /* clock going back: nothing expires */
    assert_int_equal(au_reassembly_expire(r, t0 + SECOND_NS), 1);
    assert_int_equal(au_reassembly_partials(r), 0);
    assert_int_equal(au_reassembly_buffered(r), 0);
    /* The rest arriving late starts over and stays incomplete. */
    au_wire_fragment b = fragment_of(body, 1000, 1, 500, 500);
    assert_int_equal(au_reassembly_feed(r, 9, &b, t0 + 2 * SECOND_NS, &out), AU_WIRE_INCOMPLETE);
}

static void timeout_counts_from_the_first_fragment_not_the_last(void **state) {
    reassembly_fixture *fx = *state;
    uint8_t *body = fx->body;
    au_reassembly *r = fx->r;
    au_reassembled out;
    for (uint32_t i = 0; i < 9; i++) {
        au_wire_fragment f = fragment_of(body, 1000, 1, i * 100, 100);
        assert_int_equal(au_reassembly_feed(r, 9, &f, i * (SECOND_NS / 8), &out),
                         AU_WIRE_INCOMPLETE);
    }
    assert_int_equal(au_reassembly_expire(r, SECOND_NS), 1);
}

static void reassembly_is_keyed_by_sender_incarnation_and_message_id(void **state) {
    reassembly_fixture *fx = *state;
    uint8_t *one = make_body(600), *two = make_body(600);
    two[18] = 'N'; /* a different name, to tell them apart */
    au_reassembly *r = fx->r;
    au_reassembled out;
    au_wire_fragment a1 = fragment_of(one, 600, 7, 0, 300), b1 = fragment_of(one, 600, 7, 300, 300);
    au_wire_fragment a2 = fragment_of(two, 600, 7, 0, 300), b2 = fragment_of(two, 600, 7, 300, 300);
    /* Same message id from two incarnations of the sender (it restarted): two messages. */
    assert_int_equal(au_reassembly_feed(r, 100, &a1, 0, &out), AU_WIRE_INCOMPLETE);
    assert_int_equal(au_reassembly_feed(r, 200, &a2, 0, &out), AU_WIRE_INCOMPLETE);
    assert_int_equal(au_reassembly_partials(r), 2);
    assert_int_equal(au_reassembly_feed(r, 200, &b2, 0, &out), AU_WIRE_OK);
    assert_memory_equal(out.data, two, 600);
    free(out.data);
    assert_int_equal(au_reassembly_feed(r, 100, &b1, 0, &out), AU_WIRE_OK);
    assert_memory_equal(out.data, one, 600);
    free(out.data);
    free(one);
    free(two);
}

static void overlapping_fragment_is_rejected(void **state) {
    reassembly_fixture *fx = *state;
    uint8_t *body = fx->body;
    au_reassembly *r = fx->r;
    au_reassembled out;
    au_wire_fragment a = fragment_of(body, 1000, 1, 0, 500);
    au_wire_fragment over = fragment_of(body, 1000, 1, 499, 501);
    au_wire_fragment rest = fragment_of(body, 1000, 1, 500, 500);
    assert_int_equal(au_reassembly_feed(r, 9, &a, 0, &out), AU_WIRE_INCOMPLETE);
    assert_int_equal(au_reassembly_feed(r, 9, &over, 0, &out), AU_WIRE_FRAGMENT_OVERLAP);
    /* The partial survives the bad fragment and still completes. */
    assert_int_equal(au_reassembly_feed(r, 9, &rest, 0, &out), AU_WIRE_OK);
    assert_memory_equal(out.data, body, 1000);
    free(out.data);
}

static void fragment_with_inconsistent_total_length_is_rejected(void **state) {
    reassembly_fixture *fx = *state;
    uint8_t *body = fx->body;
    au_reassembly *r = fx->r;
    au_reassembled out;
    au_wire_fragment a = fragment_of(body, 1000, 1, 0, 500);
    au_wire_fragment liar = fragment_of(body, 999, 1, 500, 499);
    assert_int_equal(au_reassembly_feed(r, 9, &a, 0, &out), AU_WIRE_INCOMPLETE);
    assert_int_equal(au_reassembly_feed(r, 9, &liar, 0, &out), AU_WIRE_TOTAL_MISMATCH);
}

static void fragment_outside_its_message_is_rejected(void **state) {
    reassembly_fixture *fx = *state;
    uint8_t *body = fx->body;
    au_reassembly *r = fx->r;
    au_reassembled out;
    au_wire_fragment past = fragment_of(body, 1000, 1, 900, 101);
    assert_int_equal(au_reassembly_feed(r, 9, &past, 0, &out), AU_WIRE_FRAGMENT_OUT_OF_RANGE);
    au_wire_fragment wrap = fragment_of(body, 1000, 1, 0, 10);
    wrap.offset = UINT32_MAX;
    assert_int_equal(au_reassembly_feed(r, 9, &wrap, 0, &out), AU_WIRE_FRAGMENT_OUT_OF_RANGE);
    au_wire_fragment empty = fragment_of(body, 1000, 1, 0, 0);
    assert_int_equal(au_reassembly_feed(r, 9, &empty, 0, &out), AU_WIRE_BAD_FRAME);
    assert_int_equal(au_reassembly_partials(r), 0);
}

static void fragment_of_message_above_max_message_is_rejected_before_allocation(void **state) {
    reassembly_fixture *fx = *state;
    uint8_t *body = fx->body;
    au_reassembly *r = limit_reassembly(fx, 4, 1 << 20, 999);
    au_reassembled out;
    au_wire_fragment a = fragment_of(body, 1000, 1, 0, 500);
    assert_int_equal(au_reassembly_feed(r, 9, &a, 0, &out), AU_WIRE_MESSAGE_TOO_LARGE);
    au_wire_fragment huge = a;
    huge.total_len = UINT32_MAX;
    assert_int_equal(au_reassembly_feed(r, 9, &huge, 0, &out), AU_WIRE_MESSAGE_TOO_LARGE);
    assert_int_equal(au_reassembly_buffered(r), 0);
}

static void too_many_partial_messages_are_rejected(void **state) {
    reassembly_fixture *fx = *state;
    uint8_t *body = fx->body;
    au_reassembly *r = limit_reassembly(fx, 3, 1 << 20, 1 << 20);
    au_reassembled out;
    for (uint64_t id = 0; id < 3; id++) {
        au_wire_fragment f = fragment_of(body, 1000, id, 0, 100);
        assert_int_equal(au_reassembly_feed(r, 9, &f, 0, &out), AU_WIRE_INCOMPLETE);
    }
    au_wire_fragment fourth = fragment_of(body, 1000, 3, 0, 100);
    assert_int_equal(au_reassembly_feed(r, 9, &fourth, 0, &out), AU_WIRE_TOO_MANY_PARTIALS);
    /* Fragments of messages already in flight are still accepted. */
    au_wire_fragment more = fragment_of(body, 1000, 1, 100, 100);
    assert_int_equal(au_reassembly_feed(r, 9, &more, 0, &out), AU_WIRE_INCOMPLETE);
    assert_int_equal(au_reassembly_partials(r), 3);
}

static void reassembly_memory_per_peer_is_capped(void **state) {
    reassembly_fixture *fx = *state;
    uint8_t *body = fx->body;
    /* 1000 bytes + a 16-word bitmap = 1128 bytes a partial: two fit in 2500, three do not. */
    au_reassembly *r = limit_reassembly(fx, 16, 2500, 1 << 20);
    au_reassembled out;
    for (uint64_t id = 0; id < 2; id++) {
        au_wire_fragment f = fragment_of(body, 1000, id, 0, 100);
        assert_int_equal(au_reassembly_feed(r, 9, &f, 0, &out), AU_WIRE_INCOMPLETE);
    }
    assert_int_equal(au_reassembly_buffered(r), 2 * 1128);
    au_wire_fragment third = fragment_of(body, 1000, 2, 0, 100);
    assert_int_equal(au_reassembly_feed(r, 9, &third, 0, &out), AU_WIRE_MEMORY_LIMIT);
    /* A smaller message still fits in what is left. */
    uint8_t *small = make_body(200);
    au_wire_fragment s = fragment_of(small, 200, 3, 0, 100);
    assert_int_equal(au_reassembly_feed(r, 9, &s, 0, &out), AU_WIRE_INCOMPLETE);
    free(small);
}

static void full_reassembler_reclaims_timed_out_partials_before_refusing(void **state) {
    reassembly_fixture *fx = *state;
    uint8_t *body = fx->body;
    au_reassembly *r = limit_reassembly(fx, 2, 1 << 20, 1 << 20);
    au_reassembled out;
    au_wire_fragment a = fragment_of(body, 1000, 1, 0, 100), b = fragment_of(body, 1000, 2, 0, 100);
    au_wire_fragment c = fragment_of(body, 1000, 3, 0, 100);
    assert_int_equal(au_reassembly_feed(r, 9, &a, 0, &out), AU_WIRE_INCOMPLETE);
    assert_int_equal(au_reassembly_feed(r, 9, &b, SECOND_NS / 2, &out), AU_WIRE_INCOMPLETE);
    assert_int_equal(au_reassembly_feed(r, 9, &c, SECOND_NS - 1, &out), AU_WIRE_TOO_MANY_PARTIALS);
    /* Without anyone calling expire, the first partial's timeout frees its slot. */
    assert_int_equal(au_reassembly_feed(r, 9, &c, SECOND_NS, &out), AU_WIRE_INCOMPLETE);
    assert_int_equal(au_reassembly_partials(r), 2);
}

static void reassembled_body_that_is_malformed_is_dropped(void **state) {
    reassembly_fixture *fx = *state;
    uint8_t *body = fx->body;
    body[0] = 7; /* not a message kind */
    au_reassembly *r = fx->r;
    au_reassembled out;
    au_wire_fragment a = fragment_of(body, 1000, 1, 0, 500), b = fragment_of(body, 1000, 1, 500, 500);
    assert_int_equal(au_reassembly_feed(r, 9, &a, 0, &out), AU_WIRE_INCOMPLETE);
    assert_int_equal(au_reassembly_feed(r, 9, &b, 0, &out), AU_WIRE_BAD_KIND);
    assert_int_equal(au_reassembly_partials(r), 0);
    assert_int_equal(au_reassembly_buffered(r), 0);
}

/* ---- limits enforced by the packer -------------------------------------------------------- */

static void packer_refuses_what_the_limits_forbid(void **state) {
    (void)state;
    au_wire_limits l = au_wire_limits_default();
    l.max_message = 1000;
    l.max_name = 8;
    sender s;
    sender_init(&s, &l, NULL);
    uint8_t payload[1000] = {0};
    au_wire_dest d = dest_named("ok", AU_WIRE_KIND_MESSAGE);
    assert_int_equal(au_wire_packer_add(&s.packer, &d, payload, 1000 - 18 - 2), AU_WIRE_OK);
    assert_int_equal(au_wire_packer_add(&s.packer, &d, payload, 1000 - 18 - 1),
                     AU_WIRE_MESSAGE_TOO_LARGE);
    assert_int_equal(au_wire_packer_add(&s.packer, &d, payload, SIZE_MAX),
                     AU_WIRE_MESSAGE_TOO_LARGE);
    au_wire_dest long_name = dest_named("123456789", AU_WIRE_KIND_MESSAGE);
    assert_int_equal(au_wire_packer_add(&s.packer, &long_name, payload, 1), AU_WIRE_NAME_TOO_LONG);
    au_wire_dest bad_kind = dest_named("ok", 3);
    assert_int_equal(au_wire_packer_add(&s.packer, &bad_kind, payload, 1), AU_WIRE_BAD_KIND);
    au_wire_packer_flush(&s.packer);
    assert_int_equal(s.out.count, 1); /* only the accepted message went out */
    sender_free(&s);
}

/* ---- malformed datagrams ------------------------------------------------------------------ */

static void datagram_shorter_than_header_and_trailer_is_truncated(void **state) {
    (void)state;
    uint8_t d[64] = {0};
    au_wire_header h = {.incarnation = 1};
    au_wire_header_encode(&h, d);
    assert_int_equal(open_plain(d, 0), AU_WIRE_TRUNCATED);
    assert_int_equal(open_plain(d, AU_WIRE_HEADER_SIZE - 1), AU_WIRE_TRUNCATED);
    assert_int_equal(open_plain(d, AU_WIRE_HEADER_SIZE + AU_WIRE_CHECKSUM_SIZE - 1),
                     AU_WIRE_TRUNCATED);
}

static void datagram_larger_than_mtu_is_rejected(void **state) {
    (void)state;
    /* A sender configured with a larger MTU than this receiver. */
    au_wire_limits big = au_wire_limits_default();
    big.mtu = 2000;
    sender s;
    sender_init(&s, &big, NULL);
    uint8_t payload[1500] = {0};
    au_wire_dest d = dest_named("x", AU_WIRE_KIND_MESSAGE);
    assert_int_equal(au_wire_packer_add(&s.packer, &d, payload, sizeof payload), AU_WIRE_OK);
    au_wire_packer_flush(&s.packer);
    assert_int_equal(s.out.count, 1);
    assert_true(s.out.list[0].len > 1400);
    assert_int_equal(open_plain(s.out.list[0].bytes, s.out.list[0].len),
                     AU_WIRE_DATAGRAM_TOO_LARGE);
    sender_free(&s);
}

static void datagram_with_wrong_magic_version_or_flags_is_rejected(void **state) {
    (void)state;
    uint8_t body[64], frames[128], d[256];
    size_t b = body_bytes(body, 0, 1, "a", 5);
    size_t f = message_frame(frames, (uint16_t)b, body, b);
    size_t len = plain_datagram(d, frames, f);
    assert_int_equal(open_plain(d, len), AU_WIRE_OK);
    d[1] = 'x';
    assert_int_equal(open_plain(d, len), AU_WIRE_BAD_MAGIC);
    d[1] = 0x75;
    d[2] = 2;
    assert_int_equal(open_plain(d, len), AU_WIRE_BAD_VERSION);
    d[2] = AU_WIRE_VERSION;
    d[3] = 0x02;
    assert_int_equal(open_plain(d, len), AU_WIRE_BAD_FLAGS);
}

static void datagram_with_corrupted_byte_fails_checksum(void **state) {
    (void)state;
    uint8_t body[64], frames[128], d[256];
    size_t b = body_bytes(body, 0, 1, "a", 5);
    size_t f = message_frame(frames, (uint16_t)b, body, b);
    size_t len = plain_datagram(d, frames, f);
    for (size_t i = 4; i < len; i++) { /* past magic/version/flags, which are checked first */
        d[i] ^= 0x10;
        assert_int_equal(open_plain(d, len), AU_WIRE_BAD_CHECKSUM);
        d[i] ^= 0x10;
    }
    assert_int_equal(open_plain(d, len), AU_WIRE_OK);
}

static void datagram_without_frames_is_rejected(void **state) {
    (void)state;
    uint8_t d[64];
    size_t len = plain_datagram(d, NULL, 0);
    assert_int_equal(open_plain(d, len), AU_WIRE_NO_FRAMES);
}

static void unknown_frame_type_is_rejected(void **state) {
    (void)state;
    uint8_t frames[8] = {0x00, 0, 0}, d[64];
    assert_int_equal(open_plain(d, plain_datagram(d, frames, 3)), AU_WIRE_BAD_FRAME);
    frames[0] = 0x03;
    assert_int_equal(open_plain(d, plain_datagram(d, frames, 3)), AU_WIRE_BAD_FRAME);
}

static void cut_frame_headers_are_truncated(void **state) {
    (void)state;
    uint8_t frames[32] = {AU_WIRE_FRAME_MESSAGE, 0}, d[64];
    assert_int_equal(open_plain(d, plain_datagram(d, frames, 2)), AU_WIRE_TRUNCATED);
    fragment_frame(frames, 1, 100, 0, 10, 0);
    assert_int_equal(open_plain(d, plain_datagram(d, frames, 18)), AU_WIRE_TRUNCATED);
}

static void body_shorter_than_its_header_is_truncated(void **state) {
    (void)state;
    uint8_t body[32] = {0}, frames[64], d[128];
    size_t f = message_frame(frames, 17, body, 17);
    assert_int_equal(open_plain(d, plain_datagram(d, frames, f)), AU_WIRE_TRUNCATED);
}

static void lengths_past_the_end_are_rejected(void **state) {
    (void)state;
    uint8_t body[64], frames[128], d[256];
    size_t b = body_bytes(body, 0, 1, "a", 5);
    /* body length one past the datagram's frames */
    size_t f = message_frame(frames, (uint16_t)(b + 1), body, b);
    assert_int_equal(open_plain(d, plain_datagram(d, frames, f)), AU_WIRE_LENGTH_PAST_END);
    /* huge body length */
    f = message_frame(frames, 0xFFFF, body, b);
    assert_int_equal(open_plain(d, plain_datagram(d, frames, f)), AU_WIRE_LENGTH_PAST_END);
    /* name longer than the body holds */
    b = body_bytes(body, 0, 200, "abc", 0);
    f = message_frame(frames, (uint16_t)b, body, b);
    assert_int_equal(open_plain(d, plain_datagram(d, frames, f)), AU_WIRE_LENGTH_PAST_END);
    /* fragment chunk longer than the datagram holds */
    f = fragment_frame(frames, 1, 5000, 0, 0xFFFF, 10);
    assert_int_equal(open_plain(d, plain_datagram(d, frames, f)), AU_WIRE_LENGTH_PAST_END);
}

static void malformed_message_body_fields_are_rejected(void **state) {
    (void)state;
    uint8_t body[64], frames[128], d[256];
    size_t b = body_bytes(body, 3, 1, "a", 5);
    size_t f = message_frame(frames, (uint16_t)b, body, b);
    assert_int_equal(open_plain(d, plain_datagram(d, frames, f)), AU_WIRE_BAD_KIND);

    au_wire_limits l = au_wire_limits_default();
    l.max_name = 2;
    b = body_bytes(body, 0, 3, "abc", 1);
    f = message_frame(frames, (uint16_t)b, body, b);
    size_t len = plain_datagram(d, frames, f);
    au_wire_header h;
    au_wire_reader rd;
    assert_int_equal(au_wire_datagram_open(&l, NULL, d, len, &h, &rd), AU_WIRE_NAME_TOO_LONG);
    l.max_name = 3;
    assert_int_equal(au_wire_datagram_open(&l, NULL, d, len, &h, &rd), AU_WIRE_OK);
}

static void malformed_fragment_fields_are_rejected(void **state) {
    (void)state;
    uint8_t frames[128], d[256];
    size_t f = fragment_frame(frames, 1, 100, 0, 0, 0);
    assert_int_equal(open_plain(d, plain_datagram(d, frames, f)), AU_WIRE_BAD_FRAME);
    f = fragment_frame(frames, 1, UINT32_MAX, 0, 10, 10);
    assert_int_equal(open_plain(d, plain_datagram(d, frames, f)), AU_WIRE_MESSAGE_TOO_LARGE);
    f = fragment_frame(frames, 1, 100, 95, 10, 10);
    assert_int_equal(open_plain(d, plain_datagram(d, frames, f)), AU_WIRE_FRAGMENT_OUT_OF_RANGE);
    f = fragment_frame(frames, 1, 100, UINT32_MAX, 10, 10);
    assert_int_equal(open_plain(d, plain_datagram(d, frames, f)), AU_WIRE_FRAGMENT_OUT_OF_RANGE);
    f = fragment_frame(frames, 1, 100, 90, 10, 10);
    assert_int_equal(open_plain(d, plain_datagram(d, frames, f)), AU_WIRE_OK);
}

static void datagram_with_one_bad_frame_is_rejected_whole(void **state) {
    (void)state;
    uint8_t body[64], frames[128], d[256];
    size_t b = body_bytes(body, 0, 1, "a", 5);
    size_t f = message_frame(frames, (uint16_t)b, body, b);
    f += message_frame(frames + f, (uint16_t)b, body, b);
    frames[f++] = 0x7F; /* trailing garbage after two good frames */
    au_wire_limits l = au_wire_limits_default();
    au_wire_header h;
    au_wire_reader rd;
    size_t len = plain_datagram(d, frames, f);
    assert_int_equal(au_wire_datagram_open(&l, NULL, d, len, &h, &rd), AU_WIRE_BAD_FRAME);
}

static void reader_not_made_by_open_reports_malformed_frames(void **state) {
    (void)state;
    uint8_t bytes[] = {AU_WIRE_FRAME_MESSAGE, 0xFF, 0xFF, 1, 2};
    au_wire_reader rd = {.pos = bytes, .end = bytes + sizeof bytes, .max_name = 255,
                         .max_message = 1 << 20};
    au_wire_frame f;
    assert_int_equal(au_wire_reader_next(&rd, &f), AU_WIRE_LENGTH_PAST_END);
    au_wire_message m;
    au_wire_limits l = au_wire_limits_default();
    assert_int_equal(au_wire_message_decode(&l, bytes, 3, &m), AU_WIRE_TRUNCATED);
}

static void random_bytes_are_rejected_without_harm(void **state) {
    (void)state;
    au_wire_limits l = au_wire_limits_default();
    size_t frame_checks = 0;
    for (int i = 0; i < 20000; i++) {
        size_t len = rng() % (l.mtu + 1);
        uint8_t *buf = malloc(len ? len : 1); /* exact size, so ASan sees any overread */
        for (size_t k = 0; k < len; k++) buf[k] = (uint8_t)rng();
        if (i % 2 && len >= AU_WIRE_HEADER_SIZE + AU_WIRE_CHECKSUM_SIZE) {
            /* half of them with a valid header and checksum, to reach the frame checks */
            au_wire_header h = {.incarnation = 1, .seq = (uint64_t)i};
            au_wire_header_encode(&h, buf);
            put_be(buf + len - 8, XXH3_64bits(buf, len - 8), 8);
        }
        au_wire_header h;
        au_wire_reader rd;
        int rc = au_wire_datagram_open(&l, NULL, buf, len, &h, &rd);
        if (rc == AU_WIRE_OK || rc == AU_WIRE_BAD_FRAME || rc == AU_WIRE_TRUNCATED ||
            rc == AU_WIRE_LENGTH_PAST_END || rc == AU_WIRE_NO_FRAMES)
            frame_checks++;
        if (rc == AU_WIRE_OK) {
            au_wire_frame f;
            while ((rc = au_wire_reader_next(&rd, &f)) > 0) {
            }
            assert_int_equal(rc, 0);
        } else {
            assert_true(rc < 0);
            assert_string_not_equal(au_wire_status_str(rc), "unknown status");
        }
        free(buf);
    }
    assert_true(frame_checks > 5000); /* the checksummed half got past the header checks */
}

/* ---- sealing ------------------------------------------------------------------------------ */

static int contains(const uint8_t *hay, size_t len, const char *needle) {
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(hay + i, needle, n) == 0) return 1;
    return 0;
}

static void make_key(au_seal_key *key, uint8_t fill) {
    uint8_t secret[AU_SEAL_KEY_SIZE];
    memset(secret, fill, sizeof secret);
    assert_int_equal(au_seal_key_init(key, secret), AU_WIRE_OK);
}

/* A ring opens each datagram with the key its nonce names, and reports who sealed it. */
static void a_key_ring_opens_by_key_id_and_names_the_sender(void **state) {
    (void)state;
    au_wire_limits l = au_wire_limits_default();
    uint8_t s1[AU_SEAL_KEY_SIZE], s2[AU_SEAL_KEY_SIZE], s3[AU_SEAL_KEY_SIZE];
    memset(s1, 1, sizeof s1);
    memset(s2, 2, sizeof s2);
    memset(s3, 3, sizeof s3);
    au_seal_key k1, k2, k2_other_sender, k3;
    assert_int_equal(au_seal_key_init_id(&k1, s1, 1, 0x1111), AU_WIRE_OK);
    assert_int_equal(au_seal_key_init_id(&k2, s2, 2, 0x2222), AU_WIRE_OK);
    assert_int_equal(au_seal_key_init_id(&k2_other_sender, s2, 2, 0x3333), AU_WIRE_OK);
    assert_int_equal(au_seal_key_init_id(&k3, s3, 3, 0x4444), AU_WIRE_OK);
    au_seal_ring ring = { .n = 2, .keys = { &k1, &k2 } };
    au_seal_key *keys[] = { &k1, &k2, &k2_other_sender };
    uint64_t senders[] = { 0x1111, 0x2222, 0x3333 };
    for (int i = 0; i < 3; i++) {
        sender s;
        sender_init(&s, &l, keys[i]);
        au_wire_dest d = dest_named("x", AU_WIRE_KIND_MESSAGE);
        assert_int_equal(au_wire_packer_add(&s.packer, &d, (const uint8_t *)"hi", 2), 0);
        au_wire_packer_flush(&s.packer);
        au_wire_header h;
        au_wire_reader rd;
        assert_int_equal(au_wire_datagram_open_ring(&l, &ring, s.out.list[0].bytes,
                                                    s.out.list[0].len, &h, &rd), AU_WIRE_OK);
        assert_int_equal(h.key_id, keys[i]->id);
        assert_true(h.sender == senders[i]);
        sender_free(&s);
    }
    /* A key id the ring does not hold, and a ring that lost the key. */
    sender s;
    sender_init(&s, &l, &k3);
    au_wire_dest d = dest_named("x", AU_WIRE_KIND_MESSAGE);
    assert_int_equal(au_wire_packer_add(&s.packer, &d, (const uint8_t *)"hi", 2), 0);
    au_wire_packer_flush(&s.packer);
    au_wire_header h;
    au_wire_reader rd;
    assert_int_equal(au_wire_datagram_open_ring(&l, &ring, s.out.list[0].bytes, s.out.list[0].len,
                                                &h, &rd), AU_WIRE_UNKNOWN_KEY);
    /* Rewriting the key id to one the ring holds fails authentication. */
    s.out.list[0].bytes[AU_WIRE_HEADER_SIZE] = 1;
    assert_int_equal(au_wire_datagram_open_ring(&l, &ring, s.out.list[0].bytes, s.out.list[0].len,
                                                &h, &rd), AU_WIRE_BAD_SEAL);
    sender_free(&s);
}

/* A packer that follows a node's primary key seals each datagram with the key in force. */
static void a_following_packer_seals_with_the_current_primary(void **state) {
    (void)state;
    au_wire_limits l = au_wire_limits_default();
    uint8_t s1[AU_SEAL_KEY_SIZE], s2[AU_SEAL_KEY_SIZE];
    memset(s1, 1, sizeof s1);
    memset(s2, 2, sizeof s2);
    au_seal_key k1, k2;
    au_seal_key_init_id(&k1, s1, 1, 7);
    au_seal_key_init_id(&k2, s2, 2, 7);
    au_seal_key *_Atomic primary = &k1;
    sender s;
    sender_init(&s, &l, &k1);
    au_wire_packer_follow(&s.packer, &primary);
    au_wire_dest d = dest_named("x", AU_WIRE_KIND_MESSAGE);
    au_wire_packer_add(&s.packer, &d, (const uint8_t *)"a", 1);
    au_wire_packer_flush(&s.packer);
    atomic_store(&primary, &k2);
    au_wire_packer_add(&s.packer, &d, (const uint8_t *)"b", 1);
    au_wire_packer_flush(&s.packer);
    assert_int_equal(s.out.count, 2);
    au_seal_ring only2 = { .n = 1, .keys = { &k2 } };
    au_wire_header h;
    au_wire_reader rd;
    assert_int_equal(au_wire_datagram_open_ring(&l, &only2, s.out.list[0].bytes, s.out.list[0].len,
                                                &h, &rd), AU_WIRE_UNKNOWN_KEY);
    assert_int_equal(au_wire_datagram_open_ring(&l, &only2, s.out.list[1].bytes, s.out.list[1].len,
                                                &h, &rd), AU_WIRE_OK);
    assert_int_equal(h.key_id, 2);
    sender_free(&s);
}

static void sealed_datagrams_round_trip(void **state) {
    (void)state;
    au_wire_limits l = au_wire_limits_default();
    au_seal_key key;
    make_key(&key, 0x42);
    uint8_t *big = malloc(BIG);
    sender s;
    sender_init(&s, &l, &key);
    pack_big_message(&s, big);
    for (size_t i = 0; i < s.out.count; i++) {
        assert_true(s.out.list[i].len <= l.mtu);
        assert_int_equal(s.out.list[i].bytes[3], AU_WIRE_FLAG_SEALED);
        /* The payload pattern does not appear in clear. */
        assert_false(contains(s.out.list[i].bytes, s.out.list[i].len, "bulk-receiver"));
    }
    receiver x;
    receiver_init(&x, &l, &key);
    receive_all(&x, &s.out, 0);
    assert_big_message_received(&x, big);
    receiver_free(&x);
    sender_free(&s);
    au_seal_key_wipe(&key);
    free(big);
}

static void tampered_sealed_datagram_fails_authentication(void **state) {
    (void)state;
    au_wire_limits l = au_wire_limits_default();
    au_seal_key key;
    make_key(&key, 1);
    sender s;
    sender_init(&s, &l, &key);
    au_wire_dest d = dest_named("target", AU_WIRE_KIND_SIGNAL);
    assert_int_equal(au_wire_packer_add(&s.packer, &d, (const uint8_t *)"term", 4), 0);
    au_wire_packer_flush(&s.packer);
    dgram g = s.out.list[0];
    uint8_t *copy = malloc(g.len);
    au_wire_header h;
    au_wire_reader rd;
    /* every byte past magic/version/flags: incarnation and seq (associated data), nonce,
     * ciphertext, tag */
    for (size_t i = 4; i < g.len; i++) {
        memcpy(copy, g.bytes, g.len);
        copy[i] ^= 0x01;
        assert_int_equal(au_wire_datagram_open(&l, &key, copy, g.len, &h, &rd), AU_WIRE_BAD_SEAL);
    }
    memcpy(copy, g.bytes, g.len);
    assert_int_equal(au_wire_datagram_open(&l, &key, copy, AU_WIRE_HEADER_SIZE + 39, &h, &rd),
                     AU_WIRE_TRUNCATED);
    assert_int_equal(au_wire_datagram_open(&l, &key, copy, g.len - 1, &h, &rd), AU_WIRE_BAD_SEAL);

    au_seal_key other;
    make_key(&other, 2);
    memcpy(copy, g.bytes, g.len); /* a failed open may have cleared the frame bytes */
    assert_int_equal(au_wire_datagram_open(&l, &other, copy, g.len, &h, &rd), AU_WIRE_BAD_SEAL);
    memcpy(copy, g.bytes, g.len);
    assert_int_equal(au_wire_datagram_open(&l, NULL, copy, g.len, &h, &rd), AU_WIRE_NO_KEY);
    assert_int_equal(au_wire_datagram_open(&l, &key, copy, g.len, &h, &rd), AU_WIRE_OK);
    au_wire_frame f;
    assert_int_equal(au_wire_reader_next(&rd, &f), 1);
    assert_memory_equal(f.as.message.payload, "term", 4);
    free(copy);
    sender_free(&s);
}

static void unsealed_datagram_is_refused_when_a_key_is_set(void **state) {
    (void)state;
    au_wire_limits l = au_wire_limits_default();
    au_seal_key key;
    make_key(&key, 3);
    uint8_t body[64], frames[128], d[256];
    size_t b = body_bytes(body, 1, 1, "a", 5);
    size_t f = message_frame(frames, (uint16_t)b, body, b);
    size_t len = plain_datagram(d, frames, f);
    au_wire_header h;
    au_wire_reader rd;
    assert_int_equal(au_wire_datagram_open(&l, &key, d, len, &h, &rd), AU_WIRE_NOT_SEALED);
}

static void nonces_are_never_reused_by_one_key(void **state) {
    (void)state;
    au_wire_limits l = au_wire_limits_default();
    au_seal_key key;
    make_key(&key, 4);
    sender a, b;
    sender_init(&a, &l, &key);
    sender_init(&b, &l, &key); /* two peers' packers share the node's key */
    au_wire_dest d = dest_named("t", 0);
    for (int i = 0; i < 50; i++) {
        assert_int_equal(au_wire_packer_add(&a.packer, &d, (const uint8_t *)"x", 1), 0);
        au_wire_packer_flush(&a.packer);
        assert_int_equal(au_wire_packer_add(&b.packer, &d, (const uint8_t *)"x", 1), 0);
        au_wire_packer_flush(&b.packer);
    }
    capture *all[2] = {&a.out, &b.out};
    for (int p = 0; p < 2; p++)
        for (size_t i = 0; i < all[p]->count; i++)
            for (int q = 0; q < 2; q++)
                for (size_t j = 0; j < all[q]->count; j++) {
                    if (p == q && i == j) continue;
                    assert_memory_not_equal(all[p]->list[i].bytes + 20, all[q]->list[j].bytes + 20,
                                            AU_WIRE_NONCE_SIZE);
                }
    sender_free(&a);
    sender_free(&b);
}

/* ---- replay window ------------------------------------------------------------------------ */

static void replay_window_accepts_each_sequence_number_once(void **state) {
    (void)state;
    au_replay_window w;
    au_replay_window_init(&w);
    assert_int_equal(au_replay_window_accept(&w, 10), AU_WIRE_OK);
    assert_int_equal(au_replay_window_accept(&w, 10), AU_WIRE_REPLAYED);
    assert_int_equal(au_replay_window_accept(&w, 12), AU_WIRE_OK);
    assert_int_equal(au_replay_window_check(&w, 11), AU_WIRE_OK); /* check does not record */
    assert_int_equal(au_replay_window_accept(&w, 11), AU_WIRE_OK); /* late but new */
    assert_int_equal(au_replay_window_accept(&w, 11), AU_WIRE_REPLAYED);
    assert_int_equal(au_replay_window_check(&w, 12), AU_WIRE_REPLAYED);
    assert_int_equal(au_replay_window_accept(&w, 12 + 63), AU_WIRE_OK);
    assert_int_equal(au_replay_window_accept(&w, 12), AU_WIRE_REPLAYED); /* 63 behind: known */
    assert_int_equal(au_replay_window_accept(&w, 11), AU_WIRE_TOO_OLD);  /* 64 behind */
    assert_int_equal(au_replay_window_accept(&w, 1000), AU_WIRE_OK);     /* big jump */
    assert_int_equal(au_replay_window_accept(&w, 12 + 63), AU_WIRE_TOO_OLD);
    assert_int_equal(au_replay_window_accept(&w, 999), AU_WIRE_OK);
    assert_int_equal(au_replay_window_accept(&w, 1000), AU_WIRE_REPLAYED);
    assert_int_equal(au_replay_window_accept(&w, UINT64_MAX), AU_WIRE_OK);
    assert_int_equal(au_replay_window_accept(&w, UINT64_MAX), AU_WIRE_REPLAYED);
}

static void replay_window_starts_at_the_first_sequence_number_seen(void **state) {
    (void)state;
    au_replay_window w;
    au_replay_window_init(&w);
    assert_int_equal(au_replay_window_accept(&w, 0), AU_WIRE_OK);
    assert_int_equal(au_replay_window_accept(&w, 0), AU_WIRE_REPLAYED);
    au_replay_window_init(&w);
    assert_int_equal(au_replay_window_accept(&w, 500), AU_WIRE_OK);
    assert_int_equal(au_replay_window_accept(&w, 499), AU_WIRE_OK);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_round_trips),
        cmocka_unit_test(header_with_wrong_magic_version_or_flags_is_rejected),
        cmocka_unit_test(default_limits_are_valid_and_out_of_range_limits_are_not),
        cmocka_unit_test(every_status_has_a_distinct_name),
        cmocka_unit_test(one_small_message_round_trips_in_one_datagram),
        cmocka_unit_test(empty_name_and_empty_payload_round_trip),
        cmocka_unit_test(small_messages_are_coalesced_into_few_datagrams),
        cmocka_unit_test(message_exactly_filling_a_datagram_is_not_fragmented),
        cmocka_unit_test(message_not_fitting_the_pending_datagram_starts_a_new_one),
        cmocka_unit_test_setup_teardown(large_message_is_fragmented_and_reassembled_in_order, big_setup, big_teardown),
        cmocka_unit_test_setup_teardown(large_message_is_reassembled_from_reversed_datagrams, big_setup, big_teardown),
        cmocka_unit_test_setup_teardown(large_message_is_reassembled_from_shuffled_datagrams, big_setup, big_teardown),
        cmocka_unit_test(tiny_mtu_fragments_every_message),
        cmocka_unit_test(tiny_mtu_fragments_every_message_when_sealed),
        cmocka_unit_test(fragment_ids_are_unique_across_packers_of_one_node),
        cmocka_unit_test_setup_teardown(duplicate_fragment_is_ignored, reassembly_setup, reassembly_teardown),
        cmocka_unit_test_setup_teardown(fragment_arriving_after_its_message_completed_is_ignored, reassembly_setup, reassembly_teardown),
        cmocka_unit_test_setup_teardown(duplicated_datagrams_deliver_each_message_once, big_setup, big_teardown),
        cmocka_unit_test_setup_teardown(partial_message_expires_after_timeout, reassembly_setup, reassembly_teardown),
        cmocka_unit_test_setup_teardown(timeout_counts_from_the_first_fragment_not_the_last, reassembly_setup, reassembly_teardown),
        cmocka_unit_test_setup_teardown(reassembly_is_keyed_by_sender_incarnation_and_message_id, reassembly_setup, reassembly_teardown),
        cmocka_unit_test_setup_teardown(overlapping_fragment_is_rejected, reassembly_setup, reassembly_teardown),
        cmocka_unit_test_setup_teardown(fragment_with_inconsistent_total_length_is_rejected, reassembly_setup, reassembly_teardown),
        cmocka_unit_test_setup_teardown(fragment_outside_its_message_is_rejected, reassembly_setup, reassembly_teardown),
        cmocka_unit_test_setup_teardown(fragment_of_message_above_max_message_is_rejected_before_allocation, reassembly_setup, reassembly_teardown),
        cmocka_unit_test_setup_teardown(too_many_partial_messages_are_rejected, reassembly_setup, reassembly_teardown),
        cmocka_unit_test_setup_teardown(reassembly_memory_per_peer_is_capped, reassembly_setup, reassembly_teardown),
        cmocka_unit_test_setup_teardown(full_reassembler_reclaims_timed_out_partials_before_refusing, reassembly_setup, reassembly_teardown),
        cmocka_unit_test_setup_teardown(reassembled_body_that_is_malformed_is_dropped, reassembly_setup, reassembly_teardown),
        cmocka_unit_test(packer_refuses_what_the_limits_forbid),
        cmocka_unit_test(datagram_shorter_than_header_and_trailer_is_truncated),
        cmocka_unit_test(datagram_larger_than_mtu_is_rejected),
        cmocka_unit_test(datagram_with_wrong_magic_version_or_flags_is_rejected),
        cmocka_unit_test(datagram_with_corrupted_byte_fails_checksum),
        cmocka_unit_test(datagram_without_frames_is_rejected),
        cmocka_unit_test(unknown_frame_type_is_rejected),
        cmocka_unit_test(cut_frame_headers_are_truncated),
        cmocka_unit_test(body_shorter_than_its_header_is_truncated),
        cmocka_unit_test(lengths_past_the_end_are_rejected),
        cmocka_unit_test(malformed_message_body_fields_are_rejected),
        cmocka_unit_test(malformed_fragment_fields_are_rejected),
        cmocka_unit_test(datagram_with_one_bad_frame_is_rejected_whole),
        cmocka_unit_test(reader_not_made_by_open_reports_malformed_frames),
        cmocka_unit_test(random_bytes_are_rejected_without_harm),
        cmocka_unit_test(sealed_datagrams_round_trip),
        cmocka_unit_test(a_key_ring_opens_by_key_id_and_names_the_sender),
        cmocka_unit_test(a_following_packer_seals_with_the_current_primary),
        cmocka_unit_test(tampered_sealed_datagram_fails_authentication),
        cmocka_unit_test(unsealed_datagram_is_refused_when_a_key_is_set),
        cmocka_unit_test(nonces_are_never_reused_by_one_key),
        cmocka_unit_test(replay_window_accepts_each_sequence_number_once),
        cmocka_unit_test(replay_window_starts_at_the_first_sequence_number_seen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
