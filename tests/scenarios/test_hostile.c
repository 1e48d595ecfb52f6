/* test_hostile.c — a live node under hostile input: malformed, misaddressed, duplicated and
 * random datagrams sent from a plain UDP socket. Every one is dropped, counted under exactly one
 * reason (and no other drop counter moves), nothing is delivered that should not be, memory stays
 * bounded, and afterwards the node still serves a well-behaved peer.
 *
 * The node ("the target node") has one registered actor, "target", whose root type has two
 * remote interfaces (int64_t and a record) and a plain variant. Valid datagrams are built with
 * the real packer (core/wire.h) under an incarnation of the test's own; malformed ones are built
 * by hand with a correct checksum, so that each reaches the check it targets.
 *
 * Counting is exact, not "at least": after the expected counter reaches its goal the test sends
 * a fence (a valid message to the actor, on the same socket, so behind everything sent before it)
 * and waits until the actor records it. The node handles one socket's datagrams in order, and
 * the actor its mailbox in order, so by then every earlier datagram has been counted, decoding
 * on the worker included; only then are all the counters compared.
 *
 * Where each class lands:
 *   drops_malformed        cut below header + checksum (28 bytes), bad magic / version /
 *                          reserved flags, lengths past the end, unknown frame type, empty
 *                          fragment, fragment past its total, bad kind, no frames, an unknown
 *                          signal, the empty datagram
 *   drops_checksum         cut at 28 bytes or more, any flipped byte after the magic, the sealed
 *                          flag at a node without a key
 *   drops_too_big          longer than the mtu, a fragment total above max_message_size
 *   drops_unknown_actor / _wrong_root / _wrong_interface / _schema_mismatch   routing
 *   drops_decode           a routed payload that is not valid CBOR for its type (on the worker)
 *   drops_duplicate        a sequence number seen before, or behind the 64-datagram window
 *   drops_reassembly       no free partial slot, overlap, total mismatch, bad completed body,
 *                          expiry (an exact repeat of received bytes is ignored, not counted)
 * Random noise is classified by the test's own reading of the documented header format, not by
 * the parser under test, and memory may grow by less than a quarter of the noise's bytes. Bursts
 * are paced on the node's counters, never on a receive buffer only root is granted.
 * The last two tests use nodes with a cluster key: a captured sealed datagram must count at most
 * once, whatever else arrives from its address and however full the peer table is; their
 * counters are exact. */
#include <aurum/aurum.h>

#include <arpa/inet.h>
#include <pthread.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include <xxhash.h>

#include "proto/codec.h"
#include "proto/seal.h"
#include "proto/wire.h"
#include "support/recorder.h"
#include "support/udp.h"

/* ---- the target actor -------------------------------------------------------------------- */

AU_RECORD(sample, (au_str, label), (int64_t, value));
AU_ROOT(target_msg,
        (count, int64_t, AU_REMOTE),
        (reading, sample, AU_REMOTE),
        (poke, au_unit, AU_PLAIN));
/* Another root type, for a message addressed to "target" under the wrong root. */
AU_ROOT(other_msg, (count, int64_t, AU_REMOTE));

/* What the actor records: a count as is, a sample as READING + value + 10000 * label length, a
 * poke as POKE. Fences are counts from FENCE up. */
#define READING 1000000000ll
#define POKE -7
#define FENCE 2000000000ll

typedef struct target {
    recorder *log;
} target;

static void target_recv(au_ctx *ctx, target *self, target_msg *m) {
    switch (m->tag) {
    case target_msg_count: recorder_add(self->log, m->count); break;
    case target_msg_reading:
        recorder_add(self->log, READING + m->reading.value + (int64_t)m->reading.label.len * 10000);
        break;
    case target_msg_poke: recorder_add(self->log, POKE); break;
    }
}

AU_ACTOR(target_actor, target, target_msg, .recv = target_recv);

/* ---- the fixture: one target node, one hostile socket, one packer ------------------------ */

#define MAX_PARTIALS 8
#define INCARNATION 0x486f7374696c6531ull /* "Hostile1" */
#define WAIT_MS 30000 /* generous: a loaded 2-core machine under TSan or valgrind */

typedef struct hostile {
    au_node *node;
    recorder log;
    size_t logged;             /* entries the log must hold once everything sent has landed */
    int64_t fences;
    int fd;                    /* the hostile socket, bound to 127.0.0.1:0 */
    struct sockaddr_in to;     /* the target node */
    au_wire_ids ids;
    au_wire_packer packer;     /* this socket's sequence numbers: crafted datagrams use them too */
    uint8_t emitted[AU_WIRE_MAX_MTU];
    size_t emitted_len, emitted_count;
    uint64_t root_id, count_id, reading_id;
} hostile;

static hostile H;

static void capture(void *user, const uint8_t *dgram, size_t len) {
    hostile *h = user;
    memcpy(h->emitted, dgram, len);
    h->emitted_len = len;
    h->emitted_count++;
}

static void parse_addr(const char *text, struct sockaddr_in *out) {
    const char *colon = strrchr(text, ':');
    assert_non_null(colon);
    char host[64];
    assert_true((size_t)(colon - text) < sizeof host);
    memcpy(host, text, (size_t)(colon - text));
    host[colon - text] = '\0';
    *out = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)) };
    assert_int_equal(inet_pton(AF_INET, host, &out->sin_addr), 1);
}

static int hostile_socket(void) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in me = { .sin_family = AF_INET, .sin_port = 0 };
    me.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&me, sizeof me), 0);
    return fd;
}

/* The node's WARN lines, for the drops a person must be told of (misrouted, mismatched). */
static pthread_mutex_t warn_lock = PTHREAD_MUTEX_INITIALIZER;
static char warned[128][512];
static size_t nwarned;

static void warn_sink(void *user, au_log_module module, au_log_level level, const char *file,
                      int line, const char *message) {
    (void)user, (void)module, (void)file, (void)line;
    if (level < AU_LOG_WARN) return;
    pthread_mutex_lock(&warn_lock);
    if (nwarned < 128) snprintf(warned[nwarned++], sizeof warned[0], "%s", message);
    pthread_mutex_unlock(&warn_lock);
}

/* Whether a WARN line holds both words. */
static bool warned_of(const char *a, const char *b) {
    bool found = false;
    pthread_mutex_lock(&warn_lock);
    for (size_t i = 0; i < nwarned && !found; i++)
        found = strstr(warned[i], a) && strstr(warned[i], b);
    pthread_mutex_unlock(&warn_lock);
    return found;
}

static void collect_drops(void);

static int setup(void **state) {
    collect_drops();
    au_log_set_sink(warn_sink, NULL);
    recorder_init(&H.log);
    au_node_config cfg = { .bind = "127.0.0.1:0", .workers = 2, .max_partials = MAX_PARTIALS,
                           .reassembly_timeout = AU_MSEC(200) };
    if (au_node_start(&cfg, &H.node) != AU_OK) return -1;
    target_msg_ref t = au_spawn(H.node, target_actor, "target", &(target){ .log = &H.log });
    if (au_ref_is_null(t.raw)) return -1;
    parse_addr(au_node_address(H.node), &H.to);
    H.fd = hostile_socket();
    au_wire_ids_init(&H.ids);
    au_wire_limits limits = au_wire_limits_default();
    if (au_wire_packer_init(&H.packer, &limits, INCARNATION, &H.ids, NULL, capture, &H) != AU_WIRE_OK)
        return -1;
    H.root_id = au_type_id(&au_type_target_msg);
    H.count_id = au_type_id(&au_type_int64_t);
    H.reading_id = au_type_id(&au_type_sample);
    return 0;
}

static int teardown(void **state) {
    au_node_stop(H.node);
    au_log_set_sink(NULL, NULL);
    close(H.fd);
    au_wire_packer_destroy(&H.packer);
    recorder_destroy(&H.log);
    return 0;
}

/* ---- sending ------------------------------------------------------------------------------ */

static void send_to(int fd, const struct sockaddr_in *to, const void *bytes, size_t len) {
    ssize_t n = sendto(fd, bytes, len, 0, (const struct sockaddr *)to, sizeof *to);
    assert_int_equal(n, (ssize_t)len);
}

static void send_raw(const void *bytes, size_t len) { send_to(H.fd, &H.to, bytes, len); }

static au_wire_dest dest(const char *name, size_t name_len, uint64_t root, uint64_t iface) {
    return (au_wire_dest){ .kind = AU_WIRE_KIND_MESSAGE, .name = (const uint8_t *)name,
                           .name_len = name_len, .root_type = root, .iface_type = iface };
}

static au_wire_dest to_target(uint64_t iface) { return dest("target", 6, H.root_id, iface); }

/* Packs one message with the real packer into out (one datagram, the next sequence number). */
static size_t pack(au_wire_dest d, const void *payload, size_t len, uint8_t *out) {
    H.emitted_count = 0;
    assert_int_equal(au_wire_packer_add(&H.packer, &d, payload, len), AU_WIRE_OK);
    au_wire_packer_flush(&H.packer);
    assert_int_equal(H.emitted_count, 1);
    memcpy(out, H.emitted, H.emitted_len);
    return H.emitted_len;
}

static void pack_and_send(au_wire_dest d, const void *payload, size_t len) {
    uint8_t dgram[AU_WIRE_MAX_MTU];
    send_raw(dgram, pack(d, payload, len, dgram));
}

/* The CBOR of an int64_t, as the codec writes it. */
static size_t cbor_int64(int64_t v, uint8_t *out) {
    au_buf buf = { 0 };
    assert_int_equal(au_encode(&au_type_int64_t, &v, &buf, NULL), AU_OK);
    memcpy(out, buf.data, buf.len);
    size_t n = buf.len;
    au_buf_free(&buf);
    return n;
}

/* A valid datagram carrying count v to the target. */
static size_t valid_datagram(int64_t v, uint8_t *out) {
    uint8_t payload[16];
    size_t n = cbor_int64(v, payload);
    return pack(to_target(H.count_id), payload, n, out);
}

static void send_count(int64_t v) {
    uint8_t dgram[AU_WIRE_MAX_MTU];
    send_raw(dgram, valid_datagram(v, dgram));
}

/* ---- crafting datagrams by hand ----------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }
static void put64(uint8_t *p, uint64_t v) { put32(p, (uint32_t)(v >> 32)); put32(p + 4, (uint32_t)v); }

/* Rewrites the checksum trailer of a plain datagram of len bytes. */
static void rechecksum(uint8_t *dgram, size_t len) {
    put64(dgram + len - AU_WIRE_CHECKSUM_SIZE, XXH3_64bits(dgram, len - AU_WIRE_CHECKSUM_SIZE));
}

/* A plain datagram around frames already written at dgram + AU_WIRE_HEADER_SIZE: header (this
 * socket's incarnation, the next sequence number) and a correct checksum. Returns its length. */
static size_t wrap(uint8_t *dgram, size_t frames_len) {
    au_wire_header hdr = { .version = AU_WIRE_VERSION, .incarnation = H.packer.incarnation,
                           .seq = H.packer.next_seq++ };
    au_wire_header_encode(&hdr, dgram);
    size_t len = AU_WIRE_HEADER_SIZE + frames_len + AU_WIRE_CHECKSUM_SIZE;
    rechecksum(dgram, len);
    return len;
}

/* Message frame: type, body_len as declared (may lie), body header, name; returns bytes written
 * (the payload, if any, is the caller's to append). */
static size_t message_frame(uint8_t *out, uint16_t body_len, uint8_t kind, uint8_t name_len,
                            const char *name, size_t name_present, uint64_t root, uint64_t iface) {
    out[0] = AU_WIRE_FRAME_MESSAGE;
    put16(out + 1, body_len);
    uint8_t *b = out + AU_WIRE_MESSAGE_FRAME_HEADER;
    b[0] = kind;
    b[1] = name_len;
    put64(b + 2, root);
    put64(b + 10, iface);
    memcpy(b + AU_WIRE_BODY_HEADER, name, name_present);
    return AU_WIRE_MESSAGE_FRAME_HEADER + AU_WIRE_BODY_HEADER + name_present;
}

/* Fragment frame header with the declared fields; the chunk bytes are the caller's. */
static size_t fragment_header(uint8_t *out, uint64_t msg_id, uint32_t total, uint32_t offset,
                              uint16_t chunk_len) {
    out[0] = AU_WIRE_FRAME_FRAGMENT;
    put64(out + 1, msg_id);
    put32(out + 9, total);
    put32(out + 13, offset);
    put16(out + 17, chunk_len);
    return AU_WIRE_FRAGMENT_FRAME_HEADER;
}

/* A fragment frame carrying chunk_len bytes of `body` from offset, wrapped and sent. */
static void send_fragment(uint64_t msg_id, uint32_t total, uint32_t offset, uint16_t chunk_len,
                          const uint8_t *body) {
    uint8_t dgram[AU_WIRE_MAX_MTU];
    uint8_t *f = dgram + AU_WIRE_HEADER_SIZE;
    size_t n = fragment_header(f, msg_id, total, offset, chunk_len);
    memcpy(f + n, body, chunk_len);
    send_raw(dgram, wrap(dgram, n + chunk_len));
}

/* ---- counting ------------------------------------------------------------------------------ */

/* Every drop counter of the node, from its statistics list (a counter added there is checked
 * here too); the list also holds non-drop entries, which have no "drops_" prefix and are
 * skipped by is_drop. */
#define COUNTER_ROW(f, kind, doc) { #f, offsetof(au_node_stats, f) },
static const struct counter {
    const char *name;
    size_t off;
} all_stats[] = { AU_NODE_STATS(COUNTER_ROW) };
#undef COUNTER_ROW
static struct counter drops[sizeof all_stats / sizeof all_stats[0]];
static size_t ndrops;
static void collect_drops(void) {
    ndrops = 0;
    for (size_t i = 0; i < sizeof all_stats / sizeof all_stats[0]; i++)
        if (strncmp(all_stats[i].name, "drops_", 6) == 0) drops[ndrops++] = all_stats[i];
}
#define NDROPS ndrops

static uint64_t field(const au_node_stats *s, size_t off) {
    uint64_t v;
    memcpy(&v, (const char *)s + off, sizeof v);
    return v;
}

static au_node_stats stats_of(au_node *node) {
    au_node_stats s;
    au_node_stats_get(node, &s);
    return s;
}

static au_node_stats stats(void) { return stats_of(H.node); }

typedef struct goal {
    au_node *node;
    size_t off;
    uint64_t at_least;
} goal;

static bool goal_reached(void *arg) {
    goal *g = arg;
    au_node_stats s = stats_of(g->node);
    return field(&s, g->off) >= g->at_least;
}

static bool log_has(void *arg) {
    int64_t v = *(int64_t *)arg;
    size_t n = recorder_count(&H.log);
    for (size_t i = n; i-- > 0;)
        if (recorder_at(&H.log, i) == v) return true;
    return false;
}

/* A valid message behind everything sent so far: once the actor has recorded it, every earlier
 * datagram has been routed or dropped, and every earlier delivery decoded. The log must then
 * hold exactly the expected entries, the fence last. */
static void fence(void) {
    int64_t v = FENCE + H.fences++;
    send_count(v);
    assert_true(wait_until(log_has, &v, WAIT_MS));
    H.logged++;
    assert_int_equal(recorder_count(&H.log), H.logged);
    assert_int_equal(recorder_at(&H.log, H.logged - 1), v);
}

/* Waits until the counter at `off` has grown by n since `before`, fences, then asserts it grew by
 * exactly n and that no other drop counter moved. */
static void expect_drops(const au_node_stats *before, size_t off, uint64_t n) {
    goal g = { H.node, off, field(before, off) + n };
    bool reached = wait_until(goal_reached, &g, WAIT_MS);
    fence();
    au_node_stats after = stats();
    bool ok = reached;
    for (size_t i = 0; i < NDROPS; i++) {
        uint64_t moved = field(&after, drops[i].off) - field(before, drops[i].off);
        uint64_t want = drops[i].off == off ? n : 0;
        if (moved != want) {
            print_error("%s moved by %llu, expected %llu\n", drops[i].name,
                        (unsigned long long)moved, (unsigned long long)want);
            ok = false;
        }
    }
    if (!ok) fail();
}

#define F(f) offsetof(au_node_stats, f)

/* ---- the header and the trailer ----------------------------------------------------------- */

static void datagrams_shorter_than_header_and_checksum_are_malformed(void **s) {
    au_node_stats before = stats();
    uint8_t v[AU_WIRE_MAX_MTU];
    valid_datagram(1, v);
    size_t sent = 0;
    for (size_t len = 1; len < AU_WIRE_HEADER_SIZE + AU_WIRE_CHECKSUM_SIZE; len++, sent++)
        send_raw(v, len);
    expect_drops(&before, F(drops_malformed), sent); /* 27: header or trailer cut */
}

static void a_valid_datagram_cut_short_fails_its_checksum(void **s) {
    au_node_stats before = stats();
    uint8_t v[AU_WIRE_MAX_MTU];
    size_t len = valid_datagram(2, v), sent = 0;
    /* From "header and trailer only" to "the last byte cut": the trailer is then read from the
     * wrong place and cannot match. Nothing of count 2 is delivered. */
    for (size_t cut = AU_WIRE_HEADER_SIZE + AU_WIRE_CHECKSUM_SIZE; cut < len; cut++, sent++)
        send_raw(v, cut);
    expect_drops(&before, F(drops_checksum), sent);
}

static void wrong_magic_wrong_version_and_reserved_flags_are_malformed(void **s) {
    au_node_stats before = stats();
    uint8_t v[AU_WIRE_MAX_MTU];
    size_t len = valid_datagram(3, v), sent = 0;
    static const uint8_t magics[][2] = { { 0, 0 }, { 'a', 'u' }, { 'u', 'A' }, { 'A', 0x74 } };
    static const uint8_t versions[] = { 0, 2, 0xFF };
    static const uint8_t flags[] = { 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x03, 0xFF };
    for (size_t i = 0; i < sizeof magics / sizeof magics[0]; i++, sent++) {
        uint8_t d[AU_WIRE_MAX_MTU];
        memcpy(d, v, len);
        memcpy(d, magics[i], 2);
        rechecksum(d, len); /* only the header is wrong */
        send_raw(d, len);
    }
    for (size_t i = 0; i < sizeof versions; i++, sent++) {
        uint8_t d[AU_WIRE_MAX_MTU];
        memcpy(d, v, len);
        d[2] = versions[i];
        rechecksum(d, len);
        send_raw(d, len);
    }
    for (size_t i = 0; i < sizeof flags; i++, sent++) {
        uint8_t d[AU_WIRE_MAX_MTU];
        memcpy(d, v, len);
        d[3] = flags[i];
        rechecksum(d, len);
        send_raw(d, len);
    }
    expect_drops(&before, F(drops_malformed), sent); /* 16 */
}

static void one_flipped_byte_anywhere_after_the_magic_fails_the_checksum(void **s) {
    au_node_stats before = stats();
    uint8_t v[AU_WIRE_MAX_MTU];
    size_t len = valid_datagram(4, v);
    /* the incarnation, the sequence number, the frame header, the name, the payload, the trailer */
    const size_t at[] = { 4, 19, AU_WIRE_HEADER_SIZE + 1, AU_WIRE_HEADER_SIZE + 3 + 18,
                          len - AU_WIRE_CHECKSUM_SIZE - 1, len - 1 };
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) {
        uint8_t d[AU_WIRE_MAX_MTU];
        memcpy(d, v, len);
        d[at[i]] ^= 0x01;
        send_raw(d, len);
    }
    expect_drops(&before, F(drops_checksum), sizeof at / sizeof at[0]);
}

static void a_sealed_datagram_at_a_node_without_a_key_fails_integrity(void **s) {
    au_node_stats before = stats();
    uint8_t v[AU_WIRE_MAX_MTU];
    size_t len = valid_datagram(5, v);
    v[3] = AU_WIRE_FLAG_SEALED; /* a plain datagram claiming to be sealed */
    send_raw(v, len);
    send_raw(v, AU_WIRE_HEADER_SIZE); /* a bare sealed header */
    uint8_t d[AU_WIRE_HEADER_SIZE + AU_WIRE_NONCE_SIZE + 40 + AU_WIRE_TAG_SIZE];
    memset(d, 0x5A, sizeof d);
    memcpy(d, v, AU_WIRE_HEADER_SIZE); /* sealed-looking: nonce, ciphertext, tag */
    send_raw(d, sizeof d);
    expect_drops(&before, F(drops_checksum), 3);
    assert_true(warned_of("dropped", "no cluster key"));
}

/* ---- frames -------------------------------------------------------------------------------- */

static void lengths_past_the_end_of_the_datagram_are_malformed(void **s) {
    au_node_stats before = stats();
    uint8_t d[AU_WIRE_MAX_MTU], *f = d + AU_WIRE_HEADER_SIZE;
    size_t n, sent = 0;
    const uint8_t payload[] = { 0x07 };

    /* body_len one more than what follows */
    n = message_frame(f, AU_WIRE_BODY_HEADER + 6 + 1 + 1, 0, 6, "target", 6, H.root_id, H.count_id);
    f[n++] = payload[0];
    send_raw(d, wrap(d, n)), sent++;
    /* body_len 65535 */
    n = message_frame(f, 0xFFFF, 0, 6, "target", 6, H.root_id, H.count_id);
    f[n++] = payload[0];
    send_raw(d, wrap(d, n)), sent++;
    /* name_len 200 in a body of 24 bytes */
    n = message_frame(f, AU_WIRE_BODY_HEADER + 6, 0, 200, "target", 6, H.root_id, H.count_id);
    send_raw(d, wrap(d, n)), sent++;
    /* name_len 255 (the most a byte says) in a body of 18 */
    n = message_frame(f, AU_WIRE_BODY_HEADER, 0, 255, "", 0, H.root_id, H.count_id);
    send_raw(d, wrap(d, n)), sent++;
    /* a body shorter than the body header */
    n = message_frame(f, 5, 0, 6, "", 0, 0, 0) - AU_WIRE_BODY_HEADER + 5;
    send_raw(d, wrap(d, n)), sent++;
    /* a message frame header cut after its type byte, and after one length byte */
    f[0] = AU_WIRE_FRAME_MESSAGE;
    send_raw(d, wrap(d, 1)), sent++;
    f[1] = 0;
    send_raw(d, wrap(d, 2)), sent++;
    /* a fragment frame header cut short */
    n = fragment_header(f, 1, 100, 0, 10);
    send_raw(d, wrap(d, n - 1)), sent++;
    /* chunk_len 100 with 10 bytes present; chunk_len 65535 */
    n = fragment_header(f, 2, 100, 0, 100);
    memset(f + n, 0xAB, 10);
    send_raw(d, wrap(d, n + 10)), sent++;
    n = fragment_header(f, 3, 70000, 0, 0xFFFF);
    memset(f + n, 0xAB, 10);
    send_raw(d, wrap(d, n + 10)), sent++;
    /* a good message frame, then a frame running past the end: the whole datagram goes */
    uint8_t cbor[16];
    size_t c = cbor_int64(66, cbor);
    n = message_frame(f, (uint16_t)(AU_WIRE_BODY_HEADER + 6 + c), 0, 6, "target", 6, H.root_id,
                      H.count_id);
    memcpy(f + n, cbor, c);
    n += c;
    size_t second = message_frame(f + n, 500, 0, 6, "target", 6, H.root_id, H.count_id);
    send_raw(d, wrap(d, n + second)), sent++;
    expect_drops(&before, F(drops_malformed), sent); /* 11, and count 66 was not delivered */
}

static void fragments_claiming_a_message_above_max_message_size_are_too_big(void **s) {
    au_node_stats before = stats();
    uint8_t chunk[10] = { 0 };
    send_fragment(10, 0xFFFFFFFFu, 0, sizeof chunk, chunk);
    send_fragment(11, (16u << 20) + 1, 0, sizeof chunk, chunk);
    send_fragment(12, 0x80000000u, 0x7FFFFFF0u, sizeof chunk, chunk);
    expect_drops(&before, F(drops_too_big), 3);
}

static void unknown_frames_empty_fragments_bad_kinds_and_frameless_datagrams_are_malformed(void **s) {
    au_node_stats before = stats();
    uint8_t d[AU_WIRE_MAX_MTU], *f = d + AU_WIRE_HEADER_SIZE;
    size_t n, sent = 0;
    static const uint8_t types[] = { 0x00, 0x03, 0x7F, 0xFF };
    for (size_t i = 0; i < sizeof types; i++, sent++) {
        memset(f, 0, 40);
        f[0] = types[i];
        send_raw(d, wrap(d, 40));
    }
    /* a fragment with chunk_len 0 */
    n = fragment_header(f, 20, 100, 0, 0);
    send_raw(d, wrap(d, n)), sent++;
    /* a fragment whose offset + length runs past its own total (huge offset) */
    n = fragment_header(f, 21, 100, 0xFFFFFFF0u, 10);
    memset(f + n, 1, 10);
    send_raw(d, wrap(d, n + 10)), sent++;
    /* message kinds other than message (0), signal (1) and system (2) */
    static const uint8_t kinds[] = { 3, 0x80, 0xFF };
    for (size_t i = 0; i < sizeof kinds; i++, sent++) {
        n = message_frame(f, AU_WIRE_BODY_HEADER + 6 + 1, kinds[i], 6, "target", 6, H.root_id,
                          H.count_id);
        f[n++] = 0x07;
        send_raw(d, wrap(d, n));
    }
    /* a valid header and checksum around no frames at all */
    send_raw(d, wrap(d, 0)), sent++;
    expect_drops(&before, F(drops_malformed), sent); /* 10 */
}

static void an_empty_datagram_is_counted_as_malformed(void **s) {
    au_node_stats before = stats();
    send_raw("", 0);
    expect_drops(&before, F(drops_malformed), 1);
    au_node_stats after = stats();
    /* received (2: the empty datagram and the fence), not silently ignored */
    assert_int_equal(after.datagrams_received - before.datagrams_received, 2);
}

static void a_signal_other_than_term_is_malformed(void **s) {
    au_node_stats before = stats();
    const uint8_t not_term[] = { 0x01 }, longer[] = { 0x00, 0x00 };
    au_wire_dest d = to_target(H.count_id);
    d.kind = AU_WIRE_KIND_SIGNAL;
    pack_and_send(d, not_term, sizeof not_term);
    pack_and_send(d, longer, sizeof longer);
    pack_and_send(d, NULL, 0);
    expect_drops(&before, F(drops_malformed), 3); /* and the actor is still there: fence */
}

static void a_datagram_longer_than_the_mtu_is_too_big(void **s) {
    au_node_stats before = stats();
    uint8_t big[2000];
    memset(big, 0, sizeof big);
    valid_datagram(8, big); /* a real header in front of it; the length alone decides */
    send_raw(big, sizeof big);
    send_raw(big, 1401);
    expect_drops(&before, F(drops_too_big), 2);
}

/* ---- routing: valid datagrams to the wrong place ------------------------------------------- */

static void a_message_for_an_unregistered_name_is_unknown_actor(void **s) {
    au_node_stats before = stats();
    uint8_t p[16];
    size_t n = cbor_int64(9, p);
    char long_name[255];
    memset(long_name, 'x', sizeof long_name);
    pack_and_send(dest("nobody", 6, H.root_id, H.count_id), p, n);
    pack_and_send(dest("targe", 5, H.root_id, H.count_id), p, n);      /* a prefix */
    pack_and_send(dest("target\0", 7, H.root_id, H.count_id), p, n);   /* a C-string lookalike */
    pack_and_send(dest("TARGET", 6, H.root_id, H.count_id), p, n);
    pack_and_send(dest("", 0, H.root_id, H.count_id), p, n);
    pack_and_send(dest(long_name, sizeof long_name, H.root_id, H.count_id), p, n);
    expect_drops(&before, F(drops_unknown_actor), 6);
}

static void the_right_name_under_another_root_type_is_wrong_root(void **s) {
    au_node_stats before = stats();
    uint8_t p[16];
    size_t n = cbor_int64(10, p);
    pack_and_send(dest("target", 6, au_type_id(&au_type_other_msg), H.count_id), p, n);
    pack_and_send(dest("target", 6, 0, H.count_id), p, n);
    pack_and_send(dest("target", 6, ~H.root_id, H.count_id), p, n);
    pack_and_send(dest("target", 6, H.count_id, H.count_id), p, n); /* an interface as root */
    expect_drops(&before, F(drops_wrong_root), 4);
}

static void an_interface_the_root_does_not_declare_is_wrong_interface(void **s) {
    au_node_stats before = stats();
    uint8_t p[16];
    size_t n = cbor_int64(11, p);
    pack_and_send(to_target(au_type_id(&au_type_double)), p, n);
    pack_and_send(to_target(au_type_id(&au_type_au_str)), p, n);
    pack_and_send(to_target(au_type_id(&au_type_au_unit)), p, n); /* a plain variant's payload */
    pack_and_send(to_target(au_type_id(&au_type_other_msg)), p, n);
    pack_and_send(to_target(0), p, n);
    expect_drops(&before, F(drops_wrong_interface), 5);
    assert_true(warned_of("'target'", "does not declare that interface")); /* and said so */
}

static void the_same_type_name_at_another_schema_is_schema_mismatch(void **s) {
    au_node_stats before = stats();
    uint8_t p[16];
    size_t n = cbor_int64(12, p);
    const uint64_t low = ~AU_TYPE_ID_NAME_MASK;
    /* the root: same name hash (high 32 bits), another schema hash (low 32 bits) */
    pack_and_send(dest("target", 6, H.root_id ^ 1, H.count_id), p, n);
    pack_and_send(dest("target", 6, (H.root_id & AU_TYPE_ID_NAME_MASK) | (~H.root_id & low),
                       H.count_id), p, n);
    /* an interface of the right root at another version, and the root itself as interface */
    pack_and_send(to_target(H.count_id ^ 0x80000000u), p, n);
    pack_and_send(to_target(H.reading_id ^ 1), p, n);
    pack_and_send(to_target(H.root_id ^ 1), p, n);
    expect_drops(&before, F(drops_schema_mismatch), 5);
    assert_true(warned_of("'target'", "another version"));
}

static void a_payload_that_is_not_valid_cbor_for_the_type_is_a_decode_drop(void **s) {
    au_node_stats before = stats();
    static const struct {
        int iface; /* 0: int64_t, 1: sample, 2: the whole root */
        uint8_t len, bytes[8];
    } bad[] = {
        { 0, 0, { 0 } },                          /* nothing */
        { 0, 2, { 0x61, 'a' } },                  /* text, not an integer */
        { 0, 2, { 0x07, 0x07 } },                 /* trailing bytes */
        { 0, 3, { 0x1b, 0x00, 0x00 } },           /* truncated 8-byte integer */
        { 0, 1, { 0xff } },                       /* a lone break */
        { 0, 1, { 0xf9 } },                       /* a half float, refused */
        { 0, 1, { 0xa0 } },                       /* a map, refused */
        { 1, 3, { 0x82, 0x01, 0x02 } },           /* label is not text */
        { 1, 2, { 0x81, 0x60 } },                 /* one field of two */
        { 1, 4, { 0x83, 0x60, 0x01, 0x02 } },     /* three fields of two */
        { 1, 4, { 0x82, 0x62, 0xc3, 0x28 } },     /* invalid UTF-8 */
        { 1, 4, { 0x82, 0x7a, 0xff, 0xff } },     /* a string length past the end */
        { 2, 3, { 0x82, 0x18, 0x63 } },           /* root: variant 99, no payload */
        { 2, 4, { 0x82, 0x18, 0x63, 0x00 } },     /* root: variant 99 */
        { 2, 3, { 0x82, 0x00, 0x60 } },           /* root: count given a string */
    };
    const uint64_t ifaces[] = { H.count_id, H.reading_id, H.root_id };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        pack_and_send(to_target(ifaces[bad[i].iface]), bad[i].bytes, bad[i].len);
    expect_drops(&before, F(drops_decode), sizeof bad / sizeof bad[0]);
}

/* ---- duplicates ---------------------------------------------------------------------------- */

static void a_duplicated_datagram_is_dropped_and_its_message_delivered_once(void **s) {
    au_node_stats before = stats();
    size_t logged = H.logged;
    uint8_t a[AU_WIRE_MAX_MTU], b[AU_WIRE_MAX_MTU], c[AU_WIRE_MAX_MTU];
    size_t alen = valid_datagram(4242, a), blen = valid_datagram(4243, b);
    H.packer.next_seq += 100; /* the next datagram leaves b behind the 64-datagram window */
    size_t clen = valid_datagram(4244, c);
    send_raw(a, alen);
    send_raw(a, alen); /* the same sequence number again */
    send_raw(b, blen);
    send_raw(c, clen);
    send_raw(b, blen); /* now older than the window */
    H.logged += 3;
    expect_drops(&before, F(drops_duplicate), 2);
    assert_int_equal(recorder_at(&H.log, logged), 4242);
    assert_int_equal(recorder_at(&H.log, logged + 1), 4243);
    assert_int_equal(recorder_at(&H.log, logged + 2), 4244);
}

/* ---- reassembly ---------------------------------------------------------------------------- */

typedef struct gauge_watch {
    uint64_t max_seen;
} gauge_watch;

static void sample_gauge(gauge_watch *w) {
    au_node_stats s = stats();
    if (s.reassemblies_in_flight > w->max_seen) w->max_seen = s.reassemblies_in_flight;
}

static bool storm_over(void *arg) {
    goal *g = arg;
    au_node_stats s = stats();
    return s.drops_reassembly >= g->at_least && s.reassemblies_in_flight == 0;
}

typedef struct storm_watch {
    goal g;
    gauge_watch *w;
} storm_watch;

static bool storm_drained(void *arg) {
    storm_watch *sw = arg;
    sample_gauge(sw->w);
    return storm_over(&sw->g);
}

static void a_fragment_storm_stays_within_max_partials_and_expires(void **s) {
    au_node_stats before = stats();
    assert_int_equal(before.reassemblies_in_flight, 0);
    enum { STORM = 300, TOTAL = 60000, CHUNK = 200 };
    uint8_t chunk[CHUNK];
    memset(chunk, 0xC3, sizeof chunk);
    gauge_watch w = { 0 };
    /* Messages that never complete: only their first chunk arrives, each a new msg id. Each
     * fragment either takes one of the 8 slots (and later expires) or is refused for lack of a
     * slot: one reassembly drop each, in the end. */
    /* Paced on the node's counter, every 50 fragments: the storm must not depend on a receive
     * buffer that holds all 300 at once (only root is granted 4 MiB). */
    uint64_t kernel_before = udp_rcvbuf_errors();
    for (uint32_t i = 0; i < STORM; i++) {
        send_fragment(1000 + i, TOTAL, 0, CHUNK, chunk);
        sample_gauge(&w);
        if ((i + 1) % 50 == 0) {
            goal in = { H.node, F(datagrams_received), before.datagrams_received + i + 1 };
            if (!wait_until(goal_reached, &in, WAIT_MS)) {
                udp_report_kernel_drops("fragment storm", kernel_before);
                fail_msg("the node received %llu of %u fragments",
                         (unsigned long long)(stats().datagrams_received - before.datagrams_received), i + 1);
            }
        }
    }
    /* Then, sampling the gauge all the while, until every partial has expired. */
    storm_watch sw = { { H.node, F(drops_reassembly), before.drops_reassembly + STORM }, &w };
    if (!wait_until(storm_drained, &sw, WAIT_MS)) {
        au_node_stats now = stats();
        for (size_t i = 0; i < NDROPS; i++)
            if (field(&now, drops[i].off) != field(&before, drops[i].off))
                print_error("%s +%llu\n", drops[i].name,
                            (unsigned long long)(field(&now, drops[i].off) - field(&before, drops[i].off)));
        fail_msg("the storm did not drain: %llu reassemblies still in flight",
                 (unsigned long long)now.reassemblies_in_flight);
    }
    assert_true(w.max_seen <= MAX_PARTIALS);
    assert_true(w.max_seen > 0);
    expect_drops(&before, F(drops_reassembly), STORM);
    assert_int_equal(stats().reassemblies_in_flight, 0);
}

static void lying_fragments_are_reassembly_drops_and_honest_ones_still_complete(void **s) {
    au_node_stats before = stats();
    uint8_t body[300];
    memset(body, 0x11, sizeof body);
    /* message 5000: its first 100 bytes, then a fragment overlapping them, one disagreeing on
     * the total, and an exact repeat (ignored, not counted); it never completes and expires. */
    send_fragment(5000, sizeof body, 0, 100, body);
    send_fragment(5000, sizeof body, 50, 100, body);  /* overlap */
    send_fragment(5000, sizeof body + 1, 100, 100, body); /* total mismatch */
    send_fragment(5000, sizeof body, 0, 100, body);   /* duplicate bytes: ignored */
    /* message 5001: complete in one fragment, but the body's kind byte is 7 */
    uint8_t bad[AU_WIRE_BODY_HEADER + 6 + 1], frame[64];
    size_t n = message_frame(frame, 0, 7, 6, "target", 6, H.root_id, H.count_id);
    frame[n++] = 0x07;
    memcpy(bad, frame + AU_WIRE_MESSAGE_FRAME_HEADER, sizeof bad);
    send_fragment(5001, sizeof bad, 0, sizeof bad, bad);
    /* message 5002: an honest count 77, in three fragments sent out of order */
    uint8_t good[64], cbor[16];
    size_t c = cbor_int64(77, cbor);
    n = message_frame(frame, 0, 0, 6, "target", 6, H.root_id, H.count_id);
    memcpy(frame + n, cbor, c);
    size_t glen = n + c - AU_WIRE_MESSAGE_FRAME_HEADER;
    memcpy(good, frame + AU_WIRE_MESSAGE_FRAME_HEADER, glen);
    send_fragment(5002, (uint32_t)glen, 20, (uint16_t)(glen - 20), good + 20);
    send_fragment(5002, (uint32_t)glen, 0, 10, good);
    send_fragment(5002, (uint32_t)glen, 10, 10, good + 10);
    H.logged++; /* count 77 */
    goal g = { H.node, F(drops_reassembly), before.drops_reassembly + 4 };
    /* overlap + total mismatch + 5001's bad body + 5000's expiry */
    assert_true(wait_until(storm_over, &g, WAIT_MS));
    expect_drops(&before, F(drops_reassembly), 4);
    assert_int_equal(recorder_at(&H.log, H.logged - 2), 77);
}

/* ---- noise --------------------------------------------------------------------------------- */

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static uint64_t rng(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

static size_t rss_bytes(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    assert_non_null(f);
    unsigned long size = 0, resident = 0;
    assert_int_equal(fscanf(f, "%lu %lu", &size, &resident), 2);
    fclose(f);
    return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

typedef struct noise_goal {
    uint64_t malformed, too_big, checksum;
} noise_goal;

static bool noise_counted(void *arg) {
    noise_goal *g = arg;
    au_node_stats s = stats();
    return s.drops_malformed >= g->malformed && s.drops_too_big >= g->too_big &&
           s.drops_checksum >= g->checksum;
}

/* Where a datagram must land, from the wire format as documented (docs, and the list at the
 * top of this file), written out here with literal values: an independent check, not a call to
 * the parser under test. Header: magic 0x41 0x75 ("Au"), version 1, flags (bit 0: sealed, the
 * rest reserved), incarnation u64, sequence u64: 20 bytes; an unsealed datagram ends with an
 * 8-byte checksum. The node's mtu is 1400. */
enum { NOISE_TOO_BIG, NOISE_MALFORMED, NOISE_CHECKSUM };
static int classify_noise(const uint8_t *d, size_t len) {
    if (len > 1400) return NOISE_TOO_BIG;
    if (len < 20) return NOISE_MALFORMED;                       /* shorter than a header */
    if (d[0] != 0x41 || d[1] != 0x75) return NOISE_MALFORMED;   /* magic */
    if (d[2] != 1) return NOISE_MALFORMED;                      /* version */
    if (d[3] & 0xFE) return NOISE_MALFORMED;                    /* reserved flags */
    if (d[3] == 0 && len < 28) return NOISE_MALFORMED;          /* no room for the checksum */
    /* A plausible header: unsealed, a checksum random bytes match once in 2^64; sealed, at a
     * node without a key, integrity fails whatever follows. */
    return NOISE_CHECKSUM;
}

static void ten_thousand_random_datagrams_are_all_dropped_and_memory_stays_flat(void **s) {
    /* Paced every 50 datagrams: 50 of up to 1500 bytes fit a 208 KiB receive buffer (the
     * kernel charges about 2.3 KiB each), the default without root. */
    enum { NOISE = 10000, WARMUP = 250, BATCH = 50, MAX_LEN = 1500 };
    au_node_stats before = stats();
    noise_goal g = { before.drops_malformed, before.drops_too_big, before.drops_checksum };
    size_t rss_before = 0, bytes_after_warmup = 0;
    uint64_t kernel_before = udp_rcvbuf_errors();
    uint64_t classes[3] = { 0 };
    uint8_t d[MAX_LEN];
    for (int i = 0; i < NOISE; i++) {
        if (i == WARMUP) rss_before = rss_bytes(); /* after the first datagrams warmed everything up */
        /* 1..1500 bytes: the empty datagram has its own test above */
        size_t len = 1 + (size_t)(rng() % MAX_LEN);
        for (size_t k = 0; k < len; k += 8) {
            uint64_t r = rng();
            memcpy(d + k, &r, len - k < 8 ? len - k : 8);
        }
        /* One in four starts like a real header (magic and version right, flags random among
         * 0..3), so that the checks past the magic see random input too. */
        if (i % 4 == 0 && len >= 4) {
            d[0] = 0x41, d[1] = 0x75, d[2] = 1;
            d[3] = (uint8_t)(rng() % 4);
        }
        int cls = classify_noise(d, len);
        classes[cls]++;
        if (cls == NOISE_TOO_BIG) g.too_big++;
        else if (cls == NOISE_MALFORMED) g.malformed++;
        else g.checksum++;
        if (i >= WARMUP) bytes_after_warmup += len;
        send_raw(d, len);
        /* Pace: let the node catch up so the socket buffer never overflows (a kernel drop would
         * be uncounted and make the exact totals below unreachable). */
        if ((i + 1) % BATCH == 0 && !wait_until(noise_counted, &g, WAIT_MS)) {
            udp_report_kernel_drops("noise", kernel_before);
            fail_msg("the node counted fewer drops than the %d datagrams sent", i + 1);
        }
    }
    assert_true(wait_until(noise_counted, &g, WAIT_MS));
    size_t rss_after = rss_bytes();
    fence();
    au_node_stats after = stats();
    print_message("noise: %llu too big, %llu malformed, %llu checksum\n", (unsigned long long)classes[0],
                  (unsigned long long)classes[1], (unsigned long long)classes[2]);
    assert_true(classes[NOISE_CHECKSUM] > 500); /* every class well represented */
    assert_int_equal(after.drops_malformed, g.malformed);
    assert_int_equal(after.drops_too_big, g.too_big);
    assert_int_equal(after.drops_checksum, g.checksum);
    assert_int_equal((after.drops_malformed - before.drops_malformed) +
                     (after.drops_too_big - before.drops_too_big) +
                     (after.drops_checksum - before.drops_checksum), NOISE);
    for (size_t i = 0; i < NDROPS; i++) {
        size_t off = drops[i].off;
        if (off == F(drops_malformed) || off == F(drops_too_big) || off == F(drops_checksum))
            continue;
        assert_int_equal(field(&after, off), field(&before, off));
    }
    assert_int_equal(after.messages_received_remote - before.messages_received_remote, 1);
    /* Keeping any part of every datagram would cost at least its bytes: the bound is a quarter
     * of what the datagrams after the warm-up weigh (about 1.8 MiB of 7.3 MiB). */
    size_t grew = rss_after > rss_before ? rss_after - rss_before : 0, bound = bytes_after_warmup / 4;
    print_message("rss %zu KiB -> %zu KiB across %d random datagrams (%zu KiB of them; bound %zu KiB)\n",
                  rss_before >> 10, rss_after >> 10, NOISE, bytes_after_warmup >> 10, bound >> 10);
    assert_true(grew < bound);
}

/* ---- afterwards ---------------------------------------------------------------------------- */

static void after_the_corpus_a_well_behaved_node_is_still_served(void **s) {
    au_node *peer;
    assert_int_equal(au_node_start(&(au_node_config){ .bind = "127.0.0.1:0", .workers = 1 }, &peer),
                     AU_OK);
    const char *addr = au_node_address(H.node);
    int64_t_ref counts = au_forge(target_msg, int64_t, peer, "target", addr);
    sample_ref readings = au_forge(target_msg, sample, peer, "target", addr);
    target_msg_ref whole = au_forge(target_msg, target_msg, peer, "target", addr);
    assert_false(au_ref_is_null(counts.raw));
    assert_false(au_ref_is_null(readings.raw));
    assert_false(au_ref_is_null(whole.raw));
    au_node_stats before = stats();
    size_t logged = H.logged;

    char label[3000]; /* fragmented: more than one datagram */
    memset(label, 'L', sizeof label);
    assert_int_equal(au_send(counts, (int64_t)31337), AU_OK);
    assert_int_equal(au_send(readings, ((sample){ .label = au_str_dup(label, sizeof label),
                                                  .value = 5 })), AU_OK);
    assert_int_equal(au_send(whole, ((target_msg){ .tag = target_msg_poke })), AU_OK);
    H.logged += 3;
    assert_true(recorder_wait(&H.log, H.logged, WAIT_MS));
    assert_int_equal(recorder_at(&H.log, logged), 31337);
    assert_int_equal(recorder_at(&H.log, logged + 1), READING + 5 + (int64_t)sizeof label * 10000);
    assert_int_equal(recorder_at(&H.log, logged + 2), POKE);

    au_node_stats after = stats();
    assert_int_equal(after.messages_received_remote - before.messages_received_remote, 3);
    for (size_t i = 0; i < NDROPS; i++)
        assert_int_equal(field(&after, drops[i].off), field(&before, drops[i].off));
    au_node_stop(peer);
}

/* ---- sealed nodes: replay protection ----------------------------------------------------- */

/* A node with a cluster key, its own "target", and sealed datagrams made with the same key. */
typedef struct sealed_node {
    au_node *node;
    recorder log;
    struct sockaddr_in to;
    au_seal_key key;
    au_wire_ids ids;
    uint8_t out[AU_WIRE_MAX_MTU];
    size_t out_len;
} sealed_node;

static const uint8_t SECRET[AU_SEAL_KEY_SIZE] = { 0x42, 0x13, 0x37 };

static void sealed_start(sealed_node *sn, size_t max_peers) {
    recorder_init(&sn->log);
    au_node_config cfg = { .bind = "127.0.0.1:0", .workers = 1, .secret = SECRET,
                           .max_peers = max_peers };
    assert_int_equal(au_node_start(&cfg, &sn->node), AU_OK);
    assert_false(au_ref_is_null(au_spawn(sn->node, target_actor, "target",
                                         &(target){ .log = &sn->log }).raw));
    parse_addr(au_node_address(sn->node), &sn->to);
    assert_int_equal(au_seal_key_init(&sn->key, SECRET), AU_WIRE_OK);
    au_wire_ids_init(&sn->ids);
}

/* Stops the node; the log stays readable until the test destroys it. */
static void sealed_stop(sealed_node *sn) { au_node_stop(sn->node); }

/* Asserts that between two readings the counter at `off` moved by exactly n and every other
 * drop counter not at all. */
static void expect_only(const au_node_stats *before, const au_node_stats *after, size_t off, uint64_t n) {
    bool ok = true;
    for (size_t i = 0; i < NDROPS; i++) {
        uint64_t moved = field(after, drops[i].off) - field(before, drops[i].off);
        uint64_t want = drops[i].off == off ? n : 0;
        if (moved != want) {
            print_error("%s moved by %llu, expected %llu\n", drops[i].name, (unsigned long long)moved,
                        (unsigned long long)want);
            ok = false;
        }
    }
    if (!ok) fail();
}

static void sealed_capture(void *user, const uint8_t *dgram, size_t len) {
    sealed_node *sn = user;
    memcpy(sn->out, dgram, len);
    sn->out_len = len;
}

/* An authentic sealed datagram carrying count v, from a sender of incarnation `inc`, with
 * sequence number `seq`: what an eavesdropper captures from the cluster's traffic. */
static size_t sealed_datagram(sealed_node *sn, uint64_t inc, uint64_t seq, int64_t v, uint8_t *out) {
    au_wire_limits limits = au_wire_limits_default();
    au_wire_packer p;
    assert_int_equal(au_wire_packer_init(&p, &limits, inc, &sn->ids, &sn->key, sealed_capture, sn),
                     AU_WIRE_OK);
    p.next_seq = seq;
    uint8_t cbor[16];
    size_t c = cbor_int64(v, cbor);
    au_wire_dest d = dest("target", 6, au_type_id(&au_type_target_msg), au_type_id(&au_type_int64_t));
    assert_int_equal(au_wire_packer_add(&p, &d, cbor, c), AU_WIRE_OK);
    au_wire_packer_flush(&p);
    au_wire_packer_destroy(&p);
    memcpy(out, sn->out, sn->out_len);
    return sn->out_len;
}

typedef struct log_value {
    recorder *log;
    int64_t v;
} log_value;

static bool log_holds(void *arg) {
    log_value *lv = arg;
    size_t n = recorder_count(lv->log);
    for (size_t i = 0; i < n; i++)
        if (recorder_at(lv->log, i) == lv->v) return true;
    return false;
}

static size_t occurrences(recorder *log, int64_t v) {
    size_t n = recorder_count(log), k = 0;
    for (size_t i = 0; i < n; i++) k += recorder_at(log, i) == v;
    return k;
}

static void a_sealed_datagram_replayed_after_another_incarnation_is_still_a_duplicate(void **s) {
    sealed_node sn;
    sealed_start(&sn, 0);
    int fd = hostile_socket();
    /* Captured: count 1 from a sender of incarnation A, count 2 from incarnation B (another
     * node, or A after a restart). Both authentic; each must count once, however the replays
     * are interleaved with the other incarnation's datagrams from the same address. */
    uint8_t a[AU_WIRE_MAX_MTU], b[AU_WIRE_MAX_MTU], f[AU_WIRE_MAX_MTU];
    size_t alen = sealed_datagram(&sn, 0xAAAA, 0, 1, a), blen = sealed_datagram(&sn, 0xBBBB, 0, 2, b);
    size_t flen = sealed_datagram(&sn, 0xAAAA, 1, FENCE, f);
    au_node_stats before = stats_of(sn.node);
    send_to(fd, &sn.to, a, alen);
    send_to(fd, &sn.to, b, blen);
    send_to(fd, &sn.to, a, alen); /* replay */
    send_to(fd, &sn.to, b, blen); /* replay */
    send_to(fd, &sn.to, a, alen); /* replay */
    send_to(fd, &sn.to, f, flen); /* fence: A's next datagram */
    log_value fenced = { &sn.log, FENCE };
    assert_true(wait_until(log_holds, &fenced, WAIT_MS));
    au_node_stats after = stats_of(sn.node);
    size_t ones = occurrences(&sn.log, 1), twos = occurrences(&sn.log, 2);
    close(fd);
    sealed_stop(&sn);
    print_message("delivered count 1 x%zu, count 2 x%zu; drops_duplicate +%llu\n", ones, twos,
                  (unsigned long long)(after.drops_duplicate - before.drops_duplicate));
    assert_int_equal(ones, 1);
    assert_int_equal(twos, 1);
    assert_int_equal(recorder_count(&sn.log), 3); /* 1, 2 and the fence: nothing else */
    expect_only(&before, &after, F(drops_duplicate), 3);
    assert_int_equal(after.messages_received_remote - before.messages_received_remote, 3);
    recorder_destroy(&sn.log);
}

static void a_sealed_replay_from_beyond_max_peers_is_not_delivered_twice(void **s) {
    sealed_node sn;
    sealed_start(&sn, 1);
    int first = hostile_socket(), second = hostile_socket();
    uint8_t a[AU_WIRE_MAX_MTU], b[AU_WIRE_MAX_MTU], f[AU_WIRE_MAX_MTU];
    size_t alen = sealed_datagram(&sn, 0xAAAA, 0, 1, a), blen = sealed_datagram(&sn, 0xBBBB, 0, 2, b);
    size_t flen = sealed_datagram(&sn, 0xAAAA, 1, FENCE, f);
    au_node_stats before = stats_of(sn.node);
    send_to(first, &sn.to, a, alen); /* the one peer the node keeps state for */
    log_value one = { &sn.log, 1 };
    assert_true(wait_until(log_holds, &one, WAIT_MS));
    /* Another sender's captured datagram, replayed three times from a second address, at a
     * node with room for one sender's replay state (max_peers 1): never delivered twice. */
    send_to(second, &sn.to, b, blen);
    send_to(second, &sn.to, b, blen);
    send_to(second, &sn.to, b, blen);
    send_to(first, &sn.to, f, flen);
    log_value fenced = { &sn.log, FENCE };
    assert_true(wait_until(log_holds, &fenced, WAIT_MS));
    au_node_stats after = stats_of(sn.node);
    size_t twos = occurrences(&sn.log, 2);
    uint64_t dropped = (after.drops_peer_limit - before.drops_peer_limit) +
                       (after.drops_duplicate - before.drops_duplicate);
    close(first);
    close(second);
    sealed_stop(&sn);
    print_message("replay from beyond max_peers: delivered x%zu, dropped %llu\n", twos,
                  (unsigned long long)dropped);
    /* Replay state belongs to the sealed sender identity, at most max_peers of them, least
     * recently used evicted first: the second sender's first copy is delivered (evicting the
     * first sender), its two replays are duplicates, and the first sender's fence, from a fresh
     * window, is delivered. Exactly that, and no other drop. */
    assert_int_equal(twos, 1);
    assert_int_equal(recorder_count(&sn.log), 3); /* 1, 2 and the fence */
    expect_only(&before, &after, F(drops_duplicate), 2);
    assert_int_equal(after.messages_received_remote - before.messages_received_remote, 3);
    recorder_destroy(&sn.log);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(datagrams_shorter_than_header_and_checksum_are_malformed),
        cmocka_unit_test(a_valid_datagram_cut_short_fails_its_checksum),
        cmocka_unit_test(wrong_magic_wrong_version_and_reserved_flags_are_malformed),
        cmocka_unit_test(one_flipped_byte_anywhere_after_the_magic_fails_the_checksum),
        cmocka_unit_test(a_sealed_datagram_at_a_node_without_a_key_fails_integrity),
        cmocka_unit_test(lengths_past_the_end_of_the_datagram_are_malformed),
        cmocka_unit_test(fragments_claiming_a_message_above_max_message_size_are_too_big),
        cmocka_unit_test(unknown_frames_empty_fragments_bad_kinds_and_frameless_datagrams_are_malformed),
        cmocka_unit_test(an_empty_datagram_is_counted_as_malformed),
        cmocka_unit_test(a_signal_other_than_term_is_malformed),
        cmocka_unit_test(a_datagram_longer_than_the_mtu_is_too_big),
        cmocka_unit_test(a_message_for_an_unregistered_name_is_unknown_actor),
        cmocka_unit_test(the_right_name_under_another_root_type_is_wrong_root),
        cmocka_unit_test(an_interface_the_root_does_not_declare_is_wrong_interface),
        cmocka_unit_test(the_same_type_name_at_another_schema_is_schema_mismatch),
        cmocka_unit_test(a_payload_that_is_not_valid_cbor_for_the_type_is_a_decode_drop),
        cmocka_unit_test(a_duplicated_datagram_is_dropped_and_its_message_delivered_once),
        cmocka_unit_test(a_fragment_storm_stays_within_max_partials_and_expires),
        cmocka_unit_test(lying_fragments_are_reassembly_drops_and_honest_ones_still_complete),
        cmocka_unit_test(ten_thousand_random_datagrams_are_all_dropped_and_memory_stays_flat),
        cmocka_unit_test(after_the_corpus_a_well_behaved_node_is_still_served),
        cmocka_unit_test(a_sealed_datagram_replayed_after_another_incarnation_is_still_a_duplicate),
        cmocka_unit_test(a_sealed_replay_from_beyond_max_peers_is_not_delivered_twice),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
