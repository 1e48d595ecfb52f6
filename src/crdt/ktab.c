/* ktab.c — the key table under every set and map of src/crdt: byte-string keys stored in
 * chunks (no malloc per key), slots in one open-addressing array.
 *
 * A slot is 8 bytes (blob reference + 32-bit hash) plus the owner's payload; linear probing with
 * backward-shift deletion (no tombstones), load at most 4/5, so an ORSet element costs 16 bytes
 * of slot over about 1.25-2.5 slots per element, plus its key and a 1-byte length.
 * A reference is chunk << 16 | offset; chunks double from 256 bytes to 64 KiB (a small set, such
 * as an ORMap value, stays small), and a blob larger than that gets a chunk of its own. Freed
 * blobs are garbage until it exceeds the live bytes (and 64 KiB): then the keys are copied into
 * fresh chunks, so memory stays within twice the live keys. Limits: 65,534 chunks (about 4 GiB
 * of keys) per table, reported as AU_EFULL. */
#include <stdlib.h>

#include <xxhash.h>

#include "crdt_internal.h"

#define CHUNK 65536u
#define MAX_CHUNKS 0xFFFEu

uint32_t ktab_hash(const void *key, size_t len) { return (uint32_t)XXH3_64bits(key, len); }

static size_t uv_len(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) v >>= 7, n++;
    return n;
}

static size_t uv_read(const uint8_t *p, size_t *v) {
    size_t out = 0, i = 0;
    unsigned shift = 0;
    for (;; i++, shift += 7) {
        out |= (size_t)(p[i] & 0x7F) << shift;
        if (!(p[i] & 0x80)) break;
    }
    *v = out;
    return i + 1;
}

static size_t uv_write(uint8_t *p, size_t v) {
    size_t n = 0;
    do {
        uint8_t byte = v & 0x7F;
        v >>= 7;
        p[n++] = byte | (v ? 0x80 : 0);
    } while (v);
    return n;
}

/* memcpy of n bytes without a call in the common sizes (keys of 8 to 16 bytes, 16-byte slots):
 * two overlapping word copies. */
static inline void copy_small(uint8_t *d, const uint8_t *s, size_t n) {
    if (n >= 8 && n <= 16) {
        uint64_t x, y;
        memcpy(&x, s, 8), memcpy(&y, s + n - 8, 8);
        memcpy(d, &x, 8), memcpy(d + n - 8, &y, 8);
    } else if (n) {
        memcpy(d, s, n);
    }
}

/* ---- arena --------------------------------------------------------------------------------- */

static uint8_t *arena_at(const crdt_arena *a, uint32_t ref) {
    return a->chunks[ref >> 16] + (ref & 0xFFFF);
}

static au_err arena_new_chunk(crdt_arena *a, size_t size, uint32_t *index) {
    if (a->nchunks >= MAX_CHUNKS) return AU_EFULL;
    if (a->nchunks == a->capchunks) {
        uint32_t cap = a->capchunks ? a->capchunks * 2 : 4;
        uint8_t **c = realloc(a->chunks, cap * sizeof *c);
        if (!c) return AU_ENOMEM;
        a->chunks = c;
        a->capchunks = cap;
    }
    uint8_t *chunk = malloc(size);
    if (!chunk) return AU_ENOMEM;
    a->alloc += size;
    a->chunks[a->nchunks] = chunk;
    *index = a->nchunks++;
    return AU_OK;
}

/* Stores [klen][key]([tlen][tail] if tails) and returns its reference. */
static au_err arena_put(crdt_arena *a, bool tails, const void *key, size_t klen, const void *tail,
                        size_t tlen, uint32_t *ref) {
    size_t size = uv_len(klen) + klen + (tails ? uv_len(tlen) + tlen : 0);
    uint8_t *p;
    if (size > CHUNK) {
        uint32_t c;
        au_err err = arena_new_chunk(a, size, &c);
        if (err) return err;
        *ref = c << 16;
        p = a->chunks[c];
    } else {
        if (!a->has_cur || a->used + size > a->cursize) {
            /* Chunks double from 256 bytes, so a small set (an ORMap value) stays small. */
            uint32_t c, csize = a->has_cur ? a->cursize * 2 : 256;
            while (csize < size) csize *= 2;
            if (csize > CHUNK) csize = CHUNK;
            au_err err = arena_new_chunk(a, csize, &c);
            if (err) return err;
            if (a->has_cur) a->garbage += a->cursize - a->used; /* the old chunk's unused tail */
            a->has_cur = true;
            a->cur = c;
            a->cursize = csize;
            a->used = 0;
        }
        *ref = a->cur << 16 | a->used;
        p = a->chunks[a->cur] + a->used;
        a->used += (uint32_t)size;
    }
    p += uv_write(p, klen);
    copy_small(p, key, klen);
    if (tails) {
        p += klen;
        p += uv_write(p, tlen);
        if (tlen) memcpy(p, tail, tlen);
    }
    a->live += size;
    return AU_OK;
}

static size_t blob_size(const crdt_arena *a, bool tails, uint32_t ref) {
    const uint8_t *p = arena_at(a, ref);
    size_t klen, tlen = 0, n = uv_read(p, &klen);
    if (tails) n += uv_read(p + n + klen, &tlen);
    return n + klen + tlen;
}

static void arena_free(crdt_arena *a) {
    for (uint32_t i = 0; i < a->nchunks; i++) free(a->chunks[i]);
    free(a->chunks);
    *a = (crdt_arena){ 0 };
}

/* ---- table --------------------------------------------------------------------------------- */

static uint32_t slot_ref(const ktab *t, uint32_t s) {
    uint32_t ref;
    memcpy(&ref, t->slots + (size_t)s * t->stride, 4);
    return ref;
}

void ktab_init(ktab *t, uint32_t psize, bool tails) {
    *t = (ktab){ .stride = 8 + psize, .tails = tails };
}

void ktab_free(ktab *t) {
    free(t->slots);
    arena_free(&t->a);
    *t = (ktab){ .stride = t->stride, .tails = t->tails };
}

static au_err rehash(ktab *t, uint32_t cap) {
    uint8_t *slots = malloc((size_t)cap * t->stride);
    if (!slots) return AU_ENOMEM;
    memset(slots, 0xFF, (size_t)cap * t->stride); /* every ref KTAB_EMPTY; payloads are copied */
    for (uint32_t s = 0; s < t->cap; s++) {
        if (!ktab_used(t, s)) continue;
        uint32_t i = ktab_slot_hash(t, s) & (cap - 1);
        while (memcmp(slots + (size_t)i * t->stride, "\xFF\xFF\xFF\xFF", 4) != 0)
            i = (i + 1) & (cap - 1);
        copy_small(slots + (size_t)i * t->stride, t->slots + (size_t)s * t->stride, t->stride);
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return AU_OK;
}

au_err ktab_reserve(ktab *t, uint32_t n) {
    if (n > UINT32_MAX / 8) return AU_EFULL;
    uint32_t cap = t->cap ? t->cap : 8;
    while ((uint64_t)n * 5 > (uint64_t)cap * 4) cap *= 2;
    return cap == t->cap ? AU_OK : rehash(t, cap);
}

au_err ktab_prepare_merge(ktab *t, const ktab *o, uint32_t extra) {
    /* Keys come in o's slot order, which is t's placement order too (both use the hash's low
     * bits): that locality makes a merge fast, but inserting in that order into a smaller
     * table piles the keys into one growing cluster (linear probing turns quadratic). So a
     * table receiving many keys first grows to at least o's capacity. */
    if ((uint64_t)t->n + extra > UINT32_MAX) return AU_EFULL;
    au_err err = ktab_reserve(t, t->n + extra);
    if (!err && t->cap < o->cap && extra > t->cap / 8) err = rehash(t, o->cap);
    return err;
}

uint32_t ktab_estimate_missing(const ktab *t, const ktab *o) {
    enum { SAMPLE = 256 };
    if (!o->n || !t->n) return o->n;
    uint32_t seen = 0, miss = 0;
    if (o->n <= SAMPLE) {
        for (uint32_t s = 0; s < o->cap; s++)
            if (ktab_used(o, s)) seen++, miss += ktab_find_from(t, o, s) == KTAB_NONE;
        return miss;
    }
    /* The first key in each of SAMPLE equal stretches of o's slots. */
    uint32_t step = o->cap / SAMPLE;
    for (uint32_t k = 0; k < SAMPLE; k++) {
        uint32_t s = k * step, end = s + step;
        while (s < end && !ktab_used(o, s)) s++;
        if (s == end) continue;
        seen++;
        miss += ktab_find_from(t, o, s) == KTAB_NONE;
    }
    return seen ? (uint32_t)((uint64_t)o->n * miss / seen) : 0;
}

const uint8_t *ktab_key(const ktab *t, uint32_t slot, size_t *len) {
    const uint8_t *p = arena_at(&t->a, slot_ref(t, slot));
    return p + uv_read(p, len);
}

au_err ktab_insert(ktab *t, const void *key, size_t len, uint32_t hash, const void *tail,
                   size_t tlen, uint32_t *slot) {
    if (len > CRDT_MAX_BYTES || tlen > CRDT_MAX_BYTES) return AU_EINVAL;
    au_err err = ktab_reserve(t, t->n + 1);
    if (err) return err;
    uint32_t ref;
    err = arena_put(&t->a, t->tails, key, len, tail, tlen, &ref);
    if (err) return err;
    uint32_t mask = t->cap - 1, i = hash & mask;
    while (ktab_used(t, i)) i = (i + 1) & mask;
    uint8_t *p = t->slots + (size_t)i * t->stride;
    memcpy(p, &ref, 4);
    memcpy(p + 4, &hash, 4);
    if (t->stride == 16)
        memset(p + 8, 0, 8);
    else
        memset(p + 8, 0, t->stride - 8);
    t->n++;
    *slot = i;
    return AU_OK;
}

/* Copies the live blobs into fresh chunks once garbage dominates. All or nothing: the new
 * references are collected first, so an allocation failure leaves the table as it was. */
static void maybe_compact(ktab *t) {
    if (t->a.garbage <= CHUNK || t->a.garbage <= t->a.live) return;
    crdt_arena fresh = { 0 };
    uint32_t *refs = malloc((size_t)t->cap * sizeof *refs);
    if (!refs) return;
    for (uint32_t s = 0; s < t->cap; s++) {
        if (!ktab_used(t, s)) continue;
        const uint8_t *blob = arena_at(&t->a, slot_ref(t, s));
        size_t klen, tlen = 0, n = uv_read(blob, &klen), m = 0;
        if (t->tails) m = uv_read(blob + n + klen, &tlen);
        if (arena_put(&fresh, t->tails, blob + n, klen, blob + n + klen + m, tlen, &refs[s])) {
            arena_free(&fresh);
            free(refs);
            return;
        }
    }
    for (uint32_t s = 0; s < t->cap; s++)
        if (ktab_used(t, s)) memcpy(t->slots + (size_t)s * t->stride, &refs[s], 4);
    free(refs);
    arena_free(&t->a);
    t->a = fresh;
}

void ktab_delete(ktab *t, uint32_t slot) {
    size_t size = blob_size(&t->a, t->tails, slot_ref(t, slot));
    t->a.garbage += size;
    t->a.live -= size;
    uint32_t mask = t->cap - 1, i = slot;
    for (uint32_t j = (i + 1) & mask; ktab_used(t, j); j = (j + 1) & mask) {
        uint32_t home = ktab_slot_hash(t, j) & mask;
        /* j may move to i iff its home is not in the cyclic range (i, j]. */
        bool in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (in_range) continue;
        memcpy(t->slots + (size_t)i * t->stride, t->slots + (size_t)j * t->stride, t->stride);
        i = j;
    }
    memset(t->slots + (size_t)i * t->stride, 0xFF, 4);
    t->n--;
    if (t->n == 0)
        arena_free(&t->a);
    else
        maybe_compact(t);
}

const uint8_t *ktab_tail(const ktab *t, uint32_t slot, size_t *len) {
    const uint8_t *p = arena_at(&t->a, slot_ref(t, slot));
    size_t klen, n = uv_read(p, &klen);
    p += n + klen;
    return p + uv_read(p, len);
}

au_err ktab_set_tail(ktab *t, uint32_t slot, const void *tail, size_t tlen) {
    if (tlen > CRDT_MAX_BYTES) return AU_EINVAL;
    uint32_t old = slot_ref(t, slot), ref;
    size_t klen, size = blob_size(&t->a, true, old);
    const uint8_t *k = ktab_key(t, slot, &klen);
    /* The key is copied from the old blob, which stays valid: chunks never move. */
    au_err err = arena_put(&t->a, true, k, klen, tail, tlen, &ref);
    if (err) return err;
    memcpy(t->slots + (size_t)slot * t->stride, &ref, 4);
    t->a.live -= size;
    t->a.garbage += size;
    maybe_compact(t);
    return AU_OK;
}

size_t ktab_memory(const ktab *t) {
    return (size_t)t->cap * t->stride + t->a.capchunks * sizeof(uint8_t *) + t->a.alloc;
}
