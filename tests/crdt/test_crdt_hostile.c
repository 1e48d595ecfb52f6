/* Hostile encodings the CRDT decoders must refuse: the inputs fuzz/fuzz_crdt_decode found, each
 * reduced to the property it broke. Every case is a byte string a peer could send; a decoder
 * that accepts it yields a value that is not equal to its own re-encoding, or whose joins
 * depend on the order of its internal tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <aurum/crdt.h>

/* A delta ORSet over replica 0x1111111111111111 with dot (0, 5) live under "e2" and a tomb of
 * "e4": one add cannot be of two elements. Accepted, the delta's normal form depended on which
 * element was visited first, so it was not equal to its own re-encoding (hash order differs). */
static const uint8_t orset_dot_twice[] = {
    0xc5, 0x01,                                           /* ORSet, delta mode */
    0x01, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, /* one replica */
    0x00, 0x00,                                           /* counter 0, no cloud */
    0x02,                                                 /* two elements */
    0x02, 'e', '4', 0x00, 0x01, 0x00, 0x05,               /* e4: no live dot, tomb (0, 5) */
    0x02, 'e', '2', 0x01, 0x00, 0x05, 0x00,               /* e2: live (0, 5), no tomb */
};

static void orset_refuses_a_dot_under_two_elements(void **state) {
    (void)state;
    void *v = (void *)1;
    assert_int_equal(au_orset_type.decode(&au_orset_type, orset_dot_twice, sizeof orset_dot_twice, &v),
                     AU_EDECODE);
    assert_null(v);

    /* live under both (a state would also need the dot in its context: a delta does not) */
    uint8_t both[sizeof orset_dot_twice];
    memcpy(both, orset_dot_twice, sizeof both);
    both[17] = 0x01, both[18] = 0x00, both[19] = 0x05, both[20] = 0x00; /* e4: live (0, 5) */
    assert_int_equal(au_orset_type.decode(&au_orset_type, both, sizeof both, &v), AU_EDECODE);

    /* the same elements with distinct dots decode, and equal their re-encoding */
    uint8_t fine[sizeof orset_dot_twice];
    memcpy(fine, orset_dot_twice, sizeof fine);
    fine[sizeof fine - 2] = 0x06; /* e2: live (0, 6) */
    assert_int_equal(au_orset_type.decode(&au_orset_type, fine, sizeof fine, &v), AU_OK);
    au_buf b = { 0 };
    assert_int_equal(au_orset_type.encode(v, &b), AU_OK);
    void *w = NULL;
    assert_int_equal(au_orset_type.decode(&au_orset_type, b.data, b.len, &w), AU_OK);
    assert_true(au_orset_type.equal(v, w));
    assert_int_equal(au_orset_type.digest(v), au_orset_type.digest(w));
    au_orset_type.free(v), au_orset_type.free(w);
    au_buf_free(&b);
}

/* A delta ORMap of PNCounters whose values under "a" and "b" both hold dot (0, 5): one event
 * of one key's value. Accepted, its joins and equality depended on the order of the map's keys
 * (the value was not equal to its own re-encoding). */
static const uint8_t ormap_dot_twice[] = {
    0xca, 0x01,                                           /* ORMap, delta mode */
    0x01, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, /* one replica */
    0x00, 0x00,                                           /* counter 0, no cloud */
    0xc2, 0x02,                                           /* PNCounter values, two keys */
    0x01, 'a', 0x01, 0x00, 0x05, 0x01, 0x00, 0x00,        /* a: (0, 5) +1 -0, no tomb */
    0x01, 'b', 0x01, 0x00, 0x05, 0x02, 0x00, 0x00,        /* b: (0, 5) +2 -0, no tomb */
};

static void ormap_refuses_a_dot_under_two_keys(void **state) {
    (void)state;
    const au_crdt_type *t = &au_ormap_pncounter_type;
    void *v = (void *)1;
    assert_int_equal(t->decode(t, ormap_dot_twice, sizeof ormap_dot_twice, &v), AU_EDECODE);
    assert_null(v);

    /* b's entry a tomb of a instead (a tomb of b's value: a delta removal) */
    uint8_t tomb[sizeof ormap_dot_twice];
    memcpy(tomb, ormap_dot_twice, sizeof tomb);
    static const uint8_t b_tomb[] = { 0x01, 'b', 0x00, 0x01, 0x00, 0x05 };
    memcpy(tomb + 23, b_tomb, sizeof b_tomb);
    assert_int_equal(t->decode(t, tomb, sizeof tomb - 2, &v), AU_EDECODE);

    /* distinct dots decode, and equal their re-encoding */
    uint8_t fine[sizeof ormap_dot_twice];
    memcpy(fine, ormap_dot_twice, sizeof fine);
    fine[sizeof fine - 4] = 0x06; /* b: (0, 6) */
    assert_int_equal(t->decode(t, fine, sizeof fine, &v), AU_OK);
    assert_int_equal(au_pncounter_value(au_ormap_get(v, "b", 1)), 2);
    au_buf b = { 0 };
    assert_int_equal(t->encode(v, &b), AU_OK);
    void *w = NULL;
    assert_int_equal(t->decode(t, b.data, b.len, &w), AU_OK);
    assert_true(t->equal(v, w));
    assert_int_equal(t->digest(v), t->digest(w));
    t->free(v), t->free(w);
    au_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(orset_refuses_a_dot_under_two_elements),
        cmocka_unit_test(ormap_refuses_a_dot_under_two_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
