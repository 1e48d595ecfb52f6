/* Properties of GSet, 2PSet and ORSet (crdt_harness.h) against event models over six elements
 * e0..e5, plus hand-picked cases: add-wins, no resurrection, removals in deltas, large joins. */
#include "crdt_harness.h"

enum { K_ADD = 1, K_REMOVE, K_CLEAR };
#define NELEM 6

static size_t elem_bytes(int e, char buf[8]) { return (size_t)snprintf(buf, 8, "e%d", e); }

/* Iterates a set through its next() function and returns the bitmask of elements seen. */
typedef bool (*next_fn)(const void *s, au_crdt_iter *it, au_crdt_bytes *elem);
static unsigned iterated(const void *s, next_fn next) {
    unsigned got = 0;
    au_crdt_iter it = AU_CRDT_ITER_INIT;
    au_crdt_bytes b;
    while (next(s, &it, &b)) {
        const char *p = b.ptr;
        assert_true(b.len == 2 && p[0] == 'e' && p[1] >= '0' && p[1] < '0' + NELEM);
        int e = p[1] - '0';
        assert_false(got >> e & 1); /* each element once */
        got |= 1u << e;
    }
    return got;
}

static void pick(harness *h, int r, hev *e) {
    (void)r;
    e->elem = h_below(&h->rng, NELEM);
    int k = h_below(&h->rng, 20);
    e->kind = k < 12 ? K_ADD : k < 19 ? K_REMOVE : K_CLEAR;
}

static void pick_add(harness *h, int r, hev *e) {
    (void)r;
    e->kind = K_ADD;
    e->elem = h_below(&h->rng, NELEM);
}

/* ---- GSet ---------------------------------------------------------------------------------- */

static bool gset_record(harness *h, int r, hev *e, int index) {
    (void)h, (void)r, (void)e, (void)index;
    return true;
}

static au_err gset_apply(harness *h, void *s, void *d, const hev *e, int index) {
    (void)h, (void)index;
    char b[8];
    size_t n = elem_bytes(e->elem, b);
    return au_gset_add(s, d, b, n);
}

static bool gset_next(const void *s, au_crdt_iter *it, au_crdt_bytes *b) { return au_gset_next(s, it, b); }

static void gset_check(harness *h, const void *s, uint64_t mask) {
    unsigned want = 0;
    for (int i = 0; i < h->nev; i++)
        if (mask >> i & 1) want |= 1u << h->ev[i].elem;
    for (int e = 0; e < NELEM; e++) {
        char b[8];
        size_t n = elem_bytes(e, b);
        assert_int_equal(au_gset_contains(s, b, n), want >> e & 1);
    }
    assert_int_equal(au_gset_size(s), (size_t)__builtin_popcount(want));
    assert_int_equal(iterated(s, gset_next), want);
}

static const model gset_model = { &au_gset_type, pick_add, gset_record, gset_apply, gset_check, false, false };

/* ---- 2PSet --------------------------------------------------------------------------------- */

static void twopset_pick(harness *h, int r, hev *e) {
    pick(h, r, e);
    if (e->kind == K_CLEAR) e->kind = K_ADD;
}

static bool removed_in(const harness *h, uint64_t mask, int elem) {
    for (int i = 0; i < h->nev; i++)
        if ((mask >> i & 1) && h->ev[i].kind == K_REMOVE && h->ev[i].elem == elem) return true;
    return false;
}

static bool twopset_record(harness *h, int r, hev *e, int index) {
    (void)index;
    return e->kind != K_ADD || !removed_in(h, h->seen[r], e->elem);
}

static au_err twopset_apply(harness *h, void *s, void *d, const hev *e, int index) {
    (void)h, (void)index;
    char b[8];
    size_t n = elem_bytes(e->elem, b);
    return e->kind == K_ADD ? au_twopset_add(s, d, b, n) : au_twopset_remove(s, d, b, n);
}

static bool twopset_next(const void *s, au_crdt_iter *it, au_crdt_bytes *b) { return au_twopset_next(s, it, b); }

static void twopset_check(harness *h, const void *s, uint64_t mask) {
    unsigned want = 0;
    for (int i = 0; i < h->nev; i++)
        if ((mask >> i & 1) && h->ev[i].kind == K_ADD && !removed_in(h, mask, h->ev[i].elem))
            want |= 1u << h->ev[i].elem;
    for (int e = 0; e < NELEM; e++) {
        char b[8];
        size_t n = elem_bytes(e, b);
        assert_int_equal(au_twopset_contains(s, b, n), want >> e & 1);
    }
    assert_int_equal(au_twopset_size(s), (size_t)__builtin_popcount(want));
    assert_int_equal(iterated(s, twopset_next), want);
}

static const model twopset_model = { &au_twopset_type, twopset_pick, twopset_record, twopset_apply, twopset_check, false, false };

/* ---- ORSet: an add observes the element's live adds; so does a remove; clear observes all -- */

static bool orset_record(harness *h, int r, hev *e, int index) {
    (void)index;
    if (e->kind == EV_PRUNE) return h_record_prune(h, r, e, false);
    e->obs = h_live_at(h, h->seen[r], -1, e->kind == K_CLEAR ? -1 : e->elem);
    e->live = e->kind == K_ADD;
    return true;
}

static au_err orset_apply(harness *h, void *s, void *d, const hev *e, int index) {
    (void)index;
    if (e->kind == EV_PRUNE) return h_apply_prune(h, s, d, e);
    char b[8];
    size_t n = elem_bytes(e->elem, b);
    if (e->kind == K_CLEAR) return au_orset_clear(s, d);
    return e->kind == K_ADD ? au_orset_add(s, d, h->ids[e->replica], b, n) : au_orset_remove(s, d, b, n);
}

static bool orset_next(const void *s, au_crdt_iter *it, au_crdt_bytes *b) { return au_orset_next(s, it, b); }

static void orset_check(harness *h, const void *s, uint64_t mask) {
    uint64_t live = h_live(h, mask);
    unsigned want = 0;
    for (int i = 0; i < h->nev; i++)
        if (live >> i & 1) want |= 1u << h->ev[i].elem;
    for (int e = 0; e < NELEM; e++) {
        char b[8];
        size_t n = elem_bytes(e, b);
        assert_int_equal(au_orset_contains(s, b, n), want >> e & 1);
    }
    assert_int_equal(au_orset_size(s), (size_t)__builtin_popcount(want));
    assert_int_equal(iterated(s, orset_next), want);
}

static const model orset_model = { &au_orset_type, pick, orset_record, orset_apply, orset_check, false, true };

static void gset_properties_hold_on_random_histories(void **state) {
    (void)state;
    h_run(&gset_model, 21);
}

static void twopset_properties_hold_on_random_histories(void **state) {
    (void)state;
    h_run(&twopset_model, 22);
}

static void orset_properties_hold_on_random_histories(void **state) {
    (void)state;
    h_run(&orset_model, 23);
}

/* ---- hand-picked ORSet cases --------------------------------------------------------------- */

static void orset_concurrent_add_and_remove_of_one_element_keeps_it(void **state) {
    (void)state;
    au_orset *a = au_orset_new(), *b = au_orset_new();
    assert_int_equal(au_orset_add(a, NULL, 1, "x", 1), AU_OK);
    assert_int_equal(au_orset_join(b, a), AU_OK);
    au_orset *da = au_orset_new_delta(), *db = au_orset_new_delta();
    assert_int_equal(au_orset_remove(a, da, "x", 1), AU_OK); /* a removes x ... */
    assert_int_equal(au_orset_add(b, db, 2, "x", 1), AU_OK);  /* ... while b adds it again */
    assert_int_equal(au_orset_join(a, db), AU_OK);
    assert_int_equal(au_orset_join(b, da), AU_OK);
    assert_true(au_orset_contains(a, "x", 1) && au_orset_contains(b, "x", 1));
    assert_true(au_orset_equal(a, b));
    assert_int_equal(au_orset_digest(a), au_orset_digest(b));
    au_orset_free(a), au_orset_free(b), au_orset_free(da), au_orset_free(db);
}

static void orset_removed_element_is_not_resurrected_by_an_old_state(void **state) {
    (void)state;
    au_orset *a = au_orset_new(), *old;
    assert_int_equal(au_orset_add(a, NULL, 1, "x", 1), AU_OK);
    assert_int_equal(au_orset_copy(a, &old), AU_OK);
    assert_int_equal(au_orset_remove(a, NULL, "x", 1), AU_OK);
    assert_int_equal(au_orset_join(a, old), AU_OK);
    assert_false(au_orset_contains(a, "x", 1));
    assert_int_equal(au_orset_size(a), 0);
    au_orset_free(a), au_orset_free(old);
}

/* A delta made of a removal carries it to a large state without visiting its other elements,
 * and the state it reaches forgets the element while keeping the others. */
static void orset_removal_delta_reaches_a_large_state(void **state) {
    (void)state;
    au_orset *a = au_orset_new(), *b;
    char k[16];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(au_orset_add(a, NULL, 7, k, (size_t)n), AU_OK);
    }
    assert_int_equal(au_orset_copy(a, &b), AU_OK);
    au_orset *d = au_orset_new_delta();
    assert_int_equal(au_orset_remove(a, d, "k42", 3), AU_OK);
    assert_int_equal(au_orset_join(b, d), AU_OK);
    assert_false(au_orset_contains(b, "k42", 3));
    assert_true(au_orset_contains(b, "k43", 3));
    assert_int_equal(au_orset_size(b), 4999);
    assert_true(au_orset_equal(a, b));
    assert_int_equal(au_orset_digest(a), au_orset_digest(b));
    au_orset_free(a), au_orset_free(b), au_orset_free(d);
}

/* Large joins take the sampled paths of orset_join (the table and the ext array sized from a
 * sample of the source; new elements added during the pass or after it). Two replicas of a
 * 4,000-element base each remove some of it, one re-adds some of what the other removes, both
 * add the same 2,000 new elements concurrently and each adds its own: both join orders give
 * exactly the add-wins result. */
enum { BASE = 4000, SAME = 2000, OWN_A = 1500, OWN_B = 3000 };

static void add_range(au_orset *s, uint64_t replica, const char *prefix, int n) {
    char k[16];
    for (int i = 0; i < n; i++) {
        int len = snprintf(k, sizeof k, "%s%d", prefix, i);
        assert_int_equal(au_orset_add(s, NULL, replica, k, (size_t)len), AU_OK);
    }
}

static bool base_survives(int i) {
    bool readded = i % 5 == 0 && i % 7 != 0; /* by a, concurrently with b's removal */
    return i % 7 != 0 && (i % 11 != 0 || readded);
}

static void check_large_join(const au_orset *s) {
    char k[16];
    size_t want = SAME + OWN_A + OWN_B;
    for (int i = 0; i < BASE; i++) {
        int len = snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(au_orset_contains(s, k, (size_t)len), base_survives(i));
        want += base_survives(i);
    }
    const char *pre[] = { "c", "a", "b" };
    const int n[] = { SAME, OWN_A, OWN_B };
    for (int p = 0; p < 3; p++)
        for (int i = 0; i < n[p]; i++) {
            int len = snprintf(k, sizeof k, "%s%d", pre[p], i);
            assert_true(au_orset_contains(s, k, (size_t)len));
        }
    assert_int_equal(au_orset_size(s), want);
}

static void orset_large_joins_give_the_add_wins_result(void **state) {
    (void)state;
    au_orset *base = au_orset_new(), *a, *b;
    add_range(base, 1, "k", BASE);
    assert_int_equal(au_orset_copy(base, &a), AU_OK);
    assert_int_equal(au_orset_copy(base, &b), AU_OK);
    char k[16];
    for (int i = 0; i < BASE; i++) {
        int len = snprintf(k, sizeof k, "k%d", i);
        if (i % 7 == 0) assert_int_equal(au_orset_remove(a, NULL, k, (size_t)len), AU_OK);
        if (i % 5 == 0 && i % 7 != 0)
            assert_int_equal(au_orset_add(a, NULL, 2, k, (size_t)len), AU_OK);
        if (i % 11 == 0) assert_int_equal(au_orset_remove(b, NULL, k, (size_t)len), AU_OK);
    }
    add_range(a, 2, "c", SAME), add_range(b, 3, "c", SAME);
    add_range(a, 2, "a", OWN_A), add_range(b, 3, "b", OWN_B);
    au_orset *ab, *ba, *empty = au_orset_new();
    assert_int_equal(au_orset_copy(a, &ab), AU_OK);
    assert_int_equal(au_orset_copy(b, &ba), AU_OK);
    assert_int_equal(au_orset_join(ab, b), AU_OK);
    assert_int_equal(au_orset_join(ba, a), AU_OK);
    check_large_join(ab);
    check_large_join(ba);
    assert_true(au_orset_equal(ab, ba));
    assert_int_equal(au_orset_digest(ab), au_orset_digest(ba));
    assert_int_equal(au_orset_join(ab, a), AU_OK); /* idempotent */
    assert_true(au_orset_equal(ab, ba));
    assert_int_equal(au_orset_digest(ab), au_orset_digest(ba));
    assert_int_equal(au_orset_join(empty, ab), AU_OK); /* into an empty set */
    check_large_join(empty);
    assert_true(au_orset_equal(empty, ba));
    assert_int_equal(au_orset_digest(empty), au_orset_digest(ba));
    au_orset_free(base), au_orset_free(a), au_orset_free(b), au_orset_free(ab);
    au_orset_free(ba), au_orset_free(empty);
}

static void twopset_removed_element_cannot_come_back(void **state) {
    (void)state;
    au_twopset *s = au_twopset_new();
    assert_int_equal(au_twopset_add(s, NULL, "x", 1), AU_OK);
    assert_int_equal(au_twopset_remove(s, NULL, "x", 1), AU_OK);
    assert_int_equal(au_twopset_add(s, NULL, "x", 1), AU_ESTATE);
    assert_false(au_twopset_contains(s, "x", 1));
    au_twopset_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gset_properties_hold_on_random_histories),
        cmocka_unit_test(twopset_properties_hold_on_random_histories),
        cmocka_unit_test(orset_properties_hold_on_random_histories),
        cmocka_unit_test(orset_concurrent_add_and_remove_of_one_element_keeps_it),
        cmocka_unit_test(orset_removed_element_is_not_resurrected_by_an_old_state),
        cmocka_unit_test(orset_removal_delta_reaches_a_large_state),
        cmocka_unit_test(orset_large_joins_give_the_add_wins_result),
        cmocka_unit_test(twopset_removed_element_cannot_come_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
