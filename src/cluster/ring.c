/* ring.c — the consistent-hash ring: immutable, reference-counted snapshots of the members'
 * virtual-node positions, with owner / replica lookups for keys and the heartbeat topology
 * (managers and charges) for members.
 *
 * Positions: member m's vnode i sits at XXH3_64(address ‖ id, seed i); its first position (i = 0)
 * is its primary, from which its managers are counted. A key is hashed AU_RING_PROBES times
 * (seeds 1000 + j); each hash is followed clockwise to the next position, and the closest of
 * those positions decides the owner (multi-probe consistent hashing, Appleton and O'Reilly 2015):
 * the shares then vary about sqrt(P) times less than with one probe, at P binary searches a
 * lookup.
 *
 * Invariants: points are sorted by (key, member); members are sorted by address, unique; the
 * managers of every member are precomputed at build (O(N·R) walks), so managers and charges are
 * O(R) and O(N) reads. A snapshot never changes after au_ring_build returns, so any thread may
 * read it; the reference count is atomic (acq_rel on release, so the last releaser sees every
 * write made before the others released).
 *
 * Sharing: the snapshots of a process are interned by content. Building one for a membership
 * (members, ids, vnodes, rf) that a live snapshot already has returns that snapshot, retained,
 * without copying, sorting or walking anything: the nodes of one process (a deterministic
 * simulation of thousands, or a few real ones) mostly agree on the membership, and each would
 * otherwise hold and rebuild its own O(N) copy on every change. The lookup is by an
 * order-independent sum of keyed member hashes (computed in O(N) from the unsorted input), and a
 * candidate is checked member by member before it is used, so sharing never changes a result;
 * the check costs O(N log N) compares and no allocation. The intern table is guarded by one
 * mutex (interned_lock), taken by a build and by the release that frees. */
#include <aurum/cluster.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define PROBE_SEED 1000u

typedef struct point {
    uint64_t key;
    uint32_t member;
    uint32_t primary; /* 1 for the member's first position */
} point;

struct au_ring {
    _Atomic uint32_t refs;      /* changed under interned_lock (see au_ring_release) */
    uint64_t content;           /* set_hash of the members; with rf, the intern key */
    struct au_ring *next;       /* in its intern bucket */
    bool interned;              /* in the intern table (under interned_lock) */
    unsigned rf;
    size_t stride;              /* managers per member kept: min(rf, n), so a huge rf costs nothing */
    size_t n, npoints;
    au_cluster_member *members; /* sorted by address; addresses owned */
    point *points;              /* sorted */
    uint32_t *managers;         /* n × stride, UINT32_MAX past a member's count */
    uint32_t *nmanagers;        /* n */
};

static uint64_t position(const au_cluster_member *m, uint32_t vnode) {
    uint8_t buf[320];
    size_t len = m->address.len < 300 ? m->address.len : 300;
    memcpy(buf, m->address.ptr, len);
    memcpy(buf + len, &m->id, sizeof m->id);
    return XXH3_64bits_withSeed(buf, len + sizeof m->id, vnode);
}

static int by_address(const void *a, const void *b) {
    const au_cluster_member *x = a, *y = b;
    return strcmp(x->address.ptr ? x->address.ptr : "", y->address.ptr ? y->address.ptr : "");
}

static int by_key(const void *a, const void *b) {
    const point *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->member > y->member) - (x->member < y->member);
}

/* Index of the first point with key >= k, wrapping to 0. */
static size_t successor(const au_ring *r, uint64_t k) {
    size_t lo = 0, hi = r->npoints;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->points[mid].key < k) lo = mid + 1;
        else hi = mid;
    }
    return lo == r->npoints ? 0 : lo;
}

/* Walks clockwise from point index `start`, writing up to max distinct members (skipping
 * `skip`, UINT32_MAX for none) into out; returns the count. */
static size_t walk(const au_ring *r, size_t start, uint32_t skip, uint32_t *out, size_t max) {
    size_t got = 0;
    for (size_t step = 0; step < r->npoints && got < max; step++) {
        uint32_t m = r->points[(start + step) % r->npoints].member;
        if (m == skip) continue;
        bool seen = false;
        for (size_t i = 0; i < got && !seen; i++) seen = out[i] == m;
        if (!seen) out[got++] = m;
    }
    return got;
}

/* ---- interning ------------------------------------------------------------------------------ */

static pthread_mutex_t interned_lock = PTHREAD_MUTEX_INITIALIZER;
static au_ring **interned;      /* buckets by content; NULL when nothing is interned */
static size_t ninterned, interned_cap;
/* Fixed: the hash only finds candidates, each checked exactly, so a collision (even a crafted
 * one) costs a check, never a wrong snapshot. */
#define MEMBER_SEED 0x61752d72696e67ull

static uint64_t member_hash(const au_cluster_member *m) {
    const char *a = m->address.ptr ? m->address.ptr : "";
    uint64_t v[2] = { m->id, m->vnodes };
    return XXH3_64bits_withSeed(a, strlen(a), MEMBER_SEED) ^
           XXH3_64bits_withSeed(v, sizeof v, MEMBER_SEED + 1) * 0x9E3779B97F4A7C15ull;
}

/* Order-independent: a sum over the distinct addresses (the first of duplicates counts, as in
 * the build; duplicates are rare and only cost a miss, checked exactly). */
static uint64_t set_hash(const au_cluster_member *ms, size_t n) {
    uint64_t h = n;
    for (size_t i = 0; i < n; i++) h += member_hash(&ms[i]);
    return h;
}

/* Whether r holds exactly the members ms[0..n) (by address, with their ids and vnodes) and rf.
 * With interned_lock. */
static bool same_ring(const au_ring *r, const au_cluster_member *ms, size_t n, unsigned rf,
                      uint8_t *seen) {
    if (r->rf != rf || r->n != n) return false;
    memset(seen, 0, n);
    for (size_t i = 0; i < n; i++) {
        long k = au_ring_find(r, ms[i].address.ptr ? ms[i].address.ptr : "");
        if (k < 0 || seen[k] || r->members[k].id != ms[i].id || r->members[k].vnodes != ms[i].vnodes)
            return false;
        seen[k] = 1;
    }
    return true;
}

/* A live snapshot equal to (ms, n, rf), retained; NULL if none. */
static au_ring *intern_find(uint64_t content, const au_cluster_member *ms, size_t n, unsigned rf) {
    uint8_t *seen = malloc(n ? n : 1);
    if (!seen) return NULL;
    au_ring *found = NULL;
    pthread_mutex_lock(&interned_lock);
    if (interned)
        for (au_ring *r = interned[content & (interned_cap - 1)]; r && !found; r = r->next)
            if (r->content == content && same_ring(r, ms, n, rf, seen)) found = r;
    if (found) atomic_fetch_add_explicit(&found->refs, 1, memory_order_relaxed); /* under the lock */
    pthread_mutex_unlock(&interned_lock);
    free(seen);
    return found;
}

/* Adds r to the table (growing it at load 1). Out of memory, r simply stays unshared. */
static void intern_add(au_ring *r) {
    pthread_mutex_lock(&interned_lock);
    if (ninterned >= interned_cap) {
        size_t cap = interned_cap ? interned_cap * 2 : 64;
        au_ring **b = calloc(cap, sizeof *b);
        if (b) {
            for (size_t i = 0; i < interned_cap; i++)
                for (au_ring *x = interned[i], *nx; x; x = nx) {
                    nx = x->next;
                    x->next = b[x->content & (cap - 1)];
                    b[x->content & (cap - 1)] = x;
                }
            free(interned);
            interned = b;
            interned_cap = cap;
        }
    }
    if (ninterned < interned_cap) {
        r->next = interned[r->content & (interned_cap - 1)];
        interned[r->content & (interned_cap - 1)] = r;
        ninterned++;
        r->interned = true; /* from here on, the release that frees it takes it out first */
    }
    pthread_mutex_unlock(&interned_lock);
}

/* Takes r out of the table. With interned_lock. Frees the table once empty (nothing of the
 * process stays allocated when its rings are gone). */
static void intern_remove(au_ring *r) {
    for (au_ring **p = &interned[r->content & (interned_cap - 1)]; *p; p = &(*p)->next)
        if (*p == r) {
            *p = r->next;
            ninterned--;
            break;
        }
    if (ninterned == 0) {
        free(interned);
        interned = NULL;
        interned_cap = 0;
    }
}

static void ring_free(au_ring *r) {
    for (size_t i = 0; i < r->n; i++) free((char *)r->members[i].address.ptr);
    free(r->members);
    free(r->points);
    free(r->managers);
    free(r->nmanagers);
    free(r);
}

au_ring *au_ring_build(const au_cluster_member *members, size_t n, unsigned rf) {
    if (!members && n) return NULL;
    /* Billions of positions would be asked for, allocated and hashed: refused. */
    for (size_t i = 0; i < n; i++)
        if (members[i].vnodes > AU_RING_MAX_VNODES) return NULL;
    rf = rf ? rf : 2;
    uint64_t content = set_hash(members, n);
    au_ring *shared = intern_find(content, members, n, rf);
    if (shared) return shared;
    au_ring *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    atomic_init(&r->refs, 1);
    r->content = content;
    r->rf = rf;
    r->members = calloc(n ? n : 1, sizeof *r->members);
    if (!r->members) goto fail;
    for (size_t i = 0; i < n; i++) {
        const char *a = members[i].address.ptr ? members[i].address.ptr : "";
        r->members[i] = members[i];
        r->members[i].address = au_str_dup(a, strlen(a));
        if (!r->members[i].address.ptr) { r->n = i; goto fail; }
        r->n = i + 1;
    }
    qsort(r->members, r->n, sizeof *r->members, by_address);
    size_t u = 0; /* duplicates by address: keep the first */
    for (size_t i = 0; i < r->n; i++) {
        if (u && strcmp(r->members[u - 1].address.ptr, r->members[i].address.ptr) == 0)
            free((char *)r->members[i].address.ptr);
        else r->members[u++] = r->members[i];
    }
    r->n = u;
    size_t np = 0;
    for (size_t i = 0; i < r->n; i++) np += r->members[i].vnodes ? r->members[i].vnodes : 1;
    r->points = malloc((np ? np : 1) * sizeof *r->points);
    r->stride = r->rf < r->n ? r->rf : r->n; /* no member has more than n - 1 managers */
    r->managers = malloc((r->n ? r->n * r->stride : 1) * sizeof *r->managers);
    r->nmanagers = calloc(r->n ? r->n : 1, sizeof *r->nmanagers);
    if (!r->points || !r->managers || !r->nmanagers) goto fail;
    for (size_t i = 0; i < r->n; i++) {
        uint32_t v = r->members[i].vnodes ? r->members[i].vnodes : 1;
        for (uint32_t k = 0; k < v; k++)
            r->points[r->npoints++] = (point){ position(&r->members[i], k), (uint32_t)i, k == 0 };
    }
    qsort(r->points, r->npoints, sizeof *r->points, by_key);
    for (size_t i = 0; i < r->n; i++) {
        uint64_t k0 = position(&r->members[i], 0);
        size_t at = successor(r, k0); /* the member's own primary point (or a tie before it) */
        r->nmanagers[i] = (uint32_t)walk(r, at, (uint32_t)i, &r->managers[i * r->stride], r->stride);
    }
    intern_add(r);
    return r;
fail:
    ring_free(r);
    return NULL;
}

au_ring *au_ring_retain(au_ring *r) {
    if (r) atomic_fetch_add_explicit(&r->refs, 1, memory_order_relaxed); /* relaxed: the caller
                                                                             already holds one */
    return r;
}

void au_ring_release(au_ring *r) {
    if (!r) return;
    /* Under the intern lock: a build that finds r in the table retains it under the same lock,
     * so a count seen reaching 0 here stays 0 (nothing can find r once it is out). acq_rel:
     * the last releaser must see every other holder's reads finished. */
    pthread_mutex_lock(&interned_lock);
    bool last = atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1;
    if (last && r->interned) intern_remove(r);
    pthread_mutex_unlock(&interned_lock);
    if (last) ring_free(r);
}

size_t au_ring_size(const au_ring *r) { return r ? r->n : 0; }
unsigned au_ring_replication_factor(const au_ring *r) { return r ? r->rf : 0; }

const au_cluster_member *au_ring_member(const au_ring *r, size_t i) {
    return r && i < r->n ? &r->members[i] : NULL;
}

long au_ring_find(const au_ring *r, const char *address) {
    if (!r || !address) return -1;
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->members[mid].address.ptr, address);
        if (c == 0) return (long)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* The point index that owns a key: the closest successor over the probes. */
static size_t owner_point(const au_ring *r, const void *key, size_t len) {
    size_t best = 0;
    uint64_t best_d = UINT64_MAX;
    for (unsigned j = 0; j < AU_RING_PROBES; j++) {
        uint64_t h = XXH3_64bits_withSeed(key, len, PROBE_SEED + j);
        size_t at = successor(r, h);
        uint64_t d = r->points[at].key - h; /* wraps correctly past the top */
        if (d < best_d) best_d = d, best = at;
    }
    return best;
}

const au_cluster_member *au_ring_owner(const au_ring *r, const void *key, size_t len) {
    if (!r || r->npoints == 0 || (!key && len)) return NULL;
    return &r->members[r->points[owner_point(r, key, len)].member];
}

size_t au_ring_replicas(const au_ring *r, const void *key, size_t len,
                        const au_cluster_member **out, size_t max) {
    if (!r || r->npoints == 0 || max == 0 || !out || (!key && len)) return 0;
    uint32_t idx[64];
    if (max > 64) max = 64;
    size_t got = walk(r, owner_point(r, key, len), UINT32_MAX, idx, max);
    for (size_t i = 0; i < got; i++) out[i] = &r->members[idx[i]];
    return got;
}

size_t au_ring_managers(const au_ring *r, const char *address, const au_cluster_member **out,
                        size_t max) {
    long i = au_ring_find(r, address);
    if (i < 0 || !out) return 0;
    size_t got = 0;
    for (uint32_t k = 0; k < r->nmanagers[i] && got < max; k++)
        out[got++] = &r->members[r->managers[(size_t)i * r->stride + k]];
    return got;
}

size_t au_ring_charges(const au_ring *r, const char *address, const au_cluster_member **out,
                       size_t max) {
    long me = au_ring_find(r, address);
    if (me < 0 || !out) return 0;
    size_t got = 0;
    for (size_t i = 0; i < r->n && got < max; i++)
        for (uint32_t k = 0; k < r->nmanagers[i]; k++)
            if (r->managers[i * r->stride + k] == (uint32_t)me) {
                out[got++] = &r->members[i];
                break;
            }
    return got;
}

/* ---- the ring as a message field ------------------------------------------------------------ */

/* Encoded as: rf (u32), n (u32), then per member: address length (u32), bytes, id (u64),
 * vnodes (u32); little-endian. Decoding checks every length against the input, and the
 * positions asked for against AU_RING_MAX_DECODED_POSITIONS. */
static au_err ring_encode(const void *value, au_buf *out) {
    const au_ring *r = ((const au_cluster_ring *)value)->ring;
    uint32_t rf = r ? r->rf : 0, n = r ? (uint32_t)r->n : 0;
    au_err err = au_buf_append(out, &rf, 4);
    if (!err) err = au_buf_append(out, &n, 4);
    for (uint32_t i = 0; i < n && !err; i++) {
        const au_cluster_member *m = &r->members[i];
        err = au_buf_append(out, &m->address.len, 4);
        if (!err) err = au_buf_append(out, m->address.ptr, m->address.len);
        if (!err) err = au_buf_append(out, &m->id, 8);
        if (!err) err = au_buf_append(out, &m->vnodes, 4);
    }
    return err;
}

static au_err ring_decode(void *value, const uint8_t *p, size_t len) {
    au_cluster_ring *out = value;
    out->ring = NULL;
    uint32_t rf, n;
    if (len < 8) return AU_EDECODE;
    memcpy(&rf, p, 4);
    memcpy(&n, p + 4, 4);
    size_t at = 8;
    if (n > len / 16) return AU_EDECODE; /* every member takes at least 16 bytes */
    au_cluster_member *ms = calloc(n ? n : 1, sizeof *ms);
    if (!ms) return AU_ENOMEM;
    au_err err = AU_OK;
    size_t positions = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t alen;
        if (len - at < 4) { err = AU_EDECODE; break; }
        memcpy(&alen, p + at, 4);
        at += 4;
        if (alen > 255 || len - at < (size_t)alen + 12) { err = AU_EDECODE; break; }
        ms[i].address = (au_str){ .ptr = (const char *)p + at, .len = alen };
        at += alen;
        memcpy(&ms[i].id, p + at, 8);
        memcpy(&ms[i].vnodes, p + at + 8, 4);
        at += 12;
        if (ms[i].vnodes > AU_RING_MAX_VNODES) { err = AU_EDECODE; break; }
        /* positions in all: each costs a hash, a sort place and 16 bytes, so 84 KB naming
         * 5,000 members of 4,096 vnodes had cost 5 s and 500 MB to build */
        positions += ms[i].vnodes ? ms[i].vnodes : 1;
        if (positions > AU_RING_MAX_DECODED_POSITIONS) { err = AU_EDECODE; break; }
    }
    if (!err) {
        /* au_ring_build copies with strlen: make NUL-terminated copies first */
        for (uint32_t i = 0; i < n && !err; i++) {
            au_str s = au_str_dup(ms[i].address.ptr, ms[i].address.len);
            if (!s.ptr) err = AU_ENOMEM;
            ms[i].address = s;
        }
        if (!err) out->ring = au_ring_build(ms, n, rf > 64 ? 64 : rf);
        if (!err && !out->ring) err = AU_ENOMEM;
        for (uint32_t i = 0; i < n; i++)
            if (ms[i].address.owned) au_str_free(&ms[i].address);
    }
    free(ms);
    return err;
}

static void ring_value_free(void *value) {
    au_cluster_ring *v = value;
    au_ring_release(v->ring);
    v->ring = NULL;
}

const au_custom_codec au_cluster_ring_codec = {
    .encode = ring_encode, .decode = ring_decode, .free = ring_value_free,
    .schema = "au_ring/1",
};
