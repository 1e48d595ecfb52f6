/* libFuzzer harness for reassembly (proto/reassembly) fed through the parser (proto/wire).
 *
 * The input is a program of small operations against three reassemblers (three peers of one
 * node) with tiny limits and a shared node-wide budget smaller than their limits together, so
 * that the partial-count, per-peer memory, shared budget, size and timeout limits are all
 * reached within a few bytes:
 *   fragment  feed a hand-made fragment to a peer (two incarnations, eight ids, totals around
 *             the limit)
 *   tick      advance the caller's clock
 *   expire    expire timed-out partials
 *   datagram  repair the checksum of raw bytes, open them and feed their fragments
 *   transfer  pack a message with a tiny MTU, then drop, duplicate and reorder its datagrams on
 *             the way to a fresh receiver: the message must arrive exactly once and intact when
 *             nothing was dropped, and not at all otherwise.
 *   evict     destroy a peer's reassembler and start it afresh (the node forgetting a sender):
 *             its reservation goes back to the budget.
 * After every operation each reassembler respects its limits, and the budget holds exactly what
 * the reassemblers account for, never more than its maximum; at the end it is back to zero.
 *
 * Speed: nothing is allocated per operation but what the library allocates (the datagrams a
 * transfer produces go to a static arena, received bytes to support.h's poisoned buffer), and
 * every limit is small, so no input makes the library allocate more than a few KiB.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "proto/reassembly.h"
#include "proto/seal.h"
#include "proto/wire.h"
#include "support.h"

static au_wire_limits tiny_limits(void) {
    au_wire_limits l = au_wire_limits_default();
    l.mtu = 128;
    l.max_message = 2048;
    l.max_name = 16;
    l.max_partials = 4;
    l.max_buffered = 4096;
    l.reassembly_timeout_ns = 1000;
    return l;
}

static void check_status(int rc) {
    if (rc == AU_WIRE_OK || rc == AU_WIRE_INCOMPLETE || rc == AU_WIRE_DUPLICATE) return;
    if (rc > 0 || strcmp(au_wire_status_str(rc), "unknown status") == 0) abort();
}

static void feed(au_reassembly *r, uint64_t incarnation, const au_wire_fragment *f, uint64_t now) {
    au_reassembled out;
    int rc = au_reassembly_feed(r, incarnation, f, now, &out);
    check_status(rc);
    if (rc != AU_WIRE_OK) return;
    if (out.len != f->total_len) abort();
    if (out.msg.payload + out.msg.payload_len != out.data + out.len) abort();
    free(out.data);
}

static void op_fragment(au_reassembly *r, cursor *c, uint64_t now) {
    uint64_t incarnation = take8(c) & 1;
    uint64_t id = take8(c) & 7;
    uint32_t total = take16(c) % 2600; /* sometimes above max_message */
    uint32_t offset = take16(c) % 2600;
    size_t len;
    const uint8_t *chunk = take_bytes(c, (size_t)take8(c) + take8(c), &len);
    au_wire_fragment f = {.msg_id = id, .total_len = total, .offset = offset, .chunk = chunk,
                          .chunk_len = len};
    feed(r, incarnation, &f, now);
}

static void op_datagram(au_reassembly *r, const au_wire_limits *l, cursor *c, uint64_t now) {
    size_t len;
    const uint8_t *bytes = take_bytes(c, take8(c) % (l->mtu + 1), &len);
    uint8_t *d = exact_copy(bytes, len);
    if (len >= AU_WIRE_HEADER_SIZE + AU_WIRE_CHECKSUM_SIZE) {
        uint64_t sum = XXH3_64bits(d, len - AU_WIRE_CHECKSUM_SIZE);
        for (int i = 0; i < 8; i++) d[len - 1 - i] = (uint8_t)(sum >> (8 * i));
    }
    au_wire_header h;
    au_wire_reader rd;
    au_wire_frame f;
    if (au_wire_datagram_open(l, NULL, d, len, &h, &rd) == AU_WIRE_OK) {
        int rc;
        while ((rc = au_wire_reader_next(&rd, &f)) > 0)
            if (f.type == AU_WIRE_FRAME_FRAGMENT) feed(r, h.incarnation, &f.as.fragment, now);
        if (rc != 0) abort();
    }
}

/* ---- transfer: an end-to-end check of packer, parser, replay window and reassembly -------- */

#define MAX_DATAGRAMS 256
#define MAX_PAYLOAD 1600 /* up to 33 datagrams at AU_WIRE_MIN_MTU: within the replay window */

typedef struct outbox {
    uint8_t bytes[MAX_DATAGRAMS][AU_WIRE_MIN_MTU];
    size_t len[MAX_DATAGRAMS];
    size_t count;
} outbox;

static outbox box;

static void keep_datagram(void *user, const uint8_t *dgram, size_t len) {
    outbox *o = user;
    if (o->count == MAX_DATAGRAMS || len > AU_WIRE_MIN_MTU) abort();
    memcpy(o->bytes[o->count], dgram, len);
    o->len[o->count++] = len;
}

typedef struct delivery {
    size_t count;
    int intact;
} delivery;

static void deliver(delivery *d, const au_wire_message *m, const uint8_t *name, size_t name_len,
                    const uint8_t *payload, size_t payload_len) {
    d->count++;
    d->intact = m->dest.name_len == name_len && m->payload_len == payload_len &&
                (!name_len || memcmp(m->dest.name, name, name_len) == 0) &&
                (!payload_len || memcmp(m->payload, payload, payload_len) == 0);
}

/* Payload bytes that differ from position to position (a misplaced fragment shows), computed
 * once: a transfer's payload is a window into it. */
static uint8_t pattern[MAX_PAYLOAD + 256];

static void op_transfer(cursor *c) {
    au_wire_limits l = au_wire_limits_default();
    l.mtu = AU_WIRE_MIN_MTU;
    l.max_message = 4096;
    l.max_partials = 1; /* one message in flight: the receiver is a few bytes */
    l.max_buffered = 8192;
    size_t payload_len = take16(c) % MAX_PAYLOAD, name_len = take8(c) % 17;
    const uint8_t *payload = pattern + payload_len % 256;
    uint8_t name[16];
    memset(name, 'a' + (int)(payload_len % 26), sizeof name);

    box.count = 0;
    au_wire_ids ids;
    au_wire_ids_init(&ids);
    au_wire_packer packer;
    if (au_wire_packer_init(&packer, &l, 42, &ids, NULL, keep_datagram, &box) != AU_WIRE_OK) abort();
    au_wire_dest dest = {.kind = AU_WIRE_KIND_MESSAGE, .name = name, .name_len = name_len,
                         .root_type = 1, .iface_type = 2};
    if (au_wire_packer_add(&packer, &dest, payload, payload_len) != AU_WIRE_OK) abort();
    au_wire_packer_flush(&packer);
    au_wire_packer_destroy(&packer);

    /* The network: each datagram dropped, duplicated or delivered; then a shuffle. */
    size_t order[2 * MAX_DATAGRAMS], n = 0;
    int dropped = 0;
    for (size_t i = 0; i < box.count; i++) {
        uint8_t fate = take8(c) % 8;
        if (fate == 0) {
            dropped = 1;
            continue;
        }
        order[n++] = i;
        if (fate == 1) order[n++] = i;
    }
    for (size_t i = n; i > 1; i--) {
        size_t j = take8(c) % i, t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }

    _Atomic uint64_t used = 0;
    au_reassembly_budget budget = {.used = &used, .max = l.max_buffered};
    au_reassembly *r;
    if (au_reassembly_create_shared(&l, &budget, &r) != AU_WIRE_OK) abort();
    au_replay_window window;
    au_replay_window_init(&window);
    delivery got = {0};
    for (size_t k = 0; k < n; k++) {
        size_t i = order[k];
        uint8_t *copy = exact_copy(box.bytes[i], box.len[i]);
        au_wire_header h;
        au_wire_reader rd;
        au_wire_frame f;
        if (au_wire_datagram_open(&l, NULL, copy, box.len[i], &h, &rd) != AU_WIRE_OK) abort();
        /* Reordering within 256 datagrams can leave the 64-wide window: TOO_OLD is a loss. */
        if (au_replay_window_accept(&window, h.seq) != AU_WIRE_OK) continue;
        while (au_wire_reader_next(&rd, &f) > 0) {
            if (f.type == AU_WIRE_FRAME_MESSAGE) {
                deliver(&got, &f.as.message, name, name_len, payload, payload_len);
                continue;
            }
            au_reassembled out;
            int rc = au_reassembly_feed(r, h.incarnation, &f.as.fragment, 0, &out);
            if (rc < 0) abort(); /* the window removed every duplicate datagram */
            if (rc == AU_WIRE_OK) {
                deliver(&got, &out.msg, name, name_len, payload, payload_len);
                free(out.data);
            }
        }
        if (atomic_load(&used) != au_reassembly_buffered(r)) abort();
    }
    if (got.count > 1) abort();                      /* at most once */
    if (got.count == 1 && !got.intact) abort();      /* never corrupted */
    if (dropped && got.count) abort();               /* a lost fragment loses the message */
    if (!dropped && box.count <= AU_REPLAY_WINDOW_SIZE && got.count != 1) abort();
    au_reassembly_destroy(r);
    if (atomic_load(&used) != 0) abort();
}

/* ---- the program ---------------------------------------------------------------------------- */

#define PEERS 3
#define MAX_OPS 64 /* an input's cost stays bounded however long libFuzzer lets it grow; 64
                    * operations reach every limit several times over */
#define SHARED_MAX 6144 /* below PEERS * max_buffered: the shared budget binds first */

static void check_budget(au_reassembly *const peers[PEERS], const au_wire_limits *l,
                         const au_reassembly_budget *budget) {
    uint64_t sum = 0;
    for (int i = 0; i < PEERS; i++) {
        if (au_reassembly_partials(peers[i]) > l->max_partials) abort();
        if (au_reassembly_buffered(peers[i]) > l->max_buffered) abort();
        sum += au_reassembly_buffered(peers[i]);
    }
    uint64_t used = atomic_load(budget->used);
    if (used != sum || used > budget->max) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!pattern[1])
        for (size_t i = 0; i < sizeof pattern; i++) pattern[i] = (uint8_t)(i * 7 + 1);
    au_wire_limits l = tiny_limits();
    _Atomic uint64_t used = 0;
    au_reassembly_budget budget = {.used = &used, .max = SHARED_MAX};
    au_reassembly *peers[PEERS];
    for (int i = 0; i < PEERS; i++)
        if (au_reassembly_create_shared(&l, &budget, &peers[i]) != AU_WIRE_OK) abort();
    cursor c = {data, size};
    uint64_t now = 0;
    for (int ops = 0; c.n && ops < MAX_OPS; ops++) {
        uint8_t op = take8(&c);
        au_reassembly *r = peers[(op >> 4) % PEERS];
        switch (op % 6) {
        case 0: op_fragment(r, &c, now); break;
        case 1: now += (uint64_t)take8(&c) * 8; break;
        case 2: {
            size_t before = au_reassembly_partials(r);
            if (au_reassembly_expire(r, now) > before) abort();
            break;
        }
        case 3: op_datagram(r, &l, &c, now); break;
        case 4: op_transfer(&c); break;
        case 5: { /* evict: the reservation goes back */
            uint64_t held = au_reassembly_buffered(r);
            uint64_t before = atomic_load(&used);
            int i = (op >> 4) % PEERS;
            au_reassembly_destroy(peers[i]);
            if (atomic_load(&used) != before - held) abort();
            if (au_reassembly_create_shared(&l, &budget, &peers[i]) != AU_WIRE_OK) abort();
            break;
        }
        }
        check_budget(peers, &l, &budget);
    }
    for (int i = 0; i < PEERS; i++) au_reassembly_destroy(peers[i]);
    if (atomic_load(&used) != 0) abort();
    return 0;
}
