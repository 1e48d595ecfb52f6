/* test_crdt_misuse.c — the direct CRDT API (include/aurum/crdt.h) as a careless or hostile user
 * meets it, every case asserting the outcome the header documents:
 *  - NULL objects, elements and keys; zero-length, 1 MiB and SIZE_MAX lengths (a SIZE_MAX length
 *    with a small buffer must never be read), embedded NULs;
 *  - counters at UINT64_MAX / INT64_MIN; replica ids 0 and UINT64_MAX; one past the replica limit;
 *  - a state and a delta accumulator swapped, the same object as state and delta, join and
 *    delta_minus of an object with itself, objects of other types (and ORMaps of other value
 *    types) through the generic vtable;
 *  - iteration over bottom objects and while mutating; prune with departed == self or unknown;
 *  - LWW ties and timestamps 0 / UINT64_MAX; many concurrent MVRegister writes;
 *  - copy, encode, decode and digest of bottom objects and deltas; encode appends; free(NULL).
 * Run under ASan+UBSan and valgrind by `make test`: no case may leak or touch memory it should
 * not. Relies on the public header only. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <aurum/crdt.h>

/* Every vtable of the library, for the loops below. */
static const au_crdt_type *const ALL[] = {
    &au_gcounter_type, &au_pncounter_type, &au_gset_type, &au_twopset_type,
    &au_orset_type, &au_lwwreg_type, &au_mvreg_type, &au_ewflag_type,
    &au_dwflag_type, &au_ormap_gcounter_type, &au_ormap_pncounter_type, &au_ormap_orset_type,
    &au_ormap_mvreg_type, &au_ormap_ewflag_type, &au_ormap_dwflag_type, &au_lwwmap_type,
};
#define NALL (sizeof ALL / sizeof ALL[0])

/* One mutation that makes a non-bottom state of type t (delta may be NULL). */
static au_err bump_gc(au_gcounter *v, au_gcounter *dv, void *arg) {
    return au_gcounter_inc(v, dv, *(uint64_t *)arg, 1);
}
static au_err bump_pn(au_pncounter *v, au_pncounter *dv, void *arg) {
    return au_pncounter_add(v, dv, *(uint64_t *)arg, -1);
}
static au_err add_or(au_orset *v, au_orset *dv, void *arg) {
    return au_orset_add(v, dv, *(uint64_t *)arg, "x", 1);
}
static au_err set_mv(au_mvreg *v, au_mvreg *dv, void *arg) {
    return au_mvreg_set(v, dv, *(uint64_t *)arg, "v", 1);
}
static au_err on_ew(au_ewflag *v, au_ewflag *dv, void *arg) {
    return au_ewflag_enable(v, dv, *(uint64_t *)arg);
}
static au_err on_dw(au_dwflag *v, au_dwflag *dv, void *arg) {
    return au_dwflag_enable(v, dv, *(uint64_t *)arg);
}

static au_err mutate(const au_crdt_type *t, void *s, void *d, uint64_t r) {
    if (t == &au_gcounter_type) return au_gcounter_inc(s, d, r, 3);
    if (t == &au_pncounter_type) return au_pncounter_add(s, d, r, -3);
    if (t == &au_gset_type) return au_gset_add(s, d, "a", 1);
    if (t == &au_twopset_type) return au_twopset_add(s, d, "a", 1);
    if (t == &au_orset_type) return au_orset_add(s, d, r, "a", 1);
    if (t == &au_lwwreg_type) return au_lwwreg_set(s, d, r, 5, "a", 1);
    if (t == &au_mvreg_type) return au_mvreg_set(s, d, r, "a", 1);
    if (t == &au_ewflag_type) return au_ewflag_enable(s, d, r);
    if (t == &au_dwflag_type) return au_dwflag_enable(s, d, r);
    if (t == &au_lwwmap_type) return au_lwwmap_set(s, d, r, 5, "k", 1, "v", 1);
    if (t == &au_ormap_gcounter_type)
        return au_ormap_gcounter_update((au_ormap_gcounter){ s }, (au_ormap_gcounter){ d }, "k", 1,
                                        bump_gc, &r);
    if (t == &au_ormap_pncounter_type)
        return au_ormap_pncounter_update((au_ormap_pncounter){ s }, (au_ormap_pncounter){ d }, "k",
                                         1, bump_pn, &r);
    if (t == &au_ormap_orset_type)
        return au_ormap_orset_update((au_ormap_orset){ s }, (au_ormap_orset){ d }, "k", 1, add_or, &r);
    if (t == &au_ormap_mvreg_type)
        return au_ormap_mvreg_update((au_ormap_mvreg){ s }, (au_ormap_mvreg){ d }, "k", 1, set_mv, &r);
    if (t == &au_ormap_ewflag_type)
        return au_ormap_ewflag_update((au_ormap_ewflag){ s }, (au_ormap_ewflag){ d }, "k", 1, on_ew, &r);
    if (t == &au_ormap_dwflag_type)
        return au_ormap_dwflag_update((au_ormap_dwflag){ s }, (au_ormap_dwflag){ d }, "k", 1, on_dw, &r);
    fail_msg("no mutation for %s", t->name);
    return AU_EINVAL;
}

static void *roundtrip(const au_crdt_type *t, const void *s) {
    au_buf b = { 0 };
    assert_int_equal(t->encode(s, &b), AU_OK);
    void *out = (void *)1;
    assert_int_equal(t->decode(t, b.data, b.len, &out), AU_OK);
    assert_non_null(out);
    au_buf_free(&b);
    return out;
}

/* ---- free(NULL), bottom objects, deltas through every vtable function ------------------------ */

static void free_null_is_a_no_op_for_every_type(void **st) {
    (void)st;
    for (size_t i = 0; i < NALL; i++) ALL[i]->free(NULL);
    au_gcounter_free(NULL), au_pncounter_free(NULL), au_gset_free(NULL), au_twopset_free(NULL);
    au_orset_free(NULL), au_lwwreg_free(NULL), au_mvreg_free(NULL), au_ewflag_free(NULL);
    au_dwflag_free(NULL), au_lwwmap_free(NULL);
    au_ormap_gcounter_free(AU_ORMAP_NODELTA(gcounter));
    au_ormap_orset_free(AU_ORMAP_NODELTA(orset));
}

static void bottoms_and_deltas_copy_encode_decode_digest(void **st) {
    (void)st;
    for (size_t i = 0; i < NALL; i++) {
        const au_crdt_type *t = ALL[i];
        void *s = au_crdt_new(t), *d = au_crdt_new_delta(t);
        assert_non_null(s), assert_non_null(d);
        assert_true(t->is_bottom(s)), assert_true(t->is_bottom(d));
        assert_true(t->equal(s, d)), assert_true(t->equal(d, s));
        assert_int_equal(t->digest(s), t->digest(d));
        /* copies, encodings of bottom: still bottom, equal, same digest */
        void *cs = NULL, *cd = NULL;
        assert_int_equal(t->copy(s, &cs), AU_OK);
        assert_int_equal(t->copy(d, &cd), AU_OK);
        void *rs = roundtrip(t, s), *rd = roundtrip(t, d);
        assert_true(t->is_bottom(cs) && t->is_bottom(cd) && t->is_bottom(rs) && t->is_bottom(rd));
        assert_int_equal(t->digest(rs), t->digest(s));
        assert_int_equal(t->digest(rd), t->digest(s));
        /* a delta with something in it: copy, round trip, digest = the state it makes */
        void *s2 = au_crdt_new(t);
        assert_int_equal(mutate(t, s2, d, 7), AU_OK);
        assert_false(t->is_bottom(d));
        void *cd2 = NULL;
        assert_int_equal(t->copy(d, &cd2), AU_OK);
        void *rd2 = roundtrip(t, d);
        assert_true(t->equal(cd2, s2)), assert_true(t->equal(rd2, s2));
        assert_int_equal(t->digest(d), t->digest(s2));
        assert_int_equal(t->digest(rd2), t->digest(s2));
        /* the delta copy can be mutated into further without touching the original */
        assert_int_equal(t->join(s, rd2), AU_OK);
        assert_true(t->equal(s, s2));
        void *objs[] = { s, d, cs, cd, rs, rd, s2, cd2, rd2 };
        for (size_t k = 0; k < sizeof objs / sizeof objs[0]; k++) t->free(objs[k]);
    }
}

static void encode_appends_to_a_buffer_holding_data(void **st) {
    (void)st;
    for (size_t i = 0; i < NALL; i++) {
        const au_crdt_type *t = ALL[i];
        void *s = au_crdt_new(t);
        assert_int_equal(mutate(t, s, NULL, 9), AU_OK);
        au_buf alone = { 0 }, b = { 0 };
        assert_int_equal(t->encode(s, &alone), AU_OK);
        assert_int_equal(au_buf_append(&b, "PREFIX", 6), AU_OK);
        assert_int_equal(t->encode(s, &b), AU_OK);
        assert_int_equal(t->encode(s, &b), AU_OK); /* twice: appends again */
        assert_int_equal(b.len, 6 + 2 * alone.len);
        assert_memory_equal(b.data, "PREFIX", 6);
        assert_memory_equal(b.data + 6, alone.data, alone.len);
        assert_memory_equal(b.data + 6 + alone.len, alone.data, alone.len);
        void *out = NULL;
        assert_int_equal(t->decode(t, b.data + 6, alone.len, &out), AU_OK);
        assert_true(t->equal(out, s));
        /* the two encodings back to back are one encoding with trailing bytes */
        void *bad = (void *)1;
        assert_int_equal(t->decode(t, b.data + 6, 2 * alone.len, &bad), AU_EDECODE);
        assert_null(bad);
        /* decode of nothing, and of another type's bytes */
        bad = (void *)1;
        assert_int_equal(t->decode(t, NULL, 0, &bad), AU_EDECODE);
        assert_null(bad);
        bad = (void *)1;
        assert_int_equal(t->decode(t, NULL, alone.len, &bad), AU_EINVAL); /* never read */
        assert_null(bad);
        const au_crdt_type *o = ALL[(i + 1) % NALL];
        void *os = au_crdt_new(o);
        au_buf ob = { 0 };
        assert_int_equal(o->encode(os, &ob), AU_OK);
        bad = (void *)1;
        assert_int_not_equal(t->decode(t, ob.data, ob.len, &bad), AU_OK);
        assert_null(bad);
        o->free(os), t->free(out), t->free(s);
        au_buf_free(&ob), au_buf_free(&alone), au_buf_free(&b);
    }
}

/* ---- aliasing: join(a, a), delta_minus(a, a), the same object as state and delta ------------ */

static void join_with_itself_is_idempotent_and_minus_with_itself_refused(void **st) {
    (void)st;
    for (size_t i = 0; i < NALL; i++) {
        const au_crdt_type *t = ALL[i];
        void *s = au_crdt_new(t), *d = au_crdt_new_delta(t), *ref = au_crdt_new(t);
        assert_int_equal(mutate(t, s, d, 1), AU_OK);
        assert_int_equal(mutate(t, ref, NULL, 1), AU_OK);
        uint64_t h = t->digest(s);
        assert_int_equal(t->join(s, s), AU_OK);
        assert_int_equal(t->join(d, d), AU_OK);
        assert_true(t->equal(s, ref)), assert_true(t->equal(d, ref));
        assert_int_equal(t->digest(s), h);
        /* delta_minus(a, a): documented AU_EINVAL, a unchanged */
        assert_int_equal(t->delta_minus(d, d), AU_EINVAL);
        assert_int_equal(t->delta_minus(s, s), AU_EINVAL);
        assert_true(t->equal(s, ref)), assert_true(t->equal(d, ref));
        t->free(s), t->free(d), t->free(ref);
    }
}

static void the_state_as_its_own_delta_is_refused(void **st) {
    (void)st;
    for (size_t i = 0; i < NALL; i++) {
        const au_crdt_type *t = ALL[i];
        void *s = au_crdt_new(t), *ref = au_crdt_new(t);
        assert_int_equal(mutate(t, s, NULL, 1), AU_OK);
        assert_int_equal(mutate(t, ref, NULL, 1), AU_OK);
        assert_int_equal(mutate(t, s, s, 1), AU_EINVAL);
        assert_true(t->equal(s, ref));
        t->free(s), t->free(ref);
    }
    au_pncounter *p = au_pncounter_new();
    assert_int_equal(au_pncounter_add(p, p, 1, 5), AU_EINVAL);
    assert_int_equal(au_pncounter_value(p), 0);
    au_pncounter_free(p);
    au_mvreg *m = au_mvreg_new();
    assert_int_equal(au_mvreg_set(m, NULL, 1, "a", 1), AU_OK);
    assert_int_equal(au_mvreg_clear(m, m), AU_EINVAL);
    assert_int_equal(au_mvreg_count(m), 1);
    au_mvreg_free(m);
    au_ewflag *e = au_ewflag_new();
    assert_int_equal(au_ewflag_enable(e, NULL, 1), AU_OK);
    assert_int_equal(au_ewflag_disable(e, e, 1), AU_EINVAL);
    assert_true(au_ewflag_value(e));
    au_ewflag_free(e);
    au_dwflag *w = au_dwflag_new();
    assert_int_equal(au_dwflag_disable(w, w, 1), AU_EINVAL);
    au_dwflag_free(w);
    au_twopset *tp = au_twopset_new();
    assert_int_equal(au_twopset_remove(tp, tp, "a", 1), AU_EINVAL);
    au_twopset_free(tp);
    au_lwwmap *lm = au_lwwmap_new();
    assert_int_equal(au_lwwmap_remove(lm, lm, 1, 1, "a", 1), AU_EINVAL);
    au_lwwmap_free(lm);
    au_orset *os = au_orset_new();
    assert_int_equal(au_orset_clear(os, os), AU_EINVAL);
    assert_int_equal(au_orset_remove(os, os, "a", 1), AU_EINVAL);
    au_orset_free(os);
}

static void a_delta_accumulator_is_no_state_to_mutate(void **st) {
    (void)st;
    /* causal types refuse a delta accumulator as the state: AU_ESTATE, nothing changes */
    const au_crdt_type *causal[] = { &au_gcounter_type, &au_pncounter_type, &au_orset_type,
                                     &au_mvreg_type, &au_ewflag_type, &au_dwflag_type,
                                     &au_ormap_orset_type, &au_ormap_gcounter_type };
    for (size_t i = 0; i < sizeof causal / sizeof causal[0]; i++) {
        const au_crdt_type *t = causal[i];
        void *d = au_crdt_new_delta(t), *s = au_crdt_new(t);
        assert_int_equal(mutate(t, d, s, 1), AU_ESTATE);
        assert_true(t->is_bottom(d)), assert_true(t->is_bottom(s));
        t->free(d), t->free(s);
    }
    au_orset *d = au_orset_new_delta();
    assert_int_equal(au_orset_remove(d, NULL, "a", 1), AU_ESTATE);
    assert_int_equal(au_orset_clear(d, NULL), AU_ESTATE);
    au_orset_free(d);
    au_mvreg *mv = au_mvreg_new_delta();
    assert_int_equal(au_mvreg_clear(mv, NULL), AU_ESTATE);
    au_mvreg_free(mv);
    au_ewflag *ew = au_ewflag_new_delta();
    assert_int_equal(au_ewflag_disable(ew, NULL, 1), AU_ESTATE);
    au_ewflag_free(ew);
    au_dwflag *dw = au_dwflag_new_delta();
    assert_int_equal(au_dwflag_disable(dw, NULL, 1), AU_ESTATE);
    au_dwflag_free(dw);
    au_ormap_orset om = au_ormap_orset_new_delta();
    assert_int_equal(au_ormap_orset_remove(om, AU_ORMAP_NODELTA(orset), "k", 1), AU_ESTATE);
    au_ormap_orset_free(om);
    /* a state given where a delta is wanted is a valid (if large) delta: it works */
    au_orset *s = au_orset_new(), *s2 = au_orset_new(), *ref = au_orset_new();
    assert_int_equal(au_orset_add(ref, NULL, 1, "z", 1), AU_OK);
    assert_int_equal(au_orset_add(s, s2, 1, "z", 1), AU_OK);
    assert_true(au_orset_equal(s2, ref));
    au_orset_free(s), au_orset_free(s2), au_orset_free(ref);
}

/* ---- objects of other types through the generic vtable ------------------------------------- */

static void objects_of_another_type_are_refused_by_the_vtable(void **st) {
    (void)st;
    for (size_t i = 0; i < NALL; i++) {
        for (size_t j = 0; j < NALL; j++) {
            if (i == j) continue;
            const au_crdt_type *t = ALL[i], *o = ALL[j];
            void *s = au_crdt_new(t), *x = au_crdt_new(o), *ref = au_crdt_new(t);
            assert_int_equal(mutate(t, s, NULL, 1), AU_OK);
            assert_int_equal(mutate(t, ref, NULL, 1), AU_OK);
            assert_int_equal(mutate(o, x, NULL, 2), AU_OK);
            assert_int_equal(t->join(s, x), AU_ETYPE);
            /* a mutator handed a delta of the other type (through a cast, as void * allows) */
            void *xd = au_crdt_new_delta(o);
            assert_int_equal(mutate(t, s, xd, 1), AU_ETYPE);
            assert_true(o->is_bottom(xd));
            o->free(xd);
            assert_false(t->equal(s, x));
            assert_false(t->equal(x, s));
            assert_int_equal(t->delta_minus(s, x), AU_ETYPE);
            assert_true(t->equal(s, ref));
            /* a mutator handed a state of the other type (through a cast, or the void * of an
             * ORMap value's mutator): refused, nothing changed, no delta */
            void *xref = NULL;
            assert_int_equal(o->copy(x, &xref), AU_OK);
            assert_int_equal(mutate(t, x, NULL, 3), AU_ETYPE);
            assert_true(o->equal(x, xref));
            o->free(xref);
            /* freed through the other type's vtable: still freed right (ASan, valgrind) */
            t->free(x), o->free(s), t->free(ref);
        }
    }
}

/* An ORMap type of one's own over ORSets: the same value type as au_ormap_orset_type. */
static AU_CRDT_ORMAP_TYPE(my_sets_type, "test.sets.1", &au_orset_type);
static AU_CRDT_ORMAP_TYPE(my_maps_type, "test.maps.1", &au_ormap_orset_type);

static void ormaps_of_other_value_types_are_refused(void **st) {
    (void)st;
    au_ormap_orset a = au_ormap_orset_new(), ref = au_ormap_orset_new();
    au_ormap_gcounter g = au_ormap_gcounter_new();
    uint64_t r = 1;
    assert_int_equal(au_ormap_orset_update(a, AU_ORMAP_NODELTA(orset), "k", 1, add_or, &r), AU_OK);
    assert_int_equal(au_ormap_orset_update(ref, AU_ORMAP_NODELTA(orset), "k", 1, add_or, &r), AU_OK);
    assert_int_equal(au_ormap_gcounter_update(g, AU_ORMAP_NODELTA(gcounter), "k", 1, bump_gc, &r),
                     AU_OK);
    assert_int_equal(au_ormap_orset_type.join(a.map, g.map), AU_ETYPE);
    assert_int_equal(au_ormap_gcounter_type.join(g.map, a.map), AU_ETYPE);
    assert_true(au_ormap_orset_equal(a, ref));
    assert_int_equal(au_gcounter_value(au_ormap_gcounter_get(g, "k", 1)), 1);
    /* a map of maps is not a map of sets */
    void *mm = au_crdt_new(&my_maps_type);
    assert_int_equal(my_maps_type.join(mm, a.map), AU_ETYPE);
    assert_int_equal(au_ormap_orset_type.join(a.map, mm), AU_ETYPE);
    assert_true(my_maps_type.is_bottom(mm));
    /* a map type of one's own with the same value type is the same lattice: joins */
    void *mine = au_crdt_new(&my_sets_type);
    assert_int_equal(my_sets_type.join(mine, a.map), AU_OK);
    assert_true(my_sets_type.equal(mine, a.map));
    my_sets_type.free(mine), my_maps_type.free(mm);
    au_ormap_orset_free(a), au_ormap_orset_free(ref), au_ormap_gcounter_free(g);
}

static AU_CRDT_ORMAP_TYPE(gset_map_type, "test.gsetmap.1", &au_gset_type);
static AU_CRDT_ORMAP_TYPE(null_map_type, "test.nullmap.1", NULL);

static void ormap_types_over_non_causal_values_make_nothing(void **st) {
    (void)st;
    const au_crdt_type *ts[] = { &gset_map_type, &null_map_type };
    uint8_t enc[] = { 0xCA, 0x00, 0x00, 0x00, 0x00 };
    for (int i = 0; i < 2; i++) {
        assert_null(au_crdt_new(ts[i]));
        assert_null(au_crdt_new_delta(ts[i]));
        void *out = (void *)1;
        assert_int_equal(ts[i]->decode(ts[i], enc, sizeof enc, &out), AU_EINVAL);
        assert_null(out);
    }
}

/* A map of maps of sets: update the inner map from the outer map's mutator. */
static au_err inner_add(void *v, void *dv, void *arg) {
    return au_ormap_orset_update((au_ormap_orset){ v }, (au_ormap_orset){ dv }, "in", 2, add_or, arg);
}

static void nested_maps_round_trip_and_refuse_their_inner_type(void **st) {
    (void)st;
    void *a = au_crdt_new(&my_maps_type), *d = au_crdt_new_delta(&my_maps_type);
    void *b = au_crdt_new(&my_maps_type);
    uint64_t r1 = 1, r2 = 2;
    assert_int_equal(au_ormap_update(a, d, "out", 3, inner_add, &r1), AU_OK);
    assert_int_equal(au_ormap_update(b, NULL, "out", 3, inner_add, &r2), AU_OK);
    assert_int_equal(my_maps_type.join(b, d), AU_OK);
    const void *inner = au_ormap_get(b, "out", 3);
    assert_non_null(inner);
    const au_orset *set = au_ormap_orset_get((au_ormap_orset){ (au_ormap *)inner }, "in", 2);
    assert_true(au_orset_contains(set, "x", 1));
    void *c = roundtrip(&my_maps_type, b);
    assert_true(my_maps_type.equal(c, b));
    assert_int_equal(my_maps_type.digest(c), my_maps_type.digest(b));
    /* the inner map's type is another lattice than the outer one's */
    au_ormap_orset flat = au_ormap_orset_new();
    assert_int_equal(au_ormap_orset_update(flat, AU_ORMAP_NODELTA(orset), "out", 3, add_or, &r1),
                     AU_OK);
    assert_int_equal(my_maps_type.join(c, flat.map), AU_ETYPE);
    assert_false(my_maps_type.equal(c, flat.map));
    assert_true(my_maps_type.equal(c, b));
    /* removing the outer key empties it for both */
    void *d2 = au_crdt_new_delta(&my_maps_type);
    assert_int_equal(au_ormap_remove(b, d2, "out", 3), AU_OK);
    assert_int_equal(my_maps_type.join(c, d2), AU_OK);
    assert_int_equal(au_ormap_size(c), 0);
    assert_true(my_maps_type.equal(c, b));
    au_ormap_orset_free(flat);
    my_maps_type.free(a), my_maps_type.free(b), my_maps_type.free(c), my_maps_type.free(d);
    my_maps_type.free(d2);
}

/* copy and decode keep a delta a delta; delta_minus works whichever modes it is given */
static void modes_survive_copy_and_minus_takes_any_mode(void **st) {
    (void)st;
    for (size_t i = 0; i < NALL; i++) {
        const au_crdt_type *t = ALL[i];
        void *s = au_crdt_new(t), *d = au_crdt_new_delta(t);
        assert_int_equal(mutate(t, s, d, 1), AU_OK);
        void *cd = NULL, *rd = roundtrip(t, d);
        assert_int_equal(t->copy(d, &cd), AU_OK);
        void *scratch = au_crdt_new(t);
        if (t->causal_) { /* a delta is no state to mutate */
            assert_int_equal(mutate(t, cd, scratch, 2), AU_ESTATE);
            assert_int_equal(mutate(t, rd, scratch, 2), AU_ESTATE);
        }
        /* b: another replica's state, and its delta */
        void *b = au_crdt_new(t), *bd = au_crdt_new_delta(t);
        assert_int_equal(mutate(t, b, bd, 2), AU_OK);
        void *want = NULL;
        assert_int_equal(t->copy(b, &want), AU_OK);
        assert_int_equal(t->join(want, s), AU_OK);
        /* a full state as the delta, a delta accumulator as the state */
        void *x = NULL, *y = NULL;
        assert_int_equal(t->copy(s, &x), AU_OK);
        assert_int_equal(t->delta_minus(x, bd), AU_OK);
        assert_int_equal(t->join(x, b), AU_OK);
        assert_true(t->equal(x, want));
        assert_int_equal(t->copy(s, &y), AU_OK);
        assert_int_equal(t->delta_minus(y, s), AU_OK); /* nothing new: bottom */
        assert_true(t->is_bottom(y));
        assert_int_equal(t->delta_minus(cd, s), AU_OK);
        assert_true(t->is_bottom(cd));
        void *objs[] = { s, d, cd, rd, scratch, b, bd, want, x, y };
        for (size_t k = 0; k < sizeof objs / sizeof objs[0]; k++) t->free(objs[k]);
    }
}

/* ---- NULL objects, elements and keys; lengths ------------------------------------------------ */

static void reads_of_null_objects_read_bottom(void **st) {
    (void)st;
    au_crdt_iter it = AU_CRDT_ITER_INIT;
    au_crdt_bytes b;
    const void *v;
    assert_int_equal(au_gcounter_value(NULL), 0);
    assert_int_equal(au_pncounter_value(NULL), 0);
    assert_false(au_gset_contains(NULL, "a", 1));
    assert_int_equal(au_gset_size(NULL), 0);
    assert_false(au_gset_next(NULL, &it, &b));
    assert_false(au_twopset_contains(NULL, "a", 1));
    assert_int_equal(au_twopset_size(NULL), 0);
    assert_false(au_twopset_next(NULL, &it, &b));
    assert_false(au_orset_contains(NULL, "a", 1));
    assert_int_equal(au_orset_size(NULL), 0);
    assert_false(au_orset_next(NULL, &it, &b));
    assert_int_equal(au_orset_memory(NULL), 0);
    assert_false(au_lwwreg_get(NULL, &b));
    assert_int_equal(au_lwwreg_timestamp(NULL), 0);
    assert_int_equal(au_mvreg_count(NULL), 0);
    assert_false(au_mvreg_next(NULL, &it, &b));
    assert_false(au_ewflag_value(NULL));
    assert_false(au_dwflag_value(NULL));
    assert_null(au_ormap_get(NULL, "k", 1));
    assert_false(au_ormap_contains(NULL, "k", 1));
    assert_int_equal(au_ormap_size(NULL), 0);
    assert_false(au_ormap_next(NULL, &it, &b, &v));
    assert_false(au_lwwmap_get(NULL, "k", 1, &b));
    assert_int_equal(au_lwwmap_size(NULL), 0);
    assert_false(au_lwwmap_next(NULL, &it, &b, NULL));
    assert_int_equal(au_ormap_orset_size(AU_ORMAP_NODELTA(orset)), 0);
    assert_int_equal(it.pos_, 0);
}

static void mutators_refuse_a_null_state(void **st) {
    (void)st;
    uint64_t r = 1;
    assert_int_equal(au_gcounter_inc(NULL, NULL, 1, 1), AU_EINVAL);
    assert_int_equal(au_pncounter_add(NULL, NULL, 1, 1), AU_EINVAL);
    assert_int_equal(au_gset_add(NULL, NULL, "a", 1), AU_EINVAL);
    assert_int_equal(au_twopset_add(NULL, NULL, "a", 1), AU_EINVAL);
    assert_int_equal(au_twopset_remove(NULL, NULL, "a", 1), AU_EINVAL);
    assert_int_equal(au_orset_add(NULL, NULL, 1, "a", 1), AU_EINVAL);
    assert_int_equal(au_orset_remove(NULL, NULL, "a", 1), AU_EINVAL);
    assert_int_equal(au_orset_clear(NULL, NULL), AU_EINVAL);
    assert_int_equal(au_lwwreg_set(NULL, NULL, 1, 1, "a", 1), AU_EINVAL);
    assert_int_equal(au_mvreg_set(NULL, NULL, 1, "a", 1), AU_EINVAL);
    assert_int_equal(au_mvreg_clear(NULL, NULL), AU_EINVAL);
    assert_int_equal(au_ewflag_enable(NULL, NULL, 1), AU_EINVAL);
    assert_int_equal(au_ewflag_disable(NULL, NULL, 1), AU_EINVAL);
    assert_int_equal(au_dwflag_enable(NULL, NULL, 1), AU_EINVAL);
    assert_int_equal(au_dwflag_disable(NULL, NULL, 1), AU_EINVAL);
    assert_int_equal(au_ormap_update(NULL, NULL, "k", 1, NULL, NULL), AU_EINVAL);
    assert_int_equal(au_ormap_remove(NULL, NULL, "k", 1), AU_EINVAL);
    assert_int_equal(au_ormap_orset_update(AU_ORMAP_NODELTA(orset), AU_ORMAP_NODELTA(orset), "k",
                                           1, add_or, &r),
                     AU_EINVAL);
    assert_int_equal(au_lwwmap_set(NULL, NULL, 1, 1, "k", 1, "v", 1), AU_EINVAL);
    assert_int_equal(au_lwwmap_remove(NULL, NULL, 1, 1, "k", 1), AU_EINVAL);
    /* a NULL mutator for an ORMap key: refused, no key appears */
    au_ormap_orset m = au_ormap_orset_new();
    assert_int_equal(au_ormap_update(m.map, NULL, "k", 1, NULL, NULL), AU_EINVAL);
    assert_true(au_ormap_orset_is_bottom(m));
    au_ormap_orset_free(m);
}

static void null_bytes_with_a_length_are_refused_and_never_read(void **st) {
    (void)st;
    au_gset *g = au_gset_new();
    au_twopset *t = au_twopset_new();
    au_orset *o = au_orset_new();
    au_lwwreg *l = au_lwwreg_new();
    au_mvreg *mv = au_mvreg_new();
    au_lwwmap *lm = au_lwwmap_new();
    au_ormap_orset m = au_ormap_orset_new();
    uint64_t r = 1;
    assert_int_equal(au_gset_add(g, NULL, NULL, 4), AU_EINVAL);
    assert_int_equal(au_twopset_add(t, NULL, NULL, 4), AU_EINVAL);
    assert_int_equal(au_twopset_remove(t, NULL, NULL, 4), AU_EINVAL);
    assert_int_equal(au_orset_add(o, NULL, 1, NULL, 4), AU_EINVAL);
    assert_int_equal(au_orset_remove(o, NULL, NULL, 4), AU_EINVAL);
    assert_int_equal(au_lwwreg_set(l, NULL, 1, 1, NULL, 4), AU_EINVAL);
    assert_int_equal(au_mvreg_set(mv, NULL, 1, NULL, 4), AU_EINVAL);
    assert_int_equal(au_lwwmap_set(lm, NULL, 1, 1, NULL, 4, "v", 1), AU_EINVAL);
    assert_int_equal(au_lwwmap_set(lm, NULL, 1, 1, "k", 1, NULL, 4), AU_EINVAL);
    assert_int_equal(au_lwwmap_remove(lm, NULL, 1, 1, NULL, 4), AU_EINVAL);
    assert_int_equal(au_ormap_orset_update(m, AU_ORMAP_NODELTA(orset), NULL, 4, add_or, &r), AU_EINVAL);
    assert_int_equal(au_ormap_orset_remove(m, AU_ORMAP_NODELTA(orset), NULL, 4), AU_EINVAL);
    /* reads of NULL with a length: absent */
    au_crdt_bytes b;
    assert_false(au_gset_contains(g, NULL, 4));
    assert_false(au_twopset_contains(t, NULL, 4));
    assert_false(au_orset_contains(o, NULL, 4));
    assert_false(au_lwwmap_get(lm, NULL, 4, &b));
    assert_null(au_ormap_orset_get(m, NULL, 4));
    assert_false(au_ormap_orset_contains(m, NULL, 4));
    assert_true(au_gset_is_bottom(g) && au_twopset_is_bottom(t) && au_orset_is_bottom(o));
    assert_true(au_lwwreg_is_bottom(l) && au_mvreg_is_bottom(mv) && au_lwwmap_is_bottom(lm));
    assert_true(au_ormap_orset_is_bottom(m));
    au_gset_free(g), au_twopset_free(t), au_orset_free(o), au_lwwreg_free(l), au_mvreg_free(mv);
    au_lwwmap_free(lm), au_ormap_orset_free(m);
}

static void null_bytes_of_length_zero_are_the_empty_string(void **st) {
    (void)st;
    au_gset *g = au_gset_new(), *gd = au_gset_new_delta();
    au_twopset *t = au_twopset_new();
    au_orset *o = au_orset_new();
    au_lwwreg *l = au_lwwreg_new();
    au_mvreg *mv = au_mvreg_new();
    au_lwwmap *lm = au_lwwmap_new();
    au_ormap_orset m = au_ormap_orset_new();
    uint64_t r = 1;
    assert_int_equal(au_gset_add(g, gd, NULL, 0), AU_OK);
    assert_true(au_gset_contains(g, "", 0)), assert_true(au_gset_contains(gd, NULL, 0));
    assert_int_equal(au_gset_add(g, NULL, "", 0), AU_OK);
    assert_int_equal(au_gset_size(g), 1);
    assert_int_equal(au_twopset_add(t, NULL, NULL, 0), AU_OK);
    assert_true(au_twopset_contains(t, "", 0));
    assert_int_equal(au_twopset_remove(t, NULL, NULL, 0), AU_OK);
    assert_false(au_twopset_contains(t, NULL, 0));
    assert_int_equal(au_twopset_add(t, NULL, "", 0), AU_ESTATE);
    assert_int_equal(au_orset_add(o, NULL, 1, NULL, 0), AU_OK);
    assert_true(au_orset_contains(o, "", 0));
    assert_int_equal(au_lwwreg_set(l, NULL, 1, 1, NULL, 0), AU_OK);
    au_crdt_bytes b = { "x", 1 };
    assert_true(au_lwwreg_get(l, &b));
    assert_int_equal(b.len, 0);
    assert_int_equal(au_mvreg_set(mv, NULL, 1, NULL, 0), AU_OK);
    assert_int_equal(au_mvreg_count(mv), 1);
    assert_int_equal(au_lwwmap_set(lm, NULL, 1, 1, NULL, 0, NULL, 0), AU_OK);
    assert_true(au_lwwmap_get(lm, "", 0, &b));
    assert_int_equal(b.len, 0);
    assert_int_equal(au_ormap_orset_update(m, AU_ORMAP_NODELTA(orset), NULL, 0, add_or, &r), AU_OK);
    assert_true(au_ormap_orset_contains(m, "", 0));
    /* each survives a round trip */
    const au_crdt_type *ts[] = { &au_gset_type, &au_twopset_type, &au_orset_type, &au_lwwreg_type,
                                 &au_mvreg_type, &au_lwwmap_type, &au_ormap_orset_type };
    void *vs[] = { g, t, o, l, mv, lm, m.map };
    for (size_t i = 0; i < 7; i++) {
        void *c = roundtrip(ts[i], vs[i]);
        assert_true(ts[i]->equal(c, vs[i]));
        ts[i]->free(c);
    }
    assert_int_equal(au_ormap_orset_remove(m, AU_ORMAP_NODELTA(orset), NULL, 0), AU_OK);
    assert_false(au_ormap_orset_contains(m, "", 0));
    au_gset_free(g), au_gset_free(gd), au_twopset_free(t), au_orset_free(o), au_lwwreg_free(l);
    au_mvreg_free(mv), au_lwwmap_free(lm), au_ormap_orset_free(m);
}

static void lengths_past_the_limit_are_refused_without_reading(void **st) {
    (void)st;
    const char small[4] = "abc";
    const size_t huge[] = { SIZE_MAX, SIZE_MAX / 2, ((size_t)1 << 31) + 1 };
    au_gset *g = au_gset_new();
    au_twopset *t = au_twopset_new();
    au_orset *o = au_orset_new();
    au_lwwreg *l = au_lwwreg_new();
    au_mvreg *mv = au_mvreg_new();
    au_lwwmap *lm = au_lwwmap_new();
    au_ormap_orset m = au_ormap_orset_new();
    uint64_t r = 1;
    au_crdt_bytes b;
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        size_t n = huge[i];
        assert_int_equal(au_gset_add(g, NULL, small, n), AU_EINVAL);
        assert_int_equal(au_twopset_add(t, NULL, small, n), AU_EINVAL);
        assert_int_equal(au_twopset_remove(t, NULL, small, n), AU_EINVAL);
        assert_int_equal(au_orset_add(o, NULL, 1, small, n), AU_EINVAL);
        assert_int_equal(au_orset_remove(o, NULL, small, n), AU_EINVAL);
        assert_int_equal(au_lwwreg_set(l, NULL, 1, 1, small, n), AU_EINVAL);
        assert_int_equal(au_mvreg_set(mv, NULL, 1, small, n), AU_EINVAL);
        assert_int_equal(au_lwwmap_set(lm, NULL, 1, 1, small, n, "v", 1), AU_EINVAL);
        assert_int_equal(au_lwwmap_set(lm, NULL, 1, 1, "k", 1, small, n), AU_EINVAL);
        assert_int_equal(au_lwwmap_remove(lm, NULL, 1, 1, small, n), AU_EINVAL);
        assert_int_equal(au_ormap_orset_update(m, AU_ORMAP_NODELTA(orset), small, n, add_or, &r),
                         AU_EINVAL);
        assert_int_equal(au_ormap_orset_remove(m, AU_ORMAP_NODELTA(orset), small, n), AU_EINVAL);
        /* reads: absent, the bytes not read */
        assert_false(au_gset_contains(g, small, n));
        assert_false(au_twopset_contains(t, small, n));
        assert_false(au_orset_contains(o, small, n));
        assert_false(au_lwwmap_get(lm, small, n, &b));
        assert_null(au_ormap_orset_get(m, small, n));
        assert_false(au_ormap_orset_contains(m, small, n));
    }
    assert_true(au_gset_is_bottom(g) && au_twopset_is_bottom(t) && au_orset_is_bottom(o));
    assert_true(au_lwwreg_is_bottom(l) && au_mvreg_is_bottom(mv) && au_lwwmap_is_bottom(lm));
    assert_true(au_ormap_orset_is_bottom(m));
    au_gset_free(g), au_twopset_free(t), au_orset_free(o), au_lwwreg_free(l), au_mvreg_free(mv);
    au_lwwmap_free(lm), au_ormap_orset_free(m);
}

static void one_mib_elements_and_embedded_nuls(void **st) {
    (void)st;
    size_t n = (size_t)1 << 20;
    uint8_t *big = malloc(n);
    assert_non_null(big);
    for (size_t i = 0; i < n; i++) big[i] = (uint8_t)(i * 31);
    big[0] = 0, big[n - 1] = 0;
    au_orset *o = au_orset_new(), *od = au_orset_new_delta();
    assert_int_equal(au_orset_add(o, od, 1, big, n), AU_OK);
    assert_true(au_orset_contains(o, big, n));
    assert_false(au_orset_contains(o, big, n - 1)); /* a prefix is another element */
    au_orset *c = roundtrip(&au_orset_type, od);
    assert_true(au_orset_contains(c, big, n));
    au_orset_free(c);
    au_lwwmap *lm = au_lwwmap_new();
    assert_int_equal(au_lwwmap_set(lm, NULL, 1, 1, big, n, big, n), AU_OK);
    au_crdt_bytes b;
    assert_true(au_lwwmap_get(lm, big, n, &b));
    assert_int_equal(b.len, n);
    assert_memory_equal(b.ptr, big, n);
    au_lwwmap_free(lm);
    /* "a\0b" and "a\0c" and "a" are three elements, and stay so through a round trip */
    au_gset *g = au_gset_new();
    assert_int_equal(au_gset_add(g, NULL, "a\0b", 3), AU_OK);
    assert_int_equal(au_gset_add(g, NULL, "a\0c", 3), AU_OK);
    assert_int_equal(au_gset_add(g, NULL, "a", 1), AU_OK);
    assert_int_equal(au_gset_add(g, NULL, "\0\0", 2), AU_OK);
    assert_int_equal(au_gset_size(g), 4);
    assert_false(au_gset_contains(g, "a\0d", 3));
    au_gset *gc = roundtrip(&au_gset_type, g);
    assert_true(au_gset_equal(g, gc));
    assert_true(au_gset_contains(gc, "\0\0", 2));
    au_gset_free(gc), au_gset_free(g);
    au_ormap_orset m = au_ormap_orset_new();
    uint64_t r = 1;
    assert_int_equal(au_ormap_orset_update(m, AU_ORMAP_NODELTA(orset), "k\0a", 3, add_or, &r), AU_OK);
    assert_false(au_ormap_orset_contains(m, "k", 1));
    assert_false(au_ormap_orset_contains(m, "k\0b", 3));
    assert_true(au_ormap_orset_contains(m, "k\0a", 3));
    au_ormap_orset_free(m);
    au_orset_free(o), au_orset_free(od);
    free(big);
}

/* ---- counters --------------------------------------------------------------------------------- */

static void counters_at_their_limits(void **st) {
    (void)st;
    au_gcounter *g = au_gcounter_new(), *gd = au_gcounter_new_delta();
    assert_int_equal(au_gcounter_inc(g, gd, 1, UINT64_MAX), AU_OK);
    assert_int_equal(au_gcounter_value(g), UINT64_MAX);
    assert_int_equal(au_gcounter_inc(g, gd, 1, 1), AU_EINVAL); /* the entry would overflow */
    assert_int_equal(au_gcounter_value(g), UINT64_MAX);
    assert_int_equal(au_gcounter_inc(g, gd, 1, 0), AU_OK);    /* nothing */
    assert_int_equal(au_gcounter_inc(g, gd, 2, 1), AU_OK);    /* another entry: the sum wraps */
    assert_int_equal(au_gcounter_value(g), 0);
    au_gcounter *c = roundtrip(&au_gcounter_type, gd);
    assert_true(au_gcounter_equal(c, g));
    au_gcounter_free(c);
    /* the fold of a prune that would overflow the pruner's entry: AU_EINVAL, nothing changes */
    uint64_t h = au_gcounter_digest(g);
    assert_int_equal(au_gcounter_prune(g, NULL, 2, 1), AU_EINVAL);
    assert_int_equal(au_gcounter_digest(g), h);
    au_gcounter_free(g), au_gcounter_free(gd);

    au_pncounter *p = au_pncounter_new(), *pd = au_pncounter_new_delta();
    assert_int_equal(au_pncounter_add(p, pd, 1, INT64_MIN), AU_OK);
    assert_int_equal(au_pncounter_value(p), INT64_MIN);
    assert_int_equal(au_pncounter_add(p, pd, 1, INT64_MIN), AU_EINVAL); /* 2^64 decrements */
    assert_int_equal(au_pncounter_add(p, pd, 1, INT64_MIN + 1), AU_OK);  /* 2^64 - 1 of them */
    assert_int_equal(au_pncounter_add(p, pd, 1, -1), AU_EINVAL);
    assert_int_equal(au_pncounter_value(p), 1);                         /* wraps modulo 2^64 */
    assert_int_equal(au_pncounter_add(p, pd, 1, INT64_MAX), AU_OK);
    assert_int_equal(au_pncounter_value(p), INT64_MIN);
    assert_int_equal(au_pncounter_add(p, pd, 1, INT64_MAX), AU_OK);
    assert_int_equal(au_pncounter_add(p, pd, 1, 1), AU_OK);            /* 2^64 - 1 increments */
    assert_int_equal(au_pncounter_add(p, pd, 1, 1), AU_EINVAL);
    assert_int_equal(au_pncounter_value(p), 0);
    au_pncounter *pc = roundtrip(&au_pncounter_type, pd);
    assert_true(au_pncounter_equal(pc, p));
    au_pncounter_free(pc), au_pncounter_free(p), au_pncounter_free(pd);
}

static void replica_ids_zero_and_max_are_ordinary(void **st) {
    (void)st;
    const uint64_t ids[] = { 0, UINT64_MAX, 1, UINT64_MAX - 1 };
    au_gcounter *a = au_gcounter_new(), *b = au_gcounter_new();
    au_orset *oa = au_orset_new(), *ob = au_orset_new();
    for (int i = 0; i < 4; i++) {
        assert_int_equal(au_gcounter_inc(i % 2 ? a : b, NULL, ids[i], 10 + (uint64_t)i), AU_OK);
        assert_int_equal(au_orset_add(i % 2 ? oa : ob, NULL, ids[i], &ids[i], 8), AU_OK);
    }
    assert_int_equal(au_gcounter_join(a, b), AU_OK);
    assert_int_equal(au_gcounter_value(a), 46);
    assert_int_equal(au_orset_join(oa, ob), AU_OK);
    assert_int_equal(au_orset_size(oa), 4);
    /* prune id 0 and UINT64_MAX (folded into id 1) */
    au_gcounter *d = au_gcounter_new_delta();
    assert_int_equal(au_gcounter_prune(a, d, 0, 1), AU_OK);
    assert_int_equal(au_gcounter_prune(a, d, UINT64_MAX, 1), AU_OK);
    assert_int_equal(au_gcounter_value(a), 46);
    assert_int_equal(au_gcounter_join(b, d), AU_OK);
    assert_int_equal(au_gcounter_value(b), 33); /* b has not seen UINT64_MAX - 1's 13 */
    assert_int_equal(au_gcounter_join(b, a), AU_OK);
    assert_int_equal(au_gcounter_value(b), 46);
    assert_true(au_gcounter_equal(a, b));
    assert_int_equal(au_orset_prune(oa, NULL, 0, UINT64_MAX), AU_OK);
    assert_int_equal(au_orset_size(oa), 4);
    au_gcounter *c = roundtrip(&au_gcounter_type, a);
    assert_true(au_gcounter_equal(c, a));
    au_gcounter_free(c);
    /* a retired replica (id 0) does not mutate again: AU_ESTATE */
    assert_int_equal(au_orset_add(oa, NULL, 0, "again", 5), AU_ESTATE);
    au_gcounter_free(a), au_gcounter_free(b), au_gcounter_free(d);
    au_orset_free(oa), au_orset_free(ob);
}

/* ---- prune ----------------------------------------------------------------------------------- */

static void prune_of_self_or_an_unknown_replica(void **st) {
    (void)st;
    for (size_t i = 0; i < NALL; i++) {
        const au_crdt_type *t = ALL[i];
        void *s = au_crdt_new(t), *d = au_crdt_new_delta(t), *ref = au_crdt_new(t);
        assert_int_equal(mutate(t, s, NULL, 5), AU_OK);
        assert_int_equal(mutate(t, ref, NULL, 5), AU_OK);
        /* departed == self: refused where there is something to prune; a no-op otherwise */
        au_err e = t->prune(s, d, 5, 5);
        assert_true(e == AU_EINVAL || e == AU_OK);
        assert_int_equal(e, t->causal_ ? AU_EINVAL : AU_OK);
        assert_true(t->equal(s, ref)), assert_true(t->is_bottom(d));
        /* the state as its own delta: refused by the causal types, as by every mutator */
        assert_int_equal(t->prune(s, s, 5, 6), t->causal_ ? AU_EINVAL : AU_OK);
        assert_true(t->equal(s, ref));
        /* an unknown replica: nothing to do */
        assert_int_equal(t->prune(s, d, 77, 5), AU_OK);
        assert_int_equal(t->prune(s, NULL, 77, 77), AU_OK);
        assert_true(t->equal(s, ref)), assert_true(t->is_bottom(d));
        /* pruning a bottom object, and a delta */
        void *b = au_crdt_new(t);
        assert_int_equal(t->prune(b, NULL, 5, 6), AU_OK);
        assert_true(t->is_bottom(b));
        /* pruning twice is the same as once */
        assert_int_equal(t->prune(s, NULL, 5, 6), AU_OK);
        void *once = NULL;
        assert_int_equal(t->copy(s, &once), AU_OK);
        assert_int_equal(t->prune(s, NULL, 5, 6), AU_OK);
        assert_true(t->equal(s, once));
        t->free(s), t->free(d), t->free(ref), t->free(b), t->free(once);
    }
}

/* ---- iteration -------------------------------------------------------------------------------- */

static void iterating_bottom_objects_ends_at_once(void **st) {
    (void)st;
    au_crdt_iter it = AU_CRDT_ITER_INIT;
    au_crdt_bytes b;
    au_gset *g = au_gset_new();
    au_twopset *t = au_twopset_new();
    au_orset *o = au_orset_new(), *od = au_orset_new_delta();
    au_mvreg *mv = au_mvreg_new();
    au_lwwmap *lm = au_lwwmap_new();
    au_ormap_orset m = au_ormap_orset_new();
    assert_false(au_gset_next(g, &it, &b));
    assert_false(au_twopset_next(t, &it, &b));
    assert_false(au_orset_next(o, &it, &b));
    assert_false(au_orset_next(od, &it, &b));
    assert_false(au_mvreg_next(mv, &it, &b));
    assert_false(au_lwwmap_next(lm, &it, &b, NULL));
    const au_orset *v;
    assert_false(au_ormap_orset_next(m, &it, &b, &v));
    /* an iterator past the end stays there; a garbage cursor ends too */
    it.pos_ = UINT32_MAX;
    assert_int_equal(au_orset_add(o, NULL, 1, "a", 1), AU_OK);
    assert_false(au_orset_next(o, &it, &b));
    assert_false(au_gset_next(g, &it, &b));
    assert_false(au_mvreg_next(mv, &it, &b));
    /* only removed elements: nothing to visit */
    assert_int_equal(au_twopset_remove(t, NULL, "gone", 4), AU_OK);
    assert_int_equal(au_lwwmap_remove(lm, NULL, 1, 1, "gone", 4), AU_OK);
    it = (au_crdt_iter)AU_CRDT_ITER_INIT;
    assert_false(au_twopset_next(t, &it, &b));
    it = (au_crdt_iter)AU_CRDT_ITER_INIT;
    assert_false(au_lwwmap_next(lm, &it, &b, NULL));
    au_gset_free(g), au_twopset_free(t), au_orset_free(o), au_orset_free(od), au_mvreg_free(mv);
    au_lwwmap_free(lm), au_ormap_orset_free(m);
}

/* Iterating while mutating invalidates the cursor: what it yields next is unspecified, but every
 * call stays in bounds, returns views of live elements, and the loop ends. */
static void iterating_while_mutating_stays_in_bounds_and_ends(void **st) {
    (void)st;
    char k[16];
    au_orset *o = au_orset_new();
    au_gset *g = au_gset_new();
    au_lwwmap *lm = au_lwwmap_new();
    au_ormap_orset m = au_ormap_orset_new();
    uint64_t r = 1;
    for (int i = 0; i < 8; i++) {
        snprintf(k, sizeof k, "e%d", i);
        assert_int_equal(au_orset_add(o, NULL, 1, k, strlen(k)), AU_OK);
        assert_int_equal(au_gset_add(g, NULL, k, strlen(k)), AU_OK);
        assert_int_equal(au_lwwmap_set(lm, NULL, 1, 1, k, strlen(k), "v", 1), AU_OK);
        assert_int_equal(au_ormap_orset_update(m, AU_ORMAP_NODELTA(orset), k, strlen(k), add_or, &r),
                         AU_OK);
    }
    au_crdt_iter it = AU_CRDT_ITER_INIT;
    au_crdt_bytes b;
    int steps = 0, added = 0;
    /* remove what is visited, add two new ones (the table grows and rehashes) */
    while (au_orset_next(o, &it, &b) && steps < 100000) {
        assert_true(b.len > 0 && b.len < 16);
        memcpy(k, b.ptr, b.len);
        assert_int_equal(au_orset_remove(o, NULL, k, b.len), AU_OK);
        for (int j = 0; j < 2 && added < 500; j++, added++) {
            snprintf(k, sizeof k, "n%d", added);
            assert_int_equal(au_orset_add(o, NULL, 1, k, strlen(k)), AU_OK);
        }
        steps++;
    }
    assert_true(steps < 100000);
    it = (au_crdt_iter)AU_CRDT_ITER_INIT, steps = 0, added = 0;
    while (au_gset_next(g, &it, &b) && steps < 100000) {
        for (int j = 0; j < 3 && added < 500; j++, added++) {
            snprintf(k, sizeof k, "n%d", added);
            assert_int_equal(au_gset_add(g, NULL, k, strlen(k)), AU_OK);
        }
        steps++;
    }
    assert_true(steps < 100000);
    it = (au_crdt_iter)AU_CRDT_ITER_INIT, steps = 0, added = 0;
    au_crdt_bytes v;
    while (au_lwwmap_next(lm, &it, &b, &v) && steps < 100000) {
        assert_int_equal(v.len, 1);
        memcpy(k, b.ptr, b.len);
        assert_int_equal(au_lwwmap_remove(lm, NULL, 1, 1, k, b.len), AU_OK);
        snprintf(k, sizeof k, "n%d", added++);
        if (added < 500) assert_int_equal(au_lwwmap_set(lm, NULL, 1, 1, k, strlen(k), "w", 1), AU_OK);
        steps++;
    }
    assert_true(steps < 100000);
    it = (au_crdt_iter)AU_CRDT_ITER_INIT, steps = 0, added = 0;
    const au_orset *val;
    while (au_ormap_orset_next(m, &it, &b, &val) && steps < 100000) {
        assert_true(au_orset_size(val) >= 1);
        memcpy(k, b.ptr, b.len);
        assert_int_equal(au_ormap_orset_remove(m, AU_ORMAP_NODELTA(orset), k, b.len), AU_OK);
        snprintf(k, sizeof k, "n%d", added++);
        if (added < 500)
            assert_int_equal(au_ormap_orset_update(m, AU_ORMAP_NODELTA(orset), k, strlen(k), add_or, &r),
                             AU_OK);
        steps++;
    }
    assert_true(steps < 100000);
    /* the MVRegister: a write while iterating its values */
    au_mvreg *mv = au_mvreg_new(), *other = au_mvreg_new();
    assert_int_equal(au_mvreg_set(mv, NULL, 1, "a", 1), AU_OK);
    assert_int_equal(au_mvreg_set(other, NULL, 2, "b", 1), AU_OK);
    assert_int_equal(au_mvreg_join(mv, other), AU_OK);
    it = (au_crdt_iter)AU_CRDT_ITER_INIT;
    assert_true(au_mvreg_next(mv, &it, &b));
    assert_int_equal(au_mvreg_set(mv, NULL, 1, "c", 1), AU_OK); /* now one value */
    steps = 0;
    while (au_mvreg_next(mv, &it, &b)) steps++;
    assert_true(steps <= 1);
    au_mvreg_free(mv), au_mvreg_free(other);
    au_orset_free(o), au_gset_free(g), au_lwwmap_free(lm), au_ormap_orset_free(m);
}

/* ---- removals of absent elements --------------------------------------------------------------- */

static void removing_what_is_absent(void **st) {
    (void)st;
    au_orset *o = au_orset_new(), *od = au_orset_new_delta();
    assert_int_equal(au_orset_remove(o, od, "nope", 4), AU_OK);
    assert_true(au_orset_is_bottom(o)), assert_true(au_orset_is_bottom(od));
    assert_int_equal(au_orset_clear(o, od), AU_OK);
    assert_true(au_orset_is_bottom(od));
    au_ormap_orset m = au_ormap_orset_new(), md = au_ormap_orset_new_delta();
    assert_int_equal(au_ormap_orset_remove(m, md, "nope", 4), AU_OK);
    assert_true(au_ormap_orset_is_bottom(m)), assert_true(au_ormap_orset_is_bottom(md));
    au_mvreg *mv = au_mvreg_new(), *mvd = au_mvreg_new_delta();
    assert_int_equal(au_mvreg_clear(mv, mvd), AU_OK);
    assert_true(au_mvreg_is_bottom(mvd));
    au_ewflag *ew = au_ewflag_new(), *ewd = au_ewflag_new_delta();
    assert_int_equal(au_ewflag_disable(ew, ewd, 1), AU_OK);
    assert_false(au_ewflag_value(ew));
    /* 2PSet and LWWMap: a removal of what was never seen is a real (winning) removal */
    au_twopset *t = au_twopset_new(), *t2 = au_twopset_new(), *td = au_twopset_new_delta();
    assert_int_equal(au_twopset_remove(t, td, "x", 1), AU_OK);
    assert_int_equal(au_twopset_add(t2, NULL, "x", 1), AU_OK);
    assert_int_equal(au_twopset_join(t2, td), AU_OK);
    assert_false(au_twopset_contains(t2, "x", 1));
    assert_int_equal(au_twopset_add(t, NULL, "x", 1), AU_ESTATE);
    assert_int_equal(au_twopset_remove(t, NULL, "x", 1), AU_OK); /* twice: still fine */
    au_lwwmap *l = au_lwwmap_new(), *l2 = au_lwwmap_new();
    assert_int_equal(au_lwwmap_set(l2, NULL, 1, 10, "k", 1, "v", 1), AU_OK);
    assert_int_equal(au_lwwmap_remove(l, NULL, 2, 11, "k", 1), AU_OK);
    assert_int_equal(au_lwwmap_join(l2, l), AU_OK);
    au_crdt_bytes b;
    assert_false(au_lwwmap_get(l2, "k", 1, &b));
    assert_int_equal(au_lwwmap_size(l2), 0);
    au_orset_free(o), au_orset_free(od), au_ormap_orset_free(m), au_ormap_orset_free(md);
    au_mvreg_free(mv), au_mvreg_free(mvd), au_ewflag_free(ew), au_ewflag_free(ewd);
    au_twopset_free(t), au_twopset_free(t2), au_twopset_free(td);
    au_lwwmap_free(l), au_lwwmap_free(l2);
}

/* ---- LWW: equal timestamps, 0 and UINT64_MAX, ties between replicas ------------------------- */

static void lww_ties_and_extreme_timestamps(void **st) {
    (void)st;
    au_lwwreg *a = au_lwwreg_new(), *b = au_lwwreg_new();
    au_crdt_bytes v;
    /* timestamp 0 is a write, and reads back as written */
    assert_int_equal(au_lwwreg_set(a, NULL, 1, 0, "a", 1), AU_OK);
    assert_true(au_lwwreg_get(a, &v));
    assert_int_equal(au_lwwreg_timestamp(a), 0);
    /* a local write at the same timestamp supersedes: it is stamped 1 */
    assert_int_equal(au_lwwreg_set(a, NULL, 1, 0, "b", 1), AU_OK);
    assert_int_equal(au_lwwreg_timestamp(a), 1);
    assert_true(au_lwwreg_get(a, &v) && v.len == 1 && !memcmp(v.ptr, "b", 1));
    /* equal timestamps on two replicas: the higher replica id wins, on both sides */
    au_lwwreg *x = au_lwwreg_new(), *y = au_lwwreg_new();
    assert_int_equal(au_lwwreg_set(x, NULL, 1, 50, "x", 1), AU_OK);
    assert_int_equal(au_lwwreg_set(y, NULL, 2, 50, "y", 1), AU_OK);
    au_lwwreg *xc = NULL;
    assert_int_equal(au_lwwreg_copy(x, &xc), AU_OK);
    assert_int_equal(au_lwwreg_join(x, y), AU_OK);
    assert_int_equal(au_lwwreg_join(y, xc), AU_OK);
    assert_true(au_lwwreg_equal(x, y));
    assert_true(au_lwwreg_get(x, &v) && !memcmp(v.ptr, "y", 1));
    /* the same (timestamp, replica) with different values (a misuse): still converges */
    au_lwwreg *p = au_lwwreg_new(), *q = au_lwwreg_new(), *pc = NULL;
    assert_int_equal(au_lwwreg_set(p, NULL, 3, 9, "p", 1), AU_OK);
    assert_int_equal(au_lwwreg_set(q, NULL, 3, 9, "q", 1), AU_OK);
    assert_int_equal(au_lwwreg_copy(p, &pc), AU_OK);
    assert_int_equal(au_lwwreg_join(p, q), AU_OK);
    assert_int_equal(au_lwwreg_join(q, pc), AU_OK);
    assert_true(au_lwwreg_equal(p, q));
    assert_int_equal(au_lwwreg_digest(p), au_lwwreg_digest(q));
    /* UINT64_MAX: one write there, then the clock is exhausted (AU_EFULL, nothing changes) */
    assert_int_equal(au_lwwreg_set(b, NULL, 1, UINT64_MAX, "m", 1), AU_OK);
    assert_int_equal(au_lwwreg_timestamp(b), UINT64_MAX);
    assert_int_equal(au_lwwreg_set(b, NULL, 1, 5, "n", 1), AU_EFULL);
    assert_int_equal(au_lwwreg_set(b, NULL, 1, UINT64_MAX, "n", 1), AU_EFULL);
    assert_true(au_lwwreg_get(b, &v) && !memcmp(v.ptr, "m", 1));
    au_lwwreg *bc = roundtrip(&au_lwwreg_type, b);
    assert_true(au_lwwreg_equal(bc, b));
    au_lwwreg_free(bc);
    /* LWWMap the same, per key */
    au_lwwmap *m = au_lwwmap_new(), *n = au_lwwmap_new();
    assert_int_equal(au_lwwmap_set(m, NULL, 7, UINT64_MAX, "k", 1, "m", 1), AU_OK);
    assert_int_equal(au_lwwmap_set(m, NULL, 7, 1, "k", 1, "z", 1), AU_EFULL);
    assert_int_equal(au_lwwmap_remove(m, NULL, 7, 1, "k", 1), AU_EFULL);
    assert_true(au_lwwmap_get(m, "k", 1, &v) && !memcmp(v.ptr, "m", 1));
    assert_int_equal(au_lwwmap_set(m, NULL, 7, 0, "j", 1, "0", 1), AU_OK);
    assert_int_equal(au_lwwmap_set(n, NULL, 8, 0, "j", 1, "1", 1), AU_OK);
    assert_int_equal(au_lwwmap_remove(n, NULL, 6, UINT64_MAX, "k", 1), AU_OK);
    au_lwwmap *mc = NULL;
    assert_int_equal(au_lwwmap_copy(m, &mc), AU_OK);
    assert_int_equal(au_lwwmap_join(m, n), AU_OK);
    assert_int_equal(au_lwwmap_join(n, mc), AU_OK);
    assert_true(au_lwwmap_equal(m, n));
    assert_true(au_lwwmap_get(m, "j", 1, &v) && !memcmp(v.ptr, "1", 1)); /* replica 8 > 7 */
    assert_true(au_lwwmap_get(m, "k", 1, &v));  /* replica 7 > 6 at UINT64_MAX: the write wins */
    au_lwwreg_free(a), au_lwwreg_free(b), au_lwwreg_free(x), au_lwwreg_free(y), au_lwwreg_free(xc);
    au_lwwreg_free(p), au_lwwreg_free(q), au_lwwreg_free(pc);
    au_lwwmap_free(m), au_lwwmap_free(n), au_lwwmap_free(mc);
}

/* ---- MVRegister: many concurrent writes ------------------------------------------------------ */

static void mvreg_many_concurrent_writes(void **st) {
    (void)st;
    enum { N = 300 };
    au_mvreg *all = au_mvreg_new(), *acc = au_mvreg_new_delta();
    for (uint64_t r = 0; r < N; r++) {
        au_mvreg *s = au_mvreg_new(), *d = au_mvreg_new_delta();
        assert_int_equal(au_mvreg_set(s, d, r * 0x9E3779B97F4A7C15ull, &r, sizeof r), AU_OK);
        assert_int_equal(au_mvreg_join(all, s), AU_OK);
        assert_int_equal(au_mvreg_join(acc, d), AU_OK);
        au_mvreg_free(s), au_mvreg_free(d);
    }
    assert_int_equal(au_mvreg_count(all), N);
    assert_true(au_mvreg_equal(all, acc));
    au_crdt_iter it = AU_CRDT_ITER_INIT;
    au_crdt_bytes v;
    size_t seen = 0;
    uint64_t sum = 0;
    while (au_mvreg_next(all, &it, &v)) {
        uint64_t x;
        assert_int_equal(v.len, sizeof x);
        memcpy(&x, v.ptr, sizeof x);
        sum += x, seen++;
    }
    assert_int_equal(seen, N);
    assert_int_equal(sum, (uint64_t)N * (N - 1) / 2);
    au_mvreg *c = roundtrip(&au_mvreg_type, acc);
    assert_true(au_mvreg_equal(c, all));
    assert_int_equal(au_mvreg_digest(c), au_mvreg_digest(all));
    /* one write that has seen them all replaces them all */
    au_mvreg *d = au_mvreg_new_delta();
    assert_int_equal(au_mvreg_set(all, d, 5, "one", 3), AU_OK);
    assert_int_equal(au_mvreg_count(all), 1);
    assert_int_equal(au_mvreg_join(c, d), AU_OK);
    assert_int_equal(au_mvreg_count(c), 1);
    assert_int_equal(au_mvreg_delta_minus(d, c), AU_OK);
    assert_true(au_mvreg_is_bottom(d));
    au_mvreg_free(c), au_mvreg_free(d), au_mvreg_free(all), au_mvreg_free(acc);
}

/* ---- ORMap values: mutators that fail, values read out -------------------------------------- */

static au_err add_too_long(au_orset *v, au_orset *dv, void *arg) {
    return au_orset_add(v, dv, 1, arg, SIZE_MAX);
}
static au_err add_y(au_orset *v, au_orset *dv, void *arg) {
    (void)arg;
    return au_orset_add(v, dv, 1, "y", 1);
}

static void ormap_values_under_failing_mutators_and_read_out(void **st) {
    (void)st;
    au_ormap_orset m = au_ormap_orset_new(), d = au_ormap_orset_new_delta();
    uint64_t r = 1;
    assert_int_equal(au_ormap_orset_update(m, d, "k1", 2, add_or, &r), AU_OK);
    assert_int_equal(au_ormap_orset_update(m, d, "k2", 2, add_y, NULL), AU_OK);
    au_ormap_orset ref;
    assert_int_equal(au_ormap_orset_copy(m, &ref), AU_OK);
    /* a mutator that fails (changing nothing, as au_crdt_mutator requires): no key appears,
     * neither in the map nor in the delta, and nothing else changes */
    au_ormap_orset d2 = au_ormap_orset_new_delta();
    assert_int_equal(au_ormap_orset_update(m, d2, "k3", 2, add_too_long, "z"), AU_EINVAL);
    assert_false(au_ormap_orset_contains(m, "k3", 2));
    assert_true(au_ormap_orset_is_bottom(d2));
    assert_int_equal(au_ormap_orset_update(m, d2, "k2", 2, add_too_long, "z"), AU_EINVAL);
    assert_true(au_ormap_orset_equal(m, ref));
    assert_true(au_ormap_orset_is_bottom(d2));
    /* a value read out of the map copies and encodes as an ORSet with its elements */
    const au_orset *v = au_ormap_orset_get(m, "k2", 2);
    au_orset *c = NULL;
    assert_int_equal(au_orset_copy(v, &c), AU_OK);
    assert_int_equal(au_orset_size(c), 1);
    assert_true(au_orset_contains(c, "y", 1));
    assert_true(au_orset_equal(c, v));
    assert_int_equal(au_orset_digest(c), au_orset_digest(v));
    au_orset *e = roundtrip(&au_orset_type, v);
    assert_true(au_orset_equal(e, c));
    au_orset_free(e), au_orset_free(c);
    au_ormap_orset_free(m), au_ormap_orset_free(d), au_ormap_orset_free(d2), au_ormap_orset_free(ref);
}

/* ---- the dot limit: 2^48 - 2 dots per replica ------------------------------------------------ */

static void one_dot_past_the_limit_is_refused(void **st) {
    (void)st;
    /* an enable-wins flag whose context has seen dots 1..2^48 - 3 of replica 9 (made by
     * encoding a small one and patching its counter) */
    au_ewflag *f = au_ewflag_new();
    assert_int_equal(au_ewflag_enable(f, NULL, 9), AU_OK);
    assert_int_equal(au_ewflag_disable(f, NULL, 9), AU_OK);
    au_buf b = { 0 };
    assert_int_equal(au_ewflag_encode(f, &b), AU_OK);
    /* tag, flags, one replica, its 8-byte id, its counter (1: one byte), ... */
    assert_true(b.len > 12);
    assert_int_equal(b.data[2], 1);
    assert_int_equal(b.data[11], 1);
    uint8_t enc[64];
    size_t n = 0;
    memcpy(enc, b.data, 11), n = 11;
    for (uint64_t v = ((uint64_t)1 << 48) - 3; v >= 0x80; v >>= 7) enc[n++] = (uint8_t)(v | 0x80);
    enc[n++] = (uint8_t)((((uint64_t)1 << 48) - 3) >> 42);
    memcpy(enc + n, b.data + 12, b.len - 12), n += b.len - 12;
    au_buf_free(&b);
    au_ewflag *g = NULL;
    assert_int_equal(au_ewflag_decode(enc, n, &g), AU_OK);
    assert_int_equal(au_ewflag_enable(g, NULL, 9), AU_OK);    /* dot 2^48 - 2: the last */
    au_ewflag *ref = NULL;
    assert_int_equal(au_ewflag_copy(g, &ref), AU_OK);
    au_ewflag *d = au_ewflag_new_delta();
    assert_int_equal(au_ewflag_enable(g, d, 9), AU_EFULL);
    assert_true(au_ewflag_equal(g, ref));
    assert_int_equal(au_ewflag_enable(g, NULL, 10), AU_OK); /* other replicas go on */
    assert_true(au_ewflag_value(g));
    au_ewflag_free(f), au_ewflag_free(g), au_ewflag_free(ref), au_ewflag_free(d);
}

/* ---- the replica limit ------------------------------------------------------------------------ */

#define MAX_REPLICAS 65534 /* "65,534 replicas per state" */

static void one_replica_past_the_limit_is_refused(void **st) {
    (void)st;
    au_ewflag *f = au_ewflag_new(), *ref = NULL;
    for (uint64_t r = 0; r < MAX_REPLICAS; r++) assert_int_equal(au_ewflag_enable(f, NULL, r + 1), AU_OK);
    assert_int_equal(au_ewflag_copy(f, &ref), AU_OK);
    assert_int_equal(au_ewflag_enable(f, NULL, MAX_REPLICAS + 1), AU_EFULL);
    assert_true(au_ewflag_equal(f, ref));
    assert_int_equal(au_ewflag_enable(f, NULL, 1), AU_OK); /* known replicas still write */
    /* a join that would bring one more: AU_EFULL, and the state is still usable */
    au_ewflag *o = au_ewflag_new();
    assert_int_equal(au_ewflag_enable(o, NULL, UINT64_MAX), AU_OK);
    assert_int_equal(au_ewflag_join(f, o), AU_EFULL);
    assert_true(au_ewflag_value(f));
    void *c = roundtrip(&au_ewflag_type, f);
    assert_true(au_ewflag_equal(c, f));
    /* the other way round: o learns them all but one */
    assert_int_equal(au_ewflag_join(o, ref), AU_EFULL);
    au_ewflag_free(c), au_ewflag_free(o), au_ewflag_free(ref), au_ewflag_free(f);
}

/* A map of maps of sets whose mutator forgets a level: it is handed the inner map and adds to it
 * as to a set. The set's mutator refuses the map (AU_ETYPE), and the outer map is unchanged.
 * Likewise every mutator refuses, and every reader reads as bottom, an object of another type. */
static AU_CRDT_ORMAP_TYPE(maps_of_sets_type, "test.mapsofsets.1", &au_ormap_orset_type);

static au_err add_one_level_short(void *v, void *dv, void *arg) {
    (void)arg;
    return au_orset_add(v, dv, 7, "x", 1); /* v is an au_ormap of sets, not a set */
}

static au_err add_x_to_set(void *v, void *dv, void *arg) {
    (void)arg;
    return au_orset_add(v, dv, 7, "x", 1);
}
static au_err update_inner_set(void *v, void *dv, void *arg) {
    return au_ormap_update(v, dv, "j", 1, add_x_to_set, arg);
}

static void a_mutator_of_the_wrong_value_type_is_refused(void **st) {
    (void)st;
    au_ormap *m = au_crdt_new(&maps_of_sets_type), *d = au_crdt_new_delta(&maps_of_sets_type);
    au_ormap *ref = au_crdt_new(&maps_of_sets_type);
    assert_int_equal(au_ormap_update(m, d, "k", 1, add_one_level_short, NULL), AU_ETYPE);
    assert_int_equal(au_ormap_update(m, NULL, "k", 1, add_one_level_short, NULL), AU_ETYPE);
    assert_true(maps_of_sets_type.equal(m, ref));
    assert_true(maps_of_sets_type.is_bottom(d));
    assert_false(au_ormap_contains(m, "k", 1));
    /* and a set's mutator given a map, or a map's a set, directly */
    au_orset *set = au_orset_new();
    assert_int_equal(au_orset_remove((au_orset *)m, NULL, "x", 1), AU_ETYPE);
    assert_int_equal(au_orset_clear((au_orset *)m, NULL), AU_ETYPE);
    assert_int_equal(au_ormap_remove((au_ormap *)set, NULL, "k", 1), AU_ETYPE);
    assert_int_equal(au_mvreg_clear((au_mvreg *)set, NULL), AU_ETYPE);
    assert_int_equal(au_ewflag_disable((au_ewflag *)set, NULL, 1), AU_ETYPE);
    assert_int_equal(au_dwflag_disable((au_dwflag *)set, NULL, 1), AU_ETYPE);
    assert_int_equal(au_twopset_remove((au_twopset *)set, NULL, "x", 1), AU_ETYPE);
    assert_int_equal(au_lwwmap_remove((au_lwwmap *)set, NULL, 1, 1, "k", 1), AU_ETYPE);
    assert_true(au_orset_is_bottom(set));
    /* the readers read an object of another type as bottom, as they read NULL */
    assert_int_equal(au_orset_add(set, NULL, 7, "x", 1), AU_OK);
    assert_int_equal(au_ormap_update(m, NULL, "k", 1, update_inner_set, NULL), AU_OK);
    au_crdt_iter it = AU_CRDT_ITER_INIT;
    au_crdt_bytes b, v;
    const void *val;
    assert_false(au_gset_contains((au_gset *)set, "x", 1));
    assert_int_equal(au_gset_size((au_gset *)set), 0);
    assert_false(au_gset_next((au_gset *)set, &it, &b));
    assert_false(au_twopset_contains((au_twopset *)set, "x", 1));
    assert_int_equal(au_twopset_size((au_twopset *)set), 0);
    assert_false(au_twopset_next((au_twopset *)set, &it, &b));
    assert_int_equal(au_gcounter_value((au_gcounter *)set), 0);
    assert_int_equal(au_pncounter_value((au_pncounter *)set), 0);
    assert_false(au_ewflag_value((au_ewflag *)set));
    assert_false(au_dwflag_value((au_dwflag *)set));
    assert_int_equal(au_mvreg_count((au_mvreg *)set), 0);
    assert_false(au_mvreg_next((au_mvreg *)set, &it, &b));
    assert_false(au_lwwreg_get((au_lwwreg *)set, &v));
    assert_int_equal(au_lwwreg_timestamp((au_lwwreg *)set), 0);
    assert_false(au_lwwmap_get((au_lwwmap *)set, "x", 1, &v));
    assert_int_equal(au_lwwmap_size((au_lwwmap *)set), 0);
    assert_false(au_lwwmap_next((au_lwwmap *)set, &it, &b, &v));
    assert_null(au_ormap_get((au_ormap *)set, "x", 1));
    assert_false(au_ormap_contains((au_ormap *)set, "x", 1));
    assert_int_equal(au_ormap_size((au_ormap *)set), 0);
    assert_false(au_ormap_next((au_ormap *)set, &it, &b, &val));
    assert_false(au_orset_contains((au_orset *)m, "k", 1));
    assert_int_equal(au_orset_size((au_orset *)m), 0);
    assert_false(au_orset_next((au_orset *)m, &it, &b));
    assert_int_equal(au_orset_memory((au_orset *)m), 0);
    /* a value of a map of maps read one level short */
    assert_false(au_orset_contains(au_ormap_get(m, "k", 1), "x", 1));
    assert_true(au_orset_contains(au_ormap_get(au_ormap_get(m, "k", 1), "j", 1), "x", 1));
    au_orset_free(set);
    maps_of_sets_type.free(m), maps_of_sets_type.free(d), maps_of_sets_type.free(ref);
}

/* One replica id used by two replicas at once (ids must never be reused, aurum/crdt.h): both
 * make dot (1, 1) with other payloads. The replicas still converge, to the greater payload,
 * whichever way they join, by states or by deltas. */
static void two_replicas_with_one_id_still_converge(void **st) {
    (void)st;
    for (int k = 0; k < 3; k++) {
        const au_crdt_type *t = k == 0 ? &au_mvreg_type : k == 1 ? &au_gcounter_type : &au_pncounter_type;
        void *a = au_crdt_new(t), *b = au_crdt_new(t), *da = au_crdt_new_delta(t), *db = au_crdt_new_delta(t);
        if (k == 0) {
            assert_int_equal(au_mvreg_set(a, da, 1, "apple", 5), AU_OK);
            assert_int_equal(au_mvreg_set(b, db, 1, "pear", 4), AU_OK);
        } else if (k == 1) {
            assert_int_equal(au_gcounter_inc(a, da, 1, 3), AU_OK);
            assert_int_equal(au_gcounter_inc(b, db, 1, 5), AU_OK);
        } else {
            assert_int_equal(au_pncounter_add(a, da, 1, -3), AU_OK);
            assert_int_equal(au_pncounter_add(b, db, 1, 5), AU_OK);
        }
        void *ab = NULL, *ba = NULL, *abd = NULL, *bad = NULL;
        assert_int_equal(t->copy(a, &ab), AU_OK), assert_int_equal(t->join(ab, b), AU_OK);
        assert_int_equal(t->copy(b, &ba), AU_OK), assert_int_equal(t->join(ba, a), AU_OK);
        assert_true(t->equal(ab, ba));
        assert_int_equal(t->digest(ab), t->digest(ba));
        assert_int_equal(t->copy(a, &abd), AU_OK), assert_int_equal(t->join(abd, db), AU_OK);
        assert_int_equal(t->copy(b, &bad), AU_OK), assert_int_equal(t->join(bad, da), AU_OK);
        assert_true(t->equal(abd, bad));
        assert_true(t->equal(abd, ab));
        /* what a replica would forward keeps the winner */
        assert_int_equal(t->delta_minus(db, a), AU_OK);
        void *via = NULL;
        assert_int_equal(t->copy(a, &via), AU_OK), assert_int_equal(t->join(via, db), AU_OK);
        assert_true(t->equal(via, ab));
        if (k == 0) {
            au_crdt_iter it = AU_CRDT_ITER_INIT;
            au_crdt_bytes v;
            assert_int_equal(au_mvreg_count(ab), 1);
            assert_true(au_mvreg_next(ab, &it, &v));
            assert_int_equal(v.len, 5); /* "apple": the longer */
        } else if (k == 1) {
            assert_int_equal(au_gcounter_value(ab), 5);
        } else {
            assert_int_equal(au_pncounter_value(ab), 5);
        }
        t->free(a), t->free(b), t->free(da), t->free(db), t->free(ab), t->free(ba);
        t->free(abd), t->free(bad), t->free(via);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(free_null_is_a_no_op_for_every_type),
        cmocka_unit_test(bottoms_and_deltas_copy_encode_decode_digest),
        cmocka_unit_test(encode_appends_to_a_buffer_holding_data),
        cmocka_unit_test(join_with_itself_is_idempotent_and_minus_with_itself_refused),
        cmocka_unit_test(the_state_as_its_own_delta_is_refused),
        cmocka_unit_test(a_delta_accumulator_is_no_state_to_mutate),
        cmocka_unit_test(objects_of_another_type_are_refused_by_the_vtable),
        cmocka_unit_test(a_mutator_of_the_wrong_value_type_is_refused),
        cmocka_unit_test(two_replicas_with_one_id_still_converge),
        cmocka_unit_test(ormaps_of_other_value_types_are_refused),
        cmocka_unit_test(ormap_types_over_non_causal_values_make_nothing),
        cmocka_unit_test(nested_maps_round_trip_and_refuse_their_inner_type),
        cmocka_unit_test(modes_survive_copy_and_minus_takes_any_mode),
        cmocka_unit_test(reads_of_null_objects_read_bottom),
        cmocka_unit_test(mutators_refuse_a_null_state),
        cmocka_unit_test(null_bytes_with_a_length_are_refused_and_never_read),
        cmocka_unit_test(null_bytes_of_length_zero_are_the_empty_string),
        cmocka_unit_test(lengths_past_the_limit_are_refused_without_reading),
        cmocka_unit_test(one_mib_elements_and_embedded_nuls),
        cmocka_unit_test(counters_at_their_limits),
        cmocka_unit_test(replica_ids_zero_and_max_are_ordinary),
        cmocka_unit_test(prune_of_self_or_an_unknown_replica),
        cmocka_unit_test(iterating_bottom_objects_ends_at_once),
        cmocka_unit_test(iterating_while_mutating_stays_in_bounds_and_ends),
        cmocka_unit_test(removing_what_is_absent),
        cmocka_unit_test(lww_ties_and_extreme_timestamps),
        cmocka_unit_test(mvreg_many_concurrent_writes),
        cmocka_unit_test(ormap_values_under_failing_mutators_and_read_out),
        cmocka_unit_test(one_dot_past_the_limit_is_refused),
        cmocka_unit_test(one_replica_past_the_limit_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
