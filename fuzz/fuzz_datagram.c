/* libFuzzer harness for the datagram parser, the sealed path and the key ring (proto/wire,
 * proto/seal).
 *
 * Each input is used four ways.
 *  1. As a received datagram (mostly stopped by the checksum).
 *  2. The same with its checksum trailer repaired, so the frame checks are reached.
 *  3. As the frames of a datagram sealed with a fixed key, so decryption and the frame checks
 *     behind it are reached.
 *     In 1-3, every datagram the parser accepts is re-packed message by message and must parse
 *     back to the same messages: packer and parser agree on everything the parser lets through.
 *  4. As a program for a sealing sender and a receiver with a key ring (sealed_ring below):
 *     six keys with fresh secrets, ids and one sender id picked by the input; the ring holds the
 *     keys the input picks; a packer follows a primary key the program rotates; the program
 *     adds messages, flushes, rotates, and feeds the receiver raw bytes and tampered, truncated
 *     or extended copies of what was sealed. Checked:
 *       - what the packer sealed, a ring holding the key opens, naming that key id, the sender
 *         id, the incarnation and the sequence number, and the frames of all datagrams in order
 *         give back exactly the messages added; a ring without the key says AU_WIRE_UNKNOWN_KEY;
 *       - a single-bit flip anywhere in a sealed datagram is rejected, with the status the byte
 *         it lands in calls for (four flips per datagram, one in each of header, nonce,
 *         ciphertext and tag, at positions drawn from a hash of the input, so every bit of every
 *         region is reached over a campaign; in the first FLIPPED datagrams of an input and one
 *         more drawn from the rest, which keeps an input's cost near linear in its length);
 *       - a datagram accepted from raw or tampered bytes is one this input's packer produced
 *         (its hash is in the set of produced datagrams): without the key, bytes the fuzzer
 *         made up are never authentic. The secrets are fresh per input, so a datagram from an
 *         earlier input does not open either.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <xxhash.h>

#include "proto/seal.h"
#include "proto/wire.h"
#include "support.h"

#define MAX_MESSAGES 128 /* a 1400-byte datagram holds at most 66 message frames of 21 bytes */

/* ---- 1-3: the input as a datagram ---------------------------------------------------------- */

typedef struct repacked {
    uint8_t bytes[AU_WIRE_MAX_MTU];
    size_t len;
    int count;
} repacked;

static repacked repack_out;

static void keep_repacked(void *user, const uint8_t *dgram, size_t len) {
    repacked *r = user;
    if (r->count++ > 0) abort(); /* what came out of one datagram fits in one datagram */
    memcpy(r->bytes, dgram, len);
    r->len = len;
}

static int same_message(const au_wire_message *a, const au_wire_message *b) {
    return a->dest.kind == b->dest.kind && a->dest.name_len == b->dest.name_len &&
           a->dest.root_type == b->dest.root_type && a->dest.iface_type == b->dest.iface_type &&
           a->payload_len == b->payload_len &&
           (a->dest.name_len == 0 || memcmp(a->dest.name, b->dest.name, a->dest.name_len) == 0) &&
           (a->payload_len == 0 || memcmp(a->payload, b->payload, a->payload_len) == 0);
}

/* Re-packs the messages of an accepted datagram and checks they parse back identically. */
static void check_round_trip(const au_wire_limits *limits, au_wire_reader reader) {
    au_wire_message msgs[MAX_MESSAGES];
    int n = 0, rc;
    au_wire_frame f;
    au_wire_ids ids;
    au_wire_ids_init(&ids);
    repacked *out = &repack_out;
    out->count = 0;
    au_wire_packer packer;
    if (au_wire_packer_init(&packer, limits, 1, &ids, NULL, keep_repacked, out) != AU_WIRE_OK)
        abort();
    while ((rc = au_wire_reader_next(&reader, &f)) > 0) {
        if (f.type != AU_WIRE_FRAME_MESSAGE || n == MAX_MESSAGES) continue;
        msgs[n++] = f.as.message;
        if (au_wire_packer_add(&packer, &f.as.message.dest, f.as.message.payload,
                               f.as.message.payload_len) != AU_WIRE_OK)
            abort();
    }
    if (rc != 0) abort(); /* an opened datagram never fails half-way */
    au_wire_packer_flush(&packer);
    au_wire_packer_destroy(&packer);
    if (n == 0) return;

    au_wire_header h;
    au_wire_reader again;
    if (au_wire_datagram_open(limits, NULL, out->bytes, out->len, &h, &again) != AU_WIRE_OK)
        abort();
    for (int i = 0; i < n; i++) {
        if (au_wire_reader_next(&again, &f) != 1 || f.type != AU_WIRE_FRAME_MESSAGE) abort();
        if (!same_message(&msgs[i], &f.as.message)) abort();
    }
    if (au_wire_reader_next(&again, &f) != 0) abort();
}

static void check_status(int rc) {
    if (rc > 0 || strcmp(au_wire_status_str(rc), "unknown status") == 0) abort();
}

static void open_and_check(const au_wire_limits *limits, const au_seal_key *key, uint8_t *dgram,
                           size_t len) {
    au_wire_header h;
    au_wire_reader reader;
    int rc = au_wire_datagram_open(limits, key, dgram, len, &h, &reader);
    check_status(rc);
    if (rc == AU_WIRE_OK) check_round_trip(limits, reader);
}

static void as_datagram(const uint8_t *data, size_t size) {
    static au_seal_key key;
    static int key_ready;
    if (!key_ready) {
        uint8_t secret[AU_SEAL_KEY_SIZE] = {1, 2, 3};
        if (au_seal_key_init(&key, secret) != AU_WIRE_OK) abort();
        key_ready = 1;
    }
    au_wire_limits limits = au_wire_limits_default();
    limits.max_name = 32; /* smaller than the format allows, so that limit is exercised */
    if (size > limits.mtu) return;

    /* 1. as received (exact-size copies: any read past the datagram is an ASan report) */
    open_and_check(&limits, NULL, exact_copy(data, size), size);

    /* 2. with a correct checksum trailer */
    if (size >= AU_WIRE_HEADER_SIZE + AU_WIRE_CHECKSUM_SIZE) {
        uint8_t *buf = exact_copy(data, size);
        uint64_t sum = XXH3_64bits(buf, size - AU_WIRE_CHECKSUM_SIZE);
        for (int i = 0; i < 8; i++) buf[size - 1 - i] = (uint8_t)(sum >> (8 * i));
        open_and_check(&limits, NULL, buf, size);
    }

    /* 3. the input as the frames of a sealed datagram */
    size_t sealed_len = AU_WIRE_HEADER_SIZE + AU_WIRE_NONCE_SIZE + size + AU_WIRE_TAG_SIZE;
    if (sealed_len <= limits.mtu) {
        uint8_t sealed[1400]; /* limits.mtu */
        au_wire_header h = {.flags = AU_WIRE_FLAG_SEALED, .incarnation = 7, .seq = 1};
        au_wire_header_encode(&h, sealed);
        if (size) memcpy(sealed + AU_WIRE_HEADER_SIZE + AU_WIRE_NONCE_SIZE, data, size);
        if (au_seal_close(&key, sealed, sealed_len - AU_WIRE_TAG_SIZE) != sealed_len) abort();
        open_and_check(&limits, &key, exact_copy(sealed, sealed_len), sealed_len);
    }
}

/* ---- 4: a sealing sender and a receiver with a key ring ------------------------------------ */

#define RING_KEYS 6u
#define MAX_SEALED 40u    /* datagrams one input may produce */
#define MAX_ADDED 64u     /* messages one input may add */
#define FLIPPED 4u        /* datagrams per input whose bits are flipped */
#define RING_MAX_MESSAGE 512u /* fragmented into up to 31 datagrams at the smallest mtu */
#define RING_MAX_NAME 32u

static const size_t ring_mtus[4] = {AU_WIRE_MIN_MTU, 160, 512, 1400};

typedef struct added {
    au_wire_dest dest;
    uint8_t name[RING_MAX_NAME];
    const uint8_t *payload; /* into the input */
    size_t payload_len;
} added;

typedef struct sealed_run {
    au_wire_limits limits;
    au_seal_key keys[RING_KEYS];
    au_seal_key *_Atomic primary;
    size_t primary_slot; /* keys[primary_slot] == *primary */
    uint64_t sender, incarnation;
    au_seal_ring ring, only[RING_KEYS], without[RING_KEYS];
    bool in_ring[RING_KEYS];

    /* what the packer emitted, in order */
    size_t count;
    size_t used;                     /* bytes of arena in use */
    size_t off[MAX_SEALED], len[MAX_SEALED], slot[MAX_SEALED];
    uint64_t hash[MAX_SEALED];
    uint8_t arena[MAX_SEALED * 1400];

    added msgs[MAX_ADDED];
    size_t nmsgs;
} sealed_run;

static sealed_run run;
static au_wire_packer ring_packer; /* the sender of sealed_run */

static void keep_sealed(void *user, const uint8_t *dgram, size_t len) {
    sealed_run *r = user;
    /* sealed_ring stops adding before a message could overflow these */
    if (r->count == MAX_SEALED || r->used + len > sizeof r->arena) abort();
    memcpy(r->arena + r->used, dgram, len);
    r->off[r->count] = r->used;
    r->len[r->count] = len;
    r->slot[r->count] = r->primary_slot; /* the packer read *primary just before sealing */
    r->hash[r->count] = XXH3_64bits(dgram, len);
    r->used += len;
    r->count++;
}

static bool produced(const sealed_run *r, const uint8_t *dgram, size_t len) {
    uint64_t h = XXH3_64bits(dgram, len);
    for (size_t i = 0; i < r->count; i++)
        if (r->hash[i] == h && r->len[i] == len) return true;
    return false;
}

/* Bytes from a receiver that holds `ring`: accepted only if this input's packer made them. */
static void receive_untrusted(const sealed_run *r, const au_seal_ring *ring, const uint8_t *bytes,
                              size_t len) {
    uint8_t *d = exact_copy(bytes, len);
    au_wire_header h;
    au_wire_reader rd;
    int rc = au_wire_datagram_open_ring(&r->limits, ring, d, len, &h, &rd);
    check_status(rc);
    if (rc == AU_WIRE_OK && !produced(r, bytes, len)) abort(); /* a forgery was accepted */
}

/* The largest number of datagrams a message of body_len bytes can take (fragments of the
 * smallest chunk, plus the pending datagram it may close). */
static size_t worst_datagrams(const au_wire_limits *l, size_t body_len) {
    size_t per = l->mtu - AU_WIRE_HEADER_SIZE - AU_SEAL_OVERHEAD - AU_WIRE_FRAGMENT_FRAME_HEADER;
    return body_len / per + 2;
}

static bool op_add(sealed_run *r, cursor *c) {
    added *m = &r->msgs[r->nmsgs];
    uint8_t kind = take8(c) % 4; /* 3: not a kind */
    size_t name_len = take8(c) % (RING_MAX_NAME + 4), got;
    const uint8_t *name = take_bytes(c, name_len, &got);
    memset(m->name, 0, sizeof m->name);
    if (got) memcpy(m->name, name, got < RING_MAX_NAME ? got : RING_MAX_NAME);
    uint64_t root = take8(c), iface = take8(c);
    size_t want = take16(c) % (RING_MAX_MESSAGE + 64);
    m->payload = take_bytes(c, want, &m->payload_len);
    m->dest = (au_wire_dest){.kind = kind, .name = m->name, .name_len = name_len,
                             .root_type = root, .iface_type = iface};
    size_t body = AU_WIRE_BODY_HEADER + name_len + m->payload_len;
    if (r->count + worst_datagrams(&r->limits, body) > MAX_SEALED) return false;

    /* A name longer than the limit is refused before its bytes are read: m->name is enough. */
    int expect = kind > AU_WIRE_KIND_SYSTEM ? AU_WIRE_BAD_KIND
                 : name_len > RING_MAX_NAME ? AU_WIRE_NAME_TOO_LONG
                 : body > RING_MAX_MESSAGE  ? AU_WIRE_MESSAGE_TOO_LARGE
                                            : AU_WIRE_OK;
    if (au_wire_packer_add(&ring_packer, &m->dest, m->payload, m->payload_len) != expect) abort();
    if (expect == AU_WIRE_OK) r->nmsgs++;
    return true;
}

/* Tampering: xor input bytes into a copy of a sealed datagram, or change its length. */
static void op_tamper(const sealed_run *r, cursor *c) {
    if (!r->count) return;
    size_t j = take8(c) % r->count, len = r->len[j];
    uint8_t copy[1400 + 64]; /* the largest ring_mtus, then an extension */
    memcpy(copy, r->arena + r->off[j], len);
    uint8_t how = take8(c) % 3;
    if (how == 0) { /* xor up to 8 bytes at an offset */
        size_t at = take16(c) % len, n = 1 + take8(c) % 8, got;
        const uint8_t *x = take_bytes(c, n, &got);
        for (size_t i = 0; i < got && at + i < len; i++) copy[at + i] ^= x[i];
    } else if (how == 1) { /* truncated */
        len -= 1 + take8(c) % len;
    } else { /* extended with input bytes */
        size_t n = 1 + take8(c) % 64, got;
        const uint8_t *x = take_bytes(c, n, &got);
        memset(copy + len, 0, n);
        if (got) memcpy(copy + len, x, got);
        len += n;
        if (len > r->limits.mtu) len = r->limits.mtu;
    }
    receive_untrusted(r, &r->ring, copy, len);
    receive_untrusted(r, &r->only[r->slot[j]], copy, len);
}

/* Raw input bytes, optionally dressed as a sealed datagram naming a key the ring holds so that
 * authentication itself is what refuses them. */
static void op_raw(sealed_run *r, cursor *c) {
    uint8_t dress = take8(c);
    size_t got;
    const uint8_t *bytes = take_bytes(c, take16(c) % (r->limits.mtu + 32), &got);
    uint8_t copy[1400 + 32];
    if (got) memcpy(copy, bytes, got);
    if ((dress & 1) && got >= AU_WIRE_HEADER_SIZE + 1) {
        copy[0] = AU_WIRE_MAGIC >> 8;
        copy[1] = AU_WIRE_MAGIC & 0xff;
        copy[2] = AU_WIRE_VERSION;
        copy[3] = AU_WIRE_FLAG_SEALED;
        copy[AU_WIRE_HEADER_SIZE] = r->keys[(dress >> 1) % RING_KEYS].id;
    }
    receive_untrusted(r, &r->ring, copy, got);
}

/* Walks the frames of the opened datagrams in order and matches them to the messages added. */
typedef struct stream {
    size_t next;             /* index of the message expected next */
    bool in_fragment;
    uint64_t msg_id;
    uint32_t total, done;
    uint8_t body[RING_MAX_MESSAGE];
} stream;

static stream frames;

static void expect_message(const sealed_run *r, stream *s, const au_wire_message *got) {
    if (s->next >= r->nmsgs) abort();
    const added *m = &r->msgs[s->next++];
    au_wire_message want = {.dest = m->dest, .payload = m->payload, .payload_len = m->payload_len};
    if (!same_message(&want, got)) abort();
}

static void stream_frame(const sealed_run *r, stream *s, const au_wire_frame *f) {
    if (f->type == AU_WIRE_FRAME_MESSAGE) {
        if (s->in_fragment) abort(); /* a fragmented message is sent whole before the next */
        expect_message(r, s, &f->as.message);
        return;
    }
    const au_wire_fragment *g = &f->as.fragment;
    if (!s->in_fragment) {
        if (g->offset != 0 || g->total_len > RING_MAX_MESSAGE) abort();
        s->in_fragment = true;
        s->msg_id = g->msg_id;
        s->total = g->total_len;
        s->done = 0;
    }
    if (g->msg_id != s->msg_id || g->total_len != s->total || g->offset != s->done) abort();
    memcpy(s->body + s->done, g->chunk, g->chunk_len);
    s->done += (uint32_t)g->chunk_len;
    if (s->done < s->total) return;
    s->in_fragment = false;
    au_wire_message m;
    if (au_wire_message_decode(&r->limits, s->body, s->total, &m) != AU_WIRE_OK) abort();
    expect_message(r, s, &m);
}

/* The status a single-bit flip at byte i (bit b) of a sealed datagram must produce, opened by a
 * ring holding only the key that sealed it. */
static int flip_status(size_t i, unsigned b) {
    if (i < 2) return AU_WIRE_BAD_MAGIC;
    if (i == 2) return AU_WIRE_BAD_VERSION;
    if (i == 3) return b == 0 ? AU_WIRE_NOT_SEALED : AU_WIRE_BAD_FLAGS;
    if (i == AU_WIRE_HEADER_SIZE) return AU_WIRE_UNKNOWN_KEY; /* the key id */
    return AU_WIRE_BAD_SEAL; /* associated data, nonce, ciphertext, tag */
}

static void flip_and_check(const sealed_run *r, size_t j, size_t bit, bool full_ring_too) {
    size_t len = r->len[j], i = bit / 8;
    unsigned b = (unsigned)(bit % 8);
    uint8_t *d = exact_copy(r->arena + r->off[j], len);
    d[i] ^= (uint8_t)(1u << b);
    au_wire_header h;
    au_wire_reader rd;
    if (au_wire_datagram_open_ring(&r->limits, &r->only[r->slot[j]], d, len, &h, &rd) !=
        flip_status(i, b))
        abort();
    if (!full_ring_too) return;
    /* a changed key id may name another key of the ring: authentication still fails */
    d = exact_copy(r->arena + r->off[j], len);
    d[i] ^= (uint8_t)(1u << b);
    int rc = au_wire_datagram_open_ring(&r->limits, &r->ring, d, len, &h, &rd);
    if (rc == AU_WIRE_OK) abort();
    check_status(rc);
}

static void check_sealed(sealed_run *r, uint64_t seed) {
    stream *s = &frames;
    s->next = 0;
    s->in_fragment = false;
    const size_t frames_at = AU_WIRE_HEADER_SIZE + AU_WIRE_NONCE_SIZE;
    size_t extra = r->count > FLIPPED ? FLIPPED + mix_next(&seed) % (r->count - FLIPPED) : SIZE_MAX;
    for (size_t j = 0; j < r->count; j++) {
        const uint8_t *orig = r->arena + r->off[j];
        size_t len = r->len[j], k = r->slot[j];
        if (len > r->limits.mtu || len < frames_at + AU_WIRE_TAG_SIZE) abort();
        au_wire_header h;
        au_wire_reader rd;

        /* a ring of every key but that one */
        int rc = au_wire_datagram_open_ring(&r->limits, &r->without[k], exact_copy(orig, len),
                                            len, &h, &rd);
        if (rc != AU_WIRE_UNKNOWN_KEY) abort();
        /* the input's ring: names the key unknown unless it holds it; a ring holding it (that
         * one, or the key alone) opens, names who sealed it, yields the frames in order */
        uint8_t *d = exact_copy(orig, len);
        rc = au_wire_datagram_open_ring(&r->limits, &r->ring, d, len, &h, &rd);
        if (rc != (r->in_ring[k] ? AU_WIRE_OK : AU_WIRE_UNKNOWN_KEY)) abort();
        if (!r->in_ring[k]) {
            d = exact_copy(orig, len);
            rc = au_wire_datagram_open_ring(&r->limits, &r->only[k], d, len, &h, &rd);
            if (rc != AU_WIRE_OK) abort();
        }
        if (h.flags != AU_WIRE_FLAG_SEALED || h.key_id != r->keys[k].id || h.sender != r->sender ||
            h.incarnation != r->incarnation || h.seq != j)
            abort();
        au_wire_frame f;
        while ((rc = au_wire_reader_next(&rd, &f)) > 0) stream_frame(r, s, &f);
        if (rc != 0) abort();

        /* one flip in each region: header, nonce, ciphertext (if any), tag; in the first
         * FLIPPED datagrams and in one drawn from the rest */
        if (j >= FLIPPED && j != extra) continue;
        size_t ct = len - frames_at - AU_WIRE_TAG_SIZE;
        flip_and_check(r, j, mix_next(&seed) % (AU_WIRE_HEADER_SIZE * 8), false);
        flip_and_check(r, j, AU_WIRE_HEADER_SIZE * 8 + mix_next(&seed) % (AU_WIRE_NONCE_SIZE * 8),
                       true);
        if (ct) flip_and_check(r, j, frames_at * 8 + mix_next(&seed) % (ct * 8), false);
        flip_and_check(r, j, (len - AU_WIRE_TAG_SIZE) * 8 + mix_next(&seed) % (AU_WIRE_TAG_SIZE * 8),
                       false);
    }
    if (s->next != r->nmsgs || s->in_fragment) abort(); /* every message arrived, whole */
}

static void sealed_ring(const uint8_t *data, size_t size) {
    sealed_run *r = &run;
    cursor c = {data, size};
    r->limits = au_wire_limits_default();
    r->limits.mtu = ring_mtus[take8(&c) % 4];
    r->limits.max_message = RING_MAX_MESSAGE;
    r->limits.max_name = RING_MAX_NAME;

    /* Keys: fresh secrets (a keystream of a key drawn at start, at the input's number: a
     * datagram of an earlier input is not authentic now, and no syscall), distinct ids
     * picked by the input, one sender id; the ring holds the keys of the input's mask. */
    static uint8_t master[crypto_stream_chacha20_KEYBYTES];
    static uint64_t inputs;
    if (!inputs++) randombytes_buf(master, sizeof master);
    uint8_t secrets[RING_KEYS][AU_SEAL_KEY_SIZE], nonce[crypto_stream_chacha20_NONCEBYTES];
    memcpy(nonce, &inputs, sizeof nonce);
    crypto_stream_chacha20((uint8_t *)secrets, sizeof secrets, nonce, master);
    uint8_t mask = take8(&c);
    r->sender = take64(&c);
    r->incarnation = take64(&c);
    bool used_id[256] = {false};
    r->ring.n = 0;
    for (size_t i = 0; i < RING_KEYS; i++) {
        uint8_t id = take8(&c);
        while (used_id[id]) id++;
        used_id[id] = true;
        if (au_seal_key_init_id(&r->keys[i], secrets[i], id, r->sender) != AU_WIRE_OK) abort();
        r->in_ring[i] = (mask >> i) & 1;
        if (r->in_ring[i]) r->ring.keys[r->ring.n++] = &r->keys[i];
        r->only[i] = (au_seal_ring){.n = 1, .keys = {&r->keys[i]}};
    }
    sodium_memzero(secrets, sizeof secrets);
    for (size_t i = 0; i < RING_KEYS; i++) {
        r->without[i].n = 0;
        for (size_t k = 0; k < RING_KEYS; k++)
            if (k != i) r->without[i].keys[r->without[i].n++] = &r->keys[k];
    }
    r->primary_slot = take8(&c) % RING_KEYS;
    atomic_store(&r->primary, &r->keys[r->primary_slot]);
    r->count = r->used = r->nmsgs = 0;

    au_wire_ids ids;
    au_wire_ids_init(&ids);
    /* The key given at init only sizes the frames; the primary is what seals. */
    if (au_wire_packer_init(&ring_packer, &r->limits, r->incarnation, &ids, &r->keys[0],
                            keep_sealed, r) != AU_WIRE_OK)
        abort();
    au_wire_packer_follow(&ring_packer, &r->primary);

    bool room = true;
    while (c.n && room) {
        switch (take8(&c) % 8) {
        case 0:
        case 1:
        case 2: room = r->nmsgs < MAX_ADDED && op_add(r, &c); break;
        case 3: au_wire_packer_flush(&ring_packer); break;
        case 4: /* rotation: the next datagram is sealed with another key */
            r->primary_slot = take8(&c) % RING_KEYS;
            atomic_store(&r->primary, &r->keys[r->primary_slot]);
            break;
        case 5: op_raw(r, &c); break;
        case 6:
        case 7: op_tamper(r, &c); break;
        }
    }
    au_wire_packer_flush(&ring_packer);
    au_wire_packer_destroy(&ring_packer);
    check_sealed(r, XXH3_64bits(data, size));
    for (size_t i = 0; i < RING_KEYS; i++) au_seal_key_wipe(&r->keys[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    as_datagram(data, size);
    sealed_ring(data, size);
    return 0;
}
