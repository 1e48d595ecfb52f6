/* libFuzzer harness for the CRDT decoders (src/crdt: every built-in type's decode, the causal
 * context and dot decoding of context.c, orset_wire.c, the varint reader of codec.c).
 *
 * Input: [type selector][u16 big-endian length la][a: la bytes][b: the rest]. The selector picks
 * one of the built-in types (plus an ORMap of ORMaps of ORSets, for nesting); a and b are decoded
 * as that type (b only if non-empty). What a user relies on, checked for every accepted value v:
 *  - a failed decode sets *out to NULL (and leaks nothing: LeakSanitizer);
 *  - encode(v) decodes again, to a value equal to v (not necessarily with the same bytes: a
 *    hash table's order depends on the order of insertion);
 *  - copy(v) equals v; v ⊔ v == v (idempotent); v ⊔ ⊥ == v and ⊥ ⊔ v == v;
 *  - wherever two values are checked equal, their digests are equal too;
 *  - delta_minus(copy(v), v) is bottom, and v ⊔ it is still v;
 *  - the type's reads (value, size, iteration, contains and get of every element or key that
 *    iteration returns) do not crash, and iteration returns size() items;
 * and for two accepted values a, b: a ⊔ b ⊒ a (joining a again changes nothing),
 * a ⊔ delta_minus(copy(b), a) == a ⊔ b, and for the types without dots (GSet, 2PSet, the LWW
 * types) a ⊔ b == b ⊔ a. The causal types are not checked for commutativity: two inputs may
 * give one dot different payloads, which no replica produces (a dot is one event), and a join
 * keeps the payload it already holds for a dot both sides have.
 * A violated property aborts (a crash for libFuzzer). AU_ENOMEM / AU_EFULL from a join (65,534
 * replicas per state) are legitimate outcomes and end the checks for that input. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <aurum/crdt.h>

#include "support.h"

/* Equal values, and so equal digests (the digest reads nothing but what equal compares). */
#define CHECK_SAME(t, x, y) CHECK((t)->equal((x), (y)) && (t)->digest(x) == (t)->digest(y))
#include "crdt_types.h"

static bool is_ormap(const au_crdt_type *t) { return t->param != NULL; }

/* Reads of a value of type t (recursing into ORMap values). */
static void reads(const au_crdt_type *t, const void *v, unsigned depth) {
    au_crdt_iter it = AU_CRDT_ITER_INIT;
    au_crdt_bytes b, k;
    size_t n = 0;
    volatile uint64_t sink = 0;
    if (t == &au_gcounter_type) {
        sink += au_gcounter_value(v);
    } else if (t == &au_pncounter_type) {
        sink += (uint64_t)au_pncounter_value(v);
    } else if (t == &au_gset_type) {
        while (au_gset_next(v, &it, &b)) {
            CHECK(au_gset_contains(v, b.ptr, b.len));
            n++;
        }
        CHECK(n == au_gset_size(v));
    } else if (t == &au_twopset_type) {
        while (au_twopset_next(v, &it, &b)) {
            CHECK(au_twopset_contains(v, b.ptr, b.len));
            n++;
        }
        CHECK(n == au_twopset_size(v));
    } else if (t == &au_orset_type) {
        while (au_orset_next(v, &it, &b)) {
            CHECK(au_orset_contains(v, b.ptr, b.len));
            n++;
        }
        CHECK(n == au_orset_size(v));
        sink += au_orset_memory(v);
    } else if (t == &au_lwwreg_type) {
        if (au_lwwreg_get(v, &b) && b.len) sink += ((const uint8_t *)b.ptr)[b.len - 1];
        sink += au_lwwreg_timestamp(v);
    } else if (t == &au_mvreg_type) {
        while (au_mvreg_next(v, &it, &b)) {
            if (b.len) sink += ((const uint8_t *)b.ptr)[b.len - 1];
            n++;
        }
        CHECK(n == au_mvreg_count(v));
    } else if (t == &au_ewflag_type) {
        sink += au_ewflag_value(v);
    } else if (t == &au_dwflag_type) {
        sink += au_dwflag_value(v);
    } else if (t == &au_lwwmap_type) {
        while (au_lwwmap_next(v, &it, &k, &b)) {
            au_crdt_bytes g;
            CHECK(au_lwwmap_get(v, k.ptr, k.len, &g));
            CHECK(g.len == b.len && (!b.len || memcmp(g.ptr, b.ptr, b.len) == 0));
            n++;
        }
        CHECK(n == au_lwwmap_size(v));
    } else if (is_ormap(t)) {
        const void *val;
        while (au_ormap_next(v, &it, &k, &val)) {
            CHECK(au_ormap_contains(v, k.ptr, k.len));
            CHECK(au_ormap_get(v, k.ptr, k.len) == val);
            CHECK(val != NULL);
            if (depth < 4) reads(t->param, val, depth + 1);
            n++;
        }
        CHECK(n == au_ormap_size(v));
    }
    (void)sink;
}

static void *copy_of(const au_crdt_type *t, const void *v) {
    void *c = NULL;
    au_err err = t->copy(v, &c);
    if (err) {
        CHECK(err == AU_ENOMEM && c == NULL);
        return NULL;
    }
    CHECK(c != NULL);
    return c;
}

/* Joins other into a copy of v; NULL if the join is refused (AU_EFULL, AU_ENOMEM). */
static void *joined(const au_crdt_type *t, const void *v, const void *other) {
    void *c = copy_of(t, v);
    if (!c) return NULL;
    au_err err = t->join(c, other);
    if (err) {
        CHECK(err == AU_EFULL || err == AU_ENOMEM);
        t->free(c);
        return NULL;
    }
    return c;
}

/* Decodes one value and checks the single-value properties; returns it (or NULL). */
static void *one(const au_crdt_type *t, const uint8_t *data, size_t len) {
    void *v = (void *)1;
    au_err err = t->decode(t, exact_copy(data, len), len, &v);
    if (err) {
        CHECK(v == NULL);
        return NULL;
    }
    CHECK(v != NULL);
    reads(t, v, 0);

    /* encode . decode: an equal value */
    au_buf e1 = { 0 };
    CHECK(t->encode(v, &e1) == AU_OK);
    void *w = NULL;
    CHECK(t->decode(t, e1.data, e1.len, &w) == AU_OK);
    CHECK(t->equal(v, w) && t->equal(w, v));
    CHECK(t->digest(v) == t->digest(w));
    t->free(w);
    au_buf_free(&e1);

    void *c = copy_of(t, v);
    if (c) {
        CHECK_SAME(t, v, c);
        t->free(c);
    }
    void *self = joined(t, v, v);
    if (self) {
        CHECK_SAME(t, self, v);
        t->free(self);
    }
    void *bot = t->create(t, false), *dbot = t->create(t, true);
    if (bot && dbot) {
        CHECK(t->is_bottom(bot));
        void *x = joined(t, v, bot);
        if (x) {
            CHECK_SAME(t, x, v);
            t->free(x);
        }
        x = joined(t, v, dbot);
        if (x) {
            CHECK_SAME(t, x, v);
            t->free(x);
        }
        if (t->join(bot, v) == AU_OK) CHECK_SAME(t, bot, v);
    }
    t->free(bot);
    t->free(dbot);

    /* redundancy removal of v against itself leaves nothing */
    void *d = copy_of(t, v);
    if (d) {
        err = t->delta_minus(d, v);
        CHECK(err == AU_OK || err == AU_ENOMEM || err == AU_EFULL);
        if (!err) {
            CHECK(t->is_bottom(d));
            void *x = joined(t, v, d);
            if (x) {
            CHECK_SAME(t, x, v);
            t->free(x);
        }
        }
        t->free(d);
    }
    return v;
}

static void two(const au_crdt_type *t, const void *a, const void *b) {
    void *ab = joined(t, a, b), *ba = joined(t, b, a);
    if (ab && ba) {
        if (!t->causal_) CHECK_SAME(t, ab, ba);
        reads(t, ab, 0);
        void *again = joined(t, ab, a);
        if (again) {
            CHECK_SAME(t, again, ab);
            t->free(again);
        }
        /* a ⊔ (b minus a) == a ⊔ b */
        void *d = copy_of(t, b);
        if (d) {
            au_err err = t->delta_minus(d, a);
            CHECK(err == AU_OK || err == AU_ENOMEM || err == AU_EFULL);
            if (!err) {
                void *x = joined(t, a, d);
                if (x) {
            CHECK_SAME(t, x, ab);
            t->free(x);
        }
            }
            t->free(d);
        }
    }
    t->free(ab);
    t->free(ba);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    cursor c = { data, size };
    const au_crdt_type *t = types[take8(&c) % NTYPES];
    size_t la = take16(&c), got;
    const uint8_t *pa = take_bytes(&c, la, &la);
    const uint8_t *pb = take_bytes(&c, c.n < AU_WIRE_MAX_MTU ? c.n : AU_WIRE_MAX_MTU, &got);
    void *a = one(t, pa, la);
    void *b = got ? one(t, pb, got) : NULL;
    if (a && b) two(t, a, b);
    t->free(a);
    t->free(b);
    (void)got;
    return 0;
}
