/* crdt_harness.h — seeded randomized property tests for any CRDT with a reference model.
 *
 * A case simulates three replicas (random 64-bit ids). Each step mutates one replica (keeping the
 * delta), or syncs one replica from another by its full state or by a group of deltas (joined
 * into an accumulator, sometimes encoded and decoded, sometimes reduced with delta_minus), or
 * lets a replica depart for good and prunes it. The reference model is a set of events per
 * replica: an operation is an event that records which live events it observed (the ones it
 * overwrites or removes); an event is live in a set S iff no event of S observed it. That is
 * exactly observed-remove semantics, so "concurrent add and remove: the add wins" is checked on
 * every random history, not only on hand-picked ones. After every step the CRDT's value must
 * equal the model's, and at the end:
 *   - join is commutative, associative and idempotent on the replicas' states;
 *   - joining every delta (shuffled, with repeats) equals joining every state;
 *   - every mutation's delta satisfies state_before ⊔ delta == state_after (checked at once);
 *   - encode then decode gives an equal object, for states and deltas;
 *   - every strict prefix of an encoding fails to decode; mutated encodings decode or fail
 *     cleanly, and what decodes is usable (run under ASan/valgrind by `make test`);
 *   - delta_minus(d, s): s ⊔ d' == s ⊔ d, and d' is bottom whenever d ⊑ s;
 *   - wherever two objects are asserted equal, their digests are equal too; and pairs found
 *     unequal (each mutation's before and after, the final states and joins pairwise, successive
 *     deltas) have different digests: the collisions are counted and must be 0. */
#ifndef CRDT_HARNESS_H
#define CRDT_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <aurum/crdt.h>

#define H_REPLICAS 3
#define H_MAX_EVENTS 64
#define H_CASES 1000

/* ---- random numbers ------------------------------------------------------------------------ */

static uint64_t h_next(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static int h_below(uint64_t *s, int n) { return (int)(h_next(s) % (uint64_t)n); }

/* ---- events and the harness ---------------------------------------------------------------- */

enum { EV_PRUNE = 100 }; /* a prune: folds (counters) or only retires (live = false) */

typedef struct hev {
    int kind, key, elem, replica;
    int64_t amount;    /* counters: signed amount; LWW: requested timestamp */
    int64_t cum_p, cum_n; /* counters: the replica's totals after the event */
    uint64_t ts;       /* LWW: effective timestamp */
    uint64_t obs;      /* events this one observed */
    bool live;         /* the event creates a live entry */
    void *delta;
} hev;

struct model;
typedef struct harness {
    const struct model *m;
    const au_crdt_type *t;
    uint64_t rng;
    uint64_t ids[H_REPLICAS];
    void *s[H_REPLICAS];
    uint64_t seen[H_REPLICAS];
    bool departed[H_REPLICAS];
    hev ev[H_MAX_EVENTS];
    int nev;
} harness;

typedef struct model {
    const au_crdt_type *t;
    /* Picks an operation for replica r (kind, key, elem, amount). */
    void (*pick)(harness *h, int r, hev *e);
    /* Fills the model fields (obs, live, cum, ts) from replica r's events; false if the type
     * refuses the operation (then apply must return AU_ESTATE). */
    bool (*record)(harness *h, int r, hev *e, int index);
    /* Applies the operation to state s, joining it into d. */
    au_err (*apply)(harness *h, void *s, void *d, const hev *e, int index);
    /* Asserts that the value of s is the model's value of the events in mask. */
    void (*check)(harness *h, const void *s, uint64_t mask);
    /* Counters: the fold of a departed replica is one event that observes both entries. */
    bool folds;
    /* The type has per-replica entries to prune. */
    bool prunes;
} model;

/* The events of mask that are live: live-creating and observed by no event of mask. */
static uint64_t h_live(const harness *h, uint64_t mask) {
    uint64_t obs = 0, live = 0;
    for (int i = 0; i < h->nev; i++)
        if (mask >> i & 1) obs |= h->ev[i].obs;
    for (int i = 0; i < h->nev; i++)
        if ((mask >> i & 1) && h->ev[i].live && !(obs >> i & 1)) live |= 1ull << i;
    return live;
}

/* ---- digests ------------------------------------------------------------------------------- */

/* Per h_run: pairs of objects the harness found unequal, and how many of them had equal digests
 * (a collision; must stay 0). */
static unsigned long h_unequal_pairs, h_collisions;

/* a and b are equal, and so are their digests. */
static void h_same(const harness *h, const void *a, const void *b) {
    assert_true(h->t->equal(a, b));
    assert_int_equal(h->t->digest(a), h->t->digest(b));
}

/* Equal objects have equal digests; unequal ones are counted, with their digest collisions. */
static void h_digests(const harness *h, const void *a, const void *b) {
    uint64_t da = h->t->digest(a), db = h->t->digest(b);
    assert_int_equal(da, h->t->digest(a)); /* a digest reads the state only */
    if (h->t->equal(a, b)) {
        assert_int_equal(da, db);
        return;
    }
    h_unequal_pairs++;
    if (da == db) h_collisions++;
}

/* ---- lattice helpers ----------------------------------------------------------------------- */

static void *h_copy(const harness *h, const void *s) {
    void *c = NULL;
    assert_int_equal(h->t->copy(s, &c), AU_OK);
    assert_int_equal(h->t->digest(c), h->t->digest(s));
    return c;
}

static void *h_join2(const harness *h, const void *a, const void *b) {
    void *c = h_copy(h, a);
    assert_int_equal(h->t->join(c, b), AU_OK);
    return c;
}

static void *h_roundtrip(const harness *h, const void *s) {
    au_buf b = { 0 };
    void *out = NULL;
    assert_int_equal(h->t->encode(s, &b), AU_OK);
    assert_int_equal(h->t->decode(h->t, b.data, b.len, &out), AU_OK);
    h_same(h, s, out);
    au_buf_free(&b);
    return out;
}

/* Checks delta_minus(copy of d, s) and returns the reduced copy. */
static void *h_minus(const harness *h, const void *d, const void *s) {
    void *r = h_copy(h, d);
    assert_int_equal(h->t->delta_minus(r, s), AU_OK);
    void *full = h_join2(h, s, d), *reduced = h_join2(h, s, r);
    h_same(h, full, reduced);
    if (h->t->equal(full, s)) assert_true(h->t->is_bottom(r)); /* d ⊑ s: nothing new */
    h->t->free(full);
    h->t->free(reduced);
    return r;
}

/* ---- steps --------------------------------------------------------------------------------- */

static int h_active(const harness *h, int skip) {
    for (int tries = 0; tries < 16; tries++) {
        int r = h_below((uint64_t *)&h->rng, H_REPLICAS);
        if (!h->departed[r] && r != skip) return r;
    }
    for (int r = 0; r < H_REPLICAS; r++)
        if (!h->departed[r] && r != skip) return r;
    return -1;
}

static void h_check_all(harness *h) {
    for (int r = 0; r < H_REPLICAS; r++) h->m->check(h, h->s[r], h->seen[r]);
}

/* Records and applies an event on replica r, checking that its delta is right. */
static void h_event(harness *h, int r, hev *e) {
    int i = h->nev;
    e->replica = r;
    void *before = h_copy(h, h->s[r]), *d = au_crdt_new_delta(h->t);
    assert_non_null(d);
    if (!h->m->record(h, r, e, i)) {
        assert_int_equal(h->m->apply(h, h->s[r], d, e, i), AU_ESTATE);
        assert_true(h->t->is_bottom(d));
        h_same(h, before, h->s[r]);
        h->t->free(d);
        h->t->free(before);
        return;
    }
    assert_int_equal(h->m->apply(h, h->s[r], d, e, i), AU_OK);
    h_digests(h, before, h->s[r]); /* a change changes the digest */
    if (e->kind == EV_PRUNE && !h->m->folds) { /* a retirement is local: nothing to ship */
        assert_true(h->t->is_bottom(d));
        h->t->free(before);
        h->ev[i] = *e;
        h->ev[i].delta = d;
        h->nev++;
        h->seen[r] |= 1ull << i;
        return;
    }
    void *joined = h_join2(h, before, d);
    h_same(h, joined, h->s[r]); /* state_before ⊔ delta == state_after */
    h->t->free(joined);
    h->t->free(before);
    if (h_below(&h->rng, 4) == 0) { /* ship some deltas through their encoding */
        void *rt = h_roundtrip(h, d);
        h->t->free(d);
        d = rt;
    }
    e->delta = d;
    h->ev[i] = *e;
    h->nev++;
    h->seen[r] |= 1ull << i;
}

static void h_mutate(harness *h) {
    int r = h_active(h, -1);
    hev e = { 0 };
    h->m->pick(h, r, &e);
    h_event(h, r, &e);
}

static void h_sync_state(harness *h, int a, int b) {
    const void *src = h->s[b];
    void *reduced = NULL;
    if (h_below(&h->rng, 2)) src = reduced = h_minus(h, h->s[b], h->s[a]);
    assert_int_equal(h->t->join(h->s[a], src), AU_OK);
    if (reduced) h->t->free(reduced);
    h->seen[a] |= h->seen[b];
}

static void h_sync_deltas(harness *h, int a, int b) {
    void *group = au_crdt_new_delta(h->t);
    uint64_t got = 0;
    for (int i = 0; i < h->nev; i++) {
        if (!(h->seen[b] >> i & 1) || h_below(&h->rng, 3) == 0) continue;
        assert_int_equal(h->t->join(group, h->ev[i].delta), AU_OK);
        got |= 1ull << i;
    }
    if (h_below(&h->rng, 2)) {
        void *rt = h_roundtrip(h, group);
        h->t->free(group);
        group = rt;
    }
    if (h_below(&h->rng, 2)) {
        void *r = h_minus(h, group, h->s[a]);
        h->t->free(group);
        group = r;
    }
    assert_int_equal(h->t->join(h->s[a], group), AU_OK);
    h->t->free(group);
    h->seen[a] |= got;
}

/* Replica q leaves for good: everybody first gets all of its updates (precondition P2), then
 * counters are folded by one replica, other types retired by every remaining one. */
static void h_depart(harness *h) {
    int q = h_active(h, -1), left = 0;
    for (int r = 0; r < H_REPLICAS; r++) left += !h->departed[r];
    if (left < 2 || h->nev + H_REPLICAS > H_MAX_EVENTS) return;
    for (int round = 0; round < 2; round++)
        for (int a = 0; a < H_REPLICAS; a++)
            for (int b = 0; b < H_REPLICAS; b++)
                if (a != b) h_sync_state(h, a, b);
    h->departed[q] = true;
    for (int p = 0; p < H_REPLICAS; p++) {
        if (h->departed[p]) continue;
        hev e = { .kind = EV_PRUNE, .elem = q };
        h_event(h, p, &e);
        if (h->m->folds) break; /* exactly one replica folds */
    }
}

/* ---- the final properties ------------------------------------------------------------------ */

static void h_laws(harness *h) {
    void *a = h->s[0], *b = h->s[1], *c = h->s[2];
    void *ab = h_join2(h, a, b), *ba = h_join2(h, b, a);
    h_same(h, ab, ba);
    void *ab_c = h_join2(h, ab, c), *bc = h_join2(h, b, c), *a_bc = h_join2(h, a, bc);
    h_same(h, ab_c, a_bc);
    void *aa = h_join2(h, a, a);
    h_same(h, aa, a);
    /* Every delta, shuffled and some twice, gives the join of every state. */
    void *all = au_crdt_new(h->t);
    int order[2 * H_MAX_EVENTS], n = 0;
    for (int i = 0; i < h->nev; i++) {
        order[n++] = i;
        if (h_below(&h->rng, 4) == 0) order[n++] = i;
    }
    for (int i = n - 1; i > 0; i--) {
        int j = h_below(&h->rng, i + 1), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    for (int i = 0; i < n; i++) assert_int_equal(h->t->join(all, h->ev[order[i]].delta), AU_OK);
    for (int i = 0; i < h->nev; i++) /* retirements are local: make them here too */
        if (h->ev[i].kind == EV_PRUNE && !h->m->folds)
            assert_int_equal(h->t->prune(all, NULL, h->ids[h->ev[i].elem], h->ids[h->ev[i].replica]), AU_OK);
    h_same(h, all, ab_c);
    h->m->check(h, all, h->seen[0] | h->seen[1] | h->seen[2]);
    void *objs[] = { ab, ba, ab_c, bc, a_bc, aa, all };
    const void *cmp[] = { a, b, c, ab, ab_c, bc, all };
    for (size_t i = 0; i < sizeof cmp / sizeof *cmp; i++) /* every pair: equal iff digests are */
        for (size_t j = i + 1; j < sizeof cmp / sizeof *cmp; j++) h_digests(h, cmp[i], cmp[j]);
    for (int i = 0; i + 1 < h->nev; i++) /* deltas too (normalized for their digest) */
        h_digests(h, h->ev[i].delta, h->ev[i + 1].delta);
    for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) h->t->free(objs[i]);
}

static void h_codec(harness *h) {
    for (int r = 0; r < H_REPLICAS; r++) h->t->free(h_roundtrip(h, h->s[r]));
    for (int i = 0; i < h->nev; i++) h->t->free(h_roundtrip(h, h->ev[i].delta));
    au_buf b = { 0 };
    assert_int_equal(h->t->encode(h->s[h_below(&h->rng, H_REPLICAS)], &b), AU_OK);
    for (size_t cut = 0; cut < b.len; cut += 1 + b.len / 12) { /* strict prefixes fail */
        void *out = (void *)1;
        assert_int_equal(h->t->decode(h->t, b.data, cut, &out), AU_EDECODE);
        assert_null(out);
    }
    uint8_t *m = malloc(b.len + 1);
    for (int k = 0; k < 12 && b.len; k++) { /* mutated encodings: decode or fail, never crash */
        memcpy(m, b.data, b.len);
        size_t len = b.len, at = (size_t)h_below(&h->rng, (int)b.len);
        switch (h_below(&h->rng, 3)) {
        case 0: m[at] ^= (uint8_t)(1u << h_below(&h->rng, 8)); break;
        case 1: m[at] = (uint8_t)h_next(&h->rng); break;
        default: memmove(m + at, m + at + 1, len - at - 1), len--; break;
        }
        void *out = NULL;
        au_err err = h->t->decode(h->t, m, len, &out);
        if (err) {
            assert_null(out);
            continue;
        }
        void *j = h_join2(h, h->s[0], out); /* a decoded object is usable */
        au_buf again = { 0 };
        assert_int_equal(h->t->encode(j, &again), AU_OK);
        au_buf_free(&again);
        h->t->free(j);
        h->t->free(out);
    }
    free(m);
    au_buf_free(&b);
}

static void h_minus_all(harness *h) {
    for (int i = 0; i < h->nev; i++) h->t->free(h_minus(h, h->ev[i].delta, h->s[h_below(&h->rng, H_REPLICAS)]));
    for (int a = 0; a < H_REPLICAS; a++)
        for (int b = 0; b < H_REPLICAS; b++) h->t->free(h_minus(h, h->s[a], h->s[b]));
}

/* Runs H_CASES seeded cases of model m. */
static void h_run(const model *m, uint64_t seed) {
    h_unequal_pairs = h_collisions = 0;
    for (int c = 0; c < H_CASES; c++) {
        harness h = { .m = m, .t = m->t, .rng = seed * 1000003u + (uint64_t)c };
        for (int r = 0; r < H_REPLICAS; r++) {
            h.ids[r] = h_next(&h.rng);
            h.s[r] = au_crdt_new(m->t);
            assert_non_null(h.s[r]);
        }
        int steps = 8 + h_below(&h.rng, 24);
        for (int k = 0; k < steps && h.nev < H_MAX_EVENTS - H_REPLICAS; k++) {
            int a = h_below(&h.rng, H_REPLICAS), b = (a + 1 + h_below(&h.rng, H_REPLICAS - 1)) % H_REPLICAS;
            int what = h_below(&h.rng, 100);
            if (what < 55) h_mutate(&h);
            else if (what < 70) h_sync_state(&h, a, b);
            else if (what < 96) h_sync_deltas(&h, a, b);
            else if (m->prunes) h_depart(&h);
            h_check_all(&h);
        }
        h_laws(&h);
        h_codec(&h);
        if (c % 8 == 0) h_minus_all(&h); /* (delta_minus also runs inside every case's syncs) */
        for (int r = 0; r < H_REPLICAS; r++) m->t->free(h.s[r]);
        for (int i = 0; i < h.nev; i++) m->t->free(h.ev[i].delta);
    }
    printf("%s: %d cases, digests of %lu unequal pairs: %lu collisions\n", m->t->name, H_CASES,
           h_unequal_pairs, h_collisions);
    assert_true(h_unequal_pairs > 0); /* the check above did check something */
    assert_int_equal(h_collisions, 0);
}

/* ---- model helpers shared by the types ----------------------------------------------------- */

/* The live events of mask matching (key, elem); -1 matches any. */
static inline uint64_t h_live_at(const harness *h, uint64_t mask, int key, int elem) {
    uint64_t live = h_live(h, mask), out = 0;
    for (int i = 0; i < h->nev; i++)
        if ((live >> i & 1) && (key < 0 || h->ev[i].key == key) &&
            (elem < 0 || h->ev[i].elem == elem))
            out |= 1ull << i;
    return out;
}

/* Prune events, shared by every model: a counter fold observes the departed replica's entry and
 * the pruner's own, and carries their sum; a retirement changes no value. */
static inline bool h_record_prune(harness *h, int r, hev *e, bool fold) {
    if (!fold) return true;
    uint64_t live = h_live(h, h->seen[r]);
    for (int i = 0; i < h->nev; i++) {
        if (!(live >> i & 1) || (h->ev[i].replica != r && h->ev[i].replica != e->elem)) continue;
        e->obs |= 1ull << i;
        e->cum_p += h->ev[i].cum_p;
        e->cum_n += h->ev[i].cum_n;
    }
    for (int i = 0; i < h->nev; i++) /* only a departed replica with an entry is folded */
        if ((e->obs >> i & 1) && h->ev[i].replica == e->elem) e->live = true;
    if (!e->live) e->obs = 0, e->cum_p = e->cum_n = 0;
    return true;
}

static inline au_err h_apply_prune(harness *h, void *s, void *d, const hev *e) {
    return h->t->prune(s, d, h->ids[e->elem], h->ids[e->replica]);
}

/* The bytes a write event carries ("v<index>"). */
static inline size_t h_value(int index, char buf[16]) { return (size_t)snprintf(buf, 16, "v%d", index); }

#endif
