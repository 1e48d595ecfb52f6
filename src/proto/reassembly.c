/* Per-peer reassembly of fragmented messages.
 *
 * Each partial message has a buffer of its total length and a bitmap with one bit per byte
 * received. A bit per byte (1/8 of the message in bookkeeping, counted against max_buffered)
 * is what makes fragments at arbitrary offsets safe to accept: duplicates and overlaps are
 * found with a few word operations per fragment, whatever order or boundaries the sender chose,
 * and completion is a byte count that cannot be fooled because no byte is counted twice.
 *
 * Partials live in a fixed array of max_partials slots allocated up front; lookup is a linear
 * scan with a one-entry cache, which suits the expected case of one large message arriving at a
 * time and keeps memory fixed. Recently completed messages are remembered in a small ring so
 * that a late duplicate fragment does not start a new partial that could never complete (the
 * seed's behaviour).
 */
#include "proto/reassembly.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* How many completed (incarnation, message id) keys are remembered to recognise late
 * duplicates. Beyond that a late duplicate starts a partial that times out: bounded waste. */
#define RETIRED_KEYS 64u

typedef struct message_key {
    uint64_t incarnation;
    uint64_t msg_id;
} message_key;

typedef struct partial {
    message_key key;
    uint64_t first_ns; /* arrival of the first fragment; the timeout counts from here */
    uint32_t total;
    uint32_t received; /* distinct bytes received; == total means complete */
    uint8_t *data;     /* NULL when the slot is free */
    uint64_t *have;    /* bit i set: byte i received */
} partial;

struct au_reassembly {
    au_wire_limits limits;
    au_reassembly_budget *budget; /* shared with other reassemblers, or NULL */
    size_t partials;  /* slots in use */
    size_t buffered;  /* bytes accounted for by the slots in use */
    size_t last_hit;  /* slot of the last fragment: consecutive fragments hit it without a scan */
    message_key retired[RETIRED_KEYS];
    size_t retired_next;
    size_t retired_count;
    partial slot[];   /* limits.max_partials */
};

static size_t bitmap_words(uint32_t total) { return ((size_t)total + 63) / 64; }

/* What a partial costs against max_buffered: the message and its bitmap. */
static size_t partial_cost(uint32_t total) {
    return (size_t)total + bitmap_words(total) * sizeof(uint64_t);
}

size_t au_reassembly_largest(size_t max_buffered) {
    size_t t = max_buffered / 9 * 8; /* the bitmap is an eighth of the message, in words */
    if (t > UINT32_MAX) return UINT32_MAX; /* beyond any message size */
    while (t < UINT32_MAX && partial_cost((uint32_t)t + 1) <= max_buffered) t++;
    while (t && partial_cost((uint32_t)t) > max_buffered) t--;
    return t;
}

static bool same_key(message_key a, message_key b) {
    return a.incarnation == b.incarnation && a.msg_id == b.msg_id;
}

/* ---- the received-bytes bitmap ------------------------------------------------------------- */

/* Bits [lo, hi) of one word, 0 <= lo < hi <= 64. */
static uint64_t word_mask(size_t lo, size_t hi) {
    uint64_t upto = hi == 64 ? ~(uint64_t)0 : (((uint64_t)1 << hi) - 1);
    return upto & ~(((uint64_t)1 << lo) - 1);
}

/* Counts the bits of range [a, b) that are set, then sets them all when mark is true. */
static size_t visit_bits(uint64_t *bits, size_t a, size_t b, bool mark) {
    size_t already = 0;
    while (a < b) {
        size_t lo = a % 64, hi = b - a + lo < 64 ? b - a + lo : 64;
        uint64_t mask = word_mask(lo, hi);
        already += (size_t)__builtin_popcountll(bits[a / 64] & mask);
        if (mark) bits[a / 64] |= mask;
        a += hi - lo;
    }
    return already;
}

/* ---- slots --------------------------------------------------------------------------------- */

/* Reserves cost in the shared budget, if any; false when it does not fit. */
static bool budget_take(au_reassembly *r, size_t cost) {
    if (!r->budget) return true;
    /* relaxed: a count; the CAS makes the sum exact, nothing is published through it. */
    uint64_t used = atomic_load_explicit(r->budget->used, memory_order_relaxed);
    do {
        if (used + cost > r->budget->max) return false;
    } while (!atomic_compare_exchange_weak_explicit(r->budget->used, &used, used + cost,
                                                    memory_order_relaxed, memory_order_relaxed));
    return true;
}

static void budget_give(au_reassembly *r, size_t cost) {
    if (r->budget) atomic_fetch_sub_explicit(r->budget->used, cost, memory_order_relaxed);
}

static void release(au_reassembly *r, partial *p, bool free_data) {
    if (free_data) free(p->data);
    free(p->have);
    r->buffered -= partial_cost(p->total);
    budget_give(r, partial_cost(p->total));
    r->partials--;
    *p = (partial){0};
}

static partial *find(au_reassembly *r, message_key key) {
    partial *hit = &r->slot[r->last_hit];
    if (hit->data && same_key(hit->key, key)) return hit;
    for (size_t i = 0; i < r->limits.max_partials; i++) {
        if (r->slot[i].data && same_key(r->slot[i].key, key)) {
            r->last_hit = i;
            return &r->slot[i];
        }
    }
    return NULL;
}

static bool is_retired(const au_reassembly *r, message_key key) {
    for (size_t i = 0; i < r->retired_count; i++)
        if (same_key(r->retired[i], key)) return true;
    return false;
}

static void retire(au_reassembly *r, message_key key) {
    r->retired[r->retired_next] = key;
    r->retired_next = (r->retired_next + 1) % RETIRED_KEYS;
    if (r->retired_count < RETIRED_KEYS) r->retired_count++;
}

static bool limits_allow(const au_reassembly *r, size_t cost) {
    return r->partials < r->limits.max_partials && cost <= r->limits.max_buffered - r->buffered;
}

/* Claims a slot and allocates the buffer for a message whose first fragment just arrived. */
static int start_partial(au_reassembly *r, message_key key, uint32_t total, uint64_t now_ns,
                         partial **out) {
    size_t cost = partial_cost(total);
    if (!limits_allow(r, cost)) au_reassembly_expire(r, now_ns);
    if (r->partials >= r->limits.max_partials) return AU_WIRE_TOO_MANY_PARTIALS;
    if (cost > r->limits.max_buffered - r->buffered) return AU_WIRE_MEMORY_LIMIT;
    if (!budget_take(r, cost)) return AU_WIRE_MEMORY_LIMIT;

    size_t i = 0;
    while (r->slot[i].data) i++; /* a free slot exists: partials < max_partials */
    partial *p = &r->slot[i];
    p->data = malloc(total);
    p->have = calloc(bitmap_words(total), sizeof(uint64_t));
    if (!p->data || !p->have) {
        free(p->data);
        free(p->have);
        *p = (partial){0};
        budget_give(r, cost);
        return AU_WIRE_NO_MEMORY;
    }
    p->key = key;
    p->first_ns = now_ns;
    p->total = total;
    r->partials++;
    r->buffered += cost;
    r->last_hit = i;
    *out = p;
    return AU_WIRE_OK;
}

/* Hands the finished buffer to the caller, after checking that it is a well-formed body. */
static int complete(au_reassembly *r, partial *p, au_reassembled *out) {
    uint8_t *data = p->data;
    size_t len = p->total;
    retire(r, p->key);
    release(r, p, false);
    int rc = au_wire_message_decode(&r->limits, data, len, &out->msg);
    if (rc != AU_WIRE_OK) {
        free(data);
        return rc;
    }
    out->data = data;
    out->len = len;
    return AU_WIRE_OK;
}

/* ---- API ----------------------------------------------------------------------------------- */

int au_reassembly_create_shared(const au_wire_limits *limits, au_reassembly_budget *budget,
                                au_reassembly **out) {
    if (au_wire_limits_check(limits) != AU_WIRE_OK) return AU_WIRE_BAD_LIMITS;
    au_reassembly *r = calloc(1, sizeof *r + limits->max_partials * sizeof(partial));
    if (!r) return AU_WIRE_NO_MEMORY;
    r->limits = *limits;
    r->budget = budget;
    *out = r;
    return AU_WIRE_OK;
}

int au_reassembly_create(const au_wire_limits *limits, au_reassembly **out) {
    return au_reassembly_create_shared(limits, NULL, out);
}

void au_reassembly_destroy(au_reassembly *r) {
    if (!r) return;
    for (size_t i = 0; i < r->limits.max_partials; i++)
        if (r->slot[i].data) release(r, &r->slot[i], true);
    free(r);
}

int au_reassembly_feed(au_reassembly *r, uint64_t sender_incarnation,
                       const au_wire_fragment *fragment, uint64_t now_ns, au_reassembled *out) {
    const au_wire_fragment *f = fragment;
    /* The parser checked these already; checked again because views may come from elsewhere. */
    if (f->chunk_len == 0) return AU_WIRE_BAD_FRAME;
    if (f->total_len > r->limits.max_message) return AU_WIRE_MESSAGE_TOO_LARGE;
    if ((uint64_t)f->offset + f->chunk_len > f->total_len) return AU_WIRE_FRAGMENT_OUT_OF_RANGE;

    message_key key = {sender_incarnation, f->msg_id};
    partial *p = find(r, key);
    if (!p) {
        if (is_retired(r, key)) return AU_WIRE_DUPLICATE;
        int rc = start_partial(r, key, f->total_len, now_ns, &p);
        if (rc != AU_WIRE_OK) return rc;
    } else if (p->total != f->total_len) {
        return AU_WIRE_TOTAL_MISMATCH;
    }

    size_t a = f->offset, b = a + f->chunk_len;
    size_t already = visit_bits(p->have, a, b, false);
    if (already == f->chunk_len) return AU_WIRE_DUPLICATE;
    if (already) return AU_WIRE_FRAGMENT_OVERLAP;
    memcpy(p->data + a, f->chunk, f->chunk_len);
    visit_bits(p->have, a, b, true);
    p->received += (uint32_t)f->chunk_len;
    return p->received < p->total ? AU_WIRE_INCOMPLETE : complete(r, p, out);
}

size_t au_reassembly_expire(au_reassembly *r, uint64_t now_ns) {
    size_t dropped = 0;
    for (size_t i = 0; i < r->limits.max_partials && r->partials; i++) {
        partial *p = &r->slot[i];
        /* A clock that went backwards counts as no time elapsed rather than a huge interval. */
        if (p->data && now_ns >= p->first_ns &&
            now_ns - p->first_ns >= r->limits.reassembly_timeout_ns) {
            release(r, p, true);
            dropped++;
        }
    }
    return dropped;
}

size_t au_reassembly_partials(const au_reassembly *r) { return r->partials; }
size_t au_reassembly_buffered(const au_reassembly *r) { return r->buffered; }
