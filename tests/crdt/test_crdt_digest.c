/* Digests (au_crdt_type.digest) of every built-in CRDT, the six built-in ORMaps and two maps of
 * maps: the same lattice element reached through different histories — replicas joined in
 * another order (so replica indexes are numbered differently and key tables filled in another
 * order), deltas joined in reverse, a decoded copy, a copy, the delta accumulator of every
 * change, after pruning a departed replica — has one digest; and any single change (an element
 * more, an increment, a remove, a register write, a retirement) changes it. The randomized
 * checks (every equality the property harness asserts, collisions counted) are in
 * crdt_harness.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <aurum/crdt.h>

static AU_CRDT_ORMAP_TYPE(nested_sets_type, "test.digest.nested_sets.1", &au_ormap_orset_type);
static AU_CRDT_ORMAP_TYPE(nested_counters_type, "test.digest.nested_counters.1",
                          &au_ormap_pncounter_type);

static const au_crdt_type *const families[] = {
    &au_gset_type, &au_twopset_type, &au_orset_type, &au_gcounter_type, &au_pncounter_type,
    &au_mvreg_type, &au_ewflag_type, &au_dwflag_type, &au_lwwreg_type, &au_lwwmap_type,
    &au_ormap_gcounter_type, &au_ormap_pncounter_type, &au_ormap_orset_type,
    &au_ormap_mvreg_type, &au_ormap_ewflag_type, &au_ormap_dwflag_type, &nested_sets_type,
    &nested_counters_type,
};
#define NFAM (sizeof families / sizeof *families)

static const uint64_t ids[3] = { 0x9E3779B97F4A7C15ull, 0x2545F4914F6CDD1Dull, 0x7F4A7C159E3779B9ull };
enum { NOPS = 240, NELEM = 30, NKEY = 5 };

static bool is_causal(const au_crdt_type *t) { return t->causal_ != NULL; }

/* Elements of op i: one of NELEM old ones, or a new one for the change ops (i >= 1000). */
static size_t elem(int i, char buf[16]) {
    return (size_t)(i >= 1000 ? snprintf(buf, 16, "new%d", i) : snprintf(buf, 16, "e%d", i % NELEM));
}

/* The element a remove of op i removes: always an old one. */
static size_t old_elem(int i, char buf[16]) { return (size_t)snprintf(buf, 16, "e%d", i % NELEM); }

static au_err apply_op(const au_crdt_type *t, void *s, void *d, uint64_t rep, int i);

struct vop {
    const au_crdt_type *t;
    uint64_t rep;
    int i;
};

static au_err value_op(void *v, void *dv, void *arg) {
    const struct vop *o = arg;
    return apply_op(o->t, v, dv, o->rep, o->i);
}

/* Operation i of type t by replica rep: a mix of adds, removes, increments, writes. */
static au_err apply_op(const au_crdt_type *t, void *s, void *d, uint64_t rep, int i) {
    char b[16], k[16];
    size_t n = elem(i, b);
    if (t == &au_gset_type) return au_gset_add(s, d, b, n);
    if (t == &au_twopset_type) {
        if (i % 7 == 3) return au_twopset_remove(s, d, b, old_elem(i / 2, b));
        au_err err = au_twopset_add(s, d, b, n);
        return err == AU_ESTATE ? AU_OK : err;
    }
    if (t == &au_orset_type)
        return i % 5 == 4 ? au_orset_remove(s, d, b, old_elem(i * 7, b)) : au_orset_add(s, d, rep, b, n);
    if (t == &au_gcounter_type) return au_gcounter_inc(s, d, rep, (uint64_t)(i % 4 + 1));
    if (t == &au_pncounter_type) return au_pncounter_add(s, d, rep, i % 3 ? i % 5 + 1 : -(i % 4 + 1));
    if (t == &au_mvreg_type) return i % 9 == 8 ? au_mvreg_clear(s, d) : au_mvreg_set(s, d, rep, b, n);
    if (t == &au_ewflag_type)
        return i % 7 == 2 ? au_ewflag_disable(s, d, rep) : au_ewflag_enable(s, d, rep);
    if (t == &au_dwflag_type)
        return i % 7 == 2 ? au_dwflag_disable(s, d, rep) : au_dwflag_enable(s, d, rep);
    if (t == &au_lwwreg_type) return au_lwwreg_set(s, d, rep, (uint64_t)(i * 5 % 23 + 1), b, n);
    size_t kn = (size_t)snprintf(k, sizeof k, "k%d", i % (t == &au_lwwmap_type ? 6 : NKEY));
    if (t == &au_lwwmap_type)
        return i % 4 == 3 ? au_lwwmap_remove(s, d, rep, (uint64_t)i, k, kn)
                          : au_lwwmap_set(s, d, rep, (uint64_t)(i * 7 % 31), k, kn, b, n);
    assert_non_null(t->param); /* an ORMap */
    if (i % 7 == 6 && i < 1000) return au_ormap_remove(s, d, k, kn);
    struct vop o = { t->param, rep, i < 1000 ? i / 2 : i };
    return au_ormap_update(s, d, k, kn, value_op, &o);
}

static void same(const au_crdt_type *t, const void *a, const void *b) {
    assert_true(t->equal(a, b));
    assert_int_equal(t->digest(a), t->digest(b));
}

static void differ(const au_crdt_type *t, const void *a, const void *b) {
    assert_false(t->equal(a, b));
    assert_int_not_equal(t->digest(a), t->digest(b));
}

static void *copy_of(const au_crdt_type *t, const void *s) {
    void *c = NULL;
    assert_int_equal(t->copy(s, &c), AU_OK);
    return c;
}

static bool same_encoding(const au_crdt_type *t, const void *a, const void *b) {
    au_buf ea = { 0 }, eb = { 0 };
    assert_int_equal(t->encode(a, &ea), AU_OK);
    assert_int_equal(t->encode(b, &eb), AU_OK);
    bool same_bytes = ea.len == eb.len && memcmp(ea.data, eb.data, ea.len) == 0;
    au_buf_free(&ea);
    au_buf_free(&eb);
    return same_bytes;
}

/* Three replicas' histories of NOPS operations (replica i % 3 does op i; each syncs from the
 * next every 40 ops, so removes also remove others' adds), their deltas and the accumulator. */
typedef struct world {
    const au_crdt_type *t;
    void *r[3], *delta[NOPS], *acc;
} world;

static void world_build(world *w, const au_crdt_type *t) {
    *w = (world){ .t = t, .acc = au_crdt_new_delta(t) };
    for (int r = 0; r < 3; r++) assert_non_null(w->r[r] = au_crdt_new(t));
    for (int i = 0; i < NOPS; i++) {
        int r = i % 3;
        assert_non_null(w->delta[i] = au_crdt_new_delta(t));
        assert_int_equal(apply_op(t, w->r[r], w->delta[i], ids[r], i), AU_OK);
        assert_int_equal(t->join(w->acc, w->delta[i]), AU_OK);
        if (i % 40 == 39) assert_int_equal(t->join(w->r[r], w->r[(r + 1) % 3]), AU_OK);
    }
}

static void world_free(world *w) {
    for (int r = 0; r < 3; r++) w->t->free(w->r[r]);
    for (int i = 0; i < NOPS; i++) w->t->free(w->delta[i]);
    w->t->free(w->acc);
}

/* The join of the replicas in the order o[0], o[1], o[2]. */
static void *joined(const world *w, int a, int b, int c) {
    void *s = au_crdt_new(w->t);
    assert_int_equal(w->t->join(s, w->r[a]), AU_OK);
    assert_int_equal(w->t->join(s, w->r[b]), AU_OK);
    assert_int_equal(w->t->join(s, w->r[c]), AU_OK);
    return s;
}

static void same_state_through_different_histories_has_one_digest(void **state) {
    (void)state;
    int layouts_differ = 0;
    for (size_t f = 0; f < NFAM; f++) {
        const au_crdt_type *t = families[f];
        world w;
        world_build(&w, t);
        void *x = joined(&w, 0, 1, 2), *y = joined(&w, 2, 1, 0), *z = au_crdt_new(t);
        for (int i = NOPS - 1; i >= 0; i--) assert_int_equal(t->join(z, w.delta[i]), AU_OK);
        au_buf e = { 0 };
        void *dec = NULL, *c = copy_of(t, x);
        assert_int_equal(t->encode(y, &e), AU_OK);
        assert_int_equal(t->decode(t, e.data, e.len, &dec), AU_OK);
        au_buf_free(&e);
        same(t, x, y);
        same(t, x, z);
        same(t, x, dec);
        same(t, x, c);
        same(t, x, w.acc); /* a delta accumulator: normalized for its digest */
        assert_false(t->is_bottom(x));
        /* Replicas numbered in another order: the causal types' encodings differ. */
        if (!same_encoding(t, x, y)) layouts_differ++;
        else assert_false(is_causal(t));
        void *objs[] = { x, y, z, dec, c };
        for (size_t i = 0; i < 5; i++) t->free(objs[i]);
        world_free(&w);
    }
    printf("digests equal in %zu families, %d of them with different encodings\n", NFAM,
           layouts_differ);
    assert_true(layouts_differ >= 13);
}

/* A large ORSet: 6,000 elements added by three replicas, joined in two orders, and the same
 * set grown from the adds' deltas in reverse order (other table sizes, other slots). */
static void large_orset_in_three_layouts_has_one_digest(void **state) {
    (void)state;
    enum { N = 6000 };
    au_orset *r[3], *x = au_orset_new(), *y = au_orset_new(), *z = au_orset_new();
    au_orset **d = calloc(N, sizeof *d);
    char k[16];
    for (int i = 0; i < 3; i++) r[i] = au_orset_new();
    for (int i = 0; i < N; i++) {
        int n = snprintf(k, sizeof k, "x%d", i);
        d[i] = au_orset_new_delta();
        assert_int_equal(au_orset_add(r[i % 3], d[i], ids[i % 3], k, (size_t)n), AU_OK);
    }
    for (int i = N - 1; i >= 0; i--) assert_int_equal(au_orset_join(z, d[i]), AU_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(au_orset_join(x, r[i]), AU_OK);
        assert_int_equal(au_orset_join(y, r[2 - i]), AU_OK);
    }
    assert_int_equal(au_orset_size(x), N);
    same(&au_orset_type, x, y);
    same(&au_orset_type, x, z);
    assert_false(same_encoding(&au_orset_type, x, y));
    assert_false(same_encoding(&au_orset_type, x, z));
    assert_int_equal(au_orset_digest(x), au_orset_digest(z));
    assert_int_equal(au_orset_remove(z, NULL, "x17", 3), AU_OK);
    differ(&au_orset_type, x, z);
    for (int i = 0; i < N; i++) au_orset_free(d[i]);
    free(d);
    for (int i = 0; i < 3; i++) au_orset_free(r[i]);
    au_orset_free(x), au_orset_free(y), au_orset_free(z);
}

/* Any single change to a state changes its digest: ops of every kind (adds of new elements,
 * removes, increments, decrements, writes, clears, key removals, nested updates). */
static void one_change_changes_the_digest(void **state) {
    (void)state;
    for (size_t f = 0; f < NFAM; f++) {
        const au_crdt_type *t = families[f];
        world w;
        world_build(&w, t);
        void *x = joined(&w, 0, 1, 2);
        uint64_t dx = t->digest(x);
        int changed = 0;
        for (int k = 0; k < 24; k++) {
            void *c = copy_of(t, x), *d = au_crdt_new_delta(t);
            assert_int_equal(apply_op(t, c, d, ids[k % 3], 1000 + k), AU_OK);
            if (!t->equal(c, x)) {
                differ(t, c, x);
                changed++;
                void *j = copy_of(t, x); /* the delta carries the change: same digest */
                assert_int_equal(t->join(j, d), AU_OK);
                same(t, j, c);
                t->free(j);
            }
            t->free(c);
            t->free(d);
        }
        if (t->param) { /* and a key removal */
            void *c = copy_of(t, x);
            assert_int_equal(au_ormap_remove(c, NULL, "k1", 2), AU_OK);
            differ(t, c, x);
            t->free(c);
        }
        assert_int_equal(t->digest(x), dx); /* nothing above touched x */
        assert_true(changed >= 16);
        t->free(x);
        world_free(&w);
    }
}

static au_err remove_b(void *v, void *dv, void *arg) {
    (void)arg;
    return au_orset_remove(v, dv, "b", 1);
}

static au_err add_ab(void *v, void *dv, void *arg) {
    au_err err = au_orset_add(v, dv, *(const uint64_t *)arg, "a", 1);
    return err ? err : au_orset_add(v, dv, *(const uint64_t *)arg, "b", 1);
}

struct call {
    au_crdt_mutator fn;
    void *arg;
};

static au_err in_inner_map(void *v, void *dv, void *arg) {
    const struct call *c = arg;
    return au_ormap_update(v, dv, "inner", 5, c->fn, c->arg);
}

/* A change inside an ORMap's value that adds no dot (a set's element removed, the key staying)
 * leaves the context as it was: the value's own digest is what tells the states apart. */
static void a_change_inside_a_map_value_changes_the_digest(void **state) {
    (void)state;
    uint64_t rep = ids[0];
    au_ormap_orset m = au_ormap_orset_new();
    assert_int_equal(au_ormap_update(m.map, NULL, "k", 1, add_ab, &rep), AU_OK);
    au_ormap_orset c;
    assert_int_equal(au_ormap_orset_copy(m, &c), AU_OK);
    assert_int_equal(au_ormap_update(c.map, NULL, "k", 1, remove_b, NULL), AU_OK);
    assert_true(au_ormap_orset_contains(c, "k", 1));
    differ(&au_ormap_orset_type, m.map, c.map);
    au_ormap_orset_free(m), au_ormap_orset_free(c);

    void *n = au_crdt_new(&nested_sets_type), *nc = NULL;
    struct call add = { add_ab, &rep }, rm = { remove_b, NULL };
    assert_int_equal(au_ormap_update(n, NULL, "outer", 5, in_inner_map, &add), AU_OK);
    assert_int_equal(nested_sets_type.copy(n, &nc), AU_OK);
    assert_int_equal(au_ormap_update(nc, NULL, "outer", 5, in_inner_map, &rm), AU_OK);
    differ(&nested_sets_type, n, nc);
    nested_sets_type.free(n), nested_sets_type.free(nc);
}

/* Pruning: the pruned states agree (the retirement marker or the counter fold hashed by replica
 * id, whichever ridx it has), and differ from the unpruned state; a stale state joined after
 * the prune changes neither. */
static void pruned_states_have_one_digest(void **state) {
    (void)state;
    int pruned = 0;
    for (size_t f = 0; f < NFAM; f++) {
        const au_crdt_type *t = families[f];
        if (!is_causal(t)) continue;
        world w;
        world_build(&w, t);
        void *x = joined(&w, 0, 1, 2), *y = joined(&w, 2, 1, 0), *before = copy_of(t, x);
        void *d = au_crdt_new_delta(t);
        assert_int_equal(t->prune(x, d, ids[1], ids[0]), AU_OK);
        if (t->prune_once) assert_int_equal(t->join(y, d), AU_OK); /* one replica folds */
        else assert_int_equal(t->prune(y, NULL, ids[1], ids[2]), AU_OK);
        same(t, x, y);
        differ(t, x, before);
        assert_int_equal(t->join(x, w.r[1]), AU_OK); /* stale: absorbed */
        same(t, x, y);
        void *c = copy_of(t, y);
        same(t, x, c);
        void *objs[] = { x, y, before, d, c };
        for (size_t i = 0; i < 5; i++) t->free(objs[i]);
        world_free(&w);
        pruned++;
    }
    assert_int_equal(pruned, 14);
}

/* Bottoms of different types, and a bottom and a state that only knows removed dots, differ. */
static void bottoms_of_different_types_differ(void **state) {
    (void)state;
    uint64_t d[NFAM];
    for (size_t f = 0; f < NFAM; f++) {
        void *b = au_crdt_new(families[f]), *bd = au_crdt_new_delta(families[f]);
        d[f] = families[f]->digest(b);
        assert_int_equal(families[f]->digest(bd), d[f]);
        families[f]->free(b);
        families[f]->free(bd);
        for (size_t g = 0; g < f; g++) assert_int_not_equal(d[f], d[g]);
    }
    au_orset *s = au_orset_new(), *e = au_orset_new();
    assert_int_equal(au_orset_add(s, NULL, 1, "a", 1), AU_OK);
    assert_int_equal(au_orset_remove(s, NULL, "a", 1), AU_OK);
    assert_int_equal(au_orset_size(s), 0);
    differ(&au_orset_type, s, e); /* the context remembers the removed add */
    au_orset_free(s), au_orset_free(e);
}

/* The typed wrappers forward to the vtable. */
static void typed_digests_forward_to_the_vtable(void **state) {
    (void)state;
    au_ormap_orset m = au_ormap_orset_new();
    assert_int_equal(au_ormap_orset_digest(m), au_ormap_orset_type.digest(m.map));
    au_gset *g = au_gset_new();
    assert_int_equal(au_gset_add(g, NULL, "a", 1), AU_OK);
    assert_int_equal(au_gset_digest(g), au_gset_type.digest(g));
    au_ormap_orset_free(m);
    au_gset_free(g);
}

/* Replicas on different machines (and versions) compare digests: the values are part of the
 * format, fixed here. Changing the hashing changes them; that needs a new type name. */
#define PIN_ORSET 0x8b907b604c2fa85cull
#define PIN_GSET 0x8ed61c57b926c15dull
#define PIN_LWWMAP 0x9b2952f321c26108ull
#define PIN_ORMAP 0x4b766736846d4ff5ull

static void digests_are_pinned(void **state) {
    (void)state;
    au_orset *o = au_orset_new();
    au_gset *g = au_gset_new();
    au_lwwmap *l = au_lwwmap_new();
    au_ormap_pncounter m = au_ormap_pncounter_new();
    assert_int_equal(au_orset_add(o, NULL, 7, "a", 1), AU_OK);
    assert_int_equal(au_orset_add(o, NULL, 9, "b", 1), AU_OK);
    assert_int_equal(au_gset_add(g, NULL, "a", 1), AU_OK);
    assert_int_equal(au_lwwmap_set(l, NULL, 7, 100, "k", 1, "v", 1), AU_OK);
    struct vop op = { &au_pncounter_type, 7, 1 };
    assert_int_equal(au_ormap_update(m.map, NULL, "k", 1, value_op, &op), AU_OK);
    printf("pinned: %016llx %016llx %016llx %016llx\n", (unsigned long long)au_orset_digest(o),
           (unsigned long long)au_gset_digest(g), (unsigned long long)au_lwwmap_digest(l),
           (unsigned long long)au_ormap_pncounter_digest(m));
    assert_int_equal(au_orset_digest(o), PIN_ORSET);
    assert_int_equal(au_gset_digest(g), PIN_GSET);
    assert_int_equal(au_lwwmap_digest(l), PIN_LWWMAP);
    assert_int_equal(au_ormap_pncounter_digest(m), PIN_ORMAP);
    au_orset_free(o), au_gset_free(g), au_lwwmap_free(l), au_ormap_pncounter_free(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_state_through_different_histories_has_one_digest),
        cmocka_unit_test(large_orset_in_three_layouts_has_one_digest),
        cmocka_unit_test(one_change_changes_the_digest),
        cmocka_unit_test(a_change_inside_a_map_value_changes_the_digest),
        cmocka_unit_test(pruned_states_have_one_digest),
        cmocka_unit_test(bottoms_of_different_types_differ),
        cmocka_unit_test(typed_digests_forward_to_the_vtable),
        cmocka_unit_test(digests_are_pinned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
