/* Redundancy removal, deterministic cases (Enes et al., "Efficient synchronization of
 * state-based CRDTs"): what a replica receives, minus what it already has, is exactly what is
 * new to it — also when a full state arrives, and when it carries a removal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <aurum/crdt.h>

static size_t encoded_len(const au_crdt_type *t, const void *s) {
    au_buf b = { 0 };
    assert_int_equal(t->encode(s, &b), AU_OK);
    size_t n = b.len;
    au_buf_free(&b);
    return n;
}

static void add_range(au_orset *s, au_orset *d, uint64_t replica, int from, int to) {
    char k[16];
    for (int i = from; i < to; i++) {
        int n = snprintf(k, sizeof k, "elem-%d", i);
        assert_int_equal(au_orset_add(s, d, replica, k, (size_t)n), AU_OK);
    }
}

/* B has 100 elements, A 90 of them; B's whole state, minus A, is the 10 A lacks. */
static void a_full_state_minus_the_local_state_is_what_is_new(void **state) {
    (void)state;
    au_orset *a = au_orset_new(), *b = au_orset_new(), *full;
    add_range(b, NULL, 2, 0, 90);
    assert_int_equal(au_orset_join(a, b), AU_OK);
    add_range(b, NULL, 2, 90, 100);
    assert_int_equal(au_orset_copy(b, &full), AU_OK);
    size_t before = encoded_len(&au_orset_type, full);
    assert_int_equal(au_orset_delta_minus(full, a), AU_OK);
    assert_int_equal(au_orset_size(full), 10);
    assert_true(au_orset_contains(full, "elem-95", 7));
    assert_false(au_orset_contains(full, "elem-5", 6));
    assert_true(encoded_len(&au_orset_type, full) * 5 < before);
    assert_int_equal(au_orset_join(a, full), AU_OK);
    assert_true(au_orset_equal(a, b));
    assert_int_equal(au_orset_digest(a), au_orset_digest(b));
    au_orset_free(a), au_orset_free(b), au_orset_free(full);
}

/* B removed an element A still has: the reduced state keeps that removal (a tomb), so joining
 * it still removes the element, although every live element was dropped as known. */
static void a_removal_inside_a_full_state_survives_the_reduction(void **state) {
    (void)state;
    au_orset *a = au_orset_new(), *b = au_orset_new(), *full;
    add_range(a, NULL, 1, 0, 50);
    assert_int_equal(au_orset_join(b, a), AU_OK);
    assert_int_equal(au_orset_remove(b, NULL, "elem-7", 6), AU_OK);
    assert_int_equal(au_orset_copy(b, &full), AU_OK);
    assert_int_equal(au_orset_delta_minus(full, a), AU_OK);
    assert_false(au_orset_is_bottom(full));
    assert_int_equal(au_orset_size(full), 0); /* nothing live is new */
    assert_true(encoded_len(&au_orset_type, full) < 48);
    assert_int_equal(au_orset_join(a, full), AU_OK);
    assert_false(au_orset_contains(a, "elem-7", 6));
    assert_true(au_orset_equal(a, b));
    assert_int_equal(au_orset_digest(a), au_orset_digest(b));
    au_orset_free(a), au_orset_free(b), au_orset_free(full);
}

/* The case where classic delta sync degenerates: A and B update concurrently and forward what
 * they receive. A's buffer holds A's own delta and B's; B, receiving that group, needs only A's
 * part — and a group it has fully seen reduces to bottom, so it is neither re-buffered nor
 * forwarded again. */
static void a_forwarded_delta_group_reduces_to_the_part_the_receiver_lacks(void **state) {
    (void)state;
    au_orset *a = au_orset_new(), *b = au_orset_new();
    au_orset *da = au_orset_new_delta(), *db = au_orset_new_delta();
    add_range(a, da, 1, 0, 20);
    add_range(b, db, 2, 20, 40);
    assert_int_equal(au_orset_join(a, db), AU_OK);
    au_orset *group = au_orset_new_delta(); /* what A would forward: its buffer */
    assert_int_equal(au_orset_join(group, da), AU_OK);
    assert_int_equal(au_orset_join(group, db), AU_OK);
    au_orset *copy;
    assert_int_equal(au_orset_copy(group, &copy), AU_OK);
    assert_int_equal(au_orset_delta_minus(copy, b), AU_OK);
    assert_int_equal(au_orset_size(copy), 20);
    assert_false(au_orset_contains(copy, "elem-25", 7));
    assert_true(encoded_len(&au_orset_type, copy) <= encoded_len(&au_orset_type, da) + 8);
    assert_int_equal(au_orset_join(b, copy), AU_OK);
    assert_true(au_orset_equal(a, b));
    assert_int_equal(au_orset_digest(a), au_orset_digest(b));
    assert_int_equal(au_orset_delta_minus(group, b), AU_OK); /* now all known */
    assert_true(au_orset_is_bottom(group));
    au_orset_free(a), au_orset_free(b), au_orset_free(da), au_orset_free(db);
    au_orset_free(group), au_orset_free(copy);
}

/* Counters: a delta already joined reduces to bottom; a newer one is kept as it is. */
static void counter_deltas_reduce_to_bottom_once_seen(void **state) {
    (void)state;
    au_pncounter *a = au_pncounter_new(), *b = au_pncounter_new();
    au_pncounter *d1 = au_pncounter_new_delta(), *d2 = au_pncounter_new_delta();
    assert_int_equal(au_pncounter_add(a, d1, 1, 5), AU_OK);
    assert_int_equal(au_pncounter_join(b, d1), AU_OK);
    assert_int_equal(au_pncounter_add(a, d2, 1, -2), AU_OK);
    au_pncounter *c;
    assert_int_equal(au_pncounter_copy(d2, &c), AU_OK);
    assert_int_equal(au_pncounter_delta_minus(c, b), AU_OK);
    assert_true(au_pncounter_equal(c, d2));
    assert_int_equal(au_pncounter_digest(c), au_pncounter_digest(d2));
    assert_int_equal(au_pncounter_delta_minus(d1, b), AU_OK);
    assert_true(au_pncounter_is_bottom(d1));
    assert_int_equal(au_pncounter_join(b, c), AU_OK);
    assert_int_equal(au_pncounter_value(b), 3);
    au_pncounter_free(a), au_pncounter_free(b), au_pncounter_free(d1), au_pncounter_free(d2);
    au_pncounter_free(c);
}

/* ORMap: a full map state minus a replica that lacks one key's update keeps that update only. */
static au_err bump(au_pncounter *v, au_pncounter *dv, void *arg) {
    return au_pncounter_add(v, dv, *(uint64_t *)arg, 1);
}

static void ormap_full_state_minus_keeps_only_the_missing_update(void **state) {
    (void)state;
    au_ormap_pncounter a = au_ormap_pncounter_new(), b = au_ormap_pncounter_new(), full;
    uint64_t ra = 1, rb = 2;
    char k[8];
    for (int i = 0; i < 10; i++) {
        int n = snprintf(k, sizeof k, "k%d", i);
        assert_int_equal(au_ormap_pncounter_update(a, AU_ORMAP_NODELTA(pncounter), k, (size_t)n, bump, &ra), AU_OK);
    }
    assert_int_equal(au_ormap_pncounter_join(b, a), AU_OK);
    assert_int_equal(au_ormap_pncounter_update(b, AU_ORMAP_NODELTA(pncounter), "k3", 2, bump, &rb), AU_OK);
    assert_int_equal(au_ormap_pncounter_copy(b, &full), AU_OK);
    assert_int_equal(au_ormap_pncounter_delta_minus(full, a), AU_OK);
    assert_int_equal(au_ormap_pncounter_size(full), 1);
    assert_int_equal(au_pncounter_value(au_ormap_pncounter_get(full, "k3", 2)), 1);
    assert_int_equal(au_ormap_pncounter_join(a, full), AU_OK);
    assert_int_equal(au_pncounter_value(au_ormap_pncounter_get(a, "k3", 2)), 2);
    assert_true(au_ormap_pncounter_equal(a, b));
    assert_int_equal(au_ormap_pncounter_digest(a), au_ormap_pncounter_digest(b));
    au_ormap_pncounter_free(a), au_ormap_pncounter_free(b), au_ormap_pncounter_free(full);
}

static void lww_and_gset_deltas_drop_what_the_state_has(void **state) {
    (void)state;
    au_gset *s = au_gset_new(), *d = au_gset_new();
    assert_int_equal(au_gset_add(s, NULL, "a", 1), AU_OK);
    assert_int_equal(au_gset_add(d, NULL, "a", 1), AU_OK);
    assert_int_equal(au_gset_add(d, NULL, "b", 1), AU_OK);
    assert_int_equal(au_gset_delta_minus(d, s), AU_OK);
    assert_int_equal(au_gset_size(d), 1);
    assert_true(au_gset_contains(d, "b", 1));
    au_lwwmap *m = au_lwwmap_new(), *md = au_lwwmap_new();
    assert_int_equal(au_lwwmap_set(m, md, 1, 10, "k", 1, "v", 1), AU_OK);
    assert_int_equal(au_lwwmap_delta_minus(md, m), AU_OK);
    assert_true(au_lwwmap_is_bottom(md));
    au_gset_free(s), au_gset_free(d), au_lwwmap_free(m), au_lwwmap_free(md);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_full_state_minus_the_local_state_is_what_is_new),
        cmocka_unit_test(a_removal_inside_a_full_state_survives_the_reduction),
        cmocka_unit_test(a_forwarded_delta_group_reduces_to_the_part_the_receiver_lacks),
        cmocka_unit_test(counter_deltas_reduce_to_bottom_once_seen),
        cmocka_unit_test(ormap_full_state_minus_keeps_only_the_missing_update),
        cmocka_unit_test(lww_and_gset_deltas_drop_what_the_state_has),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
