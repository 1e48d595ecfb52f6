/* libFuzzer harness for the cluster's messages (src/cluster/protocol.h) and the member table
 * (src/cluster/members.c) they update.
 *
 * Input: one cl_wire message in CBOR (join, refuse, hb, gossip, probe, probe_req, ack, sync),
 * as the remote path hands it to the cluster actor. It is decoded with the cluster's codec and
 * re-encoded (same bytes again after a second round); then it goes through the actor's
 * validity checks (cl_addr_ok, cl_update_ok, cl_sync_ok, the CL_MAX_UPDATES bound of
 * apply_all), and its member updates (a join's hello, a beat's or probe's piggybacked updates,
 * a sync's entries) are merged into a table of a few members by the table operations the
 * actor's apply() makes: get, add, update_wins, set, queue_push, accuse. Then the queue is
 * drained (cl_queue_take) and the tombstones collected (cl_table_drop), as the tick does, and a
 * sync digest is compared against the table's tree as on_digest does. Properties checked:
 *  - the table's invariants hold after every step (cl_table_check: by_key and live[] agree,
 *    counts, queue links, the digest tree equals one recomputed from the members);
 *  - one message adds at most as many members as it carries updates (≤ CL_MAX_UPDATES + 1);
 *  - a digest window that passed cl_sync_ok only reads buckets inside the tree;
 *  - nothing leaks or reads out of bounds (ASan, LSan, UBSan).
 * The actor itself (events, detectors, sends) is not run here: it needs a node; the
 * simulator tests (tests/cluster) drive it. So are the nonces of joins, refusals, probes and
 * acks decoded and re-encoded here as every other field, while whether an answer echoes the
 * right one (a confirmed newer run, a believed refusal) is checked by the actor
 * (test_cluster_forged, test_cluster_sim). Seeds: gen_corpus's (a confirmation and its answer
 * among them), plus fuzzer-found inputs; those of a join, refusal or probe kind written before
 * the nonces were converted (the nonce inserted) and renamed by their new SHA-1. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/members.h"
#include "cluster/protocol.h"
#include "proto/codec.h"
#include "support.h"

#define TABLE_OK(t)                                                                                \
    do {                                                                                           \
        const char *why_ = cl_table_check(t);                                                      \
        if (why_) {                                                                                \
            fprintf(stderr, "fuzz_cluster_msg: %s:%d: table: %s\n", __FILE__, __LINE__, why_);     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define SELF "127.0.0.1:7000"
#define RETRANSMITS 4

static bool same_addr(const au_str *a, const char *b) {
    return a->len == strlen(b) && memcmp(a->ptr, b, a->len) == 0;
}

/* The table part of cluster.c's apply(): what one update does to the table. */
static void merge(cl_table *t, cl_member *self, const cl_update *u) {
    if (!cl_update_ok(u)) return;
    if (same_addr(&u->addr, SELF)) { /* about this node: a suspicion of it is refuted */
        if (u->id == self->id && u->state != CL_ALIVE && u->inc >= self->inc) {
            cl_table_set(t, self, self->id, u->inc + 1, CL_ALIVE, self->vnodes);
            cl_queue_push(t, self, RETRANSMITS);
        }
        return;
    }
    cl_member *m = cl_table_get(t, u->addr.ptr, u->addr.len);
    if (!m) {
        if (!cl_is_live(u->state)) return;
        m = cl_table_add(t, u->addr.ptr, u->addr.len, u->id, u->inc, u->state, u->vnodes);
        if (!m) return;
        cl_queue_push(t, m, RETRANSMITS);
        if (u->state == CL_SUSPECT) cl_member_accuse(m, u->by);
        return;
    }
    if (!cl_update_wins(m, u->id, u->inc, u->state)) {
        if (u->id == m->id && u->inc == m->inc && u->state == CL_SUSPECT && m->state == CL_SUSPECT) {
            unsigned before = m->naccusers;
            cl_member_accuse(m, u->by);
            if (m->naccusers != before) cl_queue_push(t, m, RETRANSMITS);
        }
        return;
    }
    uint8_t old = m->state;
    uint64_t old_id = m->id;
    cl_table_set(t, m, u->id, u->inc, u->state, u->vnodes);
    cl_queue_push(t, m, RETRANSMITS);
    if (old_id != u->id) m->naccusers = 0;
    if (u->state == CL_SUSPECT) {
        if (old != CL_SUSPECT || old_id != u->id) m->naccusers = 0;
        cl_member_accuse(m, u->by);
    } else if (u->state == CL_ALIVE && old == CL_SUSPECT) {
        m->naccusers = 0;
    }
}

/* apply_all: at most CL_MAX_UPDATES per message, else the message is dropped. */
static size_t merge_all(cl_table *t, cl_member *self, const cl_update_array *a) {
    if (a->len > CL_MAX_UPDATES) return 0;
    for (uint32_t i = 0; i < a->len; i++) {
        merge(t, self, &a->ptr[i]);
        TABLE_OK(t);
    }
    return a->len;
}

/* on_digest's reads: the window's buckets against the table's tree. */
static void compare_digest(const cl_table *t, const cl_sync *y) {
    size_t nb = (size_t)1 << y->level, differ = 0;
    for (uint32_t i = 0; i < y->digest.len; i++) {
        size_t b = ((size_t)y->start + i) % nb;
        size_t at = ((size_t)1 << y->level) - 1 + b;
        CHECK(at < sizeof t->tree / sizeof t->tree[0]);
        if (cl_digest(t, y->level, b) != y->digest.ptr[i]) differ++;
    }
    CHECK(differ <= CL_DIGEST_MAX);
    if (y->flags & CL_SYNC_BUCKETS) /* the served list: buckets of that level */
        for (uint32_t i = 0; i < y->digest.len; i++)
            if (y->digest.ptr[i] >= nb) return; /* dropped (drops_invalid) */
}

static void seed(cl_table *t, cl_member **self) {
    cl_table_init(t);
    *self = cl_table_add(t, SELF, strlen(SELF), 100, 0, CL_ALIVE, 16);
    CHECK(*self);
    cl_table_mark_self(t, *self);
    static const struct { const char *addr; uint64_t id; uint32_t inc; uint8_t state; } m[] = {
        { "127.0.0.1:7001", 11, 0, CL_ALIVE }, { "127.0.0.1:7002", 12, 3, CL_SUSPECT },
        { "127.0.0.1:7003", 13, 1, CL_ALIVE }, { "127.0.0.1:7005", 15, 2, CL_ALIVE },
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        cl_member *x = cl_table_add(t, m[i].addr, strlen(m[i].addr), m[i].id, m[i].inc, m[i].state, 16);
        CHECK(x);
        if (m[i].state == CL_SUSPECT) cl_member_accuse(x, 77);
    }
    cl_member *dead = cl_table_get(t, "127.0.0.1:7005", 14);
    cl_table_set(t, dead, 15, 2, CL_DEAD, 16);
    cl_queue_push(t, dead, RETRANSMITS);
    TABLE_OK(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > AU_WIRE_MAX_MTU) return 0;
    const uint8_t *p = exact_copy(data, size);
    cl_wire w, w2;
    memset(&w, 0, sizeof w);
    if (au_decode(&au_type_cl_wire, &w, p, size, NULL, NULL) != AU_OK) return 0;

    au_buf e = { 0 }, e2 = { 0 };
    CHECK(au_encode(&au_type_cl_wire, &w, &e, NULL) == AU_OK);
    memset(&w2, 0, sizeof w2);
    CHECK(au_decode(&au_type_cl_wire, &w2, e.data, e.len, NULL, NULL) == AU_OK);
    CHECK(w2.tag == w.tag);
    CHECK(au_encode(&au_type_cl_wire, &w2, &e2, NULL) == AU_OK);
    CHECK(e.len == e2.len && memcmp(e.data, e2.data, e.len) == 0);
    au_buf_free(&e);
    au_buf_free(&e2);
    au_value_free(&au_type_cl_wire, &w2);

    cl_table t;
    cl_member *self;
    seed(&t, &self);
    size_t before = t.by_key.count, carried = 0;
    switch (w.tag) {
    case cl_wire_join:
        if (cl_addr_ok(&w.join.from) && w.join.id != 0) {
            cl_update u = { w.join.from, w.join.id, w.join.inc, CL_ALIVE, w.join.vnodes, 0 };
            merge(&t, self, &u);
            carried = 1;
        }
        break;
    case cl_wire_refuse: (void)cl_addr_ok(&w.refuse.from); break;
    case cl_wire_hb:
    case cl_wire_gossip: {
        const cl_beat *b = w.tag == cl_wire_hb ? &w.hb : &w.gossip;
        if (cl_addr_ok(&b->from)) carried = merge_all(&t, self, &b->updates);
        break;
    }
    case cl_wire_probe:
    case cl_wire_probe_req:
    case cl_wire_ack: {
        const cl_probe *q = &w.probe;
        if (cl_addr_ok(&q->from) && cl_addr_ok(&q->target) && (!q->origin.len || cl_addr_ok(&q->origin)))
            carried = merge_all(&t, self, &q->updates);
        break;
    }
    case cl_wire_sync:
        if (cl_sync_ok(&w.sync)) {
            carried = merge_all(&t, self, &w.sync.entries);
            compare_digest(&t, &w.sync);
        }
        break;
    default: break;
    }
    TABLE_OK(&t);
    CHECK(t.by_key.count <= before + carried);
    CHECK(carried <= CL_MAX_UPDATES);

    /* the tick: dissemination rounds until the queue is empty, then tombstones collected */
    cl_update out[CL_MAX_UPDATES];
    for (unsigned round = 0; round < RETRANSMITS + 2 && t.nqueue; round++) {
        size_t got = cl_queue_take(&t, out, CL_SYNC_ENTRIES, true);
        CHECK(got <= CL_SYNC_ENTRIES);
        for (size_t i = 0; i < got; i++) CHECK(cl_update_ok(&out[i]));
        TABLE_OK(&t);
    }
    CHECK(t.nqueue == 0);
    for (size_t i = 0; i < t.by_key.cap; i++) {
        if (!t.by_key.keys[i]) continue;
        cl_member *m = t.by_key.values[i];
        if (!cl_is_live(m->state) && !m->self) {
            cl_table_drop(&t, m);
            TABLE_OK(&t);
            i = (size_t)-1; /* backward-shift deletion moves entries: start over */
        }
    }
    CHECK(t.ntombstones == 0);
    cl_table_free(&t);
    au_value_free(&au_type_cl_wire, &w);
    return 0;
}
