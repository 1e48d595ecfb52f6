/* Properties of LWWRegister, MVRegister and the two flags (crdt_harness.h) against event
 * models, plus hand-picked concurrent cases. A write observes every live write (it replaces
 * what it has seen); so do the flags' operations. */
#include "crdt_harness.h"

enum { K_SET = 1, K_CLEAR, K_ENABLE, K_DISABLE };

/* ---- MVRegister ---------------------------------------------------------------------------- */

static void mvreg_pick(harness *h, int r, hev *e) {
    (void)r;
    e->kind = h_below(&h->rng, 6) ? K_SET : K_CLEAR;
}

static bool observe_all(harness *h, int r, hev *e, int index) {
    (void)index;
    if (e->kind == EV_PRUNE) return h_record_prune(h, r, e, false);
    e->obs = h_live(h, h->seen[r]);
    e->live = e->kind == K_SET || e->kind == K_ENABLE || (e->kind == K_DISABLE && e->elem);
    return true;
}

static au_err mvreg_apply(harness *h, void *s, void *d, const hev *e, int index) {
    if (e->kind == EV_PRUNE) return h_apply_prune(h, s, d, e);
    char v[16];
    size_t n = h_value(index, v);
    return e->kind == K_SET ? au_mvreg_set(s, d, h->ids[e->replica], v, n) : au_mvreg_clear(s, d);
}

static void mvreg_check(harness *h, const void *s, uint64_t mask) {
    uint64_t live = h_live(h, mask), got = 0;
    au_crdt_iter it = AU_CRDT_ITER_INIT;
    au_crdt_bytes b;
    while (au_mvreg_next(s, &it, &b)) {
        char v[16];
        int i;
        assert_true(b.len > 1 && b.len < sizeof v);
        memcpy(v, b.ptr, b.len), v[b.len] = 0;
        assert_true(sscanf(v, "v%d", &i) == 1 && i >= 0 && i < h->nev);
        got |= 1ull << i;
    }
    assert_int_equal(got, live);
    assert_int_equal(au_mvreg_count(s), (size_t)__builtin_popcountll(live));
}

static const model mvreg_model = { &au_mvreg_type, mvreg_pick, observe_all, mvreg_apply, mvreg_check, false, true };

/* ---- flags: elem 1 marks the disable-wins flag's disable dot ------------------------------- */

static void flag_pick(harness *h, int r, hev *e) {
    (void)r;
    e->kind = h_below(&h->rng, 2) ? K_ENABLE : K_DISABLE;
}

static void dwflag_pick(harness *h, int r, hev *e) {
    flag_pick(h, r, e);
    e->elem = e->kind == K_DISABLE; /* a disable dot in the disable-wins flag */
}

static au_err ewflag_apply(harness *h, void *s, void *d, const hev *e, int index) {
    (void)index;
    if (e->kind == EV_PRUNE) return h_apply_prune(h, s, d, e);
    uint64_t id = h->ids[e->replica];
    return e->kind == K_ENABLE ? au_ewflag_enable(s, d, id) : au_ewflag_disable(s, d, id);
}

static au_err dwflag_apply(harness *h, void *s, void *d, const hev *e, int index) {
    (void)index;
    if (e->kind == EV_PRUNE) return h_apply_prune(h, s, d, e);
    uint64_t id = h->ids[e->replica];
    return e->kind == K_ENABLE ? au_dwflag_enable(s, d, id) : au_dwflag_disable(s, d, id);
}

static void ewflag_check(harness *h, const void *s, uint64_t mask) {
    assert_int_equal(au_ewflag_value(s), h_live(h, mask) != 0);
}

static void dwflag_check(harness *h, const void *s, uint64_t mask) {
    uint64_t live = h_live(h, mask);
    bool enabled = live != 0;
    for (int i = 0; i < h->nev; i++)
        if ((live >> i & 1) && h->ev[i].kind == K_DISABLE) enabled = false;
    assert_int_equal(au_dwflag_value(s), enabled);
}

static const model ewflag_model = { &au_ewflag_type, flag_pick, observe_all, ewflag_apply, ewflag_check, false, true };
static const model dwflag_model = { &au_dwflag_type, dwflag_pick, observe_all, dwflag_apply, dwflag_check, false, true };

/* ---- LWWRegister: the write with the largest (timestamp, replica, value) ------------------- */

static void lwwreg_pick(harness *h, int r, hev *e) {
    (void)r;
    e->kind = K_SET;
    e->amount = h_below(&h->rng, 6); /* small timestamps: ties and bumps happen */
}

static int lww_order(const harness *h, int i, int j) {
    char a[16], b[16];
    size_t na = h_value(i, a), nb = h_value(j, b);
    if (h->ev[i].ts != h->ev[j].ts) return h->ev[i].ts < h->ev[j].ts ? -1 : 1;
    uint64_t ra = h->ids[h->ev[i].replica], rb = h->ids[h->ev[j].replica];
    if (ra != rb) return ra < rb ? -1 : 1;
    if (na != nb) return na < nb ? -1 : 1;
    return memcmp(a, b, na);
}

/* The winning write among mask's events of key (-1: any), or -1. */
static int lww_winner(const harness *h, uint64_t mask, int key) {
    int best = -1;
    for (int i = 0; i < h->nev; i++)
        if ((mask >> i & 1) && (key < 0 || h->ev[i].key == key) &&
            (best < 0 || lww_order(h, i, best) > 0))
            best = i;
    return best;
}

static bool lwwreg_record(harness *h, int r, hev *e, int index) {
    (void)index;
    int w = lww_winner(h, h->seen[r], e->key);
    e->ts = (uint64_t)e->amount;
    if (w >= 0 && e->ts <= h->ev[w].ts) e->ts = h->ev[w].ts + 1;
    return true;
}

static au_err lwwreg_apply(harness *h, void *s, void *d, const hev *e, int index) {
    char v[16];
    size_t n = h_value(index, v);
    return au_lwwreg_set(s, d, h->ids[e->replica], (uint64_t)e->amount, v, n);
}

static void lwwreg_check(harness *h, const void *s, uint64_t mask) {
    int w = lww_winner(h, mask, -1);
    au_crdt_bytes b;
    assert_int_equal(au_lwwreg_get(s, &b), w >= 0);
    if (w < 0) return;
    char v[16];
    size_t n = h_value(w, v);
    assert_true(b.len == n && memcmp(b.ptr, v, n) == 0);
    assert_int_equal(au_lwwreg_timestamp(s), h->ev[w].ts);
}

static const model lwwreg_model = { &au_lwwreg_type, lwwreg_pick, lwwreg_record, lwwreg_apply, lwwreg_check, false, false };

static void mvreg_properties_hold_on_random_histories(void **state) {
    (void)state;
    h_run(&mvreg_model, 31);
}

static void ewflag_properties_hold_on_random_histories(void **state) {
    (void)state;
    h_run(&ewflag_model, 32);
}

static void dwflag_properties_hold_on_random_histories(void **state) {
    (void)state;
    h_run(&dwflag_model, 33);
}

static void lwwreg_properties_hold_on_random_histories(void **state) {
    (void)state;
    h_run(&lwwreg_model, 34);
}

/* ---- hand-picked cases --------------------------------------------------------------------- */

static void mvreg_keeps_concurrent_writes_until_one_write_has_seen_both(void **state) {
    (void)state;
    au_mvreg *a = au_mvreg_new(), *b = au_mvreg_new();
    assert_int_equal(au_mvreg_set(a, NULL, 1, "x", 1), AU_OK);
    assert_int_equal(au_mvreg_set(b, NULL, 2, "y", 1), AU_OK);
    assert_int_equal(au_mvreg_join(a, b), AU_OK);
    assert_int_equal(au_mvreg_count(a), 2);
    assert_int_equal(au_mvreg_set(a, NULL, 1, "z", 1), AU_OK);
    assert_int_equal(au_mvreg_join(b, a), AU_OK);
    assert_int_equal(au_mvreg_count(b), 1);
    au_crdt_iter it = AU_CRDT_ITER_INIT;
    au_crdt_bytes v;
    assert_true(au_mvreg_next(b, &it, &v) && v.len == 1 && *(const char *)v.ptr == 'z');
    au_mvreg_free(a), au_mvreg_free(b);
}

static void concurrent_enable_and_disable_resolve_by_the_flag_kind(void **state) {
    (void)state;
    au_ewflag *ea = au_ewflag_new(), *eb = au_ewflag_new();
    au_dwflag *da = au_dwflag_new(), *db = au_dwflag_new();
    assert_int_equal(au_ewflag_enable(ea, NULL, 1), AU_OK);
    assert_int_equal(au_dwflag_enable(da, NULL, 1), AU_OK);
    assert_int_equal(au_ewflag_join(eb, ea), AU_OK);
    assert_int_equal(au_dwflag_join(db, da), AU_OK);
    assert_int_equal(au_ewflag_disable(ea, NULL, 1), AU_OK); /* a disables ... */
    assert_int_equal(au_dwflag_disable(da, NULL, 1), AU_OK);
    assert_int_equal(au_ewflag_enable(eb, NULL, 2), AU_OK);  /* ... while b enables again */
    assert_int_equal(au_dwflag_enable(db, NULL, 2), AU_OK);
    assert_int_equal(au_ewflag_join(ea, eb), AU_OK);
    assert_int_equal(au_dwflag_join(da, db), AU_OK);
    assert_true(au_ewflag_value(ea));
    assert_false(au_dwflag_value(da));
    au_ewflag_free(ea), au_ewflag_free(eb), au_dwflag_free(da), au_dwflag_free(db);
}

static void lwwreg_local_write_supersedes_a_later_timestamp_seen(void **state) {
    (void)state;
    au_lwwreg *a = au_lwwreg_new(), *b = au_lwwreg_new();
    assert_int_equal(au_lwwreg_set(b, NULL, 2, 1000, "old", 3), AU_OK);
    assert_int_equal(au_lwwreg_join(a, b), AU_OK);
    assert_int_equal(au_lwwreg_set(a, NULL, 1, 5, "new", 3), AU_OK); /* a's clock is behind */
    au_crdt_bytes v;
    assert_true(au_lwwreg_get(a, &v) && memcmp(v.ptr, "new", 3) == 0);
    assert_int_equal(au_lwwreg_timestamp(a), 1001);
    au_lwwreg_free(a), au_lwwreg_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mvreg_properties_hold_on_random_histories),
        cmocka_unit_test(ewflag_properties_hold_on_random_histories),
        cmocka_unit_test(dwflag_properties_hold_on_random_histories),
        cmocka_unit_test(lwwreg_properties_hold_on_random_histories),
        cmocka_unit_test(mvreg_keeps_concurrent_writes_until_one_write_has_seen_both),
        cmocka_unit_test(concurrent_enable_and_disable_resolve_by_the_flag_kind),
        cmocka_unit_test(lwwreg_local_write_supersedes_a_later_timestamp_seen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
