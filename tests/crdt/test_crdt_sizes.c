/* Bytes on the wire of one update's delta, by type: the goal is at most 32 bytes beyond the
 * payload (the element, key or value bytes the update carries). Each update is made on a state
 * with history (three replicas, a thousand earlier updates), so counters and dots are not
 * artificially small. Prints the table it checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <aurum/crdt.h>

#define R1 0x9E3779B97F4A7C15ull
#define R2 0xC2B2AE3D27D4EB4Full
#define R3 0x165667B19E3779F9ull
static const char ELEM[] = "sixteen-byte-elt"; /* 16 bytes */
static const char VALUE[] = "a 24-byte value payload!";

static size_t report(const char *what, const au_crdt_type *t, const void *delta, size_t payload) {
    au_buf b = { 0 };
    assert_int_equal(t->encode(delta, &b), AU_OK);
    size_t n = b.len;
    au_buf_free(&b);
    /* the size-only pass (au_share measures buffered deltas so) gives the same length */
    au_buf c = au_buf_counter();
    assert_int_equal(t->encode(delta, &c), AU_OK);
    assert_int_equal(c.len, n);
    au_buf_free(&c);
    printf("  %-28s %4zu bytes, payload %3zu, overhead %3zu\n", what, n, payload, n - payload);
    assert_true(n >= payload && n - payload <= 32);
    return n;
}

static void orset_history(au_orset *s) {
    char k[16];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(k, sizeof k, "h%d", i);
        uint64_t r = i % 3 == 0 ? R1 : i % 3 == 1 ? R2 : R3;
        assert_int_equal(au_orset_add(s, NULL, r, k, (size_t)n), AU_OK);
    }
}

static void one_update_costs_at_most_32_bytes_beyond_its_payload(void **state) {
    (void)state;
    printf("bytes of one update's delta (after 1,000 earlier updates):\n");
    au_gcounter *g = au_gcounter_new(), *gd = au_gcounter_new_delta();
    for (int i = 0; i < 1000; i++) assert_int_equal(au_gcounter_inc(g, NULL, i % 2 ? R1 : R2, 1), AU_OK);
    assert_int_equal(au_gcounter_inc(g, gd, R1, 1), AU_OK);
    report("gcounter inc", &au_gcounter_type, gd, 0);
    au_pncounter *p = au_pncounter_new(), *pd = au_pncounter_new_delta();
    for (int i = 0; i < 1000; i++) assert_int_equal(au_pncounter_add(p, NULL, i % 2 ? R1 : R2, i % 3 ? 1 : -1), AU_OK);
    assert_int_equal(au_pncounter_add(p, pd, R1, -1), AU_OK);
    report("pncounter add", &au_pncounter_type, pd, 0);

    au_gset *gs = au_gset_new(), *gsd = au_gset_new_delta();
    assert_int_equal(au_gset_add(gs, gsd, ELEM, 16), AU_OK);
    report("gset add", &au_gset_type, gsd, 16);
    au_twopset *tp = au_twopset_new(), *tpd = au_twopset_new_delta();
    assert_int_equal(au_twopset_remove(tp, tpd, ELEM, 16), AU_OK);
    report("twopset remove", &au_twopset_type, tpd, 16);

    au_orset *o = au_orset_new(), *oa = au_orset_new_delta(), *or_ = au_orset_new_delta(), *oa2 = au_orset_new_delta();
    orset_history(o);
    assert_int_equal(au_orset_add(o, oa, R1, ELEM, 16), AU_OK);
    report("orset add", &au_orset_type, oa, 16);
    assert_int_equal(au_orset_add(o, oa2, R2, ELEM, 16), AU_OK);
    report("orset re-add (replaces one)", &au_orset_type, oa2, 16);
    assert_int_equal(au_orset_remove(o, or_, ELEM, 16), AU_OK);
    report("orset remove", &au_orset_type, or_, 16);

    au_lwwreg *l = au_lwwreg_new(), *ld = au_lwwreg_new_delta();
    assert_int_equal(au_lwwreg_set(l, ld, R1, 1764000000000ull, VALUE, 24), AU_OK);
    report("lwwreg set (ms timestamp)", &au_lwwreg_type, ld, 24);
    au_mvreg *m = au_mvreg_new(), *md = au_mvreg_new_delta();
    for (int i = 0; i < 1000; i++) assert_int_equal(au_mvreg_set(m, NULL, i % 2 ? R1 : R2, VALUE, 24), AU_OK);
    assert_int_equal(au_mvreg_set(m, md, R1, VALUE, 24), AU_OK);
    report("mvreg set", &au_mvreg_type, md, 24);
    au_ewflag *e = au_ewflag_new(), *ed = au_ewflag_new_delta();
    assert_int_equal(au_ewflag_enable(e, ed, R1), AU_OK);
    report("ewflag enable", &au_ewflag_type, ed, 0);
    au_dwflag *w = au_dwflag_new(), *wd = au_dwflag_new_delta();
    assert_int_equal(au_dwflag_disable(w, wd, R1), AU_OK);
    report("dwflag disable", &au_dwflag_type, wd, 0);

    au_lwwmap *lm = au_lwwmap_new(), *lmd = au_lwwmap_new_delta();
    assert_int_equal(au_lwwmap_set(lm, lmd, R1, 1764000000000ull, ELEM, 16, VALUE, 24), AU_OK);
    report("lwwmap set", &au_lwwmap_type, lmd, 40);

    au_gset_free(gs), au_gset_free(gsd), au_twopset_free(tp), au_twopset_free(tpd);
    au_gcounter_free(g), au_gcounter_free(gd), au_pncounter_free(p), au_pncounter_free(pd);
    au_orset_free(o), au_orset_free(oa), au_orset_free(or_), au_orset_free(oa2);
    au_lwwreg_free(l), au_lwwreg_free(ld), au_mvreg_free(m), au_mvreg_free(md);
    au_ewflag_free(e), au_ewflag_free(ed), au_dwflag_free(w), au_dwflag_free(wd);
    au_lwwmap_free(lm), au_lwwmap_free(lmd);
}

struct add_arg {
    uint64_t replica;
    int64_t n;
};

static au_err add_to(au_pncounter *v, au_pncounter *dv, void *arg) {
    const struct add_arg *a = arg;
    return au_pncounter_add(v, dv, a->replica, a->n);
}

static au_err add_elem(au_orset *v, au_orset *dv, void *arg) {
    return au_orset_add(v, dv, *(const uint64_t *)arg, ELEM, 16);
}

static void one_map_update_costs_at_most_32_bytes_beyond_key_and_payload(void **state) {
    (void)state;
    au_ormap_pncounter m = au_ormap_pncounter_new(), d = au_ormap_pncounter_new_delta();
    char k[16];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(k, sizeof k, "key-%d", i % 50);
        struct add_arg a = { i % 2 ? R1 : R2, 1 };
        assert_int_equal(au_ormap_pncounter_update(m, AU_ORMAP_NODELTA(pncounter), k, (size_t)n, add_to, &a), AU_OK);
    }
    struct add_arg a = { R1, 1 };
    assert_int_equal(au_ormap_pncounter_update(m, d, ELEM, 16, add_to, &a), AU_OK);
    report("ormap<pncounter> update", &au_ormap_pncounter_type, d.map, 16);
    au_ormap_pncounter r = au_ormap_pncounter_new_delta();
    assert_int_equal(au_ormap_pncounter_remove(m, r, ELEM, 16), AU_OK);
    report("ormap<pncounter> remove", &au_ormap_pncounter_type, r.map, 16);
    au_ormap_orset s = au_ormap_orset_new(), sd = au_ormap_orset_new_delta();
    uint64_t id = R3;
    assert_int_equal(au_ormap_orset_update(s, sd, ELEM, 16, add_elem, &id), AU_OK);
    report("ormap<orset> add", &au_ormap_orset_type, sd.map, 32);
    au_ormap_pncounter_free(m), au_ormap_pncounter_free(d), au_ormap_pncounter_free(r);
    au_ormap_orset_free(s), au_ormap_orset_free(sd);
}

/* A counter counts appends, stores nothing, refuses reserve (nothing to write into) and is
 * freed into an ordinary buffer; a large state's size is measured without its encoding. */
static void a_counter_measures_an_encoding_without_making_it(void **st) {
    (void)st;
    au_buf c = au_buf_counter();
    assert_true(au_buf_counting(&c));
    assert_int_equal(au_buf_append(&c, "abc", 3), AU_OK);
    assert_int_equal(au_buf_append(&c, "de", 2), AU_OK);
    assert_int_equal(c.len, 5);
    assert_int_equal(c.cap, 0);
    assert_int_equal(au_buf_reserve(&c, 1), AU_ENOMEM);
    assert_int_equal(au_buf_append(&c, NULL, 1), AU_EINVAL);
    assert_int_equal(c.len, 5);
    au_buf_free(&c);
    assert_false(au_buf_counting(&c));
    assert_null(c.data);
    assert_int_equal(au_buf_append(&c, "x", 1), AU_OK); /* an ordinary buffer again */
    assert_int_equal(c.len, 1);
    au_buf_free(&c);
    assert_false(au_buf_counting(NULL));

    au_orset *s = au_orset_new();
    orset_history(s);
    au_buf b = { 0 };
    c = au_buf_counter();
    assert_int_equal(au_orset_type.encode(s, &b), AU_OK);
    assert_int_equal(au_orset_type.encode(s, &c), AU_OK);
    assert_true(b.len > 1000);
    assert_int_equal(c.len, b.len);
    au_buf_free(&b);
    au_buf_free(&c);
    au_orset_free(s);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_update_costs_at_most_32_bytes_beyond_its_payload),
        cmocka_unit_test(one_map_update_costs_at_most_32_bytes_beyond_key_and_payload),
        cmocka_unit_test(a_counter_measures_an_encoding_without_making_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
