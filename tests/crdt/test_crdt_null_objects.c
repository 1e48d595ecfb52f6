/* test_crdt_null_objects.c — every built-in CRDT vtable (aurum/crdt.h, au_crdt_type) given a
 * NULL object or a NULL out where an object or a place for one belongs: the documented answer
 * (AU_EINVAL, false, true for is_bottom, 0 for digest), never a read through the NULL. join,
 * equal, encode, copy, delta_minus, digest, is_bottom, prune and decode read through it and
 * crashed for every type; decode given a NULL type crashed too. Each type's real objects still behave (a join of bottoms, an encode). */
#include <aurum/aurum.h>
#include <aurum/crdt.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

static const au_crdt_type *const types[] = {
    &au_gcounter_type, &au_pncounter_type, &au_gset_type,   &au_twopset_type,
    &au_orset_type,    &au_lwwreg_type,    &au_mvreg_type,  &au_ewflag_type,
    &au_dwflag_type,   &au_lwwmap_type,    &au_ormap_gcounter_type,
};

static void null_objects_get_error_codes_from_every_vtable(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
        const au_crdt_type *t = types[i];
        void *s = t->create(t, false), *d = t->create(t, true);
        assert_non_null(s);
        assert_non_null(d);
        au_buf b = { 0 };
        void *v = (void *)&b; /* not NULL: copy must reset it */
        assert_int_equal(t->join(s, NULL), AU_EINVAL);
        assert_int_equal(t->join(NULL, s), AU_EINVAL);
        assert_true(t->equal(NULL, NULL));
        assert_false(t->equal(s, NULL));
        assert_false(t->equal(NULL, s));
        assert_int_equal(t->encode(NULL, &b), AU_EINVAL);
        assert_int_equal(t->encode(s, NULL), AU_EINVAL);
        assert_int_equal(b.len, 0);
        assert_int_equal(t->copy(NULL, &v), AU_EINVAL);
        assert_null(v);
        assert_int_equal(t->copy(s, NULL), AU_EINVAL);
        assert_int_equal(t->delta_minus(NULL, s), AU_EINVAL);
        assert_int_equal(t->delta_minus(d, NULL), AU_EINVAL);
        assert_true(t->is_bottom(NULL));
        if (t->digest) assert_int_equal(t->digest(NULL), 0);
        if (t->prune != NULL) {
            au_err e = t->prune(NULL, NULL, 1, 2);
            assert_true(e == AU_EINVAL || e == AU_OK); /* types without entries do nothing */
        }
        assert_int_equal(t->decode(t, (const uint8_t *)"\x01", 1, NULL), AU_EINVAL);
        t->free(NULL);
        /* the real objects still work */
        assert_int_equal(t->join(s, d), AU_OK);
        assert_true(t->is_bottom(s));
        assert_int_equal(t->encode(s, &b), AU_OK);
        void *back = &b; /* not NULL: decode must reset it */
        assert_int_equal(t->decode(NULL, b.data, b.len, &back), AU_EINVAL); /* no type */
        assert_null(back);
        assert_int_equal(t->decode(t, b.data, b.len, &back), AU_OK);
        assert_true(t->equal(s, back));
        assert_int_equal(t->copy(s, &v), AU_OK);
        assert_true(t->equal(s, v));
        t->free(v);
        t->free(back);
        au_buf_free(&b);
        t->free(s);
        t->free(d);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(null_objects_get_error_codes_from_every_vtable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
