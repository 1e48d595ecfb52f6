/* crdt_internal.h — what the files of src/crdt share: the compact encoding, the key table, dots
 * and causal contexts, and the causal-value interface that lets ORMap hold any causal type.
 *
 * Relies on the public headers only (<aurum/crdt.h>, <aurum/types.h> for au_buf).
 *
 * Dots. A dot names one event of one replica: (replica, counter). Inside a state replicas are
 * numbered by a per-context index (ridx), and a dot is packed in a uint64_t as ridx << 48 |
 * counter, so an ORSet element costs one word for its dot. Counters run from 1 to
 * CRDT_CTR_LIMIT - 1; the value CRDT_RETIRED in a version vector marks a retired replica (every
 * dot of it seen). ridx 0xFFFF is reserved (an ORSet slot uses it for "several dots").
 *
 * Causal objects (crdt_cobj first in their struct) share a context: a top-level object owns
 * it, values inside an ORMap use the map's. The context is in one of two modes:
 *   state mode  every live dot is also in the context; removed dots are just context.
 *   delta mode  the context holds only unattributed knowledge; live dots need not be in it, and
 *               removed dots stay attached to the key they were removed from ("tombs"), so
 *               joining or minus-ing a small delta against a big state touches only its keys.
 * The full knowledge of an object is context ∪ live dots ∪ tombs in both modes.
 *
 * Joining src into dst for one key, with C(x) = "x is in that side's full knowledge":
 *     live' = (live_d ∩ live_s) ∪ (live_d \ C_s) ∪ (live_s \ C_d)
 * Keys present only in dst lose the dots the src context has seen; that needs a scan of dst and
 * happens only when the src context knows something (full states, not δ-mutator outputs). */
#ifndef AU_CRDT_INTERNAL_H
#define AU_CRDT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <aurum/crdt.h>

/* ---- compact encoding: LEB128 varints, fixed 64-bit ids, length-prefixed bytes ------------ */

/* The first byte of every encoding: which type (and version) it is. */
enum {
    CRDT_TAG_GCOUNTER = 0xC1, CRDT_TAG_PNCOUNTER, CRDT_TAG_GSET, CRDT_TAG_TWOPSET, CRDT_TAG_ORSET,
    CRDT_TAG_LWWREG, CRDT_TAG_MVREG, CRDT_TAG_EWFLAG, CRDT_TAG_DWFLAG, CRDT_TAG_ORMAP,
    CRDT_TAG_LWWMAP,
};

typedef struct crdt_rd {
    const uint8_t *p, *end;
} crdt_rd;
/* A reader of data[0 .. len): no arithmetic on a NULL data (NULL with len 0 is an empty input;
 * NULL + 0 is undefined behaviour in C). */
static inline crdt_rd crdt_rd_of(const uint8_t *data, size_t len) {
    return (crdt_rd){ data, len ? data + len : data };
}

au_err crdt_put_u8(au_buf *b, uint8_t v);
au_err crdt_put_uv(au_buf *b, uint64_t v);
au_err crdt_put_u64(au_buf *b, uint64_t v);
au_err crdt_put_bytes(au_buf *b, const void *p, size_t n);
bool crdt_get_u8(crdt_rd *r, uint8_t *v);
bool crdt_get_uv(crdt_rd *r, uint64_t *v);
bool crdt_get_u64(crdt_rd *r, uint64_t *v);
bool crdt_get_bytes(crdt_rd *r, const uint8_t **p, size_t *n);
/* A count of items of at least `min_each` bytes each: rejects counts the rest cannot hold, which
 * bounds every allocation a decoder makes by its input size. */
bool crdt_get_count(crdt_rd *r, size_t min_each, uint32_t *n);
static inline bool crdt_rd_done(const crdt_rd *r) { return r->p == r->end; }
/* Largest element, key or value accepted (2^31 bytes). */
#define CRDT_MAX_BYTES ((size_t)1 << 31)
/* Bytes an API caller passes that are not read: too long, or NULL with a length. */
static inline bool crdt_bad_bytes(const void *p, size_t len) {
    return len > CRDT_MAX_BYTES || (!p && len);
}

/* ---- object types ------------------------------------------------------------------------- */

/* Every object of the library begins with a pointer to its vtable (crdt_cobj.type for the causal
 * types, a `type` member for the others), so that join, equal and delta_minus can refuse an
 * object of another type handed to them through the generic vtable. */
static inline const au_crdt_type *crdt_type_of(const void *obj) {
    const au_crdt_type *t;
    memcpy(&t, obj, sizeof t);
    return t;
}
/* The same lattice: the same vtable, or ORMap vtables whose value types are the same lattice
 * (a map type of one's own over ORSets joins with au_ormap_orset_type). */
static inline bool crdt_same_type(const au_crdt_type *a, const au_crdt_type *b) {
    for (;; a = a->param, b = b->param) {
        if (a == b) return true;
        if (!a || !b || !a->causal_ || a->causal_ != b->causal_) return false;
    }
}
static inline bool crdt_same_types(const void *a, const void *b) {
    return crdt_same_type(crdt_type_of(a), crdt_type_of(b));
}
/* True if obj is an object of the built-in type t (mutators check their state: a state of
 * another type reaches them through void *, e.g. an ORMap value mutated with the wrong type's
 * mutator, and is refused with AU_ETYPE). */
static inline bool crdt_is_a(const void *obj, const au_crdt_type *t) { return crdt_type_of(obj) == t; }
/* obj if it is an object of type t, else NULL: the readers read another type's object as bottom,
 * as they read NULL. */
#define CRDT_READ_AS(obj, t) ((obj) && crdt_is_a((obj), (t)) ? (obj) : NULL)
/* True if obj is an ORMap, of any map type (AU_CRDT_ORMAP_TYPE). */
static inline bool crdt_is_ormap(const void *obj) {
    return crdt_type_of(obj)->causal_ == &au_ormap_causal_;
}

/* ---- key table: byte-string keys in chunked storage, open addressing ---------------------- */

/* Slot layout: u32 ref (KTAB_EMPTY if free), u32 hash, then `psize` payload bytes (accessed
 * with memcpy; no alignment). A stored blob is [varint key length][key][tail]; the tail is extra
 * bytes (LWWMap values) compared by nobody. Load factor stays at or below 4/5. */
#define KTAB_EMPTY 0xFFFFFFFFu
#define KTAB_NONE 0xFFFFFFFFu
typedef struct crdt_arena {
    uint8_t **chunks;
    uint32_t nchunks, capchunks, cur, used; /* cur: chunk for small blobs; used: bytes in it */
    uint32_t cursize;                       /* size of chunk cur */
    size_t live, garbage, alloc;            /* bytes in live blobs / freed blobs / chunks */
    bool has_cur;
} crdt_arena;

typedef struct ktab {
    uint8_t *slots;
    uint32_t cap, n, stride;
    bool tails; /* blobs carry a tail */
    crdt_arena a;
} ktab;

uint32_t ktab_hash(const void *key, size_t len);
void ktab_init(ktab *t, uint32_t psize, bool tails);
void ktab_free(ktab *t);
au_err ktab_reserve(ktab *t, uint32_t n);
/* Makes room for `extra` keys to be merged from o in o's slot order (see ktab.c). */
au_err ktab_prepare_merge(ktab *t, const ktab *o, uint32_t extra);
/* About how many keys of o t lacks, from a sample of o's slots (all of them when o is small),
 * so a merge can size t once before it starts. */
uint32_t ktab_estimate_missing(const ktab *t, const ktab *o);
/* Inserts a key known to be absent; *slot is its slot. Payload starts zeroed. */
au_err ktab_insert(ktab *t, const void *key, size_t len, uint32_t hash, const void *tail,
                   size_t tlen, uint32_t *slot);
/* Deletes the key at slot (backward shift: other slot indices may change). */
void ktab_delete(ktab *t, uint32_t slot);
/* Replaces the tail of the key at slot (the blob moves; the slot does not). */
au_err ktab_set_tail(ktab *t, uint32_t slot, const void *tail, size_t tlen);
const uint8_t *ktab_key(const ktab *t, uint32_t slot, size_t *len);
const uint8_t *ktab_tail(const ktab *t, uint32_t slot, size_t *len);
size_t ktab_memory(const ktab *t);
static inline bool ktab_used(const ktab *t, uint32_t slot) {
    uint32_t ref;
    memcpy(&ref, t->slots + (size_t)slot * t->stride, 4);
    return ref != KTAB_EMPTY;
}
/* True if one more key goes in without the table growing (its slots stay where they are). */
static inline bool ktab_fits(const ktab *t) {
    return t->cap && ((uint64_t)t->n + 1) * 5 <= (uint64_t)t->cap * 4;
}
static inline uint32_t ktab_slot_hash(const ktab *t, uint32_t slot) {
    uint32_t h;
    memcpy(&h, t->slots + (size_t)slot * t->stride + 4, 4);
    return h;
}
static inline uint8_t *ktab_payload(const ktab *t, uint32_t slot) {
    return t->slots + (size_t)slot * t->stride + 8;
}
/* A prefetch the compiler keeps. GCC 12 at -O2 deletes a __builtin_prefetch that sits under a
 * condition once inlined (control-dependent dead code elimination treats it as dead: the
 * merge loops below had no prefetch instruction left at all), so on x86-64 and AArch64 it is
 * an asm statement; elsewhere the builtin. A prefetch never faults, whatever the address. */
static inline void crdt_prefetch(const void *p) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __asm__ volatile("prefetcht0 (%0)" : : "r"(p));
#elif defined(__GNUC__) && defined(__aarch64__)
    __asm__ volatile("prfm pldl1keep, [%0]" : : "r"(p));
#else
    __builtin_prefetch(p);
#endif
}
/* Prefetches what looking slot s of o up in t will touch, in two stages a few slots apart (a
 * merge walks o in order; t's slots and both key stores are random accesses): stage 1 fetches
 * s's key and t's home slot for it, stage 2 (that slot now cached) the key it points to. */
static inline void ktab_prefetch(const ktab *t, const ktab *o, uint32_t s, int stage) {
    uint32_t ref, h;
    memcpy(&ref, o->slots + (size_t)s * o->stride, 4);
    if (ref == KTAB_EMPTY || !t->cap) return;
    h = ktab_slot_hash(o, s);
    const uint8_t *home = t->slots + (size_t)(h & (t->cap - 1)) * t->stride;
    if (stage == 1) {
        crdt_prefetch(o->a.chunks[ref >> 16] + (ref & 0xFFFF));
        crdt_prefetch(home);
        return;
    }
    uint32_t tref, th;
    memcpy(&tref, home, 4);
    memcpy(&th, home + 4, 4);
    if (tref != KTAB_EMPTY && th == h) crdt_prefetch(t->a.chunks[tref >> 16] + (tref & 0xFFFF));
}
/* The key of blob p, without a call when its length fits the first byte (up to 127 bytes). */
static inline const uint8_t *ktab_blob_key(const ktab *t, uint32_t slot, const uint8_t *p,
                                           size_t *len) {
    if (p[0] < 0x80) {
        *len = p[0];
        return p + 1;
    }
    return ktab_key(t, slot, len);
}
/* Equal keys of len bytes: two overlapping word compares for 8 to 16 bytes, else memcmp. */
static inline bool ktab_key_eq(const uint8_t *a, const uint8_t *b, size_t len) {
    if (len >= 8 && len <= 16) {
        uint64_t a0, b0, a1, b1;
        memcpy(&a0, a, 8), memcpy(&b0, b, 8);
        memcpy(&a1, a + len - 8, 8), memcpy(&b1, b + len - 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    return len == 0 || memcmp(a, b, len) == 0;
}
/* Slot index of key, or KTAB_NONE (inline: it is the inner step of every merge). */
static inline uint32_t ktab_find(const ktab *t, const void *key, size_t len, uint32_t hash) {
    if (!t->n) return KTAB_NONE;
    uint32_t mask = t->cap - 1;
    for (uint32_t i = hash & mask;; i = (i + 1) & mask) {
        const uint8_t *s = t->slots + (size_t)i * t->stride;
        uint32_t ref, h;
        memcpy(&ref, s, 4);
        memcpy(&h, s + 4, 4);
        if (ref == KTAB_EMPTY) return KTAB_NONE;
        if (h != hash) continue;
        size_t klen;
        const uint8_t *k = ktab_blob_key(t, i, t->a.chunks[ref >> 16] + (ref & 0xFFFF), &klen);
        if (klen == len && ktab_key_eq(k, key, len)) return i;
    }
}
/* Prefetches the key stored at slot s (a loop over slots picked out of order touches the key
 * store at random: fetch a few iterations ahead). */
static inline void ktab_prefetch_key(const ktab *t, uint32_t s) {
    uint32_t ref;
    memcpy(&ref, t->slots + (size_t)s * t->stride, 4);
    if (ref != KTAB_EMPTY) crdt_prefetch(t->a.chunks[ref >> 16] + (ref & 0xFFFF));
}
/* Key of slot s of table o, looked up in t: reuses the stored hash. */
/* A walk over the used slots for a pass that reads every key (the digests): advances *slot to
 * the next used one at or after it, prefetching the key 8 slots ahead; false at the end. Use as
 * for (uint32_t i = 0; ktab_walk(t, &i); i++). */
static inline bool ktab_walk(const ktab *t, uint32_t *slot) {
    for (; *slot < t->cap; ++*slot) {
        if (*slot + 8 < t->cap) ktab_prefetch_key(t, *slot + 8);
        if (ktab_used(t, *slot)) return true;
    }
    return false;
}

static inline uint32_t ktab_find_from(const ktab *t, const ktab *o, uint32_t s) {
    size_t len;
    uint32_t ref;
    memcpy(&ref, o->slots + (size_t)s * o->stride, 4);
    const uint8_t *k = ktab_blob_key(o, s, o->a.chunks[ref >> 16] + (ref & 0xFFFF), &len);
    return ktab_find(t, k, len, ktab_slot_hash(o, s));
}

/* ---- types without per-replica entries ---------------------------------------------------- */

/* The prune of GSet, 2PSet and the LWW types: there is nothing to prune. */
au_err crdt_prune_nothing(void *s, void *delta, uint64_t departed, uint64_t self);
/* Their copy: a new bottom joined with src. */
au_err crdt_copy_by_join(const au_crdt_type *t, const void *src, void **out);

/* The last-writer-wins order of (timestamp, replica, present, value): a total order, so joins
 * of writes with equal timestamp and replica (a misuse) still converge. */
static inline int lww_cmp(uint64_t ts1, uint64_t r1, bool p1, const void *v1, size_t l1,
                          uint64_t ts2, uint64_t r2, bool p2, const void *v2, size_t l2) {
    if (ts1 != ts2) return ts1 < ts2 ? -1 : 1;
    if (r1 != r2) return r1 < r2 ? -1 : 1;
    if (p1 != p2) return p1 ? 1 : -1;
    if (l1 != l2) return l1 < l2 ? -1 : 1;
    return l1 ? memcmp(v1, v2, l1) : 0;
}

/* ---- dots, dot sets, causal contexts ------------------------------------------------------- */

#define CRDT_CTR_BITS 48
#define CRDT_CTR_LIMIT (((uint64_t)1 << CRDT_CTR_BITS) - 1)
#define CRDT_RETIRED CRDT_CTR_LIMIT
#define CRDT_MAX_REPLICAS 0xFFFFu
#define CRDT_RIDX_NONE 0xFFFFFFFFu

static inline uint64_t dot_make(uint32_t ridx, uint64_t ctr) {
    return ((uint64_t)ridx << CRDT_CTR_BITS) | ctr;
}
static inline uint32_t dot_ridx(uint64_t d) { return (uint32_t)(d >> CRDT_CTR_BITS); }
static inline uint64_t dot_ctr(uint64_t d) { return d & CRDT_CTR_LIMIT; }

/* A set of dots (never 0). */
typedef struct crdt_dotset {
    uint64_t *slot;
    uint32_t cap, n;
} crdt_dotset;
bool dotset_has(const crdt_dotset *s, uint64_t d);
au_err dotset_add(crdt_dotset *s, uint64_t d);
void dotset_del(crdt_dotset *s, uint64_t d);
void dotset_free(crdt_dotset *s);

typedef struct crdt_cctx {
    uint64_t *ids, *vv;  /* by ridx: replica id, contiguous counter seen (CRDT_RETIRED: all) */
    uint32_t nrep, caprep;
    uint32_t *index;     /* open addressing id -> ridx + 1 (0 empty) */
    uint32_t icap;
    crdt_dotset cloud;   /* dots seen beyond vv (never vv + 1: compacted) */
    bool delta;          /* delta mode (see the top of this file) */
} crdt_cctx;

crdt_cctx *cctx_new(bool delta);
void cctx_free(crdt_cctx *c);
uint32_t cctx_find(const crdt_cctx *c, uint64_t id);
/* ridx of id, added if absent. AU_EFULL past CRDT_MAX_REPLICAS - 1 replicas. */
au_err cctx_ridx(crdt_cctx *c, uint64_t id, uint32_t *ridx);
bool cctx_has(const crdt_cctx *c, uint64_t dot);
au_err cctx_add(crdt_cctx *c, uint64_t dot);
/* Raises replica ridx's counter to v (if higher) and restores the compact form: cloud dots it
 * covers go, and a vv + 1 chain folds in. Touches only that replica's dots. */
void cctx_raise(crdt_cctx *c, uint32_t ridx, uint64_t v);
/* The next dot of replica ridx (after everything the context knows of it). */
au_err cctx_next(const crdt_cctx *c, uint32_t ridx, uint64_t *dot);
/* True if the context holds any knowledge (a counter or a cloud dot). */
bool cctx_knows(const crdt_cctx *c);
/* Marks replica ridx retired: every dot of it seen; drops its cloud dots. */
au_err cctx_retire(crdt_cctx *c, uint32_t ridx);
au_err cctx_encode(const crdt_cctx *c, au_buf *out);
au_err cctx_decode(crdt_cctx *c, crdt_rd *r);
/* The same dot in another context's numbering (the replica is added there). */
au_err cctx_dot_to(const crdt_cctx *from, crdt_cctx *to, uint64_t dot, uint64_t *out);
bool dot_valid(const crdt_cctx *c, uint64_t dot);
au_err dot_encode(au_buf *b, uint64_t dot);
bool dot_decode(crdt_rd *r, const crdt_cctx *c, uint64_t *dot);

/* Translation between two contexts: dst (may gain replicas) and src (read-only). */
typedef struct crdt_xlat {
    crdt_cctx *dst;
    const crdt_cctx *src;
    uint32_t *s2d, *d2s; /* CRDT_RIDX_NONE where the replica is unknown on the other side */
    uint32_t ns, nd, capd;
    bool src_knows;      /* src context knows something: dst-only keys must be scanned */
    bool src_covers;     /* src is in state mode: its live dots are in its context */
    uint8_t *keep_vv;    /* delta_minus only, per dst ridx: KEEP_* (how its counter is reduced) */
    uint64_t *lo;        /* delta_minus, KEEP_RANGE: the state's counter (the range's start) */
    uint64_t *readd;     /* delta_minus only: dst dots to put back into the reduced context */
    uint32_t nreadd, capreadd;
} crdt_xlat;

au_err xlat_init(crdt_xlat *x, crdt_cctx *dst, const crdt_cctx *src);
void xlat_free(crdt_xlat *x);
/* src dot into dst numbering, adding the replica to dst if needed. */
au_err xl_to_dst(crdt_xlat *x, uint64_t sdot, uint64_t *ddot);
/* dst dot into src numbering; false if src does not know the replica. */
bool xl_to_src(const crdt_xlat *x, uint64_t ddot, uint64_t *sdot);
/* src dot into dst numbering without adding; false if dst does not know the replica. */
bool xl_to_dst_known(const crdt_xlat *x, uint64_t sdot, uint64_t *ddot);
/* True if the dst-numbered dot is in the src context. */
bool xl_src_has(const crdt_xlat *x, uint64_t ddot);
/* How delta_minus reduces a delta's counter for one replica: dropped (the state has seen it
 * all), kept whole, or narrowed to the dots after the state's counter (as cloud dots). */
enum { KEEP_NONE, KEEP_ALL, KEEP_RANGE };
/* Longest range narrowed into cloud dots rather than kept whole. */
#define CRDT_MAX_RANGE 1024
/* delta_minus: true if the (dst = delta) dot stays covered by the reduced delta context. */
bool xl_kept(const crdt_xlat *x, uint64_t ddot);
/* delta_minus: keeps ddot (a removal the delta makes in the state) in the reduced context. */
au_err xl_readd(crdt_xlat *x, uint64_t ddot);

/* Small helpers on dot arrays. */
bool dots_has(const uint64_t *d, uint32_t n, uint64_t x);
/* Sorts and checks for duplicates (decoders reject them); linear when already sorted. */
bool dots_unique(uint64_t *d, uint32_t n);
/* Strictly increasing (sorted, distinct)? */
bool dots_sorted(const uint64_t *d, uint32_t n);
/* Binary search in a strictly increasing array. */
bool dots_sorted_has(const uint64_t *d, uint32_t n, uint64_t x);

/* ---- digests (digest.c) ------------------------------------------------------------------- */

/* XXH3-64 of n bytes with a seed. */
uint64_t crdt_hash_bytes(const void *p, size_t n, uint64_t seed);
/* A 64-bit hash of n words, in order: MurmurHash64A's steps on whole words (arithmetic only,
 * so the same on every platform; one multiply per word on the dependency chain, which matters
 * at three hashes per ORSet element), with its final avalanche. */
static inline uint64_t crdt_hash_words(const uint64_t *w, unsigned n) {
    const uint64_t m = 0xC6A4A7935BD1E995ull;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * m);
    for (unsigned i = 0; i < n; i++) {
        uint64_t k = w[i] * m;
        k ^= k >> 47;
        h = (h ^ (k * m)) * m;
    }
    h ^= h >> 47;
    h *= m;
    return h ^ (h >> 47);
}
static inline uint64_t crdt_hash3(uint64_t a, uint64_t b, uint64_t c) {
    uint64_t w[] = { a, b, c };
    return crdt_hash_words(w, 3);
}
/* Domain words, so that equal sums of different kinds of entries do not meet (type tags, the
 * CRDT_TAG_* values, are the others). */
enum {
    CRDT_DOM_DOT = 0x100, CRDT_DOM_VV, CRDT_DOM_CLOUD, CRDT_DOM_CTX, CRDT_DOM_ENTRY,
    CRDT_DOM_ELEM, CRDT_DOM_KEY, CRDT_DOM_TYPE, CRDT_DOM_OBJ, CRDT_DOM_OOM,
};
/* A dot by (replica id, counter): the same in every state's numbering. */
static inline uint64_t crdt_hash_dot(const crdt_cctx *c, uint64_t dot) {
    return crdt_hash3(CRDT_DOM_DOT, c->ids[dot_ridx(dot)], dot_ctr(dot));
}
/* The digest of a state-mode context: equal for contexts cctx_equal finds equal. */
uint64_t cctx_digest(const crdt_cctx *c);

/* ---- causal objects ------------------------------------------------------------------------ */

typedef struct au_crdt_causal_ crdt_causal_ops;

/* First member of every causal object. */
typedef struct crdt_cobj {
    const au_crdt_type *type;
    crdt_cctx *ctx;
    bool own_ctx;
} crdt_cobj;

/* The causal-value interface: operations on a value's store, its context being the object's
 * (shared inside an ORMap). The generic top-level functions in causal.c add the context. */
struct au_crdt_causal_ {
    uint8_t tag;
    void *(*create)(crdt_cctx *ctx, const au_crdt_type *type);
    void (*free)(void *v);
    bool (*has_live)(const void *v);
    bool (*has_tombs)(const void *v);
    /* dst's store ⊔= src's store (NULL: an empty store) using both contexts; the caller merges
     * the contexts afterwards. */
    au_err (*join)(void *dst, const void *src, crdt_xlat *x);
    /* Removes every live dot of v; dv (NULL: none; its context may differ) records it. */
    au_err (*clear)(void *v, void *dv);
    /* Live stores equal (x: dst = a, src = b). Tombs are not compared (see causal.c). */
    bool (*equal)(const void *a, const void *b, crdt_xlat *x);
    /* The digest of v's live store (dots by replica id through v's context, which is the map's
     * inside an ORMap): equal for stores equal() finds equal. State mode only; no allocation. */
    uint64_t (*digest)(const void *v);
    au_err (*encode)(const void *v, au_buf *out);
    au_err (*decode)(void *v, crdt_rd *r);
    /* Redundancy removal on the store of d (x: dst = d, src = s; s NULL: empty store). */
    au_err (*minus)(void *d, const void *s, crdt_xlat *x);
    /* Replaces every dot d of the store (live and tombs) by fn(arg, d); fn keeps counters and
     * may renumber replicas. */
    void (*map_dots)(void *v, uint64_t (*fn)(void *arg, uint64_t dot), void *arg);
    /* Counters: folds replica `departed` (a ridx) into `self`'s entry; *folded false if there
     * was no entry of departed's to fold (nothing changed). NULL for other types. */
    au_err (*fold)(void *v, void *dv, uint32_t departed, uint64_t self, bool *folded);
    size_t (*memory)(const void *v);
};

static inline crdt_cctx *cobj_ctx(const void *v) { return ((const crdt_cobj *)v)->ctx; }
static inline const crdt_causal_ops *cobj_ops(const void *v) {
    return ((const crdt_cobj *)v)->type->causal_;
}
/* A causal value's (not object's) bottom test: no live dots and no tombs. */
static inline bool cval_empty(const void *v) {
    const crdt_causal_ops *o = cobj_ops(v);
    return !o->has_live(v) && !o->has_tombs(v);
}

/* The vtable of a built-in causal type. */
#define CRDT_CAUSAL_VTABLE(text, ops_, once)                                                      \
    {                                                                                              \
        .name = (text), .create = au_crdt_causal_create_, .free = au_crdt_causal_free_,          \
        .join = au_crdt_causal_join_, .equal = au_crdt_causal_equal_,                             \
        .digest = au_crdt_causal_digest_,                                                          \
        .is_bottom = au_crdt_causal_is_bottom_, .encode = au_crdt_causal_encode_,                 \
        .decode = au_crdt_causal_decode_, .copy = au_crdt_causal_copy_,                           \
        .delta_minus = au_crdt_causal_delta_minus_, .prune = au_crdt_causal_prune_,               \
        .prune_once = (once), .param = NULL, .causal_ = &(ops_)                                   \
    }

/* ---- keyless dot stores: counters, MVRegister, flags -------------------------------------- */

/* One live dot and what it maps to: counters (a = increments, b = decrements), the
 * disable-wins flag (a = 1 enable / 0 disable), MVRegister (bytes). */
typedef struct crdt_dfe {
    uint64_t dot, a, b;
    uint8_t *bytes;
    uint32_t len;
} crdt_dfe;

typedef struct crdt_dotfun {
    crdt_cobj h;
    crdt_dfe *e;
    uint32_t n, cap;
    uint64_t *tomb;
    uint32_t ntomb, tcap;
} crdt_dotfun;

/* Payload shape of a dotfun type, for encoding. */
enum { DF_NONE, DF_COUNTER, DF_PNCOUNTER, DF_BOOL, DF_BYTES };
void *dotfun_create(crdt_cctx *ctx, const au_crdt_type *type);
void dotfun_free(void *v);
bool dotfun_has_live(const void *v);
bool dotfun_has_tombs(const void *v);
au_err dotfun_join(void *dst, const void *src, crdt_xlat *x);
au_err dotfun_clear(void *v, void *dv);
bool dotfun_equal(const void *a, const void *b, crdt_xlat *x);
uint64_t dotfun_digest(const void *v);
au_err dotfun_encode(const void *v, au_buf *out);
au_err dotfun_decode(void *v, crdt_rd *r);
au_err dotfun_minus(void *d, const void *s, crdt_xlat *x);
void dotfun_map_dots(void *v, uint64_t (*fn)(void *arg, uint64_t dot), void *arg);
size_t dotfun_memory(const void *v);
/* The shape of a dotfun type (by its tag). */
int dotfun_shape(const crdt_dotfun *f);
/* The δ-mutator of every dotfun type: removes the live entries of replica `only` (or all, if
 * only_own is false), then adds a new entry at a new dot of `replica` with the payload unless
 * `add` is false. Records the change in dv (NULL: none). */
au_err dotfun_assign(crdt_dotfun *f, crdt_dotfun *dv, uint64_t replica, bool only_own, bool add,
                     uint64_t a, uint64_t b, const void *bytes, size_t len);
/* Counters: the live entry of replica `id`, or NULL. */
const crdt_dfe *dotfun_entry_of(const crdt_dotfun *f, uint64_t id);
au_err counter_fold(void *v, void *dv, uint32_t departed, uint64_t self, bool *folded);
/* The causal operations of a dotfun type. */
#define CRDT_DOTFUN_OPS(tag_, fold_)                                                              \
    {                                                                                              \
        .tag = (tag_), .create = dotfun_create, .free = dotfun_free, .has_live = dotfun_has_live, \
        .has_tombs = dotfun_has_tombs, .join = dotfun_join, .clear = dotfun_clear,                \
        .equal = dotfun_equal, .digest = dotfun_digest, .encode = dotfun_encode,                 \
        .decode = dotfun_decode,                                                                   \
        .minus = dotfun_minus, .map_dots = dotfun_map_dots, .fold = (fold_),                     \
        .memory = dotfun_memory                                                                    \
    }

/* ---- generic causal objects (causal.c) ----------------------------------------------------- */

/* Frees an object: its value and, if owned, its context. */
void causal_free(void *v);
/* Largest number of dots kept on the stack while joining one key. */
#define CRDT_STACK_DOTS 8

#endif
